"""Properties of every valid label table (hypothesis), checked on EM fits.

For a random valid table (string ids, numeric-looking ones with leading zeros among them;
2-5 classes; 1-10 labels per item; the (item, annotator) grid mostly empty; gold for some
items): every item appears exactly once, in input order, in `soft_labels` and in the exported
file; every item `route` proposes is a real item without gold, sent to an annotator who has
not labelled it; probabilities sum to 1; the wide form of the same table gives the same
votes; and shuffling the rows leaves every per-item (and per-annotator) EM result unchanged.
"""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bayeslabels as bl

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    print_blob=True,  # a failure prints @reproduce_failure(...) to replay it
    suppress_health_check=[HealthCheck.too_slow],
)
CLASS_SETS = (
    ["0", "1", "2", "3", "4"],
    ["cat", "dog", "bird", "fish", "ant"],
    ["neg", "pos", "n/a?", "x y", "É"],
)

ids = st.one_of(
    st.from_regex(r"0[0-9]{1,5}", fullmatch=True),  # numeric-looking, with leading zeros
    st.integers(-(10**12), 10**12).map(str),  # numeric-looking, negative ones too
    st.text(alphabet=string.ascii_letters + string.digits + "-_.:é", min_size=1, max_size=8),
).filter(lambda s: s == s.strip())  # ids are kept as written: 'NA', 'null' too


@st.composite
def label_tables(draw) -> tuple[pd.DataFrame, dict, dict]:
    """(long table in a random row order, gold item -> class, kwargs for Annotations)."""
    classes = draw(st.sampled_from(CLASS_SETS))[: draw(st.integers(2, 5))]
    items = draw(st.lists(ids, min_size=1, max_size=25, unique=True))
    annotators = draw(st.lists(ids, min_size=1, max_size=12, unique=True))
    rows = []
    for item in items:
        redundancy = draw(st.integers(1, min(10, len(annotators))))
        for annotator in draw(st.permutations(annotators))[:redundancy]:
            rows.append((item, annotator, draw(st.sampled_from(classes))))
    order = draw(st.permutations(range(len(rows))))
    frame = pd.DataFrame([rows[i] for i in order], columns=["item", "annotator", "label"])
    gold = draw(st.dictionaries(st.sampled_from(items), st.sampled_from(classes), max_size=len(items) // 2))
    used = set(frame["label"])
    declare = draw(st.booleans()) or len(used) < 2 or not set(gold.values()) <= used
    return frame, gold, {"classes": classes if declare else None}


def _build(frame: pd.DataFrame, gold: dict, kwargs: dict) -> bl.Annotations:
    return bl.Annotations.from_frame(frame, gold=gold or None, **kwargs)


@SETTINGS
@given(table=label_tables(), budget=st.integers(1, 30))
def test_every_item_appears_once_in_input_order_in_every_output(table, budget):
    frame, gold, kwargs = table
    ann = _build(frame, gold, kwargs)
    items = list(dict.fromkeys(frame["item"]))
    assert list(ann.items) == items and all(type(i) is str for i in ann.items)

    fit = bl.fit(ann, method="em")
    soft = fit.soft_labels().to_frame()
    assert list(soft["item"]) == items
    probabilities = soft[[f"p_{c}" for c in ann.classes]].to_numpy()
    assert np.isfinite(probabilities).all() and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)
    assert soft["n_labels"].tolist() == frame.groupby("item", sort=False).size().loc[items].tolist()

    without_gold = set(items) - set(gold)
    labelled = set(zip(frame["item"], frame["annotator"], strict=True))
    plan = bl.route(fit, budget=budget)
    assert set(plan["item"]) <= without_gold
    assert len(plan) <= budget and plan["item"].is_unique  # per_item = 1
    crowd = plan[plan["kind"] == "crowd"]
    assert set(crowd["assign_to"]) <= set(ann.annotators)
    assert not set(zip(crowd["item"], crowd["assign_to"], strict=True)) & labelled
    uncertain = set(soft["item"][soft["entropy"] > 1e-6]) & without_gold
    if any((item, a) not in labelled for item in uncertain for a in ann.annotators):
        assert len(plan) > 0  # an uncertain item and someone who has not labelled it: a label is routed

    with tempfile.TemporaryDirectory() as tmp:
        exported = pd.read_parquet(fit.export(Path(tmp) / "x.parquet"))
    assert exported["item"].tolist() == items
    pd.testing.assert_frame_equal(exported, soft)

    wide = frame.pivot(index="item", columns="annotator", values="label").loc[items]
    from_wide = bl.Annotations.from_wide(wide, gold=gold or None, **kwargs)
    assert list(from_wide.items) == items and list(from_wide.classes) == list(ann.classes)
    np.testing.assert_array_equal(from_wide.label_counts(), ann.label_counts())


@SETTINGS
@given(table=label_tables(), seed=st.integers(0, 2**32 - 1))
def test_shuffling_the_rows_leaves_every_em_result_unchanged(table, seed):
    frame, gold, kwargs = table
    shuffled = frame.sample(frac=1.0, random_state=np.random.RandomState(seed)).reset_index(drop=True)
    fits = [bl.fit(_build(f, gold, kwargs), method="em") for f in (frame, shuffled)]
    soft = [fit.soft_labels().to_frame().set_index("item").sort_index() for fit in fits]
    assert list(soft[0].index) == list(soft[1].index)
    numbers = soft[0].select_dtypes("number").columns
    np.testing.assert_allclose(soft[0][numbers], soft[1][numbers], rtol=0, atol=1e-8)
    p = soft[0][[f"p_{c}" for c in fits[0].classes]].to_numpy()
    top2 = np.sort(p, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-6  # the hard label is defined where there is no tie
    assert (soft[0]["label"][clear] == soft[1]["label"][clear]).all()
    per_annotator = [fit.annotators().set_index("annotator").sort_index() for fit in fits]
    numbers = per_annotator[0].select_dtypes("number").columns
    np.testing.assert_allclose(per_annotator[0][numbers], per_annotator[1][numbers], rtol=0, atol=1e-8)
    flags = [table.drop(columns=numbers) for table in per_annotator]  # below_chance
    pd.testing.assert_frame_equal(flags[0], flags[1])


def test_route_with_nothing_left_to_route_gives_an_empty_plan():
    frame = pd.DataFrame({"item": ["a", "b"], "annotator": ["w1", "w1"], "label": ["0", "1"]})
    plan = bl.route(bl.fit(bl.Annotations.from_frame(frame), method="em"), budget=3)
    assert plan.empty and {"item", "assign_to", "kind"} <= set(plan.columns)
