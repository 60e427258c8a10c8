r"""The ordinal model: ordered classes (a rating scale), annotators with a bias and a noise.

Plate diagram (ordered logit, non-centred)::

    ρ ~ Dirichlet(α^ρ)                                  prevalence[true_class]
    b_j = μ_b + τ_b η_j,          η ~ ZeroSumNormal(1)  bias[annotator]
    log σ_j = μ_σ + τ_σ ζ_j,      ζ ~ ZeroSumNormal(1)  noise[annotator]
    c_1 < … < c_{K−1},  c_l ~ N(l − 0.5, s_c), ordered  cutpoints[cutpoint] (mean re-centred)
    g ~ Dirichlet(a_g 1_{K−1}),   m_k = (K − 1)(g_1 + … + g_k)  class_position[true_class]
    γ ~ ZeroSumNormal(s_γ),       s_k = exp(γ_k)        class_noise[true_class]
    π_jkl = F((c_{l+1} − m_k − b_j)/(σ_j s_k)) − F((c_l − m_k − b_j)/(σ_j s_k))
                                                        confusion[annotator, true_class, label_class]
    z_i ~ Categorical(ρ)                                (summed out, `_likelihood`)
    y_r ~ Categorical(π_{j_r, z_{i_r}})                 one per label row r

with ``c_0 = −∞``, ``c_K = +∞`` and F the logistic CDF (ordered *logit*: cheap, with stable
log-differences; σ_j is the logistic scale, sd σ_j π/√3). Annotator j perceives an item of
true class k at the latent score ``m_k + b_j + σ_j s_k ε`` and says the class whose cut-point
interval holds it. So each annotator's K × K confusion matrix has two parameters and is
banded: an off-by-one label is far more likely than an off-by-three. **Bias** ``b_j`` is in
classes: ``b_j < 0`` a *harsh* annotator (rates lower than the truth), ``b_j > 0`` a
*lenient* one; **noise** σ_j how far their score wanders.

**Class positions** ``m_k`` and **class noise** ``s_k``: where the true classes sit on the
latent scale and how widely items of each class are perceived, shared by every annotator
(items within a class differ: a borderline R is read as P or X more often than a clear G is
read as anything else). The end positions are fixed (``m_0 = 0``, ``m_{K−1} = K − 1``, the
scale's unit); the interior ones are free, their gaps a Dirichlet around equal spacing
(concentration ``OrdinalPriors.class_spacing``; 0 fixes ``m_k = k``). ``log s_k`` sums to
zero over classes (σ_j stays the annotator's typical noise), sd ``OrdinalPriors.class_noise_sd``
(0 fixes ``s_k = 1``). Both at 0 give the classic equally spaced, homoscedastic model, and
so does a table of fewer than ``OrdinalPriors.class_shape_min_items`` items (200), where the
shape stays at its prior and only trades against the annotators. That is
2K − 3 parameters for the whole table, none per annotator: each annotator's confusion keeps
its two. On adult_content (92,721 labels, no gold) they raise the labels' log-likelihood at
the posterior mode by 294 nats for 5 parameters (positions alone 117, noise alone 187).

Identification: shifting every cut-point and every bias by the same amount leaves π unchanged,
so the cut-points are re-centred (their mean is fixed at the middle of the scale, ``(K − 1)/2``,
where the default ``l − 0.5`` puts it) and the bias carries the location: ``b_j`` is measured
against the scale, and μ_b is the population's shift; the fixed end positions fix the scale's
unit. The annotators' offsets η and ζ sum to zero (zero-sum normal over annotators), so μ_b
*is* the annotators' mean bias and μ_σ their mean log noise: with i.i.d. normal offsets the
labels pin every b_j, and μ_b could move only with all 825 offsets of adult_content at once
(bulk ESS 30–70 at μ_b, R-hat 1.09 at 2 × 500 draws; zero-sum: ESS 130, with the steady start
below). Unequal gaps between cut-points (a narrow middle class) stay free. A shift of every
annotator by a whole class together with the truth is broken only at the ends of the scale
and by the prior of μ_b (gold anchors it).

The confusion matrices go into the shared marginal likelihood (`_likelihood.observe_labels`):
everything per item (soft labels, LOO, predictive checks, `predict`) is the confusion-matrix
families' code. ``ordinal-subtype`` adds a shift per subtype, ``δ_s`` (summing to zero over
subtypes), to the latent score: the confusion of (annotator j, subtype s) uses ``b_j + δ_s``,
one matrix per observed cell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, overload

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.transforms import ordered

from ..data import Annotations
from ..priors import OrdinalPriors
from . import family, register
from ._family import Draws, Family, confusion_reliability
from ._likelihood import _is_symbolic, observe_labels, observed_cells
from .dawid_skene import coords, prevalence_start

if TYPE_CHECKING:
    from pytensor.tensor import TensorVariable

    from ..aggregate import EMResult

ROW = ("true_class", "label_class")


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 − exp(x))`` for x ≤ 0, accurate at both ends."""
    with np.errstate(divide="ignore"):
        return np.where(x < -np.log(2), np.log1p(-np.exp(x)), np.log(-np.expm1(x)))


