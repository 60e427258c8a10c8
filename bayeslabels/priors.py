"""The priors of each model family: frozen dataclasses, validated, with the concentration
arrays the models and EM read. Light (NumPy only): EM and the model families both use them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .errors import SpecError


def _check_numbers(priors: Any, at_least: dict[str, float]) -> None:
    """Every field a finite number, and each named one ≥ its bound."""
    for f in fields(priors):
        value = getattr(priors, f.name)
        if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value):
            raise SpecError(f"priors.{f.name} must be a number, got {value!r}")
    for name, bound in at_least.items():
        if getattr(priors, name) < bound:
            raise SpecError(f"priors.{name} must be ≥ {bound}, got {getattr(priors, name)}")


class AnnotatorLogitPriors:
    """What the logit-scale annotator families share (`HierarchicalPriors`,
    `ItemDifficultyPriors`): population logits with a diagonal mean, annotator spread,
    prevalence, and the rule that picks centred or non-centred annotator offsets."""

    diag_logit: float
    logit_sd: float
    annotator_scale: float
    prevalence: float
    centred_min_labels_per_class: float
    centred_min_annotators: float

    def prevalence_alpha(self, n_classes: int) -> np.ndarray:
        return np.full(n_classes, float(self.prevalence))

    def data_choices(self, labels_per_annotator: np.ndarray, n_items: int, n_classes: int) -> tuple:
        """The model's structural choices these priors make from the data (part of a compiled
        model's shape key): here whether the offsets are centred."""
        return (self.centred(labels_per_annotator, n_classes),)

    def centred(self, labels_per_annotator: np.ndarray, n_classes: int) -> bool:
        """Whether annotator offsets are sampled centred for data with these label counts."""
        return (
            float(np.median(labels_per_annotator)) / n_classes >= self.centred_min_labels_per_class
            and len(labels_per_annotator) >= self.centred_min_annotators
        )

    @property
    def symmetric(self) -> bool:
        """No preference for the diagonal: classes are exchangeable a priori."""
        return self.diag_logit == 0


@dataclass(frozen=True)
class HierarchicalPriors(AnnotatorLogitPriors):
    """Priors of hierarchical Dawid–Skene (logit-scale confusion rows with shrinkage).

    ``π_jk = softmax(μ_k + σ_k · η_jk)``, ``η ~ N(0, 1)``; population logits
    ``μ_kl ~ N(diag_logit · [k = l], logit_sd)``, scales ``σ_k ~ HalfNormal(annotator_scale)``.
    With subtypes s: ``μ_sk = μ_k + τ_k · δ_sk`` (``τ_k ~ HalfNormal(subtype_scale)``) and an
    annotator × subtype deviation ``υ_k · ε_jsk`` (``υ_k ~ HalfNormal(interaction_scale)``).
    Prevalence: symmetric ``Dirichlet(prevalence)``.

    Geometry: when the median annotator has at least ``centred_min_labels_per_class`` labels
    per class (n_j / K) and there are at least ``centred_min_annotators`` annotators, the
    annotator offsets ``σ_k η_jk`` are sampled *centred* (``ZeroSumNormal(σ_k)`` directly),
    otherwise non-centred (``η ~ N(0, 1)``). Data-rich annotators pin their offsets down, and a
    non-centred η then trades against σ; thinner rows, or too few annotators to pin σ down,
    leave the funnel that non-centring avoids (the bounds were chosen on the bundled data sets,
    benchmarks/convergence.py). Both bounds 0: always centred; a huge number: never. The model
    is the same either way.

    Parameters
    ----------
    diag_logit : float, default 2.0
        Prior mean of the population logits on the diagonal (0 off it).
    logit_sd : float, default 1.5
        Prior sd of the population logits.
    annotator_scale : float, default 1.0
        Scale of the HalfNormal on the annotator spread σ_k.
    subtype_scale : float, default 0.5
        Scale of the HalfNormal on the subtype spread τ_k.
    interaction_scale : float, default 0.5
        Scale of the HalfNormal on the annotator × subtype spread υ_k.
    prevalence : float, default 2.0
        Symmetric Dirichlet concentration of the prevalence (≥ 1).
    centred_min_labels_per_class : float, default 15.0
        Median labels per class per annotator from which offsets are sampled centred.
    centred_min_annotators : float, default 30.0
        Fewest annotators for centred sampling.

    Raises
    ------
    SpecError
        If a value is not a finite number or is below its bound.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> priors = bl.HierarchicalPriors(annotator_scale=0.5)
    >>> spec = bl.ModelSpec(model="hierarchical", priors=priors)
    >>> spec.priors.annotator_scale
    0.5
    >>> fit = bl.fit(bl.datasets.load("rte"), model=spec)  # doctest: +SKIP
    """

    diag_logit: float = 2.0
    logit_sd: float = 1.5
    annotator_scale: float = 1.0
    subtype_scale: float = 0.5
    interaction_scale: float = 0.5
    prevalence: float = 2.0
    centred_min_labels_per_class: float = 15.0
    centred_min_annotators: float = 30.0

    def __post_init__(self) -> None:
        _check_numbers(
            self,
            {
                "logit_sd": 1e-6,
                "annotator_scale": 1e-6,
                "subtype_scale": 1e-6,
                "interaction_scale": 1e-6,
                "prevalence": 1.0,
                "centred_min_labels_per_class": 0.0,
                "centred_min_annotators": 0.0,
            },
        )


