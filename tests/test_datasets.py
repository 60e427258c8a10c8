"""Bundled real datasets load offline, with ids as strings and counts as published."""

from __future__ import annotations

import pytest

import bayeslabels as bl


def test_all_seven_datasets_are_bundled_with_citation_and_licence():
    assert bl.datasets.names() == [
        "adult_content",
        "anesthesia",
        "bluebirds",
        "dog",
        "duchenne",
        "music_genre",
        "rte",
    ]
    for name in bl.datasets.names():
        meta = bl.datasets.info(name)
        assert meta["original_paper_citation"] and meta["licence"]


@pytest.mark.parametrize("name", ["anesthesia", "bluebirds", "dog", "duchenne", "music_genre", "rte"])
def test_counts_match_the_published_metadata(name):
    meta = bl.datasets.info(name)
    ann = bl.datasets.load(name)
    assert (ann.n_items, ann.n_annotators, ann.n_labels) == (
        meta["n_items"],
        meta["n_annotators"],
        meta["n_labels"],
    )
    assert int((ann.gold >= 0).sum()) == meta["n_gold"]
    assert list(ann.classes) == [str(c) for c in meta["classes"]]


def test_zero_padded_ids_stay_strings():
    ann = bl.datasets.load("duchenne")
    assert ann.items[0] == "0001"
    assert ann.summary.repeated_pairs == 6446


def test_subtypes_are_read_per_item():
    ann = bl.datasets.load("rte")
    assert list(ann.subtypes) == ["CD", "IE", "IR", "MT", "PP", "QA", "RC"]
    assert (ann.subtype >= 0).all()


def test_unknown_dataset_names_the_available_ones():
    with pytest.raises(bl.DataError, match="available"):
        bl.datasets.load("imagenet")