@overload
def ordinal_log_confusion(
    bias: np.ndarray,
    noise: np.ndarray,
    cutpoints: np.ndarray,
    k: int,
    positions: np.ndarray | None = None,
    class_noise: np.ndarray | None = None,
) -> np.ndarray: ...


@overload
def ordinal_log_confusion(
    bias: TensorVariable,
    noise: TensorVariable,
    cutpoints: TensorVariable,
    k: int,
    positions: TensorVariable | np.ndarray | None = None,
    class_noise: TensorVariable | np.ndarray | None = None,
) -> TensorVariable: ...


def ordinal_log_confusion(
    bias: Any, noise: Any, cutpoints: Any, k: int, positions: Any = None, class_noise: Any = None
) -> Any:
    """``log π[..., k, l]`` of the ordered logit, NumPy or PyTensor: (..., K, K) from bias and
    noise (...,), cut-points (..., K − 1), the true classes' positions (..., K; default
    ``0 … K − 1``) and noise multipliers (..., K; default 1) broadcastable against them.

    ``π_kl = F(u_l) − F(u_{l−1})`` with ``u_l = (c_l − m_k − b)/(σ s_k)`` (``u_{−1} = −∞``,
    ``u_{K−1} = +∞``) is computed on the log scale as ``log F(u_l) + log(1 − F(u_{l−1})/F(u_l))``
    (first column ``log F(u_0)``, last ``log(1 − F(u_{K−2}))``), which stays finite far off
    the diagonal."""
    if any(x is not None and _is_symbolic(x) for x in (bias, noise, cutpoints, positions, class_noise)):
        log_cdf = lambda x: -pt.softplus(-x)  # noqa: E731
        log1mexp, concatenate = pt.log1mexp, pt.concatenate
    else:
        log_cdf = lambda x: -np.logaddexp(0.0, -x)  # noqa: E731
        log1mexp, concatenate = _log1mexp, np.concatenate
    if positions is None:
        positions = np.arange(k, dtype=float)
    if class_noise is None:
        class_noise = np.ones(k)
    scale = noise[..., None, None] * class_noise[..., :, None]
    u = (cutpoints[..., None, :] - positions[..., :, None] - bias[..., None, None]) / scale
    below = log_cdf(u)  # ..., K, K−1: log P(score < c_l)
    first = below[..., :1]
    middle = below[..., 1:] + log1mexp(below[..., :-1] - below[..., 1:])
    last = log_cdf(-u[..., -1:])
    return concatenate([first, middle, last], axis=-1)


def _ordinal_coords(ann: Annotations) -> dict[str, list[str]]:
    classes = [str(c) for c in ann.classes]
    pairs = list(zip(classes[:-1], classes[1:], strict=True))
    return {
        **coords(ann),
        "cutpoint": [f"{a}|{b}" for a, b in pairs],
        "class_gap": [f"{a}-{b}" for a, b in pairs],
    }


