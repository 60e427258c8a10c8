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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .aggregate import EMResult, majority_vote
from .data import Annotations
from .diagnostics import (
    ConvergenceReport,
    Thresholds,
    align_chains,
    check_convergence,
    identifiability_warnings,
    subtype_switches,
)
from .models import FAMILIES, Family
from .models._likelihood import annotation_counts, class_posterior_blocks, gold_log_mask, label_cells
from .models.beta_bernoulli import SOFT_LABEL_MEANING, item_rate_blocks, positive_counts
from .models.hierarchical import subtype_confusion
from .soft_labels import SoftLabels, export_kind
from .spec import ModelSpec

if TYPE_CHECKING:
    from .inference import SamplingInfo

CLASS_POSTERIOR_MEANING = "P(true class = c | all labels), the latent class posterior (mean over draws)"


@dataclass(frozen=True)
class _ItemPosteriors:
    mean: np.ndarray  # items × K
    lo: np.ndarray
    hi: np.ndarray
    chain_means: np.ndarray  # chains × items × K
    window_means: np.ndarray  # chains × windows × items × K


class ConvergenceError(RuntimeError):
    """An export of a fit that failed its convergence check, without permission."""


def _check_ci_prob(ci_prob: float) -> float:
    if not isinstance(ci_prob, int | float) or not 0 < float(ci_prob) < 1:
        raise ValueError(f"ci_prob must be a probability strictly between 0 and 1, got {ci_prob!r}")
    return float(ci_prob)


