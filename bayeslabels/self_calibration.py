r"""Self-calibration: honest soft labels without gold, from held-out crowd labels.

Dawid–Skene treats an item's labels as independent given its true class. On real data they
are not (hard or ambiguous items make annotators err together), so the model counts them as
more evidence than they are and the soft labels are overconfident. The crowd's own labels can
measure by how much: hold labels out, predict them from the item's *other* labels, and see how
much less predictable they are than the model believes.

**The map.** The labels of an item with ``n`` labels are worth ``n_eff = n / (1 + (n − 1) r)``
independent ones — the design effect of an intra-item correlation ``r`` ∈ [0, 1]. Applied to the
item log-posterior it is a temperature that grows with the label count,

.. math::  T(n) = 1 + (n - 1)\, r, \qquad
           p_T(z) ∝ \exp\big((\log ρ_z + Σ_j \log π_j[z, y_{ij}]) / T(n_i)\big),

so one number transfers across label counts (``r = 0``: the model as fitted). Like temperature
scaling it never changes the hard label.

**Fitting r on held-out labels (cross-fitted).** The label rows are dealt into ``folds`` folds
(each item's labels spread over the folds). For each fold, Dawid–Skene EM (the source family's
EM variant and smoothing) is refitted on the other folds' labels; each held-out label
``y_ij`` is then predicted from the *training* labels of its item, ``m`` of them:

.. math::  p(y_{ij}) = Σ_z p_{T(m)}(z \mid \text{training labels of } i)\; π_j[z, y_{ij}],

and ``r`` maximises the total log predictive of all held-out labels (a bounded scalar search;
everything vectorised over label rows). Refitting matters: with annotator parameters fitted on
the held-out label itself, the label looks more predictable than it is and ``r`` comes out near
zero (measured: benchmarks/results/calibration.md, the in-sample rows).

**What it cannot see.** Labels tell how much annotators disagree beyond what the model expects;
they cannot reveal an error that every annotator of an item makes together. Gold
(`bayeslabels.calibrate`) can.

**Families that model the correlation.** ``r`` is measured through Dawid–Skene, so for a family
whose soft label already allows for it (the ambiguity family's θ_i, a share of annotators rather
than a posterior from n independent labels) the temperature is a rougher fix. Measured on gold
(`benchmarks/results/ambiguity_spread.md`, ambiguity at its shipped prior): ECE dog 0.129 →
0.080, duchenne 0.121 → 0.041, music_genre 0.132 → 0.122, but bluebirds 0.045 → 0.178 (39
labels an item, T ≈ 6) and rte 0.030 → 0.035. Compare both on gold where you have some.

**Applied draw by draw.** For a fit with posterior draws each draw's class posterior is tempered
(``softmax(log p_s / T(n_i))``) and the soft label is the mean and interval of the tempered
draws, as for `bayeslabels.calibrate`. The tempered fit keeps ``r`` in its posterior's attributes
(so a saved fit keeps it) and its provenance records it (``self_calibration``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

from ._tempering import PROBABILITY_FLOOR, SELF_CALIBRATION_ATTR, item_temperature, record_of
from .errors import DataError
from .fit import Fit

if TYPE_CHECKING:
    from .data import Annotations
    from .priors import DawidSkenePriors
    from .soft_labels import SoftLabels

MIN_HELD_OUT = 20  # fewer held-out labels than this cannot fit r


# --------------------------------------------------------------------------- held-out labels


@dataclass(frozen=True)
class HeldOutLabels:
    """What predicting each held-out label needs, one row per held-out label.

    ``others[r, z] = log ρ_z + Σ log π_j'[z, y_ij']`` over the item's training labels,
    ``held[r, z] = log π_j[z, y_ij]`` of the held-out label, ``n_others`` the training labels'
    count — all under the annotator parameters fitted without the held-out label.
    """

    others: np.ndarray
    held: np.ndarray
    n_others: np.ndarray

    def log_predictive(self, correlation: float) -> np.ndarray:
        """``log p(y_ij | training labels)`` per held-out label under ``r = correlation``."""
        joint = self.others / item_temperature(self.n_others, correlation)[:, None]
        log_q = joint - logsumexp(joint, axis=1, keepdims=True)
        return np.asarray(logsumexp(log_q + self.held, axis=1))


def label_folds(ann: Annotations, folds: int, seed: int) -> np.ndarray:
    """Fold of each label row: an item's labels, in random order, go to consecutive folds from a
    random start, so an item with ``n ≥ folds`` labels has some in every fold and one with fewer
    keeps ``n − 1`` training labels whichever fold is held out."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(ann.n_labels), ann.item_idx))
    first = np.concatenate([[0], np.cumsum(ann.labels_per_item)[:-1]])
    rank = np.empty(ann.n_labels, dtype=np.int64)
    rank[order] = np.arange(ann.n_labels) - first[ann.item_idx[order]]
    start = rng.integers(0, folds, ann.n_items)
    return (rank + start[ann.item_idx]) % folds


