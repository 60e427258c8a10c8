"""One self-contained HTML report of a fit or of a label table, for readers without Python.

`report` gathers what the package computes into one file that opens from disk or an e-mail
attachment: figures are embedded PNGs (base64), the styles and the one small script that
sorts the annotator table are inline, nothing is fetched. Sections, each where it applies:

1. data: size, labels per item, the ingest summary's warnings;
2. agreement: Fleiss κ, Krippendorff α and observed agreement with bootstrap intervals, the
   pairwise Cohen κ heatmap and the annotator-profile scatter;
3. annotators: a sortable table of reliability with intervals (the model's, and against the
   leave-one-out consensus) and flags: *below chance* (trace of the confusion matrix below 1,
   the trace of any labeller who ignores the item, with the whole ``ci_prob`` interval below
   it), *drift* (accuracy fell by at least ``drift_drop`` from the first to the last time
   window) and *too fast* (at least ``too_fast_share`` of the gaps between labels under 2 s);
4. convergence and label switching (`Fit.check`): the verdict, the worst scalars by name;
5. the posterior predictive check (`bayeslabels.predictive_check`);
6. gold evaluation with intervals (`bayeslabels.evaluate`), reliability diagram and PR curve;
7. reliability by subtype (`bayeslabels.compare_subtypes` for per-subtype fits, else agreement
   and gold accuracy per subtype);
8. the most uncertain items with the labels they got;
9. the routing plan (`bayeslabels.route`) when a budget is given;
10. provenance: version, model spec, data hash.

The page is rendered by Jinja2 from ``templates/report.html.j2`` (autoescaped) and written
atomically.
"""

from __future__ import annotations

import base64
import io
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._checks import check_ci_prob
from ._io import atomic_write
from ._version import __version__
from .data import Annotations
from .errors import DataError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

    from .evaluate import Evaluation
    from .fit import Fit

TOO_FAST_SECONDS = 2.0  # `annotator_profiles`' default: gaps under this count as too fast


@dataclass
class Cell:
    """A table cell: the text shown, the key it sorts by, and an optional CSS class."""

    text: str
    sort: str | float | None = None  # None: the text
    css: str = ""

    def __post_init__(self) -> None:
        if self.sort is None:
            self.sort = self.text


@dataclass
class Table:
    """A table of `Cell` rows; ``sortable`` adds click-to-sort headers."""

    columns: list[str]
    rows: list[list[Cell]]
    sortable: bool = False
    caption: str = ""


@dataclass
class Figure:
    """An embedded PNG figure with its alt text."""

    alt: str
    png: str  # base64
    width: int
    height: int


@dataclass
class Section:
    """One section of the report: prose, notices, tables and figures, in that order."""

    id: str
    title: str
    text: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


# --------------------------------------------------------------------------- formatting


def _num(value: Any, digits: int = 3) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    return f"{number:.{digits}f}" if np.isfinite(number) else "–"


def _sort_key(value: Any) -> float | str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if np.isfinite(number) else float("-inf")


def _interval_cell(estimate: Any, lo: Any, hi: Any, digits: int = 3) -> Cell:
    text = _num(estimate, digits)
    if np.isfinite(float(lo)) and np.isfinite(float(hi)) and float(hi) > float(lo):
        text += f" [{_num(lo, digits)}, {_num(hi, digits)}]"
    return Cell(text, _sort_key(estimate))


def _plain_cell(value: Any, digits: int = 3) -> Cell:
    if isinstance(value, int | np.integer):
        return Cell(str(int(value)), float(value))
    if isinstance(value, float | np.floating):
        return Cell(_num(value, digits), _sort_key(value))
    return Cell("" if value is None or value is pd.NA else str(value), str(value))


def _frame_table(frame: pd.DataFrame, digits: int = 3, sortable: bool = False, caption: str = "") -> Table:
    rows = [[_plain_cell(v, digits) for v in row] for row in frame.itertuples(index=False)]
    return Table([str(c) for c in frame.columns], rows, sortable, caption)


