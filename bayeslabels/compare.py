r"""Reliability across content subtypes and across fits, computed draw by draw.

Every quantity is evaluated on each posterior draw, so every reported difference comes
with a posterior probability and an interval. For annotator j on subtype s (per-subtype
models), with ``π_js`` the confusion matrix and ``ρ`` the class prevalence,

.. math::

    \text{accuracy}_{js} = \sum_k \rho_k\,\pi_{js,kk},\qquad
    \text{sensitivity}_{js} = \pi_{js,11},\qquad \text{specificity}_{js} = \pi_{js,00}

(the last two for two classes, the second class positive). The **population** reliability
of a subtype is the average over the annotator pool, draw by draw: the reliability to
expect from a randomly chosen annotator of this pool. Individual annotators are reported
separately, next to their raw (unpooled) agreement with the model's labels, so the
shrinkage toward the population is visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError
from .fit import Fit
from .models import confusion_reliability
from .models._likelihood import label_cells


@dataclass(frozen=True)
class SubtypeComparison:
    """Reliability by subtype of a per-subtype fit, from `compare_subtypes`.

    ``print(comparison)`` summarises it.

    Attributes
    ----------
    population : pandas.DataFrame
        Subtype × metric: the population reliability of each subtype, with intervals.
    confusion : pandas.DataFrame
        The population confusion per subtype.
    annotators : pandas.DataFrame
        Annotator × subtype × metric with ``n_labels``, raw agreement and shrinkage.
    differences : pandas.DataFrame
        Per pair of subtypes (population and per annotator) the posterior mean difference,
        its interval and P(first > second).
    ci_prob : float
        Probability of the intervals.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> fit = bl.fit(bl.datasets.load("rte"), model="hierarchical-subtype", seed=1)  # doctest: +SKIP
    >>> bl.compare_subtypes(fit).population  # doctest: +SKIP
    """

    population: pd.DataFrame
    confusion: pd.DataFrame
    annotators: pd.DataFrame
    differences: pd.DataFrame
    ci_prob: float

    def __str__(self) -> str:
        table = self.population.pivot(index="subtype", columns="metric", values="mean").round(3)
        pop = self.differences[self.differences["level"] == "population"]
        lines = [
            f"population reliability by subtype (posterior mean; {self.ci_prob:.0%} intervals in .population)"
        ]
        lines.append(table.to_string())
        lines.append("population differences, P(first > second):")
        for row in pop[pop["metric"] == "accuracy"].itertuples():
            lines.append(
                f"  {row.first} vs {row.second}: {row.mean:+.3f} [{row.lo:+.3f}, {row.hi:+.3f}], "
                f"P = {row.p_greater:.3f}"
            )
        return "\n".join(lines)


def _summarise(draws: np.ndarray, ci_prob: float) -> dict[str, np.ndarray]:
    tail = (1 - ci_prob) / 2
    lo, hi = np.quantile(draws, [tail, 1 - tail], axis=0)
    return {"mean": draws.mean(axis=0), "lo": lo, "hi": hi}


def _difference_rows(
    draws: np.ndarray, names: list[str], ci_prob: float, **labels: str
) -> list[dict[str, Any]]:
    """draws (draws, n) → one row per pair (a, b): mean, interval, P(a > b) of a − b."""
    rows = []
    for a, b in combinations(range(len(names)), 2):
        diff = draws[:, a] - draws[:, b]
        if np.isnan(diff).all():
            continue
        summary = _summarise(diff, ci_prob)
        rows.append(
            {
                **labels,
                "first": names[a],
                "second": names[b],
                "mean": float(summary["mean"]),
                "lo": float(summary["lo"]),
                "hi": float(summary["hi"]),
                "p_greater": float((diff > 0).mean()),
            }
        )
    return rows


def compare_subtypes(fit: Fit, ci_prob: float = 0.9) -> SubtypeComparison:
    """Reliability by subtype for a per-subtype fit (``model="hierarchical-subtype"``).

    Every quantity is evaluated draw by draw (module docstring): the population reliability
    of each subtype, each annotator's next to their raw agreement, and the differences
    between subtypes with P(first > second).

    Parameters
    ----------
    fit : Fit
        A per-subtype fit.
    ci_prob : float, default 0.9
        Probability of the equal-tailed intervals.

    Returns
    -------
    SubtypeComparison

    Raises
    ------
    DataError
        If the fit is not per-subtype.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> fit = bl.fit(bl.datasets.load("rte"), model="hierarchical-subtype", seed=1)  # doctest: +SKIP
    >>> print(bl.compare_subtypes(fit, ci_prob=0.9))  # doctest: +SKIP
    >>> bl.compare_subtypes(bl.fit(bl.datasets.load("rte"), method="em"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bayeslabels.errors.DataError: compare_subtypes needs a per-subtype fit; this one is 'dawid-skene': ...
    """
    confusion = fit.subtype_confusion("compare_subtypes")  # draws, J, S, K, K
    ann = fit.annotations
    subtypes = list(ann.subtypes)
    prevalence = fit.draws("prevalence")
    per_annotator = confusion_reliability(confusion, prevalence)  # metric: draws, J, S

    population_rows, difference_rows = [], []
    for metric, draws in per_annotator.items():
        population = draws.mean(axis=1)  # draws, S: the pool's average annotator
        summary = _summarise(population, ci_prob)
        for s, name in enumerate(subtypes):
            population_rows.append(
                {
                    "subtype": name,
                    "metric": metric,
                    **{key: float(value[s]) for key, value in summary.items()},
                }
            )
        difference_rows += _difference_rows(population, subtypes, ci_prob, level="population", metric=metric)
        for j, annotator in enumerate(ann.annotators):
            difference_rows += _difference_rows(
                draws[:, j], subtypes, ci_prob, level=str(annotator), metric=metric
            )

    pooled_confusion = _summarise(confusion.mean(axis=1), ci_prob)  # draws-avg over annotators: S, K, K
    classes = list(ann.classes)
    grid = pd.MultiIndex.from_product(
        [subtypes, classes, classes], names=["subtype", "true_class", "label_class"]
    )
    confusion_frame = pd.DataFrame(
        {key: value.ravel() for key, value in pooled_confusion.items()}, index=grid
    )

    return SubtypeComparison(
        population=pd.DataFrame(population_rows),
        confusion=confusion_frame.reset_index(),
        annotators=_annotator_subtype_table(fit, per_annotator, ci_prob),
        differences=pd.DataFrame(difference_rows),
        ci_prob=ci_prob,
    )


def _annotator_subtype_table(fit: Fit, per_annotator: dict[str, np.ndarray], ci_prob: float) -> pd.DataFrame:
    """Long table annotator × subtype: n_labels, posterior accuracy with interval, the raw
    agreement of the annotator's labels with the model's labels, the population accuracy,
    and the shrinkage ``(raw − posterior)/(raw − population)`` (0: none, 1: all the way)."""
    ann = fit.annotations
    n_annotators, n_subtypes = ann.n_annotators, len(ann.subtypes)
    cells, n_cells = label_cells(ann, per_subtype=True)
    n_labels = np.bincount(cells, minlength=n_cells)
    model_label = fit.soft_labels(ci_prob=ci_prob).mean.argmax(axis=1)
    agrees = (ann.label == model_label[ann.item_idx]).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.bincount(cells, weights=agrees, minlength=n_cells) / n_labels
    accuracy = _summarise(per_annotator["accuracy"].reshape(per_annotator["accuracy"].shape[0], -1), ci_prob)
    population = np.tile(per_annotator["accuracy"].mean(axis=(0, 1)), n_annotators)
    with np.errstate(invalid="ignore", divide="ignore"):
        shrinkage = (raw - accuracy["mean"]) / (raw - population)
    frame = pd.DataFrame(
        {
            "annotator": np.repeat(np.asarray(ann.annotators, dtype=object), n_subtypes),
            "subtype": np.tile(np.asarray(ann.subtypes, dtype=object), n_annotators),
            "n_labels": n_labels,
            "accuracy": accuracy["mean"],
            "accuracy_lo": accuracy["lo"],
            "accuracy_hi": accuracy["hi"],
            "raw_agreement": raw,
            "population_accuracy": population,
            "shrinkage": np.where(np.abs(raw - population) > 1e-9, shrinkage, np.nan),
        }
    )
    for metric in ("sensitivity", "specificity"):
        if metric in per_annotator:
            summary = _summarise(per_annotator[metric].reshape(per_annotator[metric].shape[0], -1), ci_prob)
            frame[metric], frame[f"{metric}_lo"], frame[f"{metric}_hi"] = (
                summary["mean"],
                summary["lo"],
                summary["hi"],
            )
    return frame


def compare_fits(fits: dict[str, Fit], ci_prob: float = 0.9) -> pd.DataFrame:
    """Annotator reliability in two or more fits (two periods, two guidelines), per pair.

    Fits are independent posteriors, so draws are paired by position (after trimming to the
    shortest).

    Parameters
    ----------
    fits : dict of str to Fit
        Name → fit, at least two; each pair of fits is compared in the dict's order.
    ci_prob : float, default 0.9
        Probability of the equal-tailed intervals.

    Returns
    -------
    pandas.DataFrame
        Rows: ``level`` ("population" = the average over annotators present in both fits,
        or an annotator id), ``first`` / ``second`` fit names, ``metric``, the ``mean``
        difference of accuracy (first − second), its interval ``lo`` / ``hi``,
        ``p_greater`` = P(first > second), and ``n_labels_first`` / ``n_labels_second``.

    Raises
    ------
    DataError
        If there are fewer than two fits, or two fits have other classes or no annotator in
        common.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> split = bl.split(bl.datasets.load("rte"), test_size=0.5, seed=0)
    >>> fits = {"first": bl.fit(split.train(), method="em"), "second": bl.fit(split.test(), method="em")}
    >>> table = bl.compare_fits(fits)
    >>> list(table.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['level', 'first', 'second', 'metric', 'mean', 'lo', 'hi', 'p_greater',
     'n_labels_first', 'n_labels_second']
    >>> table["level"].iloc[0]
    'population'
    """
    if len(fits) < 2:
        raise DataError("compare_fits needs at least two fits, e.g. {'2026-Q1': fit_q1, '2026-Q2': fit_q2}")
    names = list(fits)
    accuracy = {}
    for name, fit in fits.items():
        try:
            confusion = fit.annotator_confusion()
        except DataError:
            raise DataError(
                f"fit {name!r} ({fit.spec.model}) has no annotator confusion matrices to compare"
            ) from None
        draws = confusion_reliability(confusion, fit.draws("prevalence"))["accuracy"]
        accuracy[name] = pd.DataFrame(draws, columns=[str(a) for a in fit.annotations.annotators])
    rows = []
    for first, second in combinations(names, 2):
        shared = accuracy[first].columns.intersection(accuracy[second].columns)
        if not len(shared):
            raise DataError(f"fits {first!r} and {second!r} have no annotator in common")
        n = min(len(accuracy[first]), len(accuracy[second]))
        a = accuracy[first][shared].to_numpy()[:n]
        b = accuracy[second][shared].to_numpy()[:n]
        counts = {
            name: pd.Series(
                fits[name].annotations.labels_per_annotator, index=map(str, fits[name].annotations.annotators)
            )
            for name in (first, second)
        }
        levels = [("population", a.mean(axis=1) - b.mean(axis=1), np.nan, np.nan)]
        levels += [
            (annotator, a[:, j] - b[:, j], counts[first][annotator], counts[second][annotator])
            for j, annotator in enumerate(shared)
        ]
        for level, diff, n_first, n_second in levels:
            summary = _summarise(diff, ci_prob)
            rows.append(
                {
                    "level": level,
                    "first": first,
                    "second": second,
                    "metric": "accuracy",
                    "mean": float(summary["mean"]),
                    "lo": float(summary["lo"]),
                    "hi": float(summary["hi"]),
                    "p_greater": float((diff > 0).mean()),
                    "n_labels_first": n_first,
                    "n_labels_second": n_second,
                }
            )
    return pd.DataFrame(rows)
