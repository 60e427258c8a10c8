r"""Item difficulty: logistic random effects (Paun et al. 2018, "Comparing Bayesian models of
annotation", TACL; numpyro's ``logistic_random_effects``).

Plate diagram (non-centred)::

    ρ ~ Dirichlet(α^ρ)                                 prevalence[true_class]
    μ_k = d·e_k + ν_k,  ν_k ~ ZeroSumNormal(s)         mu[true_class, label_class]      (ζ)
    σ_k ~ HalfNormal(a)                                sigma[true_class]                (Ω)
    β_jk = μ_k + σ_k · η_jk                            annotator logits (as `hierarchical`)
    χ_k ~ HalfNormal(c)                                difficulty_scale[true_class]
    θ_ik ~ ZeroSumNormal(1) over labels                difficulty[item, true_class, label_class]
    z_i ~ Categorical(ρ)                               (summed out)
    y_r ~ Categorical(softmax(β_{j_r z_i} − χ_{z_i} θ_{i z_i}))   every label r of item i

The item effect ``χ_k θ_ik`` pulls every annotator's labels of item i away from its true class
in the same direction, so the labels of one item are correlated beyond their shared class
(what Dawid–Skene misses); with χ = 0 the model *is* Dawid–Skene with confusion
``π_jk = softmax(β_jk)``, stored as ``confusion`` (annotator reliability, the annotator
tables and predictions for new items read it: the confusion of an item of zero effect).

Each item carries one effect per true class, and the labels read only the one of its class.
The copies of the other classes leave the likelihood and follow their prior, so integrating
them out gives exactly the model with one effect θ_i per item (Paun et al.'s): the same
marginal likelihood, the same posterior of every other parameter and of the classes. What
changes is the geometry. With one θ_i, an item whose labels split needs one effect to explain
them under class 0 and an opposite one under class 1, and its posterior is bimodal with a
deep valley between: on duchenne (K = 2, 14 labels per item) at EM's confusion and χ = 1, 574
of 2,134 items have two modes, 103 with a valley deeper than 3 nats (item 0045, 12 of 20
labels 1: modes at θ = −0.44 and 1.01, 4.7 nats apart at the valley), and those were the
coordinates that did not mix (R-hat 1.016 at ``difficulty[0045]`` after 4 × 4000 draws). With a
copy per class, each copy sits in its own class's mode, and switching the class moves no
effect at all (the product-space construction of Carlin & Chib 1995). Measured at the shipped
settings on this 2-core machine (`benchmarks/results/convergence.md`): duchenne after 4 × 2000
draws has max R-hat 1.0096, bulk ESS 511, tail ESS 378 (one effect per item, after 4 × 4000:
1.0157, 309, 536; about 0.7 s per draw of the 4 chains either way); rte converges at 4 × 1000
as before (R-hat 1.0088, bulk ESS 480, was 1.0087 and 401).

Logit rows are full K-vectors, summing to zero over labels (softmax ignores a constant per
row; numpyro fixes the last logit at 0 instead): the diagonal mean ``d`` tells the classes
apart. The effect's scale depends on the true class, which is summed out, so the effect is
non-centred as ``θ_ik ~ N(0, 1)`` and enters the likelihood under class k as ``χ_k θ_ik`` —
exactly the model with effect ``~ N(0, χ_{z_i})`` (numpyro's LocScaleReparam under the
enumerated class). The centred alternative (a free effect ``e_i`` whose class-dependent
prior ``N(0, χ_k)`` joins the per-class terms inside the logsumexp) is exact too but mixes worse:
on rte at the shipped 4 × 1000 draws, seed 0, it gave R-hat 1.034 and bulk ESS 162 at ``χ``
against 1.009 and 401 non-centred (χ ≈ 0.41; same 31 leapfrog steps per draw). Integrating θ_i
out by quadrature was tried for K = 2: fixed Gauss–Hermite nodes miss the sharply peaked
integrand of an item with 20–40 split labels by 0.3–1.2 nats at 32–64 nodes (√2·χ = 2.8), and
Newton-centred adaptive nodes overshoot on unanimous items; neither is shipped.

Per item, every label jointly:

.. math::

    \ell_i = \operatorname{logsumexp}_k \Big(\log\rho_k + m_{ik}
        + \sum_{r \in i} \log\operatorname{softmax}(\beta_{j_r k} - \chi_k\theta_{ik})_{y_r}\Big)

with ``m`` the gold mask (`_likelihood.gold_log_mask`). The soft label is the class
posterior ``softmax_k`` of the same terms, per draw (the θ_ik drawn with the rest). A new item
(`Fit.predict`) has no fitted θ: it is scored at zero effect, through ``confusion``.

Fit it by NUTS (or ADVI). ``method="map"`` runs, but the joint mode over the per-item effects
is degenerate: χ grows until each item's θ_i explains its own labels (on simulated data with
χ = 1 the mode put χ near 7 and found the classes worse than Dawid–Skene EM).

**NUTS samples the copies under pseudo-priors** (`pseudo_prior_model`, `Family.nuts_model`).
With the prior as the copies' law off their class, an item whose labels split between two
classes mixes badly: on dog (K = 4, 10 labels per item; item 182: 4 labels of class 0, 5 of
class 3) a copy θ_ik follows its prior while the item is not of class k and its posterior under
k (2–3 prior sds away, 5–10 nats more concentrated) while it is, so the copy is bimodal and the
item's class moves only when the copy crosses (R-hat 1.33 at ``difficulty_scale[3]`` after
2 × 200 draws; at the shipped settings the whole 4 × 8000-draw budget, 29 minutes, ended with
bulk ESS 381 < 400 at item 182's copy of class 3). Carlin & Chib (1995): the law of a copy off
its class (its pseudo-prior) may be any normalised density — the posterior of the classes and
of every other parameter does not change. `pseudo_priors` places copy (i, k) at its conditional
Laplace approximation under class k (EM's confusion, χ = 0.75), ``θ_ik = c_ik + s_ik u_ik``
with ``u ~ ZeroSumNormal(1)`` sampled, and class k's term gains the prior-to-pseudo-prior ratio
``(K − 1) log s − |θ_ik|²/2 + |u_ik|²/2`` (`pseudo_prior_log_ratio`; checked by brute-force
integration in the tests): a copy now sits near the same place whichever class its item takes.
The draws go back to this family's own variables (`from_pseudo_priors`): per draw a class from
its conditional given the copies (a Gibbs step), the other copies drawn afresh from their prior,
so `fit.posterior`, the soft labels, the predictive checks and `fit.model` are the family's own.
Measured at the shipped settings (`benchmarks/results/convergence.md`): dog converges after
1000 → 2000 draws (R-hat 1.0081, bulk ESS 457, 12 minutes; gold accuracy 0.818 as before);
duchenne after 1000 → 2000 (R-hat 1.0095, bulk ESS 818; was 1000 → 4000); rte and bluebirds at
1000 (were 1000 → 2000); anesthesia after 1000 → 2000 (R-hat 1.0034, bulk ESS 1065; it converged
at 1000 before, R-hat 1.0085, ESS 526); the simulated sets too. Calibration on held-out gold is
unchanged (`benchmarks/results/calibration_item_difficulty_pp.md`).

music_genre (K = 10, 4.2 labels per item) mixes slowly along another direction: two chains of
200 draws disagree on the rock/metal confusion and prevalence (R-hat 1.38, bulk ESS 5; 31
leapfrog steps a draw, no divergences); with the effect scale's prior tightened to
HalfNormal(0.3) (χ ≈ 0.2) just as much (R-hat 1.32), so it is not the effects' freedom alone:
`hierarchical` mixes slowest along the same direction and needs 2000 draws there, and the
pseudo-priors did not change it (4 × 300: R-hat 1.13 → 1.10, `benchmarks/results/pseudo_priors.md`).
The labels say why: gold-metal items are labelled "metal" 121 times and "rock" 121 times, gold-rock
items "rock" 104 times and "pop" 67, so an item labelled "rock" may be of either class, and with
gold held out only the annotators' other items tell. At the shipped 4 × 1000 → 8000 the fit was
killed for memory (24 GB) at the end of its first round, the trace being 150k numbers a draw held
three times over (fixed: `bayeslabels.inference._trace_store`: 4.8 GB at its first check, after
4 × 2000 iterations). It converges at the shipped settings after 1000 → 2000 → 4000 → 8000 draws
per chain (R-hat 1.0148 and bulk ESS 191 at 2000, 1.0132 and 281 at 4000, 1.0089 and 484 at 8000;
67 minutes on 2 cores, gold accuracy 0.794; `benchmarks/results/convergence.md`), its rounds
thinned to stay in memory (`bayeslabels.inference.posterior_thinning`: 1 in 6 kept at 8000, whose
whole posterior would be 21 GB). The slow direction is not a parameterisation artefact: on
`hierarchical` (same direction, 4 × 1000 + 1000, seed 0) nutpie's low-rank mass matrix gave R-hat
1.021 and bulk ESS 261 in 427 s against the diagonal's 1.016 and 280 in 88 s; centred annotator
offsets 1.58 and 7 (BFMI 0.11); centred offsets for the 7 annotators with ≥ 15 labels a class
(69 % of the labels) and non-centred for the rest 1.011 and 254. nutpie's low-rank mass matrix
(``adaptation="low_rank"``) also made it worse on dog (4 × 300: R-hat 2.71, 600 divergences).
``model="auto"`` sets the family aside where its screen, or its full fit, has not mixed
(`bayeslabels.fitting._final_fit`).

The population logits' prior sd is 1.0, where `hierarchical`'s is 1.5: the item effects can
explain labels the population confusion does not, and with 1.5 on anesthesia (45 items,
K = 4) the copy of the posterior with classes 2 and 3 swapped was nearly as likely: the average
annotator then labels class 3 mostly as 2 (population confusion 0.61 on label 2, 0.27 on its
own), the items' effects making up the rest (χ of class 2 near 1, against 0.4). Chains crossed
into it and back (R-hat 1.074 at seed 0; 1 of 4 seeds passed). With 1.0 no chain of seeds 0–3
switches at 4 × 1000 draws (R-hat 1.0085–1.0101; measured before the pseudo-priors), and gold
accuracy on rte and bluebirds is unchanged (0.931, 0.917).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import scipy.sparse as sp
import xarray as xr
from pytensor.gradient import disconnected_grad
from pytensor.tensor.special import softmax
from scipy.special import softmax as np_softmax

from ..data import Annotations
from ..priors import ItemDifficultyPriors
from . import register
from ._family import Draws, Family, ItemBlocks, SampledModel
from ._likelihood import (
    TABLE_DATA,
    _core,
    annotation_counts,
    filled_rows,
    gold_log_mask,
    label_structure,
    label_table,
    logsumexp_last,
    per_item_sum,
    sample_categorical,
    table_data,
)
from ._likelihood import joint_class_blocks as count_joint_blocks
from .dawid_skene import coords
from .hierarchical import ROW, _annotator_offsets, _population, hierarchical_start

if TYPE_CHECKING:
    from pytensor.tensor import TensorVariable

    from ..aggregate import EMResult

START_DIFFICULTY_SCALE = 0.3


def per_class_effect(effect: np.ndarray, ndim: int) -> np.ndarray:
    """Item effects with ``ndim`` axes, the last two (true class, label), one per (item, true
    class): as given, or with one axis fewer (one effect per item, shared by every class: a
    simulator's truth) as a view with a true-class axis of length 1."""
    effect = np.asarray(effect)
    return effect if effect.ndim == ndim else effect[..., None, :]


def difficulty_labels_logp(
    value: TensorVariable,
    logits: TensorVariable,
    log_rho: TensorVariable,
    scale: TensorVariable,
    effect: TensorVariable,
    cells: TensorVariable,
    gold_mask: TensorVariable,
    slots: TensorVariable,
) -> TensorVariable:
    r"""Per-item ``ℓ_i`` (module docstring) of the label table ``value`` (items × width, −1
    padded like ``cells``): every label's log-softmax under every true class, the observed label
    picked, summed per item (`per_item_sum` over the labels, `filled_rows`: the padding is never
    touched), then the class summed out.

    ``logits`` (annotators, K, K) β; ``log_rho``, ``scale`` (K,) log ρ and χ; ``effect``
    (items, K, K) θ, one per (item, true class); ``gold_mask`` (items, K); ``slots`` the flat
    positions of the labels in the table (`label_structure`).

    The softmax of a sum factorises, so no exponential is taken per label: with the item logits
    ``e_ik = −χ_k θ_ik``, ``a = exp(β − max_l β)`` per annotator and ``b = exp(e − max_l e)``
    per item,

    .. math::

        \log\operatorname{softmax}(\beta_{jk} + e_{ik})_y
            = (\beta_{jky} - \max_l \beta_{jkl}) + (e_{iky} - \max_l e_{ikl})
              - \log \textstyle\sum_l a_{jkl}\, b_{ikl},

    exponentials on the (J + I) × K × K tables and a K-term dot product per (label, class): 2-4×
    faster per gradient than the per-label log-softmax (numba: rte 0.88 → 0.62 ms, dog 1.9 → 1.2,
    music_genre 10.9 → 2.6). The shifts cancel exactly, so their gradient is left out."""
    logits, log_rho, scale = _core(logits, 3), _core(log_rho, 1), _core(scale, 1)
    n_items, k = cells.shape[0], logits.shape[-1]
    row_item, row_annotator, row_label = filled_rows(value, cells, _core(slots, 1))
    item_logits = -scale[:, None] * effect  # I, K, L
    annotator_shifted = logits - disconnected_grad(pt.max(logits, axis=-1, keepdims=True))  # J, K, L
    item_shift = disconnected_grad(pt.max(item_logits, axis=-1))  # I, K
    a, b = pt.exp(annotator_shifted), pt.exp(item_logits - item_shift[..., None])
    norm = (a[row_annotator] * b[row_item]).sum(axis=-1)  # rows, K
    by_label = annotator_shifted.transpose(0, 2, 1).reshape((-1, k))  # (J·L, K): row j·K + l
    picked = by_label[row_annotator * k + row_label]  # rows, K
    labels = per_item_sum(picked - pt.log(norm), row_item, n_items)  # I, K
    counts = per_item_sum(pt.eye(k)[row_label], row_item, n_items)  # I, L
    items = (item_logits * counts[:, None, :]).sum(axis=-1) - counts.sum(axis=1)[:, None] * item_shift
    return pt.logsumexp(labels + items + log_rho[None, :] + gold_mask, axis=-1)


def sample_difficulty_rows(
    logits: np.ndarray,
    log_rho: np.ndarray,
    scale: np.ndarray,
    effect: np.ndarray,
    item_idx: np.ndarray,
    cells: np.ndarray,
    gold_mask: np.ndarray | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """The model forwards for draws of its parameters: ``z_i ~ softmax(log ρ + m_i)`` (gold
    fixes it where the mask holds it), then each label row ``y_r ~ softmax(β[cell_r, z] −
    χ_z θ_iz)`` with ``z = z_{item_r}`` and the item's own effect under that class.

    ``logits`` (draws, cells, K, K), ``log_rho`` and ``scale`` (draws, K), ``effect``
    (draws, items, K, K) one per (item, true class), or (draws, items, K) one per item
    (`per_class_effect`) → labels (draws, rows)."""
    effect = per_class_effect(effect, 4)
    n_draws, n_items, k = effect.shape[0], effect.shape[1], log_rho.shape[-1]
    prior = log_rho[:, None, :] if gold_mask is None else log_rho[:, None, :] + gold_mask[None]
    z = sample_categorical(np_softmax(np.broadcast_to(prior, (n_draws, n_items, k)), axis=-1), rng)
    draw = np.arange(n_draws)[:, None]
    z_row = z[:, item_idx]  # draws × rows
    effect_rows = effect[draw, item_idx, z_row if effect.shape[2] > 1 else 0]  # draws × rows × K
    row_logits = logits[draw, cells[None, :], z_row] - scale[draw, z_row][..., None] * effect_rows
    return sample_categorical(np_softmax(row_logits, axis=-1), rng)


def difficulty_labels_random(
    logits: np.ndarray,
    log_rho: np.ndarray,
    scale: np.ndarray,
    effect: np.ndarray,
    cells: np.ndarray,
    gold_mask: np.ndarray,
    slots: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    size: tuple | None = None,
) -> np.ndarray:
    """A label table (items × width, −1 padded like ``cells``) drawn from the model: the
    `sample_difficulty_rows` of one parameter draw, placed in the table (``slots``, the label
    positions the logp reads, is not needed here)."""
    rng = rng or np.random.default_rng()
    cells = np.asarray(cells)
    k = int(np.shape(logits)[-1])
    n_items = cells.shape[0]
    items, slots = np.nonzero(cells >= 0)
    labels = sample_difficulty_rows(
        np.asarray(logits).reshape(1, -1, k, k),
        np.asarray(log_rho).reshape(1, k),
        np.asarray(scale).reshape(1, k),
        np.broadcast_to(per_class_effect(effect, 3), (n_items, k, k))[None],
        items,
        cells[items, slots],
        np.broadcast_to(gold_mask, (n_items, k)),
        rng,
    )[0]
    table = np.full(cells.shape, -1, dtype=np.int64)
    table[items, slots] = labels
    return table


def observe_difficulty_labels(
    ann: Annotations,
    logits: TensorVariable,
    log_rho: TensorVariable,
    scale: TensorVariable,
    effect: TensorVariable,
    minibatch_items: int = 0,
    class_terms: TensorVariable | None = None,
) -> TensorVariable:
    """The labels as the observed ``labels`` (items × label_slot) of the current model: a
    `pm.CustomDist` with `difficulty_labels_logp` per item and `difficulty_labels_random`
    forwards. Full batch: table, cells and gold mask from `pm.Data` (`likelihood_data`, the
    names of the shared likelihood); ``class_terms`` (items, K), if given, join the gold mask in
    each class's term (the pseudo-prior ratio of `pseudo_prior_model`). ``minibatch_items > 0``
    (ADVI): a random batch of whole items per step with their own effects, scaled to all items."""
    model = pm.modelcontext(None)
    if not 0 < minibatch_items < ann.n_items:
        data = table_data(ann)
        model.add_coord("label_slot", np.arange(data["label_table"].shape[1]))
        table, cells, gold, slots = (pm.Data(name, data[name]) for name in TABLE_DATA)
        if class_terms is not None:
            gold = gold + class_terms
        extra: dict = {"dims": ("item", "label_slot")}
    else:
        labels, cells_np = label_table(ann)
        mask = gold_log_mask(ann.gold, ann.n_classes)
        gold_np = np.zeros((ann.n_items, ann.n_classes)) if mask is None else np.maximum(mask, -1e30)
        # int32, as PyMC casts an observed integer table (a cast minibatch is refused as observed)
        table, cells, gold, items = pm.Minibatch(
            labels.astype(np.int32),
            cells_np.astype(np.int32),
            gold_np,
            np.arange(ann.n_items),
            batch_size=int(minibatch_items),
        )
        effect = effect[items]
        slots = label_structure(cells, ann.n_classes)[0]
        extra = {"total_size": ann.n_items}
    return pm.CustomDist(
        "labels",
        logits,
        log_rho,
        scale,
        effect,
        cells,
        gold,
        slots,
        logp=difficulty_labels_logp,
        random=difficulty_labels_random,
        signature="(c,k,l),(k),(k),(k,l),(w),(k),(n)->(w)",
        dtype="int64",
        class_name="ItemDifficultyLabels",
        observed=table,
        **extra,
    )


EFFECT_DIMS = ("item", "true_class", "label_class")


def item_difficulty(
    ann: Annotations,
    priors: ItemDifficultyPriors | None = None,
    minibatch_items: int = 0,
    pseudo_priors: tuple[np.ndarray, np.ndarray] | None = None,
) -> pm.Model:
    """Annotator logits ``β_jk = μ_k + σ_k η_jk`` (as `hierarchical`) and an item effect
    ``χ_k θ_ik`` subtracted from every label's logits of item i under true class k.

    ``pseudo_priors`` = (centre (items, K, K), sd (items, K)): the model NUTS samples instead
    (`pseudo_prior_model`), each copy ``θ_ik = centre_ik + sd_ik · u_ik``, ``u ~
    ZeroSumNormal(1)`` (``difficulty_standard``), class k's term gaining the ratio of the prior
    to the pseudo-prior. Full batch only."""
    priors = priors or ItemDifficultyPriors()
    k = ann.n_classes
    with pm.Model(coords={**coords(ann), "item": list(ann.items)}) as model:
        prevalence, mu, sigma = _population(priors, k)
        logits = mu[None] + _annotator_offsets(ann, priors, sigma)
        pm.Deterministic("confusion", softmax(logits, axis=-1), dims=("annotator", *ROW))
        pm.Deterministic("population_confusion", softmax(mu, axis=-1), dims=ROW)
        scale = pm.HalfNormal("difficulty_scale", sigma=priors.difficulty_scale, dims="true_class")
        class_terms = None
        if pseudo_priors is None:
            effect = pm.ZeroSumNormal("difficulty", sigma=1.0, dims=EFFECT_DIMS)
        else:
            centre, sd = (
                pm.Data(name, value) for name, value in zip(PSEUDO_DATA, pseudo_priors, strict=True)
            )
            standard = pm.ZeroSumNormal(PSEUDO_VARIABLE, sigma=1.0, dims=EFFECT_DIMS)
            effect = centre + sd[..., None] * standard
            class_terms = pseudo_prior_log_ratio(effect, standard, sd, k)
        observe_difficulty_labels(
            ann, logits, pt.log(prevalence), scale, effect, minibatch_items, class_terms=class_terms
        )
    return model


# ---------------------------------------------------------------------- pseudo-priors
PSEUDO_PRIOR_SCALE = 0.75
"""The effect scale χ at which each copy's pseudo-prior is fitted (`pseudo_priors`)."""
PSEUDO_DATA = ("pseudo_centre", "pseudo_sd")
PSEUDO_VARIABLE = "difficulty_standard"
"""The free variable of the sampled model: each copy standardised by its pseudo-prior."""


def pseudo_prior_log_ratio(effect: Any, standard: Any, sd: Any, n_classes: int) -> Any:
    r"""``log N(θ; 0, 1) − log N(θ; c, s²) + (K − 1) log s`` per copy, in terms of ``θ`` and
    ``u = (θ − c)/s`` (both zero-sum, K − 1 free dimensions): ``(K − 1) log s − |θ|²/2 +
    |u|²/2`` — the prior of the copy of the item's class against its pseudo-prior, with the
    Jacobian of ``θ = c + s u`` (PyTensor or NumPy alike)."""
    log = pt.log if isinstance(sd, pt.TensorVariable) else np.log
    return (n_classes - 1) * log(sd) - 0.5 * (effect**2).sum(axis=-1) + 0.5 * (standard**2).sum(axis=-1)


def pseudo_priors(
    ann: Annotations,
    log_confusion: np.ndarray,
    scale: float = PSEUDO_PRIOR_SCALE,
    steps: int = 25,
    max_values: int = 20_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Per (item, class k): the mode ``c_ik`` of the copy θ_ik's posterior *under class k*
    (prior ZeroSumNormal(1), the item's labels through ``softmax(β_{j k} − χ θ_ik)`` at the
    annotator logits β = ``log_confusion`` centred per row and χ = ``scale``), by Newton, and
    the isotropic sd ``s_ik = √((K − 1) / tr H)`` of its Laplace approximation (H the
    likelihood's curvature, trace over the zero-sum directions, plus the prior's 1).

    These are Carlin & Chib's (1995) pseudo-priors: any normalised density of a copy off its
    class leaves the posterior of the classes and of every other parameter unchanged; placed
    where the copy sits under its class, the copy has one mode whichever class the item takes.
    Items in blocks of about ``max_values`` numbers; a non-finite result falls back to the
    prior (c = 0, s = 1), which is the shipped model exactly."""
    k, n_items = ann.n_classes, ann.n_items
    logits = log_confusion - log_confusion.mean(axis=-1, keepdims=True)
    centre, sd = np.zeros((n_items, k, k)), np.ones((n_items, k))
    order = np.argsort(ann.item_idx, kind="stable")
    starts = np.searchsorted(ann.item_idx[order], np.arange(n_items + 1))
    per_item = max(1, int(ann.labels_per_item.max(initial=1)))
    block = max(1, max_values // (per_item * k**3))
    eye = np.eye(k)
    for first in range(0, n_items, block):
        last = min(first + block, n_items)
        rows = order[starts[first] : starts[last]]
        n = last - first
        incidence = sp.csr_matrix(
            (np.ones(len(rows)), (ann.item_idx[rows] - first, np.arange(len(rows)))), shape=(n, len(rows))
        )
        onehot = eye[ann.label[rows]]
        row_logits = logits[ann.annotator_idx[rows]]  # rows, K, L
        theta = np.zeros((n, k, k))
        item = ann.item_idx[rows] - first
        for _ in range(steps):
            p = np_softmax(row_logits - scale * theta[item], axis=-1)  # rows, K, L
            residual = (onehot[:, None, :] - p).reshape(len(rows), -1)  # per row: observed − expected
            gradient = -scale * (incidence @ residual) - theta.reshape(n, -1)  # + the prior's −θ
            outer = p[..., :, None] * eye - p[..., :, None] * p[..., None, :]  # rows, K, L, L
            precision = scale**2 * (incidence @ outer.reshape(len(rows), -1)).reshape(n, k, k, k) + eye
            theta = theta + np.linalg.solve(precision, gradient.reshape(n, k, k, 1))[..., 0]
            theta -= theta.mean(axis=-1, keepdims=True)
        trace = np.trace(precision, axis1=-2, axis2=-1) - 1.0  # the all-ones direction: the prior's 1
        spread = np.sqrt((k - 1) / trace)
        ok = np.isfinite(theta).all(axis=-1) & np.isfinite(spread) & (spread > 0)
        centre[first:last] = np.where(ok[..., None], theta, 0.0)
        sd[first:last] = np.where(ok, np.minimum(spread, 1.0), 1.0)
    return centre, sd


def item_difficulty_start(
    em: EMResult, ann: Annotations, priors: ItemDifficultyPriors
) -> dict[str, np.ndarray]:
    """The annotator logits from the log EM confusion (`hierarchical_start`), every item
    effect 0 and a small effect scale."""
    k = ann.n_classes
    return {
        **hierarchical_start(em, ann, priors),
        "difficulty_scale": np.full(k, START_DIFFICULTY_SCALE),
        "difficulty": np.zeros((ann.n_items, k, k)),
    }


def pseudo_prior_model(
    ann: Annotations, priors: ItemDifficultyPriors, em: EMResult, start: dict[str, np.ndarray]
) -> SampledModel:
    """What NUTS samples for this family: the graph with each effect copy standardised by its
    pseudo-prior (`pseudo_priors` at EM's confusion), started at the pseudo-priors' centres, and
    the way back to the family's own ``difficulty`` (`from_pseudo_priors`)."""
    centre, sd = pseudo_priors(ann, np.log(np.clip(em.confusion, 1e-12, None)))
    sampled_start = {name: value for name, value in start.items() if name != "difficulty"}
    sampled_start[PSEUDO_VARIABLE] = np.zeros_like(centre)
    data = {**table_data(ann), PSEUDO_DATA[0]: centre, PSEUDO_DATA[1]: sd}

    def to_posterior(tree: xr.DataTree, used_gold: bool, seed: int) -> xr.DataTree:
        return from_pseudo_priors(tree, ann, centre, sd, used_gold, seed)

    return SampledModel(
        model=item_difficulty(ann, priors, pseudo_priors=(centre, sd)),
        start=sampled_start,
        data=data,
        to_posterior=to_posterior,
    )


def from_pseudo_priors(
    tree: xr.DataTree, ann: Annotations, centre: np.ndarray, sd: np.ndarray, used_gold: bool, seed: int
) -> xr.DataTree:
    r"""Draws of the pseudo-prior model (`pseudo_prior_model`) as draws of this family's own:
    per draw and item, a class ``z ~ P(z_i | all copies, the rest)`` — ``softmax_k`` of the
    class terms (`joint_class_blocks`) plus the pseudo-prior ratio (a Gibbs step, so the pair
    (z_i, θ_{i z_i}) is a draw of the item's class and effect under the model) — then every copy
    of another class replaced by a fresh draw from its prior, ZeroSumNormal(1): the copies off
    the item's class of the family's own model. ``difficulty_standard`` becomes ``difficulty``;
    everything else is kept. Seeded by ``seed``."""
    posterior = tree["posterior"].to_dataset()
    standard = posterior[PSEUDO_VARIABLE]
    n_chains, n_draws = standard.sizes["chain"], standard.sizes["draw"]
    k = ann.n_classes
    # the one array of the draws' size made here, filled a chain at a time (a trace nutpie
    # wrote to disk is read a chain at a time); blocks of items for the rest
    theta = np.empty((n_chains * n_draws, ann.n_items, k, k))
    for chain in range(n_chains):
        rows = theta[chain * n_draws : (chain + 1) * n_draws]
        np.multiply(standard.isel(chain=chain).values, sd[..., None], out=rows)
        rows += centre

    def draws(name: str) -> np.ndarray:
        if name == "difficulty":
            return theta
        values = posterior[name].values
        return values.reshape(n_chains * n_draws, *values.shape[2:])

    rng = np.random.default_rng([seed, 2026])
    for items, joint in joint_class_blocks(ann, draws, used_gold):
        copies = theta[:, items]
        standardised = (copies - centre[items]) / sd[items][..., None]
        log_ratio = pseudo_prior_log_ratio(copies, standardised, sd[items], k)  # draws, block, K
        cls = sample_categorical(np_softmax(joint + log_ratio, axis=-1), rng)  # draws, block
        fresh = rng.standard_normal(copies.shape)
        fresh -= fresh.mean(axis=-1, keepdims=True)
        off = (np.arange(k) != cls[..., None])[..., None]  # draws, block, K, 1
        theta[:, items] = np.where(off, fresh, copies)
    effect = xr.DataArray(
        theta.reshape(n_chains, n_draws, ann.n_items, k, k),
        dims=("chain", "draw", *EFFECT_DIMS),
        coords={**standard.coords},
    )
    posterior = posterior.drop_vars(PSEUDO_VARIABLE).assign(difficulty=effect)
    groups = {name: node.to_dataset() for name, node in tree.children.items()}
    return xr.DataTree.from_dict({**groups, "posterior": posterior})


# ---------------------------------------------------------------------- NumPy twins
def joint_class_blocks(
    ann: Annotations, draws: Draws, used_gold: bool, max_values: int = 20_000_000
) -> ItemBlocks:
    """Yield ``(items_slice, J)`` with ``J[s, i, k] = log ρ_k + m_ik + Σ_{r∈i} log
    softmax(β_{j_r k} − χ_k θ_ik)[y_r]`` under draw s — the terms of `difficulty_labels_logp`,
    from the draws (``log confusion`` is β up to a constant per row, which softmax ignores)."""
    with np.errstate(divide="ignore"):
        log_pi = np.log(draws("confusion"))  # draws, J, K, K
        log_rho = np.log(draws("prevalence"))
    scale = draws("difficulty_scale")  # (draws, K)
    n_draws, k = scale.shape
    effect = per_class_effect(draws("difficulty"), 4)  # (draws, I, K or 1, K)
    mask = gold_log_mask(ann.gold, ann.n_classes) if used_gold else None
    order = np.argsort(ann.item_idx, kind="stable")
    starts = np.searchsorted(ann.item_idx[order], np.arange(ann.n_items + 1))
    per_item = max(1, int(ann.labels_per_item.max(initial=1)))
    block = max(1, max_values // (n_draws * k * k * per_item))
    for first in range(0, ann.n_items, block):
        items = slice(first, min(first + block, ann.n_items))
        rows = order[starts[items.start] : starts[items.stop]]
        item = ann.item_idx[rows]
        shifted = log_pi[:, ann.annotator_idx[rows]] - scale[:, None, :, None] * effect[:, item]
        shifted = shifted - logsumexp_last(shifted)[..., None]  # draws, R, K, L
        picked = np.take_along_axis(shifted, ann.label[rows][None, :, None, None], axis=-1)[..., 0]
        n_block = items.stop - items.start
        incidence = sp.csr_matrix(
            (np.ones(len(rows)), (item - first, np.arange(len(rows)))), shape=(n_block, len(rows))
        )
        summed = np.asarray(incidence @ picked.transpose(1, 0, 2).reshape(len(rows), -1))
        joint = summed.reshape(n_block, n_draws, k).transpose(1, 0, 2) + log_rho[:, None, :]
        if mask is not None:
            joint = joint + mask[items]
        yield items, joint


INTEGRATION_SAMPLES = 64
"""Monte Carlo samples of an item effect per draw in `_integrated_loglik`."""


def _integrated_loglik(
    ann: Annotations, draws: Draws, used_gold: bool, max_values: int = 20_000_000
) -> ItemBlocks:
    r"""Per-item log-likelihood with the item's own effect integrated over its prior, per draw:
    ``ℓ_i = logsumexp_k [log ρ_k + m_ik + log (1/M) Σ_m exp Σ_{r∈i} log softmax(β_{j_r k} −
    χ_k η_m)[y_r]]``, ``η_m ~ ZeroSumNormal(1)`` (the same M samples for every item, seeded) —
    what LOO needs, since leaving item i out leaves its effect with nothing but the prior
    ("integrated LOO", Vehtari et al. 2016; `bayeslabels.models.ambiguity` does the same).

    Since η_m is shared by every item, the shifted log-confusion ``A_m[j, k, l] = log
    softmax(β_jk − χ_k η_m)[l]`` is one table per annotator, not per label row, and the sum over
    an item's labels is Dawid–Skene's count product ``L_m = C A_m`` (`annotation_counts`): the
    per-row evaluation (`joint_class_blocks`) at a few per cent of its cost."""
    k = ann.n_classes
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(INTEGRATION_SAMPLES, k))
    samples -= samples.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        log_pi = np.log(draws("confusion"))  # draws, J, K, L
        log_rho = np.log(draws("prevalence"))  # draws, K
    scale = draws("difficulty_scale")  # draws, K
    n_draws = len(scale)
    mask = gold_log_mask(ann.gold, k) if used_gold else None
    counts = annotation_counts(ann)  # items × J·L, column j·K + l
    total = np.full((n_draws, ann.n_items, k), -np.inf)  # running log Σ_m, draws × items × K
    for eta in samples:
        shifted = log_pi - scale[:, None, :, None] * eta  # draws, J, K, L
        shifted -= logsumexp_last(shifted)[..., None]
        for items, joint in count_joint_blocks(counts, shifted, log_rho, mask, max_values):
            total[:, items] = np.logaddexp(total[:, items], joint)
    with np.errstate(invalid="ignore"):  # classes gold rules out stay −∞
        yield slice(0, ann.n_items), logsumexp_last(total - np.log(INTEGRATION_SAMPLES))


def _item_probabilities(ann: Annotations, draws: Draws, used_gold: bool, seed: int) -> ItemBlocks:
    """``P(z_i = k | labels of i, draw)``: the class posterior given each draw (θ_ik included)."""
    for items, joint in joint_class_blocks(ann, draws, used_gold):
        yield items, np_softmax(joint, axis=-1)


def _item_loglik(ann: Annotations, draws: Draws, used_gold: bool) -> ItemBlocks:
    """``log p(y_i | draw)``, every label of item i jointly, class summed out (the NumPy twin
    of `difficulty_labels_logp`)."""
    for items, joint in joint_class_blocks(ann, draws, used_gold):
        yield items, logsumexp_last(joint)


def _replicate(ann: Annotations, draws: Draws, used_gold: bool, rng: np.random.Generator) -> np.ndarray:
    """(draws, rows): the observed design forwards from each draw — a fresh true class per
    item from ρ (gold fixes it when the fit used gold), each item's own effects kept, every label
    row through ``softmax(β − χ_z θ_iz)`` (`sample_difficulty_rows`)."""
    mask = gold_log_mask(ann.gold, ann.n_classes) if used_gold else None
    with np.errstate(divide="ignore"):
        logits = np.log(draws("confusion"))
        log_rho = np.log(draws("prevalence"))
    scale, effect = draws("difficulty_scale"), draws("difficulty")
    block = max(1, 20_000_000 // max(1, len(ann.label) * ann.n_classes))
    return np.concatenate(
        [
            sample_difficulty_rows(
                logits[s : s + block],
                log_rho[s : s + block],
                scale[s : s + block],
                effect[s : s + block],
                ann.item_idx,
                ann.annotator_idx,
                mask,
                rng,
            )
            for s in range(0, len(logits), block)
        ]
    )


ITEM_DIFFICULTY = register(
    Family(
        name="item-difficulty",
        priors=ItemDifficultyPriors,
        build=item_difficulty,
        start=item_difficulty_start,
        summary="item difficulty (logistic random effects): an item effect shared by all its labels",
        item_probabilities=_item_probabilities,
        item_loglik=_item_loglik,
        loo_loglik=_integrated_loglik,
        replicate=_replicate,
        unseen_annotator=lambda draws: draws("population_confusion"),
        shape=lambda ann: (ann.n_annotators, ann.n_classes, ann.n_items),
        data=table_data,
        numba_faster=True,
        nuts_model=pseudo_prior_model,
    )
)
