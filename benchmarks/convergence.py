"""Does every shipped family pass `Fit.check()` at its shipped settings? (issue: defaults that converge)

Each fit is ``bayeslabels.fit(ann, model=NAME)`` with nothing overridden: the shipped spec's
4 chains × 1000 tune + 1000 draws, and its ``max_draws`` (4000), which draws again with twice
the draws while R-hat or ESS alone fail. Data: every bundled data set with gold held out of the
likelihood (``use_gold=False``), and simulated Dawid–Skene data of 1000 items × 50 annotators
(K = 2, 3 subtypes, 5 labels per item) with gold held out and with 10 % gold anchoring the fit.
Every fit runs in its own process; all share one PyTensor/numba disk cache (a new temporary
folder), so the first fit of a family pays the cold compile.

Recorded per fit: the verdict, max R-hat, min bulk and tail ESS, the worst scalar (from the
report's ``worst``), the draws per chain of each round, compile and sampling seconds, the whole
process's wall time, and gold accuracy where gold was held out.

Run from the repository root:
    nohup .venv/bin/python benchmarks/convergence.py > convergence.log 2>&1 &
    .venv/bin/python benchmarks/convergence.py --data rte sim-heldout --models hierarchical
Writes benchmarks/results/convergence.{jsonl,json,md} (``--report-only`` rebuilds the tables).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from _common import (
    RESULTS,
    SHARED_NOTE,
    fmt,
    jobs_done,
    load_shipped_fit,
    machine_info,
    machine_line,
    package_commit,
    record_row,
    report_progress,
    run_worker,
    with_cache,
)
from _common import write as write_results

from bayeslabels.models import family, family_names

DATA = [
    "sim-heldout",
    "sim-anchored",
    "bluebirds",
    "anesthesia",
    "rte",
    "music_genre",
    "dog",
    "duchenne",
    "adult_content",
]
MODELS = family_names()
LOG = RESULTS / "convergence.jsonl"


def load(name: str):
    """(annotations, whether gold anchors the fit)."""
    import bayeslabels as bl

    if name.startswith("sim-"):
        sim = bl.simulate.dawid_skene(
            n_items=1000,
            n_annotators=50,
            n_classes=2,
            labels_per_item=5,
            n_subtypes=3,
            gold_fraction=0.1,
            seed=14,
        )
        return sim.annotations, name == "sim-anchored"
    return bl.datasets.load(name, gold=True), False


def applicable(ann, model: str) -> bool:
    if model == "hierarchical-subtype":
        return ann.has_subtypes
    if family(model).ordered_only:
        return ann.ordered and not family(model).per_subtype
    return model != "beta-bernoulli" or ann.n_classes == 2


class RoundProgress(logging.Handler):
    """Passes each round's check of a ``max_draws`` fit (the ``bayeslabels`` logger's records
    with a ``check``) on to `report_progress`, so a fit that times out still says how far its
    chains got."""

    def emit(self, record: logging.LogRecord) -> None:
        check = getattr(record, "check", None)
        if check is not None:
            worst = check["worst"][0] if check["worst"] else None
            report_progress(
                {key: check[key] for key in ROUND_FIELDS}
                | {"worst": worst, "seconds": time.perf_counter() - WORKER_STARTED}
            )


WORKER_STARTED = time.perf_counter()
ROUND_FIELDS = ("n_draws", "thin", "verdict", "max_rhat", "min_ess_bulk", "min_ess_tail")
"""``n_draws`` counts the kept draws per chain: the chains ran ``n_draws × thin``."""


def worker(job: dict) -> dict:
    import bayeslabels as bl

    logger = logging.getLogger("bayeslabels")
    logger.addHandler(RoundProgress())
    logger.setLevel(logging.INFO)

    ann, use_gold = load(job["data"])
    if not applicable(ann, job["model"]):
        return {"skipped": True}
    start = time.perf_counter()
    fit = bl.fit(ann, model=job["model"], use_gold=use_gold, quiet=True)
    return _row(fit, ann, use_gold, time.perf_counter() - start)


def saved(job: dict, directory: str) -> dict:
    """The row of a fit saved at the shipped settings (`load_shipped_fit`)."""
    ann, use_gold = load(job["data"])
    fit, seconds = load_shipped_fit(directory, ann, job["model"], use_gold)
    return _row(fit, ann, use_gold, seconds)


def _row(fit, ann, use_gold: bool, fit_s: float) -> dict:
    report = fit.check()
    worst = report.worst[0] if report.worst else None
    return {
        "n_items": ann.n_items,
        "n_annotators": ann.n_annotators,
        "n_labels": ann.n_labels,
        "n_classes": ann.n_classes,
        "use_gold": use_gold,
        "ok": bool(report.ok),
        "verdict": report.verdict,
        "max_rhat": report.max_rhat,
        "min_ess_bulk": report.min_ess_bulk,
        "min_ess_tail": report.min_ess_tail,
        "divergences": report.divergences,
        "worst": str(worst) if worst else None,
        "draws_used": list(fit.sampling.draws_used) or [fit.sampling.draws],
        "thin": fit.sampling.thin,
        "compile_seconds": fit.sampling.compile_seconds,
        "sampling_seconds": fit.sampling.sampling_seconds,
        "fit_seconds": fit_s,
        "gold_accuracy": fit.gold_accuracy()["model"] if ann.has_gold and not use_gold else None,
        "bayeslabels_commit": package_commit(),
    }


def markdown(report: dict) -> str:
    lines = [
        "# Every shipped family at its shipped settings: does `check()` pass?",
        "",
        machine_line(report["machine"]),
        "",
        "`bl.fit(ann, model=...)` with no overrides (4 chains × 1000 + 1000; `max_draws` 4000,",
        "item-difficulty and ambiguity 8000, ambiguity's rows before dog's at 4000; a timed-out row's",
        'last check is the last round that finished; "1 in k kept": the posterior was thinned to stay',
        "within `POSTERIOR_READ_BYTES`, from commit 90ea015). item-difficulty: NUTS samples its effect",
        "copies under pseudo-priors (rows from 2026-12-04, commit 75248b0). Real data:",
        "gold held out of the fit. sim: 1000 items × 50 annotators, K = 2, 3 subtypes, 5 labels per item;",
        "`heldout` keeps its 10 % gold out of the fit, `anchored` fits with it.",
        "",
        "| data | model | check | max R-hat | min bulk ESS | min tail ESS | draws per chain | worst scalar "
        "| gold acc. | compile s | sampling s | wall s |",
        "|---|---|---|---:|---:|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in report["fits"]:
        head = f"| {r['data']} | {r['model']} "
        if "error" in r:
            failed = f"failed: {r['error']}{last_round(r.get('last_progress'))}"
            lines.append(head + f"| {failed} | | | | | | | | | |")
            continue
        lines.append(
            head + f"| {r['verdict']} | {fmt(r['max_rhat'], '.4f')} | {fmt(r['min_ess_bulk'], '.0f')} "
            f"| {fmt(r['min_ess_tail'], '.0f')} | {' → '.join(map(str, r['draws_used']))}{kept(r)} "
            f"| {r['worst']} "
            f"| {fmt(r['gold_accuracy'])} | {r['compile_seconds']:.1f} | {r['sampling_seconds']:.1f} "
            + (f"| {r['process_seconds']:.0f} |" if "process_seconds" in r else "| (saved fit) |")
        )
    lines += ["", SHARED_NOTE, ""]
    return "\n".join(lines)


def kept(row: dict) -> str:
    """A thinned fit's share of draws kept (`bayeslabels.inference.posterior_thinning`)."""
    return f" (1 in {row['thin']} kept)" if row.get("thin", 1) > 1 else ""


