"""bayeslabels: Bayesian annotator models that turn noisy crowd labels into soft targets.

import bayeslabels as bl
ann = bl.Annotations.from_csv("labels.csv", gold="gold.csv")
em = bl.dawid_skene_em(ann)
fit = bl.fit(ann, model="dawid-skene", method="nuts")
fit.soft_labels(ci_prob=0.9).to_frame()
fit.export("soft_labels.parquet")
"""

from importlib.metadata import PackageNotFoundError, version

from . import datasets, plots, simulate
from .aggregate import EMResult, VoteResult, dawid_skene_em, majority_vote, soft_vote
from .agreement import (
    AgreementReport,
    agreement,
    annotator_confusion,
    annotator_drift,
    annotator_profiles,
    fleiss_kappa,
    item_agreement,
    krippendorff_alpha,
    pairwise_cohen_kappa,
)
from .compare import SubtypeComparison, compare_fits, compare_subtypes
from .data import Annotations, IngestSummary
from .diagnostics import ConvergenceReport, Thresholds
from .distributed import (
    DaskEMResult,
    bootstrap_tasks,
    dawid_skene_em_dask,
    fit_many,
    fold_tasks,
    tasks_by_subtype,
)
from .errors import DataError, SpecError
from .evaluate import (
    AuditSampleSize,
    Comparison,
    Evaluation,
    ThresholdChoice,
    audit_sample_size,
    calibration_table,
    compare_targets,
    evaluate,
    evaluate_soft,
    expected_calibration_error,
    tune_threshold,
)
from .fit import ConvergenceError, Fit
from .inference import fit
from .persist import load_fit as load
from .routing import route
from .soft_labels import SoftLabels, as_soft_labels, read_provenance
from .spec import (
    BetaBernoulliPriors,
    DawidSkenePriors,
    HierarchicalPriors,
    InferenceSettings,
    ModelSpec,
    resolve_spec,
)
from .splits import FoldTargets, Split, clean_test_set, fit_per_fold, split
from .training import (
    bootstrapped_xent,
    expand_soft_targets,
    soft_target_xent,
    to_sample_weighted,
    to_training_frame,
)

try:
    __version__ = version("bayeslabels")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "AgreementReport",
    "Annotations",
    "AuditSampleSize",
    "BetaBernoulliPriors",
    "Comparison",
    "ConvergenceError",
    "ConvergenceReport",
    "DaskEMResult",
    "DataError",
    "DawidSkenePriors",
    "EMResult",
    "Evaluation",
    "Fit",
    "FoldTargets",
    "HierarchicalPriors",
    "InferenceSettings",
    "IngestSummary",
    "ModelSpec",
    "SoftLabels",
    "SpecError",
    "Split",
    "SubtypeComparison",
    "ThresholdChoice",
    "Thresholds",
    "VoteResult",
    "__version__",
    "agreement",
    "annotator_confusion",
    "as_soft_labels",
    "annotator_drift",
    "annotator_profiles",
    "audit_sample_size",
    "bootstrap_tasks",
    "bootstrapped_xent",
    "calibration_table",
    "clean_test_set",
    "compare_fits",
    "compare_subtypes",
    "compare_targets",
    "datasets",
    "dawid_skene_em",
    "dawid_skene_em_dask",
    "evaluate",
    "evaluate_soft",
    "expand_soft_targets",
    "expected_calibration_error",
    "fit",
    "fit_many",
    "fit_per_fold",
    "fleiss_kappa",
    "fold_tasks",
    "item_agreement",
    "krippendorff_alpha",
    "load",
    "majority_vote",
    "pairwise_cohen_kappa",
    "plots",
    "read_provenance",
    "resolve_spec",
    "route",
    "simulate",
    "soft_target_xent",
    "soft_vote",
    "split",
    "tasks_by_subtype",
    "to_sample_weighted",
    "to_training_frame",
    "tune_threshold",
]
