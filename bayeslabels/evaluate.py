r"""Gold-set evaluation with intervals, calibration, threshold tuning and audit sample sizes.

`evaluate` scores targets — `SoftLabels` or anything `as_soft_labels` takes: a `Fit`, an
`EMResult`, a `VoteResult`, a table in the export schema or an exported file — against gold
labels, and
gives every metric an interval and names how it was made:

* proportions (accuracy, per-class precision and recall) get the **Wilson** score interval
  (the closed form, equal to statsmodels' ``proportion_confint``);
* everything else (F1, macro-F1, PR-AUC, log-loss, Brier, ECE) a seeded **percentile
  bootstrap over items**. A replicate is a vector of resampling counts, so every metric is
  written as weighted sums and a chunk of replicates is one matrix product; point estimates
  come from scikit-learn.

Binary metrics name their positive class (default: the second class). Brier is
``mean (p_pos − y_pos)²`` for two classes and ``mean Σ_k (p_k − y_k)²`` for more (as
scikit-learn's ``brier_score_loss``). ECE is the top-label expected calibration error over
``n_bins`` equal-width bins of confidence (the probability of the predicted class):
``Σ_b (n_b/n) |acc_b − conf_b|``. An item without a prediction (a majority vote of no labels)
counts as wrong.

Ordered classes (targets from ordered annotations, or ``ordinal=True``) add the metrics that
know the order, with the classes at positions 0 … K−1: ``mae`` (mean |predicted − gold| in
classes, bootstrap), ``qwk`` (Cohen's κ of prediction and gold with quadratic weights
``(a − b)²/(K − 1)²``, bootstrap; scikit-learn's ``cohen_kappa_score(weights="quadratic")``)
and the confusion by distance, ``off_by`` for d = 1 … K−1: the share of items whose
prediction is exactly d classes from gold (Wilson). An item without a prediction is scored
at its median class.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from ._checks import check_ci_prob
from ._resample import (
    BOOTSTRAP,
    PAIRED_BOOTSTRAP,
    WILSON,
    percentile_interval,
    records,
    weight_chunks,
    wilson,
)
from .data import Annotations
from .errors import DataError
from .ingest import positive_code as _positive
from .ingest import read_gold
from .soft_labels import as_soft_labels

_EPS = np.finfo(float).eps
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece", "cross_entropy", "js_distance", "total_variation"})


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Targets:
    """Per-item class probabilities and hard labels, whatever produced them."""

    items: pd.Index
    classes: pd.Index
    probabilities: np.ndarray  # items × K
    label: np.ndarray  # int code per item, -1 = no prediction
    anchored: np.ndarray | None = None  # bool per item: gold fixed this item in the fit
    ordered: bool = False  # the classes are ordered, lowest first


def _targets(source: Any) -> Targets:
    """Evaluate's view of any soft labels (`as_soft_labels`): class codes, and for a `Fit` whose
    gold anchored it, the items whose class gold fixed (their score is not a test)."""
    if isinstance(source, Targets):
        return source
    soft = as_soft_labels(source, ci_prob=0.9)
    return Targets(
        pd.Index(soft.items, dtype=object),
        pd.Index(soft.classes, dtype=object),
        soft.mean,
        soft.label_code,
        soft.anchored,
        soft.ordered,
    )


def _gold_codes(gold: Any, targets: Targets) -> np.ndarray:
    """Gold class code per target item (-1 unknown) from an aligned int array, or a Series /
    mapping / two-column table item → class (read by `ingest.read_gold`)."""
    if isinstance(gold, Mapping | pd.Series | pd.DataFrame):
        known = read_gold(gold)
        unknown = known.index.difference(targets.items)
        if len(unknown):
            raise DataError(
                f"gold names {len(unknown)} item(s) the targets do not have (e.g. {list(unknown[:3])}): "
                "evaluate targets and gold of the same items"
            )
        code = targets.classes.get_indexer(known.to_numpy(dtype=object))
        if (code < 0).any():
            raise DataError(
                f"gold class {known[code < 0].iloc[0]!r} is not among the targets' classes "
                f"{list(targets.classes)}"
            )
        codes = np.full(len(targets.items), -1, dtype=np.int64)
        codes[targets.items.get_indexer(known.index)] = code
        return codes
    codes = np.asarray(gold)
    if codes.ndim != 1 or len(codes) != len(targets.items) or not np.issubdtype(codes.dtype, np.integer):
        raise DataError(
            f"gold must be an int array aligned with the targets' {len(targets.items)} items (-1 = unknown, "
            "as "
            "ann.gold) or a Series item → class"
        )
    if (codes >= len(targets.classes)).any() or (codes < -1).any():
        raise DataError(f"gold codes must lie in -1..{len(targets.classes) - 1}")
    return codes.astype(np.int64)


# --------------------------------------------------------------------------- weighted metrics


@dataclass(frozen=True)
class _Scored:
    """The gold items of one target: truth, prediction, probabilities (rows aligned)."""

    y: np.ndarray
    pred: np.ndarray
    proba: np.ndarray
    positive: int | None
    n_bins: int
    items: pd.Index = field(repr=False)

    @property
    def k(self) -> int:
        return self.proba.shape[1]

    @property
    def onehot_y(self) -> np.ndarray:
        return np.eye(self.k)[self.y]

    @property
    def onehot_pred(self) -> np.ndarray:
        return np.where(self.pred[:, None] >= 0, np.eye(self.k)[np.maximum(self.pred, 0)], 0.0)

    @property
    def correct(self) -> np.ndarray:
        return (self.pred == self.y).astype(float)

    @property
    def confidence(self) -> np.ndarray:
        rows = np.arange(len(self.y))
        return np.where(self.pred >= 0, self.proba[rows, np.maximum(self.pred, 0)], self.proba.max(axis=1))

    def bins(self) -> np.ndarray:
        edges = np.linspace(0.0, 1.0, self.n_bins + 1)
        return np.searchsorted(edges[1:-1], self.confidence)  # as sklearn's calibration_curve

    def item_loss(self) -> np.ndarray:
        rows = np.arange(len(self.y))
        return -np.log(np.clip(self.proba[rows, self.y], _EPS, 1 - _EPS))

    def item_brier(self) -> np.ndarray:
        if self.k == 2:
            p = self.positive if self.positive is not None else 1
            return (self.proba[:, p] - (self.y == p)) ** 2
        return ((self.proba - self.onehot_y) ** 2).sum(axis=1)


def _w_class_counts(w: np.ndarray, s: _Scored) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted true positives, predicted and actual counts per class (replicates × K)."""
    y, p = s.onehot_y, s.onehot_pred
    return w @ (y * p), w @ p, w @ y


