"""The model families: each on the shared likelihood (checked by enumeration), each
recovering what it claims to on simulated data, each refusing data it cannot fit."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import betaln, logsumexp

import bayeslabels as bl
from bayeslabels.errors import SpecError
from bayeslabels.models import family, family_names
from bayeslabels.models._likelihood import observed_cells
from tests._graphs import interpreted

# --------------------------------------------------------------------------- shared likelihood


def _tiny(n_classes: int, subtypes: bool, gold: bool) -> bl.Annotations:
    rng = np.random.default_rng(n_classes + 10 * subtypes + 100 * gold)
    rows = [
        (f"i{i}", f"a{j}", str(rng.integers(n_classes)))
        for i in range(5)
        for j in range(3)
        if rng.random() < 0.8
    ]
    rows += [(f"i{i}", "a0", str(rng.integers(n_classes))) for i in range(5)]
    frame = pd.DataFrame(rows, columns=["item", "annotator", "label"])
    if subtypes:
        frame["subtype"] = frame["item"].map({"i0": "x", "i1": "y", "i2": "x", "i3": "y", "i4": "y"})
    gold_labels = {"i1": "0", "i3": str(n_classes - 1)} if gold else None
    return bl.Annotations.from_frame(frame, classes=[str(c) for c in range(n_classes)], gold=gold_labels)


def _enumerate(ann: bl.Annotations, confusion: np.ndarray, prevalence: np.ndarray, cell=None) -> float:
    """log p(labels) by summing over every assignment of true classes (gold ones fixed);
    ``cell`` gives each label row's row of ``confusion`` (default: its annotator)."""
    cell = ann.annotator_idx if cell is None else cell
    total = []
    for z in itertools.product(range(ann.n_classes), repeat=ann.n_items):
        z = np.array(z)
        if np.any((ann.gold >= 0) & (z != ann.gold)):
            continue
        rows = confusion[cell, z[ann.item_idx], ann.label]
        total.append(np.log(prevalence[z]).sum() + np.log(rows).sum())
    return logsumexp(total)


def _evaluate(model, names: list[str], point: dict) -> list:
    """Values of named model variables at a point of the (transformed) value variables;
    ``"labels"`` is the observed labels' log-probability, summed over items."""
    outputs = [
        model.logp(vars=[model[name]]) if name == "labels" else model.replace_rvs_by_values([model[name]])[0]
        for name in names
    ]
    with interpreted():
        return model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")(point)