def _png(figure: MplFigure, alt: str, dpi: int = 96) -> Figure:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    width, height = (int(round(v * dpi)) for v in figure.get_size_inches())
    return Figure(alt, base64.b64encode(buffer.getvalue()).decode("ascii"), width, height)


def _draw(draw: Callable[[Axes], object], alt: str, size: tuple[float, float] = (7.0, 5.0)) -> Figure:
    """Draw onto a new headless figure (no pyplot, nothing left open) and embed it."""
    from matplotlib.figure import Figure as MplFigure

    figure = MplFigure(figsize=size, layout="constrained")
    draw(figure.add_subplot())
    return _png(figure, alt)


# --------------------------------------------------------------------------- sections


def _data_section(ann: Annotations, source: str) -> Section:
    per_item = ann.labels_per_item
    per_annotator = ann.labels_per_annotator
    facts = [
        f"{ann.n_labels} labels on {ann.n_items} items by {ann.n_annotators} annotators; "
        f"classes {', '.join(map(str, ann.classes))}.",
        f"Labels per item: median {np.median(per_item):g} (min {per_item.min()}, max {per_item.max()}); "
        f"per annotator: median {np.median(per_annotator):g} (max {per_annotator.max()}).",
        f"Gold for {int((ann.gold >= 0).sum())} items"
        + (
            f"; {len(ann.subtypes)} subtypes ({', '.join(map(str, ann.subtypes))})"
            if ann.has_subtypes
            else ""
        )
        + ("; label timestamps present." if ann.timestamp is not None else "; no label timestamps."),
    ]
    if source:
        facts.insert(0, f"Source: {source}")
    section = Section("data", "Data", facts)
    if ann.summary is not None:
        section.notices += str(ann.summary).splitlines()[1:]
    if (per_item == 1).any() and ann.summary is None:
        section.notices.append(f"{int((per_item == 1).sum())} items have a single label")
    return section


def _agreement_section(ann: Annotations, ci_prob: float, n_boot: int, seed: int, max_heatmap: int) -> Section:
    from . import plots
    from .agreement import agreement, annotator_profiles

    section = Section("agreement", "Agreement")
    pairable = int((ann.labels_per_item >= 2).sum())
    if pairable == 0:
        section.notices.append("No item has two labels: agreement cannot be measured.")
        return section
    result = agreement(ann, ci_prob=ci_prob, n_boot=n_boot, seed=seed)
    names = {
        "fleiss_kappa": "Fleiss κ",
        "krippendorff_alpha": f"Krippendorff α ({result.level})",
        "observed_agreement": "observed pairwise agreement",
    }
    rows = [
        [
            Cell(names.get(r.coefficient, r.coefficient)),
            _interval_cell(r.estimate, r.lo, r.hi),
            Cell(str(r.n_items)),
        ]
        for r in result.coefficients.itertuples()
    ]
    section.tables.append(
        Table(
            ["coefficient", f"estimate [{ci_prob:.0%} bootstrap interval]", "items with ≥ 2 labels"],
            rows,
            caption=f"Chance-corrected agreement; percentile bootstrap intervals over items ({n_boot} runs).",
        )
    )
    bins = result.redundancy_bins()
    section.text.append("Items by labels received: " + ", ".join(f"{k}: {v}" for k, v in bins.items()) + ".")
    shown = min(max_heatmap, ann.n_annotators)
    side = 5.5 + 0.08 * shown
    section.figures.append(
        _draw(
            lambda ax: plots.plot_agreement(result, ax=ax, max_annotators=max_heatmap),
            "Pairwise Cohen's kappa heatmap",
            (side, side - 0.5),
        )
    )
    profiles = annotator_profiles(ann, ci_prob=ci_prob)
    section.figures.append(
        _draw(lambda ax: plots.plot_annotator_profiles(profiles, ax=ax), "Annotator profiles", (7.5, 5.0))
    )
    return section


