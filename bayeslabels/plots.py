"""Figures for label analysis and evaluation. Each takes ``ax=None`` (a new figure, laid out
with constrained layout, when None) and returns the axes; none calls ``show``. For files
without a display, draw on axes of a ``matplotlib.figure.Figure`` (Agg canvas), as
``bayeslabels analyze --plots`` and `bayeslabels.report` do.

Conventions every figure keeps: ids are shown in full (wrapped every `ID_WRAP` characters, in
a smaller font when there are many), a top-N cut is stated in the title with the total, colour
scales are fitted to the data's range (κ keeps its natural −1…1), and missing cells are drawn
as grey hatching, named in the legend, never as a colour of the scale.

* `plot_agreement`: heatmap of pairwise Cohen's κ, annotators ordered by clustering;
* `plot_annotator_profiles`: accuracy against the leave-one-out consensus by bias or volume,
  the extreme annotators named;
* `plot_reliability`: reliability diagram (top-label accuracy by confidence, Wilson bars);
* `plot_pr_curve`: precision–recall curve with a percentile-bootstrap band over items;
* `plot_subtype_forest`: population reliability by subtype with credible intervals;
* `plot_annotator_subtype_heatmap`: annotator × subtype reliability, cells labelled with n;
* `plot_confusion_matrices`: small multiples of the population confusion per subtype;
* `plot_soft_label_intervals`: soft labels with intervals, most uncertain items first;
* `plot_routing_plan`: labels requested per assignee, by the reason items were routed.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ._checks import check_ci_prob
from ._resample import weight_chunks
from .agreement import AgreementReport, annotator_profiles, pairwise_cohen_kappa
from .data import Annotations
from .evaluate import (
    _scored,
    _w_average_precision,
    _w_pr_curve,
    calibration_table,
    expected_calibration_error,
)
from .soft_labels import as_soft_labels

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.patches import Patch

    from .compare import SubtypeComparison

ID_WRAP = 20  # characters per line of an id on an axis (ids are wrapped, never cut)
MISSING_STYLE: dict[str, Any] = {"facecolor": "0.92", "edgecolor": "0.6", "hatch": "////", "linewidth": 0.0}


def _axes(ax: Axes | None, size: tuple[float, float] = (6.0, 4.5)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def wrap_id(name: object, width: int = ID_WRAP) -> str:
    """The full id, broken into lines of ``width`` characters (ids have no spaces to wrap at)."""
    text = str(name)
    return "\n".join(text[i : i + width] for i in range(0, len(text), width)) or text


def _tick_fontsize(n: int, ax: Axes | None = None) -> float:
    """Font size (points) of n tick labels along an axis: 8 for a few, smaller for many, so
    that they fit the axes' height (when given), never below 2."""
    size = 360.0 / max(n, 1)
    if ax is not None:
        figure = ax.get_figure(root=True)
        if figure is not None:
            height = ax.get_position().height * figure.get_figheight() * 72.0  # points
            size = min(size, 0.9 * height / max(n, 1))
    return float(np.clip(size, 2.0, 8.0))


def _missing_background(ax: Axes, shape: tuple[int, int], label: str) -> Patch:
    """Grey hatching under an image whose missing cells are transparent; the legend handle."""
    from matplotlib.patches import Patch, Rectangle

    rows, cols = shape
    ax.add_patch(Rectangle((-0.5, -0.5), cols, rows, zorder=0, **MISSING_STYLE))
    return Patch(label=label, **MISSING_STYLE)


def _transparent_bad(cmap: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[cmap].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))


