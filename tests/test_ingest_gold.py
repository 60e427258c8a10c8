"""One gold reader and one rule for the positive class, used by every part that needs them."""

from __future__ import annotations

import pandas as pd
import pytest

import bayeslabels as bl
from bayeslabels.ingest import positive_code, read_gold


@pytest.fixture(scope="module")
def binary() -> bl.Annotations:
    sim = bl.simulate.dawid_skene(n_items=60, n_annotators=8, n_classes=2, gold_fraction=0.5, seed=3)
    return sim.annotations


def boolean_annotations() -> bl.Annotations:
    frame = pd.DataFrame(
        {
            "item": ["a", "a", "b", "b", "c", "c"],
            "annotator": ["u", "v"] * 3,
            "label": [True, True, False, True, False, False],
        }
    )
    return bl.Annotations.from_frame(frame, gold={"a": True, "b": False, "c": False})


# --------------------------------------------------------------------------- positive class


@pytest.mark.parametrize(
    ("classes", "positive", "code"),
    [
        (["0", "1"], None, 1),  # default: the second of two classes
        (["0", "1"], True, 1),  # True: the second of two classes ...
        (["false", "true"], True, 1),  # ... or the class named "true"
        (["true", "false"], True, 0),  # the class named "true" wins over position
        (["0", "1"], "0", 0),
        (["0", "1"], 1, 1),  # class names are canonical: 1, 1.0, "1" and "1.0" agree
        (["0", "1"], 1.0, 1),
        (["0", "1"], "1.0", 1),
        (["a", "b", "c"], None, None),  # more classes: no positive class unless named
        (["a", "b", "c"], "c", 2),
    ],
)
def test_the_positive_class_rule(classes, positive, code):
    assert positive_code(pd.Index(classes, dtype=object), positive) == code


@pytest.mark.parametrize(("classes", "positive"), [(["0", "1"], "blue"), (["a", "b", "c"], True)])
def test_a_positive_class_that_is_not_there_is_refused(classes, positive):
    with pytest.raises(bl.DataError, match="positive class .* is not among the classes"):
        positive_code(pd.Index(classes, dtype=object), positive)


def test_positive_true_works_in_evaluate_and_annotator_profiles(binary):
    votes = bl.majority_vote(binary)
    assert bl.evaluate(votes, binary.gold, positive=True, n_boot=20).positive == "1"
    by_default = bl.annotator_profiles(binary)
    pd.testing.assert_frame_equal(bl.annotator_profiles(binary, positive=True), by_default)
    pd.testing.assert_frame_equal(bl.annotator_profiles(binary, positive=1), by_default)
    flipped = bl.annotator_profiles(binary, positive="0")
    assert (flipped["positive_rate"] + by_default["positive_rate"]).round(12).eq(1).all()


def test_positive_true_picks_the_true_class_of_boolean_labels():
    ann = boolean_annotations()
    assert list(ann.classes) == ["false", "true"]
    assert bl.evaluate(bl.majority_vote(ann), ann.gold, positive=True, n_boot=20).positive == "true"
    rates = bl.annotator_profiles(ann, positive=True)["positive_rate"]
    pd.testing.assert_series_equal(rates, bl.annotator_profiles(ann, positive="true")["positive_rate"])


def test_evaluate_and_annotator_profiles_refuse_an_unknown_positive_class_alike(binary):
    with pytest.raises(bl.DataError) as in_evaluate:
        bl.evaluate(bl.majority_vote(binary), binary.gold, positive="blue", n_boot=20)
    with pytest.raises(bl.DataError) as in_profiles:
        bl.annotator_profiles(binary, positive="blue")
    assert str(in_evaluate.value) == str(in_profiles.value)


# --------------------------------------------------------------------------- gold


EXPECTED = pd.Series({"a": "1", "b": "0", "007": "1"}, name="gold")


@pytest.mark.parametrize(
    "gold",
    [
        {"a": 1, "b": 0.0, "007": "1.0", "c": None},
        pd.Series({"a": "1", "b": "0", "007": " 1 ", "c": "NA"}),
        pd.DataFrame({"item": ["a", "b", "007", "a"], "gold": ["1", "0", "1", "1"]}),  # repeats agree
        pd.DataFrame({"id": ["a", "b", "007"], "truth": [1, 0, 1]}),  # two columns: id, then class
    ],
    ids=["mapping", "series", "table", "two columns"],
)
def test_read_gold_gives_item_to_canonical_class(gold):
    pd.testing.assert_series_equal(read_gold(gold), EXPECTED, check_index_type=False, check_names=False)


WRITERS = {
    ".csv": lambda table, path: table.to_csv(path, index=False),
    ".jsonl": lambda table, path: table.to_json(path, orient="records", lines=True),
    ".parquet": lambda table, path: table.to_parquet(path),
}


@pytest.mark.parametrize("suffix", list(WRITERS))
def test_read_gold_reads_files_with_ids_kept_as_written(tmp_path, suffix):
    path = tmp_path / f"gold{suffix}"
    table = pd.DataFrame({"item": ["a", "b", "007", "c"], "gold": ["1", "0", "1", ""]})
    WRITERS[suffix](table, path)
    pd.testing.assert_series_equal(read_gold(path), EXPECTED, check_index_type=False, check_names=False)


def test_read_gold_refuses_two_classes_for_one_item(tmp_path):
    path = tmp_path / "gold.csv"
    path.write_text("item,gold\na,1\nb,0\na,0\n")
    with pytest.raises(
        bl.DataError, match=r"item 'a' has conflicting gold labels \['0', '1'\] \(lines 2, 4\)"
    ):
        read_gold(path)


def test_one_gold_file_means_the_same_to_annotations_evaluate_and_the_cli(tmp_path, binary):
    path = tmp_path / "gold.csv"
    binary.gold_series().dropna().rename_axis("item").reset_index().to_csv(path, index=False)
    frame = binary.to_frame()
    ann = bl.Annotations.from_frame(frame, gold=str(path))
    assert (ann.gold == binary.gold).all()
    from bayeslabels.cli import _read_gold_file

    gold = _read_gold_file(str(path))
    pd.testing.assert_series_equal(gold, read_gold(path))
    votes = bl.majority_vote(binary)
    from_file = bl.evaluate(votes, gold, n_boot=50, seed=1).metrics
    pd.testing.assert_frame_equal(from_file, bl.evaluate(votes, binary.gold, n_boot=50, seed=1).metrics)