def _below_chance(
    fit: Fit | None, ann: Annotations, ci_prob: float, n_compared: np.ndarray
) -> tuple[np.ndarray, str]:
    """Per annotator: is the trace of the confusion below 1 (a labeller who ignores the item
    has trace 1) over the whole interval? From the fit's confusion draws, else from the
    confusion against the leave-one-out consensus (annotators with ≥ 10 compared labels)."""
    if fit is not None:
        try:
            confusion = fit.annotator_confusion()
        except DataError:
            confusion = None
        if confusion is not None:
            trace = np.trace(confusion, axis1=-2, axis2=-1)  # draws × annotators
            upper = np.quantile(trace, 1 - (1 - ci_prob) / 2, axis=0)
            return upper < 1.0, "the model's confusion matrix"
    from .agreement import annotator_confusion

    table = annotator_confusion(ann)
    same = table[table["consensus"] == table["label"]]
    trace = same.groupby("annotator", sort=False)["rate"].sum(min_count=1)
    trace = trace.reindex(pd.Index(ann.annotators, dtype="string")).to_numpy(dtype=float)
    return (trace < 1.0) & (n_compared >= 10), "the confusion against the leave-one-out consensus"


def _annotator_section(
    ann: Annotations, fit: Fit | None, ci_prob: float, drift_drop: float, too_fast_share: float
) -> Section:
    from .agreement import annotator_profiles

    section = Section("annotators", "Annotators")
    profiles = annotator_profiles(ann, ci_prob=ci_prob, too_fast=TOO_FAST_SECONDS)
    below, basis = _below_chance(fit, ann, ci_prob, profiles["n_compared"].to_numpy())
    model = fit.annotators(ci_prob=ci_prob) if fit is not None else None
    reliability = []
    if model is not None:
        reliability = [c for c in model.columns if f"{c}_lo" in model.columns]
    columns = ["annotator", "labels"]
    columns += [f"model {c} [{ci_prob:.0%} CrI]" for c in reliability]
    columns += ["accuracy vs consensus [Wilson]", "agreement"]
    bias = "positive_bias" if "positive_bias" in profiles else None
    if bias:
        columns.append("positive bias")
    timed = "too_fast_share" in profiles
    if timed:
        columns += ["median s between labels", f"share < {TOO_FAST_SECONDS:g} s", "drift"]
    columns.append("flags")
    rows: list[tuple[int, float, list[Cell]]] = []
    for j, p in enumerate(profiles.itertuples(index=False)):
        flags = []
        if below[j]:
            flags.append("below chance")
        if timed and np.isfinite(p.drift) and p.drift <= -drift_drop:
            flags.append("drift")
        if timed and np.isfinite(p.too_fast_share) and p.too_fast_share >= too_fast_share:
            flags.append("too fast")
        cells = [Cell(str(p.annotator), str(p.annotator), "id"), Cell(str(p.n_labels), float(p.n_labels))]
        for c in reliability:
            assert model is not None
            cells.append(_interval_cell(model[c].iloc[j], model[f"{c}_lo"].iloc[j], model[f"{c}_hi"].iloc[j]))
        cells.append(_interval_cell(p.accuracy, p.accuracy_lo, p.accuracy_hi))
        cells.append(_plain_cell(p.agreement))
        if bias:
            cells.append(_plain_cell(float(getattr(p, bias)), 3))
        if timed:
            cells += [
                _plain_cell(p.median_seconds, 1),
                _plain_cell(p.too_fast_share, 2),
                _plain_cell(p.drift),
            ]
        cells.append(Cell(", ".join(flags), len(flags), "flag" if flags else ""))
        key = float(model[reliability[0]].iloc[j]) if model is not None and reliability else float(p.accuracy)
        rows.append((-len(flags), key if np.isfinite(key) else np.inf, cells))
    rows.sort(key=lambda r: (r[0], r[1]))
    flagged = sum(1 for r in rows if r[0] < 0)
    section.text.append(
        f"{len(rows)} annotators, flagged first, then least reliable first; click a header to sort. "
        f"Below chance: the trace of {basis} is below 1 (the trace of a labeller who ignores the item)"
        + (f" over the whole {ci_prob:.0%} interval" if fit is not None else "")
        + "."
        + (
            f" Drift: accuracy against the consensus fell by ≥ {drift_drop:g} from the first to the last "
            f"time window. Too fast: ≥ {too_fast_share:.0%} of the gaps between labels under "
            f"{TOO_FAST_SECONDS:g} s."
            if timed
            else " Without label timestamps, drift and speed are not assessed."
        )
    )
    if flagged:
        section.notices.append(f"{flagged} annotator{'s' if flagged > 1 else ''} flagged")
    section.tables.append(Table(columns, [r[2] for r in rows], sortable=True))
    return section


