"""hierarchical-subtype at 100k labels × 800 annotators × 100 subtypes: model size and fit time.

Simulated like a relevance-judging pool: 100 subtypes (topics) of 200 items each, every
annotator works on 5 topics (chosen at random), every item gets 5 labels from annotators who
work on its topic; K = 2, prevalence 0.3; annotator accuracy ~ Beta(8, 2), shifted on the
logit scale by a per-(annotator, topic) N(0, 0.5) deviation. Reported: labels, the
(annotator, subtype) cells that hold labels against all J × S cells, the model's free
parameters now (ε on observed cells only) against before (ε on every cell: S·K·(J−1)·(K−1)),
the ADVI fit at the shipped settings (iterations, converged, seconds, gold accuracy against the
simulated truth), and with ``--nuts`` the shipped NUTS fit (4 × 1000 + 1000, ``max_draws``
as shipped) with its check.

Run from the repository root:
    .venv/bin/python benchmarks/sparse_cells.py [--nuts]
Writes benchmarks/results/sparse_cells.{json,md}.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import machine_info, machine_line, peak_mib, write


def simulate(seed: int = 0, n_annotators: int = 800, n_subtypes: int = 100, items_per_subtype: int = 200):
    import pandas as pd
    from scipy.special import expit, logit

    import bayeslabels as bl

    rng = np.random.default_rng(seed)
    n_items = n_subtypes * items_per_subtype
    subtype = np.repeat(np.arange(n_subtypes), items_per_subtype)
    truth = (rng.random(n_items) < 0.3).astype(int)
    topics = np.array([rng.choice(n_subtypes, 5, replace=False) for _ in range(n_annotators)])
    workers = [np.flatnonzero((topics == s).any(axis=1)) for s in range(n_subtypes)]
    accuracy = rng.beta(8, 2, n_annotators)
    deviation = rng.normal(0, 0.5, (n_annotators, n_subtypes))
    rows_item, rows_annotator = [], []
    for i in range(n_items):  # data generation only: the model has no loop
        pool = workers[subtype[i]]
        chosen = rng.choice(pool, min(5, len(pool)), replace=False)
        rows_item += [i] * len(chosen)
        rows_annotator += list(chosen)
    item, annotator = np.array(rows_item), np.array(rows_annotator)
    p_correct = expit(logit(accuracy[annotator]) + deviation[annotator, subtype[item]])
    correct = rng.random(len(item)) < p_correct
    label = np.where(correct, truth[item], 1 - truth[item])
    frame = pd.DataFrame(
        {
            "item": [f"i{i}" for i in item],
            "annotator": [f"a{j}" for j in annotator],
            "label": label.astype(str),
            "subtype": [f"t{s}" for s in subtype[item]],
        }
    )
    return bl.Annotations.from_frame(frame, classes=["0", "1"]), truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nuts", action="store_true", help="also fit by NUTS at the shipped settings")
    args = parser.parse_args()
    import bayeslabels as bl
    from bayeslabels.models._likelihood import observed_cells

    ann, truth = simulate()
    j, s, k = ann.n_annotators, len(ann.subtypes), ann.n_classes
    n_cells = len(observed_cells(ann)[1])
    before = s * k * (j - 1) * (k - 1)
    result = {
        "machine": machine_info(),
        "n_labels": ann.n_labels,
        "n_items": ann.n_items,
        "n_annotators": j,
        "n_subtypes": s,
        "observed_cells": n_cells,
        "all_cells": j * s,
        "epsilon_parameters_now": k * n_cells * (k - 1),
        "epsilon_parameters_before": before,
    }
    truth_in_order = truth[np.array([int(name[1:]) for name in ann.items])]  # ids are i<index>
    fits = {}
    methods = ["advi"] + (["nuts"] if args.nuts else [])
    for method in methods:
        start = time.perf_counter()
        fit = bl.fit(ann, model="hierarchical-subtype", method=method, quiet=True)
        seconds = time.perf_counter() - start
        labels = fit.soft_labels().label.astype(int)
        report = fit.check()
        fits[method] = {
            "seconds": seconds,
            "verdict": report.verdict,
            "iterations": int(fit.posterior["posterior"].attrs.get("iterations", 0)) or None,
            "draws_used": list(fit.sampling.draws_used) or [fit.sampling.draws],
            "accuracy_vs_truth": float((labels == truth_in_order).mean()),
            "max_rhat": report.max_rhat,
            "min_ess_bulk": report.min_ess_bulk,
        }
        print(method, fits[method], flush=True)
    result["fits"] = fits
    result["peak_rss_mib"] = peak_mib()
    lines = [
        "# hierarchical-subtype with parameters on observed cells only: 100k labels × 800 annotators "
        "× 100 subtypes",
        "",
        machine_line(result["machine"]),
        "",
        f"{result['n_labels']:,} labels, {result['n_items']:,} items, {j} annotators, {s} subtypes, K = {k}; "
        f"{n_cells:,} of {j * s:,} (annotator, subtype) cells hold labels. ε parameters: "
        f"{result['epsilon_parameters_now']:,} now (observed cells), {before:,} before (every cell).",
        "",
        "| method | wall s | check | ADVI iterations | draws per chain | accuracy vs truth |",
        "|---|---:|---|---:|---|---:|",
    ]
    for method, f in fits.items():
        lines.append(
            f"| {method} | {f['seconds']:.0f} | {f['verdict']} | {f['iterations'] or '—'} "
            f"| {' → '.join(map(str, f['draws_used']))} | {f['accuracy_vs_truth']:.3f} |"
        )
    lines += ["", f"Peak RSS {result['peak_rss_mib']:.0f} MiB.", ""]
    write("sparse_cells", result, "\n".join(lines))


if __name__ == "__main__":
    main()