@pytest.mark.parametrize("name", ["dawid-skene", "one-coin", "hierarchical", "hierarchical-subtype"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("gold", [False, True], ids=["no-gold", "gold"])
def test_every_model_uses_the_enumerable_marginal_likelihood(name, n_classes, gold):
    ann = _tiny(n_classes, subtypes=name.endswith("subtype"), gold=gold)
    model = family(name).build(ann, bl.resolve_spec(name).priors)
    point = model.initial_point(random_seed=3)
    for key in point:  # move off the symmetric start so every parameter matters
        point[key] = point[key] + np.random.default_rng(1).normal(0, 0.3, size=np.shape(point[key]))
    subtype = name.endswith("subtype")
    names = ["labels", "cell_confusion" if subtype else "confusion", "prevalence"]
    labels_logp, confusion, prevalence = _evaluate(model, names, point)
    cell = observed_cells(ann)[0] if subtype else None
    assert float(labels_logp) == pytest.approx(_enumerate(ann, confusion, prevalence, cell), abs=1e-10, rel=0)


def test_subtype_model_parameterises_only_the_cells_that_hold_labels():
    ann = _sparse_cell_annotations()
    model = family("hierarchical-subtype").build(ann, bl.resolve_spec("hierarchical-subtype").priors)
    assert tuple(model["epsilon"].shape.eval()) == (2, 6, 2)
    assert list(model.coords["cell"]) == ["a0 / s0", "a1 / s0", "a1 / s1", "a2 / s1", "a2 / s2", "a3 / s2"]


def test_subtype_cells_without_labels_follow_the_population_in_outputs():
    """Dense confusion (annotators × subtypes) from a per-subtype model's variables: the
    fitted cell where an annotator labelled that subtype, ``softmax(μ_s + σ_k η_j)`` elsewhere."""
    from scipy.special import softmax

    from bayeslabels.models.hierarchical import subtype_confusion

    ann = _sparse_cell_annotations()
    model = family("hierarchical-subtype").build(ann, bl.resolve_spec("hierarchical-subtype").priors)
    point = model.initial_point(random_seed=3)
    for key in point:
        point[key] = point[key] + np.random.default_rng(2).normal(0, 0.5, size=np.shape(point[key]))
    names = ["mu_subtype", "annotator_offset", "cell_confusion"]
    mu_subtype, offset, cells = _evaluate(model, names, point)
    dense = subtype_confusion(ann, mu_subtype[None], offset[None], cells[None])[0]
    _, cell_annotator, cell_subtype = observed_cells(ann)
    observed = np.zeros((ann.n_annotators, len(ann.subtypes)), dtype=bool)
    observed[cell_annotator, cell_subtype] = True
    for j in range(ann.n_annotators):
        for s in range(len(ann.subtypes)):
            expected = softmax(mu_subtype[s] + offset[:, j, :], axis=-1)
            if observed[j, s]:
                code = np.flatnonzero((cell_annotator == j) & (cell_subtype == s))[0]
                np.testing.assert_allclose(dense[j, s], cells[code])
                assert not np.allclose(dense[j, s], expected)  # the cell has its own deviation
            else:
                np.testing.assert_allclose(dense[j, s], expected)


def _sparse_cell_annotations() -> bl.Annotations:
    """4 annotators × 3 subtypes, each annotator labelling in one or two subtypes: 6 cells."""
    rows = [
        (f"i{i}", f"a{a}", str(i % 2), f"s{s}")
        for a, subtypes in enumerate([(0,), (0, 1), (1, 2), (2,)])
        for s in subtypes
        for i in range(s * 10, s * 10 + 4)
    ]
    return bl.Annotations.from_frame(pd.DataFrame(rows, columns=["item", "annotator", "label", "subtype"]))


def test_beta_bernoulli_likelihood_is_the_integrated_bernoulli_product():
    ann = _tiny(2, subtypes=False, gold=False)
    model = family("beta-bernoulli").build(ann, bl.BetaBernoulliPriors())
    point = model.initial_point()
    potential, alpha, beta = _evaluate(model, ["labels", "alpha", "beta"], point)
    expected = 0.0
    for i in range(ann.n_items):
        labels = ann.label[ann.item_idx == i]
        k, n = labels.sum(), len(labels)
        integral, _ = integrate.quad(
            lambda t, k=k, n=n: t**k * (1 - t) ** (n - k) * stats.beta.pdf(t, alpha, beta), 0, 1
        )
        expected += np.log(integral)
        assert betaln(alpha + k, beta + n - k) - betaln(alpha, beta) == pytest.approx(
            np.log(integral), rel=1e-8
        )
    assert float(potential) == pytest.approx(expected, rel=1e-8)


# --------------------------------------------------------------------------- misuse


def test_subtype_model_without_subtypes_is_a_clear_error():
    sim = bl.simulate.dawid_skene(n_items=30, n_annotators=4, labels_per_item=(2, 3), seed=0)
    with pytest.raises(bl.DataError, match="needs a subtype per item.*model='hierarchical'"):
        bl.fit(sim.annotations, model="hierarchical-subtype")


def test_beta_bernoulli_with_more_than_two_classes_is_a_clear_error():
    sim = bl.simulate.dawid_skene(n_items=30, n_annotators=4, n_classes=3, labels_per_item=(2, 3), seed=0)
    with pytest.raises(bl.DataError, match="needs exactly two classes.*'dawid-skene'"):
        bl.fit(sim.annotations, model="beta-bernoulli")


def test_unknown_model_lists_the_valid_ones_and_em_is_for_dawid_skene_only():
    sim = bl.simulate.dawid_skene(n_items=30, n_annotators=4, labels_per_item=(2, 3), seed=0)
    with pytest.raises(bl.SpecError, match="hierarchical-subtype"):
        bl.fit(sim.annotations, model="hierarchcal")
    with pytest.raises(bl.SpecError, match="method 'em' fits Dawid–Skene only"):
        bl.fit(sim.annotations, model="hierarchical", method="em")


def test_every_shipped_spec_round_trips():
    for name in ("dawid-skene", "one-coin", "hierarchical", "hierarchical-subtype", "beta-bernoulli"):
        spec = bl.resolve_spec(name)
        assert spec.model == name
        assert bl.ModelSpec.from_dict(spec.to_dict()).to_dict() == spec.to_dict()


# --------------------------------------------------------------------------- hierarchical


@pytest.fixture(scope="module")
def sparse_annotator_data():
    """12 annotators with many labels and one ('ann99') with 3 labels, two of them wrong."""
    sim = bl.simulate.dawid_skene(
        n_items=240, n_annotators=12, n_classes=2, labels_per_item=(3, 4), spammer_fraction=0.0, seed=4
    )
    frame = sim.annotations.to_frame()
    truth = dict(zip(sim.annotations.items, sim.true_class.astype(str), strict=True))
    picked = list(sim.annotations.items[:3])
    sparse = pd.DataFrame(
        {
            "item": picked,
            "annotator": "ann99",
            "label": [truth[picked[0]], *(str(1 - int(truth[i])) for i in picked[1:])],
        }
    )
    return bl.Annotations.from_frame(pd.concat([frame, sparse], ignore_index=True), classes=["0", "1"])


def test_hierarchical_pulls_a_three_label_annotator_toward_the_population(sparse_annotator_data):
    ann = sparse_annotator_data
    settings = dict(draws=500, tune=500, chains=2, quiet=True)
    flat = bl.fit(ann, model="dawid-skene", **settings).annotators().set_index("annotator")
    pooled_fit = bl.fit(ann, model="hierarchical", **settings)
    pooled = pooled_fit.annotators().set_index("annotator")
    population = pooled.drop(index="ann99")["accuracy"].mean()
    assert abs(pooled.loc["ann99", "accuracy"] - population) < abs(flat.loc["ann99", "accuracy"] - population)
    assert pooled.loc["ann99", "accuracy"] > flat.loc["ann99", "accuracy"]
    assert pooled_fit.check().max_rhat < 1.05


def test_hierarchical_subtype_recovers_population_reliability_per_subtype(subtype_sim, subtype_fit):
    sim, fit = subtype_sim, subtype_fit
    table = fit.annotators(by_subtype=True, ci_prob=0.9)
    assert set(table.columns) >= {
        "annotator",
        "subtype",
        "n_labels",
        "accuracy",
        "accuracy_lo",
        "accuracy_hi",
    }
    # population reliability of a subtype: the annotator average, draw by draw
    confusion = fit.draws("confusion")  # draws, annotator, subtype, true, label
    diagonal = np.einsum("djskk->djsk", confusion)
    accuracy = np.einsum("djsk,dk->djs", diagonal, fit.draws("prevalence")).mean(axis=1)
    true_diag = np.einsum("jskk->jsk", sim.subtype_confusion)
    true_accuracy = np.einsum("jsk,k->js", true_diag, sim.prevalence).mean(axis=0)
    lo, hi = np.quantile(accuracy, [0.05, 0.95], axis=0)
    assert np.all((lo <= true_accuracy) & (true_accuracy <= hi)), (lo, true_accuracy, hi)
    assert accuracy.mean(axis=0).argmax() == np.argmax(true_accuracy) == 0  # s0 is the easy subtype


def test_an_annotators_confusion_is_its_cells_weighted_by_where_its_labels_fell(subtype_sim, subtype_fit):
    """Per annotator, the average over subtypes of the dense (annotator, subtype) confusion with
    weights = the share of its labels in each subtype; computed from the fitted cells alone."""
    ann, fit = subtype_sim.annotations, subtype_fit
    dense = fit.draws("confusion")  # draws, annotator, subtype, true, label
    counts = np.zeros((ann.n_annotators, len(ann.subtypes)))
    np.add.at(counts, (ann.annotator_idx, ann.subtype[ann.item_idx]), 1)
    expected = np.einsum("djskl,js->djkl", dense, counts / counts.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(fit.annotator_confusion(), expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- Beta-Bernoulli


def test_beta_bernoulli_soft_labels_follow_the_conjugate_posterior_exactly():
    from bayeslabels.models.beta_bernoulli import item_rate_blocks, item_rate_interval

    k, n = np.array([0.0, 3.0, 5.0, 3.0]), np.array([4.0, 6.0, 5.0, 6.0])
    alpha, beta = np.array([2.0, 2.0]), np.array([3.0, 3.0])  # two equal draws: the mixture is one Beta
    ((_, probs),) = list(item_rate_blocks(k, n, alpha, beta))
    lo, hi = item_rate_interval(k, n, alpha, beta, ci_prob=0.9)
    exact = stats.beta(2 + k, 3 + n - k)
    np.testing.assert_allclose(probs[:, :, 1], np.broadcast_to(exact.mean(), (2, 4)), rtol=1e-12)  # no draw
    np.testing.assert_allclose(lo[:, 1], exact.ppf(0.05), rtol=1e-9)
    np.testing.assert_allclose(hi[:, 1], exact.ppf(0.95), rtol=1e-9)
    np.testing.assert_allclose(hi[:, 0], 1 - lo[:, 1])
    assert lo[1, 1] == lo[3, 1] and hi[1, 1] == hi[3, 1]  # equal counts, equal interval


def test_a_truly_ambiguous_item_stays_near_one_half_with_a_wide_interval():
    rng = np.random.default_rng(0)
    rows = [("ambiguous", f"a{j}", str(j % 2)) for j in range(10)]
    rows += [("clear", f"a{j}", "1") for j in range(10)]
    for i in range(60):  # background items with their own rates
        rate = rng.beta(2, 2)
        rows += [(f"b{i}", f"a{j}", str(int(rng.random() < rate))) for j in range(6)]
    ann = bl.Annotations.from_frame(pd.DataFrame(rows, columns=["item", "annotator", "label"]))
    fit = bl.fit(ann, model="beta-bernoulli", draws=1000, tune=500, chains=2, quiet=True)
    table = fit.soft_labels(ci_prob=0.9).to_frame().set_index("item")
    width = table["p_1_hi"] - table["p_1_lo"]
    assert table.loc["ambiguous", "p_1"] == pytest.approx(0.5, abs=0.05)
    assert table.loc["clear", "p_1"] > 0.8
    assert width["ambiguous"] > 0.3 and width["clear"] < width["ambiguous"]
    assert "agreement" in fit.annotators()


# --------------------------------------------------------------------------- ADVI and MAP


@pytest.mark.slow
def test_advi_agrees_with_nuts_on_simulated_data(nuts_fit, small_sim):
    advi = bl.fit(small_sim.annotations, method="advi", draws=1000, quiet=True)
    assert advi.check().variational and advi.check().ok
    gap = np.abs(advi.soft_labels().mean - nuts_fit.soft_labels().mean).max(axis=1)
    assert (gap <= 0.05).mean() >= 0.95


@pytest.mark.slow
def test_advi_with_item_minibatches_matches_full_batch_labels(small_sim):
    fit = bl.fit(small_sim.annotations, method="advi", minibatch_items=50, draws=500, quiet=True)
    labels = fit.soft_labels().to_frame()["label"].to_numpy()
    em_labels = np.asarray(fit.classes)[fit.em.label]
    assert (labels == em_labels).mean() >= 0.95


def test_advi_starts_an_annotator_with_many_labels_narrower_than_one_with_few(small_sim):
    from bayeslabels.inference import advi_start_sigma

    ann = small_sim.annotations
    model = family("dawid-skene").build(ann, bl.DawidSkenePriors())
    counts = np.bincount(ann.annotator_idx, minlength=ann.n_annotators)
    sigma = advi_start_sigma(model, counts)
    per_annotator = sigma["confusion_simplex__"].reshape(ann.n_annotators, -1)
    assert (per_annotator == per_annotator[:, :1]).all()  # one scale per annotator
    k = ann.n_classes
    np.testing.assert_allclose(per_annotator[:, 0], np.clip(1 / np.sqrt(1 + counts / k), 0.05, 0.7))
    assert per_annotator[counts.argmax(), 0] < per_annotator[counts.argmin(), 0]
    np.testing.assert_allclose(sigma["prevalence_simplex__"], 0.1)


def test_map_is_a_flagged_point_estimate_near_em(small_sim):
    fit = bl.fit(small_sim.annotations, model="dawid-skene", method="map", quiet=True)
    assert fit.is_point_estimate and fit.check().point_estimate
    assert (fit.soft_labels().label == np.asarray(fit.classes)[fit.em.label]).mean() >= 0.97


@pytest.mark.parametrize("name", family_names())
def test_every_family_builds_with_item_minibatches_or_refuses_them_by_name(name):
    """ADVI's item minibatches: the graph builds and its log-probability is finite, or the
    family says why it cannot (a parameter per item) — never PyMC's error about the observed
    table (item-difficulty and beta-bernoulli raised one: an int64 table cast as observed)."""
    from bayeslabels.features import item_features
    from bayeslabels.simulate import from_family

    model_family = family(name)
    sim = from_family(
        name,
        n_items=30,
        n_annotators=4,
        n_classes=2 if model_family.binary_only else 3,
        labels_per_item=(2, 4),
        n_subtypes=2 if model_family.per_subtype else 0,
    )
    ann = sim.annotations
    extra = {"features": item_features(sim.features, ann.items)} if model_family.takes_features else {}
    try:
        model = model_family.build(ann, None, minibatch_items=8, **extra)
    except SpecError as error:
        assert "minibatch" in str(error) and "per item" in str(error)
        return
    assert model["labels"] in model.observed_RVs
    with interpreted():
        assert np.isfinite(model.compile_logp()(model.initial_point()))