@dataclass(frozen=True)
class ItemDifficultyPriors(AnnotatorLogitPriors):
    """Priors of the item-difficulty model (logistic random effects, Paun et al. 2018).

    Annotator logits as `HierarchicalPriors`: ``β_jk = μ_k + σ_k · η_jk`` with population
    logits ``μ_kl ~ N(diag_logit · [k = l], logit_sd)`` and ``σ_k ~ HalfNormal(annotator_scale)``;
    item i's effect under true class k is ``χ_k · θ_i``, ``θ_i ~ ZeroSumNormal(1)`` over labels,
    ``χ_k ~ HalfNormal(difficulty_scale)``. Prevalence: symmetric ``Dirichlet(prevalence)``.
    The centred / non-centred rule for the annotator offsets is `HierarchicalPriors`'.

    Parameters
    ----------
    diag_logit : float, default 2.0
        Prior mean of the population logits on the diagonal (0 off it): favours the
        diagonal, which tells the classes apart.
    logit_sd : float, default 1.0
        Prior sd of the population logits: tighter than `HierarchicalPriors`' 1.5, since the
        item effects can explain labels that the population confusion does not, which on
        small data (anesthesia, 45 items) made the copy with two neighbouring classes swapped
        nearly as likely, and chains switched inside.
    annotator_scale : float, default 1.0
        Scale of the HalfNormal on the annotator spread σ_k.
    difficulty_scale : float, default 1.0
        Scale of the HalfNormal on the item-effect spread χ_k.
    prevalence : float, default 2.0
        Symmetric Dirichlet concentration of the prevalence (≥ 1).
    centred_min_labels_per_class : float, default 15.0
        Median labels per class per annotator from which annotator offsets are sampled centred.
    centred_min_annotators : float, default 30.0
        Fewest annotators for centred sampling.

    Raises
    ------
    SpecError
        If a value is not a finite number or is below its bound.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> spec = bl.ModelSpec(model="item-difficulty", priors=bl.ItemDifficultyPriors(difficulty_scale=0.5))
    >>> spec.priors.difficulty_scale
    0.5
    """

    diag_logit: float = 2.0
    logit_sd: float = 1.0
    annotator_scale: float = 1.0
    difficulty_scale: float = 1.0
    prevalence: float = 2.0
    centred_min_labels_per_class: float = 15.0
    centred_min_annotators: float = 30.0

    def __post_init__(self) -> None:
        _check_numbers(
            self,
            {
                "logit_sd": 1e-6,
                "annotator_scale": 1e-6,
                "difficulty_scale": 1e-6,
                "prevalence": 1.0,
                "centred_min_labels_per_class": 0.0,
                "centred_min_annotators": 0.0,
            },
        )


