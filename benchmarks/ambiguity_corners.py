"""A spike-and-slab population for the ambiguity family, measured and not shipped.

The ambiguity family mixes slowly because its logistic-normal population holds the many clear
items at the corners only through a large spread σ (see its docstring and
`ambiguity_spread.py`). The variant measured here holds them there by itself: each item is
*clear* with probability λ — one class z_i ~ ρ, every label read through the annotator's
confusion row of z_i, Dawid–Skene's item — or *ambiguous* with probability 1 − λ, with its own
θ_i = softmax(μ + σ ζ_i) as in the family. Per item, both components summed out:

    ℓ_i = logaddexp(log λ + logsumexp_k(log ρ_k + Σ_r log π[j_r, k, y_r]),
                    log(1 − λ) + Σ_r log Σ_c θ_ic π[j_r, c, y_r])

λ ~ Beta(1, 1), ρ ~ Dirichlet(1), the rest the family's priors (`AmbiguityPriors` defaults).
The two terms are the package's own: `gathered_class_loglik` (Dawid–Skene's per-class term)
and `ambiguity_logp` (the family's). Soft label per draw: w_i · P(z_i | labels, clear) +
(1 − w_i) · θ_i, w_i the posterior probability that item i is clear.

Each fit: NUTS by nutpie (numba), 4 chains × 1000 draws after 1000 tuning, seed 0, gold held out,
started at the family's own start (`ambiguity_start`, λ = 0.5, ρ from EM). Recorded: leapfrog
steps per draw, max R-hat and min bulk/tail ESS over all variables (ArviZ), σ and λ, and
accuracy, ECE and log-loss on gold (`bl.evaluate`), next to the shipped family's row at the
same settings (`results/ambiguity_spread.jsonl`, spread scale 3).

Run from the repository root:
    .venv/bin/python benchmarks/ambiguity_corners.py [--data dog rte]
Writes benchmarks/results/ambiguity_corners.{jsonl,json,md} (``--report-only`` rebuilds them).
"""

from __future__ import annotations

import argparse
import json
import time

from _common import (
    RESULTS,
    SHARED_NOTE,
    fmt,
    grid_arguments,
    machine_line,
    rows_and_machine,
    run_jobs,
)
from _common import write as write_results

DATA = ["bluebirds", "rte", "duchenne", "dog"]
LOG = RESULTS / "ambiguity_corners.jsonl"
SHIPPED = RESULTS / "ambiguity_spread.jsonl"
GOLD_METRICS = ("accuracy", "ece", "log_loss")


