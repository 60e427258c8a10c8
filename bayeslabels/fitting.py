"""`fit`: from labels and a model spec to a `Fit` — the one orchestrator.

It resolves the spec, asks the model family (`bayeslabels.models`) for its graph and start,
runs the Dawid–Skene EM that every sampler starts from, and hands the graph to the sampler
(`inference`). Nothing here knows which family it fits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .aggregate import EMResult, dawid_skene_em
from .choices import Method, Sampler
from .data import Annotations
from .diagnostics import ConvergenceReport, Thresholds
from .errors import DataError
from .features import FeaturesLike, ItemFeatures, item_features, no_features
from .fit import Fit
from .inference import fit_advi, fit_map, point_tree, sample_nuts
from .models import Family
from .selection import SCREEN_THRESHOLDS, ModelComparison, compare_models
from .spec import ModelSpec, SamplingInfo, resolve_spec

if TYPE_CHECKING:
    from .averaging import FamilyAverage


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
    check_thresholds: Thresholds | None = None,
    use_gold: bool = True,
    init: EMResult | None = None,
    quiet: bool = False,
    reuse_compiled: bool = True,
    features: FeaturesLike | None = None,
    feature_items: Sequence[str] | None = None,
    self_calibration: bool = True,
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
        and fit the one `compare_models` recommends (`auto_fit`; the
        comparison is in ``fit.model_selection`` and the export's provenance), self-calibrated
        unless ``self_calibration=False``. What ``bayeslabels fit --model auto`` exports is
        instead the equal average of every converged candidate (`auto_average`, a
        `FamilyAverage`): LOO's pick lost accuracy on duchenne and dog.
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
    check_thresholds
        The check that ``max_draws`` samples until it passes (default `Thresholds()`; the
        ``model="auto"`` screen uses the looser `SCREEN_THRESHOLDS`).
    use_gold
        False keeps gold out of the likelihood (to score the fit on it).
    init
        An `EMResult` to start from instead of this data's EM solution.
    quiet
        No progress bars or informational log lines.
    features, feature_items
        Item features of a family that takes them (``"learning-from-crowds"``): a pandas
        DataFrame indexed by item id, or a 2-D NumPy array / SciPy sparse matrix whose rows are
        the items ``feature_items`` names (default: ``annotations.items`` in order). One row per
        item, numeric, no missing values (`bayeslabels.features.item_features`); standardised
        with the fitted items' mean and sd, kept in the fit for `Fit.predict_items`. Rows of
        other items never enter the fit.
    self_calibration
        ``model="auto"`` only: temper the chosen fit's soft labels by label count, fitted on
        held-out labels without gold (`bayeslabels.self_calibrate`; ``fit.self_calibration``).
        Other models: call `bayeslabels.self_calibrate` on the fit.
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
        if features is not None:
            raise DataError("model 'auto' does not screen feature models; fit model='learning-from-crowds'")
        asked = {
            "method": method,
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "sampler": sampler,
            "target_accept": target_accept,
            "minibatch_items": minibatch_items,
            "max_draws": max_draws,
            "check_thresholds": check_thresholds,
        }
        final = {name: value for name, value in asked.items() if value is not None}
        return auto_fit(
            annotations,
            use_gold=use_gold,
            seed=seed,
            quiet=quiet,
            final_settings=final,
            self_calibration=self_calibration,
        )[0]
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
    scaled = _features(family, annotations, features, feature_items)
    data = annotations if use_gold else replace(annotations, gold=np.full(annotations.n_items, -1))
    em = dawid_skene_em(data, variant=family.em_variant, priors=spec.em_priors)
    method = spec.inference.method

    def fitted(tree: xr.DataTree, sampling: SamplingInfo | None = None) -> Fit:
        if scaled is not None:  # the features travel with the posterior (saved, for prediction)
            groups = {name: node.to_dataset() for name, node in tree.children.items()}
            tree = xr.DataTree.from_dict({**groups, "features": scaled.to_dataset(annotations.items)})
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
    extra = {} if scaled is None else {"features": scaled}
    pymc_model = family.build(data, spec.priors, minibatch_items=minibatch, **extra)
    start = family.start(em if init is None else init, data, spec.priors)
    if method == "nuts":
        thresholds = Thresholds() if check_thresholds is None else check_thresholds
        sampled = None
        if family.nuts_model is not None and scaled is None:
            sampled = family.nuts_model(data, spec.priors, em if init is None else init, start)
            pymc_model, start = sampled.model, sampled.start

        def own(tree: xr.DataTree) -> xr.DataTree:
            """The draws as the family's own variables (`Family.nuts_model`)."""
            assert sampled is not None
            return sampled.to_posterior(tree, use_gold, spec.inference.seed)

        reuse = None
        if reuse_compiled:
            shape: tuple = (spec.model, repr(spec.priors), family.shape_key(data, spec.priors))
            model_data = family.model_data(data) if sampled is None else dict(sampled.data)
            if sampled is not None:
                shape = (*shape, "sampled-model")
            if scaled is not None:
                shape = (*shape, scaled.names)
                model_data["features"] = scaled.values
            reuse = (model_data, shape)
        tree, info = sample_nuts(
            pymc_model,
            spec.inference,
            start,
            quiet,
            reuse=reuse,
            needs_more=lambda tree: _round_checked(
                fitted(tree)._check(thresholds, predictive=False), tree["posterior"].attrs
            ),
            steady=family.steady_start,
            numpyro_faster=family.numpyro_faster,
            numba_faster=family.numba_faster,
            to_posterior=None if sampled is None else own,
        )
        return finished(tree, info)
    if method == "map":
        return fitted(fit_map(pymc_model, start, quiet, spec.inference.sampler))
    per_annotator = np.bincount(data.annotator_idx, minlength=data.n_annotators)
    tree, info = fit_advi(pymc_model, spec.inference, start, method == "fullrank-advi", quiet, per_annotator)
    return finished(tree, info)


