r"""How much, and where, annotators disagree — from the labels alone, before any model.

* **Fleiss' κ** (Fleiss 1971), with a variable number of labels per item as in Gwet (2014):

  .. math::

      P_a = \operatorname{mean}_{i:\,n_i\ge2} \sum_k \frac{n_{ik}(n_{ik}-1)}{n_i(n_i-1)},\quad
      \pi_k = \operatorname{mean}_{i:\,n_i\ge1} \frac{n_{ik}}{n_i},\quad
      \kappa = \frac{P_a - \sum_k \pi_k^2}{1 - \sum_k \pi_k^2};

  with the same number of labels on every item this is Fleiss' κ exactly.
* **Krippendorff's α** (Krippendorff 2011) from the coincidence matrix of pairable values,
  ``o_ck = Σ_u (n_uc n_uk − [c = k] n_uc)/(m_u − 1)`` over units with ``m_u ≥ 2`` values:
  ``α = 1 − (n − 1) Σ o_ck δ²_ck / Σ n_c n_k δ²_ck`` (``n_c = Σ_k o_ck``). Missing cells and any
  number of labels per item are the normal case; ``δ²`` is nominal, ordinal or interval.
* **Cohen's κ** for every pair of annotators on the items both labelled (as scikit-learn's
  ``cohen_kappa_score``), all pairs at once from one sparse product.
* Per item: vote shares, top share, pairwise agreement, entropy. Per annotator: accuracy and
  bias against the leave-one-out consensus of the *other* annotators on the same items,
  volume, speed and drift (with timestamps).

Repeated labels by one annotator on one item count as separate values in κ and α (as the
data were given) and the last one counts for Cohen's κ; the leave-one-out consensus drops
all of an annotator's own labels on the item.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._checks import check_ci_prob
from ._resample import BOOTSTRAP, bootstrap, percentile_interval, records, wilson
from .data import Annotations
from .errors import DataError
from .ingest import positive_code

Level = Literal["nominal", "ordinal", "interval"]


# --------------------------------------------------------------------------- coefficients


def _counts(data: Annotations | np.ndarray) -> np.ndarray:
    if isinstance(data, Annotations):
        return data.label_counts().astype(float)
    counts = np.asarray(data, dtype=float)
    if counts.ndim != 2 or counts.shape[1] < 2 or (counts < 0).any() or not np.isfinite(counts).all():
        raise DataError("counts must be an items × classes table of non-negative label counts (≥ 2 classes)")
    return counts


def _weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    """Replicates × items weights (one row of ones when none are given)."""
    return np.ones((1, n)) if weights is None else np.atleast_2d(weights)


def _fleiss_parts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = counts.sum(axis=1)
    labelled, pairable = n >= 1, n >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        per_item = np.where(pairable, (counts * (counts - 1)).sum(axis=1) / (n * (n - 1)), 0.0)
        shares = np.where(labelled[:, None], counts / np.where(labelled, n, 1)[:, None], 0.0)
    return per_item, pairable.astype(float), shares, labelled.astype(float)


def _fleiss(counts: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(κ, P_a) per row of ``weights``."""
    per_item, pairable, shares, labelled = _fleiss_parts(counts)
    w = _weights(weights, len(counts))
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = (w @ per_item) / (w @ pairable)
        pi = (w @ shares) / (w @ labelled)[:, None]
        expected = (pi**2).sum(axis=1)
        return (observed - expected) / (1 - expected), observed


def fleiss_kappa(data: Annotations | np.ndarray) -> float:
    """Fleiss' κ of an `Annotations` or an items × classes count table.

    Variable counts per item are allowed (see the module docstring); items with fewer than
    two labels carry no agreement.

    Parameters
    ----------
    data : Annotations or numpy.ndarray
        A label table, or an items × classes table of non-negative label counts.

    Returns
    -------
    float
        Fleiss' κ.

    Raises
    ------
    DataError
        If a count table is not items × classes (≥ 2 classes) of non-negative counts.

    Examples
    --------
    >>> import numpy as np
    >>> import bayeslabels as bl
    >>> round(bl.fleiss_kappa(bl.datasets.load("bluebirds")), 3)
    0.125
    >>> round(bl.fleiss_kappa(np.array([[3, 0], [2, 1], [0, 3]])), 3)
    0.55
    """
    counts = _counts(data)
    if not (counts.sum(axis=1) >= 2).any():
        return float("nan")
    return float(_fleiss(counts)[0][0])


def _class_values(classes: Sequence[Any] | pd.Index, values: np.ndarray | None) -> np.ndarray:
    if values is not None:
        return np.asarray(values, dtype=float)
    try:
        return np.asarray([float(c) for c in classes], dtype=float)
    except (TypeError, ValueError):
        return np.arange(len(classes), dtype=float)


