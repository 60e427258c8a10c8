"""`ModelSpec`: a model family, its priors and its inference defaults, as TOML.

A shipped configuration lives in ``bayeslabels/specs/<name>.toml`` (``models/`` at the
repository root points there); ``resolve_spec("dawid-skene")`` loads it, and a path to a
user's own TOML file works the same way. A saved fit carries its spec, so any fit can be
reproduced. Example::

    model = "dawid-skene"

    [priors]
    confusion_off = 1.5             # Dirichlet concentration of each off-diagonal cell
    confusion_diag_per_class = 0.15 # diagonal = confusion_off + this × K
    prevalence = 2.0                # symmetric Dirichlet on class prevalence

    [inference]
    method = "nuts"
    draws = 1000
    tune = 1000
    chains = 4
    sampler = "nutpie"
    target_accept = 0.8
    seed = 0
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SpecError

MODELS = ("dawid-skene", "one-coin", "hierarchical", "hierarchical-subtype", "beta-bernoulli")
METHODS = ("nuts", "advi", "fullrank-advi", "map", "em")
SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax")


def _check_numbers(priors: Any, at_least: dict[str, float]) -> None:
    """Every field a finite number, and each named one ≥ its bound."""
    for f in fields(priors):
        value = getattr(priors, f.name)
        if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value):
            raise SpecError(f"priors.{f.name} must be a number, got {value!r}")
    for name, bound in at_least.items():
        if getattr(priors, name) < bound:
            raise SpecError(f"priors.{name} must be ≥ {bound}, got {getattr(priors, name)}")


@dataclass(frozen=True)
class HierarchicalPriors:
    r"""Priors of hierarchical Dawid–Skene (logit-scale confusion rows with shrinkage).

    ``π_jk = softmax(μ_k + σ_k · η_jk)``, ``η ~ N(0, 1)``; population logits
    ``μ_kl ~ N(diag_logit · [k = l], logit_sd)``, scales ``σ_k ~ HalfNormal(annotator_scale)``.
    With subtypes s: ``μ_sk = μ_k + τ_k · δ_sk`` (``τ_k ~ HalfNormal(subtype_scale)``) and an
    annotator × subtype deviation ``υ_k · ε_jsk`` (``υ_k ~ HalfNormal(interaction_scale)``).
    Prevalence: symmetric ``Dirichlet(prevalence)``.

    Geometry: when the median annotator has at least ``centred_min_labels_per_class`` labels
    per class (n_j / K) and there are at least ``centred_min_annotators`` annotators, the
    annotator offsets ``σ_k η_jk`` are sampled *centred* (``ZeroSumNormal(σ_k)`` directly),
    otherwise non-centred (``η ~ N(0, 1)``). Data-rich annotators pin their offsets down, and a
    non-centred η then trades against σ (duchenne, 52 labels per class: R-hat 1.022 → 1.008;
    bluebirds, 54: min ESS 447 → 776); thinner rows, or too few annotators to pin σ down,
    leave the funnel that non-centring avoids (centred: dog, 9.5 per class, R-hat 1.031 and
    BFMI 0.21 at σ; anesthesia's 5 annotators, 74 divergences; 13 simulated annotators, R-hat
    1.08). Both bounds 0: always centred; a huge number: never. The model is the same either way.
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

    def prevalence_alpha(self, n_classes: int) -> np.ndarray:
        return np.full(n_classes, float(self.prevalence))

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
class BetaBernoulliPriors:
    r"""Priors of the Beta–Bernoulli item-ambiguity model (binary labels).

    Item rates ``θ_i ~ Beta(α, β)`` with ``α = m κ``, ``β = (1 − m) κ``; mean
    ``m ~ Beta(mean_a, mean_b)`` and concentration ``κ ~ Gamma(concentration_shape,
    concentration_rate)`` (mean shape / rate).
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
    r"""Dirichlet priors of (one-coin or class-conditional) Dawid–Skene.

    Confusion row k of every annotator: ``Dirichlet(α_k·)`` with ``α_kl = confusion_off``
    for l ≠ k and ``α_kk = confusion_off + confusion_diag_per_class · K`` — the diagonal
    is favoured more strongly as K grows, so the prior accuracy stays well above chance
    (1/K). Prevalence: symmetric ``Dirichlet(prevalence)``.
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
class InferenceSettings:
    method: str = "nuts"
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    sampler: str = "nutpie"
    target_accept: float = 0.8
    seed: int = 0
    advi_iterations: int = 20000
    minibatch_items: int = 0  # ADVI: items per minibatch (all labels of an item together); 0 = all
    max_draws: int = 0  # NUTS: draw again with twice the draws while R-hat/ESS fail, up to this; 0 = off

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SpecError(f"inference.method={self.method!r}: use one of {list(METHODS)}")
        if self.sampler not in SAMPLERS:
            raise SpecError(f"inference.sampler={self.sampler!r}: use one of {list(SAMPLERS)}")
        for name in ("draws", "tune", "chains", "seed", "advi_iterations", "minibatch_items", "max_draws"):
            value = getattr(self, name)
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or value < (1 if name in ("draws", "chains") else 0)
            ):
                raise SpecError(
                    f"inference.{name} must be a non-negative integer (draws, chains ≥ 1), got {value!r}"
                )
        accept = self.target_accept
        if not isinstance(accept, int | float) or isinstance(accept, bool) or not 0 < accept < 1:
            raise SpecError(f"inference.target_accept must be in (0, 1), got {self.target_accept!r}")