LOG = logging.getLogger("bayeslabels")
"""Each round of a ``max_draws`` fit is logged here at INFO, with its check as the record's
``check`` attribute (`ConvergenceReport.to_dict`): why the chains go on, or that they stop."""


def _round_checked(report: ConvergenceReport, attrs: Mapping[Any, Any]) -> bool:
    """Log the check of one round of draws (``max_draws``): the draws per chain run (``attrs``
    of the posterior: ``thinned_from`` where it was thinned), its verdict, worst R-hat and ESS
    and the worst scalar. Whether the chains go on (`ConvergenceReport.needs_more_draws`)."""
    worst = f"; worst {report.worst[0]}" if report.worst else ""
    kept = f" (1 in {report.thin} kept)" if report.thin > 1 else ""
    LOG.info(
        "%d draws per chain%s: %s (max R-hat %.4f, min bulk ESS %.0f, min tail ESS %.0f%s)",
        int(attrs.get("thinned_from", report.n_draws)),
        kept,
        "more draws needed" if report.needs_more_draws else report.verdict,
        report.max_rhat,
        report.min_ess_bulk,
        report.min_ess_tail,
        worst,
        extra={"check": report.to_dict()},
    )
    return report.needs_more_draws


def _features(
    family: Family, ann: Annotations, features: FeaturesLike | None, feature_items: Sequence[str] | None
) -> ItemFeatures | None:
    """The validated, standardised features of a family that takes them (none given: zero
    columns); a DataError for features given to a family that does not."""
    if not family.takes_features:
        if features is not None:
            raise DataError(
                f"model {family.name!r} does not use item features; fit model='learning-from-crowds' "
                "to learn a classifier of them with the annotators"
            )
        return None
    if features is None:
        return no_features(ann.n_items)
    return item_features(features, ann.items, feature_items)


