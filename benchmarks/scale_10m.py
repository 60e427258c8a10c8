"""Ten million labels on one machine: ingest from Parquet, Dawid–Skene EM, minibatch ADVI.

Data: `bayeslabels.simulate.dawid_skene`, default 2M items × 5 labels (10M labels), 10k
annotators, K=3, simulated once in its own process and written as a Parquet file of
(item, annotator, label) rows plus the truth; the simulator's memory never counts. Runs,
each in a fresh process (the parent never imports bayeslabels: a child inherits its
parent's peak RSS through fork + exec):

* ``ingest``: ``Annotations.from_parquet(path)`` — validation, encoding, the whole data contract;
* ``em``: ingest, then ``dawid_skene_em(ann)`` (class-conditional, default smoothing);
* ``advi``: ingest, then ``fit(ann, method="advi", minibatch_items=...)`` and the soft labels
  from ``--draws`` draws of the approximation.

Measured per run: wall seconds of each step, EM iterations, ADVI iterations and whether the
loss-plateau rule stopped it, peak RSS of the whole process (``ru_maxrss``) and — with the
peak reset after ingest (``/proc/self/clear_refs``) — of the fitting step, and accuracy of the
hard labels against the simulated truth (majority vote alongside). Targets (issue 9): ingest
≤ 20 s, EM ≤ 60 s and ≤ 3 GB peak RSS, minibatch ADVI converged in ≤ 10 min.

Run from the repository root:
    .venv/bin/python benchmarks/scale_10m.py [--items 2000000 --annotators 10000 --classes 3]
    .venv/bin/python benchmarks/scale_10m.py --items 200000 --annotators 1000 --no-advi   # quick
Writes benchmarks/results/scale_10m.{json,md} and appends to scale_10m.jsonl.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import SHARED_NOTE, fmt, machine_info, machine_line, peak_mib, reset_peak, run_worker, write

TARGETS = {
    "ingest_seconds": 20.0,
    "em_seconds": 60.0,
    "em_peak_rss_mib": 3072.0,
    "advi_seconds": 600.0,
    "soft_labels_share_of_fit": 0.25,  # issue 18
    "advi_peak_rss_mib": 3072.0,  # issue 18: the whole ADVI run, soft labels included
}


def simulate(job: dict) -> dict:
    import pandas as pd

    import bayeslabels as bl

    start = time.perf_counter()
    sim = bl.simulate.dawid_skene(
        n_items=job["items"],
        n_annotators=job["annotators"],
        n_classes=job["classes"],
        labels_per_item=job["labels_per_item"],
        seed=job["seed"],
    )
    ann = sim.annotations
    ann.to_frame()[["item", "annotator", "label"]].to_parquet(job["labels"], index=False)
    classes = pd.Index(ann.classes).to_numpy()
    pd.DataFrame({"item": ann.items.to_numpy(), "truth": classes[sim.true_class]}).to_parquet(
        job["truth"], index=False
    )
    return {"n_labels": int(ann.n_labels), "seconds": time.perf_counter() - start, "peak_rss_mib": peak_mib()}


def accuracy(labels, ann, truth_path: str) -> float:
    import numpy as np
    import pandas as pd

    truth = pd.read_parquet(truth_path).set_index("item")["truth"].astype(str)
    return float(np.mean(np.asarray(labels, dtype=object) == truth.reindex(ann.items).to_numpy()))


def worker(job: dict) -> dict:
    if job["run"] == "simulate":
        return simulate(job)
    import numpy as np

    import bayeslabels as bl

    start = time.perf_counter()
    ann = bl.Annotations.from_parquet(job["labels"])
    result = {"ingest_seconds": time.perf_counter() - start, "peak_rss_mib_ingest": peak_mib()}
    if job["run"] == "ingest":
        return result
    classes = np.asarray(ann.classes, dtype=object)
    reset_peak()
    start = time.perf_counter()
    if job["run"] == "em":
        em = bl.dawid_skene_em(ann)
        result["fit_seconds"] = time.perf_counter() - start
        result["iterations"] = int(em.n_iter)
        result["converged"] = bool(em.converged)
        result["peak_rss_mib_fit"] = peak_mib()
        result["accuracy"] = accuracy(classes[em.label], ann, job["truth"])
        result["majority_vote_accuracy"] = accuracy(classes[bl.majority_vote(ann).label], ann, job["truth"])
        return result
    fit = bl.fit(ann, method="advi", minibatch_items=job["minibatch"], draws=job["draws"], quiet=True)
    result["fit_seconds"] = time.perf_counter() - start
    result["advi_seconds"] = fit.sampling.sampling_seconds
    result["iterations"] = fit.sampling.tune
    result["converged"] = bool(fit.posterior["posterior"].attrs.get("converged"))
    result["peak_rss_mib_fit"] = peak_mib()
    start = time.perf_counter()
    labels = fit.soft_labels().label
    result["soft_labels_seconds"] = time.perf_counter() - start
    result["peak_rss_mib_soft_labels"] = peak_mib()
    result["accuracy"] = accuracy(labels, ann, job["truth"])
    result["em_accuracy"] = accuracy(classes[fit.em.label], ann, job["truth"])
    return result


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        "# Ten million labels on one machine: ingest, EM, minibatch ADVI",
        "",
        machine_line(report["machine"]),
        "",
        f"Data: {s['items']:,} items × {s['labels_per_item']} labels = {s['n_labels']:,} labels, "
        f"{s['annotators']:,} annotators, K={s['classes']}, seed {s['seed']}; Parquet "
        f"{s['parquet_mib']:.0f} MiB (simulated in {s['simulation_seconds']:.0f} s, not counted). "
        "Each run in a fresh process.",
        "",
        "| run | ingest s | fit s | iterations | converged | peak RSS MiB: ingest / fit (after reset) "
        "| soft labels s | accuracy | majority vote / EM |",
        "|---|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for name, r in report["runs"].items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error']} ({r['process_seconds']:.0f} s) | | | | | | | |")
            continue
        peaks = f"{fmt(r.get('peak_rss_mib_ingest'), '.0f')} / {fmt(r.get('peak_rss_mib_fit'), '.0f')}"
        baseline = r.get("majority_vote_accuracy", r.get("em_accuracy"))
        lines.append(
            f"| {name} | {r['ingest_seconds']:.1f} | {fmt(r.get('fit_seconds'), '.1f')} "
            f"| {r.get('iterations', '—')} | {r.get('converged', '—')} | {peaks} "
            f"| {fmt(r.get('soft_labels_seconds'), '.1f')} | {fmt(r.get('accuracy'), '.4f')} "
            f"| {fmt(baseline, '.4f')} |"
        )
    lines += ["", "Targets (issues 9 and 18) and this run:", ""]
    for key, value in report["verdicts"].items():
        lines.append(f"- {key}: {value}")
    lines += [
        "",
        "Peak RSS is `ru_maxrss` of the run's process: the ingest column over import + ingest; the",
        "peak is then reset, so the fit column is the peak during the fit (it includes the data",
        "already resident). ADVI's fit s includes the EM start, model building and compilation.",
        SHARED_NOTE,
        "",
    ]
    return "\n".join(lines)


def verdicts(runs: dict) -> dict[str, str]:
    def check(label: str, value, target: float, unit: str) -> str:
        if value is None:
            return f"{label}: not measured"
        return f"{value:.2f} {unit} (target ≤ {target:g}) {'met' if value <= target else 'NOT met'}"

    ingest, em, advi = runs.get("ingest", {}), runs.get("em", {}), runs.get("advi", {})
    return {
        "ingest": check("ingest", ingest.get("ingest_seconds"), TARGETS["ingest_seconds"], "s"),
        "EM time": check("EM", em.get("fit_seconds"), TARGETS["em_seconds"], "s"),
        "EM peak RSS (whole process)": check(
            "EM RSS",
            max(em.get("peak_rss_mib_ingest", 0), em.get("peak_rss_mib_fit", 0)) or None,
            TARGETS["em_peak_rss_mib"],
            "MiB",
        ),
        "ADVI (minibatch) time to convergence": check(
            "ADVI", advi.get("fit_seconds") if advi.get("converged") else None, TARGETS["advi_seconds"], "s"
        ),
        "ADVI soft labels, share of the fit time (issue 18)": check(
            "share",
            advi["soft_labels_seconds"] / advi["fit_seconds"] if "soft_labels_seconds" in advi else None,
            TARGETS["soft_labels_share_of_fit"],
            "× fit time",
        ),
        "ADVI peak RSS, whole run (issue 18)": check(
            "ADVI RSS",
            max(advi.get(f"peak_rss_mib_{part}", 0) for part in ("ingest", "fit", "soft_labels")) or None,
            TARGETS["advi_peak_rss_mib"],
            "MiB",
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in [
        ("items", 2_000_000),
        ("annotators", 10_000),
        ("classes", 3),
        ("labels-per-item", 5),
        ("minibatch", 5000),
        ("draws", 100),
        ("seed", 0),
        ("advi-timeout", 1200),
    ]:
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--no-advi", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    settings = {k: v for k, v in vars(args).items() if k not in ("worker", "no_advi")}
    machine, runs = machine_info(), {}
    with tempfile.TemporaryDirectory(prefix="bayeslabels-10m-") as folder:
        paths = {"labels": str(Path(folder) / "labels.parquet"), "truth": str(Path(folder) / "truth.parquet")}
        print("simulating ...", flush=True)
        made = run_worker(__file__, {**settings, **paths, "run": "simulate"})
        if "error" in made:
            raise RuntimeError(f"simulation failed: {made}")
        settings["n_labels"], settings["simulation_seconds"] = made["n_labels"], made["seconds"]
        settings["parquet_mib"] = Path(paths["labels"]).stat().st_size / 2**20
        plan = [("ingest", None), ("em", None)] + ([] if args.no_advi else [("advi", args.advi_timeout)])
        for run, timeout in plan:
            print(f"running {run} ...", flush=True)
            job = {**paths, "run": run, "minibatch": args.minibatch, "draws": args.draws}
            runs[run] = run_worker(__file__, job, timeout=timeout)
            print(json.dumps(runs[run]), flush=True)
    report = {"machine": machine, "settings": settings, "runs": runs, "verdicts": verdicts(runs)}
    write("scale_10m", report, markdown(report))
    with open(Path(__file__).parent / "results" / "scale_10m.jsonl", "a") as log:
        log.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