def _convergence_section(fit: Fit) -> Section:
    report = fit.check()
    section = Section("convergence", "Convergence and label switching")
    section.text.append(f"Verdict: {report.verdict}.")
    if not report.ok:
        section.notices += list(report.reasons)
    if not report.point_estimate:
        t = report.thresholds
        min_bfmi = min(report.bfmi) if report.bfmi else float("nan")
        checks = [
            ("max R-hat", _num(report.max_rhat, 4), f"≤ {t.max_rhat}", report.max_rhat <= t.max_rhat),
            (
                "min bulk ESS",
                _num(report.min_ess_bulk, 0),
                f"≥ {t.min_ess:.0f}",
                report.min_ess_bulk >= t.min_ess,
            ),
            (
                "min tail ESS",
                _num(report.min_ess_tail, 0),
                f"≥ {t.min_ess:.0f}",
                report.min_ess_tail >= t.min_ess,
            ),
            (
                "divergences",
                str(report.divergences),
                f"≤ {t.max_divergences}",
                report.divergences <= t.max_divergences,
            ),
            ("min BFMI", _num(min_bfmi), f"≥ {t.min_bfmi}", not report.bfmi or min_bfmi >= t.min_bfmi),
        ]
        section.tables.append(
            Table(
                ["check", "value", "limit", "result"],
                [
                    [Cell(n), Cell(v), Cell(lim), Cell("ok" if good else "FAIL", css="" if good else "flag")]
                    for n, v, lim, good in checks
                ],
                caption=f"{report.n_chains} chains × {report.n_draws} draws",
            )
        )
        chains = []
        for c in report.chains:
            if c.within_chain_switch:
                state = "switched within the chain: " + " → ".join(
                    map(str, dict.fromkeys(c.window_permutations))
                )
            else:
                state = f"label-switched, permutation {c.permutation}" if c.switched else "aligned"
            chains.append(
                [
                    Cell(str(c.chain)),
                    Cell(state, css="flag" if c.switched or c.within_chain_switch else ""),
                    Cell(_num(c.agreement)),
                ]
            )
        if chains:
            section.tables.append(
                Table(["chain", "labels vs the reference", "agreement with reference"], chains)
            )
        if report.worst:
            section.tables.append(
                Table(
                    ["variable", "R-hat", "bulk ESS", "tail ESS"],
                    [
                        [
                            Cell(w.label, css="id"),
                            Cell(_num(w.rhat, 4)),
                            Cell(_num(w.ess_bulk, 0)),
                            Cell(_num(w.ess_tail, 0)),
                        ]
                        for w in report.worst
                    ],
                    caption="The culprits: scalars with the highest R-hat and the lowest ESS.",
                )
            )
    section.notices += [f"warning: {w}" for w in report.warnings]
    return section