AUTO_CANDIDATES = ("dawid-skene", "one-coin", "hierarchical", "mace", "item-difficulty", "ambiguity")
"""The families ``model="auto"`` screens (those registered; ``hierarchical-subtype`` joins when
the data have subtypes, ``ordinal`` when the classes are ordered). Beta–Bernoulli is left out:
its soft label means something else (the rate of a new positive label, binary only) and
``ambiguity`` generalises it."""

SCREEN_SETTINGS: dict[str, Any] = {"draws": 500, "tune": 500, "chains": 2, "max_draws": 1000}
"""The NUTS run each candidate gets for the screen (enough for PSIS-LOO and the checks). A
candidate that misses `SCREEN_THRESHOLDS` on R-hat or ESS alone (not on label switching or
divergences: more draws do not cure those) keeps its chains going to twice the draws
(``max_draws``, checked against `SCREEN_THRESHOLDS`; duchenne: ambiguity at R-hat 1.055, the
best calibrated family there, was set aside at 2 × 500)."""


def auto_candidates(ann: Annotations) -> list[str]:
    """The candidate families for these data (`AUTO_CANDIDATES` that are registered and fit them)."""
    from .models import family, family_names

    names = [name for name in AUTO_CANDIDATES if name in family_names()]
    if ann.has_subtypes and (ann.subtype >= 0).all():
        names.append("hierarchical-subtype")
    if ann.ordered:
        names.append("ordinal")
    fitting = []
    for name in names:
        try:
            family(name).validate(ann)
        except DataError:
            continue
        fitting.append(name)
    return fitting


def auto_fit(
    annotations: Annotations,
    *,
    candidates: list[str] | None = None,
    use_gold: bool = True,
    seed: int | None = None,
    quiet: bool = False,
    final_settings: dict[str, Any] | None = None,
    self_calibration: bool = True,
) -> tuple[Fit, ModelComparison]:
    """Fit the candidate families, choose one by `compare_models`, and fit it in full.

    Each candidate gets a short NUTS run (`SCREEN_SETTINGS`: 2 chains × 500 draws, its chains
    continued to 1000 where R-hat or ESS alone missed the screen's bar), enough for PSIS-LOO and
    the predictive check; the recommended family is then fitted with its
    spec's settings (or ``final_settings``, keyword arguments of `bayeslabels.fit`) — where that
    full fit misses even the screen's bar, the next family recommended among the other screens
    (`_final_fit`; each full fit is listed in ``model_selection["final_fits"]``) — and, unless
    ``self_calibration`` is False, self-calibrated (`bayeslabels.self_calibrate`: its soft labels
    tempered by label count, fitted on held-out labels). Gold is never used to choose or to
    calibrate. The returned fit carries the comparison (with the self-calibration) in
    ``model_selection``, which its export writes into the provenance.

    Parameters
    ----------
    annotations : Annotations
        The labels.
    candidates : list of str, optional
        Family names to screen (default `auto_candidates`).
    use_gold : bool, default True
        Whether gold anchors the fits (as in `bayeslabels.fit`).
    seed : int, optional
        Seed of every fit (default: each spec's).
    quiet : bool, default False
        No progress bars.
    final_settings : dict, optional
        Settings of the final fit (e.g. ``{"draws": 2000}``).
    self_calibration : bool, default True
        Self-calibrate the chosen fit.

    Returns
    -------
    (Fit, ModelComparison)
        The chosen family's full fit and the comparison of the screen.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> fit, comparison = bl.fitting.auto_fit(bl.datasets.load("rte"))  # doctest: +SKIP
    >>> print(comparison)  # doctest: +SKIP
    """
    screens = _screens(annotations, candidates, use_gold, seed, quiet)
    comparison = compare_models(screens, seed=0 if seed is None else seed)
    settings = {"use_gold": use_gold, "seed": seed, "quiet": quiet, **(final_settings or {})}
    chosen, final_fits = _final_fit(annotations, screens, comparison.recommended, settings)
    selection = comparison.to_dict()
    selection["final_fits"] = final_fits
    if self_calibration:
        from .self_calibration import self_calibrate

        calibrated = self_calibrate(chosen, seed=0 if seed is None else seed)
        chosen = calibrated.fit
        selection["self_calibration"] = calibrated.to_dict()
    else:
        selection["self_calibration"] = None
    return replace(chosen, model_selection=selection), comparison