@dataclass(frozen=True)
class BetaBernoulliPriors:
    """Priors of the Beta–Bernoulli item-ambiguity model (binary labels).

    Item rates ``θ_i ~ Beta(α, β)`` with ``α = m κ``, ``β = (1 − m) κ``; mean
    ``m ~ Beta(mean_a, mean_b)`` and concentration ``κ ~ Gamma(concentration_shape,
    concentration_rate)`` (mean shape / rate).

    Parameters
    ----------
    mean_a, mean_b : float, default 2.0
        The Beta prior of the mean rate m.
    concentration_shape : float, default 2.0
        Shape of the Gamma prior of κ.
    concentration_rate : float, default 0.2
        Rate of the Gamma prior of κ.

    Raises
    ------
    SpecError
        If a value is not a finite positive number.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> spec = bl.ModelSpec(model="beta-bernoulli", priors=bl.BetaBernoulliPriors(concentration_rate=0.1))
    >>> spec.priors
    BetaBernoulliPriors(mean_a=2.0, mean_b=2.0, concentration_shape=2.0, concentration_rate=0.1)
    """

    mean_a: float = 2.0
    mean_b: float = 2.0
    concentration_shape: float = 2.0
    concentration_rate: float = 0.2

    def __post_init__(self) -> None:
        _check_numbers(
            self, {"mean_a": 1e-6, "mean_b": 1e-6, "concentration_shape": 1e-6, "concentration_rate": 1e-6}
        )


@dataclass(frozen=True)
class DawidSkenePriors:
    """Dirichlet priors of (one-coin or class-conditional) Dawid–Skene.

    Confusion row k of every annotator: ``Dirichlet(α_k·)`` with ``α_kl = confusion_off``
    for l ≠ k and ``α_kk = confusion_off + confusion_diag_per_class · K`` — the diagonal is
    favoured more strongly as K grows, so the prior accuracy stays well above chance (1/K).
    Prevalence: symmetric ``Dirichlet(prevalence)``. The same class is EM's smoothing
    (`em_smoothing`, the ``[em]`` table of a spec).

    Parameters
    ----------
    confusion_off : float, default 1.5
        Off-diagonal concentration (≥ 1).
    confusion_diag_per_class : float, default 1.0
        Extra diagonal concentration per class (≥ 0).
    prevalence : float, default 2.0
        Symmetric Dirichlet concentration of the prevalence (≥ 1).

    Raises
    ------
    SpecError
        If ``confusion_off`` or ``prevalence`` is below 1, or ``confusion_diag_per_class``
        below 0.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> bl.DawidSkenePriors().confusion_alpha(2)
    array([[3.5, 1.5],
           [1.5, 3.5]])
    >>> em = bl.dawid_skene_em(bl.datasets.load("bluebirds"), priors=bl.DawidSkenePriors.em_smoothing())
    """

    confusion_off: float = 1.5
    confusion_diag_per_class: float = 1.0
    prevalence: float = 2.0

    def __post_init__(self) -> None:
        _check_numbers(self, {})
        if self.confusion_off < 1 or self.prevalence < 1:
            raise SpecError(
                "priors.confusion_off and priors.prevalence must be ≥ 1 (concentrations below 1 "
                f"put the mode on the simplex edge); got {self.confusion_off}, {self.prevalence}"
            )
        if self.confusion_diag_per_class < 0:
            raise SpecError("priors.confusion_diag_per_class must be ≥ 0")

    @classmethod
    def em_smoothing(cls) -> DawidSkenePriors:
        """EM's default smoothing: a lighter diagonal preference (0.15 per class), tuned for
        point accuracy on the bundled gold sets. The Bayesian default (1.0 per class) is
        stronger because a full posterior must keep classes from swapping or collapsing:
        with 0.15, NUTS on music_genre (K = 10) swapped 'metal' and 'rock' in every chain."""
        return cls(confusion_off=1.5, confusion_diag_per_class=0.15, prevalence=2.0)

    @property
    def symmetric(self) -> bool:
        """No preference for the diagonal: classes are exchangeable a priori."""
        return self.confusion_diag_per_class == 0

    def confusion_alpha(self, n_classes: int) -> np.ndarray:
        """K × K concentration matrix (row = true class)."""
        alpha = np.full((n_classes, n_classes), float(self.confusion_off))
        np.fill_diagonal(alpha, self.confusion_off + self.confusion_diag_per_class * n_classes)
        return alpha

    def prevalence_alpha(self, n_classes: int) -> np.ndarray:
        return np.full(n_classes, float(self.prevalence))


