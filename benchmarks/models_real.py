"""Gold accuracy of each model family by NUTS on the bundled real data sets, gold held out.

Data sets (in this order): bluebirds, rte, dog, music_genre, duchenne, adult_content
(`bayeslabels.datasets.load`). Models: dawid-skene, one-coin, hierarchical on every set;
beta-bernoulli on the binary sets only; hierarchical-subtype on rte only (the one set with
subtypes). Each fit: ``bayeslabels.fit(ann, model=..., method="nuts", use_gold=False)``,
4 chains × 1000 tune + 1000 draws, in its own Python process (a crash or time-out loses one
fit only). A fit that runs longer than ``--slow-after`` seconds (default 300) is stopped and
re-run with 2 chains × 500 tune + 500 draws, and so is every later model on that data set.

Measured per fit (from `Fit.gold_accuracy`, `Fit.check`, `Fit.sampling`): accuracy of the
hard label on the held-out gold items next to Dawid–Skene EM (the fit's start) and majority
vote, the `check` verdict, max R-hat and min bulk ESS over all posterior variables,
compile s, sampling s and the process's wall time. All fits share one PyTensor/numba disk
cache (a temporary folder), so a model's second data set may compile faster than its first.

Each finished fit is appended to benchmarks/results/models_real.jsonl at once; the JSON
and Markdown tables are written at the end (``--report-only`` rebuilds them from the
.jsonl; ``--resume`` skips fits already there).

Run from the repository root:
    nohup .venv/bin/python benchmarks/models_real.py > models_real.log 2>&1 &
    .venv/bin/python benchmarks/models_real.py --datasets bluebirds rte --models dawid-skene
Writes benchmarks/results/models_real.{jsonl,json,md}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from _common import (
    RESULTS,
    SHARED_NOTE,
    convergence,
    fmt,
    jobs_done,
    machine_info,
    machine_line,
    package_commit,
    run_worker,
    with_cache,
    write,
)

from bayeslabels.models import family, family_names

DATASETS = ["bluebirds", "rte", "dog", "music_genre", "duchenne", "adult_content"]
MODELS = family_names()
FULL, REDUCED = {"chains": 4, "tune": 1000, "draws": 1000}, {"chains": 2, "tune": 500, "draws": 500}
LOG = RESULTS / "models_real.jsonl"


def applicable(dataset: str, model: str, n_classes: int) -> bool:
    if model == "hierarchical-subtype":
        return dataset == "rte"
    if family(model).ordered_only:  # ordered classes: adult_content only (ordinal-subtype: none)
        return dataset == "adult_content" and not family(model).per_subtype
    return model != "beta-bernoulli" or n_classes == 2


def worker(job: dict) -> dict:
    import bayeslabels as bl

    ann = bl.datasets.load(job["dataset"], gold=True)
    start = time.perf_counter()
    fit = bl.fit(ann, model=job["model"], method="nuts", use_gold=False, quiet=True, **job["settings"])
    fit_s = time.perf_counter() - start
    return {
        **blind_check(fit),
        "n_items": ann.n_items,
        "n_annotators": ann.n_annotators,
        "n_labels": ann.n_labels,
        "n_classes": ann.n_classes,
        "compile_seconds": fit.sampling.compile_seconds,
        "sampling_seconds": fit.sampling.sampling_seconds,
        "fit_seconds": fit_s,
        "gold": fit.gold_accuracy(),
        **convergence(fit),
    }


def blind_check(fit) -> dict:
    """`Fit.check` aligns chains to gold whenever the data have gold, even held-out gold. Also
    check with the gold removed (chains aligned to EM), and score `Fit.relabel` of that fit."""
    from dataclasses import replace

    import numpy as np

    ann = fit.annotations
    known = ann.gold >= 0
    blind = replace(fit, annotations=replace(ann, gold=np.full(ann.n_items, -1)))
    report = blind.check()
    labels = blind.relabel().soft_labels(ci_prob=0.5).label
    truth = np.asarray(ann.classes, dtype=object)[ann.gold[known]]
    return {
        "chain_permutations_vs_gold": [list(c.permutation) for c in fit.check().chains],
        "blind_check_verdict": str(report.verdict),
        "blind_chain_permutations_vs_em": [list(c.permutation) for c in report.chains],
        "blind_relabelled_gold_accuracy": float((labels[known] == truth).mean()),
    }


def markdown(report: dict) -> str:
    lines = [
        "# Model families by NUTS on real data: accuracy on held-out gold",
        "",
        machine_line(report["machine"]),
        "",
        "Gold held out of every fit (`use_gold=False`); nutpie; settings per row (chains × tune+draws).",
        "",
        "| data set | model | commit | settings | gold acc. | EM | majority vote | n gold | check "
        "| check vs EM "
        "| relabelled acc. | max R-hat | min bulk ESS | compile s | sampling s | wall s |",
        "|---|---|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["fits"]:
        s = r["settings"]
        commit = r.get("bayeslabels_commit", "?")
        head = f"| {r['dataset']} | {r['model']} | {commit} | {s['chains']}×{s['tune']}+{s['draws']} "
        if "error" in r:
            lines.append(head + f"| failed: {r['error']} | | | | | | | | | | | | |")
            continue
        g = r["gold"]
        lines.append(
            head + f"| {g['model']:.3f} | {g['em']:.3f} | {g['majority_vote']:.3f} | {g['n_gold']} "
            f"| {r['check_verdict']} | {_same(r.get('blind_check_verdict', '—'), r['check_verdict'])} "
            f"| {fmt(r.get('blind_relabelled_gold_accuracy'))} "
            f"| {fmt(r['max_rhat'], '.3f')} | {fmt(r['min_ess_bulk'], '.0f')} "
            f"| {r['compile_seconds']:.1f} | {r['sampling_seconds']:.1f} | {r['process_seconds']:.0f} |"
        )
    lines += [
        "",
        "EM: the Dawid–Skene EM solution the sampler started from (one-coin EM for one-coin).",
        "check: `Fit.check()`; with gold in the data it aligns chains to the gold even though the gold",
        "was held out of the fit. check vs EM: the same check on a copy without gold (chains aligned to",
        "EM); relabelled acc.: gold accuracy of that copy's `relabel()` (no gold used). '—': not recorded.",
        "beta-bernoulli's hard label is the more likely next label (θ_i > 0.5).",
        "max R-hat / min bulk ESS: over every posterior variable (deterministics included).",
        "wall s: the fit's whole process (import, data, EM, compile, sampling, checks).",
        f"A fit slower than {report['slow_after']} s at 4×1000+1000 was stopped and re-run at 2×500+500 "
        "(also used for the later models of that data set); failed rows show why.",
        "Stopped at 4×1000+1000 (too slow): "
        + (", ".join(report["timed_out_at_full_settings"]) or "none")
        + ".",
        "Fitted at 2×500+500 from the start (`--reduced`): "
        + (", ".join(report.get("reduced", [])) or "none")
        + ". commit: the package commit when the fit ended (rows may come from separate invocations).",
        SHARED_NOTE,
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS, choices=DATASETS)
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--slow-after", type=float, default=300.0, help="seconds before dropping to 2×500")
    parser.add_argument("--timeout", type=float, default=1500.0, help="seconds for a reduced fit")
    parser.add_argument("--resume", action="store_true", help="keep models_real.jsonl, skip fits in it")
    parser.add_argument(
        "--reduced", nargs="*", default=[], choices=DATASETS, help="data sets to fit at 2×500 from the start"
    )
    parser.add_argument("--report-only", action="store_true", help="rebuild the tables from the .jsonl")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    machine = machine_info()
    if not args.report_only:
        RESULTS.mkdir(parents=True, exist_ok=True)
        done = jobs_done(LOG, ("dataset", "model"), args.resume, retry_failed=True)
        classes = {
            name: len(json.loads((_data_folder(name) / "meta.json").read_text())["classes"])
            for name in args.datasets
        }
        cache = Path(tempfile.mkdtemp(prefix="bayeslabels-bench-cache-"))
        started = time.perf_counter()
        try:
            for dataset in args.datasets:
                settings = REDUCED if dataset in args.reduced else FULL
                for model in args.models:
                    if not applicable(dataset, model, classes[dataset]) or (dataset, model) in done:
                        continue
                    print(
                        f"[{time.perf_counter() - started:6.0f} s] {dataset} / {model} {settings}", flush=True
                    )
                    job = {"dataset": dataset, "model": model, "settings": settings}
                    limit = args.slow_after if settings is FULL else args.timeout
                    result = run_worker(__file__, job, env=with_cache(cache), timeout=limit)
                    if settings is FULL and str(result.get("error", "")).startswith("timed out"):
                        _append({**job, **result})  # keep the time-out on record
                        settings = REDUCED
                        job["settings"] = settings
                        print(f"  slower than {limit:.0f} s: re-running at {settings}", flush=True)
                        result = run_worker(__file__, job, env=with_cache(cache), timeout=args.timeout)
                    _append({**job, **result})
                    print("  " + json.dumps(result), flush=True)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        machine["total_seconds"] = time.perf_counter() - started
    records = sorted(
        (json.loads(line) for line in LOG.open()),
        key=lambda r: (DATASETS.index(r["dataset"]), MODELS.index(r["model"]), r["settings"] != FULL),
    )
    stopped = [
        r for r in records if str(r.get("error", "")).startswith("timed out") and r["settings"] == FULL
    ]
    report = {
        "machine": machine,
        "slow_after": args.slow_after,
        "reduced": args.reduced,
        "fits": [r for r in records if not any(r is s for s in stopped)],
        "timed_out_at_full_settings": [f"{r['dataset']}/{r['model']}" for r in stopped],
    }
    write("models_real", report, markdown(report))


def _data_folder(name: str) -> Path:
    return Path(__file__).resolve().parents[1] / "bayeslabels" / "datasets" / name


def _same(text: str, other: str) -> str:
    return "same" if text == other else text


def _append(record: dict) -> None:
    with LOG.open("a") as handle:
        handle.write(json.dumps({**record, "bayeslabels_commit": package_commit()}) + "\n")


if __name__ == "__main__":
    main()
