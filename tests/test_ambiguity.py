"""The intrinsic-ambiguity family (``model="ambiguity"``): each item has its own class
distribution θ_i, each label draws a class from it and passes through the annotator's
confusion matrix. Its soft label is θ_i — spread on an ambiguous item however the votes
fall, where Dawid–Skene's class posterior goes one-hot."""

from __future__ import annotations

import itertools

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp, softmax
from sklearn.metrics import roc_auc_score

import bayeslabels as bl
from bayeslabels.errors import SpecError
from bayeslabels.models import ambiguity as ambiguity_module
from bayeslabels.models import family
from bayeslabels.models._likelihood import label_table
from bayeslabels.models.ambiguity import (
    INTEGRATION_SAMPLES,
    _integrated_loglik,
    ambiguity_random,
    item_label_data,
    sums_over_labels,
)
from tests.test_generative import _graph_item_logp, _tiny


def _enumerated_item_loglik(ann: bl.Annotations, theta: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """log p(y_i | θ_i, π) by summing over every assignment of a class to each of item i's labels."""
    k = theta.shape[1]
    out = np.empty(ann.n_items)
    for i in range(ann.n_items):
        rows = np.flatnonzero(ann.item_idx == i)
        terms = [
            np.log(theta[i, list(c)]).sum()
            + np.log(confusion[ann.annotator_idx[rows], list(c), ann.label[rows]]).sum()
            for c in itertools.product(range(k), repeat=len(rows))
        ]
        out[i] = np.logaddexp.reduce(terms)
    return out


def _simulate(k: int, n_items: int = 100, n_annotators: int = 20, per_item: int = 15, seed: int = 0):
    """Half the items clear (θ one-hot), half ambiguous (θ = ½, ½ on two classes); annotators
    85 % accurate, errors uniform. Returns (annotations, true θ, ambiguous mask), item order."""
    rng = np.random.default_rng(seed)
    theta = np.zeros((n_items, k))
    theta[np.arange(n_items), rng.integers(k, size=n_items)] = 1.0
    ambiguous = np.arange(n_items) % 2 == 1
    for i in np.flatnonzero(ambiguous):
        theta[i] = 0.0
        theta[i, rng.choice(k, 2, replace=False)] = 0.5
    confusion = np.full((n_annotators, k, k), 0.15 / (k - 1))
    confusion[:, np.arange(k), np.arange(k)] = 0.85
    items = np.repeat(np.arange(n_items), per_item)
    annotators = np.concatenate([rng.choice(n_annotators, per_item, replace=False) for _ in range(n_items)])
    cls = np.array([rng.choice(k, p=theta[i]) for i in items])
    labels = np.array([rng.choice(k, p=confusion[j, c]) for j, c in zip(annotators, cls, strict=True)])
    frame = pd.DataFrame(
        {
            "item": [f"i{i:03d}" for i in items],
            "annotator": [f"a{j}" for j in annotators],
            "label": labels.astype(str),
        }
    )
    ann = bl.Annotations.from_frame(frame, classes=[str(c) for c in range(k)])
    order = np.array([int(name[1:]) for name in ann.items])
    return ann, theta[order], ambiguous[order]


def _entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(np.clip(p, 1e-12, 1))).sum(axis=-1)


