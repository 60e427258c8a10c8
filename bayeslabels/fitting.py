"""`fit`: from labels and a model spec to a `Fit` — the one orchestrator.

It resolves the spec, asks the model family (`bayeslabels.models`) for its graph and start,
runs the Dawid–Skene EM that every sampler starts from, and hands the graph to the sampler
(`inference`). Nothing here knows which family it fits.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import xarray as xr

from .aggregate import EMResult, dawid_skene_em
from .choices import Method, Sampler
from .data import Annotations
from .diagnostics import Thresholds
from .errors import DataError
from .fit import Fit
from .inference import fit_advi, fit_map, point_tree, sample_nuts
from .spec import ModelSpec, SamplingInfo, resolve_spec


def fit(
    annotations: Annotations,
    model: str | Path | ModelSpec = "dawid-skene",
    method: Method | None = None,
    *,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    seed: int | None = None,
    sampler: Sampler | None = None,
    target_accept: float | None = None,
    minibatch_items: int | None = None,
    max_draws: int | None = None,
    use_gold: bool = True,
    init: EMResult | None = None,
    quiet: bool = False,
    reuse_compiled: bool = True,
) -> Fit:
    """Fit an annotator model.

    Parameters
    ----------
    annotations
        The labels (`Annotations`).
    model
        A shipped spec name (``"dawid-skene"``, ``"one-coin"``, ``"hierarchical"``,
        ``"hierarchical-subtype"``, ``"beta-bernoulli"``; `bayeslabels.models.family_names`),
        a path to a TOML spec, or a `ModelSpec`. ``"auto"``: screen the candidate families
        and fit the one `compare_models` recommends (`bayeslabels.selection.auto_fit`; the
        comparison is in ``fit.model_selection`` and the export's provenance).
    method
        ``"nuts"`` (the shipped default), ``"advi"`` / ``"fullrank-advi"`` (draws from the
        fitted approximation), ``"map"`` (posterior mode, a one-draw posterior) or ``"em"``
        (Dawid–Skene EM point estimate, for the families EM fits). None: the spec's.
    draws, tune, chains, seed, sampler, target_accept, minibatch_items
        Override the spec's inference settings.
    max_draws
        NUTS through nutpie: while the check fails on R-hat or ESS alone, sample again with
        twice the draws (same seed, no recompiling) up to this many per chain; the report and
        ``fit.sampling.draws_used`` say when it did (0: never). The shipped specs set 4000; an
        explicit ``draws`` without ``max_draws`` means exactly those draws.
    use_gold
        False keeps gold out of the likelihood (to score the fit on it).
    init
        An `EMResult` to start from instead of this data's EM solution.
    quiet
        No progress bars or informational log lines.
    reuse_compiled
        NUTS through nutpie re-uses this process's compiled model of the same family, priors
        and sizes with the new data instead of compiling again; ``fit.sampling.compiled_reused``
        says when it did.

    Returns
    -------
    Fit
        The posterior with the data and spec behind it.

    Raises
    ------
    DataError
        If ``annotations`` is not an `Annotations` or does not suit the model.
    SpecError
        If the model or an inference setting is unknown or invalid, ``method="em"`` is
        asked of a family EM does not fit, or a JAX sampler's packages are missing.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("bluebirds")
    >>> fit = bl.fit(ann, model="dawid-skene", method="nuts", seed=1)  # doctest: +SKIP
    >>> fit.check().ok  # doctest: +SKIP
    True
    >>> point = bl.fit(ann, method="em")  # the EM point estimate: no sampling
    >>> point.method, point.is_point_estimate
    ('em', True)
    >>> bl.fit(ann, model="hierarchical", method="em")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bayeslabels.errors.SpecError: method 'em' fits Dawid–Skene only; ...
    """
    if not isinstance(annotations, Annotations):
        raise DataError(
            "fit() needs an Annotations (e.g. bl.Annotations.from_csv(...)), "
            f"got {type(annotations).__name__}"
        )
    if isinstance(model, str) and model == "auto":
        from .selection import auto_fit

        asked = {
            "method": method,
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "sampler": sampler,
            "target_accept": target_accept,
            "minibatch_items": minibatch_items,
            "max_draws": max_draws,
        }
        final = {name: value for name, value in asked.items() if value is not None}
        return auto_fit(annotations, use_gold=use_gold, seed=seed, quiet=quiet, final_settings=final)[0]
    if draws is not None and max_draws is None:
        max_draws = 0  # draws asked for explicitly: exactly that many, unless max_draws says more
    spec = resolve_spec(model).with_inference(
        method=method,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        sampler=sampler,
        target_accept=target_accept,
        minibatch_items=minibatch_items,
        max_draws=max_draws,
    )
    family = spec.family
    family.validate(annotations)
    data = annotations if use_gold else replace(annotations, gold=np.full(annotations.n_items, -1))
    em = dawid_skene_em(data, variant=family.em_variant, priors=spec.em_priors)
    method = spec.inference.method

    def fitted(tree: xr.DataTree, sampling: SamplingInfo | None = None) -> Fit:
        return Fit(tree, annotations, spec, method, em=em, sampling=sampling, used_gold=use_gold)

    def finished(tree: xr.DataTree, sampling: SamplingInfo | None = None) -> Fit:
        return fitted(tree, sampling)._with_log_likelihood()

    if method == "em":
        coords = {
            "annotator": list(annotations.annotators),
            "true_class": list(annotations.classes),
            "label_class": list(annotations.classes),
        }
        return fitted(point_tree(family.em_tree_values(em), coords))
    minibatch = spec.inference.minibatch_items if method in ("advi", "fullrank-advi") else 0
    pymc_model = family.build(data, spec.priors, minibatch_items=minibatch)
    start = family.start(em if init is None else init, data, spec.priors)
    if method == "nuts":
        reuse = None
        if reuse_compiled:
            shape = (spec.model, repr(spec.priors), family.shape_key(data, spec.priors))
            reuse = (family.model_data(data), shape)
        tree, info = sample_nuts(
            pymc_model,
            spec.inference,
            start,
            quiet,
            reuse=reuse,
            needs_more=lambda tree: fitted(tree)._check(Thresholds(), predictive=False).needs_more_draws,
        )
        return finished(tree, info)
    if method == "map":
        return fitted(fit_map(pymc_model, start, quiet))
    per_annotator = np.bincount(data.annotator_idx, minlength=data.n_annotators)
    tree, info = fit_advi(pymc_model, spec.inference, start, method == "fullrank-advi", quiet, per_annotator)
    return finished(tree, info)
