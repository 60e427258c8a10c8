r"""Posterior predictive checks of a label table: does the fitted model make tables like this one?

A fitted annotator model replicates the label table with the observed design (same items,
annotators and rows; only the labels are drawn anew). A test statistic :math:`T` computed on the
observed table and on every replicate gives the posterior predictive (mid-)p-value

.. math::

    p = P(T_\mathrm{rep} > T_\mathrm{obs}) + \tfrac12 P(T_\mathrm{rep} = T_\mathrm{obs}),

so 0.5 is ideal and values near 0 or 1 mean the model does not reproduce that feature of the
data. With :math:`n_{ik}` labels of class k on item i and :math:`n_i = \sum_k n_{ik}`:

* ``mean_disagreement``, ``var_disagreement``: mean and variance (across items with
  :math:`n_i \ge 2`, variance with ddof 0) of the per-item disagreement
  :math:`d_i = 1 - \sum_k n_{ik}(n_{ik}-1) / (n_i(n_i-1))`, the probability that two labels of
  the item differ. Dawid–Skene labels are independent given the class; real items are often
  more unanimous *and* more split than that, so the observed variance sits in the upper tail.
* ``unanimous_share``: share of items (with :math:`n_i \ge 2`) with :math:`d_i = 0`.
* ``fleiss_kappa``: Fleiss' κ of the table (as `bayeslabels.fleiss_kappa`).
* ``agreement_sd``: standard deviation (ddof 0) across annotators of :math:`a_j`, the mean over
  annotator j's labels (on items with ≥ 2 labels) of the share of the *other* labels of the
  item equal to its label, :math:`(n_{i,y} - 1)/(n_i - 1)`.
* ``annotators_outside``: how many annotators' own p-value of :math:`a_j` lies outside
  ``[(1 - ci_prob)/2, 1 - (1 - ci_prob)/2]``; its reference distribution counts, for each
  replicate, the annotators whose value is extreme among the *other* replicates.
* ``class_use_chi2``: :math:`\sum_j \sum_k (c_{jk} - E_{jk})^2 / E_{jk}` over annotator ×
  class label counts :math:`c_{jk}` (annotator j's labels times its class shares), with
  :math:`E_{jk}` the mean over replicates (floored at half a label over all replicates),
  computed for the observed table and for each replicate against the same E.
* ``class_share[<class>]``: share of all labels that are of the class.

A statistic is a misfit when its p-value is below 0.005 or above 0.995 (a fixed two-sided
cut-off, whatever ``ci_prob``). The two discrepancy statistics, ``annotators_outside`` and
``class_use_chi2``, are one-sided (misfit only below 0.005): a replicate drawn from a model
fitted to the data is typically *further* from the fit than the data themselves, so their
p-values drift towards 1 under a good fit and only the upper tail of T means misfit.
``ci_prob`` sets the intervals reported (equal-tailed) and the per-annotator cut-off.

Everything is vectorised over replicates (bincounts over replicate × item and replicate ×
annotator cells), in blocks of replicates to bound memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._checks import check_ci_prob
from .data import Annotations
from .errors import DataError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .fit import Fit

MIN_REPLICATES = 20
"""Fewest replicated tables `predictive_check_from` accepts (200 or more recommended)."""
MISFIT_P = 0.005
"""A statistic is a misfit when p < MISFIT_P or (two-sided statistics) p > 1 − MISFIT_P: with
about ten statistics per check, a stricter cut than 0.05 keeps a correctly specified model
from a chance warning (p = 0 or 1 means the observed value lies beyond every replicate)."""

_BLOCK_ELEMENTS = 1 << 22  # cells per replicate block array (≈ 32 MB of int64)
_ITEM_FAMILIES = {"ambiguity": "intrinsic item ambiguity", "item-difficulty": "item difficulty"}
"""The families that model what makes the labels of one item move together, by name."""
_CONFUSION_FAMILIES = (
    "try model='dawid-skene' or model='hierarchical' (a full confusion matrix per annotator)"
)
_SYMMETRIC_MODELS = frozenset({"one-coin", "mace"})

# statistic → (description, level, two-sided); class shares are added per class
_STATISTICS: dict[str, tuple[str, str, bool]] = {
    "mean_disagreement": ("mean per-item disagreement", "item", True),
    "var_disagreement": ("variance of per-item disagreement", "item", True),
    "unanimous_share": ("share of unanimous items", "item", True),
    "fleiss_kappa": ("Fleiss' kappa", "item", True),
    "agreement_sd": ("spread (SD) of per-annotator agreement with the others", "annotator", True),
    "annotators_outside": ("number of annotators outside their interval", "annotator", False),
    "class_use_chi2": ("class-use discrepancy by annotator", "annotator", False),
}

# why each item-level statistic misfits, by direction (observed above / below the replicates)
_ITEM_REASONS: dict[str, tuple[str, str]] = {
    "mean_disagreement": (
        "the labels of an item differ more often than the model replicates",
        "the labels of an item differ less often than the model replicates",
    ),
    "var_disagreement": (
        "the labels of an item agree or disagree together more than independent annotators would",
        "items differ less from one another in disagreement than the model replicates",
    ),
    "unanimous_share": (
        "more items are unanimous than independent annotators would produce",
        "fewer items are unanimous than the model replicates",
    ),
    "fleiss_kappa": (
        "annotators agree with each other more than the model replicates",
        "annotators agree with each other less than the model replicates",
    ),
}


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class _Design:
    """What every replicate shares: the (item, annotator) rows."""

    item_idx: np.ndarray
    annotator_idx: np.ndarray
    n_items: int
    n_annotators: int
    n_classes: int

    @property
    def n_rows(self) -> int:
        return len(self.item_idx)

    @property
    def per_item(self) -> np.ndarray:
        return np.bincount(self.item_idx, minlength=self.n_items)

    @property
    def pairable(self) -> np.ndarray:
        """Items with at least two labels."""
        return np.flatnonzero(self.per_item >= 2)

    @property
    def block(self) -> int:
        widest = max(self.n_rows, self.n_items * self.n_classes, self.n_annotators * self.n_classes, 1)
        return max(1, _BLOCK_ELEMENTS // widest)


def _block_statistics(design: _Design, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics of B tables at once (``labels``: B × rows), every one an array over B.

    ``same`` (B × pairable items) is Σ_k n_ik(n_ik − 1), kept as ints for exact per-item ties;
    ``agreement`` and ``class_counts`` are B × J and B × J × K.
    """
    b = labels.shape[0]
    n_i, k = design.per_item, design.n_classes
    items, annotators = design.n_items, design.n_annotators
    replicate = np.arange(b)[:, None]
    cell = (replicate * items + design.item_idx) * k + labels  # (B, N) index into B × I × K
    counts = np.bincount(cell.ravel(), minlength=b * items * k)
    pairable = design.pairable
    same = (counts.reshape(b, items, k) * (counts.reshape(b, items, k) - 1)).sum(axis=2)[:, pairable]
    pairs = n_i[pairable] * (n_i[pairable] - 1)
    disagreement = 1.0 - same / pairs
    labelled = n_i > 0
    pi = (counts.reshape(b, items, k)[:, labelled] / n_i[labelled][:, None]).mean(axis=1)  # B × K
    expected = (pi**2).sum(axis=1)
    observed_agreement = 1.0 - disagreement.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.where(expected < 1, (observed_agreement - expected) / (1 - expected), np.nan)

    rows = np.flatnonzero(n_i[design.item_idx] >= 2)
    own = counts[cell[:, rows]]  # n_{i, y_r} of each pairable row's own class
    share_equal = (own - 1) / (n_i[design.item_idx[rows]] - 1)
    per_annotator = np.bincount(design.annotator_idx[rows], minlength=annotators)
    sums = np.bincount(
        (replicate * annotators + design.annotator_idx[rows]).ravel(),
        weights=share_equal.ravel(),
        minlength=b * annotators,
    ).reshape(b, annotators)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(per_annotator > 0, sums / per_annotator, np.nan)
    class_counts = np.bincount(
        ((replicate * annotators + design.annotator_idx) * k + labels).ravel(), minlength=b * annotators * k
    ).reshape(b, annotators, k)
    finite = agreement[:, per_annotator > 0]
    return {
        "same": same,
        "disagreement": disagreement,
        "mean_disagreement": disagreement.mean(axis=1),
        "var_disagreement": disagreement.var(axis=1),
        "unanimous_share": (same == pairs).mean(axis=1),
        "fleiss_kappa": kappa,
        "agreement": agreement,
        "agreement_sd": finite.std(axis=1) if finite.shape[1] else np.full(b, np.nan),
        "class_counts": class_counts,
        "class_share": class_counts.sum(axis=1) / max(design.n_rows, 1),
    }


