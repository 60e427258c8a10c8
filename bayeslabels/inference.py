"""The only caller of the samplers: NUTS through nutpie (default) or PyMC's own samplers.

Chains start at the EM solution, so every chain begins in the mode whose classes mean
what the labels mean (nutpie jitters each chain's start by U(−1, 1) on the unconstrained
scale, so R-hat still compares chains that started apart; a family's ``steady_start``
variables start unjittered). Returns an ``xr.DataTree``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, nullcontext
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt
import xarray as xr
from pymc.initial_point import make_initial_point_fn
from pymc.model.transform.optimization import freeze_dims_and_data
from pytensor.graph.replace import graph_replace

from .choices import NUTPIE_SAMPLERS
from .errors import SpecError
from .models._likelihood import dense_label_gather
from .spec import InferenceSettings, SamplingInfo

LOG = logging.getLogger("bayeslabels")

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


def _jittered(model: pm.Model, steady: Collection[str]) -> set:
    """The free variables of ``model`` whose start is jittered: all but those named ``steady``."""
    return {rv for rv in model.free_RVs if rv.name not in steady}


def _flat_start(
    model: pm.Model, compiled: CompiledModel, initvals: dict[str, np.ndarray], steady: Collection[str] = ()
) -> Callable[[int | None], np.ndarray]:
    """nutpie's start function (seed → flat unconstrained vector) for ``model``'s free
    variables in the compiled order, jittered by U(−1, 1) as nutpie's own (but ``steady``)."""
    point_fn = make_initial_point_fn(
        model=model, overrides=initvals, jitter_rvs=_jittered(model, steady), return_transformed=True
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
    steady: Collection[str] = (),
    untraced: Collection[str] = (),
) -> tuple[CompiledModel, bool]:
    """(compiled model, whether it was re-used): from `COMPILED_MODELS` with this model's data,
    coords and start when ``reuse`` (data by name, structure key) finds one compiled by
    ``backend``, else compiled (`_compile_nutpie`). Through JAX above `JAX_GATHER_MAX_LABELS`
    the data are frozen into the compiled model: compiled for this data set, never stored.
    ``untraced``: deterministics the compiled model leaves out of its trace (`untraced_deterministics`)."""
    frozen = backend == "jax" and _n_labels(model) > JAX_GATHER_MAX_LABELS
    reuse = None if frozen else reuse
    key = None if reuse is None else (backend, reuse[1])
    cached = None if key is None else COMPILED_MODELS.get(key)
    if reuse is not None and cached is not None:
        data = {name: value for name, value in reuse[0].items() if name in _data_names(cached)}
        coords = {**cached.coords, **{name: pd.Index(v) for name, v in model.coords.items()}}
        # the start from the graph nutpie compiled: PyMC's jitter for a seed differs between
        # a model and its frozen copy, and a re-fit must start where a fresh compile starts
        if backend == "numba":
            start_field, compiled_graph = "initial_point_func", model
        else:
            start_field, compiled_graph = "_make_initial_points", _with_parameter_dims_frozen(model)
        compiled = dataclasses.replace(
            cached.with_data(**data),
            _coords=coords,
            **{start_field: _flat_start(compiled_graph, cached, initvals, steady)},
        )
        return compiled, True
    compiled = _compile_nutpie(model, initvals, backend, frozen, steady, untraced)
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


def _with_parameter_dims_frozen(model: pm.Model) -> pm.Model:
    """``model`` as the JAX route compiles it: parameter dims become constants (XLA needs static
    shapes); the data and the dims that follow them (`DATA_DIMS`: items, label slots) stay inputs."""
    dims = [name for name in model.coords if name not in DATA_DIMS]
    return freeze_dims_and_data(model, dims=dims, data=[])


