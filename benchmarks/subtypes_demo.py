"""Reliability by subtype on a simulated 3-subtype set with known truth, the routing
experiment, and the figures a reader can look at (docs/figures/*.png).

Data: 600 items, 15 annotators, K = 2, subtype logit shifts (1.2, 0.0, -0.8) on the correct
label (s0 easiest, s2 hardest). hierarchical-subtype by NUTS (4 × 1000). Routing: EM fit of a
sparser set (500 items, 1-3 labels each, 10 % gold), 100 labels routed vs 100 random labels,
new labels drawn from the simulator; soft-label error (1 − p_true) before/after on those items.
Writes benchmarks/results/subtypes_demo.{json,md}.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bayeslabels as bl  # noqa: E402
from bayeslabels import plots  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def comparison_vs_truth() -> tuple[pd.DataFrame, bl.Fit, bl.SubtypeComparison]:
    sim = bl.simulate.dawid_skene(
        n_items=600,
        n_annotators=15,
        n_classes=2,
        labels_per_item=(3, 5),
        spammer_fraction=0.0,
        n_subtypes=3,
        subtype_shift=(1.2, 0.0, -0.8),
        seed=8,
    )
    fit = bl.fit(sim.annotations, model="hierarchical-subtype", quiet=True)
    comparison = bl.compare_subtypes(fit, ci_prob=0.9)
    truth = np.einsum("jsk,k->js", np.einsum("jskk->jsk", sim.subtype_confusion), sim.prevalence).mean(axis=0)
    table = comparison.population.query("metric == 'accuracy'").assign(truth=truth)
    return table, fit, comparison


def routing_experiment() -> dict:
    sim = bl.simulate.dawid_skene(
        n_items=500, n_annotators=20, labels_per_item=(1, 3), gold_fraction=0.1, seed=3
    )
    ann, fit = sim.annotations, bl.fit(sim.annotations, method="em")
    plan = bl.route(fit, budget=100)
    rng = np.random.default_rng(0)
    labelled = set(zip(ann.to_frame()["item"], ann.to_frame()["annotator"], strict=True))
    open_items = np.asarray(ann.items, dtype=object)[ann.gold < 0]
    pairs: list[tuple[str, str]] = []
    while len(pairs) < 100:
        pair = (rng.choice(open_items), rng.choice(np.asarray(ann.annotators, dtype=object)))
        if pair not in labelled and pair not in pairs:
            pairs.append(pair)
    random_plan = pd.DataFrame(pairs, columns=["item", "assign_to"])

    def add(pairs_frame: pd.DataFrame) -> bl.Annotations:
        codes = ann.items.get_indexer(pairs_frame["item"])
        who = ann.annotators.get_indexer(pairs_frame["assign_to"])
        probs = sim.confusion[who, sim.true_class[codes]]
        labels = (np.random.default_rng(1).random(len(codes))[:, None] > probs.cumsum(axis=1)).sum(axis=1)
        extra = pd.DataFrame(
            {"item": pairs_frame["item"], "annotator": pairs_frame["assign_to"], "label": labels.astype(str)}
        )
        return bl.Annotations.from_frame(
            pd.concat([ann.to_frame(), extra]), classes=list(ann.classes), gold=ann.gold_series().dropna()
        )

    def error(f: bl.Fit, items) -> float:
        table = f.soft_labels().to_frame().set_index("item")
        codes = f.annotations.items.get_indexer(list(items))
        return float(
            np.mean([1 - table.loc[i, f"p_{t}"] for i, t in zip(items, sim.true_class[codes], strict=True)])
        )

    result = {}
    for name, chosen in (("routed", plan), ("random", random_plan)):
        items = pd.unique(chosen["item"])
        after = bl.fit(add(chosen), method="em")
        result[name] = {
            "labels": len(chosen),
            "items": len(items),
            "error_before": error(fit, items),
            "error_after": error(after, items),
        }
    plots.plot_routing_plan(plan).figure.savefig(ROOT / "docs" / "figures" / "routing_plan.png", dpi=120)
    return result


def main() -> None:
    figures = ROOT / "docs" / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    table, fit, comparison = comparison_vs_truth()
    for name, ax in {
        "subtype_forest.png": plots.plot_subtype_forest(comparison),
        "annotator_subtype_heatmap.png": plots.plot_annotator_subtype_heatmap(comparison),
        "subtype_confusions.png": plots.plot_confusion_matrices(comparison)[0],
        "soft_label_intervals.png": plots.plot_soft_label_intervals(fit.soft_labels()),
    }.items():
        ax.figure.savefig(figures / name, dpi=120)
        plt.close(ax.figure)
    routing = routing_experiment()
    differences = comparison.differences.query("level == 'population' and metric == 'accuracy'")
    result = {
        "check": fit.check().verdict,
        "population": table.to_dict("records"),
        "differences": differences.to_dict("records"),
        "routing": routing,
    }
    out = ROOT / "benchmarks" / "results"
    (out / "subtypes_demo.json").write_text(json.dumps(result, indent=2, default=float))
    lines = [
        "# Reliability by subtype (simulated, known truth) and routing",
        "",
        f"check: {result['check']}",
        "",
        "| subtype | accuracy (mean) | 90% interval | truth |",
        "|---|---:|---|---:|",
    ]
    lines += [
        f"| {r['subtype']} | {r['mean']:.3f} | [{r['lo']:.3f}, {r['hi']:.3f}] | {r['truth']:.3f} |"
        for r in result["population"]
    ]
    lines += [
        "",
        "| first | second | difference | 90% interval | P(first > second) |",
        "|---|---|---:|---|---:|",
    ]
    lines += [
        f"| {r['first']} | {r['second']} | {r['mean']:+.3f} | [{r['lo']:+.3f}, {r['hi']:+.3f}] "
        f"| {r['p_greater']:.3f} |"
        for r in result["differences"]
    ]
    lines += ["", "| routing | labels | items | error before | error after |", "|---|---:|---:|---:|---:|"]
    lines += [
        f"| {k} | {v['labels']} | {v['items']} | {v['error_before']:.3f} | {v['error_after']:.3f} |"
        for k, v in routing.items()
    ]
    (out / "subtypes_demo.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
