r"""MACE (Hovy et al. 2013, "Learning Whom to Trust with MACE"), true class marginalised.

Plate diagram::

    ρ ~ Dirichlet(α^ρ)                       prevalence[true_class]
    θ_j ~ Beta(a, b)                         reliability[annotator]
    ξ_j ~ Dirichlet(c · 1_K)                 spam[annotator, label_class]
    π_jkl = θ_j · [k = l] + (1 − θ_j) · ξ_jl confusion[annotator, true_class, label_class]
    z_i ~ Categorical(ρ)                     (summed out, `_likelihood`)
    y_r ~ Categorical(π_{j_r, z_{i_r}})      one per label row r

Annotator j either knows the answer (with probability θ_j: its label is the true class) or
spams, labelling from its own distribution ξ_j whatever the truth. Summed over that
"spamming" switch, each label follows the confusion matrix π_j above: MACE is a
deterministic confusion on the shared marginal likelihood (`_likelihood.observe_labels`),
with K + 1 numbers per annotator instead of Dawid–Skene's K².

Label switching: a permutation of the true classes is *not* a symmetry of MACE (π_j is
the identity plus a rank-one term), but an all-spam explanation (θ ≈ 0, ξ_j fitting each
annotator's label frequencies, ρ free) competes with the reliable one. θ breaks that
symmetry only when its prior favours reliability, ``a > b`` (default Beta(2, 1),
`MacePriors`). `Fit.relabel` permutes ``confusion`` and ``prevalence`` along
``true_class``; θ and ξ have no true-class axis and stay as sampled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..data import Annotations
from ..priors import MacePriors
from . import register
from ._family import Draws, Family, confusion_reliability
from ._likelihood import observe_labels
from .dawid_skene import coords, prevalence_start

if TYPE_CHECKING:
    from ..aggregate import EMResult


def mace_confusion(reliability: np.ndarray, spam: np.ndarray, k: int) -> np.ndarray:
    """``π[..., k, l] = θ · [k = l] + (1 − θ) · ξ_l`` from θ (...,) and ξ (..., K), NumPy or
    PyTensor: (..., K, K)."""
    theta = reliability[..., None, None]
    return theta * np.eye(k) + (1 - theta) * spam[..., None, :]


def mace(ann: Annotations, priors: MacePriors | None = None, minibatch_items: int = 0) -> pm.Model:
    """MACE: annotator j labels the truth with probability θ_j, else draws from its spam ξ_j."""
    priors = priors or MacePriors()
    k = ann.n_classes
    with pm.Model(coords=coords(ann)) as model:
        prevalence = pm.Dirichlet("prevalence", a=priors.prevalence_alpha(k), dims="true_class")
        reliability = pm.Beta(
            "reliability", alpha=priors.reliability_a, beta=priors.reliability_b, dims="annotator"
        )
        spam = pm.Dirichlet(
            "spam",
            a=np.broadcast_to(priors.spam_alpha(k), (ann.n_annotators, k)),
            dims=("annotator", "label_class"),
        )
        confusion = pm.Deterministic(
            "confusion", mace_confusion(reliability, spam, k), dims=("annotator", "true_class", "label_class")
        )
        observe_labels(ann, pt.log(confusion), pt.log(prevalence), minibatch_items=minibatch_items)
    return model


def mace_start(em: EMResult, ann: Annotations, priors: MacePriors) -> dict[str, np.ndarray]:
    """Start at the EM confusion: θ_j from its mean diagonal, which under MACE is
    ``θ_j + (1 − θ_j)/K`` (so ``θ_j = (mean diag − 1/K)/(1 − 1/K)``, kept in (0.05, 0.95)),
    and ξ_j from its off-diagonal mass, ``ξ_jl ∝ Σ_{k≠l} π_jkl`` (= (K − 1)(1 − θ_j) ξ_jl;
    uniform for an annotator without errors)."""
    confusion = em.confusion
    k = confusion.shape[-1]
    mean_diagonal = np.einsum("jkk->j", confusion) / k
    reliability = np.clip((mean_diagonal - 1 / k) / (1 - 1 / k), 0.05, 0.95)
    off = 1 - np.eye(k)
    spam = (confusion * off).sum(axis=1)  # j, l: (K − 1)(1 − θ_j) ξ_jl
    spam = np.clip(spam / np.maximum(spam.sum(axis=-1, keepdims=True), 1e-12), 1e-4, None)
    return {
        **prevalence_start(em),
        "reliability": reliability,
        "spam": spam / spam.sum(axis=-1, keepdims=True),
    }


def reliability_draws(ann: Annotations, draws: Draws) -> dict[str, np.ndarray]:
    """Per annotator: ``reliability`` θ_j (P(knows the answer)) and the confusion's
    ``accuracy`` (and for K = 2 sensitivity / specificity), each (draws, annotators)."""
    return {
        "reliability": draws("reliability"),
        **confusion_reliability(draws("confusion"), draws("prevalence")),
    }


MACE = register(
    Family(
        name="mace",
        priors=MacePriors,
        build=mace,
        start=mace_start,
        summary="MACE: each annotator knows the answer with probability θ_j, else spams from ξ_j",
        numpyro_faster=True,
        annotator_reliability=reliability_draws,
    )
)
