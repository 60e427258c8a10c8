"""Same seed, same draws: whatever the state of PyTensor's compile caches, in any process, however
the chains' threads are scheduled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# the data of conftest's `small_sim`; a short seeded run (4 chains, so that the chains' threads
# compete for the cores), short enough to run three times
SETTINGS = dict(model="dawid-skene", method="nuts", draws=50, tune=100, chains=4, seed=0, max_draws=0)
SIMULATE = dict(
    n_items=200, n_annotators=12, n_classes=3, labels_per_item=(3, 6), spammer_fraction=0.1, seed=7
)
FIT_AND_SAVE = f"""
import sys
import numpy as np
import bayeslabels as bl

sim = bl.simulate.dawid_skene(**{SIMULATE!r})
fit = bl.fit(sim.annotations, quiet=True, sampler=sys.argv[2], **{SETTINGS!r})
np.save(sys.argv[1], fit.posterior["posterior"]["confusion"].values)
"""


def _start_fresh_process(out: Path, compile_dir: Path, sampler: str = "auto") -> subprocess.Popen:
    """The seeded fit in a new Python process whose PyTensor/numba caches live in ``compile_dir``."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={compile_dir}"}
    command = [sys.executable, "-c", FIT_AND_SAVE, str(out), sampler]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _draws(process: subprocess.Popen, out: Path) -> np.ndarray:
    _, err = process.communicate(timeout=900)
    assert process.returncode == 0, err[-3000:]
    return np.load(out)


@pytest.mark.parametrize("sampler", ["numpyro", "nutpie"])
def test_a_seeded_fit_gives_identical_draws_with_cold_and_warm_compile_caches(tmp_path, sampler):
    """The same seeded fit three times: in two new processes at once, each with its own new,
    empty compile directory (both compile fresh, and compete for the cores), then in a third new
    process with the first one's directory (its disk cache). Bit-identical draws. Through the
    two routes of the default ``sampler="auto"``: NumPyro (full-length fits of the cheap-gradient
    families) and nutpie's JAX backend (the others, and short runs); the numba backend's own test
    is below (slow: two cold numba compiles)."""
    first, second = tmp_path / "cache-a", tmp_path / "cache-b"
    running = [_start_fresh_process(tmp_path / f"{d.name}.npy", d, sampler) for d in (first, second)]
    cold_a, cold_b = (
        _draws(p, tmp_path / f"{d.name}.npy") for p, d in zip(running, (first, second), strict=True)
    )
    np.testing.assert_array_equal(cold_a, cold_b, err_msg="two fresh compiles in two processes at once")
    warm = _draws(_start_fresh_process(tmp_path / "warm.npy", first, sampler), tmp_path / "warm.npy")
    np.testing.assert_array_equal(cold_a, warm, err_msg="fresh compile vs the disk cache")
    # what was compared: 4 chains × 50 draws of every annotator's 3 × 3 confusion
    assert cold_a.shape == (4, 50, 12, 3, 3) and np.isfinite(cold_a).all()


@pytest.mark.slow
def test_the_numba_backend_gives_identical_draws_compiled_fresh_and_from_the_disk_cache(tmp_path):
    """nutpie's numba backend (data above `JAX_MAX_LABELS`, or named): a new, empty compile
    directory, then the disk cache it left. (With fast-math on, these two differed.)"""
    cache = tmp_path / "compile-cache"
    cold = _draws(_start_fresh_process(tmp_path / "cold.npy", cache, "nutpie-numba"), tmp_path / "cold.npy")
    assert (cache / "numba").is_dir() and any((cache / "numba").iterdir())  # the disk cache was written
    warm = _draws(_start_fresh_process(tmp_path / "warm.npy", cache, "nutpie-numba"), tmp_path / "warm.npy")
    np.testing.assert_array_equal(cold, warm, err_msg="fresh compile vs the disk cache")
