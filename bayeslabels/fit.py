"""`Fit`: a posterior (an ``xr.DataTree``) with the `Annotations` and `ModelSpec` behind it.

Everything per item is computed draw by draw from the posterior with the shared
likelihood: ``P(z_i = k | π^(s), ρ^(s), y)`` for each draw s (Rao–Blackwellised, never
from sampled z); the soft label is its mean over draws and the credible interval its
equal-tailed quantiles. A point estimate (EM) is a one-draw posterior: intervals collapse
onto the estimate and the fit says so.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from ._checks import check_ci_prob
from ._io import json_safe
from ._version import __version__
from .aggregate import EMResult, majority_vote
from .data import Annotations
from .diagnostics import (
    ChainAlignment,
    ConvergenceReport,
    Thresholds,
    align_chains,
    check_convergence,
    identifiability_warnings,
    subtype_switches,
)
from .errors import DataError
from .models import Family, confusion_reliability
from .models._family import ItemBlocks, labels_per_cell
from .persist import read_fit, save_fit
from .soft_labels import SoftLabels, export_kind
from .spec import Method, ModelSpec, SamplingInfo


@dataclass(frozen=True)
class _ItemPosteriors:
    mean: np.ndarray  # items × K
    lo: np.ndarray
    hi: np.ndarray
    chain_means: np.ndarray  # chains × items × K
    window_means: np.ndarray  # chains × windows × items × K


class ConvergenceError(RuntimeError):
    """An export of a fit that failed its convergence check, without permission."""


@dataclass(frozen=True, eq=False)
class Fit:
    """A fitted annotator model.

    Attributes: ``posterior`` (DataTree with groups ``posterior`` and, for NUTS,
    ``sample_stats``; ADVI adds ``variational``), ``annotations``, ``spec``, ``method``
    (``"nuts"``, ``"advi"``, ``"fullrank-advi"``, ``"map"`` or ``"em"``), ``em`` (the EM
    solution the fit started from), ``sampling`` (`SamplingInfo`: settings as run, timings;
    None for MAP and EM), ``used_gold`` (whether gold labels anchored the fit).
    """

    posterior: xr.DataTree
    annotations: Annotations
    spec: ModelSpec
    method: Method
    em: EMResult | None = None
    sampling: SamplingInfo | None = None
    used_gold: bool = True

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
        (draws, annotators, subtypes, K, K) with the cells that hold no labels at the population
        (`Family.confusion`, rebuilt from the observed cells, not stored)."""
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

    def check(self, thresholds: Thresholds | None = None) -> ConvergenceReport:
        """Convergence (R-hat, ESS, divergences, BFMI), label switching per chain against the
        reference (gold where there is gold, else EM) and identifiability warnings."""
        if thresholds is None:
            return self._default_report
        return self._check(thresholds)

    @cached_property
    def _default_report(self) -> ConvergenceReport:
        return self._check(Thresholds())

    def _check(self, thresholds: Thresholds) -> ConvergenceReport:
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
        em_disagreement = 0 if self.em is None else int((summary.mean.argmax(axis=1) != self.em.label).sum())
        warnings = identifiability_warnings(
            labels_per_annotator=ann.labels_per_annotator,
            labels_per_item=ann.labels_per_item,
            classes=self.classes,
            prevalence=self.draws("prevalence").mean(axis=0),
            anchored_by_gold=self.used_gold and ann.has_gold,
            symmetric_prior=getattr(self.spec.priors, "symmetric", False),
            em_disagreement=em_disagreement,
            thresholds=thresholds,
        )
        variables = list(self.posterior["posterior"].data_vars)
        return check_convergence(
            self.posterior,
            variables,
            thresholds,
            alignments,
            warnings,
            subtype_switched,
            draws_used=self.sampling.draws_used if self.sampling else (),
        )

    def reference_posterior(self) -> np.ndarray:
        """Items × K reference for label alignment: one-hot gold where gold anchored the fit
        (other rows zero), else the EM posterior — gold held out of the fit is never used."""
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
        return self.family.item_probability_blocks(
            self.annotations, self._stored_draws, self.used_gold, self.spec.inference.seed
        )

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
        tail = (1 - ci_prob) / 2
        for rows, probs in self._item_probability_blocks() if blocks is None else blocks:
            mean[rows] = probs.mean(axis=0)
            lo[rows], hi[rows] = np.quantile(probs, [tail, 1 - tail], axis=0)
            by_chain = probs.reshape(n_chains, n_draws, *probs.shape[1:])
            chain_means[:, rows] = by_chain.mean(axis=1)
            trimmed = by_chain[:, : windows * per_window].reshape(
                n_chains, windows, per_window, *probs.shape[1:]
            )
            window_means[:, :, rows] = trimmed.mean(axis=2)
        return _ItemPosteriors(mean, np.minimum(lo, mean), np.maximum(hi, mean), chain_means, window_means)

    def soft_labels(self, ci_prob: float = 0.9) -> SoftLabels:
        """Per-item class probabilities with ``ci_prob`` credible intervals, in input order.

        Parameters
        ----------
        ci_prob : float
            Probability of the equal-tailed interval over draws (0 < ci_prob < 1).

        Returns
        -------
        SoftLabels
            ``mean`` is the posterior mean of P(z_i = c) (for Beta–Bernoulli, of the item's
            rate), ``lower`` / ``upper`` its interval; a point estimate (EM, MAP) has
            ``lower = upper = mean`` and ``ci_prob=None``. ``.to_frame()`` is the export
            schema: ``item``, ``label``, ``p_<c>``, ``p_<c>_lo``, ``p_<c>_hi``, ``entropy``,
            ``n_labels``, and ``subtype`` / ``gold`` when the data have them.

        Examples
        --------
        >>> fit.soft_labels(ci_prob=0.9).to_frame()  # doctest: +SKIP
        """
        ci_prob = check_ci_prob(ci_prob)
        return self._labels_table(self.annotations, self._posterior_pass(ci_prob), ci_prob, self.used_gold)

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
        annotations
            Labels of the items to score (any items; classes among the fitted ones; for a
            per-subtype fit, subtypes among the fitted ones).
        ci_prob
            Probability mass of the equal-tailed credible interval.
        unseen_annotators
            ``"population"``: an annotator the fit has not seen labels like the population
            (hierarchical families) or the average fitted annotator; ``"error"``: refuse.

        Returns
        -------
        `SoftLabels`, one row per item of ``annotations`` in their order.

        Examples
        --------
        >>> fit = bl.fit(train, method="em")  # doctest: +SKIP
        >>> fit.predict(test).to_frame().head()  # doctest: +SKIP
        """
        ci_prob = check_ci_prob(ci_prob)
        aligned = self._aligned(annotations, unseen_annotators)
        draws = self._stored_draws
        cells = self.family.cells_for(self.annotations, draws, aligned)
        blocks = self.family.item_probability_blocks(
            aligned, draws, False, self.spec.inference.seed, cell_confusion=cells
        )
        summary = self._posterior_pass(ci_prob, ann=aligned, blocks=blocks)
        return self._labels_table(aligned, summary, ci_prob, used_gold=False)

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
        self.family.validate(new)
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
            ci_prob=None if self.is_point_estimate else ci_prob,
            n_labels=ann.labels_per_item,
            meaning=self.family.soft_label_meaning,
            subtype=subtype,
            gold=ann.gold_series().to_numpy(dtype=object) if ann.has_gold else None,
            anchored=(ann.gold >= 0) if used_gold else np.zeros(ann.n_items, dtype=bool),
        )

    # ------------------------------------------------------------------ per annotator
    def annotators(self, ci_prob: float = 0.9, by_subtype: bool = False) -> pd.DataFrame:
        """Per annotator: ``n_labels`` and, with intervals, ``accuracy = Σ_k ρ_k π_jkk`` and for
        two classes ``sensitivity = π_j11`` / ``specificity = π_j00`` (second class positive).

        Per-subtype models: ``by_subtype=True`` gives one row per (annotator, subtype);
        otherwise each annotator's confusion is averaged over subtypes weighted by where
        their labels fell. Beta–Bernoulli has no annotator parameters: its ``agreement`` is
        the probability that a new label on the same item matches the annotator's."""
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
        return _with_intervals(frame, self.family.reliability(ann, self.draws), ci_prob)

    def annotator_confusion(self) -> np.ndarray:
        """Confusion draws per annotator, (draws, annotators, K, K). Per-subtype fits are
        averaged over subtypes, weighted by where each annotator's labels fell. A DataError
        for a family without confusion matrices."""
        return self.family.annotator_confusion(self.annotations, self.draws)

    def subtype_confusion(self, what: str = "this") -> np.ndarray:
        """Confusion draws per (annotator, subtype), (draws, annotators, subtypes, K, K); a
        DataError naming ``what`` needed it for a fit without subtypes."""
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
        """Accuracy of the hard labels (and of majority vote) on gold items, when the gold
        was held out of the fit; None when there is no gold or it anchored the fit."""
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

    def summary(self) -> str:
        ann = self.annotations
        run = self.sampling
        lines = [
            f"model {self.spec.model}, method {self.method}"
            + (
                f" ({run.sampler}, {run.chains} chains × {run.draws} draws, "
                f"compile {run.compile_seconds:.1f} s, sampling {run.sampling_seconds:.1f} s)"
                if run
                else ""
            ),
            f"{ann.n_labels} labels, {ann.n_items} items, {ann.n_annotators} annotators, "
            f"classes {list(ann.classes)}",
        ]
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
        """Save as a directory (spec.toml, posterior.nc, annotations.parquet, diagnostics.json,
        manifest.json with hashes), atomically; `bayeslabels.load` restores it."""
        return save_fit(self, directory)

    # ------------------------------------------------------------------ export
    def provenance(self, ci_prob: float, allow_failed_check: bool = False) -> dict[str, Any]:
        return {
            "bayeslabels_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": self.spec.to_dict(),
            "spec_hash": self.spec.hash,
            "method": self.method,
            "soft_label_meaning": self.family.soft_label_meaning,
            "used_gold": self.used_gold,
            "data_hash": self.annotations.data_hash,
            "n_items": self.annotations.n_items,
            "n_labels": self.annotations.n_labels,
            "sampling": asdict(self.sampling) if self.sampling else None,
            "convergence": self.check().to_dict(),
            "ci_prob": ci_prob,
            "allow_failed_check": allow_failed_check,
        }

    def export(self, path: str | Path, ci_prob: float = 0.9, allow_failed_check: bool = False) -> Path:
        """Write `soft_labels` to Parquet, CSV or JSON Lines (by extension), atomically.

        Provenance (package version, model spec, data hash, sampler settings, convergence
        verdict) goes into the Parquet schema metadata (key ``bayeslabels.provenance``) or,
        for CSV / JSON Lines, a sidecar ``<path>.json``. A fit that fails `check` is refused
        unless ``allow_failed_check=True``, which is then recorded.
        """
        export_kind(path)  # refuse an unknown extension before checking convergence
        report = self.check()
        if not report.ok and not allow_failed_check:
            raise ConvergenceError(
                f"refusing to export: the fit failed its convergence check ({'; '.join(report.reasons)}). "
                "Sample longer (more draws / tune / chains) or pass allow_failed_check=True "
                "(recorded in the provenance)"
            )
        provenance = self.provenance(ci_prob, allow_failed_check)
        text = json.dumps(json_safe(provenance), indent=2, allow_nan=False)
        return self.soft_labels(ci_prob).write(path, provenance=text)


def _with_intervals(frame: pd.DataFrame, quantities: dict[str, np.ndarray], ci_prob: float) -> pd.DataFrame:
    """Add mean, ``_lo`` and ``_hi`` (equal-tailed) columns for each (draws × rows) quantity."""
    tail = (1 - ci_prob) / 2
    for name, draws in quantities.items():
        frame[name] = draws.mean(axis=0)
        frame[f"{name}_lo"], frame[f"{name}_hi"] = np.quantile(draws, [tail, 1 - tail], axis=0)
    return frame


def load_fit(directory: str | Path) -> Fit:
    """A `Fit` saved by `Fit.save`; refuses a directory whose files do not match their hashes.

    Examples
    --------
    >>> fit = bl.load("runs/rte-ds")  # doctest: +SKIP
    """
    return Fit(**read_fit(directory))
