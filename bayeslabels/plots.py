"""Figures for label analysis and evaluation. Each takes ``ax=None`` (a new figure when
None) and returns the axes; none calls ``show``. For files without a display, draw on axes
of a ``matplotlib.figure.Figure`` (Agg canvas), as ``bayeslabels analyze --plots`` does.

* `plot_agreement`: heatmap of pairwise Cohen's κ between the busiest annotators;
* `plot_annotator_profiles`: accuracy against the leave-one-out consensus by bias or volume;
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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._checks import check_ci_prob
from ._resample import weight_chunks
from .agreement import AgreementReport, annotator_profiles, pairwise_cohen_kappa
from .data import Annotations
from .evaluate import _scored, _w_pr_curve, calibration_table, expected_calibration_error
from .soft_labels import as_soft_labels

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .compare import SubtypeComparison


def _axes(ax: Axes | None, size: tuple[float, float] = (6.0, 4.5)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size)
    return ax


def plot_agreement(
    data: Annotations | AgreementReport,
    ax: Axes | None = None,
    *,
    max_annotators: int = 30,
    min_overlap: int = 5,
) -> Axes:
    """Cohen's κ between each pair of the ``max_annotators`` annotators with most shared-item
    pairs; blank where two share fewer than ``min_overlap`` items."""
    ax = _axes(ax, (6.5, 5.5))
    pairs = data.pairwise if isinstance(data, AgreementReport) else pairwise_cohen_kappa(data)
    pairs = pairs[pairs["n_items"] >= min_overlap]
    volume = (
        pd.concat(
            [pairs.groupby("annotator_a")["n_items"].sum(), pairs.groupby("annotator_b")["n_items"].sum()]
        )
        .groupby(level=0)
        .sum()
    )
    chosen = volume.sort_values(ascending=False).index[:max_annotators]
    both = pd.concat(
        [pairs, pairs.rename(columns={"annotator_a": "annotator_b", "annotator_b": "annotator_a"})]
    )
    both = both[both["annotator_a"].isin(chosen) & both["annotator_b"].isin(chosen)]
    matrix = both.pivot(index="annotator_a", columns="annotator_b", values="cohen_kappa").reindex(
        index=chosen, columns=chosen
    )
    values = matrix.to_numpy(dtype=float, copy=True)
    np.fill_diagonal(values, np.nan)
    image = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label="Cohen's κ")
    if len(chosen) <= 40:
        labels = [str(a)[:10] for a in chosen]
        ax.set_xticks(range(len(chosen)), labels, rotation=90, fontsize=6)
        ax.set_yticks(range(len(chosen)), labels, fontsize=6)
    ax.set_title(f"pairwise Cohen's κ ({len(chosen)} annotators, ≥ {min_overlap} shared items)")
    return ax


def plot_annotator_profiles(
    data: pd.DataFrame | Annotations,
    ax: Axes | None = None,
    *,
    x: str | None = None,
    min_compared: int = 1,
) -> Axes:
    """Each annotator's accuracy against the leave-one-out consensus (Wilson bars) by ``x``, a
    column of `annotator_profiles` (default: ``positive_bias`` for two classes, else
    ``n_compared`` on a log scale); marker area grows with the labels compared."""
    ax = _axes(ax)
    profiles = annotator_profiles(data) if isinstance(data, Annotations) else data
    profiles = profiles[profiles["n_compared"] >= min_compared]
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
    if x == "n_compared":
        ax.set_xscale("log")
    if x.startswith(("positive_bias", "bias_")):
        ax.axvline(0.0, color="0.6", linestyle="--", linewidth=1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(x.replace("_", " ") + (" (log scale)" if x == "n_compared" else ""))
    ax.set_ylabel("accuracy vs leave-one-out consensus")
    ax.set_title(f"{len(profiles)} annotators (marker area: labels compared)")
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
    marker area ∝ items) against the diagonal of perfect calibration; ECE in the legend."""
    ax = _axes(ax, (5.0, 5.0))
    table = calibration_table(targets, gold, n_bins=n_bins, ci_prob=ci_prob)
    ece = expected_calibration_error(targets, gold, n_bins=n_bins)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    error = np.vstack([table["accuracy"] - table["accuracy_lo"], table["accuracy_hi"] - table["accuracy"]])
    error = np.clip(error, 0.0, None)
    ax.errorbar(table["confidence"], table["accuracy"], yerr=error, fmt="none", ecolor="0.5", elinewidth=1)
    sizes = 20 + 200 * table["n"] / max(int(table["n"].max()), 1)
    ax.scatter(
        table["confidence"],
        table["accuracy"],
        s=sizes,
        zorder=3,
        label=f"{label + ': ' if label else ''}ECE {ece:.3f}",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence (probability of the predicted class)")
    ax.set_ylabel(f"accuracy ({ci_prob:.0%} Wilson interval)")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("reliability diagram")
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
    band over items of the interpolated precision at each recall."""
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
        name = f"{label + ': ' if label else ''}{t.classes[code]}"
        # precision P_t holds on the recall step (R_{t-1}, R_t]
        (line,) = ax.step(
            np.r_[0.0, recall[0]], np.r_[precision[0][:1], precision[0]], where="pre", label=name
        )
        ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"precision–recall, {ci_prob:.0%} bootstrap band over {len(s.y)} gold items")
    ax.legend(loc="lower left", fontsize=8)
    return ax


# --------------------------------------------------------------------------- subtypes and routing


def plot_subtype_forest(
    comparison: SubtypeComparison, metric: str = "accuracy", ax: Axes | None = None
) -> Axes:
    """Population reliability per subtype: posterior mean and credible interval (forest plot)."""
    ax = _axes(ax, (7.0, 4.5))
    rows = comparison.population[comparison.population["metric"] == metric].reset_index(drop=True)
    y = np.arange(len(rows))[::-1]
    ax.errorbar(
        rows["mean"],
        y,
        xerr=[rows["mean"] - rows["lo"], rows["hi"] - rows["mean"]],
        fmt="o",
        color="C0",
        ecolor="C0",
        capsize=3,
    )
    ax.set_yticks(y, rows["subtype"].astype(str))
    ax.set_xlabel(f"{metric} ({comparison.ci_prob:.0%} credible interval)")
    ax.set_ylabel("subtype")
    ax.set_title(f"Population {metric} by subtype")
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_annotator_subtype_heatmap(
    comparison: SubtypeComparison, metric: str = "accuracy", ax: Axes | None = None, max_annotators: int = 30
) -> Axes:
    """Annotator × subtype posterior mean, each cell annotated with its number of labels.
    The annotators with the most labels are shown (``max_annotators``)."""
    ax = _axes(ax, (7.0, 4.5))
    table = comparison.annotators
    volume = table.groupby("annotator")["n_labels"].sum().sort_values(ascending=False)
    keep = list(volume.index[:max_annotators])
    values = table[table["annotator"].isin(keep)].pivot(index="annotator", columns="subtype", values=metric)
    counts = table[table["annotator"].isin(keep)].pivot(
        index="annotator", columns="subtype", values="n_labels"
    )
    values, counts = values.loc[keep], counts.loc[keep]
    image = ax.imshow(values.to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    for (i, j), n in np.ndenumerate(counts.to_numpy()):
        ax.text(
            j,
            i,
            str(int(n)),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if values.to_numpy()[i, j] < 0.6 else "black",
        )
    ax.set_xticks(range(values.shape[1]), values.columns.astype(str))
    ax.set_yticks(range(values.shape[0]), values.index.astype(str), fontsize=7)
    ax.set_xlabel("subtype")
    ax.set_ylabel("annotator (most labels first)")
    ax.set_title(f"Posterior {metric} by annotator and subtype (cell: n labels)")
    ax.figure.colorbar(image, ax=ax, label=metric)
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
    soft_labels: Any, cls: str | None = None, ax: Axes | None = None, max_items: int = 200
) -> Axes:
    """P(class) with its credible interval per item, items sorted by interval width (most
    uncertain first); the ``max_items`` most uncertain are shown.

    Parameters
    ----------
    soft_labels : SoftLabels, or anything `as_soft_labels` takes (a Fit, a table, a file)
    cls : str, optional
        The class shown (default: the last).
    ax : matplotlib Axes, optional
    max_items : int

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> plots.plot_soft_label_intervals(fit.soft_labels(ci_prob=0.9))  # doctest: +SKIP
    """

    soft = as_soft_labels(soft_labels)
    ax = _axes(ax, (7.0, 4.5))
    cls = str(cls) if cls is not None else soft.classes[-1]
    if cls not in soft.classes:
        raise ValueError(f"cls must be one of the classes {list(soft.classes)}, not {cls!r}")
    k = soft.classes.index(cls)
    lo, mean, hi = soft.lower[:, k], soft.mean[:, k], soft.upper[:, k]
    shown = np.argsort(-(hi - lo), kind="stable")[:max_items]
    x = np.arange(len(shown))
    ax.vlines(x, lo[shown], hi[shown], color="C0", alpha=0.5, linewidth=1)
    ax.plot(x, mean[shown], "o", markersize=2.5, color="C0")
    ax.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel(f"item (the {len(shown)} most uncertain, widest interval first)")
    ax.set_ylabel(f"P(class = {cls})")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Soft labels with credible intervals")
    return ax


def plot_routing_plan(plan: pd.DataFrame, ax: Axes | None = None, top: int = 15) -> Axes:
    """Labels requested per assignee, stacked by the reason the items were chosen."""
    ax = _axes(ax, (7.0, 4.5))
    counts = plan.groupby(["assign_to", "reason"]).size().unstack(fill_value=0)
    counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False).index[:top]]
    left = np.zeros(len(counts))
    y = np.arange(len(counts))[::-1]
    for i, reason in enumerate(counts.columns):
        ax.barh(y, counts[reason], left=left, color=f"C{i}", label=reason)
        left += counts[reason].to_numpy()
    ax.set_yticks(y, counts.index.astype(str))
    ax.set_xlabel("labels requested")
    ax.set_ylabel("assigned to")
    ax.set_title(
        f"Routing plan: {len(plan)} labels, expected gain {plan['expected_information_gain'].sum():.1f} nats"
    )
    ax.legend(title="reason", fontsize=8)
    return ax
