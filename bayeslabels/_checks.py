"""Argument checks shared by every public function (dependency-free, so the CLI starts fast)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def check_ci_prob(ci_prob: float) -> float:
    """``ci_prob`` as a float strictly between 0 and 1; a ValueError otherwise."""
    if isinstance(ci_prob, bool) or not isinstance(ci_prob, int | float) or not 0 < float(ci_prob) < 1:
        raise ValueError(f"ci_prob must be a probability strictly between 0 and 1, got {ci_prob!r}")
    return float(ci_prob)


def check_fits_of_same_labels(fits: Mapping[str, Any], caller: str, verb: str) -> None:
    """A DataError unless ``fits`` holds at least one `Fit` and all of them fit the same labels
    (items, annotators, classes, label count). ``caller`` and ``verb`` word the message."""
    from .errors import DataError
    from .fit import Fit

    if not fits:
        raise DataError(f"{caller} needs at least one fit, e.g. {{'ds': bl.fit(ann)}}")
    for name, fit in fits.items():
        if not isinstance(fit, Fit):
            raise DataError(f"{caller}: {name!r} is a {type(fit).__name__}, not a Fit from bl.fit")
    first_name, first = next(iter(fits.items()))
    reference = first.annotations
    for name, fit in fits.items():
        ann = fit.annotations
        same = (
            list(ann.items) == list(reference.items)
            and list(ann.annotators) == list(reference.annotators)
            and list(ann.classes) == list(reference.classes)
            and len(ann.label) == len(reference.label)
        )
        if not same:
            raise DataError(
                f"{caller}: {name!r} was fitted to other labels than {first_name!r}; "
                f"{verb} fits of the same Annotations"
            )