def _mid_p(replicated: np.ndarray, observed: np.ndarray | float) -> np.ndarray:
    """P(T_rep > T_obs) + ½ P(T_rep = T_obs) along axis 0, over finite replicates; equal means
    equal to rounding (|Δ| ≤ 1e-12 + 1e-9 |T_obs|). NaN where T_obs or every T_rep is NaN."""
    observed = np.asarray(observed, dtype=float)
    valid = np.isfinite(replicated)
    equal = valid & np.isclose(replicated, observed, rtol=1e-9, atol=1e-12)
    greater = valid & (replicated > observed) & ~equal
    n = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (greater.sum(axis=0) + 0.5 * equal.sum(axis=0)) / n
    return np.where(np.isfinite(observed) & (n > 0), p, np.nan)


def _loo_outside(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Per replicate (rows of ``values``, R × annotators, all finite): how many annotators'
    mid-p-value against the *other* R − 1 replicates falls outside [low, high]."""
    from scipy.stats import rankdata

    r = values.shape[0]
    if values.shape[1] == 0:
        return np.zeros(r)
    rounded = np.round(values, 12)  # ties to rounding, as `_mid_p`
    first = rankdata(rounded, method="min", axis=0)  # 1 + #smaller
    last = rankdata(rounded, method="max", axis=0)  # #smaller + #equal (self included)
    p = ((r - last) + 0.5 * (last - first)) / (r - 1)
    return ((p < low) | (p > high)).sum(axis=1).astype(float)


def _interval(values: np.ndarray, ci_prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, lo, hi) along axis 0 over finite values; NaN where none is finite."""
    tail = (1 - ci_prob) / 2
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    safe = np.where(finite, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, safe.sum(axis=0) / count, np.nan)
    lo = np.full(values.shape[1:], np.nan)
    hi = np.full(values.shape[1:], np.nan)
    full = count == values.shape[0]
    if full.any():
        lo[full], hi[full] = np.quantile(values[:, full], [tail, 1 - tail], axis=0)
    for column in np.flatnonzero((count > 0) & ~full):  # rare: a statistic undefined in some replicates
        lo[column], hi[column] = np.quantile(values[finite[:, column], column], [tail, 1 - tail])
    return mean, lo, hi


# --------------------------------------------------------------------------- result


def _fmt(value: float) -> str:
    if not np.isfinite(value):
        return "nan"
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.3f}"


