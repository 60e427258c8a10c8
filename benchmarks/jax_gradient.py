"""Per-gradient cost of the two JAX likelihoods, in one process: the sparse product with the
data frozen as constants (nutpie's default for JAX, this package's JAX route before the dense
gather) vs the dense gather with the data as jit inputs (`dense_label_gather`, the route now).

Per size (simulated Dawid–Skene, 5 labels per item, 50 annotators, K=2): the first call (XLA
compile + one evaluation), the mean seconds of one logp + gradient over ``--evals`` calls, and
the first call after ``with_data`` on new data of the same shape (the gather's jit cache hit;
the frozen form has no data to swap: a re-fit re-compiles).

Run from the repository root: ``.venv/bin/python benchmarks/jax_gradient.py --labels 5000 8000 32000``
Prints a markdown table (and writes it with ``--out``)."""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np


def timed_calls(compiled, x: np.ndarray, evals: int) -> tuple[float, float]:
    """(seconds of the first call, mean seconds of the next ``evals``) of logp + gradient."""
    logp = compiled._make_logp_func()
    start = time.perf_counter()
    logp(x, **compiled._shared_data)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(evals):
        logp(x, **compiled._shared_data)
    return first, (time.perf_counter() - start) / evals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--labels", type=int, nargs="+", default=[5000, 8000, 32000])
    parser.add_argument("--evals", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import nutpie

    import bayeslabels as bl
    from bayeslabels.inference import _compile_nutpie
    from bayeslabels.spec import resolve_spec

    spec = resolve_spec("dawid-skene")
    rows = [
        "| labels | sparse, frozen: 1st call s | sparse: s / gradient | gather, inputs: 1st call s "
        "| gather: s / gradient | gather / sparse | gather: 1st call after with_data s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n_labels in args.labels:
        sims = [
            bl.simulate.dawid_skene(n_items=n_labels // 5, n_annotators=50, labels_per_item=5, seed=seed)
            for seed in (0, 1)
        ]
        models = [spec.family.build(sim.annotations, spec.priors) for sim in sims]
        x = np.zeros(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frozen = nutpie.compile_pymc_model(models[0], backend="jax", gradient_backend="jax")
            gather = _compile_nutpie(models[0], {}, "jax")
        x = np.random.default_rng(0).normal(0, 0.1, gather.n_dim)
        sparse_first, sparse_each = timed_calls(frozen, x, args.evals)
        gather_first, gather_each = timed_calls(gather, x, args.evals)
        swapped = gather.with_data(**{k: models[1][k].get_value() for k in gather._shared_data})
        swap_first, _ = timed_calls(swapped, x, 1)
        rows.append(
            f"| {n_labels} | {sparse_first:.2f} | {sparse_each * 1e3:.2f} ms | {gather_first:.2f} "
            f"| {gather_each * 1e3:.2f} ms | {gather_each / sparse_each:.2f} | {swap_first:.3f} |"
        )
        print(rows[-1], flush=True)
    table = "\n".join(rows)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
