"""EM against majority vote at low redundancy (issue 17), and what helps.

Simulated Dawid–Skene data (`bayeslabels.simulate.dawid_skene`: accuracies U(0.65, 0.95), 10 %
spammers), 8 seeds per setting. Accuracy against the true class of: majority vote (random
tie-break), Dawid–Skene EM with its default light smoothing (`DawidSkenePriors.em_smoothing`),
one-coin EM, and EM with the Bayesian models' prior (`DawidSkenePriors()`, the prior
``method="map"`` maximises), with the median labels per annotator on items someone else also
labelled ("shared", what `bayeslabels.diagnostics.low_redundancy_warning` reads; it warns
below 10). Writes benchmarks/results/low_redundancy.{json,md}.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import bayeslabels as bl
from bayeslabels.diagnostics import overlap_per_annotator

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = [  # (classes, items, annotators, labels per item)
    (k, n, j, lpi)
    for k in (2, 3)
    for n, j in ((200, 50), (300, 100), (500, 20))
    for lpi in ((1, 1), (1, 2), (2, 2), (3, 3))
]
SEEDS = 8


def run() -> list[dict]:
    bayes = bl.DawidSkenePriors()
    rows = []
    for k, n, j, lpi in SETTINGS:
        scores: dict[str, list[float]] = {
            "majority_vote": [],
            "em": [],
            "one_coin_em": [],
            "em_bayes_prior": [],
        }
        shared = []
        for seed in range(SEEDS):
            sim = bl.simulate.dawid_skene(
                n_items=n, n_annotators=j, n_classes=k, labels_per_item=lpi, seed=seed
            )
            ann, truth = sim.annotations, sim.true_class
            shared.append(
                float(np.median(overlap_per_annotator(ann.item_idx, ann.annotator_idx, ann.n_annotators)))
            )
            scores["majority_vote"].append(float((bl.majority_vote(ann, seed=seed).label == truth).mean()))
            scores["em"].append(float((bl.dawid_skene_em(ann).label == truth).mean()))
            one_coin = bl.dawid_skene_em(ann, variant="one-coin")
            scores["one_coin_em"].append(float((one_coin.label == truth).mean()))
            scores["em_bayes_prior"].append(
                float((bl.dawid_skene_em(ann, priors=bayes).label == truth).mean())
            )
        rows.append(
            {
                "classes": k,
                "items": n,
                "annotators": j,
                "labels_per_item": f"{lpi[0]}-{lpi[1]}",
                "median_shared_labels_per_annotator": float(np.median(shared)),
                **{name: round(float(np.mean(values)), 3) for name, values in scores.items()},
            }
        )
    return rows


def main() -> None:
    rows = run()
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "low_redundancy.json").write_text(json.dumps(rows, indent=2))
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[h]) for h in header) + " |" for row in rows]
    (out / "low_redundancy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