def _data_range(
    values: np.ndarray, floor: float | None = None, ceiling: float | None = None
) -> tuple[float, float]:
    """The finite range of ``values`` (widened a little when flat), clipped to the bounds."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (floor if floor is not None else 0.0, ceiling if ceiling is not None else 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo < 1e-9:
        lo, hi = lo - 0.05, hi + 0.05
    if floor is not None:
        lo = max(lo, floor)
    if ceiling is not None:
        hi = min(hi, ceiling)
    return lo, hi


def _cluster_order(matrix: np.ndarray) -> np.ndarray:
    """Leaf order of average-linkage clustering on the distance (1 − κ) / 2, a missing κ
    counted as 0 (no evidence of agreement): annotators who agree sit side by side."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    n = len(matrix)
    if n < 3:
        return np.arange(n)
    distance = (1.0 - np.nan_to_num(matrix, nan=0.0)) / 2.0
    distance = np.clip((distance + distance.T) / 2.0, 0.0, 1.0)
    np.fill_diagonal(distance, 0.0)
    return leaves_list(linkage(squareform(distance, checks=False), method="average", optimal_ordering=True))


def plot_agreement(
    data: Annotations | AgreementReport,
    ax: Axes | None = None,
    *,
    max_annotators: int | None = 40,
    min_overlap: int = 5,
    order: Literal["cluster", "mean", "volume"] = "cluster",
) -> Axes:
    """Cohen's κ between each pair of annotators, on the fixed scale −1…1 (diverging map).

    The ``max_annotators`` annotators with most shared items are shown (the title says how
    many of how many; None: every annotator who shares an item with another). Annotators are ordered by
    ``order``: ``"cluster"`` (average-linkage clustering on 1 − κ: groups that agree sit
    together), ``"mean"`` (mean κ with the others, highest first) or ``"volume"`` (most
    shared items first). Pairs sharing fewer than ``min_overlap`` items have no κ: they are
    drawn as grey hatching ("no data" in the legend), never as κ ≈ 0; the diagonal is dark
    grey. Ids are shown in full (wrapped, smaller with many annotators).
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    pairs = data.pairwise if isinstance(data, AgreementReport) else pairwise_cohen_kappa(data)
    total = data.n_annotators
    volume = (
        pd.concat(
            [pairs.groupby("annotator_a")["n_items"].sum(), pairs.groupby("annotator_b")["n_items"].sum()]
        )
        .groupby(level=0)
        .sum()
        .sort_values(ascending=False, kind="stable")
    )
    chosen = list(volume.index if max_annotators is None else volume.index[:max_annotators])
    n = len(chosen)
    ax = _axes(ax, (max(6.5, 2.5 + 0.09 * n), max(5.5, 2.0 + 0.09 * n)))
    usable = pairs[pairs["n_items"] >= min_overlap]
    both = pd.concat(
        [usable, usable.rename(columns={"annotator_a": "annotator_b", "annotator_b": "annotator_a"})]
    )
    matrix = (
        both.pivot(index="annotator_a", columns="annotator_b", values="cohen_kappa")
        .reindex(index=chosen, columns=chosen)
        .to_numpy(dtype=float, copy=True)
    )
    np.fill_diagonal(matrix, np.nan)
    if order == "cluster":
        ranks = _cluster_order(matrix)
    elif order == "mean":
        with np.errstate(invalid="ignore"):
            means = np.array([np.nanmean(row) if np.isfinite(row).any() else -np.inf for row in matrix])
        ranks = np.argsort(-means, kind="stable")
    elif order == "volume":
        ranks = np.arange(n)
    else:
        raise ValueError(f"order must be 'cluster', 'mean' or 'volume', not {order!r}")
    matrix = matrix[np.ix_(ranks, ranks)]
    names = [chosen[i] for i in ranks]
    missing = _missing_background(ax, (n, n), f"no data (< {min_overlap} shared items)")
    image = ax.imshow(
        np.ma.masked_invalid(matrix),
        cmap=_transparent_bad("RdBu"),
        vmin=-1,
        vmax=1,
        interpolation="nearest",
        zorder=1,
    )
    diagonal = np.ma.masked_array(np.ones((n, n)), mask=~np.eye(n, dtype=bool))
    ax.imshow(diagonal, cmap=ListedColormap(["0.3"]), interpolation="nearest", zorder=1)
    ax.figure.colorbar(image, ax=ax, label="Cohen's κ (−1 … 1; 0 = chance)", shrink=0.8)
    labels = [wrap_id(a) for a in names]
    size = _tick_fontsize(n, ax)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=size)
    ax.set_yticks(range(n), labels, fontsize=size)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.legend(
        handles=[missing, Patch(facecolor="0.3", label="same annotator")],
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncols=2,
        fontsize=7,
        frameon=False,
    )
    shown = f"all {n} annotators" if n == total else f"the {n} of {total} annotators with most shared items"
    how = {"cluster": "clustered by agreement", "mean": "by mean κ", "volume": "by shared items"}[order]
    ax.set_title(f"Pairwise Cohen's κ: {shown},\n{how}", fontsize=10, pad=16)
    return ax


def _extremes(values: np.ndarray, n: int, largest: bool) -> list[int]:
    """Positions of the n largest (or smallest) finite values."""
    finite = np.flatnonzero(np.isfinite(values))
    ranked = finite[np.argsort(values[finite], kind="stable")]
    return list(ranked[::-1][:n] if largest else ranked[:n])


def plot_annotator_profiles(
    data: pd.DataFrame | Annotations,
    ax: Axes | None = None,
    *,
    x: str | None = None,
    min_compared: int = 1,
    label_extremes: int = 5,
) -> Axes:
    """Each annotator's accuracy against the leave-one-out consensus (Wilson bars) by ``x``, a
    column of `annotator_profiles` (default: ``positive_bias`` for two classes, else
    ``n_compared`` on a log scale); marker area grows with the labels compared.

    The ``label_extremes`` least accurate annotators, and for a bias on x the
    ``label_extremes`` most biased, are named on the plot (full ids) and ringed in red."""
    ax = _axes(ax)
    profiles = annotator_profiles(data) if isinstance(data, Annotations) else data
    profiles = profiles[profiles["n_compared"] >= min_compared].reset_index(drop=True)
    x = x or ("positive_bias" if "positive_bias" in profiles else "n_compared")
    if x not in profiles:
        raise ValueError(f"x={x!r} is not a column of the profiles: {list(profiles.columns)}")
    xs = profiles[x].to_numpy(dtype=float)
    y = profiles["accuracy"].to_numpy(dtype=float)
    error = np.vstack([y - profiles["accuracy_lo"].to_numpy(), profiles["accuracy_hi"].to_numpy() - y])
    error = np.clip(np.nan_to_num(error), 0.0, None)
    volume = profiles["n_compared"].to_numpy(dtype=float)
    sizes = 8 + 120 * np.sqrt(volume / max(float(volume.max()), 1.0)) if len(volume) else 8
    ax.errorbar(xs, y, yerr=error, fmt="none", ecolor="0.75", elinewidth=0.8, zorder=1)
    ax.scatter(xs, y, s=sizes, alpha=0.7, zorder=2)
    biased = x.startswith(("positive_bias", "bias_"))
    named = _extremes(y, label_extremes, largest=False)
    if biased:
        named += [i for i in _extremes(np.abs(xs), label_extremes, largest=True) if i not in named]
    named = [i for i in named if np.isfinite(xs[i])]
    finite_x = xs[np.isfinite(xs)]
    middle = float(np.median(finite_x)) if finite_x.size else 0.0
    span = float(np.ptp(finite_x)) if finite_x.size > 1 else 1.0
    placed: list[tuple[float, float]] = []
    for i in named:  # right of a point left of the middle, else left of it; near ones stacked
        spot = (float(xs[i]) / (span or 1.0), float(y[i]))
        stack = sum(abs(spot[0] - px) < 0.06 and abs(spot[1] - py) < 0.04 for px, py in placed)
        placed.append(spot)
        right = xs[i] <= middle
        ax.annotate(
            str(profiles["annotator"].iloc[i]),
            (xs[i], y[i]),
            xytext=(5 if right else -5, 3 - 9 * stack),
            textcoords="offset points",
            ha="left" if right else "right",
            fontsize=7,
            color="C3",
            zorder=4,
        )
    if named:
        ax.scatter(
            xs[named],
            y[named],
            s=np.atleast_1d(sizes)[named] if len(volume) else 8,
            facecolors="none",
            edgecolors="C3",
            linewidths=1.0,
            zorder=3,
        )
    if x == "n_compared":
        ax.set_xscale("log")
    if biased:
        ax.axvline(0.0, color="0.6", linestyle="--", linewidth=1)
    ax.set_ylim(-0.02, 1.02)
    unit = {"n_compared": " (labels, log scale)", "median_seconds": " (seconds)"}.get(x, "")
    if biased:
        unit = " (share of labels minus the consensus's share)"
    ax.set_xlabel(x.replace("_", " ") + unit)
    ax.set_ylabel("accuracy vs leave-one-out consensus")
    which = f"{label_extremes} least accurate" + (f" and {label_extremes} most biased" if biased else "")
    ax.set_title(f"{len(profiles)} annotators (marker area: labels compared)\nnamed: the {which}", fontsize=9)
    return ax


def plot_reliability(
    targets: Any,
    gold: Any,
    ax: Axes | None = None,
    *,
    n_bins: int = 10,
    ci_prob: float = 0.95,
    label: str | None = None,
) -> Axes:
    """Reliability diagram: accuracy of the predicted class per confidence bin (Wilson bars,
    marker area ∝ items) against the diagonal of perfect calibration; ECE in the legend.

    The confidence of the predicted class of K classes lies in [1/K, 1], so the x-axis spans
    that range (0.5 … 1 for two classes) with a margin, and no marker is cut at 1."""
    ax = _axes(ax, (5.0, 5.0))
    table = calibration_table(targets, gold, n_bins=n_bins, ci_prob=ci_prob)
    ece = expected_calibration_error(targets, gold, n_bins=n_bins)
    k = len(as_soft_labels(targets).classes)
    floor = 1.0 / k
    if not any(line.get_label() == "perfect calibration" for line in ax.get_lines()):  # one per axes
        ax.plot([floor, 1], [floor, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    error = np.vstack([table["accuracy"] - table["accuracy_lo"], table["accuracy_hi"] - table["accuracy"]])
    error = np.clip(error, 0.0, None)
    ax.errorbar(
        table["confidence"],
        table["accuracy"],
        yerr=error,
        fmt="none",
        ecolor="0.5",
        elinewidth=1,
        clip_on=False,
    )
    sizes = 20 + 200 * table["n"] / max(int(table["n"].max()), 1)
    ax.scatter(
        table["confidence"],
        table["accuracy"],
        s=sizes,
        zorder=3,
        clip_on=False,
        label=f"{label + ': ' if label else ''}ECE {ece:.3f}",
    )
    low = min(floor, float(table["confidence"].min()) if len(table) else floor)
    margin = 0.04 * (1.0 - low)
    ax.set_xlim(low - margin, 1.0 + margin)
    ax.set_ylim(-0.02, 1.04)
    ax.set_xlabel(f"confidence of the predicted class\n(its probability: {floor:.2g} … 1 for {k} classes)")
    ax.set_ylabel(f"accuracy ({ci_prob:.0%} Wilson interval)")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(f"Reliability diagram ({len(table)} non-empty of {n_bins} confidence bins)", fontsize=10)
    return ax


def _interpolated_precision(recall: np.ndarray, precision: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Per row, the highest precision at recall ≥ each grid value (rows: replicates)."""
    envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    rows, width = recall.shape
    offsets = 2.0 * np.arange(rows)[:, None]  # recall lies in [0, 1]: rows never overlap
    flat = np.where(np.isnan(recall), 0.0, recall) + offsets
    where = np.searchsorted(flat.ravel(), (grid[None, :] + offsets).ravel(), side="left").reshape(rows, -1)
    where = np.clip(where - np.arange(rows)[:, None] * width, 0, width - 1)
    values = np.take_along_axis(envelope, where, axis=1)
    return np.where(np.isnan(recall[:, :1]), np.nan, values)


