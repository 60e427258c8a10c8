"""Figures for label analysis and evaluation. Each takes ``ax=None`` (a new figure when
None) and returns the axes; none calls ``show``. For files without a display, draw on axes
of a ``matplotlib.figure.Figure`` (Agg canvas), as ``bayeslabels analyze --plots`` does.

* `plot_agreement`: heatmap of pairwise Cohen's κ between the busiest annotators;
* `plot_annotator_profiles`: accuracy against the leave-one-out consensus by bias or volume;
* `plot_reliability`: reliability diagram (top-label accuracy by confidence, Wilson bars);
* `plot_pr_curve`: precision–recall curve with a percentile-bootstrap band over items.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._resample import check_ci_prob, weight_chunks
from .agreement import AgreementReport, annotator_profiles, pairwise_cohen_kappa
from .data import Annotations
from .evaluate import _scored, _w_pr_curve, calibration_table, expected_calibration_error

if TYPE_CHECKING:
    from matplotlib.axes import Axes


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
    positive: str | None = None,
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
