"""Every family is a generative PyMC graph: the labels are an observed random variable whose
per-item log-probability is the shared marginal likelihood (checked against brute-force
enumeration, through the very graph that is sampled) and whose random draw runs the model
forwards — so prior / posterior predictive sampling, pointwise log-likelihood and LOO work."""

from __future__ import annotations

import itertools

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr
from scipy.special import logsumexp

import bayeslabels as bl
from bayeslabels.models import family
from bayeslabels.models._likelihood import label_table, rows_to_table, sample_label_rows
from tests._graphs import interpreted


def _tiny(seed: int, n_items: int = 4, k: int = 3, gold: bool = False) -> bl.Annotations:
    rng = np.random.default_rng(seed)
    rows = [
        (f"i{i}", f"a{j}", str(rng.integers(k)))
        for i in range(n_items)
        for j in range(3)
        if rng.random() < 0.8
    ]
    rows += [(f"i{i}", "a0", str(rng.integers(k))) for i in range(n_items)]  # one pair labelled twice
    frame = pd.DataFrame(rows, columns=["item", "annotator", "label"])
    gold_frame = pd.DataFrame({"item": ["i0"], "gold": ["2"]}) if gold else None
    return bl.Annotations.from_frame(frame, gold=gold_frame, classes=[str(c) for c in range(k)])


def _enumerated_item_loglik(ann: bl.Annotations, confusion: np.ndarray, prevalence: np.ndarray) -> np.ndarray:
    """log p(y_i) per item by summing over the item's true class explicitly."""
    out = np.empty(ann.n_items)
    for i in range(ann.n_items):
        rows = ann.item_idx == i
        classes = [ann.gold[i]] if ann.gold[i] >= 0 else range(len(prevalence))
        out[i] = logsumexp(
            [
                np.log(prevalence[z]) + np.log(confusion[ann.annotator_idx[rows], z, ann.label[rows]]).sum()
                for z in classes
            ]
        )
    return out


def _graph_item_logp(model: pm.Model, values: dict[str, np.ndarray]) -> np.ndarray:
    """The observed ``labels``' per-item log-probability at parameter ``values``, by PyMC from
    the model as sampled (its compiled logp, its `pm.Data`)."""
    posterior = xr.Dataset(
        {
            name: (tuple(f"{name}_{d}" for d in range(np.ndim(v) + 2)), np.asarray(v)[None, None])
            for name, v in values.items()
        }
    )
    posterior = posterior.rename({f"{name}_0": "chain" for name in values}).rename(
        {f"{name}_1": "draw" for name in values}
    )
    with interpreted():
        loglik = pm.compute_log_likelihood(
            xr.DataTree.from_dict({"posterior": posterior}),
            model=model,
            progressbar=False,
            extend_inferencedata=False,
        )
    return np.asarray(loglik["labels"])[0, 0]


@pytest.mark.parametrize("with_gold", [False, True])
def test_the_observed_labels_per_item_logp_is_the_enumerated_marginal(with_gold):
    ann = _tiny(3, gold=with_gold)
    rng = np.random.default_rng(0)
    confusion = rng.dirichlet(np.ones(3), size=(ann.n_annotators, 3))
    prevalence = rng.dirichlet(np.ones(3))
    model = family("dawid-skene").build(ann)
    assert model["labels"] in model.observed_RVs and not model.potentials

    graph = _graph_item_logp(model, {"confusion": confusion, "prevalence": prevalence})
    expected = _enumerated_item_loglik(ann, confusion, prevalence)
    np.testing.assert_allclose(graph, expected, atol=1e-10)
    # the NumPy twin the fit stores for LOO agrees item by item
    draws = {"confusion": confusion[None], "prevalence": prevalence[None]}
    [(rows, numpy_value)] = list(family("dawid-skene").item_loglik_blocks(ann, draws.__getitem__, True))
    np.testing.assert_allclose(numpy_value[0], expected, atol=1e-10)


def test_the_whole_table_is_the_sum_over_items_of_the_brute_force_enumeration():
    ann = _tiny(5, n_items=5, k=2)
    rng = np.random.default_rng(1)
    confusion = rng.dirichlet(np.ones(2), size=(ann.n_annotators, 2))
    prevalence = rng.dirichlet(np.ones(2))
    total = logsumexp(
        [
            np.log(prevalence[list(z)]).sum()
            + np.log(confusion[ann.annotator_idx, np.array(z)[ann.item_idx], ann.label]).sum()
            for z in itertools.product(range(2), repeat=ann.n_items)
        ]
    )
    graph = _graph_item_logp(
        family("dawid-skene").build(ann), {"confusion": confusion, "prevalence": prevalence}
    )
    assert graph.sum() == pytest.approx(total, abs=1e-10)


