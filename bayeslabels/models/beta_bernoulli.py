r"""Beta–Bernoulli: how ambiguous is each item itself? (binary labels)

Plate diagram::

    m ~ Beta(a, b),  κ ~ Gamma(shape, rate)       mean and concentration of item rates
    α = m κ,  β = (1 − m) κ
    θ_i ~ Beta(α, β)                              item i's rate of positive labels
    y_ir ~ Bernoulli(θ_i)                         every label of item i

θ is integrated out analytically: a label sequence with k_i positives out of n_i has
likelihood ``B(α + k_i, β + n_i − k_i) / B(α, β)`` (beta-binomial, no binomial coefficient
for an ordered sequence). For fixed (α, β) the item posterior is exactly
``Beta(α + k_i, β + n_i − k_i)``; per posterior draw of (α, β) we draw θ_i from it.

The soft label of this model is **P(a new label on this item is positive)** = θ_i, not the
probability of a latent true class: it models intrinsic ambiguity, not annotator noise,
so a truly 50/50 item stays near 0.5 with a wide interval. Gold labels do not enter the
likelihood (there is no latent class to fix); they are kept for evaluation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor.special import betaln

from ..data import Annotations
from ..priors import BetaBernoulliPriors
from . import register
from ._family import Draws, Family, ItemBlocks
from .dawid_skene import prevalence_start

if TYPE_CHECKING:
    from ..aggregate import EMResult

SOFT_LABEL_MEANING = "P(a new label on the item is the positive class), item rate θ_i (Beta–Bernoulli)"


def positive_counts(ann: Annotations) -> tuple[np.ndarray, np.ndarray]:
    """(k_i, n_i): positive labels (second class) and labels per item."""
    n = ann.labels_per_item.astype(float)
    k = np.bincount(ann.item_idx, weights=(ann.label == 1).astype(float), minlength=ann.n_items)
    return k, n


def item_count_data(ann: Annotations) -> dict[str, np.ndarray]:
    """The data the model reads, by `pm.Data` name (a compiled model is re-used on new data)."""
    k, n = positive_counts(ann)
    return {"positive_labels": k, "labels_per_item": n}


def beta_bernoulli(
    ann: Annotations, priors: BetaBernoulliPriors | None = None, minibatch_items: int = 0
) -> pm.Model:
    """Item rates θ_i ~ Beta(α, β) integrated out; (α, β) from mean and concentration.
    ``minibatch_items`` (ADVI): a random batch of items per step, scaled up."""
    priors = priors or BetaBernoulliPriors()
    k, n = positive_counts(ann)
    scale = 1.0
    with pm.Model(coords={"true_class": list(ann.classes)}) as model:
        if 0 < minibatch_items < ann.n_items:
            k, n = pm.Minibatch(k, n, batch_size=int(minibatch_items))
            scale = ann.n_items / minibatch_items
        else:
            k, n = (pm.Data(name, value) for name, value in item_count_data(ann).items())
        mean = pm.Beta("mean", alpha=priors.mean_a, beta=priors.mean_b)
        concentration = pm.Gamma(
            "concentration", alpha=priors.concentration_shape, beta=priors.concentration_rate
        )
        alpha = pm.Deterministic("alpha", mean * concentration)
        beta = pm.Deterministic("beta", (1 - mean) * concentration)
        pm.Deterministic("prevalence", pt.stack([1 - mean, mean]), dims="true_class")
        pm.Potential("labels", scale * (betaln(alpha + k, beta + n - k) - betaln(alpha, beta)).sum())
    return model


def beta_bernoulli_start(
    em: EMResult, ann: Annotations, priors: BetaBernoulliPriors
) -> dict[str, np.ndarray]:
    """Start at the EM positive prevalence and the prior mean concentration."""
    mean = float(np.clip(prevalence_start(em)["prevalence"][1], 0.02, 0.98))
    return {
        "mean": np.asarray(mean),
        "concentration": np.asarray(priors.concentration_shape / priors.concentration_rate),
    }


def item_rate_blocks(
    k: np.ndarray, n: np.ndarray, alpha: np.ndarray, beta: np.ndarray, seed: int, max_values: int = 20_000_000
) -> ItemBlocks:
    """Yield ``(items_slice, P)`` with ``P[s, i] = (1 − θ, θ)``, ``θ ~ Beta(α_s + k_i, β_s + n_i − k_i)``."""
    rng = np.random.default_rng(seed)
    draws = len(alpha)
    block = max(1, max_values // (2 * draws))
    for start in range(0, len(k), block):
        rows = slice(start, min(start + block, len(k)))
        theta = rng.beta(alpha[:, None] + k[rows], beta[:, None] + (n - k)[rows])
        yield rows, np.stack([1 - theta, theta], axis=-1)


def _item_rates(ann: Annotations, draws: Draws, used_gold: bool, seed: int) -> ItemBlocks:
    k, n = positive_counts(ann)
    return item_rate_blocks(k, n, draws("alpha"), draws("beta"), seed)


def agreement_draws(ann: Annotations, draws: Draws) -> dict[str, np.ndarray]:
    """Draws × annotators ``agreement``: mean over an annotator's labels of P(a new label on the
    item agrees), with the item rate's posterior mean ``(α + k_i)/(α + β + n_i)`` per draw."""
    k, n = positive_counts(ann)
    alpha, beta = draws("alpha"), draws("beta")
    rate = (alpha[:, None] + k) / (alpha[:, None] + beta[:, None] + n)  # draws × items
    positive = ann.label == 1
    agree = np.where(positive, rate[:, ann.item_idx], 1 - rate[:, ann.item_idx])
    totals = np.stack(
        [np.bincount(ann.annotator_idx, weights=row, minlength=ann.n_annotators) for row in agree]
    )
    return {"agreement": totals / np.maximum(ann.labels_per_annotator, 1)}


BETA_BERNOULLI = register(
    Family(
        name="beta-bernoulli",
        priors=BetaBernoulliPriors,
        build=beta_bernoulli,
        start=beta_bernoulli_start,
        summary="Beta–Bernoulli item ambiguity (binary labels): soft label = item rate θ_i",
        cells=None,
        binary_only=True,
        soft_label_meaning=SOFT_LABEL_MEANING,
        item_probabilities=_item_rates,
        annotator_reliability=agreement_draws,
        data=item_count_data,
        shape=lambda ann: (ann.n_classes,),
    )
)
