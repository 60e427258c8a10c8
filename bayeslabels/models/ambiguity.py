r"""Intrinsic ambiguity with annotator noise, for any K ≥ 2 classes.

Plate diagram::

    μ ~ ZeroSumNormal(centre_sd)         population centre logits (K, zero-sum)    centre[true_class]
    σ ~ HalfNormal(spread_scale)         spread of item logits around μ           spread
    ζ_i ~ ZeroSumNormal(1)  item i       θ_i = softmax(μ + σ ζ_i)                  theta[item, true_class]
    m = mean_i θ_i                       the items' average class distribution     prevalence[true_class]
    π_jk ~ Dirichlet(α_k·)  annotator j, class k        confusion[annotator, true_class, label_class]
    c_r ~ Categorical(θ_{i_r})           the class label row r "sees"             (summed out)
    y_r ~ Categorical(π_{j_r, c_r})      one per label row r

Beta–Bernoulli generalised to K classes with the annotator noise of Dawid–Skene kept: every
label of item i draws its own class from θ_i (what a careful annotator would see this time),
then annotator j reports it through its confusion matrix. Per label

.. math::

    p(y_r \mid \theta_i, \pi_j) = \sum_c \theta_{ic}\,\pi_{j c y_r},

and given θ_i the labels of an item are independent, so the per-item log-likelihood is
``Σ_{r ∈ i} log Σ_c θ_ic π[j_r, c, y_r]`` — per item, because θ_i is a parameter of item i.

**Soft label** = θ_i: the share of careful annotators who would give each class. An
ambiguous item keeps a spread θ_i however many annotators happen to agree, and a bad
annotator is still down-weighted through π_j. Dawid–Skene's soft label is instead the
posterior of one true class, which goes to one-hot as labels accumulate.

**Parameterisation.** θ_i is sampled, items × (K − 1) unconstrained numbers, as a
*non-centred logistic normal* (the population of item distributions is logistic-normal
around softmax(μ), not Dirichlet). Measured first: the centred ``θ_i ~ Dirichlet(κ m)`` on
PyMC's simplex transform. With mostly clear items the data pull κ m_k far below 1, and a
Dirichlet near a corner has an exponential tail of rate κ m_k in log-ratio coordinates:
the chains walked logits out to where θ underflows to 0, and a 2 × 200-draw NUTS run on
anesthesia (45 items) took 396 s (167 s in this form). The logistic normal has Gaussian tails on the logits
(no underflow, log θ is a log-softmax in the likelihood), and non-centring removes the
σ–ζ funnel for items whose few labels say little.

**Identifiability.** Relabelling the latent classes c in θ, m and the rows of π together
leaves the likelihood unchanged; the diagonal-favouring confusion prior (`AmbiguityPriors`,
the `DawidSkenePriors` defaults) picks the labelling where class c means label c, and
``Fit.relabel`` aligns chains to EM. Per-item θ_i next to a free confusion per annotator is
only *weakly* identified with few labels per item: "a 70/30 item read by perfect annotators"
and "a clear item read by 70 %-accurate annotators" differ only through what the annotators
do on the other items. The near-diagonal prior keeps π close to "annotators mostly right";
loosen it (``confusion_diag_per_class`` → 0) and ambiguity and noise trade freely.

**Why it mixes slowly** (hence ``max_draws`` 8000 in its spec). On dog (K = 4, 10 labels per
item; 4 × 1000 draws, seed 0) the posterior spread is σ = 21.8 ± 1.6 against its HalfNormal(3)
prior: the data pull the population of items to the corners (85 % of θ draws have a top class
above 0.99), and the model comes close to Dawid–Skene. An item whose labels split evenly between
two classes (the ten least-mixed items hold splits such as 5/5, 4/6 and 4/5) then has a θ that
jumps between two corners across a band of width about 1/σ in ζ, and that band sets NUTS's step
size for every coordinate: 127 leapfrog steps a draw, max R-hat 1.036, bulk ESS 102 and tail
ESS 60 at such an item. A low-rank mass matrix (nutpie ``adaptation="low_rank"``) does not
change it (R-hat 1.035, bulk ESS 137, the same 127 steps, about three times the wall time),
since the band is a curvature, not a correlation. A centred form of the item logits would keep
the same ratio (a band of width 1 against a plateau of sd about σ; argued, not measured). A
population that holds clear items at the corners by itself, rather than through a huge σ, is
the change that would remove it. A tighter prior on σ only narrows it as far as the prior
reaches: σ follows its prior (dog: 7.4, 11.3, 21.8 under HalfNormal 0.5, 1, 3) and the steps
per draw halve, but the soft labels then trade accuracy and calibration differently on each
data set, no scale better everywhere (`benchmarks/ambiguity_spread.py`). Integrated LOO on the
crowd labels cannot pick the scale for calibration: it prefers the largest on all six data sets,
where gold's log-loss prefers 1 or 0.5 on four of five. A spike-and-slab population (a share λ
of items clear, each Dawid–Skene's item; the rest with their own θ_i) does hold the clear items
at the corners (dog: σ 0.67, 31 steps a draw), but λ and σ trade against each other and the
chains mix worse (dog R-hat 1.091, bulk ESS 34 at 4 × 1000), and the clear items get
Dawid–Skene's overconfidence back (log-loss on gold higher on all four sets tried, dog 0.847
against 0.697; `benchmarks/ambiguity_corners.py`), so it is not shipped.

**Gold** does not enter the likelihood: gold names one class, and θ_i is a distribution
over classes (a gold item may still be ambiguous), so a fit of this family is never
anchored by gold (``fit.used_gold`` is False) and its gold is held out for evaluation; with
``use_gold=True`` gold still shapes the Dawid–Skene EM solution that starts the chains and that
they are aligned to. Starts: θ_i from the Dawid–Skene EM posterior smoothed off the corners,
μ from the EM prevalence, π from EM. Annotator reliability is the confusion-matrix default
(`confusion_reliability`: accuracy ``Σ_k m_k π_jkk``, sensitivity / specificity for K = 2).
Predicting new items is not supported (θ is a parameter of each fitted item).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy.special import log_softmax, logsumexp, softmax

from ..data import Annotations
from ..errors import DataError, SpecError
from ..priors import AmbiguityPriors
from . import register
from ._family import Draws, Family, ItemBlocks
from ._likelihood import (
    _core,
    annotation_counts,
    filled_rows,
    label_positions,
    label_structure,
    label_table,
    logsumexp_last,
    per_item_sum,
    sample_categorical,
)
from .dawid_skene import coords as ds_coords
from .dawid_skene import dawid_skene_start, prevalence_start

if TYPE_CHECKING:
    from pytensor.tensor import TensorVariable

    from ..aggregate import EMResult

SOFT_LABEL_MEANING = "θ_i: the item's own class distribution (intrinsic ambiguity), net of annotator noise"
START_SMOOTHING = 0.05
"""EM posteriors are pulled this far (per class) towards uniform for θ's start: off the corners."""
START_SPREAD = 2.0
"""σ's start: item logits about ±2 around the centre."""