def _plain(value: Any) -> Any:
    """JSON-safe Python scalar: NaN/inf → None, numpy → Python."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    return str(value)


@dataclass(frozen=True, eq=False)
class PredictiveCheck:
    """Posterior predictive check of a label table, from `predictive_check`.

    Each scalar statistic T (see `bayeslabels.predictive`) is computed on the observed table
    and on every replicated one; ``p = P(T_rep > T_obs) + ½ P(T_rep = T_obs)``, misfit when
    p < 0.005 or p > 0.995 (only p < 0.005 for ``annotators_outside`` and ``class_use_chi2``).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scalar statistic: ``statistic``, ``observed``, ``replicated_mean``,
        ``replicated_lo``, ``replicated_hi`` (equal-tailed ``ci_prob`` interval), ``p_value``,
        ``misfit``.
    per_item : pandas.DataFrame
        Indexed by item id: ``n_labels``, ``observed_disagreement``, ``replicated_mean``,
        ``p_value`` (NaN for items with fewer than two labels).
    per_annotator : pandas.DataFrame
        Indexed by annotator id: ``n_labels``, ``observed_agreement``, ``replicated_mean``,
        ``replicated_lo``, ``replicated_hi``, ``p_value``, ``outside`` (p outside the
        ``ci_prob`` cut-offs), ``class_use_discrepancy`` and ``class_use_p_value`` (the
        annotator's term of ``class_use_chi2``), and ``share_<class>`` (observed class shares).
    replicates : int
        Number of replicated tables.
    model : str
        The model that replicated them ("" if unknown).
    warnings : list of str
        One sentence per misfit statistic, with the numbers and what to try.
    ci_prob : float
        Probability of the reported intervals.
    replicated_statistics : pandas.DataFrame
        Replicates × statistics: every replicated value (what `plot` draws).

    Examples
    --------
    >>> import numpy as np
    >>> import bayeslabels as bl
    >>> from bayeslabels.predictive import predictive_check_from
    >>> ann = bl.simulate.dawid_skene(n_items=100, n_annotators=8, seed=0).annotations
    >>> check = predictive_check_from(ann, np.tile(ann.label, (50, 1)))  # the data, 50 times
    >>> check.ok, sorted(set(check.table["p_value"]))
    (True, [0.5])
    >>> list(check.table["statistic"][:4])
    ['mean_disagreement', 'var_disagreement', 'unanimous_share', 'fleiss_kappa']
    """

    table: pd.DataFrame
    per_item: pd.DataFrame
    per_annotator: pd.DataFrame
    replicates: int
    model: str
    warnings: list[str]
    ci_prob: float = 0.9
    replicated_statistics: pd.DataFrame | None = None

    @property
    def ok(self) -> bool:
        """True when no statistic is a misfit."""
        return not bool(self.table["misfit"].any())

    def summary(self) -> str:
        """Readable text: the model, replicates, the table of statistics and the warnings.

        Returns
        -------
        str

        Examples
        --------
        >>> print(check.summary())  # doctest: +SKIP
        """
        model = f"model '{self.model}'" if self.model else "the model"
        lines = [
            f"Posterior predictive check of {model}: {self.replicates} replicated tables, "
            f"{self.ci_prob:.0%} intervals, misfit when p < {MISFIT_P} or p > {1 - MISFIT_P} "
            f"(annotators_outside, class_use_chi2: p < {MISFIT_P} only)",
            "",
            self.table.to_string(index=False, float_format=_fmt),
            "",
        ]
        if self.warnings:
            lines.append(f"{len(self.warnings)} misfit{'s' if len(self.warnings) > 1 else ''}:")
            lines += [f"- {warning}" for warning in self.warnings]
        else:
            lines.append("No misfit: every statistic is within what the model replicates.")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (plain floats, NaN as None) of the table and warnings, for provenance.

        Returns
        -------
        dict
            ``model``, ``replicates``, ``ci_prob``, ``misfit_p``, ``ok``, ``statistics`` (one
            dict per row of `table`) and ``warnings``.

        Examples
        --------
        >>> import json
        >>> json.dumps(check.to_dict())  # doctest: +SKIP
        """
        return {
            "model": self.model,
            "replicates": int(self.replicates),
            "ci_prob": float(self.ci_prob),
            "misfit_p": MISFIT_P,
            "ok": self.ok,
            "statistics": [
                {str(key): _plain(value) for key, value in row.items()}
                for row in self.table.to_dict(orient="records")
            ],
            "warnings": [str(warning) for warning in self.warnings],
        }

    def plot(self, ax: Sequence[Axes] | None = None) -> Figure:
        """One small panel per scalar statistic: histogram of the replicated values, a vertical
        line at the observed value, the p-value in the title.

        Parameters
        ----------
        ax : sequence of matplotlib Axes, optional
            One axes per statistic (``len(table)``), in table order; default a new
            ``matplotlib.figure.Figure`` (no pyplot, draws headless) with a grid of panels.

        Returns
        -------
        matplotlib.figure.Figure
            The figure the panels are on.

        Raises
        ------
        ValueError
            If ``ax`` has fewer axes than statistics, or the replicated values were not kept.

        Examples
        --------
        >>> figure = check.plot()  # doctest: +SKIP
        >>> figure.savefig("ppc.png")  # doctest: +SKIP
        """
        if self.replicated_statistics is None:
            raise ValueError("plot needs the replicated values (replicated_statistics is None)")
        n = len(self.table)
        if ax is None:
            from matplotlib.figure import Figure

            columns = min(4, n)
            rows = math.ceil(n / columns)
            figure = Figure(figsize=(3.2 * columns, 2.5 * rows), layout="constrained")
            grid = figure.subplots(rows, columns, squeeze=False).ravel()
            for extra in grid[n:]:
                figure.delaxes(extra)
            axes = list(grid[:n])
        else:
            axes = list(ax)
            if len(axes) < n:
                raise ValueError(f"plot needs one axes per statistic ({n}), got {len(axes)}")
            root = axes[0].get_figure(root=True)
            if root is None:
                raise ValueError("the axes given are on no figure")
            figure = root
        for panel, row in zip(axes, self.table.itertuples(index=False), strict=False):
            values = self.replicated_statistics[row.statistic].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            bins = int(min(30, max(1, len(np.unique(values)))))
            panel.hist(values, bins=bins, color="0.7", edgecolor="0.4")
            if np.isfinite(row.observed):
                panel.axvline(row.observed, color="C3" if row.misfit else "C0", linewidth=2)
            panel.set_title(f"{row.statistic}\np = {row.p_value:.3f}", fontsize=9)
            panel.tick_params(labelsize=7)
            panel.set_yticks([])
        return figure


# --------------------------------------------------------------------------- warnings


def _warning(
    name: str,
    row: dict[str, Any],
    replicated: np.ndarray,
    model: str,
    per_annotator: pd.DataFrame,
    ci_prob: float,
) -> str:
    observed, p = row["observed"], row["p_value"]
    finite = replicated[np.isfinite(replicated)]
    above = p < 0.5  # a misfit's p is never 0.5
    beaten = (finite < observed) if above else (finite > observed)
    share = math.floor(100 * float(beaten.mean())) if len(finite) else 0
    if name in _STATISTICS:
        description = _STATISTICS[name][0]
    else:  # class_share[<class>]
        description = f"share of class {name.removeprefix('class_share[').removesuffix(']')!r}"
    numbers = (
        f"observed {description} {_fmt(observed)} is {'above' if above else 'below'} {share}% of "
        f"replicated tables (replicated {_fmt(row['replicated_mean'])} "
        f"[{_fmt(row['replicated_lo'])}, {_fmt(row['replicated_hi'])}], p = {p:.3f})"
    )
    symmetric = model in _SYMMETRIC_MODELS
    if name in _ITEM_REASONS:
        reason = _ITEM_REASONS[name][0 if above else 1]
        return f"{numbers}: {reason} — {_item_level_hint(model)}"
    if name.startswith("class_share["):
        return (
            f"{numbers}: the model does not reproduce how often this class is used — check the "
            "class prevalence prior and class-specific annotator bias"
        )
    if name == "annotators_outside":
        outside = per_annotator[per_annotator["outside"]]
        extreme = (0.5 - (outside["p_value"] - 0.5).abs()).sort_values(kind="stable")
        ids = ", ".join(str(i) for i in extreme.index[:5]) + (", ..." if len(extreme) > 5 else "")
        reason = (
            f"annotators agree with the others more or less than the model replicates ({ids}; "
            f"per-annotator p outside the {ci_prob:.0%} cut-offs, see per_annotator)"
        )
    elif name == "class_use_chi2":
        worst = per_annotator.sort_values(
            ["class_use_p_value", "class_use_discrepancy"], ascending=[True, False], kind="stable"
        )
        ids = ", ".join(str(i) for i in worst.index[:5])
        reason = f"annotators use the classes differently from what the model replicates (most: {ids})"
    else:  # agreement_sd
        reason = (
            "annotators differ in how often they agree with the others more than the model allows"
            if above
            else "annotators are more alike in agreement with the others than the model replicates"
        )
    if symmetric:
        return f"{numbers}: {reason} — {_CONFUSION_FAMILIES}"
    return (
        f"{numbers}: {reason} — look at those annotators in per_annotator (spam, drift: "
        "bl.annotator_profiles, bl.annotator_drift)"
    )


def _item_level_hint(model: str) -> str:
    """What to try when an item-level statistic misfits: the item-level families other than
    ``model``; a fit that is one of them is told that its own item-level part is the misfit."""
    others = [f"model={name!r} ({what})" for name, what in _ITEM_FAMILIES.items() if name != model]
    if model not in _ITEM_FAMILIES:
        return "try " + " or ".join(others)
    return (
        f"model={model!r} already models item-level variation, and its population of items does "
        f"not reproduce this: compare it with {others[0]} and model='dawid-skene' "
        "(bl.compare_models: LOO and gold log-loss)"
    )


# --------------------------------------------------------------------------- checks


def _validated(ann: Annotations, replicated: Any) -> np.ndarray:
    array = np.asarray(replicated)
    if array.ndim != 2:
        raise DataError(
            f"replicated must be a 2-D array (replicates × label rows), got shape {array.shape}; "
            "one row per replicated table, one column per row of ann.label"
        )
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"replicated must hold integer class codes, got dtype {array.dtype}")
    if array.shape[1] != ann.n_labels:
        raise DataError(
            f"replicated has {array.shape[1]} columns but the table has {ann.n_labels} label rows: "
            "one column per row of ann.label, in the same order"
        )
    if array.shape[0] < MIN_REPLICATES:
        raise DataError(
            f"only {array.shape[0]} replicated tables: predictive p-values need at least "
            f"{MIN_REPLICATES} (200 or more recommended); draw more replicates"
        )
    k = ann.n_classes
    if array.size and (array.min() < 0 or array.max() >= k):
        raise DataError(
            f"replicated holds class codes outside 0..{k - 1} (min {array.min()}, max {array.max()}; "
            f"{k} classes {list(ann.classes)})"
        )
    if not (ann.labels_per_item >= 2).any():
        raise DataError(
            "no item has two or more labels: the predictive checks compare labels of the same item"
        )
    return array.astype(np.int64, copy=False)


