r"""Dawid–Skene (1979) as a PyMC model, true class marginalised.

Plate diagram::

    ρ ~ Dirichlet(α^ρ)                                   prevalence[true_class]
    π_jk ~ Dirichlet(α_k·)   for annotator j, true class k   confusion[annotator, true_class, label_class]
    z_i ~ Categorical(ρ)                                 (summed out, `_likelihood`)
    y_r ~ Categorical(π_{j_r, z_{i_r}})                  one per label row r

One-coin variant: one accuracy a_j per annotator, π_jkk = a_j and π_jkl = (1 − a_j)/(K − 1);
``a_j ~ Beta(1 + Σ_k(α_kk − 1), 1 + Σ_{k≠l}(α_kl − 1))``, the same pseudo-counts as the
class-conditional prior, so EM's one-coin estimate is this model's mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..data import Annotations
from ..priors import DawidSkenePriors
from . import register
from ._family import Family
from ._likelihood import observe_labels

if TYPE_CHECKING:
    import xarray as xr

    from ..aggregate import EMResult


def coords(ann: Annotations) -> dict[str, list[str]]:
    classes = list(ann.classes)
    return {
        "annotator": list(ann.annotators),
        "true_class": classes,
        "label_class": classes,
    }


def dawid_skene(
    ann: Annotations, priors: DawidSkenePriors | None = None, minibatch_items: int = 0
) -> pm.Model:
    """Class-conditional Dawid–Skene: a full K × K confusion matrix per annotator."""
    priors = priors or DawidSkenePriors()
    k = ann.n_classes
    alpha = np.broadcast_to(priors.confusion_alpha(k), (ann.n_annotators, k, k))
    with pm.Model(coords=coords(ann)) as model:
        prevalence = pm.Dirichlet("prevalence", a=priors.prevalence_alpha(k), dims="true_class")
        confusion = pm.Dirichlet("confusion", a=alpha, dims=("annotator", "true_class", "label_class"))
        observe_labels(ann, pt.log(confusion), pt.log(prevalence), minibatch_items=minibatch_items)
    return model


def one_coin(ann: Annotations, priors: DawidSkenePriors | None = None, minibatch_items: int = 0) -> pm.Model:
    """One-coin Dawid–Skene: one accuracy per annotator, errors uniform over other classes."""
    priors = priors or DawidSkenePriors()
    k = ann.n_classes
    pseudo = priors.confusion_alpha(k) - 1
    with pm.Model(coords=coords(ann)) as model:
        prevalence = pm.Dirichlet("prevalence", a=priors.prevalence_alpha(k), dims="true_class")
        accuracy = pm.Beta(
            "accuracy",
            alpha=1 + np.trace(pseudo),
            beta=1 + pseudo.sum() - np.trace(pseudo),
            dims="annotator",
        )
        eye = np.eye(k)
        error = ((1 - accuracy) / (k - 1))[:, None, None]
        confusion = pm.Deterministic(
            "confusion",
            accuracy[:, None, None] * eye + error * (1 - eye),
            dims=("annotator", "true_class", "label_class"),
        )
        observe_labels(ann, pt.log(confusion), pt.log(prevalence), minibatch_items=minibatch_items)
    return model


def prevalence_start(em: EMResult) -> dict[str, np.ndarray]:
    """EM prevalence, kept off the simplex boundary."""
    prevalence = np.clip(em.prevalence, 1e-6, None)
    return {"prevalence": prevalence / prevalence.sum()}


def dawid_skene_start(em: EMResult, ann: Annotations, priors: DawidSkenePriors) -> dict[str, np.ndarray]:
    """Sampler start at the EM solution (interior of the simplex)."""
    confusion = np.clip(em.confusion, 1e-6, None)
    return {**prevalence_start(em), "confusion": confusion / confusion.sum(axis=-1, keepdims=True)}


def one_coin_start(em: EMResult, ann: Annotations, priors: DawidSkenePriors) -> dict[str, np.ndarray]:
    accuracy = np.einsum("jkk->j", em.confusion) / em.confusion.shape[1]
    return {**prevalence_start(em), "accuracy": np.clip(accuracy, 1e-4, 1 - 1e-4)}


def _one_coin_accuracy(chain: xr.Dataset) -> xr.Dataset:
    """After relabelling: the one-coin accuracy is the permuted confusion's mean diagonal."""
    k = chain.sizes["true_class"]
    diagonal = np.einsum("cdjkk->cdj", chain["confusion"].values) / k
    return chain.assign(accuracy=(chain["accuracy"].dims, diagonal))


DAWID_SKENE = register(
    Family(
        name="dawid-skene",
        priors=DawidSkenePriors,
        build=dawid_skene,
        start=dawid_skene_start,
        summary="class-conditional Dawid–Skene: a full confusion matrix per annotator",
        em_point_estimate=True,
        numpyro_faster=True,
    )
)
ONE_COIN = register(
    Family(
        name="one-coin",
        priors=DawidSkenePriors,
        build=one_coin,
        start=one_coin_start,
        summary="one-coin Dawid–Skene: one accuracy per annotator, errors uniform",
        em_variant="one-coin",
        em_point_estimate=True,
        after_relabel=_one_coin_accuracy,
        numpyro_faster=True,
    )
)