def _rows(ann: Annotations, keep: np.ndarray) -> Annotations:
    return replace(
        ann,
        item_idx=ann.item_idx[keep],
        annotator_idx=ann.annotator_idx[keep],
        label=ann.label[keep],
        timestamp=None,
    )


def held_out_labels(
    ann: Annotations,
    *,
    variant: str = "class-conditional",
    priors: DawidSkenePriors | None = None,
    folds: int = 5,
    seed: int = 0,
) -> HeldOutLabels:
    """Cross-fitted held-out labels (module docstring): EM refitted once per fold of label rows.

    Only labels of items with at least one training label are scored; gold in ``ann`` fixes
    those items' class in the refits and in the prediction, as in the fit.
    """
    from .aggregate import dawid_skene_em

    fold = label_folds(ann, folds, seed)
    pieces = []
    for f in range(folds):
        train = fold != f
        em = dawid_skene_em(_rows(ann, train), variant=variant, priors=priors)
        with np.errstate(divide="ignore"):
            log_pi = np.log(np.maximum(em.confusion, PROBABILITY_FLOOR))
            log_rho = np.log(np.maximum(em.prevalence, PROBABILITY_FLOOR))
        per_row = log_pi[ann.annotator_idx, :, ann.label]  # rows × K
        others = np.zeros((ann.n_items, ann.n_classes))
        np.add.at(others, ann.item_idx[train], per_row[train])
        others += log_rho
        known = ann.gold >= 0
        if known.any():  # gold fixes the class, as in the fit
            mask = np.full((int(known.sum()), ann.n_classes), -np.inf)
            mask[np.arange(len(mask)), ann.gold[known]] = 0.0
            others[known] += mask
        n_train = np.bincount(ann.item_idx[train], minlength=ann.n_items)
        scored = ~train & (n_train[ann.item_idx] >= 1)
        items = ann.item_idx[scored]
        pieces.append((others[items], per_row[scored], n_train[items]))
    return HeldOutLabels(*(np.concatenate(parts) for parts in zip(*pieces, strict=True)))


def fit_correlation(held: HeldOutLabels) -> float:
    """The ``r`` in [0, 1] maximising the held-out labels' total log predictive."""
    result = minimize_scalar(lambda r: -held.log_predictive(r).sum(), bounds=(0.0, 1.0), method="bounded")
    # the bounded search never evaluates the end points: keep 0 when it is at least as good
    at_zero = held.log_predictive(0.0).sum()
    return 0.0 if at_zero >= -float(result.fun) else float(result.x)


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True, eq=False)
class SelfCalibration:
    """Soft labels tempered by label count, fitted on held-out crowd labels (no gold).

    Attributes
    ----------
    correlation : float
        The intra-item label correlation ``r``; ``T(n) = 1 + (n − 1) r``.
    folds, seed : int
        Cross-fitting of the label rows.
    n_held_out : int
        Held-out labels scored.
    log_predictive_before, log_predictive_after : float
        Mean log predictive of a held-out label at ``r = 0`` and at the fitted ``r``.
    fit : Fit
        The source fit with the map applied (its soft labels, export and provenance are tempered).
    source : Fit
        The fit as it was.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> fit = bl.fit(bl.datasets.load("rte"), method="em", use_gold=False)
    >>> cal = bl.self_calibrate(fit)
    >>> round(cal.correlation, 3), round(cal.temperature(10), 2)
    (0.118, 2.06)
    >>> cal.soft_labels()
    <SoftLabels 800 items × ['0', '1'], point estimate>
    """

    correlation: float
    folds: int
    seed: int
    n_held_out: int
    log_predictive_before: float
    log_predictive_after: float
    fit: Fit
    source: Fit

    def temperature(self, n_labels: int | np.ndarray) -> float | np.ndarray:
        """``T(n)`` for an item with ``n_labels`` labels."""
        t = item_temperature(np.atleast_1d(n_labels), self.correlation)
        return float(t[0]) if np.ndim(n_labels) == 0 else t

    def soft_labels(self, ci_prob: float = 0.9) -> SoftLabels:
        """The tempered soft labels (`Fit.soft_labels` of `fit`)."""
        return self.fit.soft_labels(ci_prob)

    def provenance(self, ci_prob: float = 0.9, allow_failed_check: bool = False) -> dict[str, Any]:
        """The tempered fit's provenance (with ``self_calibration``)."""
        return self.fit.provenance(ci_prob, allow_failed_check)

    def export(self, path: str | Path, ci_prob: float = 0.9, allow_failed_check: bool = False) -> Path:
        """Write the tempered soft labels with provenance (`Fit.export` of `fit`)."""
        return self.fit.export(path, ci_prob, allow_failed_check)

    def to_dict(self) -> dict[str, Any]:
        """The record kept in the fit and its provenance."""
        return {
            "method": "label-count temperature T(n) = 1 + (n - 1) r, fitted on held-out labels",
            "correlation": self.correlation,
            "folds": self.folds,
            "seed": self.seed,
            "n_held_out_labels": self.n_held_out,
            "held_out_log_predictive": {
                "before": self.log_predictive_before,
                "after": self.log_predictive_after,
            },
            "fitted_with": "Dawid-Skene EM refitted without each fold of label rows",
            "applied": "draw by draw to the class posteriors",
        }

    def summary(self) -> str:
        """One paragraph: r, the temperatures it implies, the held-out labels' fit."""
        ns = [2, 5, 10]
        temps = ", ".join(f"T({n}) = {self.temperature(n):.2f}" for n in ns)
        return (
            f"self-calibration on {self.n_held_out} held-out labels ({self.folds} folds, seed {self.seed}): "
            f"intra-item correlation r = {self.correlation:.3f} ({temps}); mean log predictive of a "
            f"held-out label {self.log_predictive_before:.4f} → {self.log_predictive_after:.4f}"
        )

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<SelfCalibration r = {self.correlation:.3f} on {self.n_held_out} held-out labels>"