def plot_pr_curve(
    targets: Any,
    gold: Any,
    ax: Axes | None = None,
    *,
    positive: Hashable | None = None,
    ci_prob: float = 0.95,
    n_boot: int = 300,
    seed: int | None = 0,
    label: str | None = None,
) -> Axes:
    """Precision–recall curve of ``positive`` (default the second class of two; with more
    classes and no ``positive``, one curve per class, one-vs-rest) with the percentile-bootstrap
    band over items of the interpolated precision at each recall. Each legend entry names
    the target (``label``), the class and its average precision, e.g.
    ``majority vote: positive class '1' (AP 0.912)``."""
    ci_prob = check_ci_prob(ci_prob)
    ax = _axes(ax)
    s, t = _scored(targets, gold, positive, 10)
    classes = [s.positive] if s.positive is not None else list(range(s.k))
    grid = np.linspace(0.0, 1.0, 101)
    tail = (1 - ci_prob) / 2
    ones = np.ones((1, len(s.y)))
    for code in classes:  # loop over classes
        hit, score = s.y == code, s.proba[:, code]
        if not hit.any():
            continue
        recall, precision = _w_pr_curve(ones, hit, score)
        curves = np.concatenate(
            [
                _interpolated_precision(*_w_pr_curve(w, hit, score), grid)
                for w in weight_chunks(len(s.y), n_boot, seed)
            ]
        )
        lo, hi = np.nanquantile(curves, [tail, 1 - tail], axis=0)
        average = float(_w_average_precision(ones, hit, score)[0])
        which = (
            f"positive class '{t.classes[code]}'"
            if s.positive is not None
            else f"'{t.classes[code]}' vs rest"
        )
        name = f"{label + ': ' if label else ''}{which} (AP {average:.3f})"
        # precision P_t holds on the recall step (R_{t-1}, R_t]
        (line,) = ax.step(
            np.r_[0.0, recall[0]], np.r_[precision[0][:1], precision[0]], where="pre", label=name
        )
        ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"Precision–recall, {ci_prob:.0%} bootstrap band over {len(s.y)} gold items", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    return ax


