"""Helpers shared by agreement and evaluation: Wilson intervals, the seeded percentile
bootstrap over items (vectorised over replicates), and JSON-ready table rows.

A bootstrap replicate is a vector of resampling counts ``w`` over the n items (a draw from
Multinomial(n, 1/n)); every statistic here is written as a function of weighted sums, so a
chunk of replicates is one matrix product ``W @ x`` rather than a Python loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtri

WILSON = "wilson"
BOOTSTRAP = "bootstrap-percentile"
PAIRED_BOOTSTRAP = "paired-bootstrap-percentile"
_CHUNK = 200
_CHUNK_CELLS = 10_000_000  # replicates × items per chunk: bounds the memory on large data


def wilson(count: npt.ArrayLike, nobs: npt.ArrayLike, ci_prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval; NaN where ``nobs`` is 0.

    With ``p̂ = x/n`` and ``z`` the standard normal quantile at ``(1 + ci_prob)/2``:
    ``(p̂ + z²/2n ± z √(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n)`` — statsmodels'
    ``proportion_confint(method="wilson")`` to rounding (tests/test_evaluate.py), written out so
    that the command line does not import scipy.stats through statsmodels (~1 s) for it."""
    count = np.asarray(count, dtype=float)
    nobs = np.asarray(nobs, dtype=float)
    ok = nobs > 0
    lo = np.full(np.broadcast(count, nobs).shape, np.nan)
    hi = lo.copy()
    if ok.any():
        c, n = np.broadcast_arrays(count, nobs)
        share = c[ok] / n[ok]
        z2 = ndtri(0.5 + ci_prob / 2) ** 2
        denominator = 1 + z2 / n[ok]
        centre = (share + z2 / (2 * n[ok])) / denominator
        half = np.sqrt(z2 * (share * (1 - share) / n[ok] + z2 / (4 * n[ok] ** 2))) / denominator
        lo[ok], hi[ok] = centre - half, centre + half  # guard the estimate against rounding at 0 and 1
        lo[ok], hi[ok] = np.minimum(lo[ok], share), np.maximum(hi[ok], share)
    return lo, hi


def weight_chunks(n: int, n_boot: int, seed: int | np.random.Generator | None) -> Iterator[np.ndarray]:
    """Bootstrap resampling counts over n items, ``n_boot`` replicates in chunks of rows."""
    rng = np.random.default_rng(seed)
    if n < 1 or n_boot < 1:
        raise ValueError(f"the bootstrap needs at least one item and one replicate (n={n}, n_boot={n_boot})")
    uniform = np.full(n, 1.0 / n)
    chunk = max(1, min(_CHUNK, _CHUNK_CELLS // n))
    done = 0
    while done < n_boot:
        size = min(chunk, n_boot - done)
        yield rng.multinomial(n, uniform, size=size).astype(float)
        done += size


def bootstrap(
    statistic: Callable[[np.ndarray], np.ndarray], n: int, n_boot: int, seed: int | np.random.Generator | None
) -> np.ndarray:
    """Replicates of ``statistic(W)`` (W: replicates × n weights → replicates × m values)."""
    return np.concatenate([np.atleast_2d(statistic(w).T).T for w in weight_chunks(n, n_boot, seed)])


def percentile_interval(replicates: np.ndarray, ci_prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed percentile interval per column, ignoring replicates where it is undefined."""
    tail = (1 - ci_prob) / 2
    with np.errstate(all="ignore"):
        finite = np.isfinite(replicates).any(axis=0)
        lo = np.full(replicates.shape[1], np.nan)
        hi = lo.copy()
        if finite.any():
            lo[finite], hi[finite] = np.nanquantile(replicates[:, finite], [tail, 1 - tail], axis=0)
    return lo, hi


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a table as plain Python values for JSON (NaN and infinities as None)."""
    out = []
    for record in frame.to_dict(orient="records"):
        clean = {}
        for key, value in record.items():
            if isinstance(value, np.generic):
                value = value.item()
            if isinstance(value, float) and not np.isfinite(value):
                value = None
            if isinstance(value, pd.Timestamp):
                value = value.isoformat()
            clean[str(key)] = None if value is pd.NA or value is pd.NaT else value
        out.append(clean)
    return out
