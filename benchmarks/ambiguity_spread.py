"""How the ambiguity family's spread prior sets its mixing and its calibration on gold.

The spread σ of the item logits (``θ_i = softmax(μ + σ ζ_i)``, ``σ ~ HalfNormal(spread_scale)``)
is weakly identified wherever most items are clear: past the point where θ_i is one-hot, a
larger σ changes the likelihood little, so σ's posterior is set by the balance between its
prior and the ζ prior, and with it how close to a corner each item's θ sits. A large σ also
makes an evenly split item's θ jump between two corners across a band of width about 1/σ in
ζ, which sets NUTS's step size (see the family's docstring).

Each fit: ``bl.fit(ann, model=ModelSpec("ambiguity", priors=AmbiguityPriors(spread_scale=s)),
draws=1000, tune=1000, chains=4, seed=0, max_draws=1000, use_gold=False)`` — one round, the
same for every scale, so the rows compare mixing per draw. Recorded: σ's posterior mean and sd,
leapfrog steps per draw, max R-hat, min bulk/tail ESS, the worst scalar, seconds (compile +
sampling), and accuracy, ECE (10 bins, top label), log-loss and Brier of the soft labels (θ_i)
on gold, held out of the fit, as fitted and self-calibrated (`bl.self_calibrate`, no gold);
and the fit's integrated PSIS-LOO on the crowd labels (``az.loo(fit.posterior)``: elpd, its
se, items with Pareto k > 0.7) — the gold-free score that could choose the scale per data set.
Every fit runs in its own process; all share one compile cache.

Run from the repository root:
    .venv/bin/python benchmarks/ambiguity_spread.py
    .venv/bin/python benchmarks/ambiguity_spread.py --data dog --scales 0.5 3
Writes benchmarks/results/ambiguity_spread.{jsonl,json,md} (``--report-only`` rebuilds them).
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

DATA = ["anesthesia", "bluebirds", "rte", "duchenne", "dog", "music_genre"]
SCALES = [0.5, 1.0, 3.0]
LOG = RESULTS / "ambiguity_spread.jsonl"
GOLD_METRICS = ("accuracy", "ece", "log_loss", "brier")


def worker(job: dict) -> dict:
    import warnings

    import arviz as az
    import numpy as np

    import bayeslabels as bl

    ann = bl.datasets.load(job["data"], gold=True)
    spec = bl.ModelSpec(model="ambiguity", priors=bl.AmbiguityPriors(spread_scale=job["scale"]))
    start = time.perf_counter()
    fit = bl.fit(
        ann, model=spec, draws=1000, tune=1000, chains=4, seed=0, max_draws=1000, use_gold=False, quiet=True
    )
    seconds = time.perf_counter() - start
    report = fit.check()
    spread = fit.posterior["posterior"]["spread"].values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = az.loo(fit.posterior, pointwise=True)
    gold, gold_self = {}, {}
    if ann.has_gold and np.isin(ann.gold_series().index, ann.items).any():
        for target, out in ((fit, gold), (bl.self_calibrate(fit).soft_labels(), gold_self)):
            metrics = bl.evaluate(target, ann.gold, ci_prob=0.9, n_boot=50, seed=0).metrics
            metrics = metrics.set_index("metric")
            out.update({name: float(metrics.loc[name, "estimate"]) for name in GOLD_METRICS})
    return {
        "spread_mean": float(spread.mean()),
        "spread_sd": float(spread.std()),
        "steps_per_draw": float(fit.posterior["sample_stats"]["n_steps"].values.mean()),
        "max_rhat": report.max_rhat,
        "min_ess_bulk": report.min_ess_bulk,
        "min_ess_tail": report.min_ess_tail,
        "worst": str(report.worst[0]) if report.worst else None,
        "seconds": seconds,
        "gold": gold,
        "gold_self_calibrated": gold_self,
        "elpd_loo": float(loo.elpd),
        "elpd_se": float(loo.se),
        "pareto_k_bad": int((np.asarray(loo.pareto_k) > 0.7).sum()),
    }


def markdown(report: dict) -> str:
    lines = [
        "# ambiguity: the spread prior against mixing and calibration on gold",
        "",
        machine_line(report["machine"]),
        "",
        "One NUTS round per fit (4 chains × 1000 draws after 1000 tuning, seed 0), gold held out;",
        "σ ~ HalfNormal(scale). Steps: leapfrog steps per draw. Gold metrics of the soft labels θ_i",
        "(ECE: 10 bins, top label), as fitted and self-calibrated (no gold); elpd_loo: integrated",
        "PSIS-LOO on the crowd labels, per item (higher is better; compare within a data set). "
        + SHARED_NOTE,
        "",
        "| data | scale | σ (posterior) | steps | max R-hat | min bulk ESS | min tail ESS | s "
        "| accuracy | ECE | log-loss | Brier | self-cal. ECE | self-cal. log-loss "
        "| elpd_loo ± se | k > 0.7 |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["fits"]:
        if "error" in r:
            lines.append(f"| {r['data']} | {r['scale']} | failed: {r['error']} |" + " |" * 13)
            continue
        gold, calibrated = r["gold"], r.get("gold_self_calibrated", {})
        loo = "— | —"  # rows from before LOO was recorded
        if "elpd_loo" in r:
            loo = f"{r['elpd_loo']:.1f} ± {r['elpd_se']:.1f} | {r['pareto_k_bad']}"
        lines.append(
            f"| {r['data']} | {r['scale']} | {r['spread_mean']:.2f} ± {r['spread_sd']:.2f} "
            f"| {r['steps_per_draw']:.0f} | {r['max_rhat']:.4f} | {r['min_ess_bulk']:.0f} "
            f"| {r['min_ess_tail']:.0f} | {r['seconds']:.0f} | "
            + " | ".join(fmt(gold.get(name), ".4f") for name in GOLD_METRICS)
            + " | "
            + " | ".join(fmt(calibrated.get(name), ".4f") for name in ("ece", "log_loss"))
            + f" | {loo} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=DATA)
    parser.add_argument("--scales", nargs="+", type=float, default=SCALES)
    args = grid_arguments(parser).parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker)), default=float))
        return
    if not args.report_only:
        jobs = ({"data": data, "scale": scale} for data in args.data for scale in args.scales)
        run_jobs(__file__, LOG, ("data", "scale"), jobs, args.timeout, args.resume)
    fits, machine = rows_and_machine("ambiguity_spread", LOG, args.report_only)
    report = {"machine": machine, "fits": fits}
    write_results("ambiguity_spread", report, markdown(report))


if __name__ == "__main__":
    main()
