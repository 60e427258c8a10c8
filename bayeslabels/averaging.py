r"""Soft labels averaged over model families: a mixture of their posteriors over the classes.

Families disagree about an item's class exactly where its labels are split, and the crowd's
labels alone cannot tell which family is right there: PSIS-LOO scores how well a family predicts
the *labels* (`bayeslabels.compare_models`), and a family with item effects predicts split labels
best by making them weak evidence for any class. Where no gold decides, the families can be
kept as equally plausible explanations of the classes and their posteriors mixed:

.. math::  p(z_i = c \mid y) = \sum_m w_m\, p(z_i = c \mid y, m), \qquad \sum_m w_m = 1,

with equal weights by default (or, e.g., stacking weights from ``compare_models``' ``loo_weight``
column). The mixture's draws are each family's draws of :math:`p(z_i \mid y, m, \theta)` pooled
in proportion to the weights, so its intervals carry both the within-family uncertainty and the
disagreement between families. A self-calibrated fit (`bayeslabels.self_calibrate`) enters with
its tempered draws.

Measured at shipped settings, every candidate of ``model="auto"`` self-calibrated and averaged
with equal weights, gold held out (benchmarks/results/gold_free_rules_{1,2}.md): the average keeps
Dawid–Skene's accuracy where LOO's pick (item-difficulty) loses it (duchenne 0.786 against
0.736; dog 0.833 against 0.820) with lower ECE and log-loss there, beats the pick's log-loss on
music_genre (0.874 against 1.172, EM 1.145), and gives up accuracy where item-difficulty was right
(bluebirds 0.898 against 0.917).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ._quantiles import draw_quantiles
from .errors import DataError
from .fit import Fit, _ItemPosteriors
from .selection import check_fits_of_same_labels
from .soft_labels import SoftLabels

POOLED_DRAWS = 2000
"""The mixture's intervals are quantiles of this many pooled draws, each fit's share its weight
(its draws thinned, or repeated, evenly); the mixture's mean uses every draw."""


def _checked_weights(fits: Mapping[str, Fit], weights: Mapping[str, float] | None) -> dict[str, float]:
    """Weights that are finite, non-negative, named after the fits and summing to one."""
    if weights is None:
        return {name: 1.0 / len(fits) for name in fits}
    unknown = sorted(set(weights) - set(fits))
    if unknown:
        raise DataError(f"average_soft_labels: weights name fits that are not given: {unknown}")
    values = {name: float(weights.get(name, 0.0)) for name in fits}
    bad = {name: w for name, w in values.items() if not np.isfinite(w) or w < 0}
    if bad:
        raise DataError(f"average_soft_labels: weights must be finite and ≥ 0, got {bad}")
    total = sum(values.values())
    if total <= 0:
        raise DataError("average_soft_labels: the weights sum to 0; give at least one positive weight")
    return {name: w / total for name, w in values.items()}


def _check_same_labels(fits: Mapping[str, Fit]) -> Fit:
    """The first fit, after checking every fit is a Fit of the same labels, same use of gold."""
    check_fits_of_same_labels(fits, "average_soft_labels", "average")
    first_name, first = next(iter(fits.items()))
    for name, fit in fits.items():
        if fit.used_gold != first.used_gold:
            raise DataError(
                f"average_soft_labels: {name!r} {'used' if fit.used_gold else 'held out'} gold and "
                f"{first_name!r} did not; fit them all with the same use_gold"
            )
    return first


def _spread(n_draws: int, keep: int) -> np.ndarray:
    """``keep`` draw indices spread evenly over ``n_draws`` (repeating draws where there are
    fewer than ``keep``, so each fit's share of the pooled draws is its weight)."""
    return np.linspace(0, n_draws - 1, keep).round().astype(int)