def predictive_check_from(
    ann: Annotations, replicated: np.ndarray, *, ci_prob: float = 0.9, model: str = ""
) -> PredictiveCheck:
    r"""Posterior predictive check of ``ann`` against replicated label tables (arrays only).

    Every statistic of `bayeslabels.predictive` is computed on the observed labels and on each
    replicate; ``p = P(T_rep > T_obs) + ½ P(T_rep = T_obs)`` (mid-p, 0.5 ideal).

    Parameters
    ----------
    ann : Annotations
        The observed table.
    replicated : numpy.ndarray
        Int class codes, replicates × label rows: ``replicated[r, n]`` replicates
        ``ann.label[n]`` (same item and annotator). At least 20 replicates (200 recommended).
    ci_prob : float, default 0.9
        Probability of the equal-tailed intervals, and the per-annotator cut-offs
        ``(1 − ci_prob)/2`` and ``1 − (1 − ci_prob)/2`` counted by ``annotators_outside``.
    model : str, default ""
        Name of the model that replicated the tables; it chooses what the warnings suggest.

    Returns
    -------
    PredictiveCheck

    Raises
    ------
    DataError
        If ``replicated`` is not 2-D ints with one column per label row, holds codes outside
        0..K−1, has fewer than 20 replicates, or no item has two labels.
    ValueError
        If ``ci_prob`` is not strictly between 0 and 1.

    Examples
    --------
    >>> import numpy as np
    >>> import bayeslabels as bl
    >>> from bayeslabels.predictive import predictive_check_from
    >>> ann = bl.simulate.dawid_skene(n_items=100, n_annotators=8, seed=0).annotations
    >>> check = predictive_check_from(ann, np.tile(ann.label, (50, 1)), model="dawid-skene")
    >>> check.replicates, check.ok
    (50, True)
    """
    ci_prob = check_ci_prob(ci_prob)
    replicated = _validated(ann, replicated)
    design = _Design(ann.item_idx, ann.annotator_idx, ann.n_items, ann.n_annotators, ann.n_classes)
    r, j, k = replicated.shape[0], design.n_annotators, design.n_classes
    tail = (1 - ci_prob) / 2

    observed = _block_statistics(design, ann.label[None, :])
    # E_jk: mean replicated class counts per annotator, floored at half a label over all replicates
    totals = np.zeros(j * k)
    for start in range(0, r, design.block):
        chunk = replicated[start : start + design.block]
        totals += np.bincount((design.annotator_idx * k + chunk).ravel(), minlength=j * k)
    expected = np.maximum(totals.reshape(j, k) / r, 0.5 / r)

    def class_use(class_counts: np.ndarray) -> np.ndarray:  # B × J terms of the discrepancy
        return ((class_counts - expected) ** 2 / expected).sum(axis=2)

    scalar_names = [name for name in _STATISTICS if name not in ("annotators_outside", "class_use_chi2")]
    scalars = {name: np.empty(r) for name in scalar_names}
    shares = np.empty((r, k))
    agreement = np.empty((r, j))
    class_terms = np.empty((r, j))
    pairable = design.pairable
    same_observed = observed["same"][0]
    disagreement_sum = np.zeros(len(pairable))
    more = np.zeros(len(pairable))  # replicates with more disagreement (fewer agreeing pairs)
    tied = np.zeros(len(pairable))
    for start in range(0, r, design.block):
        block = _block_statistics(design, replicated[start : start + design.block])
        stop = start + len(block["same"])
        for name in scalar_names:
            scalars[name][start:stop] = block[name]
        shares[start:stop] = block["class_share"]
        agreement[start:stop] = block["agreement"]
        class_terms[start:stop] = class_use(block["class_counts"])
        disagreement_sum += block["disagreement"].sum(axis=0)
        more += (block["same"] < same_observed).sum(axis=0)
        tied += (block["same"] == same_observed).sum(axis=0)

    # per annotator
    observed_agreement = observed["agreement"][0]
    agreement_p = _mid_p(agreement, observed_agreement)
    agreement_mean, agreement_lo, agreement_hi = _interval(agreement, ci_prob)
    outside = (agreement_p < tail) | (agreement_p > 1 - tail)
    observed_terms = class_use(observed["class_counts"])[0]
    has_agreement = np.isfinite(observed_agreement)

    values = {name: (float(observed[name][0]), scalars[name]) for name in scalar_names}
    values["annotators_outside"] = (
        float(outside.sum()),
        _loo_outside(agreement[:, has_agreement], tail, 1 - tail),
    )
    values["class_use_chi2"] = (float(observed_terms.sum()), class_terms.sum(axis=1))
    for c, name in enumerate(ann.classes):
        values[f"class_share[{name}]"] = (float(observed["class_share"][0, c]), shares[:, c])

    names = list(values)
    stacked = np.column_stack([values[name][1] for name in names])
    observed_row = np.array([values[name][0] for name in names])
    mean, lo, hi = _interval(stacked, ci_prob)
    p_values = _mid_p(stacked, observed_row)
    two_sided = np.array([_STATISTICS.get(name, ("", "", True))[2] for name in names])
    extreme = (p_values < MISFIT_P) | (two_sided & (p_values > 1 - MISFIT_P))
    misfit = np.where(np.isfinite(p_values), extreme, False)
    table = pd.DataFrame(
        {
            "statistic": names,
            "observed": observed_row,
            "replicated_mean": mean,
            "replicated_lo": lo,
            "replicated_hi": hi,
            "p_value": p_values,
            "misfit": misfit.astype(bool),
        }
    )

    n_i = design.per_item
    item_values = np.full(design.n_items, np.nan)
    item_mean, item_p = item_values.copy(), item_values.copy()
    item_values[pairable] = observed["disagreement"][0]
    item_mean[pairable] = disagreement_sum / r
    item_p[pairable] = (more + 0.5 * tied) / r
    per_item = pd.DataFrame(
        {
            "n_labels": n_i,
            "observed_disagreement": item_values,
            "replicated_mean": item_mean,
            "p_value": item_p,
        },
        index=pd.Index(ann.items, name="item"),
    )
    n_j = ann.labels_per_annotator
    with np.errstate(invalid="ignore", divide="ignore"):
        own_shares = observed["class_counts"][0] / np.where(n_j > 0, n_j, np.nan)[:, None]
    per_annotator = pd.DataFrame(
        {
            "n_labels": n_j,
            "observed_agreement": observed_agreement,
            "replicated_mean": agreement_mean,
            "replicated_lo": agreement_lo,
            "replicated_hi": agreement_hi,
            "p_value": agreement_p,
            "outside": outside,
            "class_use_discrepancy": observed_terms,
            "class_use_p_value": _mid_p(class_terms, observed_terms),
            **{f"share_{name}": own_shares[:, c] for c, name in enumerate(ann.classes)},
        },
        index=pd.Index(ann.annotators, name="annotator"),
    )
    records = table.to_dict(orient="records")
    warnings = [
        _warning(name, row, stacked[:, column], model, per_annotator, ci_prob)
        for column, (name, row) in enumerate(zip(names, records, strict=True))
        if row["misfit"]
    ]
    return PredictiveCheck(
        table=table,
        per_item=per_item,
        per_annotator=per_annotator,
        replicates=r,
        model=model,
        warnings=warnings,
        ci_prob=ci_prob,
        replicated_statistics=pd.DataFrame(stacked, columns=pd.Index(names, name="statistic")),
    )


