"""`Fit.predict`: class posteriors of new labels from the fitted annotators, without a refit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax

import bayeslabels as bl


def _frame(ann: bl.Annotations) -> pd.DataFrame:
    return ann.to_frame()


def _probabilities(table) -> np.ndarray:
    table = table.to_frame() if hasattr(table, "to_frame") else table
    return table[
        [c for c in table.columns if c.startswith("p_") and not c.endswith(("_lo", "_hi"))]
    ].to_numpy()


def _by_hand(
    labels: pd.DataFrame, confusion: dict[str, np.ndarray], prevalence: np.ndarray, classes
) -> pd.Series:
    """P(z_i = k | labels) = softmax_k(log ρ_k + Σ_r log π[annotator_r, k, label_r]), item by item."""
    code = {c: k for k, c in enumerate(classes)}
    rows = {}
    for item, group in labels.groupby("item", sort=False):
        joint = np.log(prevalence).copy()
        for annotator, label in zip(group["annotator"], group["label"], strict=True):
            joint += np.log(confusion[annotator][:, code[label]])
        rows[item] = softmax(joint)
    return pd.Series(rows)


def test_predict_on_the_fitted_labels_is_the_soft_label_of_a_fit_without_gold(small_sim):
    fit = bl.fit(small_sim.annotations, method="em", use_gold=False)
    np.testing.assert_allclose(
        _probabilities(fit.predict(small_sim.annotations)), _probabilities(fit.soft_labels())
    )


def test_new_items_are_scored_by_the_fitted_confusion_matrices(em_fit, small_sim):
    labels = _frame(small_sim.annotations).head(40).copy()
    labels["item"] = "new-" + labels["item"]
    new = bl.Annotations.from_frame(labels)
    predicted = em_fit.predict(new)
    table = predicted.to_frame() if hasattr(predicted, "to_frame") else predicted
    assert list(table["item"]) == list(new.items)  # every new item, in its input order

    classes = list(em_fit.annotations.classes)
    confusion = dict(zip(em_fit.annotations.annotators, em_fit.draws("confusion")[0], strict=True))
    expected = _by_hand(labels, confusion, em_fit.draws("prevalence")[0], classes)
    np.testing.assert_allclose(
        _probabilities(table), np.stack(expected[list(new.items)].to_numpy()), atol=1e-10
    )


def test_an_unseen_annotator_labels_like_the_average_annotator_or_is_refused(em_fit, small_sim):
    labels = pd.DataFrame(
        {"item": ["x", "x", "y"], "annotator": ["stranger", "a0", "stranger"], "label": ["c0", "c1", "c2"]}
    )
    labels["annotator"] = labels["annotator"].replace("a0", str(em_fit.annotations.annotators[0]))
    labels["label"] = labels["label"].map(
        dict(zip(["c0", "c1", "c2"], em_fit.annotations.classes, strict=True))
    )
    new = bl.Annotations.from_frame(labels)
    confusion = dict(zip(em_fit.annotations.annotators, em_fit.draws("confusion")[0], strict=True))
    confusion["stranger"] = em_fit.draws("confusion")[0].mean(axis=0)
    expected = _by_hand(labels, confusion, em_fit.draws("prevalence")[0], list(em_fit.annotations.classes))
    np.testing.assert_allclose(_probabilities(em_fit.predict(new)), np.stack(expected[["x", "y"]].to_numpy()))

    with pytest.raises(bl.DataError, match="1 annotator\\(s\\) the fit has not seen.*stranger"):
        em_fit.predict(new, unseen_annotators="error")


def test_classes_are_matched_by_name_and_an_unknown_class_is_refused(em_fit):
    first, second = em_fit.annotations.classes[:2]
    annotator = str(em_fit.annotations.annotators[0])
    reordered = bl.Annotations.from_frame(
        pd.DataFrame({"item": ["i", "j"], "annotator": [annotator, annotator], "label": [second, first]})
    )
    table = em_fit.predict(reordered)
    table = table.to_frame() if hasattr(table, "to_frame") else table
    assert [c for c in table.columns if c.startswith("p_") and not c.endswith(("_lo", "_hi"))] == [
        f"p_{c}" for c in em_fit.annotations.classes
    ]
    assert list(table["label"]) == [second, first]  # a reliable annotator's label wins

    stray = bl.Annotations.from_frame(
        pd.DataFrame({"item": ["i", "j"], "annotator": [annotator, annotator], "label": ["nope", first]})
    )
    with pytest.raises(bl.DataError, match="'nope'.*not among the fitted classes"):
        em_fit.predict(stray)


def test_fold_targets_score_test_items_with_the_training_fit(small_sim):
    split = bl.split(small_sim.annotations, test_size=0.3, seed=0)
    targets = bl.fit_per_fold(small_sim.annotations, split)
    test = targets.targets[targets.targets["side"] == "test"]
    fold_fit = targets.fits[0]
    expected = fold_fit.predict(split.test().drop_unlabelled())
    expected = expected.to_frame() if hasattr(expected, "to_frame") else expected
    expected = expected.set_index("item").loc[test["item"]]
    np.testing.assert_allclose(
        test[[f"p_{c}" for c in small_sim.annotations.classes]].to_numpy(),
        expected[[f"p_{c}" for c in small_sim.annotations.classes]].to_numpy(),
    )


def test_a_per_subtype_fit_scores_new_labels_cell_by_cell(subtype_fit, subtype_sim):
    ann = subtype_sim.annotations
    labels = ann.to_frame().head(60).copy()
    labels["item"] = "new-" + labels["item"]
    labels.loc[labels.index[:5], "annotator"] = "stranger"
    new = bl.Annotations.from_frame(labels, subtype="subtype")
    table = subtype_fit.predict(new)
    table = table.to_frame() if hasattr(table, "to_frame") else table

    dense = subtype_fit.draws("confusion")  # draws, J, S, K, K
    population = subtype_fit.draws("population_confusion")  # draws, S, K, K
    prevalence = subtype_fit.draws("prevalence")
    annotator_code = {a: j for j, a in enumerate(ann.annotators)}
    subtype_code = {s: t for t, s in enumerate(ann.subtypes)}
    class_code = {c: k for k, c in enumerate(ann.classes)}
    expected = {}
    for item, group in labels.groupby("item", sort=False):
        joint = np.log(prevalence)
        for annotator, label, subtype in zip(
            group["annotator"], group["label"], group["subtype"], strict=True
        ):
            s = subtype_code[subtype]
            pi = dense[:, annotator_code[annotator], s] if annotator in annotator_code else population[:, s]
            joint = joint + np.log(pi[:, :, class_code[label]])
        expected[item] = softmax(joint, axis=-1).mean(axis=0)
    np.testing.assert_allclose(_probabilities(table), np.stack([expected[i] for i in new.items]), atol=1e-10)

    renamed = labels.assign(subtype="unheard-of")
    with pytest.raises(bl.DataError, match="not among the fitted subtypes"):
        subtype_fit.predict(bl.Annotations.from_frame(renamed, subtype="subtype"))