def _predictive_section(fit: Fit) -> Section | None:
    check = fit._predictive  # the check `Fit.check` ran (cached), not a second one
    if check is None:
        return None
    section = Section("predictive", "Posterior predictive check")
    section.text.append(
        f"{check.replicates} label tables replicated from the fit; "
        "p = P(T_rep > T_obs) + ½ P(T_rep = T_obs); "
        f"a misfit is a p-value outside [0.005, 0.995]. "
        + ("No misfit." if check.ok else f"{len(check.warnings)} misfit(s).")
    )
    section.notices += list(check.warnings)
    frame = check.table[
        ["statistic", "observed", "replicated_mean", "replicated_lo", "replicated_hi", "p_value"]
    ]
    rows = []
    for r, misfit in zip(frame.itertuples(index=False), check.table["misfit"], strict=True):
        rows.append(
            [
                Cell(str(r.statistic)),
                _plain_cell(r.observed),
                _interval_cell(r.replicated_mean, r.replicated_lo, r.replicated_hi),
                Cell(_num(r.p_value), _sort_key(r.p_value), "flag" if misfit else ""),
            ]
        )
    section.tables.append(
        Table(["statistic", "observed", f"replicated mean [{check.ci_prob:.0%}]", "p"], rows)
    )
    if check.replicated_statistics is not None:
        section.figures.append(_png(check.plot(), "Posterior predictive check: replicated statistics"))
    return section


def _evaluation_table(evaluation: Evaluation, name: str) -> list[list[Cell]]:
    rows = []
    for r in evaluation.metrics.to_dict(orient="records"):
        metric = r["metric"] + (f" ({r['class']})" if r["class"] else "")
        rows.append(
            [Cell(name), Cell(metric), _interval_cell(r["estimate"], r["lo"], r["hi"]), Cell(r["method"])]
        )
    return rows


def _gold_section(
    ann: Annotations, fit: Fit | None, gold: Any, ci_prob: float, n_boot: int, seed: int
) -> Section | None:
    from . import plots
    from .aggregate import majority_vote
    from .evaluate import evaluate

    gold_values = gold if gold is not None else (ann.gold if ann.has_gold else None)
    if gold_values is None:
        return None
    section = Section("gold", "Gold evaluation and calibration")
    votes = majority_vote(ann)
    targets: list[tuple[str, Any]] = []
    if fit is not None:
        targets.append((f"model ({fit.spec.model}, {fit.method})", fit))
        if fit.used_gold and gold is None:
            section.notices.append(
                "Gold anchored this fit (its class was fixed for gold items): the model's score on that "
                "gold is not a test. Fit with use_gold=False (--gold-use evaluate) to evaluate on it."
            )
    targets.append(("majority vote", votes))
    rows: list[list[Cell]] = []
    n_items = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the anchored-gold warning, stated above
        for name, target in targets:
            evaluation = evaluate(target, gold_values, ci_prob, n_boot=n_boot, seed=seed)
            n_items = evaluation.n_items
            rows += _evaluation_table(evaluation, name)
        section.text.append(
            f"{n_items} gold items; {ci_prob:.0%} intervals (Wilson or percentile bootstrap)."
        )
        section.tables.append(
            Table(["labels", "metric", "estimate [interval]", "interval method"], rows, sortable=True)
        )

        def reliability(ax: Axes) -> None:
            for name, target in targets:
                plots.plot_reliability(target, gold_values, ax=ax, label=name)

        def pr_curve(ax: Axes) -> None:
            for name, target in targets:
                plots.plot_pr_curve(
                    target, gold_values, ax=ax, label=name, n_boot=min(n_boot, 200), seed=seed
                )

        section.figures.append(_draw(reliability, "Reliability diagram", (5.5, 5.2)))
        section.figures.append(_draw(pr_curve, "Precision-recall curve", (6.5, 5.2)))
    return section


