"""The model families: one short module each, all on the shared `_likelihood`.

`FAMILIES` maps a model name to its `Family`: the PyMC builder, the start values taken
from the EM solution, and what the family needs of the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pymc as pm

from ..data import Annotations
from ..errors import DataError
from ._likelihood import likelihood_data, observed_cells
from .beta_bernoulli import beta_bernoulli, beta_bernoulli_start, item_count_data
from .dawid_skene import dawid_skene, dawid_skene_start, one_coin, one_coin_start
from .hierarchical import (
    hierarchical,
    hierarchical_start,
    hierarchical_subtype,
    hierarchical_subtype_start,
)


@dataclass(frozen=True)
class Family:
    name: str
    build: Callable[..., pm.Model]
    start: Callable[..., dict]
    per_subtype: bool = False  # one confusion matrix per (annotator, subtype)
    item_rates: bool = False  # soft label = item rate θ_i (Beta–Bernoulli), not P(z_i)

    def data(self, ann: Annotations) -> dict[str, np.ndarray]:
        """What the full-batch model reads from `pm.Data`, by name: everything that changes
        when the same-shaped model is fitted to new labels."""
        if self.item_rates:
            return item_count_data(ann)
        data = likelihood_data(ann, self.per_subtype)
        if self.per_subtype:
            _, data["cell_annotator"], data["cell_subtype"] = observed_cells(ann)
        return data

    def shape_key(self, ann: Annotations, priors=None) -> tuple:
        """The sizes the compiled model is fixed to (its parameters' shapes), and for the
        hierarchical families whether annotator offsets are centred for these data."""
        if priors is not None and hasattr(priors, "centred"):
            return (*self.shape_key(ann), priors.centred(ann.labels_per_annotator, ann.n_classes))
        if self.item_rates:
            return (ann.n_classes,)
        if self.per_subtype:
            return (ann.n_annotators, ann.n_classes, len(ann.subtypes), len(observed_cells(ann)[1]))
        return (ann.n_annotators, ann.n_classes, 0)

    def validate(self, ann: Annotations) -> None:
        """A DataError when the data cannot be fitted by this family."""
        if self.per_subtype:
            if not ann.has_subtypes:
                raise DataError(
                    f"model {self.name!r} needs a subtype per item, and these data have none: add a "
                    "'subtype' column (or name yours with subtype=...), or use model='hierarchical'"
                )
            missing = ann.subtype < 0
            if missing.any():
                raise DataError(
                    f"model {self.name!r} needs a subtype for every item; {int(missing.sum())} items have "
                    f"none (e.g. {list(ann.items[missing][:3])}): fill them in, or use model='hierarchical'"
                )
        if self.item_rates and ann.n_classes != 2:
            raise DataError(
                f"model {self.name!r} needs exactly two classes, the data have {ann.n_classes} "
                f"({list(ann.classes)}): use model='dawid-skene' or 'hierarchical'"
            )


FAMILIES = {
    "dawid-skene": Family("dawid-skene", dawid_skene, dawid_skene_start),
    "one-coin": Family("one-coin", one_coin, one_coin_start),
    "hierarchical": Family("hierarchical", hierarchical, hierarchical_start),
    "hierarchical-subtype": Family(
        "hierarchical-subtype", hierarchical_subtype, hierarchical_subtype_start, per_subtype=True
    ),
    "beta-bernoulli": Family("beta-bernoulli", beta_bernoulli, beta_bernoulli_start, item_rates=True),
}

__all__ = [
    "FAMILIES",
    "Family",
    "beta_bernoulli",
    "dawid_skene",
    "hierarchical",
    "hierarchical_subtype",
    "one_coin",
]