def average_soft_labels(
    fits: Mapping[str, Fit], weights: Mapping[str, float] | None = None, ci_prob: float = 0.9
) -> SoftLabels:
    """The soft labels of a weighted mixture of fits' posteriors over the classes (module docstring).

    Parameters
    ----------
    fits : mapping of str to Fit
        Name → fit of the same labels (same items and classes, all with or all without gold).
        Sampled fits and point estimates mix alike; a self-calibrated fit enters tempered.
    weights : mapping of str to float, optional
        Name → weight (normalised to sum to one; a fit not named gets 0). Default: equal.
    ci_prob : float, default 0.9
        Probability of the equal-tailed interval over the pooled draws.

    Returns
    -------
    SoftLabels
        ``mean`` is :math:`\\sum_m w_m\\, \\bar p_m(z_i)`; ``lower`` / ``upper`` the quantiles of
        the pooled draws (absent where every fit is a point estimate); ``meaning`` names the
        families and weights.

    Raises
    ------
    DataError
        If ``fits`` is empty, holds something other than a Fit or fits of other labels, or the
        weights are negative, not finite, all zero or name fits that are not given.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("rte")
    >>> fits = {m: bl.fit(ann, method="em", model=m, use_gold=False) for m in ("dawid-skene", "one-coin")}
    >>> soft = bl.average_soft_labels(fits)
    >>> bool(abs(soft.mean - (fits["dawid-skene"].soft_labels().mean
    ...                       + fits["one-coin"].soft_labels().mean) / 2).max() < 1e-12)
    True
    """
    from ._checks import check_ci_prob

    ci_prob = check_ci_prob(ci_prob)
    first = _check_same_labels(fits)
    shares = _checked_weights(fits, weights)
    ann = first.annotations
    n_items, k = ann.n_items, ann.n_classes
    mean = np.zeros((n_items, k))
    pooled: list[np.ndarray] = []
    sampled = any(not fit.is_point_estimate for name, fit in fits.items() if shares[name] > 0)
    for name, fit in fits.items():
        share = shares[name]
        if share == 0:
            continue
        keep = max(1, round(share * POOLED_DRAWS)) if sampled else 1
        draws: np.ndarray | None = None
        for rows, probs in fit.item_probability_draws():
            mean[rows] += share * probs.mean(axis=0)
            chosen = _spread(probs.shape[0], keep)
            if draws is None:
                draws = np.empty((keep, n_items, k), dtype=np.float32)
            draws[:, rows] = probs[chosen]
        assert draws is not None  # every fit has at least one block of items
        pooled.append(draws)
    all_draws = np.concatenate(pooled, axis=0)
    tail = (1 - ci_prob) / 2
    lo, hi = draw_quantiles(all_draws, [tail, 1 - tail])
    score = None
    if ann.ordered and sampled:
        score = draw_quantiles(all_draws @ np.arange(k, dtype=np.float32), [tail, 1 - tail]).T
    summary = _ItemPosteriors(
        mean, np.minimum(lo, mean), np.maximum(hi, mean), mean[None], mean[None, None], score
    )
    soft = first._labels_table(ann, summary, ci_prob, first.used_gold)
    described = ", ".join(f"{name} {share:.2f}" for name, share in shares.items() if share > 0)
    return replace(
        soft,
        ci_prob=ci_prob if sampled else None,
        lower=soft.lower if sampled else mean,
        upper=soft.upper if sampled else mean,
        meaning=f"P(true class) averaged over model families (weights: {described})",
        score_interval=score,
    )


def export_average(
    fits: Mapping[str, Fit],
    path: str | Path,
    weights: Mapping[str, float] | None = None,
    ci_prob: float = 0.9,
    allow_failed_check: bool = False,
) -> Path:
    """Write `average_soft_labels` to ``path`` (atomically), each fit's provenance beside its weight.

    Parameters
    ----------
    fits, weights, ci_prob
        As for `average_soft_labels`.
    path : str or pathlib.Path
        ``.parquet``, ``.csv`` or ``.jsonl`` (the export schema of `SoftLabels.to_frame`).
    allow_failed_check : bool, default False
        Export even where a fit fails its convergence check (recorded in its provenance).

    Returns
    -------
    pathlib.Path
        The file written. Its provenance (`bayeslabels.read_provenance`) holds
        ``soft_label_meaning``, ``ci_prob`` and ``averaged``: one record per fit with ``name``,
        ``weight`` and that fit's own provenance (`Fit.provenance`).

    Raises
    ------
    ConvergenceError
        If a fit fails its check and ``allow_failed_check`` is False (nothing is written).

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("bluebirds")
    >>> fits = {m: bl.fit(ann, method="em", model=m, use_gold=False) for m in ("dawid-skene", "one-coin")}
    >>> path = bl.export_average(fits, "soft.parquet")  # doctest: +SKIP
    >>> [(f["name"], f["weight"]) for f in bl.read_provenance(path)["averaged"]]  # doctest: +SKIP
    [('dawid-skene', 0.5), ('one-coin', 0.5)]
    """
    from ._io import json_safe
    from ._version import __version__

    soft = average_soft_labels(fits, weights=weights, ci_prob=ci_prob)  # checks fits and weights
    shares = _checked_weights(fits, weights)
    for fit in fits.values():
        fit.refuse_unconverged(allow_failed_check)
    record = {
        "bayeslabels_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "soft_label_meaning": soft.meaning,
        "ci_prob": soft.ci_prob,
        "averaged": [
            {"name": name, "weight": shares[name], **fit.provenance(ci_prob, allow_failed_check)}
            for name, fit in fits.items()
        ],
    }
    return soft.write(path, provenance=json.dumps(json_safe(record), indent=2, allow_nan=False))