@dataclass(frozen=True)
class MacePriors:
    """Priors of MACE (Hovy et al. 2013): per-annotator reliability and spam distribution.

    Annotator j is reliable (labels the true class) with probability ``θ_j ~ Beta(a, b)``,
    and otherwise labels from its spam distribution ``ξ_j ~ Dirichlet(spam_concentration · 1)``
    (over K classes, whatever the truth). Prevalence: symmetric ``Dirichlet(prevalence)``.

    The default ``Beta(2, 1)`` (prior mean 2/3, density 0 at θ = 0) favours reliability, which
    is what breaks the symmetry between the labels' meaning and its permutations: with
    ``a ≤ b`` an all-spam explanation of the labels is as plausible a priori. Hovy et al.
    used ``Beta(0.5, 0.5)`` with ``Dirichlet(10)`` in variational Bayes; the flat
    ``Dirichlet(1)`` here keeps the posterior mode in the interior for every K.

    Parameters
    ----------
    reliability_a, reliability_b : float, default 2.0, 1.0
        The Beta prior of each annotator's reliability θ_j (both > 0).
    spam_concentration : float, default 1.0
        Symmetric Dirichlet concentration of each annotator's spam distribution ξ_j (> 0).
    prevalence : float, default 2.0
        Symmetric Dirichlet concentration of the prevalence (≥ 1).

    Raises
    ------
    SpecError
        If a value is not a finite number or is below its bound.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> spec = bl.ModelSpec(model="mace", priors=bl.MacePriors(spam_concentration=10.0))
    >>> spec.priors
    MacePriors(reliability_a=2.0, reliability_b=1.0, spam_concentration=10.0, prevalence=2.0)
    """

    reliability_a: float = 2.0
    reliability_b: float = 1.0
    spam_concentration: float = 1.0
    prevalence: float = 2.0

    def __post_init__(self) -> None:
        _check_numbers(
            self,
            {"reliability_a": 1e-6, "reliability_b": 1e-6, "spam_concentration": 1e-6, "prevalence": 1.0},
        )

    def prevalence_alpha(self, n_classes: int) -> np.ndarray:
        return np.full(n_classes, float(self.prevalence))

    def spam_alpha(self, n_classes: int) -> np.ndarray:
        return np.full(n_classes, float(self.spam_concentration))


@dataclass(frozen=True)
class AmbiguityPriors:
    """Priors of the intrinsic-ambiguity model (any K ≥ 2): a class distribution per item,
    read through annotator confusion matrices.

    Item class distributions are logistic-normal, non-centred: ``θ_i = softmax(μ + σ ζ_i)``
    with ``ζ_i ~ ZeroSumNormal(1)`` over classes, population centre logits ``μ ~
    ZeroSumNormal(centre_sd)`` and spread ``σ ~ HalfNormal(spread_scale)`` (a large σ puts
    most items near a corner, clear, and leaves room for ambiguous ones between). Confusion
    rows as `DawidSkenePriors`: ``Dirichlet(α_k·)`` with ``α_kl = confusion_off`` off the
    diagonal and ``α_kk = confusion_off + confusion_diag_per_class · K``. The diagonal
    preference is what breaks the joint relabelling of θ and π, and keeps the weakly
    identified split between item ambiguity and annotator noise near "annotators mostly
    right".

    Parameters
    ----------
    confusion_off : float, default 1.5
        Off-diagonal concentration of the confusion rows (≥ 1).
    confusion_diag_per_class : float, default 1.0
        Extra diagonal concentration per class (≥ 0).
    centre_sd : float, default 1.5
        Prior sd of the population centre logits μ.
    spread_scale : float, default 3.0
        Scale of the HalfNormal prior of the spread σ of item logits around μ.

    Raises
    ------
    SpecError
        If a value is not a finite number or is below its bound.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> bl.AmbiguityPriors().confusion_alpha(2)
    array([[3.5, 1.5],
           [1.5, 3.5]])
    >>> spec = bl.ModelSpec(model="ambiguity", priors=bl.AmbiguityPriors(spread_scale=2.0))
    >>> spec.priors.spread_scale
    2.0
    """

    confusion_off: float = 1.5
    confusion_diag_per_class: float = 1.0
    centre_sd: float = 1.5
    spread_scale: float = 3.0

    def __post_init__(self) -> None:
        _check_numbers(
            self,
            {"confusion_off": 1.0, "confusion_diag_per_class": 0.0, "centre_sd": 1e-6, "spread_scale": 1e-6},
        )

    @property
    def symmetric(self) -> bool:
        """No preference for the diagonal: classes are exchangeable a priori."""
        return self.confusion_diag_per_class == 0

    def confusion_alpha(self, n_classes: int) -> np.ndarray:
        """K × K concentration matrix (row = true class), as `DawidSkenePriors.confusion_alpha`."""
        return DawidSkenePriors(self.confusion_off, self.confusion_diag_per_class).confusion_alpha(n_classes)