def predictive_check(fit: Fit, draws: int = 200, seed: int = 0, ci_prob: float = 0.9) -> PredictiveCheck:
    """Posterior predictive check of a fitted model: do its replicated label tables look like the data?

    Draws ``draws`` replicated tables with ``fit.replicated_labels`` (the observed design, labels
    drawn from the posterior) and compares per-item disagreement (mean, variance, unanimous
    share), Fleiss' κ, per-annotator agreement and class use, and the class shares, each by its
    mid-p-value ``P(T_rep > T_obs) + ½ P(T_rep = T_obs)``; see `bayeslabels.predictive`.

    Parameters
    ----------
    fit : Fit
        A fitted model.
    draws : int, default 200
        Replicated tables (at least 20).
    seed : int, default 0
        Seed of the replication.
    ci_prob : float, default 0.9
        Probability of the reported intervals and of the per-annotator cut-offs.

    Returns
    -------
    PredictiveCheck
        The table of statistics, per-item and per-annotator detail, and a warning for each
        misfit naming the model families to try.

    Raises
    ------
    DataError
        If the replicates are unusable (see `predictive_check_from`).

    Examples
    --------
    >>> import bayeslabels as bl
    >>> fit = bl.fit(bl.datasets.load("rte"), model="dawid-skene", method="nuts")  # doctest: +SKIP
    >>> check = bl.predictive_check(fit, draws=200)  # doctest: +SKIP
    >>> print(check)  # doctest: +SKIP
    >>> check.ok, check.warnings  # doctest: +SKIP
    """
    replicated = fit.replicated_labels(draws=draws, seed=seed)
    return predictive_check_from(fit.annotations, replicated, ci_prob=ci_prob, model=str(fit.spec.model))
