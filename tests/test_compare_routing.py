"""Reliability across subtypes and fits, and routing uncertain items to the right people."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayeslabels as bl

# --------------------------------------------------------------------------- subtypes


def test_a_truly_easier_subtype_is_found_and_equal_subtypes_are_not_told_apart(subtype_fit):
    comparison = bl.compare_subtypes(subtype_fit, ci_prob=0.9)
    population = comparison.differences.query("level == 'population' and metric == 'accuracy'")
    pair = population.set_index(["first", "second"])
    assert pair.loc[("s0", "s1"), "p_greater"] > 0.95 and pair.loc[("s0", "s2"), "p_greater"] > 0.95
    assert pair.loc[("s1", "s2"), "lo"] < 0 < pair.loc[("s1", "s2"), "hi"]
    assert set(comparison.population["metric"]) == {"accuracy", "sensitivity", "specificity"}
    rows = comparison.population.query("metric == 'accuracy'")
    assert ((rows["lo"] <= rows["mean"]) & (rows["mean"] <= rows["hi"])).all()
    assert "s0 vs s1" in str(comparison)


def test_population_confusion_and_annotator_rows_cover_every_cell(subtype_fit):
    comparison = bl.compare_subtypes(subtype_fit)
    ann = subtype_fit.annotations
    assert len(comparison.confusion) == len(ann.subtypes) * ann.n_classes**2
    assert len(comparison.annotators) == ann.n_annotators * len(ann.subtypes)
    assert comparison.annotators["n_labels"].sum() == ann.n_labels
    per_annotator = comparison.differences.query("level != 'population'")
    assert set(per_annotator["level"]) == set(ann.annotators)


@pytest.fixture(scope="module")
def sparse_and_heavy(subtype_sim):
    """The simulated set plus 'sparse' (5 labels on s1, 3 of them wrong) and 'heavy' (every
    s1 item, always right)."""
    ann, truth = subtype_sim.annotations, subtype_sim.true_class
    s1 = np.flatnonzero(ann.subtype == list(ann.subtypes).index("s1"))
    items = np.asarray(ann.items, dtype=object)
    sparse = pd.DataFrame(
        {
            "item": items[s1[:5]],
            "annotator": "sparse",
            "label": [str(t if i < 2 else 1 - t) for i, t in enumerate(truth[s1[:5]])],
            "subtype": "s1",
        }
    )
    heavy = pd.DataFrame(
        {"item": items[s1], "annotator": "heavy", "label": truth[s1].astype(str), "subtype": "s1"}
    )
    frame = pd.concat([ann.to_frame(), sparse, heavy], ignore_index=True)
    data = bl.Annotations.from_frame(frame, classes=list(ann.classes))
    return bl.fit(data, model="hierarchical-subtype", draws=500, tune=500, chains=2, quiet=True)


def test_few_labels_mean_a_wider_interval_shrunk_toward_the_population(sparse_and_heavy):
    table = bl.compare_subtypes(sparse_and_heavy).annotators.set_index(["annotator", "subtype"])
    sparse, heavy = table.loc[("sparse", "s1")], table.loc[("heavy", "s1")]
    assert sparse["n_labels"] == 5 and heavy["n_labels"] > 150
    assert sparse["accuracy_hi"] - sparse["accuracy_lo"] > heavy["accuracy_hi"] - heavy["accuracy_lo"]
    assert sparse["raw_agreement"] < sparse["accuracy"] <= sparse["population_accuracy"] + 0.1
    assert sparse["shrinkage"] > 0.5  # most of the way from its raw 2/5 to the population


def test_compare_subtypes_refuses_a_fit_without_subtypes(em_fit):
    with pytest.raises(bl.DataError, match="hierarchical-subtype"):
        bl.compare_subtypes(em_fit)


def test_compare_fits_reports_a_changed_annotator(small_sim):
    ann = small_sim.annotations
    worse = ann.to_frame()
    victim = ann.annotators[0]
    rows = worse["annotator"] == victim
    flipped = worse.loc[rows, "label"].map(lambda c: str((int(c) + 1) % ann.n_classes))
    worse.loc[rows, "label"] = flipped
    q1 = bl.fit(ann, method="em")
    q2 = bl.fit(bl.Annotations.from_frame(worse, classes=list(ann.classes)), method="em")
    table = bl.compare_fits({"Q1": q1, "Q2": q2}).set_index("level")
    assert table.loc[victim, "mean"] > 0.5 and table.loc[victim, "p_greater"] == 1.0
    assert abs(table.loc["population", "mean"]) < table.loc[victim, "mean"]


# --------------------------------------------------------------------------- routing


@pytest.fixture(scope="module")
def routing_setup():
    sim = bl.simulate.dawid_skene(
        n_items=500, n_annotators=20, n_classes=2, labels_per_item=(1, 3), gold_fraction=0.1, seed=3
    )
    return sim, bl.fit(sim.annotations, method="em")


def _add_simulated_labels(sim, pairs: pd.DataFrame, seed: int) -> bl.Annotations:
    """Labels for (item, annotator) pairs drawn from the simulator's own confusion matrices."""
    ann = sim.annotations
    rng = np.random.default_rng(seed)
    item_code = ann.items.get_indexer(pairs["item"])
    annotator_code = ann.annotators.get_indexer(pairs["assign_to"])
    probs = sim.confusion[annotator_code, sim.true_class[item_code]]
    labels = (rng.random(len(pairs))[:, None] > probs.cumsum(axis=1)).sum(axis=1)
    extra = pd.DataFrame(
        {
            "item": pairs["item"].to_numpy(),
            "annotator": pairs["assign_to"].to_numpy(),
            "label": labels.astype(str),
        }
    )
    frame = pd.concat([ann.to_frame(), extra], ignore_index=True)
    return bl.Annotations.from_frame(frame, classes=list(ann.classes), gold=ann.gold_series().dropna())


