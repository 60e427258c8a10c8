"""MACE (Hovy et al. 2013): each annotator labels the truth with probability θ_j, else spams
from ξ_j. Its graph is the shared marginal likelihood under π_j = θ_j I + (1 − θ_j) 1 ξ_jᵀ
(checked against brute-force enumeration), and fits recover who is trustworthy."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from scipy.special import logsumexp
from scipy.stats import spearmanr

import bayeslabels as bl
from bayeslabels.errors import SpecError
from bayeslabels.models import family
from tests._graphs import interpreted
from tests.test_generative import _graph_item_logp, _tiny


def test_the_per_item_log_likelihood_is_the_enumerated_mace_marginal():
    ann = _tiny(3, n_items=5)
    rng = np.random.default_rng(0)
    k, j = ann.n_classes, ann.n_annotators
    theta, spam, rho = rng.uniform(0.2, 0.9, j), rng.dirichlet(np.ones(k), j), rng.dirichlet(np.ones(k))
    model = family("mace").build(ann)
    graph = _graph_item_logp(model, {"prevalence": rho, "reliability": theta, "spam": spam})

    def p_label(a: int, z: int, y: int) -> float:  # knows the answer, or spams
        return theta[a] * (y == z) + (1 - theta[a]) * spam[a, y]

    expected = [
        logsumexp(
            [
                np.log(rho[z])
                + sum(
                    np.log(p_label(a, z, y))
                    for a, y in zip(
                        ann.annotator_idx[ann.item_idx == i], ann.label[ann.item_idx == i], strict=True
                    )
                )
                for z in range(k)
            ]
        )
        for i in range(ann.n_items)
    ]
    np.testing.assert_allclose(graph, expected, atol=1e-10)


def test_the_confusion_is_reliability_on_the_diagonal_plus_spam():
    ann = _tiny(1, n_items=5)
    model = family("mace").build(ann)
    assert {"reliability", "spam", "prevalence"} == {v.name for v in model.free_RVs}
    assert [d.name for d in model.deterministics] == ["confusion"]
    assert model.named_vars_to_dims["spam"] == ("annotator", "label_class")
    with interpreted():
        confusion = pm.draw(model["confusion"], random_seed=1)
        theta, spam = pm.draw([model["reliability"], model["spam"]], random_seed=1)
    np.testing.assert_allclose(confusion.sum(axis=-1), 1.0)
    np.testing.assert_allclose(np.einsum("jkk->jk", confusion), theta[:, None] + (1 - theta[:, None]) * spam)


def test_the_start_inverts_the_confusion_of_an_exact_mace_solution():
    ann = _tiny(2, n_items=5)
    theta, spam = (
        np.array([0.9, 0.6, 0.3]),
        np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3]]),
    )
    confusion = theta[:, None, None] * np.eye(3) + (1 - theta)[:, None, None] * spam[:, None, :]
    em = bl.dawid_skene_em(ann)
    start = family("mace").start(
        type(em)(**{**em.__dict__, "confusion": confusion}), ann, bl.resolve_spec("mace").priors
    )
    np.testing.assert_allclose(start["reliability"], theta)
    np.testing.assert_allclose(start["spam"], spam)


def test_priors_are_validated_and_the_shipped_spec_favours_reliability():
    priors = bl.resolve_spec("mace").priors
    assert isinstance(priors, bl.MacePriors) and priors.reliability_a > priors.reliability_b
    with pytest.raises(SpecError, match="spam_concentration"):
        bl.MacePriors(spam_concentration=0.0)


@pytest.fixture(scope="module")
def mace_map():
    """15 annotators with θ spread evenly over [0.2, 0.95], ~5.5 labels on each of 400 items."""
    theta = np.random.default_rng(4).permutation(np.linspace(0.2, 0.95, 15))
    sim = bl.simulate.from_family(
        "mace",
        n_items=400,
        n_annotators=15,
        labels_per_item=(4, 7),
        seed=4,
        parameters={"reliability": theta},
    )
    return sim, bl.fit(sim.annotations, model="mace", method="map", quiet=True)


def test_map_recovers_who_is_reliable_and_the_true_classes(mace_map):
    sim, fit = mace_map
    table = fit.annotators()
    assert {"reliability", "reliability_lo", "accuracy", "sensitivity"} <= set(table.columns)
    rank = spearmanr(table["reliability"], sim.parameters["reliability"]).statistic
    assert rank > 0.8, rank
    soft = fit.soft_labels()
    accuracy = (soft.mean.argmax(axis=1) == sim.true_class).mean()
    vote = (bl.majority_vote(sim.annotations).label == sim.true_class).mean()
    assert accuracy >= vote, (accuracy, vote)


@pytest.mark.slow
def test_nuts_intervals_of_reliability_cover_the_truth():
    """Measured (seed 7, 30 annotators, 600 items, 4 × 500 draws, ~60 s): 90 % intervals
    covered θ_j for 28 of 30 annotators (93 %); no divergences, max R-hat 1.009; accuracy
    0.958 against majority vote's 0.940."""
    sim = bl.simulate.from_family("mace", n_items=600, n_annotators=30, labels_per_item=(3, 6), seed=7)
    fit = bl.fit(
        sim.annotations, model="mace", method="nuts", draws=500, tune=500, chains=4, seed=1, quiet=True
    )
    assert fit.check().ok
    table = fit.annotators(ci_prob=0.9)
    truth = sim.parameters["reliability"]
    coverage = ((table["reliability_lo"] <= truth) & (truth <= table["reliability_hi"])).mean()
    assert 0.8 <= coverage <= 0.97, coverage
    accuracy = (fit.soft_labels().mean.argmax(axis=1) == sim.true_class).mean()
    assert accuracy >= (bl.majority_vote(sim.annotations).label == sim.true_class).mean()
