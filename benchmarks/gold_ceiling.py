"""How often does gold agree with a unanimous crowd? The ceiling a soft label fitted without gold meets.

A soft label fitted on crowd labels alone can only learn what the crowd says; scored against
expert gold, its calibration also depends on how often the expert disagrees with a crowd that
agrees with itself. Per bundled data set with gold: the gold items with at least
``--min-labels`` labels, binned by the crowd's agreement (the top vote share); per bin the
number of items, the mean top vote share and EM's mean top probability (Dawid–Skene EM, gold
held out), and how often gold equals the crowd's majority and EM's label, with 90 % Jeffreys
intervals. The last bin, items the crowd labels (nearly) unanimously, is the ceiling: where gold
matches such items only 80–90 % of the time, a soft label calibrated against gold cannot be much
more confident than that anywhere, and nothing in the crowd labels says so.

    .venv/bin/python benchmarks/gold_ceiling.py [--data dog duchenne ...] [--min-labels 5]

Writes results/gold_ceiling.{json,md}.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import SHARED_NOTE, datasets_with_gold, fmt, machine_info, machine_line, write
from scipy.stats import beta

import bayeslabels as bl

AGREEMENT_BINS = (0.0, 0.5, 0.7, 0.9, 1.0)
CI_PROB = 0.9


def jeffreys(successes: int, trials: int) -> tuple[float, float]:
    """Equal-tailed 90 % Jeffreys interval of a proportion: Beta(s + ½, n − s + ½) quantiles."""
    tail = (1 - CI_PROB) / 2
    posterior = beta(successes + 0.5, trials - successes + 0.5)
    return float(posterior.ppf(tail)), float(posterior.ppf(1 - tail))


def rows_for(name: str, min_labels: int) -> list[dict]:
    ann = bl.datasets.load(name)
    em = bl.fit(ann, method="em", use_gold=False).soft_labels().mean
    votes = np.zeros((ann.n_items, ann.n_classes))
    np.add.at(votes, (ann.item_idx, ann.label), 1.0)
    share = votes / votes.sum(axis=1, keepdims=True)
    keep = (ann.gold >= 0) & (ann.labels_per_item >= min_labels)
    gold, share, em = ann.gold[keep], share[keep], em[keep]
    agreement = share.max(axis=1)
    rows = []
    for low, high in zip(AGREEMENT_BINS[:-1], AGREEMENT_BINS[1:], strict=True):
        inside = (agreement > low) & (agreement <= high)
        n = int(inside.sum())
        if n == 0:
            continue
        majority_right = int((share[inside].argmax(axis=1) == gold[inside]).sum())
        em_right = int((em[inside].argmax(axis=1) == gold[inside]).sum())
        rows.append(
            {
                "data": name,
                "gold_items": int(keep.sum()),
                "bin": f"({low:.1f}, {high:.1f}]",
                "items": n,
                "vote_share": float(agreement[inside].mean()),
                "em_confidence": float(em[inside].max(axis=1).mean()),
                "majority_gold_accuracy": majority_right / n,
                "majority_interval": jeffreys(majority_right, n),
                "em_gold_accuracy": em_right / n,
                "em_interval": jeffreys(em_right, n),
            }
        )
    return rows


def table(rows: list[dict], machine: dict, min_labels: int) -> str:
    lines = [
        "# Gold against a unanimous crowd: the ceiling of a soft label fitted without gold",
        "",
        machine_line(machine),
        "",
        f"Gold items with at least {min_labels} labels, binned by the crowd's agreement (top vote",
        "share). Per bin: the mean top vote share, Dawid–Skene EM's mean top probability (gold held",
        "out), and how often gold equals the crowd majority and EM's label (90 % Jeffreys interval).",
        "The top bin is the ceiling: a soft label calibrated against gold can be no more confident",
        "than gold's agreement with a crowd that agrees with itself — which the crowd labels do not show.",
        "",
        "| data | gold items | agreement | items | vote share | EM top p | gold = majority | interval "
        "| gold = EM | interval |",
        "|---|---:|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['data']} | {r['gold_items']} | {r['bin']} | {r['items']} | {fmt(r['vote_share'])} "
            f"| {fmt(r['em_confidence'])} | {fmt(r['majority_gold_accuracy'])} "
            f"| [{r['majority_interval'][0]:.3f}, {r['majority_interval'][1]:.3f}] "
            f"| {fmt(r['em_gold_accuracy'])} | [{r['em_interval'][0]:.3f}, {r['em_interval'][1]:.3f}] |"
        )
    lines += ["", SHARED_NOTE, ""]
    return "\n".join(lines)


def main() -> None:
    with_gold = datasets_with_gold()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=with_gold, choices=with_gold)
    parser.add_argument("--min-labels", type=int, default=5)
    args = parser.parse_args()
    machine = machine_info()
    rows = [row for name in args.data for row in rows_for(name, args.min_labels)]
    write(
        "gold_ceiling",
        {"machine": machine, "min_labels": args.min_labels, "rows": rows},
        table(rows, machine, args.min_labels),
    )


if __name__ == "__main__":
    main()