def _class_noise(k: int, priors: OrdinalPriors, free: bool) -> TensorVariable:
    """``s_k = exp(γ_k)``, γ zero-sum normal (all ones unless ``free``)."""
    if not free:
        return pm.Deterministic("class_noise", pt.ones(k, dtype="float64"), dims="true_class")
    log_scale = pm.ZeroSumNormal("class_log_noise", sigma=priors.class_noise_sd, dims="true_class")
    return pm.Deterministic("class_noise", pt.exp(log_scale), dims="true_class")


def _class_positions(k: int, priors: OrdinalPriors, free: bool) -> TensorVariable:
    """``m_k``: ends fixed at 0 and K − 1, interior gaps ``(K − 1) · Dirichlet(a_g)`` (equally
    spaced unless ``free``)."""
    if not free:
        return pm.Deterministic("class_position", pt.arange(k, dtype="float64"), dims="true_class")
    gaps = pm.Dirichlet("class_gaps", a=np.full(k - 1, float(priors.class_spacing)), dims="class_gap")
    positions = pt.concatenate([pt.zeros(1), pt.cumsum(gaps)[:-1] * (k - 1), pt.as_tensor([k - 1.0])])
    return pm.Deterministic("class_position", positions, dims="true_class")


def _annotators(ann: Annotations, priors: OrdinalPriors) -> tuple[TensorVariable, ...]:
    """Prevalence, annotator bias and noise (non-centred hierarchies), the re-centred ordered
    cut-points, and the class positions and noise multipliers of the current model."""
    k = ann.n_classes
    prevalence = pm.Dirichlet("prevalence", a=priors.prevalence_alpha(k), dims="true_class")
    mu_bias = pm.Normal("mu_bias", 0.0, priors.bias_mean_sd)
    bias_scale = pm.HalfNormal("bias_scale", priors.bias_scale)
    bias_offset = pm.ZeroSumNormal("bias_offset", sigma=1.0, dims="annotator")
    bias = pm.Deterministic("bias", mu_bias + bias_scale * bias_offset, dims="annotator")
    mu_log_noise = pm.Normal("mu_log_noise", priors.log_noise_mean, priors.log_noise_sd)
    noise_scale = pm.HalfNormal("noise_scale", priors.noise_scale)
    noise_offset = pm.ZeroSumNormal("noise_offset", sigma=1.0, dims="annotator")
    noise = pm.Deterministic("noise", pt.exp(mu_log_noise + noise_scale * noise_offset), dims="annotator")
    default = priors.default_cutpoints(k)
    # no initval (graph rewrites refuse one): PyMC starts a Normal at its mean, here ordered
    raw = pm.Normal("cutpoints_raw", default, priors.cutpoint_sd, dims="cutpoint", transform=ordered)
    # sorted: the identity on the (ordered) posterior, and ordered forward draws (prior predictive)
    cutpoints = pm.Deterministic("cutpoints", pt.sort(raw) - raw.mean() + default.mean(), dims="cutpoint")
    free_positions, free_noise = priors.frees_class_shape(ann.n_items, k)
    scale = (_class_positions(k, priors, free_positions), _class_noise(k, priors, free_noise))
    pm.Deterministic(
        "population_confusion",
        pt.exp(ordinal_log_confusion(mu_bias, pt.exp(mu_log_noise), cutpoints, k, *scale)),
        dims=ROW,
    )
    return prevalence, bias, noise, cutpoints, *scale


def ordinal(ann: Annotations, priors: OrdinalPriors | None = None, minibatch_items: int = 0) -> pm.Model:
    """Ordered-logit annotators: each with a bias and a noise, cut-points shared."""
    priors = priors or OrdinalPriors()
    k = ann.n_classes
    with pm.Model(coords=_ordinal_coords(ann)) as model:
        prevalence, bias, noise, cutpoints, *scale = _annotators(ann, priors)
        log_pi = ordinal_log_confusion(bias, noise, cutpoints, k, *scale)
        pm.Deterministic("confusion", pt.exp(log_pi), dims=("annotator", *ROW))
        observe_labels(ann, log_pi, pt.log(prevalence), minibatch_items=minibatch_items)
    return model


