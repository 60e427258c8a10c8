"""The JAX route below `JAX_MAX_LABELS`: nutpie's JAX backend vs NumPyro's NUTS, per family.

nutpie calls the XLA-compiled gradient from its own Rust loop, once per leapfrog step, one
thread per chain; NumPyro compiles the whole NUTS trajectory into one XLA program and runs
the chains one after another. Which is faster where per-gradient call overhead dominates
(small models), and where the gradient itself dominates (per-item families)? Each family
is fitted on rte (8,000 labels, gold held out) at the shipped draws (4 × 1000 + 1000,
``max_draws`` 0) in a fresh process with an empty compile cache, then re-fitted with another
seed in that process. Measured: fit() wall seconds, sampling seconds (NumPyro's include its
XLA compile), min bulk / tail ESS over the model's free parameters and deterministics as
`Fit.check` reads them, bulk ESS per second of fit(), max R-hat, divergences.

    .venv/bin/python benchmarks/jax_route.py [--families dawid-skene one-coin ...]
Writes benchmarks/results/jax_route.{json,md}. Needs numpyro (``pip install -e '.[jax]'``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, SHARED_NOTE, fmt, machine_info, machine_line, run_worker, with_cache, write

FAMILIES = [
    "dawid-skene",
    "one-coin",
    "beta-bernoulli",
    "mace",
    "hierarchical",
    "item-difficulty",
    "ambiguity",
]
SAMPLERS = ["nutpie-jax", "numpyro"]


def worker(job: dict) -> dict:
    import bayeslabels as bl

    ann = bl.datasets.load("rte")
    runs = []
    for seed in (0, 1):
        start = time.perf_counter()
        fit = bl.fit(
            ann,
            model=job["family"],
            sampler=job["sampler"],
            use_gold=False,
            seed=seed,
            max_draws=0,
            quiet=True,
        )
        wall = time.perf_counter() - start
        report = fit.check()
        runs.append(
            {
                "seed": seed,
                "fit_s": wall,
                "sampling_s": fit.sampling.sampling_seconds,
                "min_ess_bulk": report.min_ess_bulk,
                "min_ess_tail": report.min_ess_tail,
                "max_rhat": report.max_rhat,
                "divergences": report.divergences,
                "ok": report.ok,
            }
        )
    return {"family": job["family"], "sampler": job["sampler"], "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--families", nargs="+", default=FAMILIES)
    parser.add_argument("--samplers", nargs="+", default=SAMPLERS)
    parser.add_argument("--add", action="store_true", help="keep earlier rows of other family/sampler pairs")
    parser.add_argument(
        "--from-log",
        help="write the tables from the result lines (stderr) of a run that stopped before writing them",
    )
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    machine = machine_info()
    results = []
    if args.from_log:
        lines = Path(args.from_log).read_text().splitlines()
        results = [json.loads(line) for line in lines if line.startswith('{"family"')]
        args.families = []
    for family in args.families:
        for sampler in args.samplers:  # one family's samplers back to back: the same machine load
            with tempfile.TemporaryDirectory() as cache:
                job = {"family": family, "sampler": sampler}
                results.append(
                    {**job, **run_worker(__file__, job, env=with_cache(Path(cache)), timeout=3600)}
                )
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    if args.add and (RESULTS / "jax_route.json").exists():
        done = {(r["family"], r["sampler"]) for r in results}
        earlier = json.loads((RESULTS / "jax_route.json").read_text())
        kept = [
            {"run": earlier["machine"]["date"], **r}
            for r in earlier["results"]
            if (r["family"], r["sampler"]) not in done
        ]
        order = [*args.families, *FAMILIES]
        results = sorted(
            kept + results, key=lambda r: order.index(r["family"]) if r["family"] in order else len(order)
        )
    lines = [
        "# The JAX route: nutpie's JAX backend vs NumPyro, per family (`benchmarks/jax_route.py`)",
        "",
        machine_line(machine),
        "",
        "rte (8,000 labels, gold held out), shipped settings (4 chains × 1000 tune + 1000 draws), "
        "each family and sampler in a fresh process with an empty compile cache: the first fit, "
        "then a re-fit with another seed (NumPyro compiles again: the data are XLA constants). "
        "ESS/s = min bulk ESS per second of the whole fit() call. nutpie-numba rows: numba's compile "
        "is in the first fit, the re-fit re-uses it. Rows from an earlier run name it (run column).",
        "",
        "| family | sampler | first fit s | re-fit s | min bulk ESS | min tail ESS | ESS/s (first, re-fit) "
        "| max R-hat | divergences | check | run |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for result in results:
        if "error" in result:
            lines.append(f"| {result['family']} | {result['sampler']} | failed: {result['error']} |||||||||")
            continue
        first, again = result["runs"]
        lines.append(
            f"| {result['family']} | {result['sampler']} | {first['fit_s']:.1f} | {again['fit_s']:.1f} | "
            f"{first['min_ess_bulk']:.0f}, {again['min_ess_bulk']:.0f} | "
            f"{first['min_ess_tail']:.0f}, {again['min_ess_tail']:.0f} | "
            f"{first['min_ess_bulk'] / first['fit_s']:.0f}, {again['min_ess_bulk'] / again['fit_s']:.0f} | "
            f"{fmt(first['max_rhat'], '.4f')}, {fmt(again['max_rhat'], '.4f')} | "
            f"{first['divergences']}, {again['divergences']} | "
            f"{'pass' if first['ok'] else 'fail'}, {'pass' if again['ok'] else 'fail'} | "
            f"{result.get('run', 'this run')} |"
        )
    lines += ["", SHARED_NOTE, ""]
    write("jax_route", {"machine": machine, "results": results}, "\n".join(lines))


if __name__ == "__main__":
    main()