def self_calibrate(fit: Fit, folds: int = 5, seed: int = 0) -> SelfCalibration:
    """Temper a fit's soft labels by label count, fitted on held-out labels (module docstring).

    Parameters
    ----------
    fit : Fit
        Any fit (EM, MAP, NUTS, ADVI). Its labels (and the gold it used, if any) are refitted by
        Dawid–Skene EM (its family's EM variant and smoothing) without each fold of label rows;
        for a family that is not Dawid–Skene, ``r`` is the labels' correlation beyond what
        Dawid–Skene expects. A fit already self-calibrated is recalibrated from scratch.
    folds : int, default 5
        Folds of the label rows (at least 2).
    seed : int, default 0
        Seed of the fold assignment.

    Returns
    -------
    SelfCalibration
        ``r``, the held-out fit, and the tempered fit (``.fit``, ``.soft_labels()``, ``.export()``).

    Raises
    ------
    DataError
        If ``fit`` is not a Fit, or fewer than 20 labels can be held out (an item needs at least
        two labels).
    ValueError
        If ``folds`` is not an integer of at least 2.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("dog")
    >>> cal = bl.self_calibrate(bl.fit(ann, method="em", use_gold=False))
    >>> print(cal)  # doctest: +ELLIPSIS
    self-calibration on 8070 held-out labels (5 folds, seed 0): intra-item correlation r = 0.218 ...
    >>> ece = bl.expected_calibration_error
    >>> round(ece(cal.source, ann.gold), 3), round(ece(cal.soft_labels(), ann.gold), 3)
    (0.15, 0.102)
    """
    if isinstance(folds, bool) or not isinstance(folds, int | np.integer) or folds < 2:
        raise ValueError(f"folds must be an integer of at least 2, got {folds!r}")
    if not isinstance(fit, Fit):
        raise DataError(f"self_calibrate needs a Fit (bl.fit(...)), got {type(fit).__name__}")
    family = fit.family
    source = untempered(fit)
    ann = source._likelihood_data
    held = held_out_labels(
        ann, variant=family.em_variant, priors=source.spec.em_priors, folds=folds, seed=seed
    )
    if len(held.n_others) < MIN_HELD_OUT:
        raise DataError(
            f"self_calibrate: only {len(held.n_others)} labels can be held out (an item needs at least "
            f"two labels); give at least {MIN_HELD_OUT}"
        )
    correlation = fit_correlation(held)
    result = SelfCalibration(
        correlation=correlation,
        folds=int(folds),
        seed=int(seed),
        n_held_out=len(held.n_others),
        log_predictive_before=float(held.log_predictive(0.0).mean()),
        log_predictive_after=float(held.log_predictive(correlation).mean()),
        fit=source,
        source=source,
    )
    return replace(result, fit=_with_record(source, result.to_dict()))


# --------------------------------------------------------------------------- the record in a fit


def _with_record(fit: Fit, record: dict[str, Any] | None) -> Fit:
    """``fit`` with ``record`` in its posterior's attributes (None: removed)."""
    groups = {name: node.to_dataset() for name, node in fit.posterior.children.items()}
    posterior = groups["posterior"].copy()
    posterior.attrs = {k: v for k, v in posterior.attrs.items() if k != SELF_CALIBRATION_ATTR}
    if record is not None:
        posterior.attrs[SELF_CALIBRATION_ATTR] = json.dumps(record)
    groups["posterior"] = posterior
    return replace(fit, posterior=xr.DataTree.from_dict(groups))


def untempered(fit: Fit) -> Fit:
    """``fit`` without self-calibration."""
    return fit if record_of(fit.posterior) is None else _with_record(fit, None)
