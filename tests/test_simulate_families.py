"""`simulate.from_family`: labels from any family's own forward code (`Family.replicated_labels`),
with the asked design, frequencies that match the true parameters, and a truth that fits recover."""

from __future__ import annotations

import numpy as np
import pytest

import bayeslabels as bl
from bayeslabels.models import family
from bayeslabels.simulate import FAMILY_PARAMETERS, from_family

LATENT_CLASS = [
    "dawid-skene",
    "one-coin",
    "mace",
    "hierarchical",
    "hierarchical-subtype",
    "ordinal",
    "ordinal-subtype",
]


def _simulate(name: str, **kwargs) -> bl.simulate.SimulatedFamily:
    settings = {"n_items": 1500, "n_annotators": 8, "labels_per_item": (2, 5), "seed": 3}
    settings["n_subtypes"] = 3 if family(name).per_subtype else 0
    return from_family(name, **{**settings, **kwargs})


def _row_confusion(sim: bl.simulate.SimulatedFamily) -> np.ndarray:
    """Rows × K × K: the confusion matrix each label row was drawn with."""
    model = family(sim.family)
    cells = model.row_cells(sim.annotations)
    return sim.parameters["cell_confusion" if model.per_subtype else "confusion"][cells]


@pytest.mark.parametrize("name", sorted(FAMILY_PARAMETERS))
def test_the_labels_have_the_asked_design(name):
    sim = _simulate(name, n_items=300, n_classes=2, labels_per_item=(2, 4))
    ann = sim.annotations
    assert sim.family == name
    assert ann.n_items == 300 and ann.n_annotators <= 8 and list(ann.classes) == ["0", "1"]
    assert 2 <= ann.labels_per_item.min() and ann.labels_per_item.max() <= 4
    pairs = ann.item_idx * ann.n_annotators + ann.annotator_idx
    assert len(np.unique(pairs)) == len(pairs)  # distinct annotators per item
    assert ann.has_subtypes == family(name).per_subtype
    assert ann.ordered == family(name).ordered_only
    assert (sim.true_class is None) == (name in ("beta-bernoulli", "ambiguity"))  # no latent class


@pytest.mark.parametrize("name", LATENT_CLASS)
def test_each_annotator_is_right_as_often_as_its_confusion_diagonal_says(name):
    sim = _simulate(name, n_classes=3)
    ann, z = sim.annotations, sim.true_class
    confusion = _row_confusion(sim)
    truth = z[ann.item_idx]
    right = (ann.label == truth).astype(float)
    expected = confusion[np.arange(len(truth)), truth, truth]
    n = np.bincount(ann.annotator_idx)
    observed_rate = np.bincount(ann.annotator_idx, weights=right) / n
    expected_rate = np.bincount(ann.annotator_idx, weights=expected) / n
    tolerance = 4 * np.sqrt(expected_rate * (1 - expected_rate) / n) + 0.01
    assert (np.abs(observed_rate - expected_rate) < tolerance).all()
    # and the true classes follow the prevalence
    share = np.bincount(z, minlength=3) / len(z)
    np.testing.assert_allclose(share, sim.parameters["prevalence"], atol=4 * np.sqrt(0.25 / len(z)))


def test_beta_bernoulli_labels_follow_the_item_rates():
    sim = _simulate("beta-bernoulli", n_items=4000)
    ann, alpha, beta = sim.annotations, sim.parameters["alpha"], sim.parameters["beta"]
    mean = alpha / (alpha + beta)
    assert ann.label.mean() == pytest.approx(mean, abs=0.02)
    # two labels of one item share θ_i: P(both positive) = E[θ²] = m² + Var θ
    first = np.flatnonzero(np.r_[True, np.diff(ann.item_idx) != 0])
    both = (ann.label[first] == 1) & (ann.label[first + 1] == 1)
    second_moment = mean**2 + alpha * beta / ((alpha + beta) ** 2 * (alpha + beta + 1))
    assert both.mean() == pytest.approx(second_moment, abs=0.03)
    assert sim.parameters["mean"] == pytest.approx(mean)


def test_ambiguity_labels_follow_each_items_class_distribution_through_the_confusion():
    sim = _simulate("ambiguity", n_items=4000, n_classes=3)
    ann, theta, confusion = sim.annotations, sim.parameters["theta"], sim.parameters["confusion"]
    # P(label = l | row) = Σ_c θ_ic π_j[c, l]
    expected = np.einsum("rc,rcl->rl", theta[ann.item_idx], confusion[ann.annotator_idx])
    observed = np.eye(3)[ann.label]
    np.testing.assert_allclose(observed.mean(axis=0), expected.mean(axis=0), atol=0.015)
    ambiguous = theta.max(axis=1) < 0.8
    per_item_agreement = bl.item_agreement(ann)["pairwise_agreement"].to_numpy()
    assert per_item_agreement[ambiguous].mean() < per_item_agreement[~ambiguous].mean() - 0.1


def test_item_difficulty_labels_carry_the_true_class_the_forward_code_was_given():
    sim = _simulate("item-difficulty", n_items=3000, n_classes=3, labels_per_item=5)
    em = bl.dawid_skene_em(sim.annotations)
    assert not sim.annotations.has_gold  # the class fixed through gold is not left behind
    assert (em.label == sim.true_class).mean() > 0.75
    share = np.bincount(sim.true_class, minlength=3) / len(sim.true_class)
    np.testing.assert_allclose(share, sim.parameters["prevalence"], atol=0.04)


def test_given_parameters_are_the_truth_and_derived_ones_follow():
    sim = from_family(
        "mace", n_items=200, n_annotators=5, labels_per_item=3, seed=0, parameters={"reliability": np.ones(5)}
    )
    np.testing.assert_array_equal(sim.annotations.label, sim.true_class[sim.annotations.item_idx])
    np.testing.assert_array_equal(sim.parameters["confusion"], np.broadcast_to(np.eye(2), (5, 2, 2)))
    with pytest.raises(ValueError, match="takes the parameters"):
        from_family(
            "one-coin", n_items=10, n_annotators=5, labels_per_item=2, parameters={"confusion": np.eye(2)}
        )
    with pytest.raises(ValueError, match="no simulator"):
        from_family("nonesuch", n_items=10, n_annotators=5, labels_per_item=2)
    with pytest.raises(ValueError, match="n_subtypes"):
        from_family("hierarchical-subtype", n_items=10, n_annotators=5, labels_per_item=2)


def test_the_true_class_is_the_one_the_forward_code_drew_and_replicates_are_unchanged():
    sim = _simulate("dawid-skene", n_items=50)
    draws = {name: value[None] for name, value in sim.parameters.items()}.__getitem__
    model = family("dawid-skene")
    plain = model.replicated_labels(sim.annotations, draws, False, np.random.default_rng(1))
    labels, classes = model.replicated_labels(
        sim.annotations, draws, False, np.random.default_rng(1), return_classes=True
    )
    np.testing.assert_array_equal(plain, labels)
    assert classes is not None and classes.shape == (1, 50)


@pytest.mark.parametrize("name", ["dawid-skene", "one-coin"])
def test_a_map_fit_recovers_the_true_classes(name):
    sim = from_family(name, n_items=300, n_annotators=10, labels_per_item=(4, 6), seed=2)
    fit = bl.fit(sim.annotations, model=name, method="map", quiet=True)
    accuracy = (fit.soft_labels().mean.argmax(axis=1) == sim.true_class).mean()
    assert accuracy >= 0.9, accuracy