def _screens(
    annotations: Annotations, candidates: list[str] | None, use_gold: bool, seed: int | None, quiet: bool
) -> dict[str, Fit]:
    """The short NUTS run of each candidate (`SCREEN_SETTINGS`, checked against `SCREEN_THRESHOLDS`)."""
    names = candidates if candidates is not None else auto_candidates(annotations)
    if not names:
        raise DataError("model 'auto' found no candidate family for these data")
    return {
        name: fit(
            annotations,
            model=name,
            method="nuts",
            use_gold=use_gold,
            seed=seed,
            quiet=quiet,
            check_thresholds=SCREEN_THRESHOLDS,
            **SCREEN_SETTINGS,
        )
        for name in names
    }


def auto_average(
    annotations: Annotations,
    *,
    candidates: list[str] | None = None,
    use_gold: bool = True,
    seed: int | None = None,
    quiet: bool = False,
    final_settings: dict[str, Any] | None = None,
    self_calibration: bool = True,
    full_fits: Mapping[str, Fit] | None = None,
) -> FamilyAverage:
    """Fit every candidate family that mixes and average their soft labels with equal weights:
    what ``bayeslabels fit --model auto`` exports.

    Each candidate gets the screen's short NUTS run (as `auto_fit`); every one whose screen mixed
    (`SCREEN_THRESHOLDS`), or missed on R-hat or ESS alone by what its full fit's draws can make
    up (`worth_a_full_fit`), is fitted in full at its spec's settings (or ``final_settings``) and,
    unless ``self_calibration`` is False, self-calibrated (`bayeslabels.self_calibrate`, no gold).
    The full fits that pass `Fit.check` at its defaults are averaged with equal weights
    (`FamilyAverage`; where none passes, every full fit, whose export then refuses unless told to
    allow a failed check). Gold is never used to choose, to weigh or to calibrate.

    Why an average and not LOO's pick: PSIS-LOO scores how well a family predicts the *labels*,
    and a family with item effects predicts split labels best by making them weak evidence for
    any class; the labels cannot say which family's classes are right where they are split.
    Measured at shipped settings, gold held out (benchmarks/results/gold_free_rules_{1,2}.md), the
    equal average of the self-calibrated candidates has ECE and log-loss at or below the vote
    share's on rte, bluebirds, duchenne and music_genre (dog: ECE 0.093 against 0.077) and keeps
    Dawid–Skene's accuracy where LOO's pick loses it (duchenne 0.786 against 0.736).

    Parameters
    ----------
    annotations : Annotations
        The labels.
    candidates : list of str, optional
        Family names to screen (default `auto_candidates`).
    use_gold : bool, default True
        Whether gold anchors the fits (as in `bayeslabels.fit`).
    seed : int, optional
        Seed of every fit (default: each spec's).
    quiet : bool, default False
        No progress bars.
    final_settings : dict, optional
        Settings of the full fits (keyword arguments of `bayeslabels.fit`, e.g. ``{"draws": 2000}``).
    self_calibration : bool, default True
        Self-calibrate every full fit.
    full_fits : mapping of str to Fit, optional
        Full fits already made of some candidates (e.g. `bayeslabels.load` of an earlier save),
        used instead of fitting those families again: each that family's fit of these labels,
        with the same ``use_gold``.

    Returns
    -------
    FamilyAverage
        Every full fit, the converged ones with equal weights and the others with weight 0;
        ``model_selection`` holds the screen's comparison (`ModelComparison.to_dict`),
        ``fitted_in_full`` (the candidates `worth_a_full_fit`), ``final_fits`` (one record per
        full fit, as `auto_fit`'s), ``averaged`` (the weighted members' names), ``rule`` and
        ``self_calibration`` (per full fit, or None).

    Raises
    ------
    DataError
        If no candidate family fits these data, or a fit in ``full_fits`` is not that family's
        fit of these labels with the same ``use_gold``.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> average = bl.auto_average(bl.datasets.load("rte"), use_gold=False)  # doctest: +SKIP
    >>> average.export("soft.parquet")  # doctest: +SKIP
    """
    from .averaging import FamilyAverage

    given = _checked_full_fits(annotations, full_fits or {}, use_gold)
    screens = _screens(annotations, candidates, use_gold, seed, quiet)
    comparison = compare_models(screens, seed=0 if seed is None else seed)
    mixed = [
        name
        for name, screen in screens.items()
        if worth_a_full_fit(
            screen._check(SCREEN_THRESHOLDS, predictive=False), _full_fit_draws(name, final_settings or {})
        )
    ]
    settings = {"use_gold": use_gold, "seed": seed, "quiet": quiet, **(final_settings or {})}
    full = {
        name: given[name] if name in given else fit(annotations, model=name, **settings)
        for name in (mixed or [comparison.recommended])
    }
    reports = {name: one._check(Thresholds(), predictive=False) for name, one in full.items()}
    records = [_full_fit_record(name, one, reports[name]) for name, one in full.items()]
    converged = [name for name, report in reports.items() if report.ok]
    calibrations: dict[str, Any] | None = None
    if self_calibration:
        from .self_calibration import self_calibrate

        calibrated = {
            name: self_calibrate(one, seed=0 if seed is None else seed) for name, one in full.items()
        }
        full = {name: result.fit for name, result in calibrated.items()}
        calibrations = {name: result.to_dict() for name, result in calibrated.items()}
    averaged = converged or list(full)
    selection = comparison.to_dict()
    selection.update(
        rule="equal average of the candidates whose full fit converged"
        if converged
        else "equal average of every full fit (none converged)",
        fitted_in_full=mixed,
        final_fits=records,
        averaged=averaged,
        self_calibration=calibrations,
    )
    weights = {name: float(name in averaged) for name in full}
    return FamilyAverage.of(full, weights, model_selection=selection)


