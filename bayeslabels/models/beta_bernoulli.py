r"""Beta–Bernoulli: how ambiguous is each item itself? (binary labels)

Plate diagram::

    m ~ Beta(a, b),  κ ~ Gamma(shape, rate)       mean and concentration of item rates
    α = m κ,  β = (1 − m) κ
    θ_i ~ Beta(α, β)                              item i's rate of positive labels
    y_ir ~ Bernoulli(θ_i)                         every label of item i

θ is integrated out analytically: a label sequence with k_i positives out of n_i has
likelihood ``B(α + k_i, β + n_i − k_i) / B(α, β)`` (beta-binomial, no binomial coefficient
for an ordered sequence). For fixed (α, β) the item posterior is exactly
``Beta(α + k_i, β + n_i − k_i)``, and the soft label uses it exactly, never a random θ_i:
its mean is the posterior mean of ``(α + k_i)/(α + β + n_i)`` over draws of (α, β), its
interval the quantiles of the mixture over draws of those Beta posteriors (for a MAP fit, one
draw: the Beta quantiles given the fitted α, β, so a MAP fit has intervals too). Items with
equal counts get equal soft labels.

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
from scipy.special import betainc, betaincinv
from scipy.special import betaln as sp_betaln

from ..data import Annotations
from ..priors import BetaBernoulliPriors
from . import register
from ._family import Draws, Family, ItemBlocks
from ._likelihood import label_table
from .dawid_skene import prevalence_start

if TYPE_CHECKING:
    from pytensor.tensor import TensorVariable

    from ..aggregate import EMResult

SOFT_LABEL_MEANING = "P(a new label on the item is the positive class), item rate θ_i (Beta–Bernoulli)"


def positive_counts(ann: Annotations) -> tuple[np.ndarray, np.ndarray]:
    """(k_i, n_i): positive labels (second class) and labels per item."""
    n = ann.labels_per_item.astype(float)
    k = np.bincount(ann.item_idx, weights=(ann.label == 1).astype(float), minlength=ann.n_items)
    return k, n


def item_count_data(ann: Annotations) -> dict[str, np.ndarray]:
    """The data the model reads, by `pm.Data` name (a compiled model is re-used on new data):
    the label table and which of its slots hold a label (`_likelihood.label_table`)."""
    labels, cells = label_table(ann)
    return {"label_table": labels, "label_cells": cells}


def beta_binomial_logp(
    value: TensorVariable, alpha: TensorVariable, beta: TensorVariable, cells: TensorVariable
) -> TensorVariable:
    """Per-item ``log B(α + k_i, β + n_i − k_i) − log B(α, β)`` of the label table ``value``:
    k_i positives among the n_i slots that hold a label (``cells ≥ 0``)."""
    present = pt.ge(cells, 0)
    n = present.sum(axis=-1)
    k = (pt.eq(value, 1) & present).sum(axis=-1)
    alpha, beta = alpha.squeeze(), beta.squeeze()
    return betaln(alpha + k, beta + n - k) - betaln(alpha, beta)


def beta_bernoulli_random(
    alpha: np.ndarray,
    beta: np.ndarray,
    cells: np.ndarray,
    rng: np.random.Generator | None = None,
    size: tuple | None = None,
) -> np.ndarray:
    """The model forwards: ``θ_i ~ Beta(α, β)``, then a Bernoulli(θ_i) label in every slot of
    item i that holds one (−1 elsewhere)."""
    rng = rng or np.random.default_rng()
    cells = np.asarray(cells)
    theta = np.asarray(rng.beta(float(np.ravel(alpha)[0]), float(np.ravel(beta)[0]), size=cells.shape[0]))
    labels = (rng.random(cells.shape) < theta[:, None]).astype(np.int64)
    return np.where(cells >= 0, labels, -1)


def beta_bernoulli(
    ann: Annotations, priors: BetaBernoulliPriors | None = None, minibatch_items: int = 0
) -> pm.Model:
    """Item rates θ_i ~ Beta(α, β) integrated out; (α, β) from mean and concentration. The
    labels are an observed `pm.CustomDist` (beta-binomial per item, `beta_bernoulli_random`
    forwards). ``minibatch_items`` (ADVI): a random batch of items per step, scaled up."""
    priors = priors or BetaBernoulliPriors()
    coords = {"true_class": list(ann.classes), "item": list(ann.items)}
    with pm.Model(coords=coords) as model:
        data = item_count_data(ann)
        if 0 < minibatch_items < ann.n_items:
            # int32, as PyMC casts an observed integer table (a cast minibatch is refused as observed)
            table, cells = pm.Minibatch(
                *(data[name].astype(np.int32) for name in ("label_table", "label_cells")),
                batch_size=int(minibatch_items),
            )
            extra: dict = {"total_size": ann.n_items}
        else:
            model.add_coord("label_slot", np.arange(data["label_table"].shape[1]))
            table, cells = (pm.Data(name, value) for name, value in data.items())
            extra = {"dims": ("item", "label_slot")}
        mean = pm.Beta("mean", alpha=priors.mean_a, beta=priors.mean_b)
        concentration = pm.Gamma(
            "concentration", alpha=priors.concentration_shape, beta=priors.concentration_rate
        )
        alpha = pm.Deterministic("alpha", mean * concentration)
        beta = pm.Deterministic("beta", (1 - mean) * concentration)
        pm.Deterministic("prevalence", pt.stack([1 - mean, mean]), dims="true_class")
        pm.CustomDist(
            "labels",
            alpha,
            beta,
            cells,
            logp=beta_binomial_logp,
            random=beta_bernoulli_random,
            signature="(),(),(w)->(w)",
            dtype="int64",
            class_name="BetaBinomialLabels",
            observed=table,
            **extra,
        )
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
    k: np.ndarray, n: np.ndarray, alpha: np.ndarray, beta: np.ndarray, max_values: int = 20_000_000
) -> ItemBlocks:
    """Yield ``(items_slice, P)`` with ``P[s, i] = (1 − m, m)``, ``m = (α_s + k_i) / (α_s + β_s + n_i)``:
    the mean of item i's rate given draw s (its conjugate posterior ``Beta(α_s + k_i, β_s + n_i −
    k_i)``), Rao–Blackwellised — no random θ draw, so items with equal counts get equal values."""
    draws = len(alpha)
    block = max(1, max_values // (2 * draws))
    for start in range(0, len(k), block):
        rows = slice(start, min(start + block, len(k)))
        rate = (alpha[:, None] + k[rows]) / (alpha[:, None] + beta[:, None] + n[rows])
        yield rows, np.stack([1 - rate, rate], axis=-1)


def mixture_quantiles(a: np.ndarray, b: np.ndarray, q: float, tol: float = 1e-12) -> np.ndarray:
    """The ``q`` quantile of the equal-weight mixture of ``Beta(a_s, b_s)`` over draws s, per column
    of ``a`` and ``b`` (draws × columns). One draw: ``betaincinv`` (= ``scipy.stats.beta.ppf``),
    exact. More: Newton on the mixture CDF ``F(x) = mean_s I_x(a_s, b_s)`` from the quantile of
    the mean component, kept by bisection inside the bracket ``[Q(min a, max b), Q(max a, min b)]``
    (a Beta quantile rises with a and falls with b, so every component's — and the mixture's —
    quantile lies in it)."""
    if len(a) == 1:
        return betaincinv(a[0], b[0], q)
    low, high = betaincinv(a.min(axis=0), b.max(axis=0), q), betaincinv(a.max(axis=0), b.min(axis=0), q)
    x = np.clip(betaincinv(a.mean(axis=0), b.mean(axis=0), q), low, high)
    log_norm = sp_betaln(a, b)
    active = np.arange(a.shape[1])  # columns not yet solved
    for _ in range(100):
        ac, bc, xc = a[:, active], b[:, active], x[active]
        error = betainc(ac, bc, xc).mean(axis=0) - q
        lo = low[active] = np.where(error < 0, xc, low[active])
        hi = high[active] = np.where(error > 0, xc, high[active])
        unsolved = (np.abs(error) > tol) & (hi - lo > tol)
        if not unsolved.any():
            break
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            density = np.exp((ac - 1) * np.log(xc) + (bc - 1) * np.log1p(-xc) - log_norm[:, active]).mean(
                axis=0
            )
            step = xc - error / density
        inside = np.isfinite(step) & (step > lo) & (step < hi)
        x[active] = np.where(unsolved, np.where(inside, step, (lo + hi) / 2), xc)
        active = active[unsolved]
    return x


MIXTURE_DRAWS = 200
"""Most posterior draws of (α, β) whose Beta posteriors make up an item rate's interval
(evenly spaced when there are more): the mean uses every draw."""


def item_rate_interval(
    k: np.ndarray,
    n: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    ci_prob: float,
    max_values: int = 4_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed ``ci_prob`` interval of each item's rate θ_i under the posterior: the mixture
    over draws of ``Beta(α_s + k_i, β_s + n_i − k_i)`` (for a one-draw MAP fit its exact quantiles,
    given the fitted α, β; over at most `MIXTURE_DRAWS` evenly spaced draws). Computed once per
    distinct (k_i, n_i), in blocks of at most ``max_values`` draws × pairs. Returns (lower,
    upper), items × 2 (class 0: 1 − θ)."""
    pairs, inverse = np.unique(np.stack([k, n], axis=1), axis=0, return_inverse=True)
    if len(alpha) > MIXTURE_DRAWS:
        chosen = np.linspace(0, len(alpha) - 1, MIXTURE_DRAWS).round().astype(np.int64)
        alpha, beta = alpha[chosen], beta[chosen]
    tail = (1 - ci_prob) / 2
    lo, hi = np.empty(len(pairs)), np.empty(len(pairs))
    block = max(1, max_values // len(alpha))
    for start in range(0, len(pairs), block):
        rows = slice(start, start + block)
        a = alpha[:, None] + pairs[rows, 0]
        b = beta[:, None] + pairs[rows, 1] - pairs[rows, 0]
        lo[rows], hi[rows] = mixture_quantiles(a, b, tail), mixture_quantiles(a, b, 1 - tail)
    lo, hi = lo[inverse.ravel()], hi[inverse.ravel()]
    return np.stack([1 - hi, lo], axis=1), np.stack([1 - lo, hi], axis=1)


def _item_rates(ann: Annotations, draws: Draws, used_gold: bool, seed: int) -> ItemBlocks:
    k, n = positive_counts(ann)
    return item_rate_blocks(k, n, draws("alpha"), draws("beta"))


def _item_rate_interval(ann: Annotations, draws: Draws, ci_prob: float) -> tuple[np.ndarray, np.ndarray]:
    k, n = positive_counts(ann)
    return item_rate_interval(k, n, draws("alpha"), draws("beta"), ci_prob)


def _item_loglik(ann: Annotations, draws: Draws, used_gold: bool) -> ItemBlocks:
    """Per-item beta-binomial log-likelihood per draw (NumPy twin of `beta_binomial_logp`)."""
    k, n = positive_counts(ann)
    alpha, beta = draws("alpha")[:, None], draws("beta")[:, None]
    block = max(1, 20_000_000 // len(alpha))
    for start in range(0, len(k), block):
        rows = slice(start, min(start + block, len(k)))
        yield rows, sp_betaln(alpha + k[rows], beta + (n - k)[rows]) - sp_betaln(alpha, beta)


def _replicate(ann: Annotations, draws: Draws, used_gold: bool, rng: np.random.Generator) -> np.ndarray:
    """(draws, rows): a fresh θ_i ~ Beta(α, β) per item and draw, then every label row of
    item i ~ Bernoulli(θ_i) (`beta_bernoulli_random`, vectorised over draws)."""
    alpha, beta = draws("alpha"), draws("beta")
    theta = rng.beta(alpha[:, None], beta[:, None], size=(len(alpha), ann.n_items))
    return (rng.random((len(alpha), len(ann.item_idx))) < theta[:, ann.item_idx]).astype(np.int64)


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
        numpyro_faster=True,
        binary_only=True,
        soft_label_meaning=SOFT_LABEL_MEANING,
        item_probabilities=_item_rates,
        item_interval=_item_rate_interval,
        gold_in_likelihood=False,
        annotator_reliability=agreement_draws,
        data=item_count_data,
        item_loglik=_item_loglik,
        replicate=_replicate,
        shape=lambda ann: (ann.n_classes,),
    )
)