def ordinal_subtype(
    ann: Annotations, priors: OrdinalPriors | None = None, minibatch_items: int = 0
) -> pm.Model:
    """The ordinal model with a shift of the latent score per subtype (summing to zero over
    subtypes), one confusion matrix per observed (annotator, subtype) cell."""
    priors = priors or OrdinalPriors()
    k = ann.n_classes
    _, cell_annotator, cell_subtype = observed_cells(ann)
    cell_names = [
        f"{ann.annotators[a]} / {ann.subtypes[t]}" for a, t in zip(cell_annotator, cell_subtype, strict=True)
    ]
    model_coords = {**_ordinal_coords(ann), "subtype": list(ann.subtypes), "cell": cell_names}
    with pm.Model(coords=model_coords) as model:
        prevalence, bias, noise, cutpoints, *scale = _annotators(ann, priors)
        shift = pm.ZeroSumNormal("subtype_shift", sigma=priors.subtype_scale, dims="subtype")
        annotator = pm.Data("cell_annotator", cell_annotator)
        subtype = pm.Data("cell_subtype", cell_subtype)
        log_pi = ordinal_log_confusion(
            bias[annotator] + shift[subtype], noise[annotator], cutpoints, k, *scale
        )
        pm.Deterministic("cell_confusion", pt.exp(log_pi), dims=("cell", *ROW))
        observe_labels(ann, log_pi, pt.log(prevalence), per_subtype=True, minibatch_items=minibatch_items)
    return model


# ------------------------------------------------------------------ start and draws