def last_round(progress: dict | None) -> str:
    """What a failed fit's last checked round said (`RoundProgress`), for its table row."""
    if not progress:
        return ""
    return (
        f"; last check at {progress['n_draws'] * progress.get('thin', 1)} draws per chain"
        f"{kept(progress)} ({progress['seconds']:.0f} s): "
        f"R-hat {progress['max_rhat']:.4f}, bulk ESS {progress['min_ess_bulk']:.0f}, "
        f"tail ESS {progress['min_ess_tail']:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=DATA, choices=DATA)
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per fit")
    parser.add_argument("--resume", action="store_true", help="keep convergence.jsonl, skip fits in it")
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="with --resume: fit again the fits whose row is an error or a timeout, replacing the row",
    )
    parser.add_argument("--report-only", action="store_true", help="rebuild the tables from the .jsonl")
    parser.add_argument(
        "--saved",
        help="record this saved fit (fit.save of bl.fit at the shipped settings) as the row of the one "
        "--data and --models named, instead of fitting",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker)), default=float))
        return
    if args.saved:
        if len(args.data) != 1 or len(args.models) != 1:
            raise SystemExit("--saved records one fit: name one --data and one --models")
        job = {"data": args.data[0], "model": args.models[0]}
        record_row(LOG, {**job, **saved(job, args.saved), "from_saved_fit": True}, ("data", "model"))
        args.report_only = True
    if not args.report_only:
        RESULTS.mkdir(parents=True, exist_ok=True)
        done = jobs_done(LOG, ("data", "model"), args.resume, args.retry_failed)
        cache = Path(tempfile.mkdtemp(prefix="bayeslabels-convergence-cache-"))
        started = time.perf_counter()
        for data in args.data:
            for model in args.models:
                if (data, model) in done:
                    continue
                print(f"[{time.perf_counter() - started:6.0f} s] {data} / {model}", flush=True)
                job = {"data": data, "model": model}
                result = run_worker(__file__, job, env=with_cache(cache), timeout=args.timeout)
                if result.get("skipped"):
                    continue
                print("  ", result.get("verdict", result.get("error")), flush=True)
                record_row(LOG, {**job, **result}, ("data", "model"))
    fits = [json.loads(line) for line in LOG.open()] if LOG.exists() else []
    machine = machine_info()
    if args.report_only and (RESULTS / "convergence.json").exists():  # the rows' machine, not this one's
        machine = json.loads((RESULTS / "convergence.json").read_text())["machine"]
    report = {"machine": machine, "fits": fits}
    write_results("convergence", report, markdown(report))


if __name__ == "__main__":
    main()