OVER_LABELS_BELOW_FILL = 0.8
"""A label table filled below this share (labels / (items × width)) is summed label by label
(`ambiguity_logp_over_labels`), a fuller one slot by slot (`ambiguity_logp`): per gradient
(numba, benchmarks/ragged_gradient.py) over the labels is 2.7× faster on adult_content (filled
0.28: 1.9 ms instead of 5.2), 1.03× on duchenne (0.71), 1.12× on music_genre (0.60), and
0.74-0.99× on the full tables of anesthesia, bluebirds, dog and rte, where the scatter-add costs
more than the padding."""


def sums_over_labels(ann: Annotations) -> bool:
    """Whether ``ann``'s label table is filled below `OVER_LABELS_BELOW_FILL`."""
    width = label_positions(ann.item_idx, ann.n_items)[1]
    return len(ann.item_idx) < OVER_LABELS_BELOW_FILL * ann.n_items * width


def item_label_data(ann: Annotations) -> dict[str, np.ndarray]:
    """The data the model reads, by `pm.Data` name: the label table and the annotator of each
    slot (`_likelihood.label_table`), and where a sparse table is read label by label
    (`sums_over_labels`) the flat positions of its labels (`label_structure`); no gold mask
    (gold stays out of the likelihood)."""
    labels, cells = label_table(ann)
    data = {"label_table": labels, "label_cells": cells}
    if sums_over_labels(ann):
        data["label_slots"] = label_structure(cells, ann.n_classes)[0]
    return data


