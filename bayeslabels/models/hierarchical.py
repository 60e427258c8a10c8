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
(μ up, every η down) is what kept NUTS from mixing (duchenne: min ESS 96 → 222; rte and
bluebirds pass the check at the shipped settings).
An annotator with few labels has a likelihood too flat to move η far from 0, so its
confusion is pulled toward the population ``softmax(μ_k)``. With subtypes s (``μ_sk`` per
subtype, each level with its own scale)::

    μ_sk = μ_k + τ_k · δ_sk,   δ ~ ZeroSumNormal(1)        population per subtype
    π_jsk = softmax(μ_sk + σ_k · η_jk + υ_k · ε_jsk)     annotator + annotator × subtype

Both sit on the shared marginal likelihood (`_likelihood.label_potential`), the subtype
model with one confusion matrix per (annotator, subtype) cell.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor.special import log_softmax, softmax

from ..data import Annotations
from ..spec import HierarchicalPriors
from ._likelihood import label_potential
from .dawid_skene import coords, prevalence_start

ROW = ("true_class", "label_class")


def _population(priors: HierarchicalPriors, k: int):
    prevalence = pm.Dirichlet("prevalence", a=priors.prevalence_alpha(k), dims="true_class")
    offset = pm.ZeroSumNormal("mu_offset", sigma=priors.logit_sd, dims=ROW)
    mu = pm.Deterministic("mu", priors.diag_logit * np.eye(k) + offset, dims=ROW)
    sigma = pm.HalfNormal("sigma", sigma=priors.annotator_scale, dims="true_class")
    return prevalence, mu, sigma


def _annotator_offsets(name: str, leading: tuple[str, ...] = ()):
    """Standard-normal offsets summing to zero over annotators and over labels, returned with
    dims (*leading, annotator, true_class, label_class); stored as (*leading, true_class,
    annotator, label_class), since ZeroSumNormal constrains the trailing axes."""
    offsets = pm.ZeroSumNormal(
        name, sigma=1.0, dims=(*leading, "true_class", "annotator", "label_class"), n_zerosum_axes=2
    )
    n = len(leading)
    return offsets.transpose(*range(n), n + 1, n, n + 2)


def hierarchical(
    ann: Annotations, priors: HierarchicalPriors | None = None, minibatch_items: int = 0
) -> pm.Model:
    """Confusion rows ``softmax(μ_k + σ_k η_jk)``: annotators shrink toward the population."""
    priors = priors or HierarchicalPriors()
    with pm.Model(coords=coords(ann)) as model:
        prevalence, mu, sigma = _population(priors, ann.n_classes)
        eta = _annotator_offsets("eta")
        logits = mu[None] + sigma[None, :, None] * eta
        pm.Deterministic("confusion", softmax(logits, axis=-1), dims=("annotator", *ROW))
        pm.Deterministic("population_confusion", softmax(mu, axis=-1), dims=ROW)
        label_potential(
            ann, log_softmax(logits, axis=-1), pt.log(prevalence), minibatch_items=minibatch_items
        )
    return model


def hierarchical_subtype(
    ann: Annotations, priors: HierarchicalPriors | None = None, minibatch_items: int = 0
) -> pm.Model:
    """Per-subtype population logits plus annotator and annotator × subtype deviations."""
    priors = priors or HierarchicalPriors()
    j, s, k = ann.n_annotators, len(ann.subtypes), ann.n_classes
    with pm.Model(coords={**coords(ann), "subtype": list(ann.subtypes)}) as model:
        prevalence, mu, sigma = _population(priors, k)
        tau = pm.HalfNormal("tau", sigma=priors.subtype_scale, dims="true_class")
        delta = pm.ZeroSumNormal(  # sums to zero over subtypes and labels
            "delta", sigma=1.0, dims=("true_class", "subtype", "label_class"), n_zerosum_axes=2
        ).transpose(1, 0, 2)
        mu_subtype = mu[None] + tau[None, :, None] * delta
        eta = _annotator_offsets("eta")
        upsilon = pm.HalfNormal("upsilon", sigma=priors.interaction_scale, dims="true_class")
        epsilon = _annotator_offsets("epsilon", leading=("subtype",)).transpose(1, 0, 2, 3)
        logits = (
            mu_subtype[None] + (sigma[None, :, None] * eta)[:, None] + upsilon[None, None, :, None] * epsilon
        )
        pm.Deterministic("confusion", softmax(logits, axis=-1), dims=("annotator", "subtype", *ROW))
        pm.Deterministic("population_confusion", softmax(mu_subtype, axis=-1), dims=("subtype", *ROW))
        log_pi = log_softmax(logits, axis=-1).reshape((j * s, k, k))
        label_potential(ann, log_pi, pt.log(prevalence), per_subtype=True, minibatch_items=minibatch_items)
    return model


def _centred_logits(confusion: np.ndarray) -> np.ndarray:
    logits = np.log(np.clip(confusion, 1e-4, None))
    return logits - logits.mean(axis=-1, keepdims=True)


def hierarchical_start(em, ann: Annotations, priors: HierarchicalPriors) -> dict[str, np.ndarray]:
    """Start at the EM confusion: μ its annotator mean on the logit scale, η the offsets."""
    logits = _centred_logits(em.confusion)
    mu = logits.mean(axis=0)
    spread = np.clip(logits.std(axis=0).mean(axis=-1), 0.2, 3.0)
    eta = np.clip((logits - mu) / spread[None, :, None], -3, 3)
    eta -= eta.mean(axis=-1, keepdims=True)
    eta -= eta.mean(axis=0, keepdims=True)  # zero-sum over annotators too
    k = len(mu)
    offset = mu - priors.diag_logit * (np.eye(k) - 1.0 / k)
    return {
        **prevalence_start(em),
        "mu_offset": offset,
        "sigma": spread,
        "eta": eta.transpose(1, 0, 2),  # stored (true_class, annotator, label_class)
    }


def hierarchical_subtype_start(em, ann: Annotations, priors: HierarchicalPriors) -> dict[str, np.ndarray]:
    start = hierarchical_start(em, ann, priors)
    s, k = len(ann.subtypes), ann.n_classes
    return {
        **start,
        "tau": np.full(k, 0.5 * priors.subtype_scale),
        "delta": np.zeros((k, s, k)),
        "upsilon": np.full(k, 0.5 * priors.interaction_scale),
        "epsilon": np.zeros((s, k, ann.n_annotators, k)),
    }
