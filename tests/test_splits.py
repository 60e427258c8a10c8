"""Splits never let an item, an annotator or a later label cross train/test; aggregation per
fold provably never sees a test label; clean and ambiguous test slices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayeslabels as bl


@pytest.fixture(scope="module")
def sim():
    return bl.simulate.dawid_skene(
        n_items=300, n_annotators=15, n_classes=3, labels_per_item=(3, 5), gold_fraction=0.3, seed=21
    )


def _with_timestamps(ann: bl.Annotations, seed: int = 0) -> bl.Annotations:
    frame = ann.to_frame()
    rng = np.random.default_rng(seed)
    frame["timestamp"] = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 30 * 86400, len(frame)), unit="s"
    )
    return bl.Annotations.from_frame(frame, classes=list(ann.classes), gold=ann.gold_series().dropna())


def _sides(split: bl.Split):
    return split.train(), split.test()


def test_item_split_keeps_every_item_on_one_side(sim):
    ann = sim.annotations
    split = bl.split(ann, by="item", test_size=0.2, seed=3)
    assert not (split.train_items & split.test_items).any() and (split.train_items | split.test_items).all()
    assert split.test_items.sum() == 60
    train, test = _sides(split)
    assert set(train.items[train.item_idx]).isdisjoint(set(test.items[test.item_idx]))
    assert train.n_labels + test.n_labels == ann.n_labels
    assert ((test.gold >= 0) <= split.test_items).all() and ((train.gold >= 0) <= split.train_items).all()
    again = bl.split(ann, by="item", test_size=0.2, seed=3)
    assert (again.test_items == split.test_items).all()
    assert not (bl.split(ann, by="item", test_size=0.2, seed=4).test_items == split.test_items).all()
    assert "split by item" in str(split)


def test_annotator_split_keeps_every_annotator_on_one_side(sim):
    ann = sim.annotations
    split = bl.split(ann, by="annotator", test_size=0.2, seed=0)
    train, test = _sides(split)
    train_annotators, test_annotators = set(train.annotator_idx), set(test.annotator_idx)
    assert train_annotators.isdisjoint(test_annotators)
    assert len(test_annotators) == 3 and len(train_annotators | test_annotators) == ann.n_annotators
    assert train.n_labels + test.n_labels == ann.n_labels


def test_time_split_keeps_later_labels_out_of_training(sim):
    ann = _with_timestamps(sim.annotations)
    split = bl.split(ann, by="time", test_size=0.25)
    train, test = _sides(split)
    assert train.timestamp.max() < split.cutoff.to_datetime64()
    finished = pd.Series(test.timestamp).groupby(test.item_idx).max()
    assert (finished >= split.cutoff.to_datetime64()).all()  # test items completed at or after the cutoff
    assert not (split.train_items & split.test_items).any()
    assert split.test_items.sum() == pytest.approx(0.25 * ann.n_items, abs=1)


def test_time_split_without_timestamps_is_a_data_error_saying_so(sim):
    with pytest.raises(bl.DataError, match="timestamps"):
        bl.split(sim.annotations, by="time")
    frame = sim.annotations.to_frame()
    frame["timestamp"] = pd.Timestamp("2026-01-01", tz="UTC")
    frame.loc[3, "timestamp"] = None
    with pytest.raises(bl.DataError, match="no timestamp"):
        bl.split(bl.Annotations.from_frame(frame), by="time")


def test_split_arguments_are_checked(sim):
    with pytest.raises(ValueError, match="test_size"):
        bl.split(sim.annotations, test_size=1.5)
    with pytest.raises(ValueError, match="by must be"):
        bl.split(sim.annotations, by="subtype")


# --------------------------------------------------------------------------- leakage


def _plant(ann: bl.Annotations, where: np.ndarray) -> bl.Annotations:
    """The same table with a pattern planted in the label rows `where`: every such label
    replaced by the first class, and each of those rows labelled once more the same way."""
    frame = ann.to_frame()
    frame.loc[where, "label"] = ann.classes[0]
    extra = frame[where].copy()
    planted = pd.concat([frame, extra], ignore_index=True)
    return bl.Annotations.from_frame(planted, classes=list(ann.classes), gold=ann.gold_series().dropna())


@pytest.mark.parametrize("by", ["item", "annotator", "time"])
def test_planting_labels_in_the_test_side_leaves_training_targets_unchanged(sim, by):
    ann = _with_timestamps(sim.annotations) if by == "time" else sim.annotations
    split = bl.split(ann, by=by, test_size=0.3, seed=1)
    planted_ann = _plant(ann, split.test_rows)
    planted_split = bl.split(planted_ann, by=by, test_size=0.3, seed=1)
    assert (planted_split.train_items == split.train_items).all()  # same division of the items
    assert (planted_split.test_items == split.test_items).all()

    before = bl.fit_per_fold(ann, split, method="em")
    after = bl.fit_per_fold(planted_ann, planted_split, method="em")
    pd.testing.assert_frame_equal(before.side(0, "train"), after.side(0, "train"))
    test_before, test_after = before.side(0, "test"), after.side(0, "test")
    assert not np.allclose(test_before["p_0"], test_after["p_0"])  # the pattern is there, and matters

    # Control: aggregation fitted on every label does let the planted test labels move the
    # training targets — the per-fold fit is what keeps them out.
    whole_before = bl.fit(ann, method="em").soft_labels().to_frame().set_index("item")
    whole_after = bl.fit(planted_ann, method="em").soft_labels().to_frame().set_index("item")
    train_ids = split.train_item_ids
    assert not np.allclose(whole_before.loc[train_ids, "p_0"], whole_after.loc[train_ids, "p_0"], atol=1e-9)


def test_fit_per_fold_scores_test_items_with_training_parameters_and_never_their_gold(sim):
    ann = sim.annotations
    folds = [bl.split(ann, by="item", test_size=0.25, seed=s) for s in range(3)]
    result = bl.fit_per_fold(ann, folds, method="em")
    assert len(result.fits) == 3 and set(result.targets["fold"]) == {0, 1, 2}
    for number, split in enumerate(folds):
        train, test = result.side(number, "train"), result.side(number, "test")
        assert set(train["item"]) == set(split.train_item_ids) and set(test["item"]) == set(
            split.test_item_ids
        )
        fitted = result.fits[number]
        assert fitted.annotations.n_labels == int(split.train_rows.sum())  # trained on the train rows only
        gold_test = test[test["gold"].notna()]
        probs = gold_test[[f"p_{c}" for c in ann.classes]].to_numpy()
        assert (probs.max(axis=1) < 1 - 1e-6).any()  # gold did not pin the test items
        gold_train = train[train["gold"].notna()]
        assert (gold_train["label"] == gold_train["gold"]).all()  # training gold anchors its fold
    assert "3 fold(s)" in str(result)
    accuracy = bl.evaluate(result.side(0, "test"), result.side(0, "test").set_index("item")["gold"].dropna())
    assert accuracy.value("accuracy") > 0.7


def test_fit_per_fold_refuses_splits_of_other_annotations(sim):
    other = bl.simulate.dawid_skene(n_items=50, n_annotators=8, seed=1).annotations
    with pytest.raises(bl.DataError, match="other annotations"):
        bl.fit_per_fold(sim.annotations, bl.split(other, seed=0))


# --------------------------------------------------------------------------- test slices


def test_clean_test_set_separates_confident_from_ambiguous_items(sim):
    ann = sim.annotations
    clean, ambiguous = bl.clean_test_set(ann, min_labels=4, min_agreement=0.75)
    counts = ann.label_counts()
    n = counts.sum(axis=1)
    share = counts.max(axis=1) / n
    in_clean, in_ambiguous = clean.labels_per_item > 0, ambiguous.labels_per_item > 0
    assert not (in_clean & in_ambiguous).any()
    assert ((n >= 4) & (share >= 0.75) == in_clean).all()
    assert ((n >= 4) & (share < 0.75) == in_ambiguous).all()
    assert not (in_clean | in_ambiguous)[n < 4].any()  # too few labels: neither
    assert ((clean.gold >= 0) <= in_clean).all()
    with pytest.raises(ValueError, match="min_agreement"):
        bl.clean_test_set(ann, min_agreement=0)
