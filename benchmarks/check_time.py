"""What `Fit.check()` and `bl.load` cost on long fits: the R-hat / ESS pass, ArviZ's own
per-scalar functions against bayeslabels' vectorised pass (`bayeslabels._convergence_stats`),
on the same posterior in one run, with the largest difference between their numbers.

Rows:
- ``sim 1k x 50``: Dawid–Skene NUTS, 4 × 1000 draws, the 1k items × 50 annotators set;
- ``synthetic``: AR(1) draws (φ = 0.6) shaped like a 4 × 4000-draw fit of 16,545 scalars (an
  825-annotator, 4-class ordinal fit's posterior); ArviZ is timed on 1,000 of the scalars and
  scaled (per-scalar cost is flat), the vectorised pass on all of them;
- ``--saved DIR``: a saved fit: `bl.load` (deterministics recomputed), `check()`, `save` again.

    python benchmarks/check_time.py [--saved DIR]   # writes results/check_time.{json,md}
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import SHARED_NOTE, fmt, machine_info, machine_line, write  # noqa: E402

ARVIZ_SAMPLE = 1000  # scalars ArviZ is timed on in the synthetic row


def arviz_per_scalar(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """arviz_stats' rank R-hat, bulk ESS, tail ESS of a (chain, draw, s) array, scalar by scalar."""
    from arviz_stats.base import array_stats

    per_scalar = np.moveaxis(values, 2, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return (
            array_stats.rhat(per_scalar),
            array_stats.ess(per_scalar, method="bulk"),
            array_stats.ess(per_scalar, method="tail", prob=0.05),
        )


def side_by_side(name: str, values: np.ndarray, arviz_scalars: int | None = None) -> dict:
    from bayeslabels._convergence_stats import rank_diagnostics

    scalars = values.shape[2]
    sample = values if arviz_scalars is None else values[:, :, :arviz_scalars]
    started = time.perf_counter()
    reference = arviz_per_scalar(sample)
    arviz_s = (time.perf_counter() - started) * scalars / sample.shape[2]
    started = time.perf_counter()
    ours = rank_diagnostics(values)
    ours_s = time.perf_counter() - started
    differences = [
        float(np.nanmax(np.abs(o[: sample.shape[2]] - r) / np.abs(r)))
        for o, r in zip(ours, reference, strict=True)
    ]
    return {
        "case": name,
        "chains": values.shape[0],
        "draws": values.shape[1],
        "scalars": scalars,
        "arviz_scalars_timed": sample.shape[2],
        "arviz_s": arviz_s,
        "vectorised_s": ours_s,
        "speedup": arviz_s / ours_s,
        "max_relative_difference": max(differences),
    }


def posterior_values(fit) -> np.ndarray:
    post = fit.posterior["posterior"]
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    arrays = [
        np.asarray(post[v].transpose("chain", "draw", ...).values, dtype=float).reshape(chains, draws, -1)
        for v in post.data_vars
    ]
    return np.concatenate(arrays, axis=2)


def deterministics_seconds(fit, sample_draws: int = 250) -> tuple[float, float]:
    """Seconds to recompute the deterministics a save leaves out: PyMC's draw-by-draw
    ``pm.compute_deterministics`` (FAST_COMPILE, as saves did before; timed on ``sample_draws``
    per chain and scaled) and the vectorised JAX pass `bl.load` uses (all draws)."""
    import pymc as pm

    from bayeslabels.persist import RECOMPUTED, _computed_deterministics

    post = fit.posterior["posterior"].to_dataset()
    names = [v.name for v in fit.model.deterministics if v.name in post.data_vars]
    free = post.drop_vars(names).drop_attrs(deep=False)
    sample = free.isel(draw=slice(0, sample_draws))
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pm.compute_deterministics(
            sample,
            model=fit.model,
            var_names=names,
            progressbar=False,
            compile_kwargs={"mode": "FAST_COMPILE"},
        )
    per_draw = (time.perf_counter() - started) * free.sizes["draw"] / sample.sizes["draw"]
    started = time.perf_counter()
    _computed_deterministics(free.assign_attrs({RECOMPUTED: ""}), fit.model, names)
    return per_draw, time.perf_counter() - started


def saved_row(directory: str) -> dict:
    import bayeslabels as bl

    started = time.perf_counter()
    fit = bl.load(directory)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    report = fit.check(bl.Thresholds())  # computed afresh (plain check() returns the saved report)
    check_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        fit.save(Path(tmp) / "again")
        save_s = time.perf_counter() - started
    post = fit.posterior["posterior"]
    per_draw_s, vectorised_s = deterministics_seconds(fit)
    return {
        "case": f"saved fit {Path(directory).name}",
        "deterministics_per_draw_s": per_draw_s,
        "deterministics_vectorised_s": vectorised_s,
        "model": fit.spec.model,
        "chains": post.sizes["chain"],
        "draws": post.sizes["draw"],
        "scalars": int(
            sum(post[v].size // (post.sizes["chain"] * post.sizes["draw"]) for v in post.data_vars)
        ),
        "load_s": load_s,
        "check_s": check_s,
        "save_s": save_s,
        "max_rhat": report.max_rhat,
        "min_ess_bulk": report.min_ess_bulk,
        "min_ess_tail": report.min_ess_tail,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saved", help="a saved fit directory to load, check and save again")
    args = parser.parse_args()
    import bayeslabels as bl

    info = machine_info()
    rows = []
    sim = bl.simulate.dawid_skene(n_items=1000, n_annotators=50, n_classes=2, labels_per_item=5, seed=0)
    fit = bl.fit(sim.annotations, draws=1000, tune=1000, chains=4, quiet=True)
    rows.append(side_by_side("sim 1k x 50, Dawid–Skene NUTS", posterior_values(fit)))
    rng = np.random.default_rng(0)
    values = np.empty((4, 4000, 16545))
    values[:, 0] = rng.normal(size=(4, 16545))
    for t in range(1, 4000):
        values[:, t] = 0.6 * values[:, t - 1] + rng.normal(size=(4, 16545))
    rows.append(side_by_side("synthetic AR(1), ordinal adult_content's size", values, ARVIZ_SAMPLE))
    del values
    saved = [saved_row(args.saved)] if args.saved else []
    lines = [
        "# The convergence pass of `check()` on long fits, and loading / saving them",
        "",
        machine_line(info),
        "",
        "R-hat (rank-normalised, split), bulk ESS and tail ESS of every posterior scalar: ArviZ's",
        "per-scalar functions (`arviz_stats.base.array_stats`) against bayeslabels' vectorised pass,",
        "same arrays, same run. 'max rel. diff.': the largest relative difference of the three",
        "numbers over the scalars both computed.",
        "",
        "| case | chains × draws | scalars | ArviZ s | vectorised s | speed-up | max rel. diff. |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        timed = (
            ""
            if r["arviz_scalars_timed"] == r["scalars"]
            else f" (timed on {r['arviz_scalars_timed']}, scaled)"
        )
        lines.append(
            f"| {r['case']} | {r['chains']} × {r['draws']} | {r['scalars']} | "
            f"{fmt(r['arviz_s'], '.1f')}{timed} | {fmt(r['vectorised_s'], '.2f')} | "
            f"{fmt(r['speedup'], '.1f')}× | {r['max_relative_difference']:.1e} |"
        )
    if saved:
        lines += [
            "",
            "A saved fit: `bl.load` (deterministics recomputed from the free variables through JAX),",
            "`check()` computed afresh (the whole report: convergence, per-chain alignment, predictive",
            "check; a loaded fit's plain `check()` returns the saved report instead), `save`.",
            "Deterministics: recomputing them draw by draw with `pm.compute_deterministics` (FAST_COMPILE,",
            "as loads and saves did before; timed on 250 draws per chain, scaled) against the",
            "vectorised JAX pass (all draws).",
            "",
            "| fit | model | chains × draws | scalars | load s | check s | save s | max R-hat "
            "| min bulk / tail ESS | deterministics: per draw s | vectorised s |",
            "|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|",
        ]
        for r in saved:
            lines.append(
                f"| {r['case']} | {r['model']} | {r['chains']} × {r['draws']} | {r['scalars']} | "
                f"{fmt(r['load_s'], '.1f')} | {fmt(r['check_s'], '.1f')} | {fmt(r['save_s'], '.1f')} | "
                f"{r['max_rhat']:.4f} | {r['min_ess_bulk']:.0f} / {r['min_ess_tail']:.0f} | "
                f"{fmt(r['deterministics_per_draw_s'], '.0f')} | "
                f"{fmt(r['deterministics_vectorised_s'], '.1f')} |"
            )
    lines += ["", SHARED_NOTE]
    write("check_time", {"machine": info, "rows": rows, "saved": saved}, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