def test_beta_bernoulli_labels_are_observed_with_the_beta_binomial_per_item():
    frame = pd.DataFrame(
        {
            "item": ["a", "a", "a", "b", "b", "c"],
            "annotator": ["x", "y", "z", "x", "y", "x"],
            "label": ["1", "1", "0", "0", "0", "1"],
        }
    )
    ann = bl.Annotations.from_frame(frame)
    model = family("beta-bernoulli").build(ann)
    graph = _graph_item_logp(model, {"mean": np.asarray(0.3), "concentration": np.asarray(4.0)})
    from scipy.special import betaln

    a, b = 0.3 * 4.0, 0.7 * 4.0
    k, n = np.array([2, 0, 1]), np.array([3, 2, 1])
    np.testing.assert_allclose(graph, betaln(a + k, b + n - k) - betaln(a, b), atol=1e-12)


def test_the_label_table_holds_every_row_once_and_pads_with_minus_one():
    ann = _tiny(7)
    labels, cells = label_table(ann)
    assert (labels >= 0).sum() == len(ann.label) == (cells >= 0).sum()
    np.testing.assert_array_equal((labels >= 0).sum(axis=1), ann.labels_per_item)
    np.testing.assert_array_equal(rows_to_table(ann, ann.label), labels)


def test_forward_sampling_draws_labels_with_the_confusion_frequencies():
    rng = np.random.default_rng(0)
    confusion = np.array([[[0.9, 0.1], [0.3, 0.7]], [[0.6, 0.4], [0.2, 0.8]]])
    prevalence = np.array([0.25, 0.75])
    n_items = 20_000
    item_idx = np.repeat(np.arange(n_items), 2)
    cells = np.tile([0, 1], n_items)
    labels = sample_label_rows(
        confusion[None], np.log(prevalence)[None], item_idx, cells, n_items, None, rng
    )[0]
    # P(label = 1 | annotator j) = Σ_k ρ_k π_jk1
    for j in range(2):
        expected = prevalence @ confusion[j, :, 1]
        assert labels[cells == j].mean() == pytest.approx(expected, abs=0.015)
    # the two labels of an item are correlated through the shared true class
    first, second = labels[0::2], labels[1::2]
    joint = (prevalence * confusion[0, :, 1] * confusion[1, :, 1]).sum()
    assert (first & second).mean() == pytest.approx(joint, abs=0.015)


def test_prior_predictive_simulates_label_tables_with_the_real_design():
    ann = bl.datasets.load("anesthesia")
    fit = bl.fit(ann, method="em")
    prior = fit.prior_predictive(draws=20, seed=1)
    simulated = prior["prior_predictive"]["labels"].values  # chain, draw, item, slot
    observed, _ = label_table(ann)
    assert simulated.shape == (1, 20, *observed.shape)
    np.testing.assert_array_equal(simulated[0, 0] >= 0, observed >= 0)
    assert set(np.unique(simulated[simulated >= 0])) <= set(range(ann.n_classes))
    assert {"prevalence", "confusion"} <= set(prior["prior"].data_vars)


def test_posterior_replicates_keep_the_design_and_gold(em_fit, small_sim):
    replicated = em_fit.replicated_labels(draws=30, seed=2)
    ann = small_sim.annotations
    assert replicated.shape == (30, len(ann.label))
    assert replicated.min() >= 0 and replicated.max() < ann.n_classes
    predictive = em_fit.posterior_predictive(draws=30, seed=2)
    table = predictive["posterior_predictive"]["labels"].values[0]
    np.testing.assert_array_equal(table >= 0, np.broadcast_to(label_table(ann)[0] >= 0, table.shape))
    np.testing.assert_array_equal(em_fit.replicated_labels(draws=30, seed=2), replicated)  # seeded


def test_a_graphviz_plate_diagram_shows_the_labels_as_observed():
    pytest.importorskip("graphviz")
    fit = bl.fit(bl.datasets.load("anesthesia"), method="em")
    source = pm.model_to_graphviz(fit.model).source
    assert "labels" in source and "confusion" in source
    node = source.split("\tlabels [", 1)[1].split("]", 1)[0]
    assert "style=filled" in node and "ClassMarginalLabels" in node  # observed nodes are filled


def test_a_sampled_fit_carries_its_pointwise_log_likelihood_for_loo(nuts_fit, tmp_path):
    loglik = nuts_fit.posterior["log_likelihood"]["labels"]
    post = nuts_fit.posterior["posterior"]
    assert loglik.dims == ("chain", "draw", "item")
    assert loglik.shape == (post.sizes["chain"], post.sizes["draw"], nuts_fit.annotations.n_items)
    # PyMC's own pointwise log-likelihood of the graph agrees on a few draws
    few = nuts_fit.posterior["posterior"].isel(draw=slice(0, 3))
    reference = pm.compute_log_likelihood(
        xr.DataTree.from_dict({"posterior": few.to_dataset()}),
        model=nuts_fit.model,
        progressbar=False,
        extend_inferencedata=False,
    )
    np.testing.assert_allclose(
        np.asarray(reference["labels"]), loglik.isel(draw=slice(0, 3)).values, atol=1e-8
    )
    loo = az.loo(nuts_fit.posterior)
    assert np.isfinite(loo.elpd) and loo.n_data_points == nuts_fit.annotations.n_items
    # saved without it (derived), loaded with it
    loaded = bl.load(nuts_fit.save(tmp_path / "fit"))
    np.testing.assert_allclose(loaded.posterior["log_likelihood"]["labels"].values, loglik.values)
