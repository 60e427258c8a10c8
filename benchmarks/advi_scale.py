"""ADVI on Dawid–Skene at ≥1M labels: minibatch vs full batch, against EM.

Data: `bayeslabels.simulate.dawid_skene`, default 200k items × 5 labels (1M labels),
500 annotators, K=2, simulated once in its own process and handed to each run as a pickle,
so the simulator's memory does not count (the parent never imports bayeslabels: on Linux a
child inherits its parent's peak RSS through fork + exec). Runs, each in a fresh process:

* ``em``: ``bayeslabels.dawid_skene_em(ann)`` alone (the baseline);
* ``advi-minibatch``: ``bayeslabels.fit(ann, model="dawid-skene", method="advi",
  minibatch_items=2000)`` (mean-field ADVI from the EM start, stopped by the package's
  loss-plateau rule or at ``advi_iterations`` = 20000);
* ``advi-full-batch``: the same with ``minibatch_items=0``, stopped after ``--full-timeout``
  seconds (default 600) if it has not finished.

Measured per run: wall time of the fit call (ADVI: includes the EM start, model building
and compilation; `Fit.sampling.sampling_seconds` is the ADVI part), ADVI iterations
(`Fit.sampling.tune`) and whether the plateau rule stopped it, peak RSS of the process
(``ru_maxrss``): after loading the data, then — with the peak reset after loading
(``/proc/self/clear_refs``) — over the fit and over the fit plus soft labels; the resident
size right after loading; the time to compute the soft labels from ``--draws`` draws of
the approximation; and
accuracy of the hard labels against the simulated truth (EM's accuracy from the same run).

Run from the repository root:
    .venv/bin/python benchmarks/advi_scale.py [--items 200000 --annotators 500 --minibatch 2000]
Writes benchmarks/results/advi_scale.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import pickle
import tempfile
import time
from pathlib import Path

from _common import SHARED_NOTE, fmt, machine_info, machine_line, peak_mib, reset_peak, run_worker, write


def rss_mib() -> float:
    status = Path("/proc/self/status").read_text().splitlines()
    return next(float(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS"))


def simulate(job: dict) -> dict:
    import bayeslabels as bl

    sim = bl.simulate.dawid_skene(
        n_items=job["items"],
        n_annotators=job["annotators"],
        n_classes=job["classes"],
        labels_per_item=job["labels_per_item"],
        seed=job["seed"],
    )
    Path(job["data"]).write_bytes(pickle.dumps((sim.annotations, sim.true_class)))
    return {"n_labels": sim.annotations.n_labels, "peak_rss_mib": peak_mib()}


def worker(job: dict) -> dict:
    if job["run"] == "simulate":
        return simulate(job)
    import numpy as np

    import bayeslabels as bl

    with open(job["data"], "rb") as handle:
        ann, truth = pickle.load(handle)
    result = {"peak_rss_mib_data_loaded": peak_mib(), "rss_mib_data_loaded": rss_mib()}
    reset_peak()  # what follows is the fit's
    start = time.perf_counter()
    if job["run"] == "em":
        em = bl.dawid_skene_em(ann)
        result["fit_seconds"] = time.perf_counter() - start
        result["iterations"] = int(em.n_iter)
        result["peak_rss_mib_after_fit"] = peak_mib()
        result["accuracy"] = result["em_accuracy"] = float(np.mean(em.label == truth))
        return result
    fit = bl.fit(
        ann,
        model="dawid-skene",
        method="advi",
        minibatch_items=job["minibatch"],
        draws=job["draws"],
        quiet=True,
    )
    result["fit_seconds"] = time.perf_counter() - start
    result["advi_seconds"] = fit.sampling.sampling_seconds
    result["iterations"] = fit.sampling.tune
    result["plateau_stopped"] = bool(fit.posterior["posterior"].attrs.get("converged"))
    losses = fit.posterior["variational"]["loss"].values
    result["final_loss_mean_last_1000"] = float(np.mean(losses[-1000:]))
    result["peak_rss_mib_after_fit"] = peak_mib()
    start = time.perf_counter()
    labels = fit.soft_labels().label
    result["soft_labels_seconds"] = time.perf_counter() - start
    result["peak_rss_mib_after_soft_labels"] = peak_mib()
    result["accuracy"] = float(np.mean(labels == np.asarray(ann.classes, dtype=object)[truth]))
    result["em_accuracy"] = float(np.mean(fit.em.label == truth))
    result["check_verdict"] = fit.check().verdict
    return result


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        "# ADVI on Dawid–Skene at scale: minibatch vs full batch vs EM",
        "",
        machine_line(report["machine"]),
        "",
        f"Data: {s['items']} items × {s['labels_per_item']} labels = {s['n_labels']} labels, "
        f"{s['annotators']} annotators, K={s['classes']}, seed {s['seed']}; ADVI draws {s['draws']}; "
        "each run in a fresh process.",
        "",
        "| run | wall s | ADVI s | iterations | plateau stop | soft labels s | RSS after load MiB "
        "| peak RSS MiB: load / fit / fit + soft labels | accuracy | EM accuracy |",
        "|---|---:|---:|---:|---|---:|---:|---|---:|---:|",
    ]
    for name, r in report["runs"].items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error']} ({r['process_seconds']:.0f} s) | | | | | | | | |")
            continue
        rss = [r.get(k) for k in ("peak_rss_mib_data_loaded", "peak_rss_mib_after_fit")]
        rss.append(r.get("peak_rss_mib_after_soft_labels"))
        lines.append(
            f"| {name} | {r['fit_seconds']:.1f} | {fmt(r.get('advi_seconds'), '.1f')} | {r['iterations']} "
            f"| {r.get('plateau_stopped', '—')} | {fmt(r.get('soft_labels_seconds'), '.1f')} "
            f"| {fmt(r.get('rss_mib_data_loaded'), '.0f')} "
            f"| {' / '.join(fmt(v, '.0f') for v in rss)} | {r['accuracy']:.4f} | {r['em_accuracy']:.4f} |"
        )
    lines += [
        "",
        "wall s: the fit call (ADVI: EM start + model build + ADVI + drawing from the approximation);",
        "ADVI s: `Fit.sampling.sampling_seconds` (includes PyTensor compilation inside `pm.fit`, and the",
        "draws from the approximation). Peak RSS is `ru_maxrss`: the load column over import + loading;",
        "the peak is then reset (`/proc/self/clear_refs`), so fit and fit + soft labels are the peaks",
        "after loading (each includes the RSS already resident). plateau stop: the loss-plateau rule",
        "ended ADVI before the iteration limit.",
        SHARED_NOTE,
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in [
        ("items", 200_000),
        ("annotators", 500),
        ("classes", 2),
        ("labels-per-item", 5),
        ("minibatch", 2000),
        ("draws", 1000),
        ("seed", 0),
        ("full-timeout", 600),
    ]:
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--no-full-batch", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    settings = {k: v for k, v in vars(args).items() if k not in ("worker", "no_full_batch")}
    machine, runs = machine_info(), {}
    with tempfile.TemporaryDirectory(prefix="bayeslabels-advi-") as folder:
        data = Path(folder) / "data.pkl"
        made = run_worker(__file__, {**settings, "run": "simulate", "data": str(data)})
        if "error" in made:
            raise RuntimeError(f"simulation failed: {made}")
        settings["n_labels"], settings["simulation_peak_rss_mib"] = made["n_labels"], made["peak_rss_mib"]
        plan = [("em", 0, None), ("advi-minibatch", args.minibatch, None)]
        if not args.no_full_batch:
            plan.append(("advi-full-batch", 0, args.full_timeout))
        for run, minibatch, timeout in plan:
            print(f"running {run} ...", flush=True)
            job = {"run": run, "data": str(data), "minibatch": minibatch, "draws": args.draws}
            runs[run] = run_worker(__file__, job, timeout=timeout)
            print(json.dumps(runs[run]), flush=True)
    report = {"machine": machine, "settings": settings, "runs": runs}
    write("advi_scale", report, markdown(report))


if __name__ == "__main__":
    main()