# --------------------------------------------------------------------------- subtypes and routing


def plot_subtype_forest(
    comparison: SubtypeComparison, metric: str = "accuracy", ax: Axes | None = None
) -> Axes:
    """Population reliability per subtype: posterior mean and credible interval (forest plot).

    One row per subtype and no more: a new figure is as tall as its rows (about half an inch
    each), and the x-axis spans the intervals with a margin."""
    rows = comparison.population[comparison.population["metric"] == metric].reset_index(drop=True)
    n = len(rows)
    ax = _axes(ax, (6.0, 1.3 + 0.42 * n))
    y = np.arange(n)[::-1]
    ax.errorbar(
        rows["mean"],
        y,
        xerr=[rows["mean"] - rows["lo"], rows["hi"] - rows["mean"]],
        fmt="o",
        color="C0",
        ecolor="C0",
        capsize=3,
    )
    ax.set_yticks(y, [wrap_id(s) for s in rows["subtype"].astype(str)])
    ax.set_ylim(-0.6, n - 0.4)
    lo, hi = _data_range(np.r_[rows["lo"].to_numpy(float), rows["hi"].to_numpy(float)])
    pad = 0.08 * (hi - lo)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel(f"{metric} ({comparison.ci_prob:.0%} credible interval)")
    ax.set_ylabel("subtype")
    ax.set_title(f"Population {metric} by subtype")
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_annotator_subtype_heatmap(
    comparison: SubtypeComparison,
    metric: str = "accuracy",
    ax: Axes | None = None,
    max_annotators: int | None = 30,
) -> Axes:
    """Annotator × subtype posterior mean, each cell annotated with its number of labels.

    The ``max_annotators`` annotators with most labels are shown, most first (None: all; the
    title says how many of how many); ids in full. The sequential colour scale spans the
    shown values' range (colour bar beside), and a missing cell is grey hatching."""
    table = comparison.annotators
    volume = table.groupby("annotator")["n_labels"].sum().sort_values(ascending=False, kind="stable")
    total = len(volume)
    keep = list(volume.index if max_annotators is None else volume.index[:max_annotators])
    ax = _axes(ax, (7.0, max(3.0, 1.6 + 0.24 * len(keep))))
    chosen = table[table["annotator"].isin(keep)]
    values = chosen.pivot(index="annotator", columns="subtype", values=metric).loc[keep]
    counts = chosen.pivot(index="annotator", columns="subtype", values="n_labels").loc[keep]
    grid = values.to_numpy(dtype=float)
    lo, hi = _data_range(grid)
    missing = _missing_background(ax, grid.shape, "no estimate")
    image = ax.imshow(
        np.ma.masked_invalid(grid),
        aspect="auto",
        cmap=_transparent_bad("viridis"),
        vmin=lo,
        vmax=hi,
        interpolation="nearest",
        zorder=1,
    )
    for (i, j), n in np.ndenumerate(counts.to_numpy()):
        if not np.isfinite(n):
            continue
        dark = bool(np.isfinite(grid[i, j]) and (grid[i, j] - lo) / (hi - lo) < 0.55)
        ax.text(j, i, str(int(n)), ha="center", va="center", fontsize=7, color="white" if dark else "black")
    ax.set_xticks(range(grid.shape[1]), [wrap_id(s) for s in values.columns.astype(str)])
    ax.set_yticks(
        range(grid.shape[0]), [wrap_id(a) for a in values.index], fontsize=_tick_fontsize(len(keep), ax)
    )
    ax.set_xlabel("subtype")
    ax.set_ylabel("annotator (most labels first)")
    shown = f"all {len(keep)}" if len(keep) == total else f"the {len(keep)} of {total} with most labels"
    ax.set_title(
        f"Posterior {metric} by annotator and subtype\n({shown} annotators; cell: n labels)", fontsize=10
    )
    ax.figure.colorbar(image, ax=ax, label=f"{metric} (scale: {lo:.2f} … {hi:.2f}, the data's range)")
    if np.isnan(grid).any():
        ax.legend(handles=[missing], loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=7, frameon=False)
    return ax


