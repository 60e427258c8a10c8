"""bayeslabels: Bayesian annotator models that turn noisy crowd labels into soft targets.

import bayeslabels as bl
ann = bl.Annotations.from_csv("labels.csv", gold="gold.csv")
em = bl.dawid_skene_em(ann)
fit = bl.fit(ann, model="dawid-skene", method="nuts")
fit.soft_labels(ci_prob=0.9)
fit.export("soft_labels.parquet")
"""

from importlib.metadata import PackageNotFoundError, version

from . import datasets, simulate
from .aggregate import EMResult, VoteResult, dawid_skene_em, majority_vote, soft_vote
from .compare import SubtypeComparison, compare_fits, compare_subtypes
from .data import Annotations, IngestSummary
from .diagnostics import ConvergenceReport, Thresholds
from .errors import DataError, SpecError
from .fit import ConvergenceError, Fit, read_provenance
from .inference import fit
from .persist import load_fit as load
from .routing import route
from .spec import (
    BetaBernoulliPriors,
    DawidSkenePriors,
    HierarchicalPriors,
    InferenceSettings,
    ModelSpec,
    resolve_spec,
)

try:
    __version__ = version("bayeslabels")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Annotations",
    "BetaBernoulliPriors",
    "ConvergenceError",
    "ConvergenceReport",
    "DataError",
    "DawidSkenePriors",
    "EMResult",
    "Fit",
    "HierarchicalPriors",
    "InferenceSettings",
    "IngestSummary",
    "ModelSpec",
    "SpecError",
    "SubtypeComparison",
    "Thresholds",
    "VoteResult",
    "__version__",
    "compare_fits",
    "compare_subtypes",
    "datasets",
    "dawid_skene_em",
    "fit",
    "load",
    "majority_vote",
    "read_provenance",
    "resolve_spec",
    "route",
    "simulate",
    "soft_vote",
]
