"""Every model family by NUTS on one simulated data set with known truth.

Data: `bayeslabels.simulate.dawid_skene`, default 1k items × 50 annotators × 5 labels per
item, K=2, 4 item subtypes with ``subtype_shift=(1.0, 0.3, -0.3, -1.0)`` (so
hierarchical-subtype runs on the same data; the other models ignore the subtypes).
Models: dawid-skene, one-coin, hierarchical, hierarchical-subtype, beta-bernoulli, each by
``bayeslabels.fit(..., method="nuts")`` (nutpie), default 4 chains × 1000 tune + 1000 draws.

Each fit runs in a fresh Python process with its own empty PyTensor/numba disk cache, so
compilation is cold and counted. Measured per model: compile s and sampling s
(`Fit.sampling`), whole ``fit()`` s, min bulk ESS over all posterior variables
(`arviz_stats.ess`, finite values), min ESS per second of sampling, max R-hat, divergences,
`Fit.check` verdict, and accuracy of the hard label against the simulated truth (EM's too).
beta-bernoulli's hard label is the more likely *next label* (item rate θ_i > 0.5), not a
true class; it is compared with the truth anyway.

Run from the repository root:
    .venv/bin/python benchmarks/models_sim.py [--items 1000 --models dawid-skene one-coin ...]
Writes benchmarks/results/models_sim.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from _common import SHARED_NOTE, convergence, fmt, machine_info, machine_line, run_worker, with_cache, write

from bayeslabels.models import family, family_names

MODELS = [name for name in family_names() if not family(name).ordered_only]  # unordered classes here
SHIFT = (1.0, 0.3, -0.3, -1.0)


def worker(job: dict) -> dict:
    import numpy as np

    import bayeslabels as bl

    sim = bl.simulate.dawid_skene(
        n_items=job["items"],
        n_annotators=job["annotators"],
        n_classes=job["classes"],
        labels_per_item=job["labels_per_item"],
        n_subtypes=len(SHIFT),
        subtype_shift=SHIFT,
        seed=job["seed"],
    )
    start = time.perf_counter()
    fit = bl.fit(
        sim.annotations,
        model=job["model"],
        method="nuts",
        draws=job["draws"],
        tune=job["tune"],
        chains=job["chains"],
        quiet=True,
    )
    fit_s = time.perf_counter() - start
    names = np.asarray(sim.annotations.classes, dtype=object)
    result = {
        "compile_seconds": fit.sampling.compile_seconds,
        "sampling_seconds": fit.sampling.sampling_seconds,
        "fit_seconds": fit_s,
        **convergence(fit),
        "accuracy": float(np.mean(fit.soft_labels().label == names[sim.true_class])),
        "em_accuracy": float(np.mean(fit.em.label == sim.true_class)),
    }
    result["min_ess_per_sampling_second"] = result["min_ess_bulk"] / result["sampling_seconds"]
    return result


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        "# Model families by NUTS on simulated data",
        "",
        machine_line(report["machine"]),
        "",
        f"Data: {s['items']} items × {s['annotators']} annotators × {s['labels_per_item']} labels/item, "
        f"K={s['classes']}, 4 subtypes (shift {SHIFT}), seed {s['seed']}; nutpie, {s['chains']} chains × "
        f"{s['tune']} tune + {s['draws']} draws; each fit in a fresh process with an empty compile cache.",
        "",
        "| model | compile s | sampling s | fit() s | min bulk ESS | ESS/s sampling | max R-hat | div. "
        "| check | accuracy | EM accuracy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for name, r in report["runs"].items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error']} | | | | | | | | | |")
            continue
        lines.append(
            f"| {name} | {r['compile_seconds']:.1f} | {r['sampling_seconds']:.1f} | {r['fit_seconds']:.1f} "
            f"| {fmt(r['min_ess_bulk'], '.0f')} | {fmt(r['min_ess_per_sampling_second'], '.1f')} "
            f"| {fmt(r['max_rhat'], '.4f')} | {r['divergences']} | {r['check_verdict']} "
            f"| {r['accuracy']:.3f}{'*' if name == 'beta-bernoulli' else ''} | {r['em_accuracy']:.3f} |"
        )
    lines += [
        "",
        "min bulk ESS / max R-hat: over every posterior variable (deterministics included).",
        "\\* beta-bernoulli's hard label is the more likely next label (θ_i > 0.5), not an estimate of",
        "the true class; it is compared with the truth anyway.",
        "EM accuracy: the Dawid–Skene EM start of that fit (one-coin EM for one-coin).",
        SHARED_NOTE,
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in [
        ("items", 1000),
        ("annotators", 50),
        ("classes", 2),
        ("labels-per-item", 5),
        ("draws", 1000),
        ("tune", 1000),
        ("chains", 4),
        ("seed", 0),
    ]:
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    settings = {k: v for k, v in vars(args).items() if k not in ("models", "worker")}
    machine, runs = machine_info(), {}
    for model in args.models:
        print(f"fitting {model} ...", flush=True)
        cache = Path(tempfile.mkdtemp(prefix="bayeslabels-bench-cache-"))
        try:
            runs[model] = run_worker(__file__, {**settings, "model": model}, env=with_cache(cache))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        print(json.dumps(runs[model]), flush=True)
    report = {"machine": machine, "settings": settings, "runs": runs}
    write("models_sim", report, markdown(report))


if __name__ == "__main__":
    main()