FULL_FIT_MAX_RHAT = 1.1
"""`auto_average` gives a full fit to a candidate whose screen missed `SCREEN_THRESHOLDS` on R-hat
or ESS alone where its R-hat is at most this (Gelman and Rubin's original bar) and its ESS would
reach `Thresholds`' minimum within the full fit's draws (`worth_a_full_fit`). Measured: duchenne's
ambiguity screen missed at 2 × 1000 draws by one item's tail ESS (94 < 100, R-hat 1.028); its full
fit converges (4 × 1000, 300 s), and it is the best-calibrated family there (ECE 0.041)."""


def worth_a_full_fit(screen: ConvergenceReport, full_draws: int) -> bool:
    """Whether a candidate's screen (its check against `SCREEN_THRESHOLDS`) earns it a full fit
    of ``full_draws`` draws in all (chains × the most draws per chain it may take).

    Yes where the screen passed; where it failed on R-hat or ESS alone (`needs_more_draws`: not
    on divergences or switched labels, which more draws do not cure), yes where R-hat ≤
    `FULL_FIT_MAX_RHAT` and the lowest ESS, scaled from the screen's draws to ``full_draws``
    (ESS grows in proportion to the draws of chains that mix), would reach `Thresholds().min_ess`.

    Examples
    --------
    >>> from bayeslabels.diagnostics import ConvergenceReport
    >>> from bayeslabels.fitting import worth_a_full_fit
    >>> short = ConvergenceReport(ok=False, point_estimate=False, max_rhat=1.028, min_ess_bulk=193.0,
    ...     min_ess_tail=94.0, divergences=0, bfmi=(1.0, 1.0), n_chains=2, n_draws=1000,
    ...     reasons=("min tail ESS 94 < 100",))
    >>> worth_a_full_fit(short, full_draws=4 * 4000)  # 94 × 16000 / 2000 = 752 ≥ 400
    True
    >>> worth_a_full_fit(short, full_draws=4 * 1000)  # 188 < 400
    False
    """
    if screen.ok:
        return True
    if not screen.needs_more_draws or not screen.max_rhat <= FULL_FIT_MAX_RHAT:
        return False
    scale = full_draws / max(1, screen.n_chains * screen.n_draws)
    return min(screen.min_ess_bulk, screen.min_ess_tail) * scale >= Thresholds().min_ess


