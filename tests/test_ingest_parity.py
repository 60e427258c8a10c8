"""The Dask path validates and codes a label table with the same ingest code as
`Annotations.from_frame`: the same bad rows get the same `DataError`, and good data the same
codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayeslabels as bl

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
from bayeslabels.em_dask import encode_table  # noqa: E402


@pytest.fixture(autouse=True)
def synchronous_dask():
    """One thread, partitions in order: errors are raised by the first bad partition."""
    with dask.config.set(scheduler="synchronous"):
        yield


def good(n: int = 8) -> pd.DataFrame:
    """Four items, two annotators each, classes "0" and "1"."""
    return pd.DataFrame(
        {
            "item": [f"i{r // 2}" for r in range(n)],
            "annotator": [f"w{r % 3}" for r in range(n)],
            "label": [str(r % 2) for r in range(n)],
        }
    )


def with_column(frame: pd.DataFrame, column: str, values: list) -> pd.DataFrame:
    out = frame.copy()
    out[column] = pd.Series(values, dtype=object)
    return out


def at(frame: pd.DataFrame, row: int, column: str, value: object) -> pd.DataFrame:
    out = frame.astype(object)
    out.loc[row, column] = value
    return out


BAD = {
    "missing item": (at(good(), 3, "item", None), {}),
    "empty annotator text": (at(good(), 5, "annotator", "  "), {}),
    "missing label": (at(good(), 2, "label", "NA"), {}),
    "list as a label": (at(good(), 1, "label", ["0", "1"]), {}),
    "item ids mixing numbers and text": (good().astype(object).assign(item=[1, "1", 2, 2, 3, 3, 4, 4]), {}),
    "float item ids": (good().assign(item=[1.0, 1.0, 2.0, 2.0, 3.5, 3.5, 4.0, 4.0]), {}),
    "labels differing in case": (good().assign(label=["cat", "dog", "Cat", "dog"] * 2), {}),
    "booleans mixed with 0/1": (good().assign(label=["true", "false", "1", "0"] * 2), {}),
    "one class": (good().assign(label="1"), {}),
    "label outside the declared classes": (good(), {"classes": ["0", "2"]}),
    "a class declared twice": (good(), {"classes": ["0", "1", "1.0"]}),
    "conflicting gold in the column": (
        with_column(good(), "gold", ["1", "0", None, None, None, None, None, None]),
        {"gold": "gold"},
    ),
    "gold column class outside the labels": (
        with_column(good(), "gold", ["1", "1", "2", "2", None, None, None, None]),
        {"gold": "gold"},
    ),
    "gold mapping class outside the labels": (good(), {"gold": {"i0": "1", "i1": "yes"}}),
    "gold for an item without labels": (good(), {"gold": {"i0": "1", "zz": "0"}}),
    "gold that is neither a column nor a file": (good(), {"gold": "truth"}),
    "a missing column": (good().rename(columns={"annotator": "worker"}), {}),
    "no rows": (good().iloc[:0], {}),
}


@pytest.mark.parametrize("case", list(BAD))
def test_the_dask_path_refuses_bad_rows_with_from_frames_error(case):
    frame, kwargs = BAD[case]
    with pytest.raises(bl.DataError) as in_memory:
        bl.Annotations.from_frame(frame, **kwargs)
    # Dask would otherwise turn object columns into text before ingest sees a partition
    # (a list label would arrive as the string "['0', '1']", the ids 1 and "1" both as "1").
    with dask.config.set({"dataframe.convert-string": False}), pytest.raises(bl.DataError) as on_dask:
        bl.dawid_skene_em_dask(dd.from_pandas(frame, npartitions=1, sort=False), **kwargs)
    assert str(on_dask.value) == str(in_memory.value)


def test_an_error_names_the_bad_rows_of_every_partition():
    frame = good(40).assign(label=lambda f: np.where(np.arange(40) % 7 == 0, "2", f["label"]))
    with pytest.raises(bl.DataError) as in_memory:
        bl.Annotations.from_frame(frame, classes=["0", "1"])
    with pytest.raises(bl.DataError) as on_dask:
        bl.dawid_skene_em_dask(dd.from_pandas(frame, npartitions=4, sort=False), classes=["0", "1"])
    assert str(on_dask.value) == str(in_memory.value)
    assert "label(s) ['2'] in rows 0, 7, 14, 21, 28 (and 1 more)" in str(in_memory.value)


@pytest.mark.parametrize("npartitions", [1, 3])
@pytest.mark.parametrize(
    "raw",
    [
        pd.DataFrame({"item": [" 0001", "0002 ", "0001"], "annotator": [7, 8, 9], "label": [1.0, 0.0, 1.0]}),
        pd.DataFrame({"item": [5, 6, 5, 6], "annotator": ["a", "b", "b", "a"], "label": [True, False] * 2}),
        pd.DataFrame({"item": ["x", "y", "y"], "annotator": ["u", "u", "v"], "label": ["1.0", "2", " 1 "]}),
    ],
    ids=["padded ids, int annotators, float labels", "int items, boolean labels", "text numbers"],
)
def test_good_data_gets_the_codes_from_frame_gives(raw, npartitions):
    ann = bl.Annotations.from_frame(raw)
    coded = encode_table(dd.from_pandas(raw, npartitions=npartitions, sort=False))
    frame = coded.frame.compute()
    assert list(coded.annotators) == list(ann.annotators)
    assert list(coded.classes) == list(ann.classes)
    assert coded.n_labels == ann.n_labels
    assert list(frame["item"]) == list(ann.items[ann.item_idx])
    np.testing.assert_array_equal(frame["annotator"].to_numpy(), ann.annotator_idx)
    np.testing.assert_array_equal(frame["label"].to_numpy(), ann.label)


def test_gold_given_apart_is_coded_like_from_frame():
    gold = {"i0": 1, "i2": "0.0", "i3": None}
    ann = bl.Annotations.from_frame(good(), gold=gold)
    coded = encode_table(good(), gold=gold)
    assert coded.gold.to_dict() == {item: int(ann.gold[ann.items.get_loc(item)]) for item in ("i0", "i2")}
