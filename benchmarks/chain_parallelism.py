"""Do NUTS chains run in parallel? Gradients per second with 1 chain and with 4, per backend.

nutpie runs each chain on its own thread (``cores`` = chains, up to 4). Through numba the
gradient is compiled code that holds no lock, so chains can use every core; through JAX each
gradient is a call into XLA from Python. This measures what the threads give: Dawid–Skene on rte
(8,000 labels), one fresh process per backend with an empty compile cache, the model compiled
by a short fit first (not timed), then a seeded fit with 1 chain and one with 4 chains, the same
draws per chain. Speed-up = (gradients per second, 4 chains) / (gradients per second, 1 chain);
gradients are the leapfrog steps of the kept draws (nutpie keeps no warm-up statistics here).
On an idle machine with c cores the ideal speed-up is min(4, c).

    .venv/bin/python benchmarks/chain_parallelism.py [--backends jax numba] [--draws 500]
Writes benchmarks/results/chain_parallelism.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _common import SHARED_NOTE, machine_info, machine_line, run_worker, with_cache, write


def worker(job: dict) -> dict:
    import bayeslabels as bl

    ann = bl.datasets.load("rte")
    settings = dict(
        model="dawid-skene", use_gold=False, sampler=f"nutpie-{job['backend']}", max_draws=0, quiet=True
    )
    bl.fit(ann, draws=20, tune=20, chains=1, seed=1, **settings)  # compile (and keep) the model
    rows = {}
    for chains in (1, 4):
        fit = bl.fit(ann, draws=job["draws"], tune=job["draws"], chains=chains, seed=0, **settings)
        gradients = int(fit.posterior["sample_stats"]["n_steps"].sum())
        rows[chains] = {
            "sampling_s": fit.sampling.sampling_seconds,
            "gradients": gradients,
            "gradients_per_s": gradients / fit.sampling.sampling_seconds,
            "reused": fit.sampling.compiled_reused,
            "backend": fit.sampling.backend,
        }
    return {"backend": job["backend"], "draws": job["draws"], "chains": rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", nargs="+", default=["jax", "numba"])
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    machine = machine_info()
    results = []
    for backend in args.backends:
        with tempfile.TemporaryDirectory() as cache:
            job = {"backend": backend, "draws": args.draws}
            results.append(run_worker(__file__, job, env=with_cache(Path(cache)), timeout=3600))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    lines = [
        "# Do NUTS chains run in parallel? (`benchmarks/chain_parallelism.py`)",
        "",
        machine_line(machine),
        "",
        f"Dawid–Skene on rte, {args.draws} tune + {args.draws} draws per chain, the model compiled "
        "before the clock. Speed-up = gradients per second with 4 chains / with 1 chain.",
        "",
        "| backend | 1 chain: sampling s | gradients | grad/s | 4 chains: sampling s | gradients | grad/s "
        "| speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        if "error" in result:
            lines.append(f"| {result.get('backend', '?')} | failed: {result['error']} |||||||")
            continue
        one, four = result["chains"]["1"], result["chains"]["4"]
        lines.append(
            f"| {result['backend']} | {one['sampling_s']:.1f} | {one['gradients']} | "
            f"{one['gradients_per_s']:.0f} | {four['sampling_s']:.1f} | {four['gradients']} | "
            f"{four['gradients_per_s']:.0f} | {four['gradients_per_s'] / one['gradients_per_s']:.2f} |"
        )
    lines += ["", SHARED_NOTE, ""]
    write("chain_parallelism", {"machine": machine, "results": results}, "\n".join(lines))


if __name__ == "__main__":
    main()
