"""The same NUTS fit on CPU and, when one is there, on a GPU: JAX samplers through PyMC.

Model and data as in ``nuts.py`` (class-conditional Dawid–Skene, simulated; default 1k items
× 50 annotators × 5 labels, K=2, 4 chains × 1000 tune + 1000 draws). Runs, each in a fresh
process: ``nutpie`` on the CPU (the default sampler, for reference), then each JAX sampler
(``numpyro``, ``blackjax``: ``bayeslabels.fit(..., sampler=...)``, the one argument that picks
it) with ``JAX_PLATFORMS=cpu`` and with ``JAX_PLATFORMS=cuda``. A GPU run is skipped, with the
reason in the table, when JAX sees no GPU (a CPU-only jax, or no device).

Measured per run: fit() wall seconds (compile + sampling + EM start), sampling seconds where
the sampler reports them, min bulk ESS over prevalence and confusion, ESS per second of
fit(), max R-hat, and the device JAX used.

Needs the bench extra (jax, numpyro, blackjax), e.g. ``.venv-bench`` (see README); a GPU run
needs a CUDA build of jax (``pip install 'jax[cuda12]'``).
    .venv-bench/bin/python benchmarks/gpu.py [--items 1000 --samplers numpyro blackjax]
Writes benchmarks/results/gpu.{json,md} and appends to gpu.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from _common import SHARED_NOTE, fmt, machine_info, machine_line, run_worker, write

VAR_NAMES = ["prevalence", "confusion"]


def worker(job: dict) -> dict:
    import numpy as np

    device = "cpu"
    if job["sampler"] != "nutpie":
        import jax
        import pymc.sampling.jax  # noqa: F401  (sets XLA's host device count before JAX starts)

        devices = jax.devices()
        device = f"{devices[0].platform}: {devices[0].device_kind}"
        if job["platform"] == "cuda" and devices[0].platform != "gpu":
            return {"skipped": f"JAX sees no GPU ({device})"}
    import arviz_stats as azs

    import bayeslabels as bl

    sim = bl.simulate.dawid_skene(
        n_items=job["items"],
        n_annotators=job["annotators"],
        n_classes=job["classes"],
        labels_per_item=5,
        seed=job["seed"],
    )
    start = time.perf_counter()
    fit = bl.fit(
        sim.annotations,
        sampler=job["sampler"],
        draws=job["draws"],
        tune=job["tune"],
        chains=job["chains"],
        quiet=True,
    )
    seconds = time.perf_counter() - start
    ess = azs.ess(fit.posterior, var_names=VAR_NAMES, method="bulk")
    rhat = azs.rhat(fit.posterior, var_names=VAR_NAMES)
    min_ess = float(min(np.min(ess[v].values) for v in VAR_NAMES))
    max_rhat = float(max(np.max(rhat[v].values) for v in VAR_NAMES))
    sampling = fit.posterior["posterior"].attrs.get("sampling_time", fit.sampling.sampling_seconds)
    labels = fit.soft_labels().label
    truth = np.asarray(sim.annotations.classes, dtype=object)[sim.true_class]
    return {
        "device": device,
        "fit_seconds": seconds,
        "sampling_seconds": float(sampling),
        "min_ess_bulk": min_ess,
        "min_ess_per_fit_second": min_ess / seconds,
        "max_rhat": max_rhat,
        "accuracy": float(np.mean(labels == truth)),
    }


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        "# NUTS on CPU and GPU (JAX samplers through PyMC)",
        "",
        machine_line(report["machine"]),
        "",
        f"Data: {s['items']} items × {s['annotators']} annotators × 5 labels, K={s['classes']}; "
        f"{s['chains']} chains × {s['tune']} tune + {s['draws']} draws; each run a fresh process.",
        "",
        "| sampler | platform | device | fit() s | sampling s | min bulk ESS | ESS / fit s | max R-hat "
        "| accuracy |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        if "skipped" in r or "error" in r:
            why = r.get("skipped") or f"failed: {r['error']} {' '.join(r.get('traceback_tail', [])[-1:])}"
            lines.append(f"| {r['sampler']} | {r['platform']} | {why} | | | | | | |")
            continue
        lines.append(
            f"| {r['sampler']} | {r['platform']} | {r['device']} | {r['fit_seconds']:.1f} "
            f"| {fmt(r.get('sampling_seconds'), '.1f')} | {r['min_ess_bulk']:.0f} "
            f"| {r['min_ess_per_fit_second']:.1f} | {r['max_rhat']:.4f} | {r['accuracy']:.3f} |"
        )
    lines += ["", SHARED_NOTE, ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in [
        ("items", 1000),
        ("annotators", 50),
        ("classes", 2),
        ("draws", 1000),
        ("tune", 1000),
        ("chains", 4),
        ("seed", 0),
    ]:
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--samplers", nargs="+", default=["numpyro", "blackjax"])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    settings = {k: v for k, v in vars(args).items() if k != "worker"}
    plan = [("nutpie", "cpu")] + [(s, p) for s in args.samplers for p in ("cpu", "cuda")]
    runs = []
    for sampler, platform in plan:
        print(f"running {sampler} on {platform} ...", flush=True)
        env = dict(os.environ)
        if sampler != "nutpie":
            env["JAX_PLATFORMS"] = platform
        job = {**settings, "sampler": sampler, "platform": platform}
        result = run_worker(__file__, job, env=env)
        if "error" in result and platform == "cuda":  # jax refuses JAX_PLATFORMS=cuda without a GPU
            result = {"skipped": "no GPU backend in this jax (" + result["error"] + ")"}
        runs.append({"sampler": sampler, "platform": platform, **result})
        print(json.dumps(runs[-1]), flush=True)
    report = {"machine": machine_info(), "settings": settings, "runs": runs}
    write("gpu", report, markdown(report))
    with open(Path(__file__).parent / "results" / "gpu.jsonl", "a") as log:
        log.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