@pytest.mark.parametrize("over_labels", [False, True], ids=["slot by slot", "label by label"])
def test_the_observed_labels_per_item_logp_is_the_enumerated_sum_over_each_labels_class(
    over_labels, monkeypatch
):
    ann = _tiny(3, gold=True)  # gold does not enter: the enumeration below ignores it
    rng = np.random.default_rng(0)
    theta = rng.dirichlet(np.ones(3), size=ann.n_items)
    confusion = rng.dirichlet(np.ones(3), size=(ann.n_annotators, 3))
    # both forms of the likelihood: over the padded table, and over the labels alone
    monkeypatch.setattr(ambiguity_module, "OVER_LABELS_BELOW_FILL", 2.0 if over_labels else 0.0)
    model = family("ambiguity").build(ann)
    assert model["labels"] in model.observed_RVs and not model.potentials
    assert ("label_slots" in model.named_vars) == over_labels
    # θ_i = softmax(μ + σ ζ_i): at μ = 0, σ = 1 the zero-sum ζ_i are θ_i's centred log
    zeta = np.log(theta) - np.log(theta).mean(axis=1, keepdims=True)
    values = {"centre": np.zeros(3), "spread": np.asarray(1.0), "zeta": zeta, "confusion": confusion}
    expected = _enumerated_item_loglik(ann, theta, confusion)
    np.testing.assert_allclose(_graph_item_logp(model, values), expected, atol=1e-10)
    # the NumPy twin the fit stores for LOO agrees item by item
    draws = {"theta": theta[None], "confusion": confusion[None]}
    [(rows, numpy_value)] = list(family("ambiguity").item_loglik_blocks(ann, draws.__getitem__, True))
    np.testing.assert_allclose(numpy_value[0], expected, atol=1e-10)


def test_a_sparse_label_table_is_read_label_by_label_and_a_full_one_slot_by_slot():
    """music_genre's table is 60 % filled (items × the most labels of any item), rte's full."""
    music_genre, rte = bl.datasets.load("music_genre"), bl.datasets.load("rte")
    assert sums_over_labels(music_genre) and "label_slots" in item_label_data(music_genre)
    assert not sums_over_labels(rte) and "label_slots" not in item_label_data(rte)