def _compile_nutpie(
    model: pm.Model,
    initvals: dict[str, np.ndarray],
    backend: str,
    frozen: bool = False,
    steady: Collection[str] = (),
    untraced: Collection[str] = (),
) -> CompiledModel:
    """nutpie's model compiled through ``backend``. Through JAX (value and gradient by XLA) the
    likelihood is the dense gather (`dense_label_gather`), so the data stay inputs of the jitted
    function, not constants: ``with_data`` of the same shape re-uses XLA's compile, as numba's.
    ``frozen``: the sparse product with the data frozen as constants (nutpie's default for
    JAX; faster per gradient on large tables, but it serves one data set only). ``untraced``:
    deterministics left out of the trace (`untraced_deterministics`)."""
    import nutpie  # 3 s to import (numba, JAX): only where NUTS runs

    var_names = None
    if untraced:
        kept = [var.name for var in model.deterministics if var.name not in untraced]
        var_names = [rv.name for rv in model.free_RVs] + kept
    if backend == "numba":
        return nutpie.compile_pymc_model(
            model, initial_points=initvals, jitter_rvs=_jittered(model, steady), var_names=var_names
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if frozen:
            return nutpie.compile_pymc_model(
                model,
                initial_points=initvals,
                jitter_rvs=_jittered(model, steady),
                backend="jax",
                gradient_backend="jax",
                var_names=var_names,
            )
        fixed = _with_parameter_dims_frozen(model)
        with dense_label_gather():
            return nutpie.compile_pymc_model(
                fixed,
                initial_points=initvals,
                jitter_rvs=_jittered(fixed, steady),
                backend="jax",
                gradient_backend="jax",
                freeze_model=False,
                var_names=var_names,
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


# NUTS iterations (chains × (tune + draws)) from which ``sampler="nutpie"`` / ``"auto"`` compiles a
# family that marks it (`Family.numba_faster`: a parameter per item, the gradient dominates)
# through numba at any size: numba's gradient is cheaper there (CPU ms per gradient, numba vs
# JAX: item-difficulty rte 0.62 vs 0.76, dog 1.16 vs 1.74, music_genre 2.6 vs 6.6; ambiguity rte
# 0.29 vs 0.43, music_genre 0.45 vs 1.42), which repays its compile (~70-100 s cold, XLA's 5-10 s)
# over a run at the shipped settings. rte, 4 × 1000 + 1000, fresh process, empty caches
# (benchmarks/results/jax_route.md): ambiguity 138.9 s through numba, compile included (re-fit
# 75.2 s) vs 253.9 s (240.8) through JAX; item-difficulty 182.0 s (re-fit 97.8) vs 148.3 s
# (142.9): K = 2 is where numba's cold compile is not repaid in one fit, larger K (dog, music_genre)
# and every re-fit or second process (numba's disk cache) are. Short runs stay with JAX.
NUMBA_MIN_ITERATIONS = 2_000


def nutpie_backend(
    sampler: str,
    n_labels: int,
    structure: tuple | None = None,
    iterations: int = 0,
    numba_faster: bool = False,
) -> str:
    """nutpie's compile backend for ``sampler``: ``"jax"`` or ``"numba"``.

    ``"nutpie-jax"`` / ``"nutpie-numba"`` name it. ``"nutpie"`` chooses by measurement: XLA
    compiles a model in 3-20 s where numba takes 40-360 s cold, but each gradient costs more,
    so the first fit in a process finishes sooner through JAX up to `JAX_MAX_LABELS` labels.
    So JAX, unless JAX is not installed, the data are larger, this process already holds a
    numba-compiled model of the same ``structure`` (a re-fit then costs no compile at all), or
    the family's gradient dominates (``numba_faster``) over a run of at least
    `NUMBA_MIN_ITERATIONS` ``iterations``."""
    if sampler == "nutpie-numba":
        return "numba"
    if sampler == "nutpie-jax":
        _require_sampler_packages(sampler)
        return "jax"
    if find_spec("jax") is None or n_labels > JAX_MAX_LABELS:
        return "numba"
    if numba_faster and iterations >= NUMBA_MIN_ITERATIONS:
        return "numba"
    if structure is not None and COMPILED_MODELS.get(("numba", structure)) is not None:
        return "numba"
    return "jax"


# Labels up to which ``sampler="auto"`` runs NumPyro's NUTS for a family that marks it faster
# (`Family.numpyro_faster`): NumPyro compiles the whole trajectory into one XLA program and runs
# the chains one after another, where nutpie calls the XLA gradient from Rust once per leapfrog
# step; for a cheap gradient the call is most of the cost. rte (8,000 labels), 4 × 1000 + 1000,
# fresh process: Dawid–Skene fit 19.2 s (re-fit 10.6) vs nutpie-JAX 52.5 (51.0), bulk ESS
# 4615 vs 4909; one-coin 22.6 (17.9) vs 43.6 (41.2); beta-bernoulli 9.2 (5.2) vs 15.6 (10.5);
# mace 30.1 vs 54.3; hierarchical 33.8 (26.1) vs 49.4 (47.8) with bulk ESS 716 vs 218 (nutpie's
# R-hat 1.0135 fails the check there, NumPyro's 1.0084 passes); item-difficulty, whose gradient
# dominates, 356 s vs 254 s (benchmarks/results/jax_route.md).
NUMPYRO_MAX_LABELS = 10_000

# NUTS iterations (chains × (tune + draws)) from which ``sampler="auto"`` takes NumPyro: its
# XLA compile of the whole trajectory costs ~6 s more than nutpie's of the gradient, which
# the faster iterations repay from ~1,200 (rte Dawid–Skene: ~6.3 ms per iteration through
# nutpie-JAX, ~1.4 ms through NumPyro) to ~1,700 (200 items: 4.5 vs 1.0 ms). Short runs (a
# notebook's smoke run, a screen) stay with nutpie, whose compiled model a re-fit re-uses.
NUMPYRO_MIN_ITERATIONS = 2_000


def nuts_sampler(
    sampler: str,
    n_labels: int,
    iterations: int,
    numpyro_faster: bool,
    continues: bool = False,
    steady: bool = False,
    structure: tuple | None = None,
) -> str:
    """The NUTS implementation that runs for ``sampler``: any name but ``"auto"`` as given.

    ``"auto"``: ``"numpyro"`` where it is measured faster (the family says so, ``numpyro_faster``;
    at most `NUMPYRO_MAX_LABELS` labels; at least `NUMPYRO_MIN_ITERATIONS` ``iterations``, all
    chains' tuning and draws; NumPyro installed), unless the fit needs what only nutpie does:
    keep sampling until the check passes (``continues``: ``max_draws`` above the draws), start
    some variables exactly at the EM values (``steady``), or re-use a model of the same
    ``structure`` compiled earlier in this process (no compile at all). Else ``"nutpie"``
    (compile backend by `nutpie_backend`)."""
    if sampler != "auto":
        return sampler
    wanted = (
        numpyro_faster
        and n_labels <= NUMPYRO_MAX_LABELS
        and iterations >= NUMPYRO_MIN_ITERATIONS
        and not (continues or steady)
    )
    if not wanted or find_spec("numpyro") is None or find_spec("jax") is None:
        return "nutpie"
    if structure is not None and any(
        COMPILED_MODELS.get((backend, structure)) for backend in ("jax", "numba")
    ):
        return "nutpie"
    return "numpyro"


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
    steady: Collection[str] = (),
    numpyro_faster: bool = False,
    numba_faster: bool = False,
    to_posterior: Callable[[xr.DataTree], xr.DataTree] | None = None,
) -> tuple[xr.DataTree, SamplingInfo]:
    """NUTS with the sampler named in ``settings`` (nutpie, pymc, numpyro or blackjax; ``"auto"``
    chooses by `nuts_sampler`, told by ``numpyro_faster`` whether the family samples faster
    through NumPyro; nutpie's backend by `nutpie_backend`, told by ``numba_faster`` whether
    numba's gradient repays its compile over a long run).

    ``reuse`` = (the model's `pm.Data` values by name, a structure key): nutpie re-uses a
    compiled model of the same structure from `COMPILED_MODELS` instead of compiling.
    ``needs_more(tree)`` True (the check failed on R-hat or ESS): the chains go on to twice the
    draws (`_sample_until_checked`), until it is False or ``settings.max_draws`` is reached;
    ``SamplingInfo.draws_used`` lists each round.
    ``steady``: free variables nutpie starts at ``initvals`` exactly in every chain
    (`Family.steady_start`); PyMC's samplers jitter every variable.
    ``to_posterior``: the draws as the caller's own variables (`Family.nuts_model`), once per
    round, before ``needs_more`` sees them, and for the trace returned (the last round's, not
    made twice), while a trace on disk (`_trace_store`) is still there to be read."""
    progress = show_progress(quiet)
    own = to_posterior or (lambda tree: tree)
    thin = 1
    reused = False
    draws_used = [settings.draws]
    backend = ""
    untraced = untraced_deterministics(model)
    if reuse is not None:  # a model compiled with other deterministics traced is another model
        reuse = (reuse[0], (*reuse[1], ("untraced", *untraced)))
    structure = None if reuse is None else reuse[1]
    continues = needs_more is not None and settings.max_draws > settings.draws
    iterations = settings.chains * (settings.tune + settings.draws)
    n_labels = _n_labels(model)
    sampler = nuts_sampler(
        settings.sampler, n_labels, iterations, numpyro_faster, continues, bool(steady), structure
    )
    if sampler in NUTPIE_SAMPLERS:
        import nutpie

        backend = nutpie_backend(sampler, n_labels, structure, iterations, numba_faster)
        start = time.perf_counter()
        compiled, reused = _nutpie_model(model, initvals, reuse, backend, steady, untraced)
        compiled_at = time.perf_counter()

        run = {
            "draws": settings.draws,
            "tune": settings.tune,
            "chains": settings.chains,
            "cores": min(settings.chains, 4),
            "seed": settings.seed,
            "target_accept": settings.target_accept,
            "progress_bar": progress,
            # the tuning draws are never used: not kept (a fit's trace is then its draws only;
            # at 8,000 parameters × 4 chains the warm-up alone held gigabytes)
            "save_warmup": False,
        }

        last: list[xr.DataTree] = []  # the last round checked: its draws, with their deterministics

        def completed(tree: xr.DataTree) -> xr.DataTree:
            if not last or last[0] is not tree:
                last[:] = [tree, own(_with_deterministics(tree, model, untraced))]
            return last[1]

        with _trace_store(compiled, run, settings.max_draws if continues else settings.draws) as store:
            if not continues:
                trace = _drop_warmup(nutpie.sample(compiled, **run, **store))
                thin = posterior_thinning(trace, settings.draws)
                tree = completed(_first_draws(trace, settings.draws, thin))
            else:
                more = cast("Callable[[xr.DataTree], bool]", needs_more)
                tree, draws_used, thin = _sample_until_checked(
                    compiled, {**run, **store}, settings.max_draws, lambda tree: more(completed(tree))
                )
                tree = completed(tree)
            tree = tree.load()  # out of the store before it is removed
        done = time.perf_counter()
        compile_s, sample_s = compiled_at - start, done - compiled_at
    else:
        _require_sampler_packages(sampler)

        # PyMC's samplers (and the JAX ones' sparse dot) take the data as constants
        model = freeze_dims_and_data(model)
        start = time.perf_counter()
        # the JAX samplers read the labels by the dense gather: PyTensor has no JAX conversion of
        # the sparse matrix some families' product builds (hierarchical: CSM)
        gather = dense_label_gather() if sampler in ("numpyro", "blackjax") else nullcontext()
        with model, warnings.catch_warnings(), _pymc_logging(quiet), gather:
            warnings.simplefilter("ignore", UserWarning)
            tree = pm.sample(
                draws=settings.draws,
                tune=settings.tune,
                chains=settings.chains,
                random_seed=settings.seed,
                nuts_sampler=sampler,
                initvals=initvals,
                progressbar=progress,
                nuts={"target_accept": settings.target_accept},
                compute_convergence_checks=False,
            )
        compile_s, sample_s = float("nan"), time.perf_counter() - start
        tree = own(_drop_warmup(tree))
        backend = "jax" if sampler in ("numpyro", "blackjax") else ""
    info = SamplingInfo(
        sampler=sampler,
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
        thin=thin,
    )
    return tree, info


UNTRACED_MIN_VALUES = 10_000
"""Values per draw from which a deterministic is left out of nutpie's trace and computed from
the free variables after sampling (`untraced_deterministics`)."""


def untraced_deterministics(model: pm.Model) -> list[str]:
    """The deterministics of ``model`` with at least `UNTRACED_MIN_VALUES` values per draw: NUTS
    leaves them out of nutpie's trace and computes them from the free variables once sampling
    has stopped (`persist._computed_deterministics`, equal to the traced values up to rounding).
    nutpie holds a trace three times over while it hands it back (its Arrow buffers, tuning
    draws included, their NumPy copies, the DataTree), so a large deterministic costs three
    times its size at the peak; computed afterwards, once. hierarchical-subtype on 25k labels
    and 4,000 observed cells (its ``cell_confusion`` as large as its free ε), 4 × 150 + 150 on
    one core: peak RSS while nutpie ran 1546 → 1261 MiB (the whole fit and its check: 1546 → 1319)."""
    sizes = {name: len(values) for name, values in model.coords.items() if values is not None}
    dims = model.named_vars_to_dims
    untraced = []
    for var in model.deterministics:
        var_dims = dims.get(var.name)
        if not var_dims or any(dim not in sizes for dim in var_dims):
            continue  # size unknown without evaluating the graph: traced
        if int(np.prod([sizes[dim] for dim in var_dims])) >= UNTRACED_MIN_VALUES:
            untraced.append(var.name)
    return untraced


def _with_deterministics(tree: xr.DataTree, model: pm.Model, names: Collection[str]) -> xr.DataTree:
    """``tree`` with the deterministics ``names`` computed from its posterior's free variables."""
    if not names:
        return tree
    from .persist import with_deterministics

    groups = {name: node.to_dataset() for name, node in tree.children.items()}
    groups["posterior"] = with_deterministics(groups["posterior"], model, list(names))
    return xr.DataTree.from_dict(groups)


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


def _doubling_rounds(draws: int, max_draws: int) -> list[int]:
    """Draws per chain at each check: ``draws``, doubling, capped at ``max_draws``."""
    rounds = [draws]
    while rounds[-1] < max_draws:
        rounds.append(min(2 * rounds[-1], max_draws))
    return rounds


def _sample_until_checked(
    compiled: CompiledModel, run: dict, max_draws: int, needs_more: Callable[[xr.DataTree], bool]
) -> tuple[xr.DataTree, list[int], int]:
    """NUTS that keeps its chains going until ``needs_more`` is False or ``max_draws`` is reached.

    One nutpie run of ``max_draws`` draws per chain runs in the background; when every chain
    holds the next round's draws (``run["draws"]``, doubling), the sampler pauses, the first
    draws of each chain are checked, and it resumes or is stopped. A seeded chain's draws do
    not depend on how many follow them, so each round's posterior is exactly that of a fresh
    run with that many draws (the draws a restart from scratch would give, without redoing the
    tuning and the earlier draws: 1000 → 2000 → 4000 costs 4000 draws and one tuning, not 7000
    and three). Each round's posterior keeps every `posterior_thinning`-th draw. Returns the posterior
    of the last round checked, the rounds and that round's thinning."""
    tune = run["tune"]
    import nutpie

    progress = {"draws": 0}  # the fewest draws (tuning included) any chain has finished

    def on_progress(chains: list) -> None:
        progress["draws"] = min(chain.finished_draws for chain in chains)

    sampler = nutpie.sample(
        compiled,
        **{**run, "draws": max_draws},
        blocking=False,
        progress_callback=on_progress,
        progress_rate=POLL_MS,
    )
    full: xr.DataTree | None = None
    rounds: list[int] = []
    try:
        for draws in _doubling_rounds(run["draws"], max_draws):
            if full is None:
                while progress["draws"] < tune + draws and not _finished(sampler):
                    time.sleep(POLL_MS / 1000)
                full = _paused_or_done(sampler)
            trace = full if full is not None else _drop_warmup(sampler.inspect())
            while full is None and not _holds_draws(trace, draws):  # a store's last chunk is due
                sampler.resume()
                time.sleep(POLL_MS / 1000)
                full = _paused_or_done(sampler)
                trace = full if full is not None else _drop_warmup(sampler.inspect())
            thin = posterior_thinning(trace, draws)
            tree = _first_draws(trace, draws, thin)
            rounds.append(draws)
            if draws >= max_draws or not needs_more(tree):
                return tree, rounds, thin
            if full is None:
                sampler.resume()
        raise AssertionError("unreachable: the last round is max_draws")  # pragma: no cover
    finally:
        if full is None:
            sampler.cancel()


POLL_MS = 100  # how often a background NUTS run reports its chains' progress


def _finished(sampler: object) -> bool:
    """Whether a background nutpie run has ended; raises the sampler's own error if it failed
    (nutpie raises TimeoutError while a failure is still being collected: not finished yet)."""
    try:
        return bool(sampler.is_finished)  # type: ignore[attr-defined]
    except TimeoutError:
        return False


def _paused_or_done(sampler: Any) -> xr.DataTree | None:
    """A running nutpie sampler paused (None), or, where it has finished, its whole trace
    without the tuning draws."""
    if _finished(sampler):
        return _drop_warmup(sampler.wait())
    sampler.pause()
    return None


def _holds_draws(trace: xr.DataTree, draws: int) -> bool:
    """Whether every chain's draw ``draws`` − 1 is in ``trace`` for every variable. nutpie's
    zarr store (`_trace_store`) writes a chain's draws 16 at a time, so a paused run's store may
    still lack draws the chains have finished (read back as NaN); in memory it holds them all.
    The chunks of a chain are written in order: the last draw there means all before it are."""
    posterior = trace["posterior"].to_dataset().isel(draw=draws - 1)
    return not any(np.isnan(posterior[name].values).any() for name in posterior.data_vars)


def _first_draws(tree: xr.DataTree, draws: int, thin: int = 1) -> xr.DataTree:
    """Every group's first ``draws`` draws per chain (chains of a paused run differ in length,
    padded with NaN past their last draw); with ``thin`` > 1 every ``thin``-th of them, numbered
    0, 1, … again, in every group but ``sample_stats`` (`posterior_thinning`), the group's attrs
    saying ``thin`` and ``thinned_from`` (the draws per chain run)."""

    def first(name: str, group: xr.Dataset) -> xr.Dataset:
        if "draw" not in group.dims:
            return group
        if thin == 1 or name == "sample_stats":
            return group.isel(draw=slice(0, draws))
        kept = group.isel(draw=slice(0, draws, thin))
        kept.attrs.update(thin=thin, thinned_from=draws)
        return kept.assign_coords(draw=np.arange(kept.sizes["draw"]))

    return xr.DataTree.from_dict(
        {name: first(name, node.to_dataset()) for name, node in tree.children.items()}
    )


POSTERIOR_READ_BYTES = 4_000_000_000
"""The most bytes of posterior draws (every chain, 8 bytes a number) a NUTS run reads back from
its trace for a check and for the fit (`posterior_thinning`)."""


def posterior_thinning(tree: xr.DataTree, draws: int) -> int:
    """Keep every how-many-th draw of a run's first ``draws`` per chain so that the posterior read
    back stays within `POSTERIOR_READ_BYTES`: 1 where it fits, else the smallest factor that does.

    A check reads the whole posterior, and turning it into the family's own variables
    (item-difficulty's pseudo-priors) holds a second copy while it works: item-difficulty on
    music_genre reads back ~84k numbers a draw, 21 GB of posterior at its ``max_draws``
    (4 × 8000), and on adult_content ~190k, 6 GB at the first round's 4 × 1000 and 24 GB at
    4 × 4000 — more than this 24 GB machine holds twice. Kept draws of a slowly mixing chain
    lose little: its ESS comes from its autocorrelation time, longer than the thinning
    (Stan's ``thin``; Link & Eaton 2012 on when thinning costs precision). The factor depends
    only on the model's size, the chains and the draws, so a seeded fit keeps the same draws on
    every machine. ``sample_stats`` is never thinned: the check counts every divergence."""
    posterior = tree["posterior"].to_dataset()
    chains, stored = posterior.sizes["chain"], posterior.sizes["draw"]
    per_draw = sum(var.size // max(1, chains * stored) for var in posterior.data_vars.values())
    size = 8 * per_draw * chains * draws
    return max(1, -(-size // POSTERIOR_READ_BYTES))


def _drop_warmup(tree: xr.DataTree) -> xr.DataTree:
    """The draws of a nutpie trace without its tuning draws, in memory or from a store
    (`_from_store`)."""
    keep = {name: node for name, node in tree.children.items() if not name.startswith("warmup")}
    groups = {name: node.to_dataset() for name, node in keep.items()}
    if "posterior" in groups and "chain" not in groups["posterior"].coords:
        groups = {name: _from_store(group) for name, group in groups.items()}
    return xr.DataTree.from_dict(groups)


TRACE_ON_DISK_BYTES = 2_000_000_000
"""The size of a nutpie trace (every chain, tuning draws included, 8 bytes a number) from which
it is written to a temporary zarr store on disk instead of held in memory (`_trace_store`)."""


def _stored_values(compiled: CompiledModel) -> int:
    """Numbers nutpie stores per draw: the free variables on the sampler's scale and on their
    own, and the traced deterministics (numba: ``n_expanded``; JAX: its variables' sizes)."""
    expanded = getattr(compiled, "n_expanded", None)
    if expanded is None:
        expanded = sum(int(var.num_elements) for var in getattr(compiled, "_variables", ()))
    return int(expanded) or 2 * int(compiled.n_dim)


@contextmanager
def _trace_store(compiled: CompiledModel, run: dict, draws: int) -> Iterator[dict]:
    """nutpie's ``zarr_store`` argument for a run of ``draws`` per chain: none (the trace in
    memory) below `TRACE_ON_DISK_BYTES`, above it a temporary folder, removed on exit.

    nutpie holds a trace in memory as Arrow buffers, tuning draws and free variables on the
    sampler's scale included, and copies all of it when it hands the trace back (also at each
    round of `_sample_until_checked`): item-difficulty on music_genre (700 items, K = 10,
    150k numbers a draw) held 3.2 GB after 4 × 500 iterations and was killed for memory
    (24 GB) at the end of its first 4 × 2000. On disk, a run's memory is the draws read back."""
    size = 8 * _stored_values(compiled) * run["chains"] * (run["tune"] + draws)
    if size < TRACE_ON_DISK_BYTES:
        yield {}
        return
    import nutpie

    remove_orphaned_traces()
    with tempfile.TemporaryDirectory(prefix=_trace_folder_prefix(os.getpid())) as folder:
        yield {"zarr_store": nutpie.zarr_store.LocalStore(folder)}


TRACE_FOLDER_PREFIX = "bayeslabels-trace-"


def _trace_folder_prefix(pid: int) -> str:
    """The name a trace folder of process ``pid`` on this machine starts with: the prefix, the
    host name and the process id, so that a later run can tell whose it is."""
    return f"{TRACE_FOLDER_PREFIX}{socket.gethostname()}-{pid}-"


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: no signal, only the check
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_orphaned_traces(directory: str | None = None) -> list[str]:
    """Remove the on-disk NUTS traces (`_trace_store`) left by runs on this machine whose process
    no longer exists, and return their paths.

    A run's folder is removed when the run ends or raises, but not when its process is killed
    (SIGKILL, the out-of-memory killer, a scheduler's time limit): a killed item-difficulty fit
    of adult_content leaves 30 GB behind. Every run that writes a trace first sweeps the
    temporary directory (``directory``, default `tempfile.gettempdir()`) for folders named by
    `_trace_folder_prefix` whose host is this one and whose process is gone. Folders of other
    hosts, of live processes and of other users are left alone. POSIX only (elsewhere a
    process cannot be probed without signalling it): there it returns ``[]``."""
    if os.name != "posix":
        return []
    directory = directory or tempfile.gettempdir()
    ours = f"{TRACE_FOLDER_PREFIX}{socket.gethostname()}"
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    for entry in entries:
        # host, pid, then tempfile's random suffix (which has no "-"): read from the right
        head, pid_text, _ = (entry.name.rsplit("-", 2) + ["", ""])[:3]
        if head != ours or not pid_text.isdigit() or _process_exists(int(pid_text)):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat().st_uid != os.getuid():
                continue
        except OSError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry.path)
    if removed:
        LOG.warning(
            "removed %d NUTS trace folder(s) left on disk by killed runs: %s",
            len(removed),
            ", ".join(removed),
        )
    return removed


def _from_store(group: xr.Dataset) -> xr.Dataset:
    """A group of a trace read from nutpie's zarr store in the form of the in-memory one: the
    free variables on the sampler's scale (``*__``) and the per-parameter sample stats left
    out, ``chain`` and ``draw`` numbered, string coordinates as Python strings. Lazy."""
    keep = [
        name
        for name, var in group.data_vars.items()
        if not str(name).endswith("__")
        and "unconstrained_parameter" not in var.dims
        and set(var.dims[:2]) == {"chain", "draw"}
    ]
    group = group[keep]
    group = group.drop_vars([name for name in group.coords if name not in group.dims])
    numbered = {dim: np.arange(group.sizes[dim]) for dim in ("chain", "draw") if dim in group.dims}
    strings = {
        name: group.coords[name].values.astype(object)
        for name in group.coords
        if group.coords[name].dtype.kind == "T"
    }
    return group.assign_coords({**numbered, **strings})


def point_tree(values: dict[str, tuple[tuple[str, ...], np.ndarray]], coords: dict) -> xr.DataTree:
    """A one-chain, one-draw posterior holding point estimates (EM / MAP)."""
    data_vars = {
        name: (("chain", "draw", *dims), np.asarray(array)[None, None])
        for name, (dims, array) in values.items()
    }
    posterior = xr.Dataset(data_vars, coords={"chain": [0], "draw": [0], **coords})
    posterior.attrs["point_estimate"] = 1
    return xr.DataTree.from_dict({"posterior": posterior})


def optimizer_backend(model: pm.Model, sampler: str = "nutpie") -> str:
    """The compile backend of MAP and ADVI for ``model``: ``"jax"`` or ``"numba"``.

    The same rule as NUTS (`nutpie_backend`): XLA compiles the loss and its gradient in
    seconds where numba takes most of a minute cold (60 items × 8 annotators, K = 3, empty
    caches: MAP 9 s through JAX against 45 s, ADVI 6 s against 70 s), so JAX up to
    `JAX_MAX_LABELS` labels unless ``sampler`` names numba (a minibatch, whose table is not
    a `pm.Data`, counts as small: its batch is)."""
    return nutpie_backend(sampler if sampler in NUTPIE_SAMPLERS else "nutpie", _n_labels(model))


@contextmanager
def _compiled_by(model: pm.Model, backend: str) -> Iterator[tuple[pm.Model, dict[str, str]]]:
    """(the model to optimise, keyword arguments for `pm.fit`: the backend) for ``backend``.
    Through JAX the dims and data are frozen (XLA needs static shapes) and the labels are read
    by the dense gather up to `JAX_GATHER_MAX_LABELS`, by the constant sparse product above."""
    if backend == "numba":
        yield model, {}
        return
    gather = dense_label_gather() if _n_labels(model) <= JAX_GATHER_MAX_LABELS else nullcontext()
    with gather, warnings.catch_warnings():
        # zero-sum and ordering assertions are dropped from the traced graph: their values
        # hold by construction (the transforms)
        warnings.filterwarnings("ignore", "Skipping Check", UserWarning)
        yield freeze_dims_and_data(model), {"backend": "jax"}


def fit_map(
    model: pm.Model, start: dict[str, np.ndarray], quiet: bool = False, sampler: str = "nutpie"
) -> xr.DataTree:
    """Posterior mode by L-BFGS-B from the EM start (``jacobian=False``: the mode of the
    density of the parameters themselves, as `pm.find_MAP`): a one-draw posterior flagged as
    a point estimate. Loss and gradient are one function of the value variables compiled
    through `optimizer_backend` (PyMC's ``find_MAP`` reads them from one flat vector whose
    slices XLA cannot shape)."""
    from scipy.optimize import minimize

    with (
        _compiled_by(model, optimizer_backend(model, sampler)) as (compiled, backend),
        compiled,
        _pymc_logging(quiet),
    ):
        point = make_initial_point_fn(model=compiled, overrides=start, return_transformed=True)(0)
        values = _static_value_vars(compiled, point)
        loss = graph_replace(-compiled.logp(jacobian=False), values, strict=False)
        mode = _mode(backend.get("backend"))
        inputs = list(values.values())
        grads = list(cast("list[pt.TensorVariable]", pt.grad(loss, inputs)))
        loss_and_grad = pytensor.function(inputs, [loss, *grads], mode=mode)
        names = [var.name for var in inputs]
        shapes = [np.shape(point[name]) for name in names]
        ends = np.cumsum([int(np.prod(shape)) for shape in shapes])

        def unravel(flat: np.ndarray) -> dict[str, np.ndarray]:
            parts = np.split(flat, ends[:-1])
            return {name: part.reshape(shape) for name, part, shape in zip(names, parts, shapes, strict=True)}

        def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
            value, *grads = loss_and_grad(*unravel(flat).values())
            return float(value), np.concatenate([np.ravel(g) for g in grads])

        x0 = np.concatenate([np.ravel(point[name]) for name in names]).astype(float)
        result = minimize(objective, x0, jac=True, method="L-BFGS-B")
        if not result.success and not quiet:
            warnings.warn(f"MAP: the optimizer did not converge: {result.message}", UserWarning, stacklevel=2)
        posterior = posterior_values(compiled, {name: x[None] for name, x in unravel(result.x).items()}, mode)
    posterior.attrs["point_estimate"] = 1
    return xr.DataTree.from_dict({"posterior": posterior})


def _static_value_vars(model: pm.Model, point: dict[str, np.ndarray]) -> dict:
    """Each value variable of ``model`` → a stand-in of the same name with the static shape it
    has at ``point``: XLA needs every shape known at compile time, and the gradients of joins
    and zero-sum transforms split by sizes that fold to constants only when it is."""
    return {
        var: pt.tensor(name=var.name, dtype=var.dtype, shape=np.shape(point[var.name]))
        for var in model.value_vars
    }


def _mode(backend: str | None) -> pytensor.compile.mode.Mode | None:
    """PyTensor's compile mode for ``backend`` (None: the default, numba)."""
    return None if backend is None else pytensor.compile.mode.get_mode(backend.upper())


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


def _unconstrained_draws(approx: pm.Approximation, draws: int, seed: int) -> dict[str, np.ndarray]:
    """``draws`` draws (draws, *shape) of each free variable on the unconstrained scale from a
    mean-field (``μ + softplus(ρ) ε``) or full-rank (``μ + L ε``, L's diagonal through
    softplus) Gaussian approximation, ε standard normal from ``seed``."""
    group = approx.groups[0]
    mu = np.asarray(group.params_dict["mu"].get_value())
    eps = np.random.default_rng(seed).standard_normal((draws, mu.size))
    if "L_tril" in group.params_dict:
        chol = np.zeros((mu.size, mu.size))
        chol[np.tril_indices(mu.size)] = group.params_dict["L_tril"].get_value()
        diagonal = np.diag_indices(mu.size)
        chol[diagonal] = np.logaddexp(0.0, chol[diagonal])
        flat = mu + eps @ chol.T
    else:
        flat = mu + eps * np.logaddexp(0.0, np.asarray(group.params_dict["rho"].get_value()))
    return {name: flat[:, part].reshape(draws, *shape) for name, part, shape, _ in group.ordering.values()}


def approximation_draws(
    approx: pm.Approximation, model: pm.Model, draws: int, seed: int, backend: str | None = None
) -> xr.Dataset:
    """The posterior (one chain of ``draws``) of a fitted approximation, as PyMC's
    ``approx.sample`` gives it: Gaussian draws in NumPy (`_unconstrained_draws`) mapped by
    `posterior_values` (PyMC's own sampler compiles its random draws by numba, tens of seconds
    cold, and cannot compile them through JAX)."""
    return posterior_values(model, _unconstrained_draws(approx, draws, seed), _mode(backend))


def posterior_values(
    model: pm.Model, unconstrained: dict[str, np.ndarray], mode: pytensor.compile.mode.Mode | None
) -> xr.Dataset:
    """One chain of draws of ``model``'s free variables and deterministics, by the model's
    dims, from draws (draws, *shape) of its value variables (the unconstrained scale), by one
    function compiled in ``mode``."""
    names = {rv.name for rv in (*model.free_RVs, *model.deterministics)}
    wanted = [var for var in model.unobserved_value_vars if var.name in names]
    values = _static_value_vars(model, {name: x[0] for name, x in unconstrained.items()})
    outputs = graph_replace(wanted, values, strict=False)
    function = pytensor.function(list(values.values()), outputs, mode=mode, on_unused_input="ignore")
    draws = len(next(iter(unconstrained.values())))
    columns: list[list[np.ndarray]] = [[] for _ in wanted]
    for i in range(draws):
        point = function(*(unconstrained[var.name][i] for var in values))
        for column, value in zip(columns, point, strict=True):
            column.append(np.asarray(value))
    data_vars = {}
    for var, column in zip(wanted, columns, strict=True):
        array = np.stack(column)[None]
        dims = model.named_vars_to_dims.get(var.name) or tuple(
            f"{var.name}_dim_{axis}" for axis in range(array.ndim - 2)
        )
        data_vars[var.name] = (("chain", "draw", *dims), array)
    used = {dim for dims, _ in data_vars.values() for dim in dims[2:]}
    coords = {name: np.asarray(model.coords[name]) for name in used if model.coords.get(name) is not None}
    return xr.Dataset(data_vars, coords={"chain": [0], "draw": np.arange(draws), **coords})


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
    with (
        _compiled_by(model, optimizer_backend(model, settings.sampler)) as (compiled, backend),
        compiled,
        warnings.catch_warnings(),
        _pymc_logging(quiet),
    ):
        warnings.simplefilter("ignore", UserWarning)
        approx = pm.fit(
            n=settings.advi_iterations,
            method="fullrank_advi" if full_rank else "advi",
            start=start,
            random_seed=settings.seed,
            callbacks=[LossPlateau()],
            progressbar=show_progress(quiet),
            **extra,
            **backend,
        )
        posterior = approximation_draws(
            approx, compiled, settings.draws, settings.seed, backend.get("backend")
        )
    fitted = time.perf_counter()
    losses = np.asarray(approx.hist)
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
