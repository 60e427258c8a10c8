"""Soft labels: the DESIGN.md schema, every item in input order, honest intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayeslabels as bl


def _class_columns(classes):
    columns = []
    for c in classes:
        columns += [f"p_{c}", f"p_{c}_lo", f"p_{c}_hi"]
    return columns


def test_schema_and_order(nuts_fit):
    table = nuts_fit.soft_labels(ci_prob=0.9).to_frame()
    classes = nuts_fit.classes
    assert list(table.columns) == ["item", "label", *_class_columns(classes), "entropy", "n_labels"]
    assert table["item"].tolist() == list(nuts_fit.annotations.items)
    assert (table["n_labels"].to_numpy() == nuts_fit.annotations.labels_per_item).all()
    assert set(table["label"]) <= set(classes)


def test_probabilities_sum_to_one_and_intervals_bracket_the_mean(nuts_fit):
    table = nuts_fit.soft_labels(ci_prob=0.9).to_frame()
    classes = nuts_fit.classes
    means = table[[f"p_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(means.sum(axis=1), 1.0, atol=1e-10)
    for c in classes:
        assert (table[f"p_{c}_lo"] <= table[f"p_{c}"] + 1e-12).all()
        assert (table[f"p_{c}"] <= table[f"p_{c}_hi"] + 1e-12).all()
        assert table[f"p_{c}_lo"].between(0, 1).all() and table[f"p_{c}_hi"].between(0, 1).all()
    assert (table["label"].to_numpy() == np.asarray(classes)[means.argmax(axis=1)]).all()


def test_intervals_widen_as_ci_prob_grows(nuts_fit):
    narrow = nuts_fit.soft_labels(ci_prob=0.5).to_frame()
    wide = nuts_fit.soft_labels(ci_prob=0.95).to_frame()
    for c in nuts_fit.classes:
        width_narrow = narrow[f"p_{c}_hi"] - narrow[f"p_{c}_lo"]
        width_wide = wide[f"p_{c}_hi"] - wide[f"p_{c}_lo"]
        assert (width_wide >= width_narrow - 1e-12).all()
        assert (width_wide > width_narrow).mean() > 0.5


def test_items_with_fewer_labels_have_wider_intervals(nuts_fit):
    table = nuts_fit.soft_labels(ci_prob=0.9).to_frame()
    c = nuts_fit.classes[0]
    width = table[f"p_{c}_hi"] - table[f"p_{c}_lo"]
    few = table["n_labels"] == table["n_labels"].min()
    many = table["n_labels"] == table["n_labels"].max()
    assert width[few].mean() > width[many].mean()


def test_point_estimate_intervals_collapse_onto_the_estimate(em_fit):
    table = em_fit.soft_labels().to_frame()
    assert em_fit.is_point_estimate and em_fit.check().point_estimate
    for c in em_fit.classes:
        np.testing.assert_allclose(table[f"p_{c}_lo"], table[f"p_{c}"])
        np.testing.assert_allclose(table[f"p_{c}_hi"], table[f"p_{c}"])
    np.testing.assert_allclose(table[[f"p_{c}" for c in em_fit.classes]].to_numpy(), em_fit.em.posterior)


@pytest.mark.parametrize("ci_prob", [0, 1, 1.5, -0.1, "0.9"])
def test_ci_prob_outside_zero_one_is_refused(em_fit, ci_prob):
    with pytest.raises(ValueError, match="ci_prob"):
        em_fit.soft_labels(ci_prob=ci_prob)


def test_every_item_appears_including_single_label_gold_only_and_subtyped_items():
    frame = pd.DataFrame(
        {
            "item": ["0001", "0001", "0002", "0002", "0003", "0004", "0004", "0004"],
            "annotator": ["a", "b", "a", "c", "b", "a", "b", "c"],
            "label": ["x", "y", "y", "y", "x", "x", "x", "y"],
            "subtype": ["s1", "s1", "s2", "s2", "s1", "s2", "s2", "s2"],
        }
    )
    gold = pd.DataFrame({"item": ["0002", "0099"], "gold": ["y", "x"]})
    ann = bl.Annotations.from_frame(frame, gold=gold, gold_only="keep")
    table = bl.fit(ann, method="em").soft_labels().to_frame()
    assert table["item"].tolist() == ["0001", "0002", "0003", "0004", "0099"]
    assert table["n_labels"].tolist() == [2, 2, 1, 3, 0]
    assert table.loc[table["item"] == "0099", "label"].item() == "x"
    assert table["subtype"].tolist()[:4] == ["s1", "s2", "s1", "s2"]
    assert pd.isna(table["subtype"].iloc[4])
    assert table["gold"].tolist()[1] == "y" and pd.isna(table["gold"].iloc[0])


def test_annotator_table_has_intervals_and_volumes(nuts_fit):
    table = nuts_fit.annotators(ci_prob=0.9)
    assert table["annotator"].tolist() == list(nuts_fit.annotations.annotators)
    assert (table["n_labels"].to_numpy() == nuts_fit.annotations.labels_per_annotator).all()
    assert ((table["accuracy_lo"] <= table["accuracy"]) & (table["accuracy"] <= table["accuracy_hi"])).all()


def test_binary_annotator_table_has_sensitivity_and_specificity():
    sim = bl.simulate.dawid_skene(n_items=80, n_annotators=5, n_classes=2, labels_per_item=(2, 4), seed=1)
    table = bl.fit(sim.annotations, method="em").annotators()
    for column in ("sensitivity", "specificity", "sensitivity_lo", "specificity_hi"):
        assert column in table