def test_forward_simulation_draws_a_class_from_theta_per_label_then_the_label_through_confusion():
    rng = np.random.default_rng(0)
    theta = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    confusion = rng.dirichlet(np.full(3, 2.0), size=(2, 3))
    n_items = 30_000
    item_theta = np.repeat(theta, n_items // 3, axis=0)
    cells = np.tile([0, 1, 0, -1], (n_items, 1))  # the last slot is empty
    with np.errstate(divide="ignore"):
        table = ambiguity_random(np.log(item_theta), confusion, cells, rng)
    assert (table[:, 3] == -1).all() and table[:, :3].min() >= 0
    for kind in range(3):
        rows = slice(kind * (n_items // 3), (kind + 1) * (n_items // 3))
        for slot, j in enumerate([0, 1]):
            expected = theta[kind] @ confusion[j]  # P(label | θ, π_j) = Σ_c θ_c π_jc·
            observed = np.bincount(table[rows, slot], minlength=3) / (n_items // 3)
            np.testing.assert_allclose(observed, expected, atol=0.02)
        # given θ_i, the labels of an item are independent: each draws its own class
        both = ((table[rows, 0] == 0) & (table[rows, 2] == 0)).mean()
        assert both == pytest.approx((theta[kind] @ confusion[0, :, 0]) ** 2, abs=0.02)


def test_loo_reads_the_log_likelihood_with_each_items_theta_integrated_over_its_population():
    from scipy import integrate
    from scipy.special import expit

    ann = _tiny(5, n_items=4, k=2)
    rng = np.random.default_rng(2)
    confusion = rng.dirichlet([4.0, 1.5], size=(ann.n_annotators, 2))
    confusion[:, 1] = confusion[:, 1, ::-1]  # diagonal-heavy rows
    centre, spread = np.array([0.4, -0.4]), 1.3
    draws = {"centre": centre[None], "spread": np.array([spread]), "confusion": confusion[None]}
    [(_, integrated)] = list(family("ambiguity").loo_loglik_blocks(ann, draws.__getitem__, False))

    # K = 2: θ_1 = expit(Δ + σ(ζ_1 − ζ_0)) with ζ zero-sum of unit normals, ζ_1 − ζ_0 ~ N(0, 2)
    def likelihood(i: int, x: float) -> float:
        theta = np.array(
            [1 - expit(centre[1] - centre[0] + spread * x), expit(centre[1] - centre[0] + spread * x)]
        )
        rows = ann.item_idx == i
        per_label = theta @ confusion[ann.annotator_idx[rows], :, ann.label[rows]].T
        return float(np.prod(per_label) * np.exp(-(x**2) / 4) / np.sqrt(4 * np.pi))

    exact = [np.log(integrate.quad(lambda x, i=i: likelihood(i, x), -12, 12)[0]) for i in range(ann.n_items)]
    np.testing.assert_allclose(integrated[0], exact, atol=0.08)  # Monte Carlo over 64 samples

    # no spread: every item is the population, and the integral is the conditional likelihood
    theta = np.broadcast_to(np.exp(centre) / np.exp(centre).sum(), (ann.n_items, 2))
    flat = {**draws, "spread": np.array([0.0]), "theta": theta[None]}
    [(_, no_spread)] = list(family("ambiguity").loo_loglik_blocks(ann, flat.__getitem__, False))
    [(_, conditional)] = list(family("ambiguity").item_loglik_blocks(ann, flat.__getitem__, False))
    np.testing.assert_allclose(no_spread, conditional, atol=1e-10)


def test_the_integrated_log_likelihood_equals_the_mean_of_conditional_likelihoods_per_sample():
    """Per draw, the count product over (annotator, label) tables gives what the label-by-label
    conditional log-likelihood gives with every item at θ_m = softmax(μ + σ ζ_m), averaged over
    the shared samples ζ_m — in one block of draws or in many."""
    ann = _tiny(6, n_items=6, k=3)
    rng = np.random.default_rng(4)
    n_draws = 5
    centre = rng.normal(size=(n_draws, 3))
    centre -= centre.mean(axis=1, keepdims=True)
    draws = {
        "centre": centre,
        "spread": np.abs(rng.normal(size=n_draws)) + 0.3,
        "confusion": rng.dirichlet([4.0, 1.0, 1.0], size=(n_draws, ann.n_annotators, 3)),
    }
    [(_, integrated)] = list(family("ambiguity").loo_loglik_blocks(ann, draws.__getitem__, False))
    [(_, blocked)] = list(_integrated_loglik(ann, draws.__getitem__, False, max_values=1))
    zeta = np.random.default_rng(0).normal(size=(INTEGRATION_SAMPLES, 3))
    zeta -= zeta.mean(axis=1, keepdims=True)
    conditional = []
    for sample in zeta:
        theta = softmax(draws["centre"] + draws["spread"][:, None] * sample, axis=-1)
        shared = {**draws, "theta": np.broadcast_to(theta[:, None], (n_draws, ann.n_items, 3))}
        [(_, loglik)] = list(family("ambiguity").item_loglik_blocks(ann, shared.__getitem__, False))
        conditional.append(loglik)
    reference = logsumexp(conditional, axis=0) - np.log(INTEGRATION_SAMPLES)
    assert integrated.shape == (n_draws, ann.n_items)
    np.testing.assert_allclose(integrated, reference, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(blocked, reference, rtol=1e-12, atol=1e-10)


def test_posterior_replicates_keep_each_items_theta_and_the_design():
    ann = _tiny(4, n_items=2, k=2)
    theta = np.array([[1.0, 0.0], [0.0, 1.0]])
    confusion = np.broadcast_to(np.eye(2), (ann.n_annotators, 2, 2)).copy()
    draws = {"theta": theta[None].repeat(50, 0), "confusion": confusion[None].repeat(50, 0)}
    replicated = family("ambiguity").replicated_labels(
        ann, draws.__getitem__, False, np.random.default_rng(0)
    )
    assert replicated.shape == (50, len(ann.label))
    np.testing.assert_array_equal(replicated, np.broadcast_to(ann.item_idx, replicated.shape))


def test_the_family_reads_no_gold_and_is_not_minibatched():
    ann = _tiny(5, gold=True)
    assert "gold_mask" not in family("ambiguity").model_data(ann)
    np.testing.assert_array_equal(family("ambiguity").model_data(ann)["label_table"], label_table(ann)[0])
    with pytest.raises(SpecError, match="not minibatched"):
        bl.fit(ann, model="ambiguity", method="advi", minibatch_items=2, quiet=True)


@pytest.mark.slow
@pytest.mark.parametrize("k", [2, 3])
def test_soft_labels_stay_spread_on_ambiguous_items_where_dawid_skene_goes_one_hot(k):
    ann, _, ambiguous = _simulate(k, seed=k)
    spec = bl.resolve_spec("ambiguity").with_inference(advi_iterations=3000)
    fit = bl.fit(ann, model=spec, method="advi", draws=200, seed=1, quiet=True)
    assert fit.soft_labels().meaning == family("ambiguity").soft_label_meaning
    theta = fit.soft_labels().mean
    assert roc_auc_score(ambiguous, _entropy(theta)) > 0.8
    em = bl.dawid_skene_em(ann).posterior.max(axis=1)
    assert np.median(em[ambiguous]) > 0.9 and np.median(em[~ambiguous]) > 0.9


def test_a_short_nuts_fit_gives_soft_labels_a_check_and_a_finite_loo():
    full = bl.datasets.load("anesthesia")
    frame = full.to_frame()
    # item i keeps its first 2 + i mod 6 labels: a table 64 % filled, read label by label
    keep = frame.groupby("item").cumcount() < 2 + full.item_idx % 6
    ann = bl.Annotations.from_frame(frame[keep], classes=list(full.classes))
    assert ann.n_items == full.n_items and sums_over_labels(ann)
    fit = bl.fit(ann, model="ambiguity", draws=200, tune=200, chains=2, seed=0, quiet=True)
    assert "label_slots" in fit.model.named_vars
    soft = fit.soft_labels()
    assert soft.mean.shape == (ann.n_items, ann.n_classes)
    np.testing.assert_allclose(soft.mean.sum(axis=1), 1.0)
    assert (soft.lower <= soft.mean + 1e-12).all() and (soft.mean <= soft.upper + 1e-12).all()
    report = fit.check()
    assert report.n_chains == 2 and np.isfinite(report.max_rhat)
    annotators = fit.annotators()  # accuracy = Σ_k m_k π_jkk, from the confusion-matrix default
    assert len(annotators) == ann.n_annotators
    assert fit.replicated_labels(draws=10).shape == (10, len(ann.label))
    loo = az.loo(fit.posterior)
    assert np.isfinite(loo.elpd) and loo.n_data_points == ann.n_items


@pytest.mark.slow
def test_nuts_recovers_item_class_distributions_drawn_from_the_model():
    """Measured (seed 0, 150 items × 8 labels of 10 annotators, K = 2, 2 × 500 draws): 95.3 %
    of the 90 % intervals of θ_i1 cover the truth (40 s on 2 shared cores)."""
    rng = np.random.default_rng(0)
    n_items, k = 150, 2
    logits = 0.5 * np.array([-1.0, 1.0]) + 3.0 * rng.normal(size=(n_items, k))  # the model's population
    theta = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    confusion = np.stack([rng.dirichlet([12.0, 2.0], size=10), rng.dirichlet([2.0, 12.0], size=10)], axis=1)
    cells = np.stack([rng.choice(10, 8, replace=False) for _ in range(n_items)])
    table = ambiguity_random(logits, confusion, cells, rng)
    items, slots = np.nonzero(table >= 0)
    frame = pd.DataFrame(
        {
            "item": [f"i{i:03d}" for i in items],
            "annotator": [f"a{j}" for j in cells[items, slots]],
            "label": table[items, slots].astype(str),
        }
    )
    ann = bl.Annotations.from_frame(frame, classes=["0", "1"])
    theta = theta[[int(name[1:]) for name in ann.items]]
    fit = bl.fit(ann, model="ambiguity", draws=500, tune=500, chains=2, seed=0, quiet=True)
    soft = fit.soft_labels(ci_prob=0.9)
    covered = (soft.lower[:, 1] <= theta[:, 1]) & (theta[:, 1] <= soft.upper[:, 1])
    print(f"90 % interval coverage of θ_i1: {covered.mean():.3f}")
    assert 0.80 <= covered.mean() <= 0.97
