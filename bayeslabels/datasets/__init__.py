"""Real crowdsourcing datasets with expert gold, bundled with their citation and licence.

``bl.datasets.names()`` lists them, ``bl.datasets.load("rte")`` returns `Annotations`
(gold attached where the dataset has it), ``bl.datasets.info("rte")`` the source,
citation, licence and notes (``meta.json``). Nothing is downloaded: the files ship inside
the package (``labels.csv.gz``, ``gold.csv``, ``meta.json`` per dataset). See README.md
in this folder for what to know before using each one.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from ..data import Annotations, DuplicatePolicy
from ..errors import DataError

_ROOT = resources.files(__name__)


def names() -> list[str]:
    """Names of the bundled datasets."""
    return sorted(p.name for p in _ROOT.iterdir() if p.is_dir() and (p / "meta.json").is_file())


def _folder(name: str) -> Path:
    if name not in names():
        raise DataError(f"no bundled dataset {name!r}; available: {names()}")
    return Path(str(_ROOT / name))


def info(name: str) -> dict[str, Any]:
    """The dataset's ``meta.json``: source, citation, licence, counts, classes, notes."""
    return json.loads((_folder(name) / "meta.json").read_text(encoding="utf-8"))


def citation(name: str) -> str:
    return info(name)["original_paper_citation"]


def paths(name: str) -> dict[str, Path]:
    """Paths of the dataset's files: ``labels`` and, where present, ``gold`` and ``items``."""
    folder = _folder(name)
    found = {"labels": folder / "labels.csv.gz"}
    for key, file in (("gold", "gold.csv"), ("items", "items.csv.gz")):
        if (folder / file).is_file():
            found[key] = folder / file
    return found


def load(name: str, *, gold: bool = True, duplicates: DuplicatePolicy = "keep") -> Annotations:
    """A bundled dataset as `Annotations`, classes in the order of its ``meta.json``.

    ``gold=False`` leaves the gold labels out. Repeated (item, annotator) rows follow
    ``duplicates`` (the sources' repeats are kept by default, as published).
    """
    files = paths(name)
    return Annotations.from_csv(
        files["labels"],
        gold=files.get("gold") if gold else None,
        classes=info(name)["classes"],
        duplicates=duplicates,
    )
