"""Item-difficulty's copies under their prior vs under Carlin–Chib pseudo-priors (what NUTS samples).

Item-difficulty (`bayeslabels.models.item_difficulty`) gives item i one effect θ_ik per true
class k; the labels read the copy of the item's class, the other copies follow their prior. With
the class summed out, each copy's posterior is a mixture: P(z_i = k) × its posterior under class
k, plus P(z_i ≠ k) × the prior N(0, 1). For an item whose labels split between two classes (dog
item 182: 4 labels of class 0, 5 of class 3, 1 of class 2) the posterior under a class sits
2–3 prior sds from 0 and is 5–10 nats more concentrated, so each copy is bimodal and the item's
class moves only when its copy crosses the valley: the worst R-hat of a short dog fit.

Carlin & Chib (1995): the distribution a copy follows while its class is not the item's (the
pseudo-prior) can be any normalised density q_k; it leaves the marginal posterior of the classes
and of every other parameter unchanged. Chosen close to the copy's posterior under its class,
the mixture has one mode. Here q_ik = ZeroSumNormal(m_ik, s_ik²): m the mode and s an isotropic
sd of θ_ik's posterior under class k at Dawid–Skene EM's annotator logits and χ = 0.75 (Newton,
vectorised). As ``θ = m + s·u``, ``u ~ ZeroSumNormal(1)``, class k's term in the item's
logsumexp gains the prior-to-pseudo-prior ratio ``(K − 1) log s − |θ_ik|²/2 + |u_ik|²/2``.

Both variants are the shipped sampled graph (`item_difficulty` with ``pseudo_priors``; centre 0
and sd 1 is the family's own model) with the same EM start, sampled by nutpie (numba) at one
short budget, 4 chains × (``--draws`` tune + ``--draws``), seed 0, gold held out; reported: the
worst R-hat and bulk ESS per variable. Since 2026-12-04 the family samples with the pseudo-priors
(`Family.nuts_model`); this compares the two samplers of one posterior.

    .venv/bin/python benchmarks/pseudo_priors.py --data dog --draws 300
Writes results/pseudo_priors.{json,md}.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import SHARED_NOTE, fmt, machine_info, machine_line, write

import bayeslabels as bl
from bayeslabels.aggregate import dawid_skene_em
from bayeslabels.diagnostics import rank_diagnostics_of
from bayeslabels.models.item_difficulty import (
    PSEUDO_VARIABLE,
    item_difficulty,
    item_difficulty_start,
    pseudo_priors,
)
from bayeslabels.priors import ItemDifficultyPriors

VARIABLES = ("prevalence", "difficulty_scale", "mu", "sigma", PSEUDO_VARIABLE)
"""Reported per variable (the standardised copies: the same R-hat and ESS as the copies)."""


def run(name: str, variant: str, draws: int) -> dict:
    import nutpie

    ann = bl.datasets.load(name, gold=False)
    em = dawid_skene_em(ann)
    k = ann.n_classes
    if variant == "pseudo-priors":
        centre, sd = pseudo_priors(ann, np.log(em.confusion))
    else:  # centre 0, sd 1: the family's own model, its copies following their prior
        centre, sd = np.zeros((ann.n_items, k, k)), np.ones((ann.n_items, k))
    model = item_difficulty(ann, ItemDifficultyPriors(), pseudo_priors=(centre, sd))
    start = item_difficulty_start(em, ann, ItemDifficultyPriors())
    del start["difficulty"]
    start[PSEUDO_VARIABLE] = np.zeros((ann.n_items, k, k))  # each copy starts at its centre
    t0 = time.perf_counter()
    compiled = nutpie.compile_pymc_model(
        model,
        backend="numba",
        initial_points=start,
        jitter_rvs={v for v in model.free_RVs if v.name != PSEUDO_VARIABLE},
    )
    t1 = time.perf_counter()
    tree = nutpie.sample(
        compiled, draws=draws, tune=draws, chains=4, seed=0, progress_bar=False, target_accept=0.9
    )
    t2 = time.perf_counter()
    posterior = tree.posterior.to_dataset()
    rhat, bulk, _ = rank_diagnostics_of(posterior, list(VARIABLES))
    steps = tree.sample_stats["n_steps"].values.mean() if "n_steps" in tree.sample_stats else float("nan")
    return {
        "data": name,
        "variant": variant,
        "draws": draws,
        "compile_seconds": t1 - t0,
        "sampling_seconds": t2 - t1,
        "mean_leapfrog_steps": float(steps),
        "copy_centre_norm_mean": float(np.linalg.norm(centre, axis=-1).mean()),
        "max_rhat": {v: float(np.nanmax(rhat[v].values)) for v in VARIABLES},
        "min_ess_bulk": {v: float(np.nanmin(bulk[v].values)) for v in VARIABLES},
    }


def table(rows: list[dict], machine: dict) -> str:
    lines = [
        "# item-difficulty: copies under their prior vs under Carlin–Chib pseudo-priors (shipped)",
        "",
        machine_line(machine),
        "",
        "Same graph, likelihood, priors and EM start; nutpie (numba), 4 chains × (draws tune + draws),",
        "seed 0, gold held out. Per variable: max R-hat / min bulk ESS over its scalars.",
        "",
        "| data | variant | draws | "
        + " | ".join(VARIABLES)
        + " | leapfrog steps | compile s | sampling s |",
        "|---|---|---:|" + "---|" * len(VARIABLES) + "---:|---:|---:|",
    ]
    for r in rows:
        cells = [f"{fmt(r['max_rhat'][v], '.4f')} / {fmt(r['min_ess_bulk'][v], '.0f')}" for v in VARIABLES]
        lines.append(
            f"| {r['data']} | {r['variant']} | {r['draws']} | "
            + " | ".join(cells)
            + f" | {fmt(r['mean_leapfrog_steps'], '.1f')} | {r['compile_seconds']:.0f}"
            + f" | {r['sampling_seconds']:.0f} |"
        )
    return "\n".join([*lines, "", SHARED_NOTE, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["dog"])
    parser.add_argument("--draws", type=int, default=300)
    args = parser.parse_args()
    machine = machine_info()
    rows = [
        run(name, variant, args.draws) for name in args.data for variant in ("prior copies", "pseudo-priors")
    ]
    write("pseudo_priors", {"machine": machine, "rows": rows}, table(rows, machine))


if __name__ == "__main__":
    main()
