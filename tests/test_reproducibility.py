"""Same seed, same draws: whatever the state of PyTensor's compile caches, in any process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# the `small_sim` / `nuts_fit` fixtures of conftest.py, rebuilt in a new process; its first
# DRAWS draws per chain (a seeded chain's draws do not depend on how many follow them)
DRAWS = 200
FIT_AND_SAVE = f"""
import sys
import numpy as np
import bayeslabels as bl

sim = bl.simulate.dawid_skene(
    n_items=200, n_annotators=12, n_classes=3, labels_per_item=(3, 6), spammer_fraction=0.1, seed=7
)
fit = bl.fit(sim.annotations, model="dawid-skene", method="nuts", draws={DRAWS}, tune=1000, chains=4, seed=0,
             max_draws=0, quiet=True, sampler=sys.argv[2])
np.save(sys.argv[1], fit.posterior["posterior"]["confusion"].values)
"""


def _fit_in_fresh_process(out: Path, compile_dir: Path, sampler: str = "nutpie") -> np.ndarray:
    """The `nuts_fit` fixture's fit, in a new Python process whose PyTensor/numba caches live
    in ``compile_dir``."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={compile_dir}"}
    command = [sys.executable, "-c", FIT_AND_SAVE, str(out), sampler]
    subprocess.run(command, env=env, check=True, capture_output=True)
    return np.load(out)


def test_a_seeded_fit_gives_identical_draws_with_cold_and_warm_compile_caches(nuts_fit, tmp_path):
    """The same seeded fit three times: in a new process with a new, empty compile directory
    (compiled fresh), again in a new process with that directory, and in this test session
    (whatever state its cache was in; its first ``DRAWS`` of 1000). Bit-identical draws. The
    default sampler compiles this size through JAX; the numba backend's own test is below
    (slow: two cold numba compiles)."""
    cache = tmp_path / "compile-cache"
    cold = _fit_in_fresh_process(tmp_path / "cold.npy", cache)
    warm = _fit_in_fresh_process(tmp_path / "warm.npy", cache)
    np.testing.assert_array_equal(cold, warm, err_msg="fresh compile vs the disk cache")
    session = nuts_fit.posterior["posterior"]["confusion"].values[:, :DRAWS]
    np.testing.assert_array_equal(cold, session, err_msg="a new process vs this session's fit")


@pytest.mark.slow
def test_the_numba_backend_gives_identical_draws_compiled_fresh_and_from_the_disk_cache(tmp_path):
    """nutpie's numba backend (data above `JAX_MAX_LABELS`, or named): a new, empty compile
    directory, then the disk cache it left. (With fast-math on, these two differed.)"""
    cache = tmp_path / "compile-cache"
    cold = _fit_in_fresh_process(tmp_path / "cold.npy", cache, "nutpie-numba")
    assert (cache / "numba").is_dir() and any((cache / "numba").iterdir())  # the disk cache was written
    warm = _fit_in_fresh_process(tmp_path / "warm.npy", cache, "nutpie-numba")
    np.testing.assert_array_equal(cold, warm, err_msg="fresh compile vs the disk cache")
