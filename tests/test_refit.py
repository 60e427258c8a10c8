"""A re-fit of a model of the same shape on new data re-uses the compiled model (no compile),
and gives exactly what a freshly compiled model gives."""

from __future__ import annotations

import numpy as np
import pytest

import bayeslabels as bl
from bayeslabels.models import family
from bayeslabels.models._likelihood import LIKELIHOOD_DATA


@pytest.fixture(scope="module")
def new_batch(small_sim) -> bl.simulate.SimulatedData:
    """Same 12 annotators and 3 classes as `small_sim`, other items, more of them, 20 % gold."""
    batch = bl.simulate.dawid_skene(
        n_items=260, n_annotators=12, n_classes=3, labels_per_item=(3, 6), gold_fraction=0.2, seed=99
    )
    assert batch.annotations.n_annotators == small_sim.annotations.n_annotators
    return batch


@pytest.fixture(scope="module")
def reused_and_fresh(new_batch) -> tuple[bl.Fit, bl.Fit]:
    """The same numba-compiled fit twice: compiled (and kept in this process), then re-used. One-coin:
    the cheapest numba compile of a family with annotators, classes and gold (58 s cold here, where
    Dawid-Skene takes 93 s); the re-use is the same code for every family (`Family.shape_key`)."""
    settings = dict(model="one-coin", draws=150, tune=150, chains=2, seed=5, quiet=True)
    fresh = bl.fit(new_batch.annotations, sampler="nutpie-numba", **settings)
    reused = bl.fit(new_batch.annotations, sampler="nutpie-numba", **settings)
    return reused, fresh


def test_second_fit_of_the_same_shape_does_not_compile_again(reused_and_fresh):
    reused, fresh = reused_and_fresh
    assert reused.sampling.compiled_reused and reused.sampling.backend == "numba"
    assert not fresh.sampling.compiled_reused


def test_the_default_sampler_re_uses_a_numba_model_of_the_same_shape_and_else_compiles_by_jax(
    reused_and_fresh, new_batch, small_sim
):
    """``sampler="nutpie"``: JAX compiles in seconds, but a numba model of the same shape already
    in this process costs no compile at all."""
    settings = dict(model="one-coin", draws=100, tune=100, chains=2, seed=5, quiet=True)
    again = bl.fit(new_batch.annotations, **settings)
    assert (again.sampling.backend, again.sampling.compiled_reused) == ("numba", True)
    other_shape = bl.simulate.dawid_skene(
        n_items=40, n_annotators=8, n_classes=2, labels_per_item=(2, 4), seed=3
    ).annotations
    first = bl.fit(other_shape, **settings)
    assert (first.sampling.backend, first.sampling.compiled_reused) == ("jax", False)


def test_reused_model_gives_exactly_the_freshly_compiled_posterior(reused_and_fresh):
    reused, fresh = reused_and_fresh
    for name in ("confusion", "prevalence"):
        np.testing.assert_array_equal(reused.posterior.posterior[name], fresh.posterior.posterior[name])
    a, b = reused.soft_labels().to_frame(), fresh.soft_labels().to_frame()
    np.testing.assert_array_equal(a.filter(like="p_").to_numpy(float), b.filter(like="p_").to_numpy(float))


def test_a_jax_model_re_used_on_new_data_gives_exactly_what_a_fresh_compile_gives():
    """The default route (JAX up to `JAX_MAX_LABELS` labels) keeps "same seed, same draws" too: the
    re-used model starts its chains where a fresh compile of the new data starts them, and its
    swapped-in data give the same gradients. Two data sets of one shape (7 annotators, 2 classes,
    other items); the shape is this test's own, so the first fit compiles and stores it."""
    first, second = (
        bl.simulate.dawid_skene(
            n_items=n_items, n_annotators=7, n_classes=2, labels_per_item=(2, 4), gold_fraction=0.1, seed=seed
        ).annotations
        for n_items, seed in ((50, 21), (70, 22))
    )
    settings = dict(model="one-coin", draws=60, tune=60, chains=2, seed=9, quiet=True, sampler="nutpie-jax")
    compiled = bl.fit(first, **settings)
    reused = bl.fit(second, **settings)
    fresh = bl.fit(second, reuse_compiled=False, **settings)
    assert not compiled.sampling.compiled_reused and reused.sampling.compiled_reused
    assert not fresh.sampling.compiled_reused and reused.sampling.backend == fresh.sampling.backend == "jax"
    for name in ("confusion", "prevalence"):
        np.testing.assert_array_equal(reused.posterior.posterior[name], fresh.posterior.posterior[name])


def test_reused_model_carries_the_new_data_names_and_gold(reused_and_fresh, new_batch):
    reused, _ = reused_and_fresh
    ann = new_batch.annotations
    assert list(reused.posterior.posterior["annotator"].values) == list(ann.annotators)
    labels = reused.soft_labels().to_frame()
    assert list(labels["item"]) == list(ann.items)
    gold = ann.gold >= 0
    # gold enters the likelihood through the swapped-in mask: gold items sit on their gold class
    np.testing.assert_allclose(labels.filter(regex=r"^p_[^_]+$").to_numpy(float)[gold].max(axis=1), 1.0)
    truth = np.asarray(ann.classes)[new_batch.true_class]
    assert (labels["label"].to_numpy() == truth)[~gold].mean() > 0.85


def test_the_compiled_shape_is_annotators_classes_and_subtypes(small_sim, subtype_sim):
    ann = small_sim.annotations
    fewer = bl.simulate.dawid_skene(n_items=100, n_annotators=8, n_classes=3, seed=1).annotations
    ds = family("dawid-skene")
    assert ds.shape_key(ann) == (12, 3, 0)
    assert ds.shape_key(fewer) != ds.shape_key(ann)
    # per-subtype: also the number of (annotator, subtype) cells that hold labels (all 45 here)
    assert family("hierarchical-subtype").shape_key(subtype_sim.annotations) == (15, 2, 3, 45)
    assert set(ds.model_data(ann)) == set(LIKELIHOOD_DATA)  # the table, its layout, the gold mask
