"""A candidate fix for item-difficulty's slow mixing: Carlin–Chib pseudo-priors for the effect copies.

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

Both variants are built here from the shipped family's pieces (same likelihood, priors and EM
start) and sampled by nutpie (numba) at one short budget, 4 chains × (``--draws`` tune +
``--draws``), seed 0, gold held out; reported: the worst R-hat and bulk ESS per variable.
The prototype is not the shipped family: the NumPy twins (soft labels, replicates) would need
the same correction.

    .venv/bin/python benchmarks/pseudo_priors.py --data dog --draws 300
Writes results/pseudo_priors.{json,md}.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from _common import SHARED_NOTE, fmt, machine_info, machine_line, write
from scipy.special import softmax as np_softmax

import bayeslabels as bl
from bayeslabels.aggregate import dawid_skene_em
from bayeslabels.diagnostics import rank_diagnostics_of
from bayeslabels.models._likelihood import TABLE_DATA, table_data
from bayeslabels.models.dawid_skene import coords
from bayeslabels.models.hierarchical import _annotator_offsets, _population
from bayeslabels.models.item_difficulty import (
    difficulty_labels_logp,
    difficulty_labels_random,
    item_difficulty_start,
)
from bayeslabels.priors import ItemDifficultyPriors

PSEUDO_SCALE = 0.75
"""The effect scale χ at which the pseudo-priors are fitted."""
VARIABLES = ("prevalence", "difficulty_scale", "mu", "sigma", "difficulty")


def conditional_laplace(
    ann, logits: np.ndarray, scale: float, steps: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Per (item, class): the mode of θ_ik's posterior under class k (prior ZeroSumNormal(1),
    labels through ``softmax(β_{j k} − χ θ_ik)``) by Newton, and the isotropic sd
    ``√((K − 1) / tr)`` of its Laplace approximation (trace over the zero-sum directions)."""
    k, n_items = ann.n_classes, ann.n_items
    item, annotator = ann.item_idx, ann.annotator_idx
    onehot = np.eye(k)[ann.label]
    theta = np.zeros((n_items, k, k))
    for _ in range(steps):
        p = np_softmax(logits[annotator] - scale * theta[item], axis=-1)  # rows, K, L
        gradient = np.zeros((n_items, k, k))
        np.add.at(gradient, item, -scale * (onehot[:, None, :] - p))
        gradient -= theta
        curvature = np.zeros((n_items, k, k, k))
        np.add.at(
            curvature, item, scale**2 * (p[..., :, None] * np.eye(k) - p[..., :, None] * p[..., None, :])
        )
        precision = curvature + np.eye(k)
        theta = theta + np.linalg.solve(precision, gradient[..., None])[..., 0]
        theta -= theta.mean(axis=-1, keepdims=True)
    trace = np.trace(precision, axis1=-2, axis2=-1) - 1.0  # the 1-direction has precision 1
    return theta, np.sqrt((k - 1) / trace)


def build(ann, centre: np.ndarray, sd: np.ndarray) -> pm.Model:
    """The shipped item-difficulty graph, the effect copies following ``ZeroSumNormal(centre,
    sd²)`` off their class and the prior ratio added to each class's term (centre 0 and sd 1:
    the shipped model exactly)."""
    priors = ItemDifficultyPriors()
    k = ann.n_classes
    with pm.Model(coords={**coords(ann), "item": list(ann.items)}) as model:
        prevalence, mu, sigma = _population(priors, k)
        logits = mu[None] + _annotator_offsets(ann, priors, sigma)
        scale = pm.HalfNormal("difficulty_scale", sigma=priors.difficulty_scale, dims="true_class")
        dims = ("item", "true_class", "label_class")
        standard = pm.ZeroSumNormal("difficulty_std", sigma=1.0, dims=dims)
        effect = pm.Deterministic("difficulty", centre + sd[..., None] * standard, dims=dims)
        ratio = (k - 1) * np.log(sd) - 0.5 * (effect**2).sum(-1) + 0.5 * (standard**2).sum(-1)
        data = table_data(ann)
        model.add_coord("label_slot", np.arange(data["label_table"].shape[1]))
        table, cells, gold = (pm.Data(name, data[name]) for name in TABLE_DATA)
        pm.CustomDist(
            "labels",
            logits,
            pt.log(prevalence),
            scale,
            effect,
            cells,
            gold + ratio,
            logp=difficulty_labels_logp,
            random=difficulty_labels_random,
            signature="(c,k,l),(k),(k),(k,l),(w),(k)->(w)",
            dtype="int64",
            observed=table,
            dims=("item", "label_slot"),
        )
    return model


def run(name: str, variant: str, draws: int) -> dict:
    import nutpie

    ann = bl.datasets.load(name, gold=False)
    em = dawid_skene_em(ann)
    k = ann.n_classes
    if variant == "pseudo-priors":
        log_confusion = np.log(em.confusion)
        centre, sd = conditional_laplace(
            ann, log_confusion - log_confusion.mean(-1, keepdims=True), PSEUDO_SCALE
        )
    else:
        centre, sd = np.zeros((ann.n_items, k, k)), np.ones((ann.n_items, k))
    model = build(ann, centre, sd)
    start = item_difficulty_start(em, ann, ItemDifficultyPriors())
    del start["difficulty"]
    start["difficulty_std"] = np.zeros((ann.n_items, k, k))  # each copy starts at its centre
    t0 = time.perf_counter()
    compiled = nutpie.compile_pymc_model(
        model,
        backend="numba",
        initial_points=start,
        jitter_rvs={v for v in model.free_RVs if v.name != "difficulty_std"},
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
        "# item-difficulty: prior copies (shipped) vs Carlin–Chib pseudo-priors (prototype)",
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