def _subtype_section(ann: Annotations, fit: Fit | None, gold: Any, ci_prob: float) -> Section | None:
    if not ann.has_subtypes:
        return None
    from . import plots
    from .aggregate import majority_vote
    from .agreement import fleiss_kappa

    section = Section("subtypes", "Reliability by subtype")
    if fit is not None and fit.family.per_subtype:
        from .compare import compare_subtypes

        comparison = compare_subtypes(fit, ci_prob=ci_prob)
        population = comparison.population
        rows = [
            [Cell(str(r.subtype)), Cell(str(r.metric)), _interval_cell(r.mean, r.lo, r.hi)]
            for r in population.itertuples(index=False)
        ]
        section.tables.append(Table(["subtype", "metric", f"posterior mean [{ci_prob:.0%} CrI]"], rows, True))
        n = int((population["metric"] == "accuracy").sum())
        section.figures.append(
            _draw(
                lambda ax: plots.plot_subtype_forest(comparison, ax=ax),
                "Subtype forest plot",
                (6.0, 1.3 + 0.42 * n),
            )
        )
        shown = min(30, comparison.annotators["annotator"].nunique())
        section.figures.append(
            _draw(
                lambda ax: plots.plot_annotator_subtype_heatmap(comparison, ax=ax),
                "Annotator by subtype reliability",
                (7.5, max(3.0, 1.6 + 0.24 * shown)),
            )
        )
        return section
    section.text.append(
        "This fit has one reliability per annotator for every subtype" if fit is not None else "Labels only"
    )
    section.text[-1] += (
        ": per subtype, the agreement of the labels"
        + (" and the accuracy of the hard labels on gold." if ann.has_gold or gold is not None else ".")
        + " Fit model='hierarchical-subtype' for reliability by subtype with credible intervals."
    )
    hard = fit.soft_labels(ci_prob=ci_prob).label if fit is not None else None
    votes = np.asarray(ann.classes, dtype=object)[np.maximum(majority_vote(ann).label, 0)]
    truth = ann.gold_series().reindex(ann.items).to_numpy(dtype=object) if ann.has_gold else None
    columns = ["subtype", "items", "labels", "Fleiss κ"]
    if truth is not None:
        columns += ["gold items", "majority vote accuracy"] + (["model accuracy"] if hard is not None else [])
    rows = []
    for code, name in enumerate(ann.subtypes):
        mask = ann.subtype == code
        subset = ann.subset(np.asarray(ann.items)[mask])
        kappa = fleiss_kappa(subset) if (subset.labels_per_item >= 2).any() else float("nan")
        row = [
            Cell(str(name)),
            _plain_cell(int(mask.sum())),
            _plain_cell(int(subset.n_labels)),
            _plain_cell(kappa),
        ]
        if truth is not None:
            known = mask & pd.notna(truth)
            row.append(_plain_cell(int(known.sum())))
            row.append(
                _plain_cell(float((votes[known] == truth[known]).mean()) if known.any() else float("nan"))
            )
            if hard is not None:
                row.append(
                    _plain_cell(float((hard[known] == truth[known]).mean()) if known.any() else float("nan"))
                )
        rows.append(row)
    section.tables.append(Table(columns, rows, sortable=True))
    return section


def _labels_given(ann: Annotations) -> list[str]:
    counts = ann.label_counts()
    names = [str(c) for c in ann.classes]
    return [
        ", ".join(f"{names[k]}×{int(n)}" for k, n in sorted(enumerate(row), key=lambda kn: -kn[1]) if n > 0)
        for row in counts
    ]