def _scale(x: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Centre, spread (kept in [0.1, 1]) and standardised offsets (within ±3, summing to 0) of ``x``."""
    centre = float(x.mean())
    spread = float(np.clip(x.std(), 0.1, 1.0))
    offsets = np.clip((x - centre) / spread, -3, 3)
    return centre, spread, offsets - offsets.mean()


def ordinal_start(em: EMResult, ann: Annotations, priors: OrdinalPriors) -> dict[str, np.ndarray]:
    """Start at the EM confusion's moments: each annotator's bias its mean error ``Σ_k ρ_k
    Σ_l π_jkl (l − k)`` (within ±2 classes) and its noise the logistic scale of the errors'
    spread (``sd · √3/π``, within [0.15, 3]); the cut-points at their prior means (shifted
    together, which the labels do not see), the classes equally spaced and equally noisy."""
    k = ann.n_classes
    rho = np.clip(em.prevalence, 1e-6, None)
    rho = rho / rho.sum()
    error = np.arange(k)[None, :] - np.arange(k)[:, None]  # l − k
    bias = np.clip(np.einsum("k,jkl,kl->j", rho, em.confusion, error), -2, 2)
    spread = np.einsum("k,jkl,jkl->j", rho, em.confusion, (error[None] - bias[:, None, None]) ** 2)
    noise = np.clip(np.sqrt(spread) * np.sqrt(3) / np.pi, 0.15, 3.0)
    mu_bias, bias_scale, bias_offset = _scale(bias)
    mu_log_noise, noise_scale, noise_offset = _scale(np.log(noise))
    free_positions, free_noise = priors.frees_class_shape(ann.n_items, k)
    positions = {"class_gaps": np.full(k - 1, 1.0 / (k - 1))} if free_positions else {}
    class_noise = {"class_log_noise": np.zeros(k)} if free_noise else {}
    return {
        **prevalence_start(em),
        **positions,
        **class_noise,
        "mu_bias": np.asarray(mu_bias),
        "bias_scale": np.asarray(bias_scale),
        "bias_offset": bias_offset,
        "mu_log_noise": np.asarray(mu_log_noise),
        "noise_scale": np.asarray(noise_scale),
        "noise_offset": noise_offset,
        # a quarter prior sd above the prior means, in the direction the re-centring hides from
        # the labels: there the gradient is the prior's alone, and zero exactly at the means
        # (nutpie refuses a start with a zero gradient; the direction is steady, not jittered)
        "cutpoints_raw": priors.default_cutpoints(k) + 0.25 * priors.cutpoint_sd,
    }


def ordinal_subtype_start(em: EMResult, ann: Annotations, priors: OrdinalPriors) -> dict[str, np.ndarray]:
    return {**ordinal_start(em, ann, priors), "subtype_shift": np.zeros(len(ann.subtypes))}


def _confusion_from(draws: Draws, bias: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Confusion draws (draws, ..., K, K) for bias and noise draws (draws, ...)."""
    cutpoints = draws("cutpoints")
    shape = (cutpoints.shape[0], *([1] * (bias.ndim - 1)))
    cut, at, wide = (
        draws(name).reshape(*shape, -1) for name in ("cutpoints", "class_position", "class_noise")
    )
    return np.exp(ordinal_log_confusion(bias, noise, cut, cutpoints.shape[-1] + 1, at, wide))


def _dense_subtype_confusion(ann: Annotations, draws: Draws) -> np.ndarray:
    """(draws, annotators, subtypes, K, K): every (annotator, subtype) pair, observed or not."""
    bias = draws("bias")[:, :, None] + draws("subtype_shift")[:, None, :]
    noise = np.broadcast_to(draws("noise")[:, :, None], bias.shape)
    return _confusion_from(draws, bias, noise)


def _population_subtype_confusion(draws: Draws) -> np.ndarray:
    """(draws, subtypes, K, K): the population annotator in each subtype."""
    bias = draws("mu_bias")[:, None] + draws("subtype_shift")
    noise = np.broadcast_to(np.exp(draws("mu_log_noise"))[:, None], bias.shape)
    return _confusion_from(draws, bias, noise)


def bias_noise_draws(ann: Annotations, draws: Draws, confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Per annotator: ``bias`` (classes; < 0 harsh, > 0 lenient), ``noise`` σ_j and the
    confusion's ``accuracy`` (and for K = 2 sensitivity / specificity), each (draws, annotators)."""
    return {
        "bias": draws("bias"),
        "noise": draws("noise"),
        **confusion_reliability(confusion, draws("prevalence")),
    }


STEADY_START = ("prevalence", "mu_bias", "mu_log_noise", "cutpoints_raw", "class_gaps", "class_log_noise")
"""Started at the EM solution in every chain: the scale's shape and the population location.
A U(−1, 1) jitter of one class's log noise multiplies it by e, and on adult_content that sent
a chain into a mode with R and X exchanged; the annotators' offsets and the population's
spreads are still jittered, so chains start apart."""

ORDINAL = register(
    Family(
        name="ordinal",
        priors=OrdinalPriors,
        build=ordinal,
        start=ordinal_start,
        steady_start=STEADY_START,
        summary="ordinal (ordered logit): each annotator a bias and a noise on a shared rating scale",
        ordered_only=True,
        annotator_reliability=lambda ann, draws: bias_noise_draws(ann, draws, draws("confusion")),
        unseen_annotator=lambda draws: draws("population_confusion"),
    )
)
ORDINAL_SUBTYPE = register(
    Family(
        name="ordinal-subtype",
        priors=OrdinalPriors,
        build=ordinal_subtype,
        start=ordinal_subtype_start,
        steady_start=(*STEADY_START, "subtype_shift"),
        summary="ordinal with a shift of the rating scale per subtype",
        cells="annotator-subtype",
        ordered_only=True,
        dense_confusion=_dense_subtype_confusion,
        annotator_reliability=lambda ann, draws: bias_noise_draws(
            ann, draws, family("ordinal-subtype").annotator_confusion(ann, draws)
        ),
        unseen_annotator=_population_subtype_confusion,
    )
)