@dataclass(frozen=True, eq=False)
class Fit:
    """A fitted annotator model.

    Attributes: ``posterior`` (DataTree with groups ``posterior`` and, for NUTS,
    ``sample_stats``), ``annotations``, ``spec``, ``method`` (``"nuts"`` or ``"em"``),
    ``em`` (the EM solution the sampler started from), ``sampling`` (timings, settings),
    ``used_gold`` (whether gold labels anchored the fit).
    """

    posterior: xr.DataTree
    annotations: Annotations
    spec: ModelSpec
    method: str
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
        (draws, annotators, subtypes, K, K) with the cells that hold no labels at the population."""
        return self._draws(name)

    def _draws(self, name: str) -> np.ndarray:
        """Posterior draws of a variable, chains stacked first: (draws, ...). A per-subtype
        fit's dense ``confusion`` (draws, annotators, subtypes, K, K) is rebuilt from its
        observed cells and population (`subtype_confusion`), not stored."""
        posterior = self.posterior["posterior"]
        if name == "confusion" and name not in posterior and "cell_confusion" in posterior:
            return self._subtype_confusion
        values = posterior[name].values
        return values.reshape(-1, *values.shape[2:])

    @cached_property
    def _subtype_confusion(self) -> np.ndarray:
        return subtype_confusion(
            self.annotations,
            self._draws("mu_subtype"),
            self._draws("annotator_offset"),
            self._draws("cell_confusion"),
        )

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
        alignments, subtype_switched = (), ()
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
            prevalence=self._draws("prevalence").mean(axis=0),
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
                if "accuracy" in chain.data_vars:  # one-coin: accuracy is the confusion's diagonal
                    diagonal = np.einsum("cdjkk->cdj", chain["confusion"].values) / len(self.classes)
                    chain["accuracy"] = (chain["accuracy"].dims, diagonal)
            pieces.append(chain)
        groups = {name: node.to_dataset() for name, node in self.posterior.children.items()}
        groups["posterior"] = xr.concat(pieces, dim="chain")
        return replace(self, posterior=xr.DataTree.from_dict(groups))

    # ------------------------------------------------------------------ per item
    @property
    def family(self) -> Family:
        return FAMILIES[self.spec.model]

    def _confusion_cells(self) -> np.ndarray:
        """Confusion draws as (draws, cells, K, K): cells are annotators, or the observed
        (annotator, subtype) cells for per-subtype models (as `annotation_counts` orders them)."""
        if self.family.per_subtype:
            return self._draws("cell_confusion")
        return self._draws("confusion")

    def _item_probability_blocks(self):
        """Per-draw item probabilities in blocks of items, ``(rows, P[draw, item, class])``:
        the class posterior P(z_i = k | draw) from the shared likelihood, or for Beta–Bernoulli
        the item rate θ_i drawn from its conjugate posterior given the draw's (α, β)."""
        ann = self.annotations
        if self.family.item_rates:
            k, n = positive_counts(ann)
            return item_rate_blocks(k, n, self._draws("alpha"), self._draws("beta"), self.spec.inference.seed)
        counts = annotation_counts(ann, self.family.per_subtype)
        mask = gold_log_mask(ann.gold, ann.n_classes) if self.used_gold else None
        with np.errstate(divide="ignore"):
            log_pi = np.log(self._confusion_cells())
            log_rho = np.log(self._draws("prevalence"))
        return class_posterior_blocks(counts, log_pi, log_rho, mask)

    def _posterior_pass(self, ci_prob: float, windows: int = 1) -> _ItemPosteriors:
        """One pass over items: mean and equal-tailed interval of P(z_i = k) over all draws,
        and the mean per chain and per window of each chain (for label-switching checks)."""
        ann = self.annotations
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
        for rows, probs in self._item_probability_blocks():
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
        ci_prob = _check_ci_prob(ci_prob)
        ann = self.annotations
        summary = self._posterior_pass(ci_prob)
        subtype = None
        if ann.has_subtypes:
            subtypes = np.asarray(ann.subtypes, dtype=object)
            subtype = np.where(ann.subtype >= 0, subtypes[np.maximum(ann.subtype, 0)], None)
        return SoftLabels(
            items=np.asarray(ann.items, dtype=object),
            classes=tuple(ann.classes),
            mean=summary.mean,
            lower=summary.lo,
            upper=summary.hi,
            ci_prob=None if self.is_point_estimate else ci_prob,
            n_labels=ann.labels_per_item,
            meaning=SOFT_LABEL_MEANING if self.family.item_rates else CLASS_POSTERIOR_MEANING,
            subtype=subtype,
            gold=ann.gold_series().to_numpy(dtype=object) if ann.has_gold else None,
        )

    # ------------------------------------------------------------------ per annotator
    def annotators(self, ci_prob: float = 0.9, by_subtype: bool = False) -> pd.DataFrame:
        """Per annotator: ``n_labels`` and, with intervals, ``accuracy = Σ_k ρ_k π_jkk`` and for
        two classes ``sensitivity = π_j11`` / ``specificity = π_j00`` (second class positive).

        Per-subtype models: ``by_subtype=True`` gives one row per (annotator, subtype);
        otherwise each annotator's confusion is averaged over subtypes weighted by where
        their labels fell. Beta–Bernoulli has no annotator parameters: its ``agreement`` is
        the probability that a new label on the same item matches the annotator's."""
        ci_prob = _check_ci_prob(ci_prob)
        ann = self.annotations
        frame = pd.DataFrame(
            {
                "annotator": pd.array(np.asarray(ann.annotators, dtype=object), dtype="string"),
                "n_labels": ann.labels_per_annotator.astype(np.int64),
            }
        )
        if self.family.item_rates:
            return _with_intervals(frame, {"agreement": self._agreement_draws()}, ci_prob)
        if by_subtype and self.family.per_subtype:
            return self._annotator_subtype_table(ci_prob)
        confusion = self.annotator_confusion()
        return _with_intervals(frame, _reliability(confusion, self._draws("prevalence")), ci_prob)

    def _labels_per_cell(self) -> np.ndarray:
        """Annotators × subtypes label counts (per-subtype fits)."""
        ann = self.annotations
        cells, n_cells = label_cells(ann, per_subtype=True)
        return np.bincount(cells, minlength=n_cells).reshape(ann.n_annotators, len(ann.subtypes))

    def annotator_confusion(self) -> np.ndarray:
        """Confusion draws per annotator, (draws, annotators, K, K). Per-subtype fits are
        averaged over subtypes, weighted by where each annotator's labels fell."""
        confusion = self._draws("confusion")
        if confusion.ndim == 4:
            return confusion
        per_cell = self._labels_per_cell() + 1e-9
        return np.einsum("sjtkl,jt->sjkl", confusion, per_cell / per_cell.sum(axis=1, keepdims=True))

    def _annotator_subtype_table(self, ci_prob: float) -> pd.DataFrame:
        ann = self.annotations
        confusion = self._draws("confusion")
        per_cell = self._labels_per_cell()
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
        return _with_intervals(frame, _reliability(flat, self._draws("prevalence")), ci_prob)

    def _agreement_draws(self) -> np.ndarray:
        """Draws × annotators: mean over an annotator's labels of P(new label agrees), with
        the item rate's posterior mean ``(α + k_i)/(α + β + n_i)`` per draw."""
        ann = self.annotations
        k, n = positive_counts(ann)
        alpha, beta = self._draws("alpha"), self._draws("beta")
        rate = (alpha[:, None] + k) / (alpha[:, None] + beta[:, None] + n)  # draws × items
        positive = ann.label == 1
        agree = np.where(positive, rate[:, ann.item_idx], 1 - rate[:, ann.item_idx])
        totals = np.stack(
            [np.bincount(ann.annotator_idx, weights=row, minlength=ann.n_annotators) for row in agree]
        )
        return totals / np.maximum(ann.labels_per_annotator, 1)

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
        from .persist import save_fit

        return save_fit(self, directory)

    # ------------------------------------------------------------------ export
    def provenance(self, ci_prob: float, allow_failed_check: bool = False) -> dict[str, Any]:
        from . import __version__

        return {
            "bayeslabels_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": self.spec.to_dict(),
            "spec_hash": self.spec.hash,
            "method": self.method,
            "soft_label_meaning": SOFT_LABEL_MEANING if self.family.item_rates else CLASS_POSTERIOR_MEANING,
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
        text = json.dumps(_plain(provenance), indent=2, allow_nan=False)
        return self.soft_labels(ci_prob).write(path, provenance=text)


def _reliability(confusion: np.ndarray, prevalence: np.ndarray) -> dict[str, np.ndarray]:
    """Per draw and cell: accuracy Σ_k ρ_k π_kk; for K = 2 also sensitivity and specificity."""
    diagonal = np.einsum("sjkk->sjk", confusion)
    quantities = {"accuracy": np.einsum("sjk,sk->sj", diagonal, prevalence)}
    if confusion.shape[-1] == 2:
        quantities["sensitivity"] = diagonal[:, :, 1]
        quantities["specificity"] = diagonal[:, :, 0]
    return quantities


def _with_intervals(frame: pd.DataFrame, quantities: dict[str, np.ndarray], ci_prob: float) -> pd.DataFrame:
    """Add mean, ``_lo`` and ``_hi`` (equal-tailed) columns for each (draws × rows) quantity."""
    tail = (1 - ci_prob) / 2
    for name, draws in quantities.items():
        frame[name] = draws.mean(axis=0)
        frame[f"{name}_lo"], frame[f"{name}_hi"] = np.quantile(draws, [tail, 1 - tail], axis=0)
    return frame


def _plain(value: Any) -> Any:
    """JSON-safe copy: NumPy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
