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
    sampler = "auto"
    target_accept = 0.8
    seed = 0
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from .choices import METHODS, SAMPLERS, Method, Sampler, shipped_specs
from .errors import SpecError
from .models import Family, family
from .priors import DawidSkenePriors, Priors


@dataclass(frozen=True)
class InferenceSettings:
    """How a spec is fitted by default: method, sampler and its settings (``[inference]``).

    Parameters
    ----------
    method : {"nuts", "advi", "fullrank-advi", "map", "em"}, default "nuts"
        The inference method.
    draws, tune, chains : int, default 1000, 1000, 4
        NUTS draws and tuning steps per chain, and chains (draws, chains ≥ 1).
    sampler : {"auto", "nutpie", "nutpie-numba", "nutpie-jax", "pymc", "numpyro", "blackjax"}, default "auto"
        The NUTS implementation. ``"auto"``: NumPyro where it is measured faster (families with
        a cheap gradient, up to 10,000 labels, runs of 2,000 iterations or more), else nutpie
        (`bayeslabels.inference.nuts_sampler`; ``fit.sampling.sampler`` says which ran).
        ``"nutpie"`` picks nutpie's compile backend by the data's size
        (`bayeslabels.inference.nutpie_backend`); the other two nutpie names fix it.
    target_accept : float, default 0.8
        NUTS target acceptance rate, in (0, 1).
    seed : int, default 0
        Random seed.
    advi_iterations : int, default 20000
        ADVI optimisation steps.
    minibatch_items : int, default 0
        ADVI: items per minibatch (all labels of an item together); 0 = all.
    max_draws : int, default 0
        NUTS: continue the chains to twice the draws while R-hat/ESS fail, up to this; 0 = off.

    Raises
    ------
    SpecError
        If a value is out of range or not one of the choices.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> bl.InferenceSettings(method="advi", advi_iterations=5000).method
    'advi'
    >>> bl.InferenceSettings(method="gibbs")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bayeslabels.errors.SpecError: inference.method='gibbs': use one of ['nuts', 'advi', ...]
    """

    method: Method = "nuts"
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    sampler: Sampler = "auto"
    target_accept: float = 0.8
    seed: int = 0
    advi_iterations: int = 20000
    minibatch_items: int = 0  # ADVI: items per minibatch (all labels of an item together); 0 = all
    max_draws: int = 0  # NUTS: continue to twice the draws while R-hat/ESS fail, up to this; 0 = off

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


@dataclass(frozen=True)
class SamplingInfo:
    """What a sampler run did (settings as run, timings), kept with the fit and its exports."""

    sampler: str
    draws: int
    tune: int
    chains: int
    seed: int
    target_accept: float
    compile_seconds: float
    sampling_seconds: float
    compiled_reused: bool = False  # the compiled model of an earlier fit of the same shape, new data
    draws_used: tuple[int, ...] = ()  # draws per chain of each round when `max_draws` drew more
    backend: str = ""  # compile backend: "jax" or "numba" (nutpie), "jax" (NumPyro, BlackJAX); "" for PyMC's
    thin: int = 1  # every thin-th draw kept in the posterior (`inference.posterior_thinning`)

    def __post_init__(self) -> None:
        object.__setattr__(self, "draws_used", tuple(int(d) for d in self.draws_used))
        for name in ("compile_seconds", "sampling_seconds"):  # a saved manifest's null: not measured
            if getattr(self, name) is None:
                object.__setattr__(self, name, float("nan"))

    def __eq__(self, other: object) -> bool:
        """Field by field, a time not measured (NaN: PyMC's and the JAX samplers' compile) equal
        to a time not measured."""
        if not isinstance(other, SamplingInfo):
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def _compared(self) -> tuple:
        return tuple(None if value != value else value for value in asdict(self).values())


# Default of `ModelSpec.priors`, recognised by identity: ``__post_init__`` replaces it with
# the family's own priors, so the field is always a priors object once built.
_FAMILY_PRIORS = DawidSkenePriors()