@dataclass(frozen=True)
class LearningFromCrowdsPriors:
    """Priors of learning from crowds (Raykar et al. 2010): a Bayesian multinomial logistic
    regression for each item's class, read through Dawid–Skene confusion matrices.

    Item i's class prior is ``softmax(x_i W + b)`` with standardised features x_i. Weights
    ``W ~ ZeroSumNormal(s)`` and intercepts ``b ~ ZeroSumNormal(intercept_sd)``, zero-sum over
    classes (softmax ignores a shift shared by the classes, so the sum-to-zero coordinates are
    the identified ones; for K = 2 the log-odds weight is ``2 W[:, 1]``). The scale s is
    ``weight_scale``, or with ``weight_scale_prior > 0`` learned: a global scale
    ``τ ~ HalfNormal(weight_scale_prior)`` shared by all weights (when the features are weak the
    posterior shrinks τ, and the predictions, towards the base rate), non-centred
    ``W = τ · Z, Z ~ ZeroSumNormal(1)``. With ``horseshoe_slab > 0`` as well, each feature f also
    gets its own scale: a regularised horseshoe (Piironen & Vehtari 2017),
    ``W_f· = τ λ̃_f Z_f·``, ``λ_f ~ HalfCauchy(1)``, ``λ̃_f² = c² λ_f² / (c² + τ² λ_f²)``,
    ``c² ~ InverseGamma(2, 2 · horseshoe_slab²)`` (a slab of about ``horseshoe_slab`` for the
    few features that escape the shrinkage), so a handful of strong features can stand out of
    many weak ones. The learned scale suits many weak features fitted by NUTS (on rte's 39 text
    features it gave a lower held-out log-loss than the fixed scale and sampled cleanly;
    benchmarks/results/learning_from_crowds.md); it is not the default because with minibatch
    ADVI it classified simulated items worse than the fixed scale (below 80 % where the fixed
    scale is above), and on simulated data the fixed scale recovered the weights as well with
    fewer sampler warnings.
    Confusion rows as `DawidSkenePriors`: ``Dirichlet(α_k·)``, ``α_kl = confusion_off`` off the
    diagonal and ``α_kk = confusion_off + confusion_diag_per_class · K``.

    Parameters
    ----------
    confusion_off : float, default 1.5
        Off-diagonal concentration of the confusion rows (≥ 1).
    confusion_diag_per_class : float, default 1.0
        Extra diagonal concentration per class (≥ 0).
    weight_scale : float, default 1.0
        Prior sd of the weights (per standardised feature), when not hierarchical (> 0).
    weight_scale_prior : float, default 0.0
        0: the fixed ``weight_scale``; > 0: the scale of the HalfNormal prior of the global
        weight scale τ.
    horseshoe_slab : float, default 0.0
        0: one global scale; > 0 (needs ``weight_scale_prior > 0``): the regularised horseshoe's
        slab scale, per-feature local scales on top of τ.
    intercept_sd : float, default 2.0
        Prior sd of the intercepts (> 0).

    Raises
    ------
    SpecError
        If a value is not a finite number or is below its bound.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> priors = bl.LearningFromCrowdsPriors(weight_scale_prior=1.0)
    >>> spec = bl.ModelSpec(model="learning-from-crowds", priors=priors)
    >>> spec.priors.hierarchical
    True
    """

    confusion_off: float = 1.5
    confusion_diag_per_class: float = 1.0
    weight_scale: float = 1.0
    weight_scale_prior: float = 0.0
    horseshoe_slab: float = 0.0
    intercept_sd: float = 2.0

    def __post_init__(self) -> None:
        _check_numbers(
            self,
            {
                "confusion_off": 1.0,
                "confusion_diag_per_class": 0.0,
                "weight_scale": 1e-6,
                "weight_scale_prior": 0.0,
                "horseshoe_slab": 0.0,
                "intercept_sd": 1e-6,
            },
        )
        if self.horseshoe_slab > 0 and not self.hierarchical:
            raise SpecError(
                "priors.horseshoe_slab > 0 needs a learned global scale: set priors.weight_scale_prior > 0 "
                "too (e.g. 1.0)"
            )

    @property
    def hierarchical(self) -> bool:
        """Whether the weight scale is itself given a prior."""
        return self.weight_scale_prior > 0

    @property
    def horseshoe(self) -> bool:
        """Whether each feature has its own (regularised horseshoe) scale."""
        return self.horseshoe_slab > 0

    @property
    def symmetric(self) -> bool:
        """No preference for the diagonal: classes are exchangeable a priori."""
        return self.confusion_diag_per_class == 0

    def confusion_alpha(self, n_classes: int) -> np.ndarray:
        """K × K concentration matrix (row = true class), as `DawidSkenePriors.confusion_alpha`."""
        return DawidSkenePriors(self.confusion_off, self.confusion_diag_per_class).confusion_alpha(n_classes)