def _w_f1(w: np.ndarray, s: _Scored) -> tuple[np.ndarray, np.ndarray]:
    """Per-class F1 and the macro mean over classes present (in gold or predictions)."""
    tp, predicted, actual = _w_class_counts(w, s)
    present = (predicted + actual) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(present, 2 * tp / (predicted + actual), np.nan)
        macro = np.nansum(f1, axis=1) / present.sum(axis=1)
    return f1, macro


def _w_pr_curve(w: np.ndarray, positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision per replicate (rows) at each distinct score threshold, highest
    threshold first (scikit-learn's ``precision_recall_curve`` with ``sample_weight = w``);
    recall is NaN in replicates without a positive."""
    order = np.argsort(score, kind="mergesort")[::-1]
    ranked, hit = score[order], positive[order].astype(float)
    last = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    weights = w[:, order]
    tp = np.cumsum(weights * hit, axis=1)[:, last]
    fp = np.cumsum(weights * (1 - hit), axis=1)[:, last]
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(tp[:, -1:] > 0, tp / tp[:, -1:], np.nan)
        precision = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0)
    return recall, precision


def _w_average_precision(w: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Average precision Σ_t (R_t − R_{t−1}) P_t over distinct score thresholds, per replicate
    (scikit-learn's ``average_precision_score`` with ``sample_weight = w``)."""
    recall, precision = _w_pr_curve(w, positive, score)
    steps = np.diff(recall, axis=1, prepend=0.0)
    return (steps * precision).sum(axis=1)


def _w_pr_auc(w: np.ndarray, s: _Scored) -> np.ndarray:
    if s.positive is not None:
        return _w_average_precision(w, s.y == s.positive, s.proba[:, s.positive])
    per_class = np.column_stack(
        [_w_average_precision(w, s.y == c, s.proba[:, c]) for c in range(s.k)]  # loop over classes
    )
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(per_class, axis=1)


def _w_ece(w: np.ndarray, s: _Scored) -> np.ndarray:
    member = np.eye(s.n_bins)[s.bins()]
    gap = w @ (member * s.correct[:, None]) - w @ (member * s.confidence[:, None])
    return np.abs(gap).sum(axis=1) / w.sum(axis=1)


_BOOTSTRAPPED = ("macro_f1", "pr_auc", "log_loss", "brier", "ece")


def _w_overall(w: np.ndarray, s: _Scored) -> dict[str, np.ndarray]:
    """Every overall metric per replicate (accuracy too, for paired comparisons)."""
    total = w.sum(axis=1)
    _, macro = _w_f1(w, s)
    return {
        "accuracy": (w @ s.correct) / total,
        "macro_f1": macro,
        "pr_auc": _w_pr_auc(w, s),
        "log_loss": (w @ s.item_loss()) / total,
        "brier": (w @ s.item_brier()) / total,
        "ece": _w_ece(w, s),
    }


_ORDINAL = ("mae", "qwk")


def _ordinal_prediction(s: _Scored) -> np.ndarray:
    """Predicted class positions, an item without a prediction at its median class."""
    median = (np.cumsum(s.proba, axis=1) < 0.5 - 1e-12).sum(axis=1)
    return np.where(s.pred >= 0, s.pred, np.minimum(median, s.k - 1))


def _w_ordinal(w: np.ndarray, s: _Scored) -> dict[str, np.ndarray]:
    """MAE in classes and quadratic-weighted κ per replicate: κ = 1 − Σ W∘O / Σ W∘E over the
    weighted gold × prediction table O and its independence table E (NaN where Σ W∘E = 0)."""
    pred = _ordinal_prediction(s)
    total = w.sum(axis=1)
    mae = (w @ np.abs(pred - s.y).astype(float)) / total
    table = (w @ np.eye(s.k * s.k)[s.y * s.k + pred]).reshape(-1, s.k, s.k)
    expected = table.sum(axis=2)[:, :, None] * table.sum(axis=1)[:, None, :] / total[:, None, None]
    positions = np.arange(s.k)
    weights = (positions[:, None] - positions[None, :]) ** 2 / (s.k - 1) ** 2
    disagreement = (expected * weights).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        qwk = np.where(disagreement > 0, 1 - (table * weights).sum(axis=(1, 2)) / disagreement, np.nan)
    return {"mae": mae, "qwk": qwk}


def _distance_rows(s: _Scored, ci_prob: float) -> list[tuple]:
    """``off_by`` d = 1 … K−1: items predicted exactly d classes from gold, Wilson intervals."""
    distance = np.abs(_ordinal_prediction(s) - s.y)
    counts = np.bincount(distance, minlength=s.k).astype(float)
    n = len(s.y)
    lo, hi = wilson(counts, np.full(s.k, n), ci_prob)
    return [("off_by", str(d), counts[d] / n, float(lo[d]), float(hi[d]), WILSON, n) for d in range(1, s.k)]


# --------------------------------------------------------------------------- point estimates


def _points(s: _Scored) -> dict[str, float]:
    """Overall metrics at the observed items: the replicate statistics (`_w_overall`) with every
    weight 1, which equal scikit-learn's metrics (tests/test_evaluate.py checks them against it)."""
    overall = _w_overall(np.ones((1, len(s.y))), s)
    return {name: float(values[0]) for name, values in overall.items()}


def _scored(targets: Any, gold: Any, positive: Hashable | None, n_bins: int) -> tuple[_Scored, Targets]:
    t = _targets(targets)
    codes = _gold_codes(gold, t)
    known = codes >= 0
    if not known.any():
        raise DataError("no gold labels among the targets' items: nothing to evaluate")
    if t.anchored is not None and (t.anchored & known).any():
        warnings.warn(
            f"{int((t.anchored & known).sum())} evaluated items had their gold fix their class in the fit "
            "(used_gold=True): their score is not a test. Fit with use_gold=False to evaluate on gold",
            UserWarning,
            stacklevel=3,
        )
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    s = _Scored(
        codes[known],
        t.label[known],
        t.probabilities[known],
        _positive(t.classes, positive),
        n_bins,
        t.items[known],
    )
    return s, t


# --------------------------------------------------------------------------- evaluate


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Metrics with intervals, from `evaluate` or `evaluate_soft`.

    ``print(evaluation)`` shows a table; `value` and `interval` read one metric.

    Attributes
    ----------
    metrics : pandas.DataFrame
        One row per metric: ``metric``, ``class`` (per-class metrics, and the positive class
        of binary ones; empty for overall metrics), ``estimate``, ``lo``, ``hi``, ``method``
        (``wilson`` or ``bootstrap-percentile``) and ``n`` (the interval's denominator:
        items, predicted or gold items of the class).
    classes : tuple of str
        The classes.
    positive : str or None
        The positive class of the binary metrics.
    n_items : int
        Gold items scored.
    n_unpredicted : int
        Scored items without a prediction (counted wrong).
    ci_prob : float
        Probability of the intervals.
    n_boot : int
        Bootstrap replicates.
    seed : int or None
        Seed of the bootstrap.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> gold = bl.datasets.load("bluebirds").gold
    >>> em = bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False))
    >>> evaluation = bl.evaluate(em, gold, n_boot=200)
    >>> evaluation.metrics.round(3).head(3)
         metric class  estimate     lo     hi                method    n
    0  accuracy           0.898  0.827  0.942                wilson  108
    1  macro_f1           0.897  0.842  0.954  bootstrap-percentile  108
    2    pr_auc  true     0.932  0.865  0.985  bootstrap-percentile  108
    """

    metrics: pd.DataFrame
    classes: tuple[str, ...]
    positive: str | None
    n_items: int
    n_unpredicted: int
    ci_prob: float
    n_boot: int
    seed: int | None

    def value(self, metric: str, cls: str = "") -> float:
        """The estimate of one metric.

        Parameters
        ----------
        metric : str
            The metric's name (``"accuracy"``, ``"macro_f1"``, ``"precision"``, ...).
        cls : str, default ""
            The class, for per-class metrics and binary ones (their positive class).

        Returns
        -------
        float

        Raises
        ------
        KeyError
            If there is no such metric for that class.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> gold = bl.datasets.load("bluebirds").gold
        >>> em = bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False))
        >>> evaluation = bl.evaluate(em, gold, n_boot=200)
        >>> round(evaluation.value("accuracy"), 3), round(evaluation.value("precision", "true"), 3)
        (0.898, 0.894)
        """
        rows = self.metrics[(self.metrics["metric"] == metric) & (self.metrics["class"] == cls)]
        if rows.empty:
            raise KeyError(f"no metric {metric!r} for class {cls!r}")
        return float(rows["estimate"].iloc[0])

    def interval(self, metric: str, cls: str = "") -> tuple[float, float]:
        """The interval ``(lo, hi)`` of one metric.

        Parameters
        ----------
        metric : str
            The metric's name.
        cls : str, default ""
            The class, for per-class metrics and binary ones.

        Returns
        -------
        tuple of float

        Examples
        --------
        >>> import bayeslabels as bl
        >>> gold = bl.datasets.load("bluebirds").gold
        >>> em = bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False))
        >>> lo, hi = bl.evaluate(em, gold, n_boot=200).interval("accuracy")
        >>> round(lo, 3), round(hi, 3)
        (0.827, 0.942)
        """
        rows = self.metrics[(self.metrics["metric"] == metric) & (self.metrics["class"] == cls)]
        return float(rows["lo"].iloc[0]), float(rows["hi"].iloc[0])

    def to_dict(self) -> dict[str, Any]:
        """The evaluation as plain JSON-ready values (metrics as records).

        Returns
        -------
        dict

        Examples
        --------
        >>> import bayeslabels as bl
        >>> gold = bl.datasets.load("bluebirds").gold
        >>> em = bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False))
        >>> sorted(bl.evaluate(em, gold, n_boot=200).to_dict())
        ['ci_prob', 'classes', 'metrics', 'n_boot', 'n_items', 'n_unpredicted', 'positive', 'seed']
        """
        return {
            "n_items": self.n_items,
            "n_unpredicted": self.n_unpredicted,
            "classes": list(self.classes),
            "positive": self.positive,
            "ci_prob": self.ci_prob,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "metrics": records(self.metrics),
        }

    def __str__(self) -> str:
        positive = f"; binary metrics: positive class {self.positive!r}" if self.positive is not None else ""
        lines = [
            f"{self.n_items} gold items, classes {list(self.classes)}{positive}"
            + (f"; {self.n_unpredicted} without a prediction (scored wrong)" if self.n_unpredicted else ""),
            f"{'metric':<18}{'estimate':>9}  {self.ci_prob:.0%} interval      method",
        ]
        overall = self.metrics[~self.metrics["metric"].isin(["precision", "recall", "f1"])]
        for row in overall.to_dict(orient="records"):
            name = row["metric"] + (f" ({row['class']})" if row["class"] else "")
            lines.append(
                f"{name:<18}{row['estimate']:9.3f}  [{row['lo']:.3f}, {row['hi']:.3f}]  {row['method']}"
            )
        per_class = self.metrics[self.metrics["metric"].isin(["precision", "recall", "f1"])]
        if not per_class.empty:
            lines.append(f"{'class':<14}{'precision':>22}{'recall':>22}{'F1':>22}")
            wide = per_class.pivot(index="class", columns="metric")
            for name in self.classes:
                cells = [
                    f"{wide.loc[name, ('estimate', m)]:.3f} [{wide.loc[name, ('lo', m)]:.3f}, "
                    f"{wide.loc[name, ('hi', m)]:.3f}]"
                    for m in ("precision", "recall", "f1")
                ]
                lines.append(f"{name[:13]:<14}" + "".join(f"{c:>22}" for c in cells))
            lines.append("precision, recall: wilson; F1: bootstrap-percentile over items")
        return "\n".join(lines)


def evaluate(
    targets: Any,
    gold: Any,
    ci_prob: float = 0.95,
    *,
    positive: Hashable | None = None,
    n_boot: int = 2000,
    n_bins: int = 10,
    seed: int | None = 0,
    ordinal: bool | None = None,
) -> Evaluation:
    """Score targets on gold items, every metric with an interval.

    Accuracy, per-class precision / recall / F1, macro-F1, PR-AUC (average precision: of
    ``positive`` for two classes, default the second; macro one-vs-rest over the classes in
    gold otherwise, or of ``positive`` if given), log-loss, Brier and ECE, each with a
    ``ci_prob`` interval (module docstring: Wilson or percentile bootstrap over items with
    ``n_boot`` replicates, seeded).

    Parameters
    ----------
    targets : SoftLabels or anything `as_soft_labels` takes
        A `Fit`, `EMResult`, `VoteResult`, a table in the export schema or an exported file.
    gold : numpy.ndarray or pandas.Series
        An int array aligned with the targets' items (``ann.gold``, -1 = unknown), or a
        Series item → class name (items it leaves out are not scored).
    ci_prob : float, default 0.95
        Probability of the intervals.
    positive : str, optional
        The positive class of the binary metrics (default: the second class).
    n_boot : int, default 2000
        Bootstrap replicates.
    n_bins : int, default 10
        Confidence bins of the ECE.
    seed : int or None, default 0
        Seed of the bootstrap.
    ordinal : bool, optional
        Add the ordinal metrics (``mae``, ``qwk``, ``off_by``; module docstring), the classes
        ordered lowest first. Default: when the targets' classes are ordered (a fit or soft
        vote of ``ordered=True`` annotations).

    Returns
    -------
    Evaluation

    Raises
    ------
    DataError
        If the gold does not match the targets' items or classes, or no item has gold.
    ValueError
        If ``n_bins`` is below 1.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> gold = bl.datasets.load("bluebirds").gold
    >>> em = bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False))
    >>> print(bl.evaluate(em, gold, n_boot=200))
    108 gold items, classes ['false', 'true']; binary metrics: positive class 'true'
    metric             estimate  95% interval      method
    accuracy              0.898  [0.827, 0.942]  wilson
    macro_f1              0.897  [0.842, 0.954]  bootstrap-percentile
    pr_auc (true)         0.932  [0.865, 0.985]  bootstrap-percentile
    log_loss              1.519  [0.490, 2.526]  bootstrap-percentile
    brier (true)          0.101  [0.045, 0.153]  bootstrap-percentile
    ece                   0.103  [0.048, 0.155]  bootstrap-percentile
    class                      precision                recall                    F1
    false           0.902 [0.802, 0.954]  0.917 [0.819, 0.964]  0.909 [0.857, 0.963]
    true            0.894 [0.774, 0.954]  0.875 [0.753, 0.941]  0.884 [0.821, 0.950]
    precision, recall: wilson; F1: bootstrap-percentile over items
    """
    ci_prob = check_ci_prob(ci_prob)
    s, t = _scored(targets, gold, positive, n_bins)
    ordinal = t.ordered if ordinal is None else bool(ordinal)
    n = len(s.y)
    points = _points(s)
    names = np.asarray(t.classes, dtype=object)

    def statistic(w: np.ndarray) -> np.ndarray:
        f1, _ = _w_f1(w, s)
        overall = _w_overall(w, s)
        extra = _w_ordinal(w, s) if ordinal else {}
        return np.column_stack([overall[m] for m in _BOOTSTRAPPED] + [extra[m] for m in extra] + [f1])

    replicates = np.concatenate([statistic(w) for w in weight_chunks(n, n_boot, seed)])
    lo, hi = percentile_interval(replicates, ci_prob)
    tp, predicted, actual = (c[0] for c in _w_class_counts(np.ones((1, n)), s))
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN where a class is never predicted / seen
        precision = np.where(predicted > 0, tp / predicted, np.nan)
        recall = np.where(actual > 0, tp / actual, np.nan)
        f1 = np.where(predicted + actual > 0, 2 * tp / (predicted + actual), np.nan)
    correct = float(s.correct.sum())
    acc_lo, acc_hi = wilson(correct, n, ci_prob)
    prec_lo, prec_hi = wilson(tp, predicted, ci_prob)
    rec_lo, rec_hi = wilson(tp, actual, ci_prob)
    binary_class = "" if s.positive is None else str(names[s.positive])
    rows = [("accuracy", "", points["accuracy"], float(acc_lo), float(acc_hi), WILSON, n)]
    for j, metric in enumerate(_BOOTSTRAPPED):
        cls = binary_class if metric in ("pr_auc",) or (metric == "brier" and s.k == 2) else ""
        rows.append((metric, cls, points[metric], lo[j], hi[j], BOOTSTRAP, n))
    extra = _ORDINAL if ordinal else ()
    if ordinal:
        ordinal_points = _w_ordinal(np.ones((1, n)), s)
        for j, metric in enumerate(extra, start=len(_BOOTSTRAPPED)):
            rows.append((metric, "", float(ordinal_points[metric][0]), lo[j], hi[j], BOOTSTRAP, n))
        rows += _distance_rows(s, ci_prob)
    f1_lo, f1_hi = lo[len(_BOOTSTRAPPED) + len(extra) :], hi[len(_BOOTSTRAPPED) + len(extra) :]
    for c in range(s.k):  # loop over classes
        present = (predicted[c] + actual[c]) > 0
        rows += [
            ("precision", str(names[c]), precision[c], prec_lo[c], prec_hi[c], WILSON, int(predicted[c])),
            ("recall", str(names[c]), recall[c], rec_lo[c], rec_hi[c], WILSON, int(actual[c])),
            ("f1", str(names[c]), f1[c] if present else np.nan, f1_lo[c], f1_hi[c], BOOTSTRAP, n),
        ]
    metrics = pd.DataFrame(rows, columns=["metric", "class", "estimate", "lo", "hi", "method", "n"])
    metrics["estimate"] = metrics["estimate"].astype(float)
    return Evaluation(
        metrics=metrics,
        classes=tuple(str(c) for c in t.classes),
        positive=binary_class or None,
        n_items=n,
        n_unpredicted=int((s.pred < 0).sum()),
        ci_prob=ci_prob,
        n_boot=n_boot,
        seed=seed,
    )


# --------------------------------------------------------------------------- compare


@dataclass(frozen=True, eq=False)
class Comparison:
    """Paired-bootstrap differences ``target − baseline`` of each overall metric, from `compare_targets`.

    The same item resamples are applied to every target. ``print(comparison)`` shows one
    line per target and metric.

    Attributes
    ----------
    differences : pandas.DataFrame
        Columns ``metric``, ``class`` (the positive class of binary metrics), ``target``,
        ``baseline``, ``target_estimate``, ``baseline_estimate``, ``difference``, ``lo``,
        ``hi``, ``method``, ``higher_is_better`` and ``share_better`` (share of replicates in
        which the target beats the baseline).
    evaluations : dict of str to Evaluation
        Each target's own evaluation.
    baseline : str
        The baseline's name.
    ci_prob : float
        Probability of the intervals.
    n_items : int
        Gold items compared.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> gold = bl.datasets.load("bluebirds").gold
    >>> em = bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False))
    >>> vote = bl.majority_vote(bl.datasets.load("bluebirds", gold=False))
    >>> comparison = bl.compare_targets({"vote": vote, "em": em}, gold, n_boot=200)
    >>> comparison.baseline, comparison.n_items, sorted(comparison.evaluations)
    ('vote', 108, ['em', 'vote'])
    """

    differences: pd.DataFrame
    evaluations: dict[str, Evaluation]
    baseline: str
    ci_prob: float
    n_items: int

    def __str__(self) -> str:
        lines = [
            f"paired bootstrap over {self.n_items} gold items, {self.ci_prob:.0%} intervals of target − "
            f"{self.baseline!r}:"
        ]
        for row in self.differences.itertuples():
            better = "higher" if row.higher_is_better else "lower"
            lines.append(
                f"  {row.target:<16} {row.metric:<9} {row.target_estimate:7.3f} vs "
                f"{row.baseline_estimate:7.3f}  "
                f"diff {row.difference:+.3f} [{row.lo:+.3f}, {row.hi:+.3f}]  ({better} is better; "
                f"better in {row.share_better:.0%} of replicates)"
            )
        return "\n".join(lines)


def compare_targets(
    targets: Mapping[str, Any],
    gold: Any,
    ci_prob: float = 0.95,
    *,
    baseline: str | None = None,
    positive: Hashable | None = None,
    n_boot: int = 2000,
    n_bins: int = 10,
    seed: int | None = 0,
) -> Comparison:
    """Compare several targets on the same gold items by a paired bootstrap over items.

    Parameters
    ----------
    targets : mapping of str to targets
        Name → targets (anything `evaluate` takes), at least two.
    gold : numpy.ndarray or pandas.Series
        As in `evaluate`; an int array is read against the first targets' items (every other
        target must cover the same gold items, matched by item id).
    ci_prob : float, default 0.95
        Probability of the intervals.
    baseline : str, optional
        The name of the targets the others are compared with (default: the first).
    positive : str, optional
        The positive class of the binary metrics.
    n_boot : int, default 2000
        Bootstrap replicates.
    n_bins : int, default 10
        Confidence bins of the ECE.
    seed : int or None, default 0
        Seed of the bootstrap.

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError
        If there are fewer than two targets, or ``baseline`` is not one of them.
    DataError
        If a target lacks gold items or has other classes.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> gold = bl.datasets.load("bluebirds").gold
    >>> em = bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False))
    >>> vote = bl.majority_vote(bl.datasets.load("bluebirds", gold=False))
    >>> comparison = bl.compare_targets({"vote": vote, "em": em}, gold, n_boot=200)
    >>> comparison.differences[["metric", "difference", "lo", "hi", "share_better"]].round(3).head(2)
         metric  difference     lo     hi  share_better
    0  accuracy       0.139  0.083  0.204           1.0
    1  macro_f1       0.155  0.093  0.236           1.0
    """
    if not isinstance(targets, Mapping) or len(targets) < 2:
        raise ValueError("compare_targets needs a mapping of at least two named targets")
    ci_prob = check_ci_prob(ci_prob)
    names = list(targets)
    baseline = names[0] if baseline is None else baseline
    if baseline not in targets:
        raise ValueError(f"baseline {baseline!r} is not one of the targets {names}")
    resolved = {name: _targets(value) for name, value in targets.items()}
    first = resolved[names[0]]
    codes = _gold_codes(gold, first)
    gold_series = pd.Series(
        np.where(codes >= 0, np.asarray(first.classes, dtype=object)[np.maximum(codes, 0)], None),
        index=first.items,
    )
    gold_series = gold_series[codes >= 0]
    scored: dict[str, _Scored] = {}
    for name, t in resolved.items():
        missing = gold_series.index.difference(t.items)
        if len(missing):
            raise DataError(f"targets {name!r} lack {len(missing)} gold items (e.g. {list(missing[:3])})")
        if list(t.classes) != list(first.classes):
            raise DataError(f"targets {name!r} have classes {list(t.classes)}, not {list(first.classes)}")
        s, _ = _scored(t, gold_series, positive, n_bins)
        order = pd.Index(s.items).get_indexer(gold_series.index)
        scored[name] = _Scored(s.y[order], s.pred[order], s.proba[order], s.positive, n_bins, s.items[order])
    n = len(gold_series)
    points = {name: _points(s) for name, s in scored.items()}
    metrics = list(points[baseline])
    others = [name for name in names if name != baseline]
    diffs: dict[str, list[np.ndarray]] = {name: [] for name in others}
    for w in weight_chunks(n, n_boot, seed):
        base = _w_overall(w, scored[baseline])
        for name in others:
            values = _w_overall(w, scored[name])
            diffs[name].append(np.column_stack([values[m] - base[m] for m in metrics]))
    s0 = scored[baseline]
    binary_class = "" if s0.positive is None else str(first.classes[s0.positive])
    rows = []
    for name in others:
        replicates = np.concatenate(diffs[name])
        lo, hi = percentile_interval(replicates, ci_prob)
        for j, metric in enumerate(metrics):
            higher = metric not in LOWER_IS_BETTER
            column = replicates[:, j]
            finite = np.isfinite(column)
            better = (column[finite] > 0) if higher else (column[finite] < 0)
            cls = binary_class if metric == "pr_auc" or (metric == "brier" and s0.k == 2) else ""
            rows.append(
                (
                    metric,
                    cls,
                    name,
                    baseline,
                    points[name][metric],
                    points[baseline][metric],
                    points[name][metric] - points[baseline][metric],
                    lo[j],
                    hi[j],
                    PAIRED_BOOTSTRAP,
                    higher,
                    float(better.mean()) if finite.any() else np.nan,
                )
            )
    differences = pd.DataFrame(
        rows,
        columns=[
            "metric",
            "class",
            "target",
            "baseline",
            "target_estimate",
            "baseline_estimate",
            "difference",
            "lo",
            "hi",
            "method",
            "higher_is_better",
            "share_better",
        ],
    )
    evaluations = {
        name: evaluate(t, gold_series, ci_prob, positive=positive, n_boot=n_boot, n_bins=n_bins, seed=seed)
        for name, t in resolved.items()
    }
    return Comparison(differences, evaluations, baseline, ci_prob, n)


# --------------------------------------------------------------------------- calibration


def calibration_table(
    targets: Any, gold: Any, *, n_bins: int = 10, ci_prob: float = 0.95, positive: Hashable | None = None
) -> pd.DataFrame:
    """Top-label reliability per confidence bin (the reliability diagram's numbers).

    Empty bins are left out; ECE = Σ n |gap| / Σ n.

    Parameters
    ----------
    targets : SoftLabels or anything `as_soft_labels` takes
        A `Fit`, `EMResult`, `VoteResult`, a table in the export schema or an exported file.
    gold : numpy.ndarray or pandas.Series
        An int array aligned with the targets' items (``ann.gold``, -1 = unknown), or a
        Series item → class name (items it leaves out are not scored).
    n_bins : int, default 10
        Equal-width confidence bins.
    ci_prob : float, default 0.95
        Probability of the Wilson intervals.
    positive : str, optional
        As in `evaluate`.

    Returns
    -------
    pandas.DataFrame
        ``bin``, ``lower``, ``upper`` (bin edges), ``n``, ``confidence`` (mean probability of
        the predicted class), ``accuracy`` with its Wilson ``accuracy_lo`` / ``accuracy_hi``,
        and ``gap`` (accuracy − confidence).

    Raises
    ------
    DataError
        As in `evaluate`.
    ValueError
        If ``n_bins`` is below 1.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> gold = bl.datasets.load("bluebirds").gold
    >>> em = bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False))
    >>> table = bl.calibration_table(em, gold, n_bins=5)
    >>> table[["bin", "lower", "upper", "n", "accuracy", "gap"]].round(3)
       bin  lower  upper    n  accuracy    gap
    0    2    0.4    0.6    1     1.000  0.403
    1    4    0.8    1.0  107     0.897 -0.100
    """
    ci_prob = check_ci_prob(ci_prob)
    s, _ = _scored(targets, gold, positive, n_bins)
    bins = s.bins()
    n = np.bincount(bins, minlength=n_bins).astype(float)
    conf = np.bincount(bins, weights=s.confidence, minlength=n_bins)
    hits = np.bincount(bins, weights=s.correct, minlength=n_bins)
    keep = n > 0
    lo, hi = wilson(hits[keep], n[keep], ci_prob)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    table = pd.DataFrame(
        {
            "bin": np.flatnonzero(keep),
            "lower": edges[:-1][keep],
            "upper": edges[1:][keep],
            "n": n[keep].astype(np.int64),
            "confidence": conf[keep] / n[keep],
            "accuracy": hits[keep] / n[keep],
            "accuracy_lo": lo,
            "accuracy_hi": hi,
        }
    )
    table["gap"] = table["accuracy"] - table["confidence"]
    return table


def expected_calibration_error(targets: Any, gold: Any, *, n_bins: int = 10) -> float:
    """Top-label ECE ``Σ_b (n_b/n) |acc_b − conf_b|`` over ``n_bins`` equal-width bins.

    Parameters
    ----------
    targets : SoftLabels or anything `as_soft_labels` takes
        A `Fit`, `EMResult`, `VoteResult`, a table in the export schema or an exported file.
    gold : numpy.ndarray or pandas.Series
        An int array aligned with the targets' items (``ann.gold``, -1 = unknown), or a
        Series item → class name (items it leaves out are not scored).
    n_bins : int, default 10
        Equal-width confidence bins.

    Returns
    -------
    float

    Examples
    --------
    >>> import bayeslabels as bl
    >>> gold = bl.datasets.load("bluebirds").gold
    >>> em = bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False))
    >>> round(bl.expected_calibration_error(em, gold), 3)
    0.103
    """
    s, _ = _scored(targets, gold, None, n_bins)
    return float(_w_ece(np.ones((1, len(s.y))), s)[0])


# --------------------------------------------------------------------------- soft metrics


def evaluate_soft(
    targets: Any,
    ann: Annotations,
    ci_prob: float = 0.95,
    *,
    n_boot: int = 2000,
    seed: int | None = 0,
) -> Evaluation:
    """Score target distributions against the annotators' vote distribution.

    On every item of ``ann`` that has labels — for ambiguous items, where one gold class is
    the wrong question. Metrics (percentile bootstrap over items): ``cross_entropy``
    −Σ_k v_k log p_k of the vote shares v under the target p, ``js_distance`` (scipy's
    Jensen–Shannon distance, base 2), ``total_variation`` ½ Σ_k |p_k − v_k| and
    ``expected_agreement`` Σ_k p_k v_k (the chance that a label drawn from the target
    matches a random annotator's). The labels scored should be held out of the fit that
    made the targets, or the score flatters it.

    Parameters
    ----------
    targets : SoftLabels or anything `as_soft_labels` takes
        Must cover every labelled item of ``ann``.
    ann : Annotations
        The (held-out) labels whose vote shares are scored against.
    ci_prob : float, default 0.95
        Probability of the intervals.
    n_boot : int, default 2000
        Bootstrap replicates.
    seed : int or None, default 0
        Seed of the bootstrap.

    Returns
    -------
    Evaluation

    Raises
    ------
    DataError
        If the targets lack labelled items of ``ann``, have other classes, or ``ann`` has
        no labels.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("bluebirds", gold=False)
    >>> print(bl.evaluate_soft(bl.dawid_skene_em(ann), ann, n_boot=200))
    108 gold items, classes ['false', 'true']
    metric             estimate  95% interval      method
    cross_entropy         6.691  [6.119, 7.401]  bootstrap-percentile
    js_distance           0.417  [0.398, 0.437]  bootstrap-percentile
    total_variation       0.320  [0.297, 0.348]  bootstrap-percentile
    expected_agreement    0.674  [0.648, 0.698]  bootstrap-percentile
    """
    from scipy.spatial.distance import jensenshannon

    ci_prob = check_ci_prob(ci_prob)
    t = _targets(targets)
    counts = ann.label_counts().astype(float)
    labelled = counts.sum(axis=1) > 0
    items = pd.Index(ann.items, dtype=object)[labelled]
    where = t.items.get_indexer(items)
    if (where < 0).any():
        raise DataError(f"the targets lack {int((where < 0).sum())} labelled items of the annotations")
    if list(t.classes) != list(ann.classes):
        raise DataError(
            f"targets' classes {list(t.classes)} differ from the annotations' {list(ann.classes)}"
        )
    if not labelled.any():
        raise DataError("no labelled items to score")
    votes = counts[labelled] / counts[labelled].sum(axis=1, keepdims=True)
    proba = t.probabilities[where]
    per_item = np.column_stack(
        [
            -(votes * np.log(np.clip(proba, _EPS, 1))).sum(axis=1),
            jensenshannon(proba, votes, base=2, axis=1),
            0.5 * np.abs(proba - votes).sum(axis=1),
            (proba * votes).sum(axis=1),
        ]
    )
    names = ["cross_entropy", "js_distance", "total_variation", "expected_agreement"]
    n = len(items)
    replicates = np.concatenate(
        [(w @ per_item) / w.sum(axis=1, keepdims=True) for w in weight_chunks(n, n_boot, seed)]
    )
    lo, hi = percentile_interval(replicates, ci_prob)
    metrics = pd.DataFrame(
        {
            "metric": names,
            "class": "",
            "estimate": per_item.mean(axis=0),
            "lo": lo,
            "hi": hi,
            "method": BOOTSTRAP,
            "n": n,
        }
    )
    return Evaluation(metrics, tuple(str(c) for c in t.classes), None, n, 0, ci_prob, n_boot, seed)


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True, eq=False)
class ThresholdChoice:
    """A decision threshold chosen by `tune_threshold` (predict positive when score ≥ threshold).

    Attributes
    ----------
    threshold : float
        The chosen threshold (∞: never positive).
    objective : str
        ``"f1"`` or the cost objective.
    value : float
        The objective's value at the threshold.
    tp, fp, fn, tn : int
        The confusion counts there.
    precision, recall : float
        Precision and recall there.
    curve : pandas.DataFrame
        Every candidate threshold with ``tp``, ``fp``, ``fn``, ``tn``, ``precision``,
        ``recall``, ``f1`` and ``cost`` (cost objectives).

    Examples
    --------
    >>> import bayeslabels as bl
    >>> gold = bl.datasets.load("bluebirds").gold
    >>> em = bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False))
    >>> choice = bl.tune_threshold(em.posterior[:, 1], gold == 1)
    >>> choice.tp, choice.fp, choice.fn, choice.tn
    (44, 7, 4, 53)
    """

    threshold: float
    objective: str
    value: float
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float
    curve: pd.DataFrame

    def __str__(self) -> str:
        return (
            f"threshold {self.threshold:.4g} ({self.objective} = {self.value:.4g}): "
            f"precision {self.precision:.3f}, "
            f"recall {self.recall:.3f}; tp {self.tp}, fp {self.fp}, fn {self.fn}, tn {self.tn}"
        )


def tune_threshold(scores: Any, truth: Any, objective: str | Mapping[str, float] = "f1") -> ThresholdChoice:
    """Choose a decision threshold on positive-class scores.

    Candidates are every distinct score (scikit-learn's ``roc_curve``), plus "never
    positive" (threshold ∞).

    Parameters
    ----------
    scores : array-like
        Positive-class scores (e.g. ``soft.mean[:, 1]``), finite.
    truth : array-like
        Booleans or 0/1 (1 = positive), the same length, with both positives and negatives.
    objective : "f1" or mapping, default "f1"
        ``"f1"`` (maximise F1) or a cost mapping ``{"fp": c_fp, "fn": c_fn}`` (minimise
        ``c_fp·FP + c_fn·FN``).

    Returns
    -------
    ThresholdChoice

    Raises
    ------
    ValueError
        If the inputs are not as above or the objective is neither form.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> gold = bl.datasets.load("bluebirds").gold
    >>> em = bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False))
    >>> print(bl.tune_threshold(em.posterior[:, 1], gold == 1))
    threshold 0.0005608 (f1 = 0.8889): precision 0.863, recall 0.917; tp 44, fp 7, fn 4, tn 53
    >>> bl.tune_threshold(em.posterior[:, 1], gold == 1, objective={"fp": 1, "fn": 5}).value
    20.0
    """
    from sklearn.metrics import roc_curve

    scores = np.asarray(scores, dtype=float)
    truth = np.asarray(truth)
    if scores.ndim != 1 or truth.shape != scores.shape or not np.isfinite(scores).all():
        raise ValueError("scores and truth must be 1-D arrays of the same length, scores finite")
    if not np.isin(truth, [0, 1]).all():
        raise ValueError("truth must be booleans or 0/1 (1 = positive)")
    truth = truth.astype(int)
    n_pos, n_neg = int(truth.sum()), int(len(truth) - truth.sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("truth needs both positives and negatives to tune a threshold")
    fpr, tpr, thresholds = roc_curve(truth, scores, drop_intermediate=False)
    tp, fp = np.rint(tpr * n_pos).astype(np.int64), np.rint(fpr * n_neg).astype(np.int64)
    curve = pd.DataFrame({"threshold": thresholds, "tp": tp, "fp": fp, "fn": n_pos - tp, "tn": n_neg - fp})
    with np.errstate(invalid="ignore", divide="ignore"):
        curve["precision"] = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        curve["recall"] = tp / n_pos
        curve["f1"] = 2 * tp / (2 * tp + fp + (n_pos - tp))
    if isinstance(objective, str):
        if objective != "f1":
            raise ValueError(
                f"objective must be 'f1' or a cost mapping {{'fp': ..., 'fn': ...}}, not {objective!r}"
            )
        best = int(np.nanargmax(curve["f1"].to_numpy()))
        name, value = "f1", float(curve["f1"].iloc[best])
    elif isinstance(objective, Mapping):
        if set(objective) != {"fp", "fn"} or any(float(v) < 0 for v in objective.values()):
            raise ValueError("a cost objective is {'fp': cost, 'fn': cost}, both non-negative")
        curve["cost"] = float(objective["fp"]) * curve["fp"] + float(objective["fn"]) * curve["fn"]
        best = int(np.argmin(curve["cost"].to_numpy()))
        name = f"cost (fp {float(objective['fp']):g}, fn {float(objective['fn']):g})"
        value = float(curve["cost"].iloc[best])
    else:
        raise ValueError("objective must be 'f1' or a mapping {'fp': cost, 'fn': cost}")
    row = curve.iloc[best]
    return ThresholdChoice(
        threshold=float(row["threshold"]),
        objective=name,
        value=value,
        tp=int(row["tp"]),
        fp=int(row["fp"]),
        fn=int(row["fn"]),
        tn=int(row["tn"]),
        precision=float(row["precision"]),
        recall=float(row["recall"]),
        curve=curve,
    )


# --------------------------------------------------------------------------- audit size


@dataclass(frozen=True)
class AuditSampleSize:
    """Items to audit so a proportion near ``p`` is estimated within ±``margin`` with confidence ``ci_prob``.

    ``n₀ = z² p(1 − p)/ε²`` and, for a finite population N, ``n = n₀ / (1 + (n₀ − 1)/N)``,
    rounded up. ``int(size)`` is ``n``.

    Attributes
    ----------
    n : int
        Items to audit.
    n_infinite : float
        ``n₀``, before the finite-population correction and rounding.
    z : float
        The normal quantile for ``ci_prob``.
    p, margin, ci_prob : float
        The inputs.
    population : int or None
        The pool size, if corrected for.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> size = bl.audit_sample_size()
    >>> int(size), round(size.n_infinite, 1)
    (385, 384.1)
    """

    n: int
    n_infinite: float
    z: float
    p: float
    margin: float
    ci_prob: float
    population: int | None

    def __int__(self) -> int:
        return self.n

    def __str__(self) -> str:
        fpc = f", finite-population corrected for {self.population:,} items" if self.population else ""
        return (
            f"audit {self.n} items: z = {self.z:.3f} for {self.ci_prob:.0%}, n0 = z² p(1-p)/margin² = "
            f"{self.n_infinite:.1f} with p = {self.p:g}, margin = ±{self.margin:g}{fpc}"
        )


def audit_sample_size(
    p: float = 0.5, margin: float = 0.05, ci_prob: float = 0.95, population: int | None = None
) -> AuditSampleSize:
    """How many items to audit to estimate a rate within ±``margin`` with probability ``ci_prob``
    (the interval's coverage, as ``ci_prob`` everywhere in the package).

    Normal approximation, two-sided, with the finite-population correction when the pool
    holds ``population`` items.

    Parameters
    ----------
    p : float, default 0.5
        The expected rate (e.g. label accuracy); 0.5 is the worst case.
    margin : float, default 0.05
        Half-width of the interval.
    ci_prob : float, default 0.95
        Coverage of the interval (confidence).
    population : int, optional
        Items in the pool.

    Returns
    -------
    AuditSampleSize

    Raises
    ------
    ValueError
        If ``p`` or ``margin`` is not strictly between 0 and 1, or ``population`` is not a
        positive whole number.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> print(bl.audit_sample_size())
    audit 385 items: z = 1.960 for 95%, n0 = z² p(1-p)/margin² = 384.1 with p = 0.5, margin = ±0.05
    >>> bl.audit_sample_size(p=0.9, margin=0.03, population=2000).n
    323
    """
    if not 0 < p < 1:
        raise ValueError(f"p must lie strictly between 0 and 1, got {p!r}")
    if not 0 < margin < 1:
        raise ValueError(f"margin must lie strictly between 0 and 1, got {margin!r}")
    ci_prob = check_ci_prob(ci_prob)
    if population is not None and (int(population) != population or population < 1):
        raise ValueError(f"population must be a positive whole number of items, got {population!r}")
    z = float(ndtri(1 - (1 - ci_prob) / 2))
    n0 = z**2 * p * (1 - p) / margin**2
    n = n0 if population is None else n0 / (1 + (n0 - 1) / population)
    n = int(np.ceil(n - 1e-9))
    if population is not None:
        n = min(n, int(population))
    return AuditSampleSize(
        n, float(n0), z, float(p), float(margin), ci_prob, None if population is None else int(population)
    )
