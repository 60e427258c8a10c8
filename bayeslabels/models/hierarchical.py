r"""Hierarchical Dawid–Skene: logit-scale confusion rows with shrinkage to the population.

Plate diagram (non-centred)::

    μ_k = d·e_k + ν_k,  ν_k ~ ZeroSumNormal(s)   population logits   mu[true_class, label_class]
    σ_k ~ HalfNormal(a)                          annotator spread    sigma[true_class]
    η_·k· ~ ZeroSumNormal(1) over (annotator, label)  offsets   eta[true_class, annotator, label_class]
    π_jk = softmax(μ_k + σ_k · η_jk)             confusion[annotator, true_class, label_class]

Offsets sum to zero over the label axis: softmax ignores a constant added to a row, so
this removes a direction the data cannot inform (and that slows NUTS) without changing
the model. They also sum to zero over annotators (and δ over subtypes, ε over annotators
within each subtype): μ is then the logit of the *average* annotator rather than a free
location that η can trade against — with annotators of thousands of labels that ridge
(μ up, every η down) kept NUTS from mixing (measured in benchmarks/convergence.py).
An annotator with few labels has a likelihood too flat to move η far from 0, so its
confusion is pulled toward the population ``softmax(μ_k)``. With subtypes s (``μ_sk`` per
subtype, each level with its own scale)::

    μ_sk = μ_k + τ_k · δ_sk,   δ ~ ZeroSumNormal(1)        population per subtype
    π_jsk = softmax(μ_sk + σ_k · η_jk + υ_k · ε_jsk)     annotator + annotator × subtype

Both sit on the shared marginal likelihood (`_likelihood.observe_labels`), the subtype
model with one confusion matrix per *observed* (annotator, subtype) cell: a cell without
labels gets no ε of its own and follows ``softmax(μ_s + σ η_j)``, so the parameters grow
with the labels, not with annotators × subtypes (benchmarks/sparse_cells.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor.special import log_softmax, softmax
from scipy.special import softmax as np_softmax

from ..data import Annotations
from ..priors import AnnotatorLogitPriors, HierarchicalPriors
from . import register
from ._family import Draws, Family
from ._likelihood import observe_labels, observed_cells
from .dawid_skene import coords, prevalence_start

if TYPE_CHECKING:
    from pytensor.tensor import TensorVariable

    from ..aggregate import EMResult

ROW = ("true_class", "label_class")


def _population(
    priors: AnnotatorLogitPriors, k: int
) -> tuple[TensorVariable, TensorVariable, TensorVariable]:
    prevalence = pm.Dirichlet("prevalence", a=priors.prevalence_alpha(k), dims="true_class")
    offset = pm.ZeroSumNormal("mu_offset", sigma=priors.logit_sd, dims=ROW)
    mu = pm.Deterministic("mu", priors.diag_logit * np.eye(k) + offset, dims=ROW)
    sigma = pm.HalfNormal("sigma", sigma=priors.annotator_scale, dims="true_class")
    return prevalence, mu, sigma


def _annotator_offsets(
    ann: Annotations, priors: AnnotatorLogitPriors, sigma: TensorVariable
) -> TensorVariable:
    """Annotator offsets ``σ_k η_jk`` on the logit scale, summing to zero over annotators and
    over labels, with dims (annotator, true_class, label_class).

    Centred (data-rich annotators, `HierarchicalPriors.centred`): the free variable is the
    offset itself, ``annotator_offset ~ ZeroSumNormal(σ_k)``. Non-centred: ``eta ~
    ZeroSumNormal(1)`` and the offset is a deterministic ``σ_k η``. Both stored as (true_class,
    annotator, label_class), since ZeroSumNormal constrains the trailing axes."""
    dims = ("true_class", "annotator", "label_class")
    if priors.centred(ann.labels_per_annotator, ann.n_classes):
        offsets = pm.ZeroSumNormal(
            "annotator_offset", sigma=sigma[:, None, None], dims=dims, n_zerosum_axes=2
        )
    else:
        eta = pm.ZeroSumNormal("eta", sigma=1.0, dims=dims, n_zerosum_axes=2)
        offsets = pm.Deterministic("annotator_offset", sigma[:, None, None] * eta, dims=dims)
    return offsets.transpose(1, 0, 2)


def hierarchical(
    ann: Annotations, priors: HierarchicalPriors | None = None, minibatch_items: int = 0
) -> pm.Model:
    """Confusion rows ``softmax(μ_k + σ_k η_jk)``: annotators shrink toward the population."""
    priors = priors or HierarchicalPriors()
    with pm.Model(coords=coords(ann)) as model:
        prevalence, mu, sigma = _population(priors, ann.n_classes)
        logits = mu[None] + _annotator_offsets(ann, priors, sigma)
        pm.Deterministic("confusion", softmax(logits, axis=-1), dims=("annotator", *ROW))
        pm.Deterministic("population_confusion", softmax(mu, axis=-1), dims=ROW)
        observe_labels(ann, log_softmax(logits, axis=-1), pt.log(prevalence), minibatch_items=minibatch_items)
    return model


def hierarchical_subtype(
    ann: Annotations, priors: HierarchicalPriors | None = None, minibatch_items: int = 0
) -> pm.Model:
    """Per-subtype population logits plus annotator and annotator × subtype deviations.

    Only the C (annotator, subtype) cells that hold labels get a deviation ε (`observed_cells`):
    a cell without labels has no data to inform it, and follows the population
    ``softmax(μ_s + σ η_j)``. ε sums to zero over labels and, within each subtype, over its
    observed cells (the subtype's mean deviation is δ's), so the parameters grow with the
    labels, not with annotators × subtypes."""
    priors = priors or HierarchicalPriors()
    s, k = len(ann.subtypes), ann.n_classes
    _, cell_annotator, cell_subtype = observed_cells(ann)
    cell_names = [
        f"{ann.annotators[a]} / {ann.subtypes[t]}" for a, t in zip(cell_annotator, cell_subtype, strict=True)
    ]
    with pm.Model(coords={**coords(ann), "subtype": list(ann.subtypes), "cell": cell_names}) as model:
        prevalence, mu, sigma = _population(priors, k)
        tau = pm.HalfNormal("tau", sigma=priors.subtype_scale, dims="true_class")
        delta = pm.ZeroSumNormal(  # sums to zero over subtypes and labels
            "delta", sigma=1.0, dims=("true_class", "subtype", "label_class"), n_zerosum_axes=2
        ).transpose(1, 0, 2)
        mu_subtype = pm.Deterministic(
            "mu_subtype", mu[None] + tau[None, :, None] * delta, dims=("subtype", *ROW)
        )
        offsets = _annotator_offsets(ann, priors, sigma)
        upsilon = pm.HalfNormal("upsilon", sigma=priors.interaction_scale, dims="true_class")
        annotator = pm.Data("cell_annotator", cell_annotator)
        subtype = pm.Data("cell_subtype", cell_subtype)
        raw = pm.ZeroSumNormal("epsilon", sigma=1.0, dims=("true_class", "cell", "label_class"))
        epsilon = _centre_within(raw.transpose(1, 0, 2), subtype, s)
        logits = mu_subtype[subtype] + offsets[annotator] + upsilon[None, :, None] * epsilon
        pm.Deterministic("cell_confusion", softmax(logits, axis=-1), dims=("cell", *ROW))
        pm.Deterministic("population_confusion", softmax(mu_subtype, axis=-1), dims=("subtype", *ROW))
        observe_labels(
            ann,
            log_softmax(logits, axis=-1),
            pt.log(prevalence),
            per_subtype=True,
            minibatch_items=minibatch_items,
        )
    return model


def _centre_within(values: TensorVariable, group: TensorVariable, n_groups: int) -> TensorVariable:
    """``values`` (cells, ...) minus the mean of the cells of its group (scatter-add, no loop)."""
    totals = pt.inc_subtensor(pt.zeros((n_groups, *values.shape[1:]))[group], values)
    sizes = pt.inc_subtensor(pt.zeros(n_groups)[group], 1.0)
    means = totals / pt.maximum(sizes, 1.0).reshape((n_groups,) + (1,) * (values.ndim - 1))
    return values - means[group]


def subtype_confusion(
    ann: Annotations, mu_subtype: np.ndarray, annotator_offset: np.ndarray, cell_confusion: np.ndarray
) -> np.ndarray:
    """Dense (draws, annotators, subtypes, K, K) confusion of a per-subtype fit: the fitted
    cells where there are labels, ``softmax(μ_s + σ η_j)`` (the population) elsewhere.

    ``mu_subtype`` (draws, S, K, K), ``annotator_offset`` (draws, K, J, K) as stored,
    ``cell_confusion`` (draws, C, K, K)."""
    offsets = annotator_offset.transpose(0, 2, 1, 3)  # draws, J, K, K
    dense = np_softmax(mu_subtype[:, None] + offsets[:, :, None], axis=-1)
    _, cell_annotator, cell_subtype = observed_cells(ann)
    dense[:, cell_annotator, cell_subtype] = cell_confusion
    return dense


def _centred_logits(confusion: np.ndarray) -> np.ndarray:
    logits = np.log(np.clip(confusion, 1e-4, None))
    return logits - logits.mean(axis=-1, keepdims=True)


def hierarchical_start(em: EMResult, ann: Annotations, priors: AnnotatorLogitPriors) -> dict[str, np.ndarray]:
    """Start at the EM confusion: μ its annotator mean on the logit scale, the annotator
    offsets (σ η) its deviations."""
    logits = _centred_logits(em.confusion)
    mu = logits.mean(axis=0)
    spread = np.clip(logits.std(axis=0).mean(axis=-1), 0.2, 3.0)
    eta = np.clip((logits - mu) / spread[None, :, None], -3, 3)
    eta -= eta.mean(axis=-1, keepdims=True)
    eta -= eta.mean(axis=0, keepdims=True)  # zero-sum over annotators too
    k = len(mu)
    offset = mu - priors.diag_logit * (np.eye(k) - 1.0 / k)
    stored = eta.transpose(1, 0, 2)  # (true_class, annotator, label_class)
    if priors.centred(ann.labels_per_annotator, ann.n_classes):
        annotator = {"annotator_offset": stored * spread[:, None, None]}
    else:
        annotator = {"eta": stored}
    return {**prevalence_start(em), "mu_offset": offset, "sigma": spread, **annotator}


def hierarchical_subtype_start(
    em: EMResult, ann: Annotations, priors: HierarchicalPriors
) -> dict[str, np.ndarray]:
    start = hierarchical_start(em, ann, priors)
    s, k = len(ann.subtypes), ann.n_classes
    n_cells = len(observed_cells(ann)[1])
    return {
        **start,
        "tau": np.full(k, 0.5 * priors.subtype_scale),
        "delta": np.zeros((k, s, k)),
        "upsilon": np.full(k, 0.5 * priors.interaction_scale),
        "epsilon": np.zeros((k, n_cells, k)),
    }


def _dense_subtype_confusion(ann: Annotations, draws: Draws) -> np.ndarray:
    return subtype_confusion(ann, draws("mu_subtype"), draws("annotator_offset"), draws("cell_confusion"))


HIERARCHICAL = register(
    Family(
        name="hierarchical",
        priors=HierarchicalPriors,
        build=hierarchical,
        start=hierarchical_start,
        summary="hierarchical Dawid–Skene: annotators shrink toward the population",
        unseen_annotator=lambda draws: draws("population_confusion"),
        numpyro_faster=True,
    )
)
HIERARCHICAL_SUBTYPE = register(
    Family(
        name="hierarchical-subtype",
        priors=HierarchicalPriors,
        build=hierarchical_subtype,
        start=hierarchical_subtype_start,
        summary="hierarchical Dawid–Skene with reliability per (annotator, subtype)",
        cells="annotator-subtype",
        dense_confusion=_dense_subtype_confusion,
        unseen_annotator=lambda draws: draws("population_confusion"),
    )
)