@dataclass(frozen=True)
class OrdinalPriors:
    """Priors of the ordinal model (ordered logit): per-annotator bias and noise on a latent
    scale cut into the ordered classes by shared cut-points.

    Annotator j perceives an item of true class k (position 0 … K−1) at ``k + b_j + σ_j ε``,
    ε standard logistic, and says class l when that score falls between the cut-points
    ``c_l`` and ``c_{l+1}``. Hierarchical, non-centred: ``b_j = μ_b + τ_b η_j`` with
    ``μ_b ~ N(0, bias_mean_sd)``, ``τ_b ~ HalfNormal(bias_scale)``; ``log σ_j = μ_σ + τ_σ ζ_j``
    with ``μ_σ ~ N(log_noise_mean, log_noise_sd)``, ``τ_σ ~ HalfNormal(noise_scale)``; η, ζ
    standard normal. Cut-points (K − 1 of them, the l-th from 0 between classes l and l + 1):
    ordered, ``c_l ~ N(l + 0.5, cutpoint_sd)``, re-centred so their mean stays at the middle of
    the scale (the bias carries the location). True class k sits at position ``m_k`` on the
    latent scale and is perceived with a noise multiplier ``s_k`` (the score above is
    ``m_k + b_j + σ_j s_k ε``): ``m_0 = 0`` and ``m_{K−1} = K − 1`` fixed, the gaps between
    neighbours ``(K − 1) · Dirichlet(class_spacing)``, so the interior classes may sit closer
    to one neighbour than the other; ``log s_k ~ ZeroSumNormal(class_noise_sd)``. Per subtype
    s (model ``ordinal-subtype``): a shift ``δ_s ~ N(0, subtype_scale)`` of the latent score.
    Prevalence: symmetric ``Dirichlet(prevalence)``.

    Parameters
    ----------
    bias_mean_sd : float, default 0.25
        Prior sd of the population bias μ_b (in classes). Without gold, a shift of every
        annotator by a whole class together with the truth is told apart only at the ends of
        the scale: a tight μ_b keeps the population on the scale (harsh and lenient are then
        relative to the population), and gold, where given, still moves it.
    bias_scale : float, default 0.5
        Scale of the HalfNormal on the spread τ_b of annotator biases.
    log_noise_mean : float, default -0.7
        Prior mean of μ_σ, the population log noise scale (σ ≈ 0.5: a typical annotator is
        one class off about one label in ten).
    log_noise_sd : float, default 1.0
        Prior sd of μ_σ.
    noise_scale : float, default 0.5
        Scale of the HalfNormal on the spread τ_σ of annotator log noise scales.
    cutpoint_sd : float, default 0.5
        Prior sd of each cut-point around ``l + 0.5``.
    subtype_scale : float, default 0.5
        Prior sd of the per-subtype shifts (model ``ordinal-subtype``).
    prevalence : float, default 2.0
        Symmetric Dirichlet concentration of the prevalence (≥ 1).
    class_spacing : float, default 5.0
        Symmetric Dirichlet concentration of the gaps between the true classes' positions
        (K − 2 free parameters for the whole table; K ≥ 3). 5 keeps each gap within about
        ±0.35 classes of equal spacing a priori; larger is closer to equal; 0 fixes the
        positions at ``0 … K − 1`` (the equally spaced model).
    class_noise_sd : float, default 0.5
        Prior sd of the log noise multipliers of the true classes (summing to zero: K − 1
        free parameters for the whole table); 0 fixes them at 1 (every class equally noisy).
        With ``class_spacing`` they raise adult_content's label log-likelihood at the mode by
        294 nats for 5 parameters (no gold used).
    class_shape_min_items : float, default 200.0
        The class positions and noise multipliers are free only on a table of at least this
        many items (`frees_class_shape`); on fewer, the classic model. On Dawid & Skene's 45
        patients their 5 parameters stay at the prior and trade against the annotators'
        bias and noise: 13 divergent NUTS transitions at the defaults, none without them.

    Raises
    ------
    SpecError
        If a value is not a finite number or is below its bound.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> spec = bl.ModelSpec(model="ordinal", priors=bl.OrdinalPriors(bias_scale=0.3))
    >>> spec.priors.bias_scale
    0.3
    >>> bl.OrdinalPriors().default_cutpoints(4)
    array([0.5, 1.5, 2.5])
    """

    bias_mean_sd: float = 0.25
    bias_scale: float = 0.5
    log_noise_mean: float = -0.7
    log_noise_sd: float = 1.0
    noise_scale: float = 0.5
    cutpoint_sd: float = 0.5
    subtype_scale: float = 0.5
    prevalence: float = 2.0
    class_spacing: float = 5.0
    class_noise_sd: float = 0.5
    class_shape_min_items: float = 200.0

    def __post_init__(self) -> None:
        _check_numbers(
            self,
            {
                "class_shape_min_items": 0.0,
                "bias_mean_sd": 1e-6,
                "bias_scale": 1e-6,
                "log_noise_sd": 1e-6,
                "noise_scale": 1e-6,
                "cutpoint_sd": 1e-6,
                "subtype_scale": 1e-6,
                "prevalence": 1.0,
                "class_spacing": 0.0,
                "class_noise_sd": 0.0,
            },
        )

    def prevalence_alpha(self, n_classes: int) -> np.ndarray:
        return np.full(n_classes, float(self.prevalence))

    def frees_class_shape(self, n_items: int, n_classes: int) -> tuple[bool, bool]:
        """Whether the class positions and the class noise multipliers are free parameters:
        their priors allow it (> 0; positions need an interior class, K ≥ 3) and the table
        has at least ``class_shape_min_items`` items."""
        enough = n_items >= self.class_shape_min_items
        return enough and n_classes >= 3 and self.class_spacing > 0, enough and self.class_noise_sd > 0

    def data_choices(self, labels_per_annotator: np.ndarray, n_items: int, n_classes: int) -> tuple:
        """The structural choices these priors make from the data (part of a compiled model's
        shape key): whether the class shape is free."""
        return self.frees_class_shape(n_items, n_classes)

    @staticmethod
    def default_cutpoints(n_classes: int) -> np.ndarray:
        """The cut-points' prior means: halfway between neighbouring classes, ``l + 0.5``."""
        return np.arange(n_classes - 1) + 0.5


Priors = (
    DawidSkenePriors
    | HierarchicalPriors
    | BetaBernoulliPriors
    | MacePriors
    | AmbiguityPriors
    | ItemDifficultyPriors
    | LearningFromCrowdsPriors
    | OrdinalPriors
)