def plot_confusion_matrices(
    comparison: SubtypeComparison, axes: Axes | Sequence[Axes] | np.ndarray | None = None
) -> np.ndarray:
    """Small multiples: the population confusion matrix of each subtype (posterior mean)."""
    import matplotlib.pyplot as plt

    frame = comparison.confusion
    subtypes = list(dict.fromkeys(frame["subtype"]))
    classes = list(dict.fromkeys(frame["true_class"]))
    if axes is None:
        _, axes = plt.subplots(1, len(subtypes), figsize=(3.2 * len(subtypes), 3.4), layout="constrained")
    axes = np.atleast_1d(axes)
    for ax, subtype in zip(axes, subtypes, strict=True):
        block = frame[frame["subtype"] == subtype].pivot(
            index="true_class", columns="label_class", values="mean"
        )
        block = block.loc[classes, classes]
        ax.imshow(block.to_numpy(), cmap="Blues", vmin=0, vmax=1)
        for (i, j), value in np.ndenumerate(block.to_numpy()):
            ax.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if value > 0.6 else "black",
            )
        ax.set_xticks(range(len(classes)), classes)
        ax.set_yticks(range(len(classes)), classes)
        ax.set_xlabel("label given")
        ax.set_ylabel("true class")
        ax.set_title(f"subtype {subtype}")
    return axes


