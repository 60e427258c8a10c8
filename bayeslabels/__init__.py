"""bayeslabels: Bayesian annotator models that turn noisy crowd labels into soft targets.

import bayeslabels as bl
ann = bl.Annotations.from_csv("labels.csv", gold="gold.csv")
em = bl.dawid_skene_em(ann)
fit = bl.fit(ann, model="dawid-skene", method="nuts")
fit.soft_labels(ci_prob=0.9).to_frame()
fit.export("soft_labels.parquet")

Importing the package is light: every name below is imported from its module on first use
(PEP 562), so ``import bayeslabels`` and ``bayeslabels --help`` do not load PyMC, PyTensor,
ArviZ or matplotlib.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers and readers; `_EXPORTS` is what runs
    from . import datasets, features, models, plots, simulate
    from ._version import __version__
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
    from .averaging import FamilyAverage, average_soft_labels, export_average
    from .calibrate import Calibration, calibrate
    from .compare import SubtypeComparison, compare_fits, compare_subtypes
    from .data import Annotations, IngestSummary
    from .diagnostics import ConvergenceReport, Thresholds
    from .distributed import fit_many
    from .em_dask import DaskEMResult, dawid_skene_em_dask
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
    from .features import ItemFeatures
    from .fit import ConvergenceError, Fit
    from .fit import load_fit as load
    from .fitting import auto_average, fit
    from .predictive import PredictiveCheck, predictive_check
    from .priors import (
        AmbiguityPriors,
        BetaBernoulliPriors,
        DawidSkenePriors,
        HierarchicalPriors,
        ItemDifficultyPriors,
        LearningFromCrowdsPriors,
        MacePriors,
        OrdinalPriors,
    )
    from .report import report
    from .routing import route
    from .selection import ModelComparison, compare_models
    from .self_calibration import SelfCalibration, self_calibrate
    from .soft_labels import SoftLabels, as_soft_labels, read_provenance
    from .spec import InferenceSettings, ModelSpec, resolve_spec
    from .splits import (
        FoldTargets,
        Split,
        bootstrap_tasks,
        clean_test_set,
        fit_per_fold,
        fold_tasks,
        split,
        tasks_by_subtype,
    )
    from .training import (
        bootstrapped_xent,
        expand_soft_targets,
        soft_target_xent,
        to_sample_weighted,
        to_training_frame,
    )

# public name → "module:attribute" (or "module" for a submodule), imported on first use
_EXPORTS: dict[str, str] = {
    "datasets": "datasets",
    "features": "features",
    "models": "models",
    "plots": "plots",
    "simulate": "simulate",
    "__version__": "_version:__version__",
    "EMResult": "aggregate:EMResult",
    "VoteResult": "aggregate:VoteResult",
    "dawid_skene_em": "aggregate:dawid_skene_em",
    "majority_vote": "aggregate:majority_vote",
    "soft_vote": "aggregate:soft_vote",
    "AgreementReport": "agreement:AgreementReport",
    "agreement": "agreement:agreement",
    "annotator_confusion": "agreement:annotator_confusion",
    "annotator_drift": "agreement:annotator_drift",
    "annotator_profiles": "agreement:annotator_profiles",
    "fleiss_kappa": "agreement:fleiss_kappa",
    "item_agreement": "agreement:item_agreement",
    "krippendorff_alpha": "agreement:krippendorff_alpha",
    "pairwise_cohen_kappa": "agreement:pairwise_cohen_kappa",
    "Calibration": "calibrate:Calibration",
    "SelfCalibration": "self_calibration:SelfCalibration",
    "self_calibrate": "self_calibration:self_calibrate",
    "calibrate": "calibrate:calibrate",
    "SubtypeComparison": "compare:SubtypeComparison",
    "compare_fits": "compare:compare_fits",
    "compare_subtypes": "compare:compare_subtypes",
    "ModelComparison": "selection:ModelComparison",
    "compare_models": "selection:compare_models",
    "FamilyAverage": "averaging:FamilyAverage",
    "average_soft_labels": "averaging:average_soft_labels",
    "export_average": "averaging:export_average",
    "Annotations": "data:Annotations",
    "IngestSummary": "data:IngestSummary",
    "ConvergenceReport": "diagnostics:ConvergenceReport",
    "Thresholds": "diagnostics:Thresholds",
    "DaskEMResult": "em_dask:DaskEMResult",
    "bootstrap_tasks": "splits:bootstrap_tasks",
    "dawid_skene_em_dask": "em_dask:dawid_skene_em_dask",
    "fit_many": "distributed:fit_many",
    "fold_tasks": "splits:fold_tasks",
    "tasks_by_subtype": "splits:tasks_by_subtype",
    "DataError": "errors:DataError",
    "SpecError": "errors:SpecError",
    "AuditSampleSize": "evaluate:AuditSampleSize",
    "Comparison": "evaluate:Comparison",
    "Evaluation": "evaluate:Evaluation",
    "ThresholdChoice": "evaluate:ThresholdChoice",
    "audit_sample_size": "evaluate:audit_sample_size",
    "calibration_table": "evaluate:calibration_table",
    "compare_targets": "evaluate:compare_targets",
    "evaluate": "evaluate:evaluate",
    "evaluate_soft": "evaluate:evaluate_soft",
    "expected_calibration_error": "evaluate:expected_calibration_error",
    "tune_threshold": "evaluate:tune_threshold",
    "ConvergenceError": "fit:ConvergenceError",
    "Fit": "fit:Fit",
    "load": "fit:load_fit",
    "fit": "fitting:fit",
    "auto_average": "fitting:auto_average",
    "PredictiveCheck": "predictive:PredictiveCheck",
    "predictive_check": "predictive:predictive_check",
    "route": "routing:route",
    "SoftLabels": "soft_labels:SoftLabels",
    "as_soft_labels": "soft_labels:as_soft_labels",
    "read_provenance": "soft_labels:read_provenance",
    "report": "report:report",
    "AmbiguityPriors": "priors:AmbiguityPriors",
    "BetaBernoulliPriors": "priors:BetaBernoulliPriors",
    "DawidSkenePriors": "priors:DawidSkenePriors",
    "HierarchicalPriors": "priors:HierarchicalPriors",
    "MacePriors": "priors:MacePriors",
    "OrdinalPriors": "priors:OrdinalPriors",
    "ItemDifficultyPriors": "priors:ItemDifficultyPriors",
    "LearningFromCrowdsPriors": "priors:LearningFromCrowdsPriors",
    "ItemFeatures": "features:ItemFeatures",
    "InferenceSettings": "spec:InferenceSettings",
    "ModelSpec": "spec:ModelSpec",
    "resolve_spec": "spec:resolve_spec",
    "FoldTargets": "splits:FoldTargets",
    "Split": "splits:Split",
    "clean_test_set": "splits:clean_test_set",
    "fit_per_fold": "splits:fit_per_fold",
    "split": "splits:split",
    "bootstrapped_xent": "training:bootstrapped_xent",
    "expand_soft_targets": "training:expand_soft_targets",
    "soft_target_xent": "training:soft_target_xent",
    "to_sample_weighted": "training:to_sample_weighted",
    "to_training_frame": "training:to_training_frame",
}
# submodules that share a name with a public function: the attribute stays the function
_SHADOWED = frozenset({"agreement", "calibrate", "evaluate", "fit", "report"})


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'bayeslabels' has no attribute {name!r}")
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    value = getattr(module, attribute) if attribute else module
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


class _Package(types.ModuleType):
    """Keeps ``bayeslabels.fit`` / ``.evaluate`` / ``.agreement`` / ``.calibrate`` / ``.report``
    the public functions when their modules (``bayeslabels/fit.py`` ...) are imported: the import system
    would otherwise set the package attribute to the module. The modules stay in ``sys.modules``."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__all__ = [
    "AgreementReport",
    "AmbiguityPriors",
    "Annotations",
    "AuditSampleSize",
    "BetaBernoulliPriors",
    "Calibration",
    "Comparison",
    "ConvergenceError",
    "ConvergenceReport",
    "DaskEMResult",
    "DataError",
    "DawidSkenePriors",
    "EMResult",
    "Evaluation",
    "FamilyAverage",
    "Fit",
    "FoldTargets",
    "HierarchicalPriors",
    "InferenceSettings",
    "IngestSummary",
    "ItemDifficultyPriors",
    "ItemFeatures",
    "LearningFromCrowdsPriors",
    "MacePriors",
    "ModelComparison",
    "ModelSpec",
    "OrdinalPriors",
    "PredictiveCheck",
    "SelfCalibration",
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
    "auto_average",
    "average_soft_labels",
    "bootstrap_tasks",
    "bootstrapped_xent",
    "calibrate",
    "calibration_table",
    "clean_test_set",
    "compare_fits",
    "compare_models",
    "compare_subtypes",
    "compare_targets",
    "datasets",
    "dawid_skene_em",
    "dawid_skene_em_dask",
    "evaluate",
    "evaluate_soft",
    "expand_soft_targets",
    "expected_calibration_error",
    "export_average",
    "features",
    "fit",
    "fit_many",
    "fit_per_fold",
    "fleiss_kappa",
    "fold_tasks",
    "item_agreement",
    "krippendorff_alpha",
    "load",
    "majority_vote",
    "models",
    "pairwise_cohen_kappa",
    "plots",
    "predictive_check",
    "read_provenance",
    "report",
    "resolve_spec",
    "route",
    "self_calibrate",
    "simulate",
    "soft_target_xent",
    "soft_vote",
    "split",
    "tasks_by_subtype",
    "to_sample_weighted",
    "to_training_frame",
    "tune_threshold",
]
