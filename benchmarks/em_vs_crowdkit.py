"""Dawid–Skene EM: `bayeslabels.dawid_skene_em` vs crowd-kit's `DawidSkene`, same data.

For each label count (default 50k and 500k) and class count K (default 2 and 4) the script
simulates one Dawid–Skene data set (`bayeslabels.simulate.dawid_skene`, fixed labels per
item, 200 annotators) and fits it with both implementations, each given the same maximum
iterations and tolerance (the stopping rules differ: bayeslabels stops on the relative
change of its smoothed objective, crowd-kit on the absolute change of its ELBO per label).

Measured per fit: wall time of the fit alone (best of ``--repeats``; data building and the
DataFrame conversion are not timed), iterations, time per iteration, accuracy of the hard
label against the simulated truth; per data set: the speed ratio (crowd-kit / bayeslabels)
and the absolute accuracy difference, checked against the project's target (≥10× faster,
accuracies within 0.001). Also timed: one E-step pass of bayeslabels (class posteriors from
fixed estimates) and majority vote accuracy as a baseline.

Run from the repository root in the benchmark venv (crowd-kit lives there only):
    .venv-bench/bin/python benchmarks/em_vs_crowdkit.py [--labels 50000 500000] [--classes 2 4]
Writes benchmarks/results/em_vs_crowdkit.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np

import bayeslabels as bl
from bayeslabels.models._likelihood import cell_count_matrix, class_posterior

try:
    from crowdkit.aggregation import DawidSkene
except ImportError as exc:  # pragma: no cover - guidance only
    raise SystemExit("crowd-kit is not installed: use the benchmark venv (see benchmarks/README.md)") from exc

RESULTS = Path(__file__).parent / "results"
TARGET_RATIO, TARGET_ACC_DIFF = 10.0, 0.001


def best_time(fn, repeats: int):
    """(best wall seconds, result of the last call)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def crowdkit_fit(frame, n_iter: int, tol: float):
    with warnings.catch_warnings():  # pandas 3 deprecation warnings from crowd-kit internals
        warnings.simplefilter("ignore")
        return DawidSkene(n_iter=n_iter, tol=tol).fit(frame)


def run_case(n_labels: int, k: int, args) -> dict:
    n_items = n_labels // args.labels_per_item
    sim = bl.simulate.dawid_skene(
        n_items=n_items,
        n_annotators=args.annotators,
        n_classes=k,
        labels_per_item=args.labels_per_item,
        seed=args.seed,
    )
    ann, truth = sim.annotations, sim.true_class
    frame = ann.to_frame().rename(columns={"item": "task", "annotator": "worker"})

    em_s, em = best_time(lambda: bl.dawid_skene_em(ann, tol=args.tol, max_iter=args.max_iter), args.repeats)
    counts = cell_count_matrix(ann.item_idx, ann.annotator_idx, ann.label, ann.n_items, ann.n_annotators, k)
    log_pi, log_rho = np.log(em.confusion), np.log(em.prevalence)
    estep_s, _ = best_time(lambda: class_posterior(counts, log_pi, log_rho), max(args.repeats, 5))

    ck_s, ck = best_time(lambda: crowdkit_fit(frame, args.max_iter, args.tol), args.repeats)
    ck_label = ck.labels_.reindex(ann.items).to_numpy()
    names = np.asarray(ann.classes, dtype=object)

    em_acc = float(np.mean(em.label == truth))
    ck_acc = float(np.mean(ck_label == names[truth]))
    ratio = ck_s / em_s
    return {
        "n_labels": int(ann.n_labels),
        "n_items": int(ann.n_items),
        "n_annotators": int(ann.n_annotators),
        "n_classes": k,
        "bayeslabels": {
            "seconds": em_s,
            "n_iter": int(em.n_iter),
            "converged": bool(em.converged),
            "seconds_per_iter": em_s / em.n_iter,
            "estep_pass_seconds": estep_s,
            "accuracy": em_acc,
        },
        "crowdkit": {
            "seconds": ck_s,
            "n_iter": len(ck.loss_history_),
            "seconds_per_iter": ck_s / len(ck.loss_history_),
            "accuracy": ck_acc,
        },
        "majority_vote_accuracy": float(np.mean(bl.majority_vote(ann).label == truth)),
        "speed_ratio": ratio,
        "per_iter_speed_ratio": (ck_s / len(ck.loss_history_)) / (em_s / em.n_iter),
        "accuracy_diff": abs(em_acc - ck_acc),
        "meets_target": bool(ratio >= TARGET_RATIO and abs(em_acc - ck_acc) <= TARGET_ACC_DIFF),
    }