def plot_soft_label_intervals(
    source: Any, cls: str | None = None, ax: Axes | None = None, max_items: int = 200, ci_prob: float = 0.9
) -> Axes:
    """Soft labels with their credible intervals per item, most uncertain first.

    Items are sorted by interval width, then by entropy (a point estimate's intervals are
    flat), and the ``max_items`` most uncertain are shown. Two classes (or ``cls`` given):
    P(class = ``cls``), default the second class. More classes and no ``cls``: each item's
    most probable class, P(that class) with its interval, one colour per class (legend);
    the dotted line is 1/K, a guess.

    Parameters
    ----------
    source : Fit, SoftLabels, or anything `as_soft_labels` takes (a table, a file)
    cls : str, optional
        The class shown for every item (default: two classes, the second; more, each item's
        most probable).
    ax : matplotlib Axes, optional
    max_items : int
    ci_prob : float, default 0.9
        Probability of the intervals, for a Fit.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> plots.plot_soft_label_intervals(fit, ci_prob=0.9)  # doctest: +SKIP
    """
    soft = as_soft_labels(source, ci_prob=ci_prob)
    ax = _axes(ax, (7.0, 4.5))
    k_all = len(soft.classes)
    if cls is not None and str(cls) not in soft.classes:
        raise ValueError(f"cls must be one of the classes {list(soft.classes)}, not {cls!r}")
    rows = np.arange(soft.n_items)
    if cls is not None or k_all == 2:
        name = str(cls) if cls is not None else soft.classes[-1]
        code = np.full(soft.n_items, soft.classes.index(name))
        ylabel = f"P(class = {name})"
    else:
        code = soft.mean.argmax(axis=1)
        ylabel = "P(most probable class)"
    lo, mean, hi = soft.lower[rows, code], soft.mean[rows, code], soft.upper[rows, code]
    shown = np.lexsort((-soft.entropy, -(hi - lo)))[:max_items]
    x = np.arange(len(shown))
    if cls is not None or k_all == 2:
        ax.vlines(x, lo[shown], hi[shown], color="C0", alpha=0.5, linewidth=1)
        ax.plot(x, mean[shown], "o", markersize=2.5, color="C0")
        ax.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    else:
        for c, name in enumerate(soft.classes):  # loop over classes
            these = code[shown] == c
            if not these.any():
                continue
            ax.vlines(
                x[these], lo[shown][these], hi[shown][these], color=f"C{c % 10}", alpha=0.5, linewidth=1
            )
            ax.plot(x[these], mean[shown][these], "o", markersize=2.5, color=f"C{c % 10}", label=str(name))
        ax.axhline(1.0 / k_all, color="grey", linewidth=0.8, linestyle=":")
        ax.legend(title="most probable class", fontsize=7, title_fontsize=7, loc="lower right", ncols=2)
    first = "highest entropy first" if soft.ci_prob is None else "widest interval first"
    ax.set_xlabel(f"item (the {len(shown)} most uncertain of {soft.n_items}, {first})")
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    band = "point estimate: no interval" if soft.ci_prob is None else f"{soft.ci_prob:.0%} credible intervals"
    ax.set_title(f"Soft labels ({band})")
    return ax


def plot_routing_plan(plan: pd.DataFrame, ax: Axes | None = None, top: int = 15) -> Axes:
    """Labels requested per assignee, stacked by the reason the items were chosen."""
    counts = plan.groupby(["assign_to", "reason"]).size().unstack(fill_value=0)
    total = len(counts)
    counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False, kind="stable").index[:top]]
    ax = _axes(ax, (7.0, max(3.0, 1.5 + 0.3 * len(counts))))
    left = np.zeros(len(counts))
    y = np.arange(len(counts))[::-1]
    for i, reason in enumerate(counts.columns):
        ax.barh(y, counts[reason], left=left, color=f"C{i}", label=reason)
        left += counts[reason].to_numpy()
    ax.set_yticks(y, [wrap_id(a) for a in counts.index], fontsize=_tick_fontsize(len(counts), ax))
    ax.set_xlabel("labels requested")
    ax.set_ylabel("assigned to" + (f" (top {len(counts)} of {total})" if total > len(counts) else ""))
    ax.set_title(
        f"Routing plan: {len(plan)} labels, expected gain {plan['expected_information_gain'].sum():.1f} nats"
    )
    if len(counts):
        ax.legend(title="reason", fontsize=8)
    return ax
