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
    """Names of the bundled datasets.

    Returns
    -------
    list of str

    Examples
    --------
    >>> import bayeslabels as bl
    >>> bl.datasets.names()
    ['adult_content', 'anesthesia', 'bluebirds', 'dog', 'duchenne', 'music_genre', 'rte']
    """
    return sorted(p.name for p in _ROOT.iterdir() if p.is_dir() and (p / "meta.json").is_file())


def _folder(name: str) -> Path:
    if name not in names():
        raise DataError(f"no bundled dataset {name!r}; available: {names()}")
    return Path(str(_ROOT / name))


def info(name: str) -> dict[str, Any]:
    """The dataset's ``meta.json``: source, citation, licence, counts, classes, notes.

    Parameters
    ----------
    name : str
        One of `names`.

    Returns
    -------
    dict

    Raises
    ------
    DataError
        If there is no bundled dataset ``name``.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> meta = bl.datasets.info("rte")
    >>> meta["n_items"], meta["classes"]
    (800, [0, 1])
    """
    return json.loads((_folder(name) / "meta.json").read_text(encoding="utf-8"))


def citation(name: str) -> str:
    """The citation of the dataset's original paper.

    Parameters
    ----------
    name : str
        One of `names`.

    Returns
    -------
    str

    Examples
    --------
    >>> import bayeslabels as bl
    >>> bl.datasets.citation("rte")  # doctest: +ELLIPSIS
    "Snow, R., O'Connor, B., Jurafsky, D., Ng, A. Y. (2008). ..."
    """
    return info(name)["original_paper_citation"]


def paths(name: str) -> dict[str, Path]:
    """Paths of the dataset's files: ``labels`` and, where present, ``gold`` and ``items``.

    Parameters
    ----------
    name : str
        One of `names`.

    Returns
    -------
    dict of str to pathlib.Path

    Examples
    --------
    >>> import bayeslabels as bl
    >>> sorted(bl.datasets.paths("rte"))
    ['gold', 'items', 'labels']
    """
    folder = _folder(name)
    found = {"labels": folder / "labels.csv.gz"}
    for key, file in (("gold", "gold.csv"), ("items", "items.csv.gz")):
        if (folder / file).is_file():
            found[key] = folder / file
    return found


def load(name: str, *, gold: bool = True, duplicates: DuplicatePolicy = "keep") -> Annotations:
    """A bundled dataset as `Annotations`, classes in the order of its ``meta.json`` (and
    ordered where it says ``"ordered": true``: adult_content G < P < R < X, anesthesia 1–4).

    Parameters
    ----------
    name : str
        One of `names`.
    gold : bool, default True
        False leaves the gold labels out.
    duplicates : {"keep", "last", "error"}, default "keep"
        Repeated (item, annotator) rows (the sources' repeats are kept by default, as
        published).

    Returns
    -------
    Annotations

    Raises
    ------
    DataError
        If there is no bundled dataset ``name``.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> bl.datasets.load("bluebirds")
    Annotations(4212 labels, 108 items, 39 annotators, classes=['false', 'true'], gold for 108 items)
    >>> bl.datasets.load("bluebirds", gold=False).has_gold
    False
    """
    files = paths(name)
    return Annotations.from_csv(
        files["labels"],
        gold=files.get("gold") if gold else None,
        classes=info(name)["classes"],
        ordered=bool(info(name).get("ordered", False)),
        duplicates=duplicates,
    )