@dataclass(frozen=True)
class ModelSpec:
    """Model family + priors + inference defaults; round-trips through TOML.

    Parameters
    ----------
    model : str, default "dawid-skene"
        A registered model family (``"dawid-skene"``, ``"one-coin"``, ``"hierarchical"``,
        ``"hierarchical-subtype"``, ``"beta-bernoulli"``, ``"mace"``).
    priors : DawidSkenePriors, HierarchicalPriors, BetaBernoulliPriors or MacePriors, optional
        Defaults to the family's own priors class (`Family.priors`).
    inference : InferenceSettings, optional
        Default inference settings.
    em : DawidSkenePriors, optional
        The smoothing of the EM solution (default `DawidSkenePriors.em_smoothing`).
    source : str, default ""
        Where the spec came from (a shipped name or a path).

    Raises
    ------
    SpecError
        If ``model`` is unknown or ``priors`` is not the family's priors class.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> spec = bl.ModelSpec(model="one-coin")
    >>> spec.priors
    DawidSkenePriors(confusion_off=1.5, confusion_diag_per_class=1.0, prevalence=2.0)
    >>> spec.variant
    'one-coin'
    """

    model: str = "dawid-skene"
    priors: Priors = field(default_factory=lambda: _FAMILY_PRIORS)
    inference: InferenceSettings = field(default_factory=InferenceSettings)
    em: DawidSkenePriors = field(default_factory=DawidSkenePriors.em_smoothing)
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.model, str):
            raise SpecError(
                f"model must be a model name (text) such as 'dawid-skene', got {_described(self.model)}"
            )
        for name, kind_of in (("inference", InferenceSettings), ("em", DawidSkenePriors)):
            if not isinstance(getattr(self, name), kind_of):
                raise SpecError(f"{name} must be {kind_of.__name__}, got {_described(getattr(self, name))}")
        kind = self.family.priors
        if self.priors is None or self.priors is _FAMILY_PRIORS:  # None: as before, the default
            object.__setattr__(self, "priors", kind())
        elif not isinstance(self.priors, kind):
            raise SpecError(f"model {self.model!r} takes {kind.__name__}, not {type(self.priors).__name__}")

    @property
    def em_priors(self) -> DawidSkenePriors:
        """The Dirichlet smoothing of the EM solution (``[em]`` table): ``method="em"`` and
        the start of every sampler."""
        return self.em

    @property
    def family(self) -> Family:
        """The registered model family this spec fits."""
        return family(self.model)

    @property
    def variant(self) -> str:
        """The Dawid–Skene EM variant whose solution starts (or, for ``method="em"``, is) the fit."""
        return self.family.em_variant

    def with_inference(self, **changes: Any) -> ModelSpec:
        """A copy with some inference settings changed (None values are ignored).

        Parameters
        ----------
        **changes
            `InferenceSettings` fields and their new values.

        Returns
        -------
        ModelSpec

        Raises
        ------
        SpecError
            If a new value is out of range.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> spec = bl.resolve_spec("dawid-skene").with_inference(draws=2000, chains=None)
        >>> spec.inference.draws, spec.inference.chains
        (2000, 4)
        """
        changes = {k: v for k, v in changes.items() if v is not None}
        return replace(self, inference=replace(self.inference, **changes)) if changes else self

    def to_dict(self) -> dict[str, Any]:
        """The spec as nested plain values: ``model`` and the ``priors``, ``inference`` and ``em`` tables.

        Returns
        -------
        dict

        Examples
        --------
        >>> import bayeslabels as bl
        >>> spec = bl.resolve_spec("dawid-skene").to_dict()
        >>> sorted(spec)
        ['em', 'inference', 'model', 'priors']
        >>> spec["priors"]
        {'confusion_off': 1.5, 'confusion_diag_per_class': 1.0, 'prevalence': 2.0}
        """
        return {
            "model": self.model,
            "priors": asdict(self.priors),
            "inference": asdict(self.inference),
            "em": asdict(self.em),
        }

    def to_toml(self) -> str:
        """The spec as TOML text, the format `from_toml` reads (`hash` is of this text).

        Returns
        -------
        str

        Examples
        --------
        >>> import bayeslabels as bl
        >>> print(bl.resolve_spec("dawid-skene").to_toml())  # doctest: +ELLIPSIS
        model = "dawid-skene"
        <BLANKLINE>
        [priors]
        confusion_off = 1.5
        confusion_diag_per_class = 1.0
        prevalence = 2.0
        <BLANKLINE>
        [inference]
        method = "nuts"
        ...
        """
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
        """Build a spec from nested values, as read from TOML.

        Missing keys take their defaults; ``[em]`` values override the EM smoothing's.

        Parameters
        ----------
        data : dict
            ``model`` and optional ``priors``, ``inference`` and ``em`` tables.
        source : str, default ""
            Where the values came from, for error messages and `source`.

        Returns
        -------
        ModelSpec

        Raises
        ------
        SpecError
            For an unknown key, model or table value, naming ``source``.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> spec = bl.ModelSpec.from_dict({"model": "one-coin", "inference": {"draws": 500}})
        >>> spec.model, spec.inference.draws
        ('one-coin', 500)
        """
        where = f"{source}: " if source else ""
        if not isinstance(data, dict):
            raise SpecError(
                f"{where}a spec is a table of keys (model, [priors], ...), got {_described(data)}"
            )
        unknown = set(data) - {"model", "priors", "inference", "em"}
        if unknown:
            raise SpecError(
                f"{where}unknown key(s) {sorted(unknown)}; allowed: model, [priors], [inference], [em]"
            )
        model = data.get("model", "dawid-skene")
        if not isinstance(model, str):
            raise SpecError(
                f'{where}model must be one model name (text) such as "dawid-skene", got {_described(model)}'
            )
        for table in ("priors", "inference", "em"):
            if table in data and not isinstance(data[table], dict):
                raise SpecError(
                    f"{where}[{table}] must be a table (a [{table}] section of key = value lines), got "
                    f"{_described(data[table])}"
                )
        try:
            kind = family(model).priors
        except SpecError as exc:
            raise SpecError(f"{where}{exc}") from None
        priors = _build(kind, data.get("priors", {}), "priors", where)
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
        """Read a spec from a TOML file (the format `to_toml` writes).

        Parameters
        ----------
        path : str or pathlib.Path
            The ``.toml`` file.

        Returns
        -------
        ModelSpec

        Raises
        ------
        SpecError
            If the file is missing, not valid TOML, or its values fail `from_dict`.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> spec = bl.ModelSpec.from_toml("my-spec.toml")  # doctest: +SKIP
        """
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpecError(f"{path}: no such spec file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path}: not valid TOML ({exc})") from None
        return cls.from_dict(data, source=str(path))


