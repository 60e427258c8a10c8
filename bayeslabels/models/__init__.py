"""The model families: one short module each, all on the shared `_likelihood`.

Each ``models/<family>.py`` builds its PyMC graph and calls `register` with its `Family`
(builder, priors type, start, what its draws mean). The registry loads the family modules
on first use, so importing this package (and the NumPy likelihood EM uses) does not import
PyMC. Adding a family is one new module here plus its spec TOML in ``bayeslabels/specs``.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..errors import SpecError
from ._family import CLASS_POSTERIOR_MEANING, Draws, Family, confusion_reliability

_REGISTRY: dict[str, Family] = {}
_LOADED = False


def register(family: Family) -> Family:
    """Add a family to the registry (once per name); returns it."""
    existing = _REGISTRY.get(family.name)
    if existing is not None and existing is not family:
        raise ValueError(f"a model family named {family.name!r} is already registered")
    _REGISTRY[family.name] = family
    return family


def _load_families() -> None:
    global _LOADED
    if _LOADED:
        return
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    _LOADED = True


def family(name: str) -> Family:
    """The registered family called ``name``; a SpecError naming the known ones otherwise."""
    _load_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SpecError(f"unknown model {name!r}: use one of {family_names()}") from None


def family_names() -> list[str]:
    """Names of the registered families."""
    _load_families()
    return sorted(_REGISTRY)


__all__ = [
    "CLASS_POSTERIOR_MEANING",
    "Draws",
    "Family",
    "confusion_reliability",
    "family",
    "family_names",
    "register",
]
