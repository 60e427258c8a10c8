"""`Fit`: a posterior (an ``xr.DataTree``) with the `Annotations` and `ModelSpec` behind it.

Everything per item is computed draw by draw from the posterior with the shared
likelihood: ``P(z_i = k | π^(s), ρ^(s), y)`` for each draw s (Rao–Blackwellised, never
from sampled z); the soft label is its mean over draws and the credible interval its
equal-tailed quantiles. A point estimate (EM) is a one-draw posterior: intervals collapse
onto the estimate and the fit says so.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from ._checks import check_ci_prob
from ._io import json_safe
from ._quantiles import draw_quantiles
from ._tempering import record_of, tempered_blocks
from ._threads import ordered_map
from ._version import __version__
from .aggregate import EMResult, majority_vote
from .choices import Method
from .data import Annotations
from .diagnostics import (
    ChainAlignment,
    ConvergenceReport,
    Thresholds,
    align_chains,
    check_convergence,
    identifiability_warnings,
    low_redundancy_warning,
    subtype_switches,
)
from .errors import DataError
from .features import FeaturesLike, ItemFeatures
from .models import CLASS_POSTERIOR_MEANING, Family, confusion_reliability
from .models._family import ItemBlocks, labels_per_cell
from .models._likelihood import label_table, rows_to_table
from .persist import RECOMPUTED, read_fit, recompute_deterministics, save_fit
from .soft_labels import SoftLabels, export_kind
from .spec import ModelSpec, SamplingInfo

if TYPE_CHECKING:
    import pymc as pm

    from .predictive import PredictiveCheck


FEATURE_PREDICTION_MEANING = (
    "P(true class = c | features), the classifier's prediction without labels (mean over draws)"
)


@dataclass(frozen=True)
class _ItemPosteriors:
    mean: np.ndarray  # items × K
    lo: np.ndarray
    hi: np.ndarray
    chain_means: np.ndarray  # chains × items × K
    window_means: np.ndarray  # chains × windows × items × K
    score_interval: np.ndarray | None = None  # items × 2: the expected score's, ordered classes


class ConvergenceError(RuntimeError):
    """An export of a fit that failed its convergence check, without permission.

    Raised by `Fit.export` unless ``allow_failed_check=True``.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> fit = bl.fit(bl.datasets.load("rte"), method="nuts", draws=50, tune=50)  # doctest: +SKIP
    >>> try:  # doctest: +SKIP
    ...     fit.export("soft_labels.parquet")
    ... except bl.ConvergenceError as error:
    ...     print(error)
    refusing to export: the fit failed its convergence check (...
    """


@dataclass(frozen=True, eq=False)
class Fit:
    """A fitted annotator model, from `bayeslabels.fit` or `bayeslabels.load`.

    Everything per item is computed draw by draw from the posterior with the shared
    likelihood (Rao–Blackwellised, never from sampled z); a point estimate (EM, MAP) is a
    one-draw posterior whose intervals collapse onto the estimate.

    Attributes
    ----------
    posterior : xarray.DataTree
        Groups ``posterior`` and, for NUTS, ``sample_stats``; ADVI adds ``variational``.
    annotations : Annotations
        The data the model was fitted to.
    spec : ModelSpec
        The model specification as run.
    method : str
        ``"nuts"``, ``"advi"``, ``"fullrank-advi"``, ``"map"`` or ``"em"``.
    em : EMResult or None
        The EM solution the fit started from.
    sampling : SamplingInfo or None
        Settings as run, timings; None for MAP and EM.
    used_gold : bool
        Whether gold labels anchored the fit: given True, it is kept only when the data have
        gold and the family puts gold into its likelihood (`Family.gold_in_likelihood`), so it
        (and the provenance's ``used_gold``) never claims an anchor that was not there.
    model_selection : dict or None
        For a fit chosen by `bayeslabels.fitting.auto_fit` (``model="auto"``): the
        comparison of the candidates (`ModelComparison.to_dict`), kept in the provenance.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> fit = bl.fit(bl.datasets.load("rte"), method="em", use_gold=False)
    >>> fit  # doctest: +ELLIPSIS
    <Fit dawid-skene by em: Annotations(8000 labels, 800 items, 164 annotators, ...)>
    >>> fit.method, fit.is_point_estimate, fit.classes
    ('em', True, ['0', '1'])
    >>> nuts = bl.fit(bl.datasets.load("rte"), method="nuts", seed=1)  # doctest: +SKIP
    """

    posterior: xr.DataTree
    annotations: Annotations
    spec: ModelSpec
    method: Method
    em: EMResult | None = None
    sampling: SamplingInfo | None = None
    used_gold: bool = True
    model_selection: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        anchored = self.used_gold and self.annotations.has_gold and self.spec.family.gold_in_likelihood
        object.__setattr__(self, "used_gold", bool(anchored))

    # ------------------------------------------------------------------ basics
    @property
    def is_point_estimate(self) -> bool:
        post = self.posterior["posterior"]
        return bool(post.attrs.get("point_estimate")) or post.sizes["chain"] * post.sizes["draw"] == 1

    @property
    def classes(self) -> list[str]:
        return list(self.annotations.classes)

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of a model variable with chains stacked: (chains · draws, ...).

        ``fit.draws("confusion")`` is (draws, annotators, K, K), or for a per-subtype fit
        (draws, annotators, subtypes, K, K) with the cells that hold no labels at the
        population (`Family.confusion`, rebuilt from the observed cells, not stored).

        Parameters
        ----------
        name : str
            A variable of the posterior (e.g. ``"prevalence"``), or ``"confusion"``.

        Returns
        -------
        numpy.ndarray
            The draws, chains stacked on the first axis.

        Raises
        ------
        KeyError
            If the model has no variable ``name``.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("rte"), method="em", use_gold=False)
        >>> fit.draws("confusion").shape  # an EM fit is one draw
        (1, 164, 2, 2)
        >>> fit.draws("prevalence").shape
        (1, 2)
        """
        if name == "confusion":
            return self._confusion
        posterior = self.posterior["posterior"]
        if name not in posterior:
            raise KeyError(
                f"model {self.spec.model!r} has no variable {name!r}; it has {sorted(posterior.data_vars)}"
            )
        values = np.asarray(posterior[name])
        return values.reshape(-1, *values.shape[2:])

    def _stored_draws(self, name: str) -> np.ndarray:
        values = np.asarray(self.posterior["posterior"][name])
        return values.reshape(-1, *values.shape[2:])

    @cached_property
    def _confusion(self) -> np.ndarray:
        return self.family.confusion(self.annotations, self._stored_draws)

    def check(self, thresholds: Thresholds | None = None, *, predictive: bool = True) -> ConvergenceReport:
        """Convergence check of the fit.

        Convergence (R-hat, ESS, divergences, BFMI), label switching per chain against the
        reference (gold where there is gold, else EM), identifiability warnings, and the
        misfits of a posterior predictive check (`bayeslabels.predictive_check`, 200
        replicated label tables) as warnings naming the family to try. A point estimate has no
        sampling to check (its predictive check still runs).

        Parameters
        ----------
        thresholds : Thresholds, optional
            The limits to check against (default `Thresholds()`).
        predictive : bool, default True
            Run the predictive check and report its misfits among the warnings (False: only
            the sampler's diagnostics, e.g. to screen many fits quickly).

        Returns
        -------
        ConvergenceReport

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("rte"), method="em", use_gold=False)
        >>> report = fit.check()
        >>> report.ok, report.verdict
        (True, 'point estimate (no sampling to check)')
        >>> nuts = bl.fit(bl.datasets.load("rte"), method="nuts", seed=1)  # doctest: +SKIP
        >>> nuts.check(bl.Thresholds(max_rhat=1.05)).ok  # doctest: +SKIP
        True
        """
        if thresholds is None and predictive:
            return self._default_report
        return self._check(thresholds or Thresholds(), predictive=predictive)

    @cached_property
    def _default_report(self) -> ConvergenceReport:
        return self._check(Thresholds())

    @cached_property
    def _predictive(self) -> PredictiveCheck | None:
        """The posterior predictive check `check` reports (200 replicates, the fit's seed);
        None where no item has two labels (nothing to compare within an item)."""
        from .predictive import predictive_check

        if not (self.annotations.labels_per_item >= 2).any():
            return None
        return predictive_check(self, draws=200, seed=self.spec.inference.seed)

    def _check(self, thresholds: Thresholds, predictive: bool = True) -> ConvergenceReport:
        ann = self.annotations
        summary = self._posterior_pass(ci_prob=0.5, windows=4)
        alignments: tuple[ChainAlignment, ...] = ()
        subtype_switched: tuple[str, ...] = ()
        if not self.is_point_estimate:
            reference = self.reference_posterior()
            alignments = align_chains(summary.chain_means, summary.window_means, reference)
            if self.family.per_subtype:
                subtype_switched = subtype_switches(
                    summary.chain_means, reference, ann.subtype, list(ann.subtypes), alignments
                )
        em_disagreement = 0
        if self.em is not None and self.family.soft_label_meaning == CLASS_POSTERIOR_MEANING:
            em_disagreement = int((summary.mean.argmax(axis=1) != self.em.label).sum())
        warnings = identifiability_warnings(
            labels_per_annotator=ann.labels_per_annotator,
            labels_per_item=ann.labels_per_item,
            classes=self.classes,
            prevalence=self.draws("prevalence").mean(axis=0),
            anchored_by_gold=self.used_gold,
            symmetric_prior=getattr(self.spec.priors, "symmetric", False),
            em_disagreement=em_disagreement,
            thresholds=thresholds,
            has_confusion=self.family.has_confusion,
            pooled=self.family.unseen_annotator is not None,  # hierarchical: a population to shrink to
        )
        if self.method == "em":
            warnings += low_redundancy_warning(ann.item_idx, ann.annotator_idx, ann.n_annotators, thresholds)
        warnings += self._below_chance_warning()
        if predictive:  # misfit in the posterior predictive check: named, with its numbers
            warnings = (*warnings, *_predictive_warning(self._predictive))
        variables = list(self.posterior["posterior"].data_vars)
        return check_convergence(
            self.posterior,
            variables,
            thresholds,
            alignments,
            warnings,
            subtype_switched,
            draws_used=self.sampling.draws_used if self.sampling else (),
            thin=int(self.posterior["posterior"].attrs.get("thin", getattr(self.sampling, "thin", 1))),
        )

    def reference_posterior(self) -> np.ndarray:
        """Items × K reference for label alignment.

        One-hot gold where gold anchored the fit (other rows zero), else the EM posterior —
        gold held out of the fit is never used.

        Returns
        -------
        numpy.ndarray
            Items × K class probabilities.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("rte"), method="em", use_gold=False)
        >>> fit.reference_posterior().shape
        (800, 2)
        """
        ann = self.annotations
        if ann.has_gold and self.used_gold:  # held-out gold must not steer relabel()
            reference = np.zeros((ann.n_items, ann.n_classes))
            known = ann.gold >= 0
            reference[np.flatnonzero(known), ann.gold[known]] = 1.0
            return reference
        if self.em is None:
            raise ValueError("this fit has neither gold nor an EM solution to align chains to")
        return self.em.posterior

    def relabel(self) -> Fit:
        """A new Fit with each chain's true classes permuted onto the reference's.

        Every variable with a ``true_class`` dimension is permuted chain by chain (one-coin
        accuracies are recomputed from the permuted confusion). Chains that switch within
        themselves are left as they are and still fail `check`.

        Returns
        -------
        Fit
            The relabelled fit (the same fit for a point estimate's single draw).

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("rte"), method="nuts", seed=1)  # doctest: +SKIP
        >>> fit.relabel().check().ok  # doctest: +SKIP
        True
        """
        report = self.check()
        if self.is_point_estimate or not any(c.switched and not c.within_chain_switch for c in report.chains):
            return self
        posterior = self.posterior["posterior"].to_dataset()
        pieces = []
        for alignment in report.chains:
            chain = posterior.isel(chain=[alignment.chain])
            if alignment.switched and not alignment.within_chain_switch:
                inverse = np.argsort(alignment.permutation)
                permuted = chain.isel(true_class=inverse).assign_coords(
                    true_class=posterior.true_class.values
                )
                chain = chain.assign(
                    {
                        name: permuted[name]
                        for name in permuted.data_vars
                        if "true_class" in permuted[name].dims
                    }
                )
                if self.family.after_relabel is not None:
                    chain = self.family.after_relabel(chain)
            pieces.append(chain)
        groups = {name: node.to_dataset() for name, node in self.posterior.children.items()}
        groups["posterior"] = xr.concat(pieces, dim="chain")
        return replace(self, posterior=xr.DataTree.from_dict(groups))

    # ------------------------------------------------------------------ per item
    @property
    def family(self) -> Family:
        """The model family of this fit (`bayeslabels.models.family`)."""
        return self.spec.family

    def _item_probability_blocks(self) -> ItemBlocks:
        """Per-draw item probabilities in blocks of items, ``(rows, P[draw, item, class])``,
        as the family defines them (`Family.item_probability_blocks`)."""
        blocks = self.family.item_probability_blocks(
            self.annotations, self._stored_draws, self.used_gold, self.spec.inference.seed
        )
        record = self.self_calibration
        if record is None:
            return blocks
        return tempered_blocks(blocks, self.annotations.labels_per_item, record["correlation"])

    @property
    def _soft_label_meaning(self) -> str:
        meaning = self.family.soft_label_meaning
        if self.self_calibration is None:
            return meaning
        return f"{meaning}, tempered by label count (self-calibrated on held-out labels)"

    @property
    def self_calibration(self) -> dict[str, Any] | None:
        """The label-count temperature this fit's soft labels are tempered by
        (`bayeslabels.self_calibrate`; kept in the posterior's attributes), or None."""
        return record_of(self.posterior)

    def item_probability_draws(self) -> ItemBlocks:
        """Per-draw class posteriors of the items, in blocks: ``(rows, P[draw, item, class])``.

        What `soft_labels` summarises (mean and quantiles over the draw axis), for consumers that
        transform each draw first (`bayeslabels.calibrate`). Blocks keep memory bounded on large
        fits; ``rows`` is a slice of the items, chains are stacked on the draw axis.

        Returns
        -------
        iterator of (slice, numpy.ndarray)
            The item rows of each block and their (draws, rows, K) probabilities.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("rte"), method="em", use_gold=False)
        >>> [(rows, probs.shape) for rows, probs in fit.item_probability_draws()][:1]
        [(slice(0, 800, None), (1, 800, 2))]
        """
        return self._item_probability_blocks()

    # ------------------------------------------------------------------ generative model
    @cached_property
    def model(self) -> pm.Model:
        """The family's PyMC model, rebuilt from this fit's data and spec (gold in the
        likelihood only where the fit used it): the graph NUTS samples, or for a family that
        samples another parameterisation of the same posterior (`Family.nuts_model`:
        item-difficulty's pseudo-priors) the graph its draws were turned back into. The labels
        are its observed ``labels`` variable: ``pm.model_to_graphviz(fit.model)`` draws the plate
        diagram, ``pm.sample_posterior_predictive(fit.posterior, model=fit.model)`` runs it
        forwards.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("anesthesia"), method="em")
        >>> fit.model["labels"] in fit.model.observed_RVs
        True
        """
        extra = {"features": self.features} if self.family.takes_features else {}
        return self.family.build(self._likelihood_data, self.spec.priors, **extra)

    @property
    def _likelihood_data(self) -> Annotations:
        if self.used_gold:
            return self.annotations
        return replace(self.annotations, gold=np.full(self.annotations.n_items, -1))

    LOG_LIKELIHOOD_MAX_VALUES = 50_000_000
    LOO_INTEGRATED_DRAWS = 400

    def log_likelihood(self) -> xr.Dataset:
        """Pointwise log-likelihood, one value per item and draw: ``labels`` (chain, draw, item)
        = ``log p(y_i | θ^(s))``, every label of item i jointly with its class summed out
        (what the graph's observed ``labels`` gives per item; computed in NumPy, no compile).
        The unit is the item because its labels are not independent once the class is
        marginalised. A family with parameters of each item (``ambiguity``) gives them
        integrated over their population (`Family.loo_loglik_blocks`, Monte Carlo per draw, on
        about 400 evenly spaced draws in all): what leaving the item out means. Fits
        from `bayeslabels.fit` carry it as the ``log_likelihood`` group of
        `posterior` (so ``az.loo(fit.posterior)`` works) when chains × draws × items ≤ 50 M.

        Returns
        -------
        xarray.Dataset
            ``labels`` (chain, draw, item).

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("anesthesia"), method="em")
        >>> fit.log_likelihood()["labels"].dims
        ('chain', 'draw', 'item')
        """
        post = self.posterior["posterior"]
        if self.family.loo_loglik is not None:  # Monte Carlo per draw: about 400 draws in all
            per_chain = max(1, self.LOO_INTEGRATED_DRAWS // post.sizes["chain"])
            post = post.isel(draw=slice(None, None, -(-post.sizes["draw"] // per_chain)))
        chains, draws = post.sizes["chain"], post.sizes["draw"]
        values = np.empty((chains * draws, self.annotations.n_items))

        def stored(name: str) -> np.ndarray:
            array = np.asarray(post[name])
            return array.reshape(-1, *array.shape[2:])

        blocks = self.family.loo_loglik_blocks(self.annotations, stored, self.used_gold)
        for rows, block in blocks:
            values[:, rows] = block
        coords = {"chain": post["chain"].values, "draw": post["draw"].values}
        return xr.Dataset(
            {"labels": (("chain", "draw", "item"), values.reshape(chains, draws, -1))},
            coords={**coords, "item": list(self.annotations.items)},
        )

    def _with_deterministics(self) -> Fit:
        """This fit with the deterministics its save left out recomputed (`persist.RECOMPUTED`)."""
        posterior = self.posterior["posterior"].to_dataset()
        if RECOMPUTED not in posterior.attrs:
            return self
        groups = {name: node.to_dataset() for name, node in self.posterior.children.items()}
        groups["posterior"] = recompute_deterministics(posterior, self.model)
        return replace(self, posterior=xr.DataTree.from_dict(groups))

    def _with_log_likelihood(self) -> Fit:
        """This fit with the `log_likelihood` group in its posterior (sampled fits small
        enough; point estimates and very large fits as they are)."""
        post = self.posterior["posterior"]
        size = post.sizes["chain"] * post.sizes["draw"] * self.annotations.n_items
        if self.is_point_estimate or size > self.LOG_LIKELIHOOD_MAX_VALUES:
            return self
        groups = {name: node.to_dataset() for name, node in self.posterior.children.items()}
        groups["log_likelihood"] = self.log_likelihood()
        return replace(self, posterior=xr.DataTree.from_dict(groups))

    def _draw_subset(self, draws: int, seed: int) -> np.ndarray:
        total = self.posterior["posterior"].sizes["chain"] * self.posterior["posterior"].sizes["draw"]
        if draws < 1:
            raise DataError(f"draws must be at least 1, got {draws}")
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(total, size=draws, replace=draws > total))

    def replicated_labels(self, draws: int = 200, seed: int = 0) -> np.ndarray:
        """Label tables simulated from the fitted model with the observed design: (draws,
        rows) class codes, one per label row of `annotations` in its row order. Each replicate
        takes one posterior draw (chosen at random with ``seed``; a point estimate repeats its
        one), a fresh true class per item (gold fixes it where the fit used gold), then every
        row's label through its annotator's confusion — the family's own generative code.

        Parameters
        ----------
        draws : int, default 200
            Replicated tables.
        seed : int, default 0
            Seed of the choice of draws and of the simulation.

        Returns
        -------
        numpy.ndarray
            (draws, rows) int class codes.

        Raises
        ------
        DataError
            If ``draws`` < 1.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("anesthesia"), method="em")
        >>> fit.replicated_labels(draws=5).shape
        (5, 315)
        """
        chosen = self._draw_subset(draws, seed)

        def subset(name: str) -> np.ndarray:
            return self._stored_draws(name)[chosen]

        rng = np.random.default_rng(seed)
        return self.family.replicated_labels(self.annotations, subset, self.used_gold, rng)

    def _observed_data(self) -> xr.Dataset:
        labels, _ = label_table(self.annotations, per_subtype=False)
        return xr.Dataset(
            {"labels": (("item", "label_slot"), labels)},
            coords={"item": list(self.annotations.items), "label_slot": np.arange(labels.shape[1])},
        )

    def posterior_predictive(self, draws: int = 200, seed: int = 0) -> xr.DataTree:
        """Posterior predictive label tables: a DataTree with ``posterior_predictive``
        (``labels`` (chain, draw, item, label_slot), −1 past an item's last label, as the
        model's observed variable) and ``observed_data``. Drawn in NumPy by
        `replicated_labels` (no compile); ``pm.sample_posterior_predictive(fit.posterior,
        model=fit.model)`` gives the same distribution through PyMC.

        Parameters
        ----------
        draws : int, default 200
            Replicated tables.
        seed : int, default 0
            Seed.

        Returns
        -------
        xarray.DataTree
            Groups ``posterior_predictive`` and ``observed_data``.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("anesthesia"), method="em")
        >>> fit.posterior_predictive(draws=10)["posterior_predictive"]["labels"].shape
        (1, 10, 45, 7)
        """
        replicated = rows_to_table(self.annotations, self.replicated_labels(draws, seed))
        observed = self._observed_data()
        predictive = xr.Dataset(
            {"labels": (("chain", "draw", "item", "label_slot"), replicated[None])},
            coords={"chain": [0], "draw": np.arange(draws), **observed.coords},
        )
        return xr.DataTree.from_dict({"posterior_predictive": predictive, "observed_data": observed})

    def prior_predictive(self, draws: int = 200, seed: int = 0) -> xr.DataTree:
        """Label tables simulated from the priors with the real (item, annotator) design, by
        PyMC from the generative graph (``pm.sample_prior_predictive``): groups ``prior``
        (parameters), ``prior_predictive`` (``labels`` (chain, draw, item, label_slot), −1 past
        an item's last label) and ``observed_data``. Compiles the forward graph (seconds).

        Parameters
        ----------
        draws : int, default 200
            Simulated tables.
        seed : int, default 0
            Seed.

        Returns
        -------
        xarray.DataTree
            Groups ``prior``, ``prior_predictive``, ``observed_data`` and ``constant_data``.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("anesthesia"), method="em")
        >>> fit.prior_predictive(draws=10)["prior_predictive"]["labels"].shape  # doctest: +SKIP
        (1, 10, 45, 7)
        """
        import pymc as pm

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return pm.sample_prior_predictive(draws=draws, model=self.model, random_seed=seed)

    def _posterior_pass(
        self,
        ci_prob: float,
        windows: int = 1,
        ann: Annotations | None = None,
        blocks: ItemBlocks | None = None,
    ) -> _ItemPosteriors:
        """One pass over items: mean and equal-tailed interval of P(z_i = k) over all draws,
        and the mean per chain and per window of each chain (for label-switching checks).
        ``ann``/``blocks``: other items (`predict`) and their per-draw probabilities."""
        ann = self.annotations if ann is None else ann
        k = ann.n_classes
        posterior = self.posterior["posterior"]
        n_chains, n_draws = posterior.sizes["chain"], posterior.sizes["draw"]
        windows = max(1, min(windows, n_draws // 10))
        per_window = n_draws // windows
        mean = np.empty((ann.n_items, k))
        lo, hi = np.empty_like(mean), np.empty_like(mean)
        chain_means = np.empty((n_chains, ann.n_items, k))
        window_means = np.empty((n_chains, windows, ann.n_items, k))
        score = np.empty((ann.n_items, 2)) if ann.ordered else None
        tail = (1 - ci_prob) / 2

        def summarise(block: tuple[slice, np.ndarray]) -> None:  # on a thread: its own rows
            rows, probs = block
            mean[rows] = probs.mean(axis=0)  # over all draws, as `calibrate` averages its draws
            by_chain = probs.reshape(n_chains, n_draws, *probs.shape[1:])
            chain_means[:, rows] = by_chain.mean(axis=1) if n_chains > 1 else mean[rows]
            if windows > 1:
                trimmed = by_chain[:, : windows * per_window].reshape(
                    n_chains, windows, per_window, *probs.shape[1:]
                )
                window_means[:, :, rows] = trimmed.mean(axis=2)
            else:
                window_means[:, 0, rows] = chain_means[:, rows]
            if score is not None:  # the expected position of the true class, draw by draw
                score[rows] = draw_quantiles(probs @ np.arange(k, dtype=float), [tail, 1 - tail]).T
            lo[rows], hi[rows] = draw_quantiles(probs, [tail, 1 - tail])

        for _ in ordered_map(summarise, self._item_probability_blocks() if blocks is None else blocks):
            pass
        return _ItemPosteriors(
            mean, np.minimum(lo, mean), np.maximum(hi, mean), chain_means, window_means, score
        )

    def soft_labels(self, ci_prob: float = 0.9) -> SoftLabels:
        """Per-item class probabilities with ``ci_prob`` credible intervals, in input order.

        Parameters
        ----------
        ci_prob : float, default 0.9
            Probability of the equal-tailed interval over draws (0 < ci_prob < 1).

        Returns
        -------
        SoftLabels
            ``mean`` is the posterior mean of P(z_i = c) (for Beta–Bernoulli, of the item's
            rate), ``lower`` / ``upper`` its interval; a point estimate (EM, MAP) has
            ``lower = upper = mean`` and ``ci_prob=None`` — except Beta–Bernoulli, whose item
            rate has an exact conjugate posterior: its MAP fit's interval is that posterior's
            quantiles given the fitted (α, β). ``.to_frame()`` is the export
            schema: ``item``, ``label``, ``p_<c>``, ``p_<c>_lo``, ``p_<c>_hi``, ``entropy``,
            ``n_labels``, and ``subtype`` / ``gold`` when the data have them; for ordered
            classes also ``expected_score`` (position 0 … K−1 of the true class) with its
            interval over draws and ``median_class``.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("rte"), method="em", use_gold=False)
        >>> soft = fit.soft_labels(ci_prob=0.9)
        >>> soft.ci_prob is None  # EM: a point estimate
        True
        >>> frame = soft.to_frame()
        >>> list(frame.columns)  # doctest: +NORMALIZE_WHITESPACE
        ['item', 'label', 'p_0', 'p_0_lo', 'p_0_hi', 'p_1', 'p_1_lo', 'p_1_hi', 'entropy',
         'n_labels', 'subtype', 'gold']
        >>> frame[["item", "label", "p_1", "entropy", "n_labels", "subtype", "gold"]].round(3).head(3)
          item label    p_1  entropy  n_labels subtype gold
        0  266     1  0.998    0.013        10      IR    1
        1  934     0  0.000    0.000        10      IR    0
        2  961     0  0.021    0.100        10      IR    1
        """
        ci_prob = check_ci_prob(ci_prob)
        summary = self._with_exact_interval(self._posterior_pass(ci_prob), self.annotations, ci_prob)
        return self._labels_table(self.annotations, summary, ci_prob, self.used_gold)

    def _with_exact_interval(
        self, summary: _ItemPosteriors, ann: Annotations, ci_prob: float
    ) -> _ItemPosteriors:
        """``summary`` with the family's exact interval (`Family.exact_interval`) where it has one."""
        exact = self.family.exact_interval(ann, self._stored_draws, ci_prob)
        if exact is None or self.self_calibration is not None:  # tempered: the draws' spread
            return summary
        lo, hi = exact
        return replace(summary, lo=np.minimum(lo, summary.mean), hi=np.maximum(hi, summary.mean))

    @property
    def _has_intervals(self) -> bool:
        """Whether the soft labels carry intervals: a sampled fit, or a family with exact ones."""
        return not self.is_point_estimate or self.family.item_interval is not None

    def predict(
        self,
        annotations: Annotations,
        ci_prob: float = 0.9,
        unseen_annotators: Literal["population", "error"] = "population",
    ) -> SoftLabels:
        """Class posteriors of new items from their labels, by the fitted annotators: no refit.

        Each posterior draw of the annotator parameters scores the new labels with the shared
        likelihood, so the interval carries the fit's uncertainty about the annotators. The new
        labels never change the fit; their gold is kept for evaluation and never anchors.

        Parameters
        ----------
        annotations : Annotations
            Labels of the items to score (any items; classes among the fitted ones; for a
            per-subtype fit, subtypes among the fitted ones).
        ci_prob : float, default 0.9
            Probability mass of the equal-tailed credible interval.
        unseen_annotators : {"population", "error"}, default "population"
            ``"population"``: an annotator the fit has not seen labels like the population
            (hierarchical families) or the average fitted annotator; ``"error"``: refuse.

        Returns
        -------
        SoftLabels
            One row per item of ``annotations``, in their order.

        Raises
        ------
        DataError
            If ``annotations`` has classes (or subtypes) the fit has not seen, or an unseen
            annotator with ``unseen_annotators="error"``.
        ValueError
            If ``unseen_annotators`` is neither ``"population"`` nor ``"error"``.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> split = bl.split(bl.datasets.load("rte"), test_size=0.25, seed=0)
        >>> fit = bl.fit(split.train(), method="em", use_gold=False)
        >>> soft = fit.predict(split.test())
        >>> round(bl.evaluate(soft, split.test().gold_series()).value("accuracy"), 3)
        0.935
        """
        ci_prob = check_ci_prob(ci_prob)
        aligned = self._aligned(annotations, unseen_annotators)
        draws = self._stored_draws
        cells = self.family.cells_for(self.annotations, draws, aligned)
        blocks = self.family.item_probability_blocks(
            aligned, draws, False, self.spec.inference.seed, cell_confusion=cells
        )
        record = self.self_calibration
        if record is not None:  # tempered by the new items' own label counts
            blocks = tempered_blocks(blocks, aligned.labels_per_item, record["correlation"])
        summary = self._with_exact_interval(
            self._posterior_pass(ci_prob, ann=aligned, blocks=blocks), aligned, ci_prob
        )
        return self._labels_table(aligned, summary, ci_prob, used_gold=False)

    # ------------------------------------------------------------------ item features
    @cached_property
    def features(self) -> ItemFeatures | None:
        """The fitted items' standardised features and their scaling (`bayeslabels.features`)
        for a fit of a family that takes features (``learning-from-crowds``); None otherwise."""
        if "features" not in self.posterior.children:
            return None
        return ItemFeatures.from_dataset(self.posterior["features"].to_dataset())

    def _fitted_features(self, what: str) -> ItemFeatures:
        if not self.family.takes_features or self.features is None:
            raise DataError(
                f"{what} needs a fit with item features; this one is {self.spec.model!r}: fit "
                "model='learning-from-crowds' with features=..."
            )
        return self.features

    def predict_items(
        self, features: FeaturesLike, items: Sequence[str] | None = None, ci_prob: float = 0.9
    ) -> SoftLabels:
        """Class probabilities of items from their features alone: ``softmax(x W + b)`` per
        posterior draw, the annotators marginalised out (they are only how labels arise).

        For items nobody labelled (their features never entered the fit). The features are put
        on the fitted scale (`ItemFeatures.transform`); the interval is over the draws of W and b.

        Parameters
        ----------
        features : pandas.DataFrame, numpy.ndarray or scipy.sparse matrix
            One row per item: a DataFrame indexed by item id holding every fitted feature column
            (matched by name), or an array / sparse matrix with the fitted columns in order.
        items : sequence of str, optional
            The item of each row of an array (default ``"0"``, ``"1"``, …).
        ci_prob : float, default 0.9
            Probability mass of the equal-tailed interval.

        Returns
        -------
        SoftLabels
            One row per given item, in their order, with ``n_labels`` 0.

        Raises
        ------
        DataError
            For a fit without features, or features that do not match the fitted columns, with
            missing values or two rows of one item.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> sim = bl.simulate.learning_from_crowds(n_items=200, n_annotators=8, seed=0)
        >>> fit = bl.fit(sim.annotations, model="learning-from-crowds", features=sim.features,
        ...              method="map", quiet=True)  # doctest: +SKIP
        >>> fit.predict_items(sim.features.head(3)).to_frame()["label"].tolist()  # doctest: +SKIP
        ['1', '0', '1']
        """
        from scipy.special import softmax

        scaling = self._fitted_features("predict_items")
        ci_prob = check_ci_prob(ci_prob)
        ids, x = scaling.transform(features, items)
        intercept = self._stored_draws("intercept")  # draws × K
        weights = self._stored_draws("weights") if scaling.n_features else None  # draws × F × K
        k = intercept.shape[-1]
        mean = np.empty((len(ids), k))
        lo, hi = np.empty_like(mean), np.empty_like(mean)
        tail = (1 - ci_prob) / 2
        block = max(1, 20_000_000 // max(1, len(intercept) * k))
        for start in range(0, len(ids), block):
            rows = slice(start, start + block)
            logits = intercept[:, None, :]
            if weights is not None:
                logits = logits + np.einsum("if,sfk->sik", x[rows], weights)
            probs = softmax(np.broadcast_to(logits, (len(intercept), len(x[rows]), k)), axis=-1)
            mean[rows] = probs.mean(axis=0)
            lo[rows], hi[rows] = draw_quantiles(probs, [tail, 1 - tail])
        return SoftLabels(
            items=np.asarray(ids, dtype=object),
            classes=tuple(self.classes),
            mean=mean,
            lower=np.minimum(lo, mean),
            upper=np.maximum(hi, mean),
            ci_prob=None if self.is_point_estimate else ci_prob,
            n_labels=np.zeros(len(ids), dtype=np.int64),
            meaning=FEATURE_PREDICTION_MEANING,
        )

    def coefficients(self, ci_prob: float = 0.9) -> pd.DataFrame:
        """The classifier's weights with credible intervals, one row per (feature, class).

        ``weight`` is the posterior mean of W[feature, class] per standard deviation of the
        feature (features are standardised), ``weight_sd`` its posterior sd, ``weight_lo`` /
        ``weight_hi`` the equal-tailed interval; the intercepts b are the rows of feature
        ``(intercept)``. W and b sum to zero over classes: only differences between classes
        matter (for two classes the log-odds of the second per sd is ``2 · weight`` of its row).

        Parameters
        ----------
        ci_prob : float, default 0.9
            Probability mass of the equal-tailed interval.

        Returns
        -------
        pandas.DataFrame
            Columns ``feature``, ``class``, ``weight``, ``weight_sd``, ``weight_lo``, ``weight_hi``.

        Raises
        ------
        DataError
            For a fit without features.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> sim = bl.simulate.learning_from_crowds(n_items=200, n_annotators=8, seed=0)
        >>> fit = bl.fit(sim.annotations, model="learning-from-crowds", features=sim.features,
        ...              method="map", quiet=True)  # doctest: +SKIP
        >>> list(fit.coefficients().columns)  # doctest: +SKIP
        ['feature', 'class', 'weight', 'weight_sd', 'weight_lo', 'weight_hi']
        """
        scaling = self._fitted_features("coefficients")
        ci_prob = check_ci_prob(ci_prob)
        draws = self._stored_draws("intercept")[:, None, :]  # draws × 1 × K
        names = ["(intercept)"]
        if scaling.n_features:
            draws = np.concatenate([draws, self._stored_draws("weights")], axis=1)
            names += list(scaling.names)
        tail = (1 - ci_prob) / 2
        lo, hi = np.quantile(draws, [tail, 1 - tail], axis=0)
        k = draws.shape[-1]
        return pd.DataFrame(
            {
                "feature": np.repeat(names, k),
                "class": np.tile(self.classes, len(names)),
                "weight": draws.mean(axis=0).ravel(),
                "weight_sd": draws.std(axis=0).ravel(),
                "weight_lo": lo.ravel(),
                "weight_hi": hi.ravel(),
            }
        )

    def _aligned(self, new: Annotations, unseen_annotators: str) -> Annotations:
        """``new`` coded with this fit's code books (classes, annotators, subtypes); annotators
        the fit has not seen get codes after the fitted ones."""
        fitted = self.annotations
        if not isinstance(new, Annotations):
            raise DataError(f"predict needs an Annotations, got {type(new).__name__}")
        if unseen_annotators not in ("population", "error"):
            raise ValueError(f"unseen_annotators must be 'population' or 'error', got {unseen_annotators!r}")
        unknown = new.classes.difference(fitted.classes)
        if len(unknown):
            raise DataError(
                f"predict: class(es) {list(unknown)} are not among the fitted classes "
                f"{list(fitted.classes)}; map them onto the fitted classes or refit with them"
            )
        self.family.validate(replace(new, ordered=fitted.ordered))  # scored on the fitted scale
        new_annotators = new.annotators.difference(fitted.annotators, sort=False)
        if len(new_annotators) and unseen_annotators == "error":
            raise DataError(
                f"predict: {len(new_annotators)} annotator(s) the fit has not seen (e.g. "
                f"{list(new_annotators[:3])}); pass unseen_annotators='population' to score them as "
                "the population"
            )
        annotators = fitted.annotators.append(new_annotators)
        class_code = fitted.classes.get_indexer(new.classes)
        subtypes, subtype = new.subtypes, new.subtype
        if self.family.per_subtype:
            unknown = new.subtypes.difference(fitted.subtypes)
            if len(unknown):
                raise DataError(
                    f"predict: subtype(s) {list(unknown)[:5]} are not among the fitted subtypes "
                    f"{list(fitted.subtypes)[:10]}; a per-subtype fit has no parameters for them"
                )
            subtypes = fitted.subtypes
            subtype = fitted.subtypes.get_indexer(new.subtypes)[new.subtype]
        return Annotations(
            items=new.items,
            annotators=annotators,
            classes=fitted.classes,
            item_idx=new.item_idx,
            annotator_idx=annotators.get_indexer(new.annotators)[new.annotator_idx],
            label=class_code[new.label],
            gold=np.where(new.gold >= 0, class_code[np.maximum(new.gold, 0)], -1),
            subtypes=subtypes,
            subtype=subtype,
            timestamp=new.timestamp,
            ordered=fitted.ordered,
        )

    def _labels_table(
        self, ann: Annotations, summary: _ItemPosteriors, ci_prob: float, used_gold: bool
    ) -> SoftLabels:
        subtype: np.ndarray | None = None
        if ann.has_subtypes:
            subtypes = np.asarray(ann.subtypes, dtype=object)
            # numpy's stubs take where(c, x, None) for the one-argument form (a tuple of indices)
            subtype = np.where(ann.subtype >= 0, subtypes[np.maximum(ann.subtype, 0)], None)  # type: ignore[assignment]
        return SoftLabels(
            items=np.asarray(ann.items, dtype=object),
            classes=tuple(ann.classes),
            mean=summary.mean,
            lower=summary.lo,
            upper=summary.hi,
            ci_prob=ci_prob if self._has_intervals else None,
            n_labels=ann.labels_per_item,
            meaning=self._soft_label_meaning,
            subtype=subtype,
            gold=ann.gold_series().to_numpy(dtype=object) if ann.has_gold else None,
            anchored=(ann.gold >= 0) if used_gold else np.zeros(ann.n_items, dtype=bool),
            ordered=ann.ordered,
            score_interval=None if self.is_point_estimate else summary.score_interval,
        )

    # ------------------------------------------------------------------ per annotator
    def annotators(self, ci_prob: float = 0.9, by_subtype: bool = False) -> pd.DataFrame:
        """Per-annotator reliability with credible intervals.

        Per annotator: ``n_labels`` and, with intervals, ``accuracy = Σ_k ρ_k π_jkk`` and for
        two classes ``sensitivity = π_j11`` / ``specificity = π_j00`` (second class positive).
        Per-subtype models: ``by_subtype=True`` gives one row per (annotator, subtype);
        otherwise each annotator's confusion is averaged over subtypes weighted by where their
        labels fell. Families with confusion matrices add ``balanced_accuracy = Σ_k π_jkk / K``
        (with interval; a point estimate gets a plug-in interval from each annotator's own
        labels) and ``below_chance``: its upper bound is under 1/K, the score of any
        uninformative annotator — `check` warns about them. Beta–Bernoulli has no annotator
        parameters: its ``agreement`` is the probability that a new label on the same item
        matches the annotator's.
        The ordinal model adds ``bias`` (in classes: < 0 harsh, rating below the truth; > 0
        lenient) and ``noise`` (the logistic scale of the annotator's perceived score), with
        intervals.

        Parameters
        ----------
        ci_prob : float, default 0.9
            Probability of the equal-tailed intervals (columns ``<name>_lo``, ``<name>_hi``).
        by_subtype : bool, default False
            One row per (annotator, subtype), for per-subtype fits.

        Returns
        -------
        pandas.DataFrame
            One row per annotator (or annotator and subtype).

        Raises
        ------
        DataError
            If ``by_subtype=True`` for a fit without subtypes.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("rte"), method="em", use_gold=False)
        >>> table = fit.annotators()
        >>> list(table.columns[:5])
        ['annotator', 'n_labels', 'accuracy', 'accuracy_lo', 'accuracy_hi']
        >>> table[["annotator", "n_labels", "accuracy", "sensitivity", "specificity"]].round(3).head(2)
                annotator  n_labels  accuracy  sensitivity  specificity
        0  A19IBSKBTABMR3        40     0.802        0.933        0.681
        1   AEX5NCH03LWSG       420     0.898        0.884        0.910
        """
        ci_prob = check_ci_prob(ci_prob)
        ann = self.annotations
        frame = pd.DataFrame(
            {
                "annotator": pd.array(np.asarray(ann.annotators, dtype=object), dtype="string"),
                "n_labels": ann.labels_per_annotator.astype(np.int64),
            }
        )
        if by_subtype and self.family.per_subtype:
            return self._annotator_subtype_table(ci_prob)
        table = _with_intervals(frame, self.family.reliability(ann, self.draws), ci_prob)
        if self.family.has_confusion:
            table = pd.concat([table, self._balanced_accuracy(ci_prob)], axis=1)
            table["below_chance"] = table["balanced_accuracy_hi"] < 1 / ann.n_classes
        return table

    def _balanced_accuracy(self, ci_prob: float) -> pd.DataFrame:
        """``balanced_accuracy`` per annotator, ``Σ_k π_jkk / K``, with its ``ci_prob`` interval.
        Every uninformative annotator (identical confusion rows, e.g. one who always says the same
        class) scores exactly 1/K, so an interval below 1/K is credibly below chance. A point
        estimate (EM, MAP) gets a plug-in interval: with the items' classes at their estimated
        posteriors, π_jkk ~ Beta(1 + expected correct, 1 + expected wrong) independently per class,
        and the interval is the normal approximation to the mean of those K Betas — what the
        annotator's own labels allow, the items' uncertainty left out (deterministic, row-order
        free)."""
        ann = self.annotations
        k = ann.n_classes
        estimate = np.einsum("sjkk->sj", self.annotator_confusion()) / k
        if not self.is_point_estimate:
            frame = pd.DataFrame(index=range(ann.n_annotators))
            return _with_intervals(frame, {"balanced_accuracy": estimate}, ci_prob)
        q = self.soft_labels(ci_prob=0.5).mean[ann.item_idx]  # rows × K: each label's class posterior
        a = 1 + np.stack(
            [np.bincount(ann.annotator_idx, q[:, c] * (ann.label == c), ann.n_annotators) for c in range(k)],
            axis=1,
        )
        total = 2 + np.stack(
            [np.bincount(ann.annotator_idx, q[:, c], ann.n_annotators) for c in range(k)], axis=1
        )
        variance = (a * (total - a) / (total**2 * (total + 1))).sum(axis=1) / k**2  # of the mean of K Betas
        centre = (a / total).mean(axis=1)
        half = stats.norm.ppf(0.5 + ci_prob / 2) * np.sqrt(variance)
        mean = estimate[0]
        return pd.DataFrame(
            {
                "balanced_accuracy": mean,
                "balanced_accuracy_lo": np.minimum(np.clip(centre - half, 0, 1), mean),
                "balanced_accuracy_hi": np.maximum(np.clip(centre + half, 0, 1), mean),
            }
        )

    def _below_chance_warning(self, ci_prob: float = 0.9) -> tuple[str, ...]:
        """A warning naming the annotators whose balanced accuracy is credibly below chance (the
        upper end of its ``ci_prob`` interval under 1/K; `annotators`' ``below_chance``)."""
        if not self.family.has_confusion:
            return ()
        table = self._balanced_accuracy(ci_prob)
        chance = 1 / self.annotations.n_classes
        below = np.flatnonzero(table["balanced_accuracy_hi"].to_numpy() < chance)
        if not len(below):
            return ()
        names = np.asarray(self.annotations.annotators, dtype=object)
        worst = below[np.argsort(table["balanced_accuracy"].to_numpy()[below])][:3]
        shown = ", ".join(
            f"{names[j]!r} {table['balanced_accuracy'].iloc[j]:.2f} "
            f"[{table['balanced_accuracy_lo'].iloc[j]:.2f}, {table['balanced_accuracy_hi'].iloc[j]:.2f}]"
            for j in worst
        )
        kind = "plug-in " if self.is_point_estimate else ""
        return (
            f"{len(below)} of {len(names)} annotators label below chance (balanced accuracy's {ci_prob:.0%} "
            f"{kind}interval under 1/K = {chance:.2f}; e.g. {shown}): their labels are inverted or "
            "adversarial — check their instructions or class mapping, or drop them "
            "(fit.annotators()['below_chance'])",
        )

    def annotator_confusion(self) -> np.ndarray:
        """Confusion draws per annotator, (draws, annotators, K, K).

        Per-subtype fits are averaged over subtypes, weighted by where each annotator's labels
        fell.

        Returns
        -------
        numpy.ndarray
            ``[s, j, k, l] = P(annotator j says l | true class k)`` in draw s.

        Raises
        ------
        DataError
            For a family without confusion matrices.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("rte"), method="em", use_gold=False)
        >>> fit.annotator_confusion().shape
        (1, 164, 2, 2)
        """
        return self.family.annotator_confusion(self.annotations, self.draws)

    def subtype_confusion(self, what: str = "this") -> np.ndarray:
        """Confusion draws per (annotator, subtype), (draws, annotators, subtypes, K, K).

        Parameters
        ----------
        what : str, default "this"
            What needed it, for the error message.

        Returns
        -------
        numpy.ndarray

        Raises
        ------
        DataError
            Naming ``what``, for a fit without subtypes.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("rte"), method="em", use_gold=False)
        >>> fit.subtype_confusion()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        bayeslabels.errors.DataError: this needs a per-subtype fit; this one is 'dawid-skene': ...
        >>> by_subtype = bl.fit(bl.datasets.load("rte"), model="hierarchical-subtype")  # doctest: +SKIP
        >>> by_subtype.subtype_confusion().shape  # doctest: +SKIP
        (4000, 164, 7, 2, 2)
        """
        return self.family.subtype_confusion(self.annotations, self.draws, what)

    def _annotator_subtype_table(self, ci_prob: float) -> pd.DataFrame:
        ann = self.annotations
        confusion = self.subtype_confusion()
        per_cell = labels_per_cell(ann)
        n_annotators, n_subtypes = per_cell.shape
        frame = pd.DataFrame(
            {
                "annotator": pd.array(
                    np.repeat(np.asarray(ann.annotators, dtype=object), n_subtypes), dtype="string"
                ),
                "subtype": pd.array(
                    np.tile(np.asarray(ann.subtypes, dtype=object), n_annotators), dtype="string"
                ),
                "n_labels": per_cell.ravel().astype(np.int64),
            }
        )
        flat = confusion.reshape(confusion.shape[0], -1, *confusion.shape[-2:])
        return _with_intervals(frame, confusion_reliability(flat, self.draws("prevalence")), ci_prob)

    # ------------------------------------------------------------------ reporting
    def gold_accuracy(self) -> dict[str, float] | None:
        """Accuracy of the hard labels (and of majority vote) on held-out gold items.

        Only when the gold was held out of the fit (``use_gold=False``).

        Returns
        -------
        dict or None
            ``n_gold``, ``model``, ``majority_vote`` and, when the fit started from EM, ``em``;
            None when there is no gold or it anchored the fit.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("rte"), method="em", use_gold=False)
        >>> fit.gold_accuracy()
        {'n_gold': 800, 'model': 0.92875, 'majority_vote': 0.8975, 'em': 0.92875}
        """
        ann = self.annotations
        known = ann.gold >= 0
        if not known.any() or self.used_gold:
            return None
        labels = self.soft_labels(ci_prob=0.5).label
        truth = np.asarray(ann.classes, dtype=object)[ann.gold[known]]
        mv = majority_vote(ann).label
        result = {
            "n_gold": int(known.sum()),
            "model": float((labels[known] == truth).mean()),
            "majority_vote": float((mv[known] == ann.gold[known]).mean()),
        }
        if self.em is not None:
            result["em"] = float((self.em.label[known] == ann.gold[known]).mean())
        return result

    def summary(self, data: bool = True) -> str:
        """A readable summary: model, method and sampling, data size, gold accuracy, `check`.

        Parameters
        ----------
        data : bool, default True
            Include the line of data sizes (the command line prints its ingest summary instead).

        Returns
        -------
        str

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("rte"), method="em", use_gold=False)
        >>> print(fit.summary())
        model dawid-skene, method em
        8000 labels, 800 items, 164 annotators, classes ['0', '1']
        gold accuracy on 800 held-out gold items: model 0.929, EM 0.929, majority vote 0.897
        convergence: point estimate (no sampling to check)
          warning: predictive check (200 replicated label tables): ...
        """
        ann = self.annotations
        run = self.sampling
        how = ""
        if run:
            timings = [
                f"{what} {seconds:.1f} s"
                for what, seconds in (("compile", run.compile_seconds), ("sampling", run.sampling_seconds))
                # ADVI has no separate compile time (nan; None once saved)
                if isinstance(seconds, int | float) and math.isfinite(seconds)
            ]
            kept = f", 1 in {run.thin} kept" if run.thin > 1 else ""
            how = (
                f" ({', '.join([f'{run.sampler}, {run.chains} chains × {run.draws} draws{kept}', *timings])})"
            )
        lines = [f"model {self.spec.model}, method {self.method}{how}"]
        if data:
            lines.append(
                f"{ann.n_labels} labels, {ann.n_items} items, {ann.n_annotators} annotators, "
                f"classes {list(ann.classes)}"
            )
        gold = self.gold_accuracy()
        if gold is not None:
            parts = [f"model {gold['model']:.3f}", f"majority vote {gold['majority_vote']:.3f}"]
            if "em" in gold:
                parts.insert(1, f"EM {gold['em']:.3f}")
            lines.append(f"gold accuracy on {gold['n_gold']} held-out gold items: " + ", ".join(parts))
        elif ann.has_gold:
            lines.append(f"gold for {int((ann.gold >= 0).sum())} items anchored the fit (not scored)")
        lines.append(str(self.check()))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Fit {self.spec.model} by {self.method}: {self.annotations!r}>"

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> Path:
        """Save as a directory, atomically; `bayeslabels.load` restores it.

        The directory holds spec.toml, posterior.nc, annotations.parquet, diagnostics.json and
        manifest.json with hashes.

        Parameters
        ----------
        directory : str or pathlib.Path
            The directory to write.

        Returns
        -------
        pathlib.Path
            The directory written.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("rte"), method="em")  # doctest: +SKIP
        >>> fit.save("runs/rte-em")  # doctest: +SKIP
        PosixPath('runs/rte-em')
        """
        return save_fit(self, directory)

    # ------------------------------------------------------------------ export
    def provenance(self, ci_prob: float, allow_failed_check: bool = False) -> dict[str, Any]:
        """The provenance record `export` writes with the soft labels.

        Parameters
        ----------
        ci_prob : float
            Probability of the exported intervals.
        allow_failed_check : bool, default False
            Whether the export was allowed despite a failed `check`.

        Returns
        -------
        dict
            ``bayeslabels_version``, ``created_at``, ``model`` (the spec), ``spec_hash``,
            ``method``, ``soft_label_meaning``, ``used_gold``, ``data_hash``, ``n_items``,
            ``n_labels``, ``sampling``, ``convergence`` (`check` as a dict), ``ci_prob`` (None
            for soft labels without intervals: a point estimate) and ``allow_failed_check``;
            for a fit chosen by `bayeslabels.fitting.auto_fit`,
            ``model_selection`` (the comparison table and the reason).

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("rte"), method="em", use_gold=False)
        >>> record = fit.provenance(ci_prob=0.9)
        >>> record["method"], record["n_items"], record["used_gold"]
        ('em', 800, False)
        """
        return {
            "bayeslabels_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": self.spec.to_dict(),
            "spec_hash": self.spec.hash,
            "method": self.method,
            "soft_label_meaning": self._soft_label_meaning,
            "used_gold": self.used_gold,
            "data_hash": self.annotations.data_hash,
            "n_items": self.annotations.n_items,
            "n_labels": self.annotations.n_labels,
            "classes": list(map(str, self.annotations.classes)),
            "ordered": self.annotations.ordered,
            "sampling": asdict(self.sampling) if self.sampling else None,
            "convergence": self.check().to_dict(),
            "ci_prob": ci_prob if self._has_intervals else None,  # None: a point estimate, no intervals
            "allow_failed_check": allow_failed_check,
            **({"model_selection": self.model_selection} if self.model_selection else {}),
            **({"self_calibration": self.self_calibration} if self.self_calibration else {}),
        }

    def refuse_unconverged(self, allow_failed_check: bool = False) -> None:
        """Refuse (`ConvergenceError`) a fit that fails `check`, unless ``allow_failed_check``.

        The gate every export of this fit's soft labels passes (`export`, `Calibration.export`).

        Parameters
        ----------
        allow_failed_check : bool, default False
            Let a fit that fails its check through (the exports record it).

        Raises
        ------
        ConvergenceError
            If the check fails and ``allow_failed_check`` is False.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> bl.fit(bl.datasets.load("rte"), method="em").refuse_unconverged()  # a point estimate passes
        """
        report = self.check()
        if not report.ok and not allow_failed_check:
            raise ConvergenceError(
                f"refusing to export: the fit failed its convergence check ({'; '.join(report.reasons)}). "
                "Sample longer (more draws / tune / chains) or pass allow_failed_check=True "
                "(recorded in the provenance)"
            )

    def export(self, path: str | Path, ci_prob: float = 0.9, allow_failed_check: bool = False) -> Path:
        """Write `soft_labels` to Parquet, CSV or JSON Lines (by extension), atomically.

        Provenance (package version, model spec, data hash, sampler settings, convergence
        verdict) goes into the Parquet schema metadata (key ``bayeslabels.provenance``) or, for
        CSV / JSON Lines, a sidecar ``<path>.json``.

        Parameters
        ----------
        path : str or pathlib.Path
            Where to write: ``.parquet``, ``.csv`` or ``.jsonl``.
        ci_prob : float, default 0.9
            Probability of the credible intervals.
        allow_failed_check : bool, default False
            Export a fit that fails `check` anyway (recorded in the provenance).

        Returns
        -------
        pathlib.Path
            The file written.

        Raises
        ------
        ConvergenceError
            If the fit fails `check` and ``allow_failed_check`` is False.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fit = bl.fit(bl.datasets.load("rte"), method="nuts", seed=1)  # doctest: +SKIP
        >>> fit.export("soft_labels.parquet", ci_prob=0.9)  # doctest: +SKIP
        PosixPath('soft_labels.parquet')
        """
        export_kind(path)  # refuse an unknown extension before checking convergence
        self.refuse_unconverged(allow_failed_check)
        provenance = self.provenance(ci_prob, allow_failed_check)
        text = json.dumps(json_safe(provenance), indent=2, allow_nan=False)
        return self.soft_labels(ci_prob).write(path, provenance=text)


def _predictive_warning(check: PredictiveCheck | None) -> tuple[str, ...]:
    """One warning line for the misfits of a predictive check: each statistic with its
    observed and replicated values, then the distinct advice of its warnings."""
    if check is None:
        return ()
    misfit = check.table[check.table["misfit"]]
    if misfit.empty:
        return ()
    parts = [
        f"{row.statistic} {row.observed:.3g} vs {row.replicated_mean:.3g} "
        f"[{row.replicated_lo:.3g}, {row.replicated_hi:.3g}] (p = {row.p_value:.3f})"
        for row in misfit.itertuples()
    ]
    advice = list(dict.fromkeys(w.rsplit(" — ", 1)[-1] for w in check.warnings if " — " in w))
    return (
        f"predictive check ({check.replicates} replicated label tables): {'; '.join(parts)} — "
        f"{'; '.join(advice)} (detail: bl.predictive_check(fit))",
    )


def _with_intervals(frame: pd.DataFrame, quantities: dict[str, np.ndarray], ci_prob: float) -> pd.DataFrame:
    """Add mean, ``_lo`` and ``_hi`` (equal-tailed) columns for each (draws × rows) quantity."""
    tail = (1 - ci_prob) / 2
    for name, draws in quantities.items():
        frame[name] = draws.mean(axis=0)
        frame[f"{name}_lo"], frame[f"{name}_hi"] = np.quantile(draws, [tail, 1 - tail], axis=0)
    return frame


def load_fit(directory: str | Path) -> Fit:
    """A `Fit` saved by `Fit.save`.

    Available as ``bayeslabels.load``.

    Parameters
    ----------
    directory : str or pathlib.Path
        A directory written by `Fit.save`.

    Returns
    -------
    Fit

    Raises
    ------
    DataError
        If the directory's files do not match their hashes.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> fit = bl.load("runs/rte-em")  # doctest: +SKIP
    >>> fit.method  # doctest: +SKIP
    'em'
    """
    parts = read_fit(directory)
    report = parts.pop("report")
    fit = Fit(**parts)._with_deterministics()._with_log_likelihood()
    if report is not None:  # the default check() as saved: not recomputed (`persist._saved_report`)
        fit.__dict__["_default_report"] = report
    return fit