def machine_info() -> dict:
    cpuinfo = Path("/proc/cpuinfo")
    models = (
        [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        if cpuinfo.exists()
        else []
    )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": models[0] if models else platform.processor(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{pkg: version(pkg) for pkg in ("bayeslabels", "crowd-kit", "numpy", "pandas", "scipy")},
    }


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Dawid–Skene EM: bayeslabels vs crowd-kit",
        "",
        f"{m['date']} · {m['cpu']} · {m['cores']} cores · Python {m['python']} · numpy {m['numpy']} · "
        f"pandas {m['pandas']} · scipy {m['scipy']} · crowd-kit {m['crowd-kit']} · "
        f"bayeslabels {m['bayeslabels']}",
        "",
        f"Settings: {report['settings']}. Times are the best of the repeats, fit only.",
        "",
        "| labels | K | bayeslabels s (iters) | crowd-kit s (iters) | speed-up | per-iter speed-up "
        "| E-step pass s | per-iter / E-step | acc bayeslabels | acc crowd-kit | bl − ck | majority vote "
        "| target met |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in report["results"]:
        b, c = r["bayeslabels"], r["crowdkit"]
        lines.append(
            f"| {r['n_labels']:,} | {r['n_classes']} | {b['seconds']:.3f} ({b['n_iter']}) "
            f"| {c['seconds']:.2f} ({c['n_iter']}) | {r['speed_ratio']:.1f}× "
            f"| {r['per_iter_speed_ratio']:.1f}× | {b['estep_pass_seconds']:.4f} "
            f"| {b['seconds_per_iter'] / b['estep_pass_seconds']:.1f}× | {b['accuracy']:.4f} "
            f"| {c['accuracy']:.4f} | {b['accuracy'] - c['accuracy']:+.4f} "
            f"| {r['majority_vote_accuracy']:.4f} | {'yes' if r['meets_target'] else 'no'} |"
        )
    lines += [
        "",
        f"Target: ≥{TARGET_RATIO:g}× faster with |accuracy difference| ≤ {TARGET_ACC_DIFF}; one EM "
        "iteration within 20× of one E-step pass (class posteriors from fixed estimates: the floor).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, nargs="+", default=[50_000, 500_000], help="label counts")
    parser.add_argument("--classes", type=int, nargs="+", default=[2, 4], help="values of K")
    parser.add_argument("--annotators", type=int, default=200)
    parser.add_argument("--labels-per-item", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=500, help="max EM iterations, both libraries")
    parser.add_argument("--tol", type=float, default=1e-7, help="stopping tolerance, both libraries")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    results = []
    for n_labels in args.labels:
        for k in args.classes:
            print(f"running {n_labels:,} labels, K={k} ...", flush=True)
            results.append(run_case(n_labels, k, args))
    settings = {
        key: getattr(args, key)
        for key in ("annotators", "labels_per_item", "repeats", "max_iter", "tol", "seed")
    }
    report = {"machine": machine_info(), "settings": settings, "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "em_vs_crowdkit.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (args.out / "em_vs_crowdkit.md").write_text(table)
    with open(args.out / "em_vs_crowdkit.jsonl", "a") as log:
        log.write(json.dumps(report) + "\n")
    print(table)


if __name__ == "__main__":
    main()