def worker(job: dict) -> dict:
    import warnings

    import arviz as az
    import numpy as np
    import nutpie
    import pandas as pd
    import pymc as pm
    import pytensor.tensor as pt
    from scipy.special import expit, logsumexp, softmax

    import bayeslabels as bl
    from bayeslabels.models._likelihood import (
        annotation_counts,
        gathered_class_loglik,
        item_class_loglik,
        label_table,
    )
    from bayeslabels.models.ambiguity import _item_loglik, ambiguity_logp, ambiguity_start

    ann = bl.datasets.load(job["data"], gold=True)
    free = bl.datasets.load(job["data"], gold=False)
    em = bl.dawid_skene_em(free)
    priors = bl.AmbiguityPriors()
    k = ann.n_classes
    labels, cells = label_table(ann)
    alpha = np.broadcast_to(priors.confusion_alpha(k), (ann.n_annotators, k, k))
    with pm.Model() as model:
        centre = pm.ZeroSumNormal("centre", sigma=priors.centre_sd, shape=k)
        spread = pm.HalfNormal("spread", sigma=priors.spread_scale)
        zeta = pm.ZeroSumNormal("zeta", sigma=1.0, shape=(ann.n_items, k))
        clear = pm.Beta("clear", 1.0, 1.0)
        rho = pm.Dirichlet("rho", a=np.ones(k))
        confusion = pm.Dirichlet("confusion", a=alpha, shape=(ann.n_annotators, k, k))
        table, table_cells = pt.as_tensor(labels), pt.as_tensor(cells)
        slab = ambiguity_logp(table, centre + spread * zeta, confusion, table_cells)
        spike = pt.logsumexp(
            gathered_class_loglik(table, pt.log(confusion), table_cells) + pt.log(rho), axis=-1
        )
        pm.Potential("labels", pt.logaddexp(pt.log(clear) + spike, pt.log1p(-clear) + slab).sum())
    start = {**ambiguity_start(em, free, priors), "clear": 0.5, "rho": em.posterior.mean(axis=0)}
    start_seconds = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model, backend="numba", initial_points=start)
    compile_seconds = time.perf_counter() - start_seconds
    start_seconds = time.perf_counter()
    trace = nutpie.sample(compiled, draws=1000, tune=1000, chains=4, seed=0, progress_bar=False)
    sampling_seconds = time.perf_counter() - start_seconds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat, bulk, tail = az.rhat(trace), az.ess(trace), az.ess(trace, method="tail")
    post = trace.posterior

    def draws(name: str) -> np.ndarray:
        values = post[name].values
        return values.reshape(-1, *values.shape[2:])

    theta = softmax(draws("centre")[:, None, :] + draws("spread")[:, None, None] * draws("zeta"), axis=-1)
    confusion_draws, lam, log_rho = draws("confusion"), draws("clear"), np.log(draws("rho"))
    counts = annotation_counts(ann)
    slab_draws = np.empty((len(lam), ann.n_items))
    for rows, block in _item_loglik(ann, {"theta": theta, "confusion": confusion_draws}.__getitem__, False):
        slab_draws[:, rows] = block
    soft = np.zeros((ann.n_items, k))
    for s in range(len(lam)):
        joint = item_class_loglik(counts, np.log(confusion_draws[s])) + log_rho[s]
        clear_weight = expit(np.log(lam[s]) + logsumexp(joint, axis=-1) - np.log1p(-lam[s]) - slab_draws[s])
        soft += clear_weight[:, None] * softmax(joint, axis=-1) + (1 - clear_weight)[:, None] * theta[s]
    soft /= len(lam)
    frame = pd.DataFrame({"item": ann.items, **{f"p_{c}": soft[:, i] for i, c in enumerate(ann.classes)}})
    metrics = bl.evaluate(frame, ann.gold, ci_prob=0.9, n_boot=50, seed=0).metrics.set_index("metric")
    return {
        "steps_per_draw": float(trace.sample_stats["n_steps"].values.mean()),
        "max_rhat": max(float(rhat[v].max()) for v in rhat.data_vars),
        "min_ess_bulk": min(float(bulk[v].min()) for v in bulk.data_vars),
        "min_ess_tail": min(float(tail[v].min()) for v in tail.data_vars),
        "worst_rhat": {v: round(float(rhat[v].max()), 4) for v in rhat.data_vars},
        "spread_mean": float(draws("spread").mean()),
        "clear_mean": float(lam.mean()),
        "compile_seconds": compile_seconds,
        "sampling_seconds": sampling_seconds,
        "gold": {name: float(metrics.loc[name, "estimate"]) for name in GOLD_METRICS},
    }


def markdown(report: dict) -> str:
    lines = [
        "# ambiguity with a spike-and-slab population (measured, not shipped)",
        "",
        machine_line(report["machine"]),
        "",
        "4 chains × 1000 draws after 1000 tuning, seed 0, gold held out. Each row: the spike-and-slab",
        "variant, then the shipped family at the same settings (`ambiguity_spread.jsonl`, scale 3).",
        "λ: the share of clear items. " + SHARED_NOTE,
        "",
        "| data | model | steps | max R-hat | min bulk ESS | min tail ESS | σ | λ "
        "| accuracy | ECE | log-loss |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    shipped = {}
    if SHIPPED.exists():
        rows = (json.loads(line) for line in SHIPPED.open())
        shipped = {r["data"]: r for r in rows if r.get("scale") == 3.0 and "error" not in r}
    for r in report["fits"]:
        if "error" in r:
            lines.append(f"| {r['data']} | spike-and-slab | failed: {r['error']} |" + " |" * 8)
            continue
        gold = " | ".join(fmt(r["gold"].get(name), ".4f") for name in GOLD_METRICS)
        lines.append(
            f"| {r['data']} | spike-and-slab | {r['steps_per_draw']:.0f} | {r['max_rhat']:.4f} "
            f"| {r['min_ess_bulk']:.0f} | {r['min_ess_tail']:.0f} | {r['spread_mean']:.2f} "
            f"| {r['clear_mean']:.3f} | {gold} |"
        )
        if r["data"] in shipped:
            s = shipped[r["data"]]
            gold = " | ".join(fmt(s["gold"].get(name), ".4f") for name in GOLD_METRICS)
            lines.append(
                f"| {r['data']} | shipped | {s['steps_per_draw']:.0f} | {s['max_rhat']:.4f} "
                f"| {s['min_ess_bulk']:.0f} | {s['min_ess_tail']:.0f} | {s['spread_mean']:.2f} | — | {gold} |"
            )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=DATA)
    args = grid_arguments(parser).parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker)), default=float))
        return
    if not args.report_only:
        run_jobs(__file__, LOG, ("data",), ({"data": d} for d in args.data), args.timeout, args.resume)
    fits, machine = rows_and_machine("ambiguity_corners", LOG, args.report_only)
    report = {"machine": machine, "fits": fits}
    write_results("ambiguity_corners", report, markdown(report))


if __name__ == "__main__":
    main()
