"""First fit in a fresh process with empty compile caches, by method and compile backend.

Each row is its own process (``python benchmarks/first_fit.py --one METHOD FAMILY BACKEND``)
with a fresh, empty PyTensor compile directory: the time a user waits for the first MAP or
ADVI fit of a new session. ``numba`` is PyTensor's default backend (what MAP and ADVI used
before); ``jax`` the route `bayeslabels.inference.optimizer_backend` picks up to
`JAX_MAX_LABELS` labels. Ratios within one run are what count on a shared machine.

    python benchmarks/first_fit.py            # every row, writes results/first_fit.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROWS = [
    (method, family, backend)
    for method in ("map", "advi")
    for family in ("dawid-skene", "hierarchical", "item-difficulty")
    for backend in ("numba", "jax")
]


def one(method: str, family: str, backend: str) -> dict:
    """Fit ``family`` by ``method`` on rte (8k labels, gold held out) through ``backend``."""
    started = time.perf_counter()
    import numpy as np

    import bayeslabels as bl

    imported = time.perf_counter()
    ann = bl.datasets.load("rte")
    gold = ann.gold_series().dropna()
    sampler = "nutpie-numba" if backend == "numba" else "nutpie-jax"
    fit = bl.fit(
        ann, model=family, method=method, use_gold=False, sampler=sampler, quiet=True, self_calibration=False
    )
    fitted = time.perf_counter()
    soft = fit.soft_labels()
    hard = np.asarray(soft.classes)[soft.mean.argmax(axis=1)]
    at = {item: i for i, item in enumerate(soft.items)}
    accuracy = float(np.mean([hard[at[item]] == label for item, label in gold.items()]))
    return {"import_s": imported - started, "fit_s": fitted - imported, "accuracy": accuracy}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--one", nargs=3, metavar=("METHOD", "FAMILY", "BACKEND"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return
    from _common import machine_info, machine_line, write

    rows = []
    for method, family, backend in ROWS:
        with tempfile.TemporaryDirectory() as compiledir:
            env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={compiledir}"}
            out = (
                subprocess.run(
                    [sys.executable, __file__, "--one", method, family, backend],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=1200,
                    check=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
        rows.append({"method": method, "family": family, "backend": backend, **json.loads(out)})
        print(rows[-1], flush=True)
    lines = [
        "# First MAP / ADVI fit in a fresh process, empty compile caches (rte: 8,000 labels)",
        "",
        f"- {machine_line(machine_info())}",
        "- One process per row, each with an empty PyTensor compile directory; fit seconds exclude the"
        " import. `numba`: PyTensor's default backend (MAP and ADVI before); `jax`: the route"
        " `optimizer_backend` now picks up to `JAX_MAX_LABELS` labels.",
        "",
        "| method | family | numba fit s | jax fit s | ratio numba / jax | accuracy numba / jax |",
        "|---|---|---:|---:|---:|---|",
    ]
    for method in ("map", "advi"):
        for family in ("dawid-skene", "hierarchical", "item-difficulty"):
            n, j = (
                next(r for r in rows if (r["method"], r["family"], r["backend"]) == (method, family, b))
                for b in ("numba", "jax")
            )
            lines.append(
                f"| {method} | {family} | {n['fit_s']:.1f} | {j['fit_s']:.1f} | "
                f"{n['fit_s'] / j['fit_s']:.1f} | {n['accuracy']:.3f} / {j['accuracy']:.3f} |"
            )
    write("first_fit", {"rows": rows}, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