def _error_on(fit: bl.Fit, sim, items) -> float:
    table = fit.soft_labels().to_frame().set_index("item").loc[list(items)]
    truth = np.asarray(fit.classes)[sim.true_class[fit.annotations.items.get_indexer(list(items))]]
    p_true = [table.loc[i, f"p_{t}"] for i, t in zip(items, truth, strict=True)]
    return float(np.mean(1 - np.asarray(p_true)))


def test_routed_labels_cut_soft_label_error_more_than_random_labels(routing_setup):
    sim, fit = routing_setup
    ann = sim.annotations
    plan = bl.route(fit, budget=100)
    assert len(plan) == 100 and plan["cost"].sum() <= 100
    assert not ann.gold[ann.items.get_indexer(plan["item"])].__ge__(0).any()  # no gold item routed
    labelled = set(zip(ann.to_frame()["item"], ann.to_frame()["annotator"], strict=True))
    assert not any((i, a) in labelled for i, a in zip(plan["item"], plan["assign_to"], strict=True))

    rng = np.random.default_rng(0)
    open_items = np.asarray(ann.items, dtype=object)[ann.gold < 0]
    random_pairs = []
    while len(random_pairs) < 100:  # a random item and a random annotator who has not labelled it
        item, annotator = rng.choice(open_items), rng.choice(np.asarray(ann.annotators, dtype=object))
        if (item, annotator) not in labelled and (item, annotator) not in random_pairs:
            random_pairs.append((item, annotator))
    random_plan = pd.DataFrame(random_pairs, columns=["item", "assign_to"])

    routed_items, random_items = pd.unique(plan["item"]), pd.unique(random_plan["item"])
    routed_after = bl.fit(_add_simulated_labels(sim, plan, seed=1), method="em")
    random_after = bl.fit(_add_simulated_labels(sim, random_plan, seed=1), method="em")
    routed_gain = _error_on(fit, sim, routed_items) - _error_on(routed_after, sim, routed_items)
    random_gain = _error_on(fit, sim, random_items) - _error_on(random_after, sim, random_items)
    assert routed_gain > random_gain


def test_routing_respects_per_item_annotator_caps_severity_and_experts(routing_setup):
    _, fit = routing_setup
    open_items = fit.annotations.items[fit.annotations.gold < 0]
    plan = bl.route(fit, budget=60, per_item=2, max_per_annotator=5, severity={open_items[0]: 50.0})
    assert plan.groupby("item").size().max() <= 2
    assert plan["assign_to"].value_counts().max() <= 5
    assert plan.iloc[0]["item"] == open_items[0] and plan.iloc[0]["reason"] == "severity"
    expert_plan = bl.route(fit, budget=20, experts=["e1", "e2"], expert_cost=0.5)
    assert set(expert_plan["assign_to"]) <= {"e1", "e2"} and (expert_plan["kind"] == "expert").all()
    assert expert_plan["cost"].sum() <= 20


def test_routing_refuses_a_model_without_annotators(routing_setup):
    _, fit = routing_setup
    with pytest.raises(bl.DataError, match="budget"):
        bl.route(fit, budget=0)
    item_rates = bl.fit(fit.annotations, model="beta-bernoulli", method="map", quiet=True)
    with pytest.raises(bl.DataError, match="confusion"):
        bl.route(item_rates, budget=10)


def test_routing_when_every_item_has_gold_is_an_empty_plan():
    sim = bl.simulate.dawid_skene(n_items=40, n_annotators=6, n_classes=2, gold_fraction=1.0, seed=3)
    fit = bl.fit(sim.annotations, method="em", use_gold=False)
    plan = bl.route(fit, budget=10)
    assert plan.empty
    assert {"item", "assign_to", "kind", "reason"} <= set(plan.columns)