def _uncertain_section(ann: Annotations, fit: Fit | None, ci_prob: float, top: int) -> Section:
    from . import plots
    from .aggregate import majority_vote
    from .soft_labels import as_soft_labels

    soft = fit.soft_labels(ci_prob=ci_prob) if fit is not None else as_soft_labels(majority_vote(ann))
    what = "the model's soft labels" if fit is not None else "majority-vote shares (no model fitted)"
    section = Section("uncertain", "Most uncertain items")
    rows_idx = np.arange(soft.n_items)
    code = soft.mean.argmax(axis=1)
    width = soft.upper[rows_idx, code] - soft.lower[rows_idx, code]
    order = np.lexsort((-soft.entropy, -width))[:top]
    section.text.append(
        f"The {len(order)} of {soft.n_items} items with the widest interval on their most probable class, "
        f"then the highest entropy; from {what}."
    )
    given = _labels_given(ann)
    position = pd.Index(ann.items).get_indexer(pd.Index(soft.items))
    truth = ann.gold_series() if ann.has_gold else None
    rows = []
    for i in order:
        cls = soft.classes[code[i]]
        cells = [
            Cell(str(soft.items[i]), str(soft.items[i]), "id"),
            Cell(given[position[i]] if position[i] >= 0 else ""),
            Cell(str(cls)),
            _interval_cell(soft.mean[i, code[i]], soft.lower[i, code[i]], soft.upper[i, code[i]]),
            _plain_cell(float(soft.entropy[i])),
        ]
        if soft.subtype is not None:
            cells.append(Cell(str(soft.subtype[i] or "")))
        if truth is not None:
            cells.append(Cell(str(truth.get(soft.items[i], ""))))
        rows.append(cells)
    columns = ["item", "labels given", "most probable", f"P [{ci_prob:.0%}]", "entropy (nats)"]
    columns += ["subtype"] if soft.subtype is not None else []
    columns += ["gold"] if truth is not None else []
    section.tables.append(Table(columns, rows, sortable=True))
    section.figures.append(
        _draw(
            lambda ax: plots.plot_soft_label_intervals(soft, ax=ax), "Soft labels with intervals", (8.0, 4.5)
        )
    )
    return section


def _routing_section(fit: Fit, budget: float, ci_prob: float) -> Section:
    from . import plots
    from .routing import route

    plan = route(fit, budget=budget, ci_prob=ci_prob)
    section = Section("routing", "Routing plan")
    section.text.append(
        f"Budget {budget:g}: {len(plan)} labels on {plan['item'].nunique()} items, most valuable first "
        f"(value: expected information gain × severity / cost)."
    )
    if plan.empty:
        section.notices.append("No candidate items: every item has gold, or a severity of 0.")
        return section
    columns = ["item", "assign_to", "kind", "expected_information_gain", "cost", "reason"]
    section.tables.append(_frame_table(plan[[c for c in columns if c in plan]].head(100), sortable=True))
    shown = min(15, plan["assign_to"].nunique())
    section.figures.append(
        _draw(
            lambda ax: plots.plot_routing_plan(plan, ax=ax),
            "Routing plan",
            (7.0, max(3.0, 1.5 + 0.3 * shown)),
        )
    )
    return section


def _provenance(ann: Annotations, fit: Fit | None, source: str, ci_prob: float) -> list[tuple[str, str]]:
    items = [
        ("bayeslabels version", __version__),
        ("created", datetime.now(UTC).isoformat(timespec="seconds")),
        ("source", source or "(in memory)"),
        ("data hash", ann.data_hash),
        ("interval probability", f"{ci_prob:g}"),
    ]
    if fit is not None:
        items += [
            ("model", fit.spec.model),
            ("method", fit.method),
            ("spec hash", fit.spec.hash),
            ("gold anchored the fit", str(fit.used_gold and ann.has_gold)),
            ("model spec", json.dumps(fit.spec.to_dict(), indent=1, default=str)),
        ]
    return items


# --------------------------------------------------------------------------- entry point


def _resolve(source: Any, gold: Any) -> tuple[Annotations, Fit | None, str, Any]:
    """(annotations, fit or None, a name for the source, gold for evaluation or None)."""
    from .fit import Fit, load_fit
    from .ingest import read_gold

    if isinstance(source, Fit):
        return source.annotations, source, "", read_gold(gold) if isinstance(gold, str | Path) else gold
    if isinstance(source, Annotations):
        return source, None, "", read_gold(gold) if isinstance(gold, str | Path) else gold
    if isinstance(source, str | Path):
        path = Path(source)
        if path.is_dir():
            fit = load_fit(path)
            return fit.annotations, fit, str(path), gold
        ann = Annotations.from_file(path, gold=gold) if gold is not None else Annotations.from_file(path)
        return ann, None, str(path), None  # the gold is in the annotations now
    raise DataError(
        "report() takes a Fit, an Annotations, a saved fit directory or a labels file, "
        f"not {type(source).__name__}"
    )


