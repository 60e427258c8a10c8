r"""Learning from crowds (Raykar et al. 2010) as one Bayesian model: a classifier of the items'
features and Dawid–Skene annotators, true class marginalised.

Plate diagram::

    s = weight_scale, or τ ~ HalfNormal(weight_scale_prior)   weight_scale
    W ~ ZeroSumNormal(s)   over classes (fixed s), or         weights[feature, true_class]
      W = τ λ̃_f Z,  Z ~ ZeroSumNormal(1)  (learned τ; λ̃_f = 1, or regularised horseshoe)
    b ~ ZeroSumNormal(intercept_sd)                           intercept[true_class]
    ρ_i = softmax(x_i W + b)   item i, standardised x_i       class_prior[item, true_class]
    π_jk ~ Dirichlet(α_k·)   annotator j, true class k        confusion[annotator, true_class, label_class]
    z_i ~ Categorical(ρ_i)                                    (summed out, `_likelihood`)
    y_r ~ Categorical(π_{j_r, z_{i_r}})                       one per label row r

The classifier replaces Dawid–Skene's one prevalence ρ by a prior per item, so items with one
or two labels borrow strength from items with similar features, and items nobody labelled get
``softmax(x W + b)`` from their features alone (`Fit.predict_items`: the annotators are only the
observation model and drop out). The labels are the shared observed ``labels``
(`_likelihood.observe_labels`) with the per-item log-prior ``log_softmax(x_i W + b)``; with no
features it is Dawid–Skene with ``ρ = softmax(b)``. ``prevalence`` is the fitted items' mean
class prior (the population's, which reliability and predictions for new labels use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..data import Annotations
from ..features import ItemFeatures, no_features
from ..priors import LearningFromCrowdsPriors
from . import register
from ._family import Family
from ._likelihood import observe_labels
from .dawid_skene import coords

if TYPE_CHECKING:
    from pytensor.tensor import TensorVariable

    from ..aggregate import EMResult


def learning_from_crowds(
    ann: Annotations,
    priors: LearningFromCrowdsPriors | None = None,
    minibatch_items: int = 0,
    features: ItemFeatures | None = None,
) -> pm.Model:
    """Learning from crowds on standardised item ``features`` (`bayeslabels.features`; none:
    intercepts only, which is Dawid–Skene)."""
    priors = priors or LearningFromCrowdsPriors()
    features = features if features is not None else no_features(ann.n_items)
    k = ann.n_classes
    alpha = np.broadcast_to(priors.confusion_alpha(k), (ann.n_annotators, k, k))
    model_coords = {**coords(ann), "item": list(ann.items), "feature": list(features.names)}
    with pm.Model(coords=model_coords) as model:
        x = pm.Data("features", features.values, dims=("item", "feature"))
        intercept = pm.ZeroSumNormal("intercept", sigma=priors.intercept_sd, dims="true_class")
        weights = _weights(priors) if features.n_features else None

        def logits(rows: TensorVariable) -> TensorVariable:
            """x W + b for the items of ``rows`` (rows × F) → rows × K."""
            if weights is None:
                return pt.zeros((rows.shape[0], k)) + intercept
            return pt.dot(rows, weights) + intercept

        class_prior = pm.Deterministic(
            "class_prior", pt.special.softmax(logits(x), axis=-1), dims=("item", "true_class")
        )
        pm.Deterministic("prevalence", class_prior.mean(axis=0), dims="true_class")
        confusion = pm.Dirichlet("confusion", a=alpha, dims=("annotator", "true_class", "label_class"))
        observe_labels(
            ann,
            pt.log(confusion),
            lambda rows: pt.special.log_softmax(logits(rows), axis=-1),
            minibatch_items=minibatch_items,
            item_features=x,
        )
    return model


def _weights(priors: LearningFromCrowdsPriors) -> TensorVariable:
    """W (feature × true_class) under the priors' fixed, learned-global or horseshoe scale; the
    learned scales are non-centred (``W = scale · Z``, the sampler sees Z), since with weak
    features the posterior of τ reaches towards 0, where a centred W would form a funnel."""
    dims = ("feature", "true_class")
    if not priors.hierarchical:
        return pm.ZeroSumNormal("weights", sigma=priors.weight_scale, dims=dims)
    tau = pm.HalfNormal("weight_scale", sigma=priors.weight_scale_prior)
    standard = pm.ZeroSumNormal("weights_standard", sigma=1.0, dims=dims)
    if not priors.horseshoe:
        return pm.Deterministic("weights", tau * standard, dims=dims)
    local = pm.HalfCauchy("local_scale", beta=1.0, dims="feature")
    slab = pm.InverseGamma("slab_scale_sq", alpha=2.0, beta=2.0 * priors.horseshoe_slab**2)
    regularised = pt.sqrt(slab * local**2 / (slab + tau**2 * local**2))
    return pm.Deterministic("weights", tau * regularised[:, None] * standard, dims=dims)


def learning_from_crowds_start(
    em: EMResult, ann: Annotations, priors: LearningFromCrowdsPriors
) -> dict[str, np.ndarray]:
    """Start at the EM solution: its confusion, intercepts ``log ρ`` centred, weights at 0
    (the weights start wherever the sampler's default puts them: zero, jittered)."""
    confusion = np.clip(em.confusion, 1e-6, None)
    log_prevalence = np.log(np.clip(em.prevalence, 1e-6, None))
    return {
        "confusion": confusion / confusion.sum(axis=-1, keepdims=True),
        "intercept": log_prevalence - log_prevalence.mean(),
    }


LEARNING_FROM_CROWDS = register(
    Family(
        name="learning-from-crowds",
        priors=LearningFromCrowdsPriors,
        build=learning_from_crowds,
        start=learning_from_crowds_start,
        summary="learning from crowds: a logistic-regression class prior on item features, "
        "Dawid–Skene annotators",
        class_prior="class_prior",
        takes_features=True,
        # the per-item class prior fixes the compiled graph to the item count, too
        shape=lambda ann: (ann.n_annotators, ann.n_classes, 0, ann.n_items),
    )
)