def _unit_coincidences(counts: np.ndarray) -> sp.csr_matrix:
    """Items × K² per-unit coincidences ``(n_uc n_uk − [c = k] n_uc)/(m_u − 1)`` (none if m_u < 2),
    sparse: a unit only pairs the values it holds."""
    n_units, k = counts.shape
    m = counts.sum(axis=1)
    unit, value = np.nonzero(counts * (m >= 2)[:, None])
    held = pd.DataFrame({"u": unit, "v": value, "n": counts[unit, value]})
    pairs = held.merge(held, on="u")  # every (c, k) pair of values a unit holds
    u, c, kk = pairs["u"].to_numpy(), pairs["v_x"].to_numpy(), pairs["v_y"].to_numpy()
    weight = pairs["n_x"].to_numpy() * pairs["n_y"].to_numpy() - np.where(c == kk, pairs["n_x"].to_numpy(), 0)
    return sp.csr_matrix((weight / (m[u] - 1), (u, c * k + kk)), shape=(n_units, k * k))


def _alpha(
    counts: np.ndarray, level: Level, values: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    k = counts.shape[1]
    units = _unit_coincidences(counts)
    coincidence = np.asarray((units.T @ _weights(weights, len(counts)).T).T).reshape(-1, k, k)
    marginal = coincidence.sum(axis=2)  # replicates × K
    total = marginal.sum(axis=1)
    if level == "nominal":
        delta = np.broadcast_to(1.0 - np.eye(k), coincidence.shape)
    elif level == "interval":
        delta = np.broadcast_to((values[:, None] - values[None, :]) ** 2, coincidence.shape)
    elif level == "ordinal":
        cum = np.cumsum(marginal, axis=1)
        low, high = np.minimum.outer(np.arange(k), np.arange(k)), np.maximum.outer(np.arange(k), np.arange(k))
        before = np.where(low > 0, cum[:, np.maximum(low - 1, 0)], 0.0)
        between = cum[:, high] - before
        delta = (between - (marginal[:, :, None] + marginal[:, None, :]) / 2) ** 2
    else:
        raise ValueError(f"level must be 'nominal', 'ordinal' or 'interval', not {level!r}")
    observed = (coincidence * delta).sum(axis=(1, 2))
    expected = (marginal[:, :, None] * marginal[:, None, :] * delta).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - (total - 1) * observed / expected


def krippendorff_alpha(
    data: Annotations | np.ndarray, level: Level = "nominal", values: np.ndarray | None = None
) -> float:
    """Krippendorff's α of an `Annotations` or a units × values count table.

    Units with fewer than two values are not pairable.

    Parameters
    ----------
    data : Annotations or numpy.ndarray
        A label table, or a units × values table of non-negative counts.
    level : {"nominal", "ordinal", "interval"}, default "nominal"
        ``"nominal"`` (δ² = [c ≠ k]), ``"ordinal"`` (ranks in class order) or
        ``"interval"`` (δ² = (v_c − v_k)² with ``values``).
    values : numpy.ndarray, optional
        The classes' numeric values for ``"interval"``; default the class names as numbers
        when they all are, else their positions.

    Returns
    -------
    float
        Krippendorff's α.

    Raises
    ------
    DataError
        If a count table is not units × values (≥ 2 values) of non-negative counts.
    ValueError
        If ``level`` is not one of the three above.

    Examples
    --------
    >>> import numpy as np
    >>> import bayeslabels as bl
    >>> round(bl.krippendorff_alpha(bl.datasets.load("bluebirds")), 3)
    0.126
    >>> round(bl.krippendorff_alpha(np.array([[3, 0], [2, 1], [0, 3]])), 3)
    0.6
    >>> dog = bl.datasets.load("dog")
    >>> bl.krippendorff_alpha(dog, level="ordinal") != bl.krippendorff_alpha(dog)
    True
    """
    counts = _counts(data)
    classes = data.classes if isinstance(data, Annotations) else range(counts.shape[1])
    return float(_alpha(counts, level, _class_values(classes, values))[0])


def pairwise_cohen_kappa(ann: Annotations, min_overlap: int = 1) -> pd.DataFrame:
    """Cohen's κ for every pair of annotators sharing at least ``min_overlap`` items.

    Parameters
    ----------
    ann : Annotations
        The label table.
    min_overlap : int, default 1
        Fewest items a pair must both have labelled to get a row.

    Returns
    -------
    pandas.DataFrame
        Columns: ``annotator_a``, ``annotator_b`` (a before b in annotator order),
        ``n_items`` (items both labelled), ``agreement`` (share of those items with the same
        label) and ``cohen_kappa`` (NaN when chance agreement is 1, as when both only ever
        used one class).

    Examples
    --------
    >>> import bayeslabels as bl
    >>> pairs = bl.pairwise_cohen_kappa(bl.datasets.load("bluebirds"))
    >>> len(pairs)  # 39 annotators, all on every item: 39 * 38 / 2 pairs
    741
    >>> pairs.round(3).head(2)
      annotator_a annotator_b  n_items  agreement  cohen_kappa
    0          39          97      108      0.611        0.167
    1          39         175      108      0.454        0.130
    """
    k, n_annotators = ann.n_classes, ann.n_annotators
    rows = pd.DataFrame({"i": ann.item_idx, "a": ann.annotator_idx, "l": ann.label})
    rows = rows.drop_duplicates(["i", "a"], keep="last")
    item, who, label = rows["i"].to_numpy(), rows["a"].to_numpy(), rows["l"].to_numpy()
    ones = np.ones(len(rows))
    said = sp.csr_matrix((ones, (item, who * k + label)), shape=(ann.n_items, n_annotators * k))
    labelled = sp.csr_matrix((ones, (item, who)), shape=(ann.n_items, n_annotators))
    overlap = (labelled.T @ labelled).tocoo()  # items two annotators share
    keep = (overlap.row < overlap.col) & (overlap.data >= min_overlap)
    order = np.lexsort((overlap.col[keep], overlap.row[keep]))
    first, second, n = overlap.row[keep][order], overlap.col[keep][order], overlap.data[keep][order]
    # margin[a·K + c, b]: items a labelled c among those b labelled too; same[a·K + c, b·K + c]: both said c
    margin = (said.T @ labelled).tocsr()
    same = (said.T @ said).tocsr()
    grid = np.arange(k)[None, :]
    a_cells, b_cells = first[:, None] * k + grid, second[:, None] * k + grid  # pairs × K

    def gather(matrix: sp.csr_matrix, rows_: np.ndarray, cols: np.ndarray) -> np.ndarray:
        rows_, cols = np.broadcast_arrays(rows_, cols)
        return np.asarray(matrix[rows_.ravel(), cols.ravel()]).reshape(rows_.shape)

    agree = gather(same, a_cells, b_cells).sum(axis=1)
    a_margin = gather(margin, a_cells, second[:, None])
    b_margin = gather(margin, b_cells, first[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = agree / n
        expected = (a_margin * b_margin).sum(axis=1) / n**2
        kappa = np.where(np.isclose(expected, 1), np.nan, (observed - expected) / (1 - expected))
    names = np.asarray(ann.annotators, dtype=object)
    return pd.DataFrame(
        {
            "annotator_a": pd.array(names[first], dtype="string"),
            "annotator_b": pd.array(names[second], dtype="string"),
            "n_items": n.astype(np.int64),
            "agreement": observed,
            "cohen_kappa": kappa,
        }
    )


# --------------------------------------------------------------------------- per item


def item_agreement(ann: Annotations) -> pd.DataFrame:
    """Per-item agreement from the vote shares.

    Parameters
    ----------
    ann : Annotations
        The label table.

    Returns
    -------
    pandas.DataFrame
        One row per item: ``item``, ``n_labels``, ``majority`` (top class; first in class
        order on ties), ``tied``, ``top_share`` (share of labels on the top class),
        ``pairwise_agreement`` (share of agreeing label pairs, NaN below 2 labels) and
        ``entropy`` of the vote shares (nats).

    Examples
    --------
    >>> import bayeslabels as bl
    >>> bl.item_agreement(bl.datasets.load("bluebirds")).round(3).head(2)
        item  n_labels majority   tied  top_share  pairwise_agreement  entropy
    0  11573        39     true  False      0.692               0.563    0.617
    1  11574        39    false  False      0.513               0.487    0.693
    """
    counts = ann.label_counts().astype(float)
    n = counts.sum(axis=1)
    per_item = _fleiss_parts(counts)[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = counts / n[:, None]
        terms = np.where(counts > 0, shares * np.log(np.where(counts > 0, shares, 1)), 0.0)
        entropy = 0.0 - terms.sum(axis=1)  # 0.0 - x: never -0.0
    top = counts.max(axis=1)
    names = np.asarray(ann.classes, dtype=object)
    has = n > 0
    # numpy's stubs leave None (an object scalar) out of where()'s arguments
    majority = np.where(has, names[counts.argmax(axis=1)], None)  # type: ignore[call-overload]
    return pd.DataFrame(
        {
            "item": pd.array(np.asarray(ann.items, dtype=object), dtype="string"),
            "n_labels": n.astype(np.int64),
            "majority": pd.array(majority, dtype="string"),
            "tied": ((counts == top[:, None]).sum(axis=1) > 1) & has,
            "top_share": np.where(has, top / np.where(has, n, 1), np.nan),
            "pairwise_agreement": np.where(n >= 2, per_item, np.nan),
            "entropy": np.where(has, entropy, np.nan),
        }
    )


def redundancy(ann: Annotations) -> pd.DataFrame:
    """Histogram of labels per item: ``n_labels``, ``n_items``, ``share`` (of all items)."""
    per_item = ann.labels_per_item
    counts = np.bincount(per_item)
    present = np.flatnonzero(counts)
    return pd.DataFrame(
        {
            "n_labels": present.astype(np.int64),
            "n_items": counts[present].astype(np.int64),
            "share": counts[present] / len(per_item),
        }
    )


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True, eq=False)
class AgreementReport:
    """Chance-corrected agreement of a label table, from `agreement`.

    ``print(report)`` gives a readable summary; `fleiss_kappa` and `krippendorff_alpha` are
    the point estimates.

    Attributes
    ----------
    n_items, n_annotators, n_labels : int
        Size of the label table.
    classes : tuple of str
        The class names.
    level : str
        The level of Krippendorff's α.
    ci_prob : float
        Probability of the bootstrap intervals.
    coefficients : pandas.DataFrame
        One row each for ``fleiss_kappa``, ``krippendorff_alpha`` and
        ``observed_agreement`` (P_a), with ``estimate``, ``lo``, ``hi`` (percentile bootstrap
        over items), ``method`` and ``n_items`` (items with ≥ 2 labels).
    pairwise : pandas.DataFrame
        Cohen's κ per annotator pair (`pairwise_cohen_kappa`).
    items : pandas.DataFrame
        `item_agreement`.
    redundancy : pandas.DataFrame
        Labels-per-item histogram.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> report = bl.agreement(bl.datasets.load("bluebirds"), n_boot=200)
    >>> round(report.fleiss_kappa, 3), report.redundancy_bins()
    (0.125, {'1': 0, '2': 0, '3+': 108})
    """

    n_items: int
    n_annotators: int
    n_labels: int
    classes: tuple[str, ...]
    level: str
    ci_prob: float
    coefficients: pd.DataFrame
    pairwise: pd.DataFrame
    items: pd.DataFrame
    redundancy: pd.DataFrame

    def _estimate(self, name: str) -> float:
        return float(self.coefficients.set_index("coefficient").loc[name, "estimate"])

    @property
    def fleiss_kappa(self) -> float:
        return self._estimate("fleiss_kappa")

    @property
    def krippendorff_alpha(self) -> float:
        return self._estimate("krippendorff_alpha")

    def redundancy_bins(self) -> dict[str, int]:
        """Items with 0 (only if any), 1, 2 and 3+ labels.

        Returns
        -------
        dict of str to int
            Keys ``"0"`` (only when some item has no label), ``"1"``, ``"2"`` and ``"3+"``.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> bl.agreement(bl.datasets.load("bluebirds"), n_boot=200).redundancy_bins()
        {'1': 0, '2': 0, '3+': 108}
        """
        hist = self.redundancy.set_index("n_labels")["n_items"]
        bins = {"1": int(hist.get(1, 0)), "2": int(hist.get(2, 0)), "3+": int(hist[hist.index >= 3].sum())}
        if 0 in hist.index:
            bins = {"0": int(hist[0]), **bins}
        return bins

    def cohen_matrix(self) -> pd.DataFrame:
        """Annotator × annotator Cohen's κ.

        Symmetric, 1 on the diagonal; NaN where two annotators share no item.

        Returns
        -------
        pandas.DataFrame
            Index and columns: the annotators.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> bl.agreement(bl.datasets.load("bluebirds"), n_boot=200).cohen_matrix().shape
        (39, 39)
        """
        pairs = self.pairwise
        names = pd.unique(pd.concat([pairs["annotator_a"], pairs["annotator_b"]]).to_numpy())
        both = pd.concat(
            [pairs, pairs.rename(columns={"annotator_a": "annotator_b", "annotator_b": "annotator_a"})]
        )
        matrix = both.pivot(index="annotator_a", columns="annotator_b", values="cohen_kappa")
        matrix = matrix.reindex(index=names, columns=names)
        matrix.index.name, matrix.columns.name = "annotator", "annotator"
        for name in names:
            matrix.loc[name, name] = 1.0
        return matrix

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values.

        Returns
        -------
        dict
            Counts, classes, level, ``ci_prob``, the coefficients and redundancy as records,
            `redundancy_bins`, a summary of the pairwise Cohen's κ (``n_pairs``, ``median``,
            median over pairs sharing ≥ 10 items) and ``mean_item_entropy``; non-finite numbers
            become None.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> summary = bl.agreement(bl.datasets.load("bluebirds"), n_boot=200).to_dict()
        >>> summary["n_items"], summary["pairwise_cohen_kappa"]["n_pairs"]
        (108, 741)
        """
        kappas = self.pairwise["cohen_kappa"]
        return {
            "n_items": self.n_items,
            "n_annotators": self.n_annotators,
            "n_labels": self.n_labels,
            "classes": list(self.classes),
            "level": self.level,
            "ci_prob": self.ci_prob,
            "coefficients": records(self.coefficients),
            "redundancy": records(self.redundancy),
            "redundancy_bins": self.redundancy_bins(),
            "pairwise_cohen_kappa": {
                "n_pairs": int(len(self.pairwise)),
                "median": _plain_float(kappas.median()),
                "median_over_pairs_with_10_items": _plain_float(
                    kappas[self.pairwise["n_items"] >= 10].median()
                ),
            },
            "mean_item_entropy": _plain_float(self.items["entropy"].mean()),
        }

    def __str__(self) -> str:
        bins = ", ".join(f"{k}: {v}" for k, v in self.redundancy_bins().items())
        lines = [
            f"{self.n_labels} labels, {self.n_items} items, {self.n_annotators} annotators, "
            f"classes {list(self.classes)}",
            f"labels per item: {bins} (median {np.median(self.items['n_labels']):g})",
            f"agreement ({self.ci_prob:.0%} intervals, {BOOTSTRAP} over items):",
        ]
        for row in self.coefficients.itertuples():
            label = {"krippendorff_alpha": f"Krippendorff α ({self.level})"}.get(
                row.coefficient, row.coefficient.replace("_", " ").replace("fleiss kappa", "Fleiss κ")
            )
            lines.append(f"  {label:<26} {row.estimate:7.3f}  [{row.lo:.3f}, {row.hi:.3f}]")
        wide = self.pairwise[self.pairwise["n_items"] >= 10]
        if len(wide):
            lines.append(
                f"  pairwise Cohen κ           median {wide['cohen_kappa'].median():.3f} over {len(wide)} "
                "annotator pairs sharing ≥ 10 items"
            )
        lines.append(f"  mean vote entropy          {self.items['entropy'].mean():7.3f} nats per item")
        return "\n".join(lines)


def _plain_float(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def agreement(
    ann: Annotations,
    *,
    level: Level | None = None,
    ci_prob: float = 0.95,
    n_boot: int = 1000,
    seed: int | np.random.Generator | None = 0,
) -> AgreementReport:
    """Agreement of a label table, with bootstrap intervals.

    Fleiss' κ, Krippendorff's α (``level``) and the observed pairwise agreement, each with a
    percentile-bootstrap interval over items (``n_boot`` replicates, seeded), plus pairwise
    Cohen's κ, per-item agreement and the redundancy histogram.

    Parameters
    ----------
    ann : Annotations
        The label table.
    level : {"nominal", "ordinal", "interval"}, optional
        Level of Krippendorff's α (see `krippendorff_alpha`); default ``"ordinal"`` for
        ordered classes (``ann.ordered``), else ``"nominal"``.
    ci_prob : float, default 0.95
        Probability of the intervals.
    n_boot : int, default 1000
        Bootstrap replicates.
    seed : int, numpy.random.Generator or None, default 0
        Seed of the bootstrap.

    Returns
    -------
    AgreementReport

    Raises
    ------
    DataError
        If ``ann`` is not an `Annotations`, or no item has two or more labels.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> report = bl.agreement(bl.datasets.load("bluebirds"), n_boot=200)
    >>> report.coefficients.round(3)
              coefficient  estimate     lo     hi                method  n_items
    0        fleiss_kappa     0.125  0.103  0.147  bootstrap-percentile      108
    1  krippendorff_alpha     0.126  0.103  0.147  bootstrap-percentile      108
    2  observed_agreement     0.588  0.573  0.608  bootstrap-percentile      108
    >>> print(report)  # doctest: +ELLIPSIS
    4212 labels, 108 items, 39 annotators, classes ['false', 'true']
    labels per item: 1: 0, 2: 0, 3+: 108 (median 39)
    agreement (95% intervals, bootstrap-percentile over items):
      Fleiss κ                     0.125  [0.103, 0.147]
    ...
    """
    if not isinstance(ann, Annotations):
        raise DataError(f"agreement() needs an Annotations, got {type(ann).__name__}")
    ci_prob = check_ci_prob(ci_prob)
    counts = ann.label_counts().astype(float)
    counts = counts[counts.sum(axis=1) > 0]  # resample labelled items only
    values = _class_values(ann.classes, None)
    level = level or ("ordinal" if ann.ordered else "nominal")
    n_pairable = int((counts.sum(axis=1) >= 2).sum())
    if n_pairable == 0:
        raise DataError("no item has two or more labels: agreement needs items labelled more than once")

    def statistic(weights: np.ndarray | None) -> np.ndarray:
        kappa, observed = _fleiss(counts, weights)
        return np.column_stack([kappa, _alpha(counts, level, values, weights), observed])

    estimate = statistic(None)[0]
    lo, hi = percentile_interval(bootstrap(statistic, len(counts), n_boot, seed), ci_prob)
    coefficients = pd.DataFrame(
        {
            "coefficient": ["fleiss_kappa", "krippendorff_alpha", "observed_agreement"],
            "estimate": estimate,
            "lo": lo,
            "hi": hi,
            "method": BOOTSTRAP,
            "n_items": n_pairable,
        }
    )
    return AgreementReport(
        n_items=ann.n_items,
        n_annotators=ann.n_annotators,
        n_labels=ann.n_labels,
        classes=tuple(ann.classes),
        level=level,
        ci_prob=ci_prob,
        coefficients=coefficients,
        pairwise=pairwise_cohen_kappa(ann),
        items=item_agreement(ann),
        redundancy=redundancy(ann),
    )


# --------------------------------------------------------------------------- per annotator


@dataclass(frozen=True)
class _LeaveOneOut:
    """Each label row against the other annotators' soft majority on its item (ties split
    evenly; all of the row's annotator's own labels on the item left out)."""

    compared: np.ndarray  # bool per row: another annotator labelled the item
    credit: np.ndarray  # consensus weight on the row's label (accuracy credit)
    agreement: np.ndarray  # share of the other labels equal to the row's label
    table: np.ndarray  # annotators × label × consensus class: summed consensus weights


_BLOCK_CELLS = 4_000_000  # rows × K cells per block of the leave-one-out pass


def _leave_one_out(ann: Annotations) -> _LeaveOneOut:
    k, n_rows, n_annotators = ann.n_classes, ann.n_labels, ann.n_annotators
    counts = ann.label_counts().astype(float)
    eye = np.eye(k)
    # an annotator's repeated labels on one item: all of them are "own", none are "others"
    pair = ann.item_idx.astype(np.int64) * n_annotators + ann.annotator_idx
    _, pair_code, pair_size = np.unique(pair, return_inverse=True, return_counts=True)
    repeated = pair_size[pair_code] > 1
    repeat_code = np.full(len(pair_size), -1)
    repeat_code[pair_size > 1] = np.arange(int((pair_size > 1).sum()))
    own_extra = np.zeros((int((pair_size > 1).sum()), k))
    np.add.at(own_extra, (repeat_code[pair_code[repeated]], ann.label[repeated]), 1.0)

    compared = np.zeros(n_rows, dtype=bool)
    credit = np.zeros(n_rows)
    agreement = np.full(n_rows, np.nan)
    table = np.zeros((n_annotators * k, k))
    step = max(1, _BLOCK_CELLS // k)
    for start in range(0, n_rows, step):  # blocks of rows bound the memory, not a loop over items
        rows = slice(start, min(start + step, n_rows))
        label = ann.label[rows]
        others = counts[ann.item_idx[rows]] - eye[label]
        dup = repeated[rows]
        if dup.any():
            others[dup] -= own_extra[repeat_code[pair_code[rows][dup]]] - eye[label[dup]]
        n_others = others.sum(axis=1)
        seen = n_others > 0
        is_top = (others == others.max(axis=1, keepdims=True)) & seen[:, None]
        consensus = is_top / np.maximum(is_top.sum(axis=1, keepdims=True), 1)
        local = np.arange(len(label))
        compared[rows], credit[rows] = seen, consensus[local, label]
        with np.errstate(invalid="ignore", divide="ignore"):
            agreement[rows] = np.where(seen, others[local, label] / n_others, np.nan)
        cells = ann.annotator_idx[rows] * k + label
        for c in range(k):  # loop over classes
            table[:, c] += np.bincount(cells, weights=consensus[:, c], minlength=n_annotators * k)
    return _LeaveOneOut(compared, credit, agreement, table.reshape(n_annotators, k, k))


def _per_annotator(ann: Annotations, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    weights = values if mask is None else np.where(mask, values, 0.0)
    return np.bincount(ann.annotator_idx, weights=weights, minlength=ann.n_annotators)


def annotator_profiles(
    ann: Annotations,
    *,
    positive: Hashable | None = None,
    ci_prob: float = 0.95,
    too_fast: float = 2.0,
    session_gap: float = 1800.0,
    windows: int = 4,
    min_window_labels: int = 10,
) -> pd.DataFrame:
    """One row per annotator, scored against the leave-one-out consensus.

    The consensus is the majority of the *other* annotators' labels on the same item; ties
    split the credit evenly.

    Parameters
    ----------
    ann : Annotations
        The label table.
    positive : hashable, optional
        Two classes: the positive class, a class name, or True / None for the second class,
        as in `evaluate`.
    ci_prob : float, default 0.95
        Probability of the Wilson intervals.
    too_fast : float, default 2.0
        Gaps under this many seconds count towards ``too_fast_share``.
    session_gap : float, default 1800.0
        Gaps over this many seconds are breaks, not labelling time.
    windows : int, default 4
        Equal-count time windows for ``drift``.
    min_window_labels : int, default 10
        Fewest compared labels for a window to count in ``drift``.

    Returns
    -------
    pandas.DataFrame
        Columns: ``annotator``, ``n_labels``, ``n_items``, ``n_compared`` (labels on items
        someone else also labelled), ``accuracy`` with Wilson ``accuracy_lo`` /
        ``accuracy_hi``, ``agreement`` (share of the other labels on the same items that
        match). Two classes: ``positive_rate``, ``consensus_positive_rate`` and
        ``positive_bias`` (their difference); more classes: ``bias_<class>`` per class.
        With timestamps: ``median_seconds`` between an annotator's consecutive labels (gaps
        over ``session_gap`` seconds are breaks, not labelling time), ``too_fast_share``
        (gaps under ``too_fast`` seconds) and ``drift`` (accuracy in the last minus the first
        of ``windows`` equal-count time windows, using windows with ≥ ``min_window_labels``
        compared labels).

    Examples
    --------
    >>> import bayeslabels as bl
    >>> profiles = bl.annotator_profiles(bl.datasets.load("bluebirds"))
    >>> len(profiles), list(profiles.columns[-3:])
    (39, ['positive_rate', 'consensus_positive_rate', 'positive_bias'])
    >>> list(bl.annotator_profiles(bl.datasets.load("dog")).columns[-4:])
    ['bias_0', 'bias_1', 'bias_2', 'bias_3']
    """
    ci_prob = check_ci_prob(ci_prob)
    loo = _leave_one_out(ann)
    compared = loo.compared.astype(float)
    n_compared = _per_annotator(ann, compared)
    correct = _per_annotator(ann, loo.credit)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n_compared > 0, correct / n_compared, np.nan)
        agreement = _per_annotator(ann, np.nan_to_num(loo.agreement)) / np.where(
            n_compared > 0, n_compared, np.nan
        )
    lo, hi = wilson(correct, n_compared, ci_prob)
    n_items = (
        pd.DataFrame({"a": ann.annotator_idx, "i": ann.item_idx}).drop_duplicates().groupby("a").size()
    ).reindex(range(ann.n_annotators), fill_value=0)
    frame = pd.DataFrame(
        {
            "annotator": pd.array(np.asarray(ann.annotators, dtype=object), dtype="string"),
            "n_labels": ann.labels_per_annotator.astype(np.int64),
            "n_items": n_items.to_numpy().astype(np.int64),
            "n_compared": n_compared.astype(np.int64),
            "accuracy": accuracy,
            "accuracy_lo": lo,
            "accuracy_hi": hi,
            "agreement": agreement,
        }
    )
    denominator = np.where(n_compared > 0, n_compared, np.nan)[:, None]
    given = loo.table.sum(axis=2) / denominator  # share of compared labels per class
    expected = loo.table.sum(axis=1) / denominator  # consensus share per class
    if ann.n_classes == 2:
        pos = positive_code(ann.classes, positive)
        frame["positive_rate"], frame["consensus_positive_rate"] = given[:, pos], expected[:, pos]
        frame["positive_bias"] = given[:, pos] - expected[:, pos]
    else:
        for code, name in enumerate(ann.classes):  # loop over classes
            frame[f"bias_{name}"] = given[:, code] - expected[:, code]
    if ann.timestamp is not None:
        speed = _speed(ann, too_fast, session_gap)
        frame["median_seconds"] = speed["median_seconds"].to_numpy()
        frame["too_fast_share"] = speed["too_fast_share"].to_numpy()
        drift = annotator_drift(ann, windows=windows, ci_prob=ci_prob)
        usable = drift[drift["n_compared"] >= min_window_labels].sort_values(["annotator", "window"])
        ends = usable.groupby("annotator", sort=False)["accuracy"].agg(["first", "last", "size"])
        change = (ends["last"] - ends["first"]).where(ends["size"] >= 2)
        frame["drift"] = change.reindex(frame["annotator"].astype(object)).to_numpy(dtype=float)
    return frame


def _seconds(ann: Annotations) -> np.ndarray:
    stamps = np.asarray(ann.timestamp, dtype="datetime64[ns]")
    seconds = stamps.astype(np.int64) / 1e9
    return np.where(np.isnat(stamps), np.nan, seconds)


def _speed(ann: Annotations, too_fast: float, session_gap: float) -> pd.DataFrame:
    seconds = _seconds(ann)
    order = np.lexsort((seconds, ann.annotator_idx))
    who, when = ann.annotator_idx[order], seconds[order]
    gap = np.diff(when)
    valid = (np.diff(who) == 0) & np.isfinite(gap) & (gap <= session_gap)
    gaps = pd.DataFrame({"a": who[1:][valid], "gap": gap[valid], "fast": gap[valid] < too_fast})
    stats = gaps.groupby("a").agg(median_seconds=("gap", "median"), too_fast_share=("fast", "mean"))
    return stats.reindex(range(ann.n_annotators))


def annotator_drift(ann: Annotations, *, windows: int = 4, ci_prob: float = 0.95) -> pd.DataFrame:
    """Accuracy against the leave-one-out consensus per annotator and time window.

    The label timestamps are cut into ``windows`` equal-count windows over the whole table
    (calendar order).

    Parameters
    ----------
    ann : Annotations
        The label table, with label timestamps.
    windows : int, default 4
        Number of equal-count time windows.
    ci_prob : float, default 0.95
        Probability of the Wilson intervals.

    Returns
    -------
    pandas.DataFrame
        One row per (annotator, window) with labels: ``annotator``, ``window``, ``start``,
        ``end`` (the window's first and last timestamp), ``n_compared``, ``accuracy`` and
        its Wilson interval (``accuracy_lo``, ``accuracy_hi``).

    Raises
    ------
    DataError
        If the annotations have no timestamps.

    Examples
    --------
    >>> import pandas as pd
    >>> import bayeslabels as bl
    >>> frame = bl.datasets.load("bluebirds").to_frame().sample(frac=1.0, random_state=0)
    >>> frame["timestamp"] = pd.date_range("2024-01-01", periods=len(frame), freq="min")
    >>> drift = bl.annotator_drift(bl.Annotations.from_frame(frame), windows=3)
    >>> drift["window"].nunique(), list(drift.columns[:5])
    (3, ['annotator', 'window', 'start', 'end', 'n_compared'])
    """
    if ann.timestamp is None:
        raise DataError("drift needs label timestamps; these annotations have no timestamp column")
    ci_prob = check_ci_prob(ci_prob)
    seconds = _seconds(ann)
    timed = np.isfinite(seconds)
    loo = _leave_one_out(ann)
    use = timed & loo.compared
    rank = np.empty(len(seconds))
    rank[use] = pd.Series(seconds[use]).rank(method="first").to_numpy() - 1
    window = np.where(use, np.floor(rank * windows / max(use.sum(), 1)), -1).astype(np.int64)
    frame = pd.DataFrame(
        {
            "a": ann.annotator_idx[use],
            "window": window[use],
            "credit": loo.credit[use],
            "t": ann.timestamp[use],
        }
    )
    bounds = frame.groupby("window")["t"].agg(start="min", end="max")
    table = (
        frame.groupby(["a", "window"])
        .agg(n_compared=("credit", "size"), correct=("credit", "sum"))
        .reset_index()
    )
    lo, hi = wilson(table["correct"], table["n_compared"], ci_prob)
    return pd.DataFrame(
        {
            "annotator": pd.array(np.asarray(ann.annotators, dtype=object)[table["a"]], dtype="string"),
            "window": table["window"].astype(np.int64),
            "start": bounds["start"].reindex(table["window"]).to_numpy(),
            "end": bounds["end"].reindex(table["window"]).to_numpy(),
            "n_compared": table["n_compared"].astype(np.int64),
            "accuracy": table["correct"] / table["n_compared"],
            "accuracy_lo": lo,
            "accuracy_hi": hi,
        }
    )


def annotator_confusion(ann: Annotations) -> pd.DataFrame:
    """Each annotator's labels against the leave-one-out consensus, as a long table.

    Parameters
    ----------
    ann : Annotations
        The label table.

    Returns
    -------
    pandas.DataFrame
        One row per (annotator, consensus class, label class): ``annotator``,
        ``consensus`` (class), ``label`` (class), ``count`` (labels, tie-split weights) and
        ``rate`` (share of the annotator's labels on items whose consensus is that class).

    Examples
    --------
    >>> import bayeslabels as bl
    >>> table = bl.annotator_confusion(bl.datasets.load("bluebirds"))
    >>> len(table)  # 39 annotators × 2 × 2
    156
    >>> table.round(3).head(4)
      annotator consensus  label  count   rate
    0        39     false  false   69.0  0.908
    1        39     false   true    7.0  0.092
    2        39      true  false    9.0  0.281
    3        39      true   true   23.0  0.719
    """
    k, n_annotators = ann.n_classes, ann.n_annotators
    counts = _leave_one_out(ann).table.transpose(0, 2, 1)  # annotator, consensus, label
    totals = counts.sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(totals > 0, counts / totals, np.nan)
    names = np.asarray(ann.classes, dtype=object)
    grid = np.indices((n_annotators, k, k)).reshape(3, -1)
    return pd.DataFrame(
        {
            "annotator": pd.array(np.asarray(ann.annotators, dtype=object)[grid[0]], dtype="string"),
            "consensus": pd.array(names[grid[1]], dtype="string"),
            "label": pd.array(names[grid[2]], dtype="string"),
            "count": counts.ravel(),
            "rate": rate.ravel(),
        }
    )