def _build(kind: type, values: Any, table: str, where: str) -> Any:
    """``kind(**values)``: the keys checked against its fields, each value against its field's
    type (so a list, table or text where a number belongs is a SpecError, not a TypeError)."""
    if not isinstance(values, dict):
        raise SpecError(f"{where}[{table}] must be a table, got {_described(values)}")
    allowed = {f.name for f in fields(kind)}
    unknown = set(values) - allowed
    if unknown:
        raise SpecError(f"{where}unknown key(s) {sorted(unknown)} in [{table}]; allowed: {sorted(allowed)}")
    hints = get_type_hints(kind)
    for key, value in values.items():
        expected = _type_problem(hints[key], value)
        if expected:
            raise SpecError(f"{where}{table}.{key} must be {expected}, got {_described(value)}")
    try:
        return kind(**values)
    except SpecError as exc:
        raise SpecError(f"{where}{exc}") from None


def _type_problem(annotation: Any, value: Any) -> str:
    """What ``value`` should be for a field annotated ``annotation`` ("" when it is)."""
    if annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return "" if ok else "a non-negative integer"
    if annotation is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return "" if ok else "a number"
    if annotation is str:
        return "" if isinstance(value, str) else "text"
    if get_origin(annotation) is Literal:
        return "" if isinstance(value, str) else f"one of {list(get_args(annotation))}"
    return ""


def _described(value: Any) -> str:
    """``value`` for a message, with its TOML kind where that is what is wrong."""
    kind = {dict: "a table", list: "a list", bool: "a boolean"}.get(type(value))
    return f"{kind} {value!r}" if kind else repr(value)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def resolve_spec(model: str | Path | ModelSpec) -> ModelSpec:
    """A ModelSpec from a spec, a shipped name (``"dawid-skene"``) or a TOML path.

    Parameters
    ----------
    model : str, pathlib.Path or ModelSpec
        A `ModelSpec` (returned as is), the name of a shipped spec (``"dawid-skene"``,
        ``"one-coin"``, ``"hierarchical"``, ``"hierarchical-subtype"``,
        ``"beta-bernoulli"``) or the path of a ``.toml`` spec file.

    Returns
    -------
    ModelSpec

    Raises
    ------
    SpecError
        If the name is unknown, the path is a directory, or the file fails to parse.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> spec = bl.resolve_spec("hierarchical")
    >>> spec.model, spec.inference.method
    ('hierarchical', 'nuts')
    """
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