Priors = DawidSkenePriors | HierarchicalPriors | BetaBernoulliPriors
PRIORS_OF_MODEL: dict[str, type] = {
    "dawid-skene": DawidSkenePriors,
    "one-coin": DawidSkenePriors,
    "hierarchical": HierarchicalPriors,
    "hierarchical-subtype": HierarchicalPriors,
    "beta-bernoulli": BetaBernoulliPriors,
}


@dataclass(frozen=True)
class ModelSpec:
    """Model family + priors + inference defaults; round-trips through TOML.

    ``priors`` defaults to the family's own priors class (see ``PRIORS_OF_MODEL``).
    """

    model: str = "dawid-skene"
    priors: Priors | None = None
    inference: InferenceSettings = field(default_factory=InferenceSettings)
    em: DawidSkenePriors = field(default_factory=DawidSkenePriors.em_smoothing)
    source: str = ""

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise SpecError(f"unknown model {self.model!r}: use one of {list(MODELS)} or a .toml spec file")
        kind = PRIORS_OF_MODEL[self.model]
        if self.priors is None:
            object.__setattr__(self, "priors", kind())
        elif not isinstance(self.priors, kind):
            raise SpecError(f"model {self.model!r} takes {kind.__name__}, not {type(self.priors).__name__}")

    @property
    def em_priors(self) -> DawidSkenePriors:
        """The Dirichlet smoothing of the EM solution (``[em]`` table): ``method="em"`` and
        the start of every sampler."""
        return self.em

    @property
    def variant(self) -> str:
        return "one-coin" if self.model == "one-coin" else "class-conditional"

    def with_inference(self, **changes: Any) -> ModelSpec:
        """A copy with some inference settings changed (None values are ignored)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        return replace(self, inference=replace(self.inference, **changes)) if changes else self

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "priors": asdict(self.priors),
            "inference": asdict(self.inference),
            "em": asdict(self.em),
        }

    def to_toml(self) -> str:
        lines = [f"model = {_toml_value(self.model)}", ""]
        tables = (
            ("priors", asdict(self.priors)),
            ("inference", asdict(self.inference)),
            ("em", asdict(self.em)),
        )
        for table, values in tables:
            lines.append(f"[{table}]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
            lines.append("")
        return "\n".join(lines)

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.to_toml().encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "") -> ModelSpec:
        where = f"{source}: " if source else ""
        unknown = set(data) - {"model", "priors", "inference", "em"}
        if unknown:
            raise SpecError(
                f"{where}unknown key(s) {sorted(unknown)}; allowed: model, [priors], [inference], [em]"
            )
        model = data.get("model", "dawid-skene")
        if model not in PRIORS_OF_MODEL:
            raise SpecError(f"{where}unknown model {model!r}: use one of {list(MODELS)}")
        priors = _build(PRIORS_OF_MODEL[model], data.get("priors", {}), "priors", where)
        inference = _build(InferenceSettings, data.get("inference", {}), "inference", where)
        em = _build(
            DawidSkenePriors, {**asdict(DawidSkenePriors.em_smoothing()), **data.get("em", {})}, "em", where
        )
        try:
            return cls(model=model, priors=priors, inference=inference, em=em, source=source)
        except SpecError as exc:
            raise SpecError(f"{where}{exc}") from None

    @classmethod
    def from_toml(cls, path: str | Path) -> ModelSpec:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpecError(f"{path}: no such spec file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path}: not valid TOML ({exc})") from None
        return cls.from_dict(data, source=str(path))


def _build(kind: type, values: Any, table: str, where: str):
    if not isinstance(values, dict):
        raise SpecError(f"{where}[{table}] must be a table")
    allowed = {f.name for f in fields(kind)}
    unknown = set(values) - allowed
    if unknown:
        raise SpecError(f"{where}unknown key(s) {sorted(unknown)} in [{table}]; allowed: {sorted(allowed)}")
    try:
        return kind(**values)
    except SpecError as exc:
        raise SpecError(f"{where}{exc}") from None


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def shipped_specs() -> list[str]:
    """Names of the configurations shipped in ``bayeslabels/specs``."""
    folder = resources.files("bayeslabels") / "specs"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def resolve_spec(model: str | Path | ModelSpec) -> ModelSpec:
    """A ModelSpec from a spec, a shipped name (``"dawid-skene"``) or a TOML path."""
    if isinstance(model, ModelSpec):
        return model
    text = str(model)
    if text.endswith(".toml") or Path(text).suffix == ".toml":
        return ModelSpec.from_toml(text)
    shipped = resources.files("bayeslabels") / "specs" / f"{text}.toml"
    if shipped.is_file():
        return ModelSpec.from_dict(tomllib.loads(shipped.read_text(encoding="utf-8")), source=text)
    if Path(text).is_dir():
        raise SpecError(
            f"model {text!r} is a directory, not a spec: give a .toml spec file (e.g. a copy of "
            f"models/dawid-skene.toml) or one of {shipped_specs()}; a saved fit is loaded with bl.load(dir)"
        )
    raise SpecError(f"unknown model {text!r}: use one of {shipped_specs()} or a path to a .toml spec file")
