"""The names a user chooses from: inference methods, NUTS samplers, shipped model specs,
calibration maps.

Dependency-free, so the command line lists them without importing the models.
"""

from __future__ import annotations

from importlib import resources
from typing import Literal

Method = Literal["nuts", "advi", "fullrank-advi", "map", "em"]
Sampler = Literal["auto", "nutpie", "nutpie-numba", "nutpie-jax", "pymc", "numpyro", "blackjax"]
METHODS: tuple[Method, ...] = ("nuts", "advi", "fullrank-advi", "map", "em")
SAMPLERS: tuple[Sampler, ...] = (
    "auto",
    "nutpie",
    "nutpie-numba",
    "nutpie-jax",
    "pymc",
    "numpyro",
    "blackjax",
)
NUTPIE_SAMPLERS: tuple[Sampler, ...] = ("nutpie", "nutpie-numba", "nutpie-jax")
CalibrationMethod = Literal["temperature-floor", "temperature", "top-label", "vector"]
CALIBRATION_METHODS: tuple[CalibrationMethod, ...] = (
    "temperature-floor",
    "temperature",
    "top-label",
    "vector",
)
DEFAULT_CALIBRATION_METHOD: CalibrationMethod = "temperature-floor"
AVERAGE_CALIBRATION_METHOD: CalibrationMethod = "top-label"  # a FamilyAverage's default (calibrate.py)


def shipped_specs() -> list[str]:
    """Names of the model configurations shipped in ``bayeslabels/specs``.

    Returns
    -------
    list of str
        Sorted spec names, each usable as ``bl.fit(ann, model=name)``.

    Examples
    --------
    >>> "dawid-skene" in shipped_specs()
    True
    """
    folder = resources.files("bayeslabels") / "specs"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))
