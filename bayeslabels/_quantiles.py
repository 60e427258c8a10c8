"""Quantiles over the draw axis, fast: equal to ``np.quantile(values, probs, axis=0)``.

``np.quantile(..., axis=0)`` partitions along the first axis of a (draws, items, classes)
block, a strided walk that costs two thirds of building the soft labels of a large fit (10M
labels, 100 ADVI draws). Here each scalar's draws are sorted as one contiguous row and the
order statistics interpolated with NumPy's own formula (method "linear"), so the numbers are
bit-identical to ``np.quantile``'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def draw_quantiles(values: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """Quantiles ``probs`` of ``values`` over axis 0, shape ``(len(probs), *values.shape[1:])``.

    With n draws and q in [0, 1], the virtual index is v = q (n − 1), j = ⌊v⌋, g = v − j and
    the quantile x₍ⱼ₎ + g (x₍ⱼ₊₁₎ − x₍ⱼ₎) (written from the upper order statistic for g ≥ ½,
    as NumPy's ``_lerp`` does). NaN anywhere in a scalar's draws gives NaN, as in NumPy.
    """
    values = np.asarray(values, dtype=float)
    n = values.shape[0]
    if n == 0:
        raise ValueError("quantiles of zero draws")
    rows = np.sort(np.moveaxis(values, 0, -1), axis=-1)  # contiguous: one row per scalar
    has_nan = np.isnan(rows[..., -1])  # NaN sorts last
    out = np.empty((len(probs), *values.shape[1:]))
    for position, q in enumerate(probs):
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile probabilities must lie in [0, 1], got {q}")
        virtual = (n - 1) * q  # as NumPy computes it for method "linear"
        below = min(int(np.floor(virtual)), n - 1)
        above = min(below + 1, n - 1)
        frac = virtual - below
        lower, upper = rows[..., below], rows[..., above]
        step = upper - lower
        value = upper - step * (1 - frac) if frac >= 0.5 else lower + step * frac
        out[position] = np.where(has_nan, np.nan, value)
    return out