def ambiguity_logp(
    value: TensorVariable, logits: TensorVariable, confusion: TensorVariable, cells: TensorVariable
) -> TensorVariable:
    """Per-item ``Σ_w log Σ_c θ_ic π[cell_iw, c, y_iw]`` (items,) of the label table ``value``
    (items × width, −1 padded like ``cells``), ``θ_i = softmax(logits_i)``: one gather of
    ``π[cell, :, y]`` per slot (items × width × K), a dot product with θ_i and one log per
    slot, summed over the filled slots. Probabilities, not a logsumexp of log-probabilities:
    no exponential per (slot, class) — per gradient 1.4-2× faster (CPU ms, numba: rte 0.40 →
    0.29, music_genre 0.85 → 0.45; JAX 0.79 → 0.43, 1.93 → 1.42), the same values."""
    pi = _core(confusion, 3).transpose(0, 2, 1)  # cell, label, class
    theta = pt.special.softmax(logits, axis=-1)
    present = pt.ge(cells, 0)
    per_class = pi[pt.maximum(cells, 0), pt.maximum(value, 0)]  # items, width, K
    per_slot = pt.log((per_class * theta[..., None, :]).sum(axis=-1))
    return pt.switch(present, per_slot, 0.0).sum(axis=-1)


def ambiguity_logp_over_labels(
    value: TensorVariable,
    logits: TensorVariable,
    confusion: TensorVariable,
    cells: TensorVariable,
    slots: TensorVariable,
) -> TensorVariable:
    """`ambiguity_logp`'s sum label by label: ``log Σ_c θ_ic π[j, c, y]`` for each label only
    (`filled_rows`, the flat positions ``slots`` of `label_structure`), added up per item
    (`per_item_sum`) — the padding is never touched. The form for sparse tables
    (`OVER_LABELS_BELOW_FILL`)."""
    pi = _core(confusion, 3).transpose(0, 2, 1)  # cell, label, class
    theta = pt.special.softmax(logits, axis=-1)
    row_item, row_cell, row_label = filled_rows(value, cells, _core(slots, 1))
    per_row = pt.log((pi[row_cell, row_label] * theta[row_item]).sum(axis=-1))
    return per_item_sum(per_row, row_item, cells.shape[0])


def ambiguity_random(
    logits: np.ndarray,
    confusion: np.ndarray,
    cells: np.ndarray,
    slots: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    size: tuple | None = None,
) -> np.ndarray:
    """The model forwards for given item logits (items × K, θ_i = softmax) and π: in every
    slot of item i that holds a label, a class ``c ~ θ_i``, then the label ``~ π[cell, c]``
    (−1 elsewhere; ``slots``, the label positions the sparse form's logp reads, is not needed)."""
    rng = rng or np.random.default_rng()
    cells = np.asarray(cells)
    k = np.shape(logits)[-1]
    theta = softmax(np.broadcast_to(np.asarray(logits, dtype=float), (*cells.shape[:-1], k)), axis=-1)
    confusion = np.asarray(confusion)
    confusion = confusion.reshape(-1, *confusion.shape[-3:])[0]
    cls = sample_categorical(np.broadcast_to(theta[..., None, :], (*cells.shape, k)), rng)
    labels = sample_categorical(confusion[np.maximum(cells, 0), cls], rng)
    return np.where(cells >= 0, labels, -1)


def ambiguity(ann: Annotations, priors: AmbiguityPriors | None = None, minibatch_items: int = 0) -> pm.Model:
    """θ_i = softmax(μ + σ ζ_i) per item, π_j Dirichlet rows, labels an observed
    `pm.CustomDist` (`ambiguity_logp` per item, or `ambiguity_logp_over_labels` on a sparse
    table, `sums_over_labels`; `ambiguity_random` forwards). No minibatching: every item has
    its own θ_i."""
    if minibatch_items:
        raise SpecError(
            "model 'ambiguity' has a parameter per item (θ_i), so it is not minibatched: "
            "set minibatch_items = 0, or fit with nuts or map"
        )
    priors = priors or AmbiguityPriors()
    k = ann.n_classes
    alpha = np.broadcast_to(priors.confusion_alpha(k), (ann.n_annotators, k, k))
    data = item_label_data(ann)
    over_labels = "label_slots" in data
    model_coords = {
        **ds_coords(ann),
        "item": list(ann.items),
        "label_slot": np.arange(data["label_table"].shape[1]),
    }
    with pm.Model(coords=model_coords) as model:
        table, *inputs = (pm.Data(name, value) for name, value in data.items())
        centre = pm.ZeroSumNormal("centre", sigma=priors.centre_sd, dims="true_class")
        spread = pm.HalfNormal("spread", sigma=priors.spread_scale)
        zeta = pm.ZeroSumNormal("zeta", sigma=1.0, dims=("item", "true_class"))
        logits = centre + spread * zeta
        theta = pm.Deterministic("theta", pt.special.softmax(logits, axis=-1), dims=("item", "true_class"))
        pm.Deterministic("prevalence", theta.mean(axis=0), dims="true_class")
        confusion = pm.Dirichlet("confusion", a=alpha, dims=("annotator", "true_class", "label_class"))
        pm.CustomDist(
            "labels",
            logits,
            confusion,
            *inputs,
            logp=ambiguity_logp_over_labels if over_labels else ambiguity_logp,
            random=ambiguity_random,
            signature="(k),(c,k,l),(w),(n)->(w)" if over_labels else "(k),(c,k,l),(w)->(w)",
            dtype="int64",
            class_name="AmbiguityLabels",
            observed=table,
            dims=("item", "label_slot"),
        )
    return model