def _template() -> Any:
    import jinja2

    text = resources.files("bayeslabels").joinpath("templates/report.html.j2").read_text(encoding="utf-8")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True)
    return environment.from_string(text)


def report(
    source: Any,
    path: str | Path,
    *,
    gold: Any = None,
    route_budget: float | None = None,
    ci_prob: float = 0.9,
    n_boot: int = 500,
    seed: int = 0,
    top_items: int = 25,
    max_heatmap_annotators: int = 40,
    drift_drop: float = 0.15,
    too_fast_share: float = 0.25,
    title: str | None = None,
) -> Path:
    """Write one self-contained HTML report of a fit or a label table.

    Parameters
    ----------
    source : Fit, Annotations, str or pathlib.Path
        A fit, labels, a saved fit directory (`Fit.save`) or a labels file.
    path : str or pathlib.Path
        The HTML file to write (atomically); its directory must exist.
    gold : str, pathlib.Path, pandas.Series or mapping, optional
        Gold labels (a table item, gold; or item → class). For a labels file it is read
        with the labels (a path or a column name); otherwise the fit's or annotations' own
        gold is used when this is None.
    route_budget : float, optional
        Add the routing plan (`bayeslabels.route`) for this many labels; needs a fit.
    ci_prob : float, default 0.9
        Probability of every interval in the report.
    n_boot : int, default 500
        Bootstrap replicates of the agreement and gold intervals.
    seed : int, default 0
        Seed of the bootstraps.
    top_items : int, default 25
        Rows of the most-uncertain-items table.
    max_heatmap_annotators : int, default 40
        The κ heatmap shows this many annotators with most shared items (stated in its title).
    drift_drop : float, default 0.15
        Flag "drift" when accuracy fell by at least this much (needs timestamps).
    too_fast_share : float, default 0.25
        Flag "too fast" when at least this share of gaps between labels is under 2 s.
    title : str, optional
        The page title.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    DataError
        For a source that is none of the above, or ``route_budget`` without a fit.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> fit = bl.fit(bl.datasets.load("rte"), method="em", use_gold=False)  # doctest: +SKIP
    >>> bl.report(fit, "report.html", route_budget=100)  # doctest: +SKIP
    PosixPath('report.html')
    """
    ci_prob = check_ci_prob(ci_prob)
    ann, fit, source_name, gold = _resolve(source, gold)
    if route_budget is not None and fit is None:
        raise DataError(
            "route_budget needs a fit (a routing plan uses the annotators' confusion): give a Fit"
        )
    out = Path(path)
    if not out.parent.exists():
        raise DataError(f"{out}: directory {out.parent} does not exist")
    sections: list[Section] = [
        _data_section(ann, source_name),
        _agreement_section(ann, ci_prob, n_boot, seed, max_heatmap_annotators),
        _annotator_section(ann, fit, ci_prob, drift_drop, too_fast_share),
    ]
    if fit is not None:
        sections.append(_convergence_section(fit))
        predictive = _predictive_section(fit)
        if predictive is not None:
            sections.append(predictive)
    optional: Sequence[Section | None] = (
        _gold_section(ann, fit, gold, ci_prob, n_boot, seed),
        _subtype_section(ann, fit, gold, ci_prob),
    )
    sections += [s for s in optional if s is not None]
    sections.append(_uncertain_section(ann, fit, ci_prob, top_items))
    if route_budget is not None and fit is not None:
        sections.append(_routing_section(fit, route_budget, ci_prob))
    heading = title or (
        f"bayeslabels report: {fit.spec.model} by {fit.method}"
        if fit is not None
        else "bayeslabels report: labels"
    )
    html = _template().render(
        title=heading,
        subtitle=f"{ann.n_labels} labels, {ann.n_items} items, {ann.n_annotators} annotators",
        sections=sections,
        provenance=_provenance(ann, fit, source_name, ci_prob),
    )
    return atomic_write(out, lambda tmp: tmp.write_text(html, encoding="utf-8"))
