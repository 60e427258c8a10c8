"""Same seed, same draws: whatever the state of PyTensor's compile caches, in any process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

FIT_AND_SAVE = """
import sys
import numpy as np
import bayeslabels as bl

sim = bl.simulate.dawid_skene(n_items=120, n_annotators=8, n_classes=2, labels_per_item=(3, 5), seed=11)
fit = bl.fit(sim.annotations, model=sys.argv[2], draws=150, tune=150, chains=2, seed=5, quiet=True)
posterior = fit.posterior["posterior"]
np.savez(sys.argv[1], **{name: posterior[name].values for name in posterior.data_vars})
"""


def _fit_in_fresh_process(out: Path, compile_dir: Path, model: str) -> dict[str, np.ndarray]:
    """Fit in a new Python process whose PyTensor/numba caches live in ``compile_dir``."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={compile_dir}"}
    subprocess.run(
        [sys.executable, "-c", FIT_AND_SAVE, str(out), model], env=env, check=True, capture_output=True
    )
    with np.load(out) as saved:
        return dict(saved)


def test_a_seeded_fit_gives_identical_draws_with_cold_and_warm_compile_caches(tmp_path):
    """Beta–Bernoulli (log-gamma in its likelihood; the cheapest graph to compile): a fresh cache,
    the same cache warm, and another fresh cache give bit-identical draws."""
    first, second = tmp_path / "cache-a", tmp_path / "cache-b"
    cold = _fit_in_fresh_process(tmp_path / "cold.npz", first, "dawid-skene")
    warm = _fit_in_fresh_process(tmp_path / "warm.npz", first, "dawid-skene")
    other = _fit_in_fresh_process(tmp_path / "other.npz", second, "dawid-skene")
    assert (first / "numba").is_dir() and any((first / "numba").iterdir())  # the cache was used
    for name, values in cold.items():
        np.testing.assert_array_equal(values, warm[name], err_msg=f"{name}: cold vs warm cache")
        np.testing.assert_array_equal(values, other[name], err_msg=f"{name}: two fresh caches")