def _zero_sum(x: np.ndarray) -> np.ndarray:
    return x - x.mean(axis=-1, keepdims=True)


def ambiguity_start(em: EMResult, ann: Annotations, priors: AmbiguityPriors) -> dict[str, np.ndarray]:
    """θ_i at the EM class posterior pulled towards uniform (`START_SMOOTHING`), μ at the
    EM prevalence's logits, σ = `START_SPREAD`, π at EM."""
    k = ann.n_classes
    theta = (em.posterior + START_SMOOTHING) / (1 + k * START_SMOOTHING)
    centre = _zero_sum(np.log(prevalence_start(em)["prevalence"]))
    zeta = (_zero_sum(np.log(theta)) - centre) / START_SPREAD
    return {
        "confusion": dawid_skene_start(em, ann, priors)["confusion"],  # type: ignore[arg-type]
        "centre": centre,
        "spread": np.asarray(START_SPREAD),
        "zeta": zeta,
    }


def _fitted_theta(ann: Annotations, draws: Draws) -> np.ndarray:
    theta = draws("theta")
    if theta.shape[1] != ann.n_items:
        raise DataError(
            f"model 'ambiguity' has a class distribution per fitted item ({theta.shape[1]} items); "
            f"these labels have {ann.n_items}: refit with the new items (predict on new items is "
            "not supported by this family)"
        )
    return theta


