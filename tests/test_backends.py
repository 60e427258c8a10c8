"""nutpie's two compile backends. ``sampler="nutpie"`` compiles through JAX (seconds, where
numba takes tens of them; benchmarks/first_fit.py), and every family's graph must therefore
convert to JAX; ``"nutpie-numba"`` and ``"nutpie-jax"`` name the backend. Through JAX the
likelihood is the dense gather (`dense_label_gather`): it equals the sparse product, and the
data stay inputs, so a re-fit of the same shape re-uses the compiled model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytensor
import pytest

import bayeslabels as bl
from bayeslabels import inference
from bayeslabels.fitting import _features
from bayeslabels.inference import (
    COMPILED_MODELS,
    JAX_MAX_LABELS,
    NUMBA_MIN_ITERATIONS,
    NUMPYRO_MAX_LABELS,
    NUMPYRO_MIN_ITERATIONS,
    nutpie_backend,
    nuts_sampler,
)
from bayeslabels.models import family, family_names
from bayeslabels.models._likelihood import dense_label_gather
from bayeslabels.spec import resolve_spec
from tests._graphs import interpreted

SHORT = dict(draws=60, tune=60, chains=2, seed=1, max_draws=0, quiet=True)


def _data(name: str) -> bl.Annotations:
    if name == "learning-from-crowds":
        return bl.simulate.learning_from_crowds(n_items=40, n_annotators=6, seed=2).annotations
    subtypes = 2 if name.endswith("-subtype") else 0
    return bl.simulate.from_family(
        name, n_items=40, n_annotators=6, labels_per_item=(2, 4), n_subtypes=subtypes, seed=2
    ).annotations


def _slow_but(kept: str) -> list:
    """Every family, all but ``kept`` marked slow (one equality check in the default suite)."""
    return [name if name == kept else pytest.param(name, marks=pytest.mark.slow) for name in family_names()]


@pytest.mark.parametrize("name", _slow_but("dawid-skene"))
def test_the_dense_gather_equals_the_sparse_product_in_every_family(name):
    ann = replace(_data(name), gold=np.r_[0, 1, np.full(38, -1)])  # two gold items
    spec = resolve_spec(name)
    features = bl.simulate.learning_from_crowds(n_items=40, n_annotators=6, seed=2).features
    scaled = _features(spec.family, ann, features if name == "learning-from-crowds" else None, None)
    model = spec.family.build(ann, spec.priors, **({} if scaled is None else {"features": scaled}))
    values = [model.value_vars]
    sparse = model.logp()
    with dense_label_gather():
        dense = model.logp()
    both = [sparse, dense, *pytensor.grad(sparse, values[0]), *pytensor.grad(dense, values[0])]
    with interpreted():
        evaluate = model.compile_fn(both)
    rng = np.random.default_rng(0)
    point = {k: v + rng.normal(0, 0.5, np.shape(v)) for k, v in model.initial_point().items()}
    out = evaluate(point)
    n = len(values[0])
    np.testing.assert_allclose(out[1], out[0], rtol=0, atol=1e-10)
    for g_sparse, g_dense in zip(out[2 : 2 + n], out[2 + n :], strict=True):
        np.testing.assert_allclose(g_dense, g_sparse, rtol=0, atol=1e-10)


def test_a_jax_refit_of_the_same_shape_reuses_the_compiled_model():
    first = _data("dawid-skene")
    second = bl.simulate.from_family(
        "dawid-skene", n_items=40, n_annotators=6, labels_per_item=(2, 4), seed=3
    ).annotations
    COMPILED_MODELS.clear()
    fits = [bl.fit(ann, model="dawid-skene", sampler="nutpie-jax", **SHORT) for ann in (first, second)]
    assert [fit.sampling.compiled_reused for fit in fits] == [False, True]
    assert fits[1].sampling.backend == "jax"
    soft = fits[1].soft_labels().to_frame()
    assert list(soft["item"]) == list(second.items)


def test_above_the_gather_limit_jax_freezes_the_data_and_compiles_per_data_set(monkeypatch):
    monkeypatch.setattr(inference, "JAX_GATHER_MAX_LABELS", 0)
    COMPILED_MODELS.clear()
    ann = _data("dawid-skene")
    fits = [bl.fit(ann, model="dawid-skene", sampler="nutpie-jax", **SHORT) for _ in range(2)]
    assert [fit.sampling.compiled_reused for fit in fits] == [False, False]
    assert len(COMPILED_MODELS) == 0
    probabilities = fits[1].soft_labels().to_frame().filter(regex=r"^p_[^_]+$").to_numpy(float)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("name", family_names())
def test_every_family_samples_through_jax(name):
    ann = _data(name)
    extra = {}
    if name == "learning-from-crowds":
        extra["features"] = bl.simulate.learning_from_crowds(n_items=40, n_annotators=6, seed=2).features
    fit = bl.fit(ann, model=name, sampler="nutpie", **extra, **SHORT)
    assert fit.sampling.backend == "jax" and fit.sampling.sampler == "nutpie"
    soft = fit.soft_labels().to_frame()
    assert list(soft["item"]) == list(ann.items)
    probabilities = soft.filter(regex=r"^p_[^_]+$").to_numpy(float)
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)


def test_the_backend_is_named_or_chosen_by_size():
    assert nutpie_backend("nutpie-numba", 10) == "numba"
    assert nutpie_backend("nutpie-jax", 10**9) == "jax"
    assert nutpie_backend("nutpie", 10) == "jax"
    assert nutpie_backend("nutpie", JAX_MAX_LABELS + 1) == "numba"


def test_a_family_whose_gradient_dominates_compiles_through_numba_for_a_long_run_only():
    long_run, short_run = NUMBA_MIN_ITERATIONS, NUMBA_MIN_ITERATIONS - 1
    assert nutpie_backend("nutpie", 8000, iterations=long_run, numba_faster=True) == "numba"
    assert nutpie_backend("nutpie", 8000, iterations=short_run, numba_faster=True) == "jax"
    assert nutpie_backend("nutpie", 8000, iterations=long_run, numba_faster=False) == "jax"
    assert nutpie_backend("nutpie-jax", 8000, iterations=long_run, numba_faster=True) == "jax"
    per_item = {name for name in family_names() if family(name).numba_faster}
    assert per_item == {"ambiguity", "item-difficulty"}


def test_auto_runs_numpyro_where_measured_faster_and_nutpie_where_the_fit_needs_it(monkeypatch):
    """``sampler="auto"``: NumPyro for a family marked faster through it, up to its label limit and
    from enough iterations to repay its longer compile; nutpie for the others, for short runs, for
    ``max_draws`` continuation, exact start values, and a model of the same structure already
    compiled in this process. A name is what runs."""
    full = 4 * (1000 + 1000)  # the shipped settings' iterations
    assert nuts_sampler("auto", 8000, full, numpyro_faster=True) == "numpyro"
    assert nuts_sampler("auto", 8000, full, numpyro_faster=False) == "nutpie"
    assert nuts_sampler("auto", NUMPYRO_MAX_LABELS + 1, full, numpyro_faster=True) == "nutpie"
    assert nuts_sampler("auto", 8000, NUMPYRO_MIN_ITERATIONS - 1, numpyro_faster=True) == "nutpie"
    assert nuts_sampler("auto", 10, full, True, continues=True) == "nutpie"
    assert nuts_sampler("auto", 10, full, True, steady=True) == "nutpie"
    assert (
        nuts_sampler("nutpie-jax", 10, full, True) == "nutpie-jax"
        and nuts_sampler("pymc", 10, 1, True) == "pymc"
    )
    structure = ("dawid-skene", "a structure compiled earlier")
    monkeypatch.setattr(inference, "COMPILED_MODELS", {("jax", structure): object()})
    assert nuts_sampler("auto", 10, full, True, structure=structure) == "nutpie"
    assert nuts_sampler("auto", 10, full, True, structure=("another",)) == "numpyro"
    monkeypatch.undo()

    COMPILED_MODELS.clear()  # no model of these shapes compiled by earlier tests
    ann = _data("dawid-skene")
    enough = {**SHORT, "draws": 500, "tune": 500}  # 2 chains × 1000 = NUMPYRO_MIN_ITERATIONS
    fast, other = (bl.fit(ann, model=name, **enough) for name in ("dawid-skene", "learning-from-crowds"))
    short = bl.fit(ann, model="dawid-skene", **SHORT)
    assert (fast.sampling.sampler, fast.sampling.backend) == ("numpyro", "jax")
    assert (other.sampling.sampler, other.sampling.backend) == ("nutpie", "jax")
    assert (short.sampling.sampler, short.sampling.backend) == ("nutpie", "jax")
    for fit in (fast, other, short):
        assert fit.spec.inference.sampler == "auto"
        soft = fit.soft_labels().to_frame()
        assert list(soft["item"]) == list(ann.items)
        np.testing.assert_allclose(
            soft.filter(regex=r"^p_[^_]+$").to_numpy(float).sum(axis=1), 1.0, atol=1e-6
        )
        assert fit.check().n_draws == fit.spec.inference.draws


def test_numpyro_named_samples_a_family_whose_product_is_sparse():
    """PyTensor cannot convert the sparse matrix of hierarchical's label product to JAX: the JAX
    samplers read the labels by the dense gather, as nutpie's JAX backend does."""
    ann = _data("hierarchical")
    fit = bl.fit(ann, model="hierarchical", sampler="numpyro", **SHORT)
    assert (fit.sampling.sampler, fit.sampling.backend) == ("numpyro", "jax")
    soft = fit.soft_labels().to_frame()
    assert list(soft["item"]) == list(ann.items)
    np.testing.assert_allclose(soft.filter(regex=r"^p_[^_]+$").to_numpy(float).sum(axis=1), 1.0, atol=1e-6)
