"""The only caller of the samplers: NUTS through nutpie (default) or PyMC's own samplers.

Chains start at the EM solution, so every chain begins in the mode whose classes mean
what the labels mean (nutpie jitters each chain's start by U(−1, 1) on the unconstrained
scale, so R-hat still compares chains that started apart). Returns an ``xr.DataTree``.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pymc as pm
import xarray as xr

from .spec import InferenceSettings


@dataclass(frozen=True)
class SamplingInfo:
    sampler: str
    draws: int
    tune: int
    chains: int
    seed: int
    target_accept: float
    compile_seconds: float
    sampling_seconds: float


def show_progress(quiet: bool) -> bool:
    """Progress bars only in an interactive terminal, and never when asked to be quiet."""
    return not quiet and sys.stderr.isatty()


def sample_nuts(
    model: pm.Model,
    settings: InferenceSettings,
    initvals: dict[str, np.ndarray],
    quiet: bool = False,
) -> tuple[xr.DataTree, SamplingInfo]:
    """NUTS with the sampler named in ``settings`` (nutpie, pymc, numpyro or blackjax)."""
    progress = show_progress(quiet)
    if settings.sampler == "nutpie":
        import nutpie

        start = time.perf_counter()
        compiled = nutpie.compile_pymc_model(model, initial_points=initvals)
        compiled_at = time.perf_counter()
        tree = nutpie.sample(
            compiled,
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            cores=min(settings.chains, 4),
            seed=settings.seed,
            target_accept=settings.target_accept,
            progress_bar=progress,
        )
        done = time.perf_counter()
        compile_s, sample_s = compiled_at - start, done - compiled_at
    else:
        start = time.perf_counter()
        with model, warnings.catch_warnings():
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
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        seed=settings.seed,
        target_accept=settings.target_accept,
        compile_seconds=compile_s,
        sampling_seconds=sample_s,
    )
    return tree, info


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


def fit(
    annotations,
    model="dawid-skene",
    method: str | None = None,
    *,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    seed: int | None = None,
    sampler: str | None = None,
    target_accept: float | None = None,
    use_gold: bool = True,
    init=None,
    quiet: bool = False,
):
    """Fit an annotator model; returns a `Fit`.

    model: a shipped spec name (``"dawid-skene"``, ``"one-coin"``), a path to a TOML spec,
    or a `ModelSpec`. method: ``"nuts"`` (default of the shipped specs) or ``"em"`` (point
    estimate, a one-draw posterior). Keyword settings override the spec's inference
    defaults. ``use_gold=False`` keeps gold out of the likelihood (to score the fit on it).
    ``init`` (an `EMResult`) starts the chains there instead of at this data's EM solution.
    """
    from dataclasses import replace as _replace

    from .aggregate import dawid_skene_em
    from .data import Annotations
    from .errors import DataError
    from .fit import Fit
    from .models import BUILDERS, initial_values
    from .spec import resolve_spec

    if not isinstance(annotations, Annotations):
        raise DataError(
            "fit() needs an Annotations (e.g. bl.Annotations.from_csv(...)), "
            f"got {type(annotations).__name__}"
        )
    spec = resolve_spec(model).with_inference(
        method=method,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        sampler=sampler,
        target_accept=target_accept,
    )
    data = annotations if use_gold else _replace(annotations, gold=np.full(annotations.n_items, -1))
    em = dawid_skene_em(data, variant=spec.variant, priors=spec.priors)
    if spec.inference.method == "em":
        coords = {
            "annotator": list(annotations.annotators),
            "true_class": list(annotations.classes),
            "label_class": list(annotations.classes),
        }
        tree = point_tree(
            {
                "prevalence": (("true_class",), em.prevalence),
                "confusion": (("annotator", "true_class", "label_class"), em.confusion),
            },
            coords,
        )
        return Fit(tree, annotations, spec, "em", em=em, sampling=None, used_gold=use_gold)
    pymc_model = BUILDERS[spec.model](data, spec.priors)
    start = em if init is None else init
    tree, info = sample_nuts(
        pymc_model, spec.inference, initial_values(spec.model, start.confusion, start.prevalence), quiet
    )
    return Fit(tree, annotations, spec, "nuts", em=em, sampling=info, used_gold=use_gold)