def _item_theta(ann: Annotations, draws: Draws, used_gold: bool, seed: int) -> ItemBlocks:
    """The soft label: θ_i draws, (draws, items, K), in blocks of items."""
    theta = _fitted_theta(ann, draws)
    block = max(1, 20_000_000 // max(1, theta.shape[0] * theta.shape[2]))
    for start in range(0, ann.n_items, block):
        rows = slice(start, min(start + block, ann.n_items))
        yield rows, theta[:, rows]


def _item_loglik(ann: Annotations, draws: Draws, used_gold: bool) -> ItemBlocks:
    """Per-item ``Σ_slots log Σ_c θ_ic π[j, c, y]`` per draw (NumPy twin of `ambiguity_logp`)."""
    labels, cells = label_table(ann)
    log_theta = np.log(_fitted_theta(ann, draws))
    with np.errstate(divide="ignore"):
        log_pi = np.log(draws("confusion")).transpose(0, 1, 3, 2)  # draw, cell, label, class
    n_draws, _, k = log_theta.shape
    block = max(1, 20_000_000 // max(1, n_draws * cells.shape[1] * k))
    for start in range(0, ann.n_items, block):
        rows = slice(start, min(start + block, ann.n_items))
        present = cells[rows] >= 0
        per_class = log_pi[:, np.maximum(cells[rows], 0), np.maximum(labels[rows], 0)]  # S, r, w, K
        per_slot = logsumexp_last(per_class + log_theta[:, rows, None, :])
        yield rows, np.where(present, per_slot, 0.0).sum(axis=-1)


INTEGRATION_SAMPLES = 64
"""Monte Carlo samples of an item's logits per draw in `_integrated_loglik`."""


def _integrated_loglik(
    ann: Annotations, draws: Draws, used_gold: bool, max_values: int = 20_000_000
) -> ItemBlocks:
    r"""Per-item log-likelihood with the item's own θ_i integrated over its population, per draw:

    .. math::

        \ell_i = \log \int \prod_{r \in i} \sum_c \theta_c\,\pi_{j_r c y_r}
            \;p(\theta \mid \mu, \sigma)\,d\theta
        \approx \log \frac1M \sum_m \prod_{r \in i} \sum_c
            \operatorname{softmax}(\mu + \sigma\zeta_m)_c\,\pi_{j_r c y_r},
        \quad \zeta_m \sim \mathrm{ZeroSumNormal}(1)

    (the same M samples for every item of a draw, seeded). What LOO needs: leaving item i out
    leaves its θ_i with nothing but the population to go on, so PSIS on the conditional
    log-likelihood (θ_i fixed) fails (Pareto k > 0.7 on most items); integrated over θ_i the
    item is one observation of a model with global parameters only — "integrated LOO"
    (Vehtari, Mononen, Tolvanen, Sivula & Winther 2016)."""
    centre, spread = draws("centre"), np.ravel(draws("spread"))
    with np.errstate(divide="ignore"):
        log_pi = np.log(draws("confusion")).transpose(0, 1, 3, 2)  # draw, annotator, label, class
    n_draws, k = centre.shape
    n_annotators = log_pi.shape[1]
    rng = np.random.default_rng(0)
    zeta = rng.normal(size=(INTEGRATION_SAMPLES, k))
    zeta -= zeta.mean(axis=1, keepdims=True)
    # θ_m is shared by every item of a draw, so log Σ_c θ_mc π[j, c, l] is one table per
    # (annotator, label) and an item's sum over its labels is the count product C · table
    counts = annotation_counts(ann)  # items × J·L, column j·K + l
    per_draw = max(n_annotators * k * k, ann.n_items) * INTEGRATION_SAMPLES
    block = max(1, max_values // per_draw)
    out = np.empty((n_draws, ann.n_items))
    for start in range(0, n_draws, block):
        draws_ = slice(start, min(start + block, n_draws))
        log_theta = log_softmax(centre[draws_, None] + spread[draws_, None, None] * zeta, axis=-1)  # s, M, K
        per_label = logsumexp_last(log_pi[draws_, :, :, None, :] + log_theta[:, None, None])  # s, J, L, M
        n_block = per_label.shape[0]
        table = per_label.transpose(1, 2, 0, 3).reshape(n_annotators * k, n_block * INTEGRATION_SAMPLES)
        per_sample = np.asarray(counts @ table).reshape(ann.n_items, n_block, INTEGRATION_SAMPLES)
        out[draws_] = (logsumexp(per_sample, axis=-1) - np.log(INTEGRATION_SAMPLES)).T
    yield slice(0, ann.n_items), out


def _replicate(ann: Annotations, draws: Draws, used_gold: bool, rng: np.random.Generator) -> np.ndarray:
    """(draws, rows): the same design re-labelled given each draw, *keeping the item's θ_i*
    (conditional replication): per row a class ``c ~ θ_i``, then the label ``~ π[j, c]``.

    θ_i is kept because the check this serves is of the item-level dispersion (how often an
    item's annotators disagree); a fresh θ_i from the population would test the Dirichlet
    population instead, and every item's own data would vanish from its replicate."""
    theta = _fitted_theta(ann, draws)
    confusion = draws("confusion")
    block = max(1, 20_000_000 // max(1, len(ann.item_idx) * ann.n_classes))
    out = []
    for start in range(0, len(theta), block):
        s = slice(start, start + block)
        cls = sample_categorical(theta[s][:, ann.item_idx], rng)  # draws × rows
        index = np.arange(cls.shape[0])[:, None]
        out.append(sample_categorical(confusion[s][index, ann.annotator_idx[None, :], cls], rng))
    return np.concatenate(out).astype(np.int64)


AMBIGUITY = register(
    Family(
        name="ambiguity",
        priors=AmbiguityPriors,
        build=ambiguity,
        start=ambiguity_start,
        summary="intrinsic ambiguity, any K: soft label = item class distribution θ_i net of annotator noise",
        soft_label_meaning=SOFT_LABEL_MEANING,
        item_probabilities=_item_theta,
        gold_in_likelihood=False,
        data=item_label_data,
        shape=lambda ann: (ann.n_items, ann.n_annotators, ann.n_classes, sums_over_labels(ann)),
        item_loglik=_item_loglik,
        loo_loglik=_integrated_loglik,
        replicate=_replicate,
        numba_faster=True,
    )
)
