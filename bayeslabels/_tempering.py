"""The label-count temperature of self-calibration (`bayeslabels.self_calibration`), as a
fit applies it to its per-draw class posteriors: ``T(n) = 1 + (n − 1) r``, ``softmax(log p / T)``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import xarray as xr

SELF_CALIBRATION_ATTR = "self_calibration"  # the posterior attribute holding the record (JSON)
PROBABILITY_FLOOR = 1e-300


# --------------------------------------------------------------------------- the map


def item_temperature(n_labels: np.ndarray, correlation: float) -> np.ndarray:
    """``T(n) = 1 + (n − 1) r`` per item (1 for an item with at most one label).

    Examples
    --------
    >>> import numpy as np
    >>> from bayeslabels._tempering import item_temperature
    >>> item_temperature(np.array([0, 1, 2, 11]), 0.1)
    array([1. , 1. , 1.1, 2. ])
    """
    return 1.0 + np.maximum(np.asarray(n_labels, dtype=float) - 1.0, 0.0) * float(correlation)


def temper(probabilities: np.ndarray, temperature: np.ndarray) -> np.ndarray:
    """``softmax(log p / T)`` with the items on the second-to-last axis of ``probabilities``
    ((..., items, K)) and ``temperature`` one per item.

    Examples
    --------
    >>> import numpy as np
    >>> from bayeslabels._tempering import temper
    >>> temper(np.array([[0.9, 0.1], [0.5, 0.5]]), np.array([2.0, 3.0])).round(3)
    array([[0.75, 0.25],
           [0.5 , 0.5 ]])
    """
    z = np.log(np.maximum(probabilities, PROBABILITY_FLOOR)) / temperature[:, None]
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def tempered_blocks(
    blocks: Iterator[tuple[slice, np.ndarray]], n_labels: np.ndarray, correlation: float
) -> Iterator[tuple[slice, np.ndarray]]:
    """Per-draw item probability blocks (`Fit.item_probability_draws`), each draw tempered."""
    temperature = item_temperature(n_labels, correlation)
    for rows, probabilities in blocks:
        yield rows, temper(probabilities, temperature[rows])


def record_of(posterior: xr.DataTree) -> dict[str, Any] | None:
    """The self-calibration record a fit's posterior carries, or None."""
    raw = posterior["posterior"].attrs.get(SELF_CALIBRATION_ATTR)
    return None if raw is None else dict(json.loads(raw))
