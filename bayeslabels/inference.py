"""The only caller of the samplers: NUTS through nutpie (default) or PyMC's own samplers.

Chains start at the EM solution, so every chain begins in the mode whose classes mean
what the labels mean (nutpie jitters each chain's start by U(−1, 1) on the unconstrained
scale, so R-hat still compares chains that started apart). Returns an ``xr.DataTree``.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from typing import TYPE_CHECKING

import numpy as np
import nutpie
import pandas as pd
import pymc as pm
import pytensor
import xarray as xr
from pymc.initial_point import make_initial_point_fn
from pymc.model.transform.optimization import freeze_dims_and_data

from .choices import NUTPIE_SAMPLERS
from .errors import SpecError
from .models._likelihood import dense_label_gather
from .spec import InferenceSettings, SamplingInfo

if TYPE_CHECKING:
    from nutpie.sample import CompiledModel

# Same seed, same draws: with LLVM's fast-math flags (PyTensor's default) the same graph gives
# different floating-point results when compiled fresh and when loaded from PyTensor's numba
# disk cache (functions are inlined and re-associated differently), and NUTS amplifies the
# difference into different chains. IEEE arithmetic makes a seeded fit independent of the cache
# state (tests/test_reproducibility.py); sampling time is unchanged within noise.
pytensor.config.numba__fastmath = False


class CompiledModels:
    """The nutpie-compiled models of this process, by structure, for re-fits without compiling.

    A model's data (label counts, gold mask) are `pm.Data` inputs, so a compiled model serves
    any data of the same *shape* — same family, priors and parameter sizes (annotators,
    classes, subtypes); items and labels may differ: a new batch, a fold, a bootstrap
    replicate. A re-fit swaps in the data (``with_data``), the coordinate names and a start
    from the new data's EM solution. The least recently used entries are dropped beyond
    ``max_entries``. Thread-safe (Dask's threaded workers share one)."""

    def __init__(self, max_entries: int = 8):
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, CompiledModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> CompiledModel | None:
        with self._lock:
            compiled = self._entries.get(key)
            if compiled is not None:
                self._entries.move_to_end(key)
            return compiled

    def put(self, key: tuple, compiled: CompiledModel) -> None:
        with self._lock:
            self._entries[key] = compiled
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


COMPILED_MODELS = CompiledModels()


def _flat_start(
    model: pm.Model, compiled: CompiledModel, initvals: dict[str, np.ndarray]
) -> Callable[[int | None], np.ndarray]:
    """nutpie's start function (seed → flat unconstrained vector) for ``model``'s free
    variables in the compiled order, jittered by U(−1, 1) as nutpie's own."""
    point_fn = make_initial_point_fn(
        model=model, overrides=initvals, jitter_rvs=set(model.free_RVs), return_transformed=True
    )
    names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    lock = threading.Lock()

    def flat(seed: int | None = None) -> np.ndarray:
        with lock:
            point = point_fn(seed)
        return np.concatenate([np.asarray(point[name], dtype="float64").ravel() for name in names])

    if flat(0).size != compiled.n_dim:
        raise ValueError("start vector does not match the compiled model")
    return flat


def _nutpie_model(
    model: pm.Model,
    initvals: dict[str, np.ndarray],
    reuse: tuple[dict[str, np.ndarray], tuple] | None,
    backend: str = "numba",
) -> tuple[CompiledModel, bool]:
    """(compiled model, whether it was re-used): from `COMPILED_MODELS` with this model's data,
    coords and start when ``reuse`` (data by name, structure key) finds one compiled by
    ``backend``, else compiled (`_compile_nutpie`). Through JAX above `JAX_GATHER_MAX_LABELS`
    the data are frozen into the compiled model: compiled for this data set, never stored."""
    frozen = backend == "jax" and _n_labels(model) > JAX_GATHER_MAX_LABELS
    reuse = None if frozen else reuse
    key = None if reuse is None else (backend, reuse[1])
    cached = None if key is None else COMPILED_MODELS.get(key)
    if reuse is not None and cached is not None:
        data = {name: value for name, value in reuse[0].items() if name in _data_names(cached)}
        coords = {**cached.coords, **{name: pd.Index(v) for name, v in model.coords.items()}}
        start_field = "initial_point_func" if backend == "numba" else "_make_initial_points"
        compiled = dataclasses.replace(
            cached.with_data(**data), _coords=coords, **{start_field: _flat_start(model, cached, initvals)}
        )
        return compiled, True
    compiled = _compile_nutpie(model, initvals, backend, frozen)
    if key is not None:
        COMPILED_MODELS.put(key, compiled)
    return compiled, False


def _data_names(compiled: CompiledModel) -> set[str]:
    """The `pm.Data` names a compiled model reads (those ``with_data`` accepts)."""
    if hasattr(compiled, "shared_var_keys"):  # numba's CompiledPyMCModel
        return {var.name for var in compiled.shared_var_keys}
    return set(compiled._shared_data)  # JAX's PyFuncModel


DATA_DIMS = ("item", "label_slot")
"""The dims whose lengths follow the data (`observe_labels`): not frozen by the JAX route."""


def _compile_nutpie(
    model: pm.Model, initvals: dict[str, np.ndarray], backend: str, frozen: bool = False
) -> CompiledModel:
    """nutpie's model compiled through ``backend``. Through JAX (value and gradient by XLA) the
    likelihood is the dense gather (`dense_label_gather`), so the data stay inputs of the jitted
    function, not constants: ``with_data`` of the same shape re-uses XLA's compile, as numba's.
    ``frozen``: the sparse product with the data frozen as constants (nutpie's default for
    JAX; faster per gradient on large tables, but it serves one data set only)."""
    if backend == "numba":
        return nutpie.compile_pymc_model(model, initial_points=initvals)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if frozen:
            return nutpie.compile_pymc_model(
                model, initial_points=initvals, backend="jax", gradient_backend="jax"
            )
        # parameter dims become constants (XLA needs static shapes); the data and the dims
        # that follow them (items, label slots) stay inputs
        dims = [name for name in model.coords if name not in DATA_DIMS]
        with dense_label_gather():
            return nutpie.compile_pymc_model(
                freeze_dims_and_data(model, dims=dims, data=[]),
                initial_points=initvals,
                backend="jax",
                gradient_backend="jax",
                freeze_model=False,
            )


# Labels up to which ``sampler="nutpie"`` compiles through JAX (see `nutpie_backend`): there
# numba's compile (40-360 s cold on this 2-core machine) outweighs JAX's slower sampling
# (8k labels, 1 chain × 600 steps, loaded: numba 364 s + 9 s, JAX 21 s + 57 s; 32k labels:
# numba 187 s + 21 s, JAX 7 s + 80 s); on adult_content's 92k labels JAX sampled for over
# 25 minutes, numba in minutes. Measured by benchmarks/nuts.py --runs nutpie-jax:cold ...
JAX_MAX_LABELS = 50_000

# Labels up to which the JAX route reads the table by the dense gather (data as jit inputs: a
# re-fit of the same shape re-uses XLA's compile, 0.05 s); above, the sparse product with the data
# frozen as constants, faster per gradient there (1 chain × 600 steps, one run: 8k labels gather
# 3.4 s vs frozen 4.3 s sampling, 32k labels 12.5 s vs 6.0 s; benchmarks/results/jax_gather.md).
JAX_GATHER_MAX_LABELS = 10_000


def nutpie_backend(sampler: str, n_labels: int, structure: tuple | None = None) -> str:
    """nutpie's compile backend for ``sampler``: ``"jax"`` or ``"numba"``.

    ``"nutpie-jax"`` / ``"nutpie-numba"`` name it. ``"nutpie"`` chooses by measurement: XLA
    compiles a model in 3-20 s where numba takes 40-360 s cold, but each gradient costs more,
    so the first fit in a process finishes sooner through JAX up to `JAX_MAX_LABELS` labels.
    So JAX, unless JAX is not installed, the data are larger, or this process already holds a
    numba-compiled model of the same ``structure`` (a re-fit then costs no compile at all)."""
    if sampler == "nutpie-numba":
        return "numba"
    if sampler == "nutpie-jax":
        _require_sampler_packages(sampler)
        return "jax"
    if find_spec("jax") is None or n_labels > JAX_MAX_LABELS:
        return "numba"
    if structure is not None and COMPILED_MODELS.get(("numba", structure)) is not None:
        return "numba"
    return "jax"


def show_progress(quiet: bool) -> bool:
    """Progress bars only in an interactive terminal, and never when asked to be quiet."""
    return not quiet and sys.stderr.isatty()


QUIET_LOGGERS = ("pymc", "pytensor", "jax", "numpyro", "blackjax")
"""Loggers silenced below ERROR while ``quiet``: PyMC's ("Auto-assigning NUTS sampler…",
"Sampling 4 chains…", "Only 20 samples per chain…", ADVI's "Finished [100%]"; its JAX samplers
log under ``pymc.sampling.jax``) and those of the libraries behind the samplers. What matters
of their warnings (too few draws, divergences) `Fit.check` reports."""


@contextmanager
def _pymc_logging(quiet: bool) -> Iterator[None]:
    """Silence the informational log lines of PyMC and the sampler libraries when quiet
    (`QUIET_LOGGERS`); levels are restored afterwards."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    if quiet:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def sample_nuts(
    model: pm.Model,
    settings: InferenceSettings,
    initvals: dict[str, np.ndarray],
    quiet: bool = False,
    reuse: tuple[dict[str, np.ndarray], tuple] | None = None,
    needs_more: Callable[[xr.DataTree], bool] | None = None,
) -> tuple[xr.DataTree, SamplingInfo]:
    """NUTS with the sampler named in ``settings`` (nutpie, pymc, numpyro or blackjax).

    ``reuse`` = (the model's `pm.Data` values by name, a structure key): nutpie re-uses a
    compiled model of the same structure from `COMPILED_MODELS` instead of compiling.
    ``needs_more(tree)`` True (the check failed on R-hat or ESS): sample again from the same
    compiled model, same seed, with twice the draws, until it is False or
    ``settings.max_draws`` is reached; ``SamplingInfo.draws_used`` lists each round."""
    progress = show_progress(quiet)
    reused = False
    draws_used = [settings.draws]
    backend = ""
    if settings.sampler in NUTPIE_SAMPLERS:
        backend = nutpie_backend(settings.sampler, _n_labels(model), None if reuse is None else reuse[1])
        start = time.perf_counter()
        compiled, reused = _nutpie_model(model, initvals, reuse, backend)
        compiled_at = time.perf_counter()

        def run(draws: int) -> xr.DataTree:
            return _drop_warmup(
                nutpie.sample(
                    compiled,
                    draws=draws,
                    tune=settings.tune,
                    chains=settings.chains,
                    cores=min(settings.chains, 4),
                    seed=settings.seed,
                    target_accept=settings.target_accept,
                    progress_bar=progress,
                )
            )

        tree = run(settings.draws)
        while needs_more is not None and draws_used[-1] < settings.max_draws and needs_more(tree):
            draws_used.append(min(2 * draws_used[-1], settings.max_draws))
            tree = run(draws_used[-1])
        done = time.perf_counter()
        compile_s, sample_s = compiled_at - start, done - compiled_at
    else:
        _require_sampler_packages(settings.sampler)

        # PyMC's samplers (and the JAX ones' sparse dot) take the data as constants
        model = freeze_dims_and_data(model)
        start = time.perf_counter()
        with model, warnings.catch_warnings(), _pymc_logging(quiet):
            warnings.simplefilter("ignore", UserWarning)
            tree = pm.sample(
                draws=settings.draws,
                tune=settings.tune,
                chains=settings.chains,
                random_seed=settings.seed,
                nuts_sampler=settings.sampler,
                initvals=initvals,
                progressbar=progress,
                nuts={"target_accept": settings.target_accept},
                compute_convergence_checks=False,
            )
        compile_s, sample_s = float("nan"), time.perf_counter() - start
        tree = _drop_warmup(tree)
    info = SamplingInfo(
        sampler=settings.sampler,
        draws=draws_used[-1],
        tune=settings.tune,
        chains=settings.chains,
        seed=settings.seed,
        target_accept=settings.target_accept,
        compile_seconds=compile_s,
        sampling_seconds=sample_s,
        compiled_reused=reused,
        draws_used=tuple(draws_used) if len(draws_used) > 1 else (),
        backend=backend,
    )
    return tree, info


def _n_labels(model: pm.Model) -> int:
    """Labels in ``model``'s observed table (its non-padding cells)."""
    try:
        table = model["label_table"].get_value()
    except KeyError:
        return 0
    return int(np.count_nonzero(np.asarray(table) >= 0))


_SAMPLER_PACKAGES = {
    "numpyro": ("jax", "numpyro"),
    "blackjax": ("jax", "blackjax"),
    "nutpie-jax": ("jax",),
}


def _require_sampler_packages(sampler: str) -> None:
    """A SpecError naming the install command when a JAX sampler's packages are missing."""
    missing = [name for name in _SAMPLER_PACKAGES.get(sampler, ()) if find_spec(name) is None]
    if missing:
        raise SpecError(
            f"sampler {sampler!r} needs {' and '.join(missing)}, which are not installed: "
            "pip install 'bayeslabels[jax]' (with a GPU build of jax it runs on the GPU), "
            "or use sampler='nutpie'"
        )


def _drop_warmup(tree: xr.DataTree) -> xr.DataTree:
    keep = {name: node for name, node in tree.children.items() if not name.startswith("warmup")}
    return xr.DataTree.from_dict({name: node.to_dataset() for name, node in keep.items()})


def point_tree(values: dict[str, tuple[tuple[str, ...], np.ndarray]], coords: dict) -> xr.DataTree:
    """A one-chain, one-draw posterior holding point estimates (EM / MAP)."""
    data_vars = {
        name: (("chain", "draw", *dims), np.asarray(array)[None, None])
        for name, (dims, array) in values.items()
    }
    posterior = xr.Dataset(data_vars, coords={"chain": [0], "draw": [0], **coords})
    posterior.attrs["point_estimate"] = 1
    return xr.DataTree.from_dict({"posterior": posterior})


def fit_map(model: pm.Model, start: dict[str, np.ndarray], quiet: bool = False) -> xr.DataTree:
    """Posterior mode by L-BFGS from the EM start: a one-draw posterior flagged as a point estimate."""
    with model, warnings.catch_warnings(), _pymc_logging(quiet):
        warnings.simplefilter("ignore", FutureWarning)
        tree = pm.find_MAP(
            initvals=start, jitter=False, progressbar=show_progress(quiet), return_inferencedata=True
        )
    posterior = tree["posterior"].to_dataset()
    posterior.attrs["point_estimate"] = 1
    return xr.DataTree.from_dict({"posterior": posterior})


class LossPlateau:
    """ADVI stopping rule: the mean loss of the last ``window`` iterations changed by less
    than ``tolerance`` (relative) from the window before. Raises StopIteration, which
    ``pm.fit`` treats as convergence."""

    def __init__(self, window: int = 1000, tolerance: float = 1e-3):
        self.window, self.tolerance = window, tolerance

    def __call__(self, approx: pm.Approximation, losses: np.ndarray, i: int) -> None:
        if i % self.window or len(losses) < 2 * self.window:
            return
        recent = np.mean(losses[-self.window :])
        before = np.mean(losses[-2 * self.window : -self.window])
        if abs(recent - before) <= self.tolerance * abs(before):
            raise StopIteration(f"loss settled after {i} iterations")


def advi_start_sigma(model: pm.Model, labels_per_annotator: np.ndarray | None) -> dict[str, np.ndarray]:
    """Starting standard deviations of mean-field ADVI, on the unconstrained scale.

    PyMC starts every σ at softplus(0) ≈ 0.69, far wider than the posterior of an annotator
    with hundreds of labels, and minibatch ADVI then spends most iterations shrinking them.
    We start at the scale a posterior with n labels has: per annotator
    ``σ_j = clip(1 / √(1 + n_j / K), 0.05, 0.7)`` for annotator-indexed variables, 0.1 for the
    few population-level ones (ADVI widens what is too narrow). On 1M simulated labels
    (1000 annotators, minibatch 5000 items) the loss settled after 2000 iterations instead of
    18000, at the same accuracy."""
    sigma = {}
    k = max(len(model.coords.get("true_class", ()) or ()), 2)
    point = model.initial_point()
    for rv in model.free_RVs:
        value = model.rvs_to_values[rv]
        shape = tuple(point[value.name].shape)
        dims = model.named_vars_to_dims.get(rv.name) or ()
        if (
            labels_per_annotator is not None
            and dims[:1] == ("annotator",)
            and shape[:1] == (len(labels_per_annotator),)
        ):
            per_annotator = np.clip(1 / np.sqrt(1 + labels_per_annotator / k), 0.05, 0.7)
            sigma[value.name] = np.broadcast_to(
                per_annotator.reshape((-1,) + (1,) * (len(shape) - 1)), shape
            ).ravel()
        else:
            sigma[value.name] = np.full(int(np.prod(shape)), 0.1)
    return sigma


def fit_advi(
    model: pm.Model,
    settings: InferenceSettings,
    start: dict[str, np.ndarray],
    full_rank: bool,
    quiet: bool,
    labels_per_annotator: np.ndarray | None = None,
) -> tuple[xr.DataTree, SamplingInfo]:
    """Mean-field (or full-rank) ADVI from the EM start, stopped when the parameters settle;
    ``settings.draws`` draws from the approximation become the posterior (one chain).
    Mean-field σ start at the scale the labels imply (`advi_start_sigma`)."""
    started = time.perf_counter()
    extra = {} if full_rank else {"start_sigma": advi_start_sigma(model, labels_per_annotator)}
    with model, warnings.catch_warnings(), _pymc_logging(quiet):
        warnings.simplefilter("ignore", UserWarning)
        approx = pm.fit(
            n=settings.advi_iterations,
            method="fullrank_advi" if full_rank else "advi",
            start=start,
            random_seed=settings.seed,
            callbacks=[LossPlateau()],
            progressbar=show_progress(quiet),
            **extra,
        )
        tree = approx.sample(settings.draws, random_seed=settings.seed)
    fitted = time.perf_counter()
    losses = np.asarray(approx.hist)
    posterior = tree["posterior"].to_dataset()
    posterior.attrs["variational"] = 1
    posterior.attrs["iterations"] = len(losses)
    posterior.attrs["converged"] = int(len(losses) < settings.advi_iterations)
    loss = xr.Dataset({"loss": (("iteration",), losses)})
    info = SamplingInfo(
        sampler="fullrank-advi" if full_rank else "advi",
        draws=settings.draws,
        tune=len(losses),
        chains=1,
        seed=settings.seed,
        target_accept=float("nan"),
        compile_seconds=float("nan"),
        sampling_seconds=fitted - started,
    )
    return xr.DataTree.from_dict({"posterior": posterior, "variational": loss}), info