def _full_fit_draws(name: str, final_settings: dict[str, Any]) -> int:
    """The most draws, all chains together, a full fit of family ``name`` may take (its spec's
    chains × max(draws, max_draws), with ``final_settings`` as `fit` applies them)."""
    from .spec import resolve_spec

    shipped = resolve_spec(name).inference
    chains = final_settings.get("chains") or shipped.chains
    draws = final_settings.get("draws") or shipped.draws
    max_draws = final_settings.get("max_draws", 0 if "draws" in final_settings else shipped.max_draws)
    return int(chains * max(draws, max_draws or 0))


def _checked_full_fits(annotations: Annotations, given: Mapping[str, Fit], use_gold: bool) -> dict[str, Fit]:
    """``auto_average``'s ``full_fits``, each checked to be that family's fit of these labels
    with the same use of gold (a DataError naming the first that is not)."""
    for name, one in given.items():
        if not isinstance(one, Fit):
            raise DataError(f"full_fits: {name!r} is a {type(one).__name__}, not a Fit")
        problem = None
        if one.spec.model != name:
            problem = f"is a fit of model {one.spec.model!r}"
        elif one.annotations.data_hash != annotations.data_hash:
            problem = "was fitted to other labels"
        elif one.used_gold != use_gold:
            problem = f"{'used' if one.used_gold else 'held out'} gold"
        if problem is not None:
            raise DataError(
                f"full_fits: {name!r} {problem}; give each candidate's own fit of these labels "
                f"(use_gold={use_gold}), e.g. bl.load() of an earlier --save"
            )
    return dict(given)


def _full_fit_record(name: str, full: Fit, report: ConvergenceReport | None = None) -> dict[str, Any]:
    """A full fit's record for ``model_selection["final_fits"]``: ``model``,
    ``passed_screen_bar``, ``verdict`` (of `Fit.check` at its defaults: ``report`` where the
    caller has it already), ``max_rhat``, ``min_ess_bulk``."""
    report = report or full._check(Thresholds(), predictive=False)
    return {
        "model": name,
        "passed_screen_bar": bool(full._check(SCREEN_THRESHOLDS, predictive=False).ok),
        "verdict": report.verdict,
        "max_rhat": None if report.point_estimate else float(report.max_rhat),
        "min_ess_bulk": None if report.point_estimate else float(report.min_ess_bulk),
    }


def _final_fit(
    annotations: Annotations, screens: dict[str, Fit], recommended: str, settings: dict[str, Any]
) -> tuple[Fit, list[dict[str, Any]]]:
    """The recommended family fitted in full; where that fit misses even the screen's bar
    (`SCREEN_THRESHOLDS`: a posterior that has not mixed, not one a few draws short of
    `Fit.check`'s stricter defaults), the family `compare_models` recommends among the other
    screens, and so on; where none reaches it, the first (its check says why).

    Returns the fit and one record per full fit: ``model``, ``passed_screen_bar``, ``verdict``
    (of `Fit.check` at its defaults), ``max_rhat``, ``min_ess_bulk``."""
    remaining = dict(screens)
    first: Fit | None = None
    records: list[dict[str, Any]] = []
    while True:
        full = fit(annotations, model=recommended, **settings)
        first = first or full
        records.append(_full_fit_record(recommended, full))
        mixed = records[-1]["passed_screen_bar"]
        del remaining[recommended]
        if mixed or not remaining:
            return (full if mixed else first), records
        recommended = compare_models(remaining, seed=settings.get("seed") or 0).recommended
