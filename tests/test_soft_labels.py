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


# --------------------------------------------------------------------------- the SoftLabels value

CLASS_POSTERIOR = "P(true class = c | all labels)"


def _by_hand(**changes) -> bl.SoftLabels:
    """Three items, two classes, with intervals, subtypes and gold (one unknown each)."""
    mean = np.array([[0.9, 0.1], [0.25, 0.75], [0.5, 0.5]])
    fields = dict(
        items=np.array(["0007", "b", "c"], dtype=object),
        classes=("no", "yes"),
        mean=mean,
        lower=mean - np.array([[0.1, 0.05], [0.2, 0.1], [0.3, 0.3]]),
        upper=mean + np.array([[0.05, 0.1], [0.1, 0.2], [0.3, 0.3]]),
        ci_prob=0.8,
        n_labels=np.array([3, 1, 0]),
        meaning="by hand",
        subtype=np.array(["s1", None, "s2"], dtype=object),
        gold=np.array([None, "yes", None], dtype=object),
    )
    fields.update(changes)
    return bl.SoftLabels(**fields)


def _table(**columns) -> pd.DataFrame:
    base = {"item": ["a", "b"], "p_no": [0.9, 0.3], "p_yes": [0.1, 0.7]}
    base.update(columns)
    return pd.DataFrame({k: v for k, v in base.items() if v is not None})


def test_to_frame_is_the_documented_export_schema():
    frame = _by_hand().to_frame()
    assert list(frame.columns) == [
        "item", "label", "p_no", "p_no_lo", "p_no_hi", "p_yes", "p_yes_lo", "p_yes_hi",
        "entropy", "n_labels", "subtype", "gold",
    ]  # fmt: skip
    for column in ("item", "label", "subtype", "gold"):
        assert frame[column].dtype == "string"
    assert frame["n_labels"].dtype == "int64" and frame["p_no"].dtype == "float64"
    assert frame["label"].tolist() == ["no", "yes", "no"]  # the argmax, the first class on ties
    assert pd.isna(frame["subtype"].iloc[1]) and pd.isna(frame["gold"].iloc[0])
    np.testing.assert_allclose(frame["entropy"], [_h(0.9), _h(0.25), np.log(2)])


def _h(p: float) -> float:
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def test_frame_round_trip_keeps_values_and_dtypes():
    soft = _by_hand()
    back = bl.SoftLabels.from_frame(soft.to_frame(), ci_prob=0.8)
    pd.testing.assert_frame_equal(back.to_frame(), soft.to_frame(), check_exact=True)
    for name in ("mean", "lower", "upper", "n_labels"):
        np.testing.assert_array_equal(getattr(back, name), getattr(soft, name))
    assert back.classes == ("no", "yes") and back.ci_prob == 0.8
    assert back.subtype.tolist() == ["s1", None, "s2"] and back.gold.tolist() == [None, "yes", None]


def test_a_fit_round_trips_through_its_frame(em_fit):
    soft = em_fit.soft_labels()
    back = bl.SoftLabels.from_frame(soft.to_frame())
    pd.testing.assert_frame_equal(back.to_frame(), soft.to_frame(), check_exact=True)
    assert back.is_point_estimate  # intervals that equal the estimate are a point estimate


@pytest.mark.parametrize("suffix", ["parquet", "csv", "jsonl"])
def test_file_round_trip_keeps_values_dtypes_and_provenance(tmp_path, suffix):
    soft = _by_hand()
    provenance = '{"ci_prob": 0.8, "soft_label_meaning": "by hand", "note": "x"}'
    path = soft.write(tmp_path / f"soft.{suffix}", provenance=provenance)
    back = bl.SoftLabels.read(path)
    exact = suffix != "jsonl"  # JSON Lines keeps 15 significant digits
    pd.testing.assert_frame_equal(back.to_frame(), soft.to_frame(), check_exact=exact, rtol=1e-14)
    assert back.items.tolist() == ["0007", "b", "c"]  # ids stay strings
    assert back.ci_prob == 0.8 and back.meaning == "by hand"  # from the provenance
    assert bl.read_provenance(path) == {"ci_prob": 0.8, "soft_label_meaning": "by hand", "note": "x"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [path.name] + ([] if suffix == "parquet" else [path.name + ".json"])
    )


@pytest.mark.parametrize("suffix", ["parquet", "csv", "jsonl"])
def test_an_export_reads_back_as_the_fits_soft_labels(em_fit, tmp_path, suffix):
    path = em_fit.export(tmp_path / f"soft.{suffix}")
    back = bl.SoftLabels.read(path)
    expected = em_fit.soft_labels().to_frame()
    pd.testing.assert_frame_equal(back.to_frame(), expected, check_exact=False, rtol=1e-14)
    assert back.meaning.startswith(CLASS_POSTERIOR)


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_a_file_without_provenance_has_none(tmp_path, suffix):
    path = _by_hand().write(tmp_path / f"soft.{suffix}")
    with pytest.raises(bl.DataError, match="provenance"):
        bl.read_provenance(path)
    assert np.isnan(bl.SoftLabels.read(path).ci_prob)  # intervals whose probability is not recorded


def test_reading_a_missing_or_unknown_file_is_a_clear_error(tmp_path):
    with pytest.raises(bl.DataError, match="no such soft-label file"):
        bl.SoftLabels.read(tmp_path / "missing.parquet")
    with pytest.raises(ValueError, match="cannot export to"):
        _by_hand().write(tmp_path / "soft.xlsx")


def _producers(sim):
    ann = sim.annotations
    return {
        "majority vote": bl.majority_vote(ann),
        "EM": bl.dawid_skene_em(ann),
        "fit by EM": bl.fit(ann, method="em"),
    }


def test_every_producer_returns_soft_labels_of_every_item_in_input_order(small_sim):
    ann = small_sim.annotations
    results = {name: producer.soft_labels() for name, producer in _producers(small_sim).items()}
    results["soft vote"] = bl.soft_vote(ann)
    for name, soft in results.items():
        assert isinstance(soft, bl.SoftLabels), name
        assert soft.items.tolist() == list(ann.items), name
        assert soft.classes == tuple(ann.classes), name
        assert soft.mean.shape == (ann.n_items, ann.n_classes), name
        np.testing.assert_array_equal(soft.n_labels, ann.labels_per_item)
        assert soft.is_point_estimate and soft.ci_prob is None, name
        np.testing.assert_array_equal(soft.lower, soft.mean)
        np.testing.assert_array_equal(soft.upper, soft.mean)
    np.testing.assert_allclose(results["EM"].mean, results["fit by EM"].mean, atol=1e-9)
    np.testing.assert_array_equal(results["soft vote"].mean, results["majority vote"].mean)
    assert results["soft vote"].meaning == results["majority vote"].meaning != results["EM"].meaning
    assert results["fit by EM"].meaning.startswith(CLASS_POSTERIOR)


def test_a_posterior_fit_records_its_interval_probability(nuts_fit):
    soft = nuts_fit.soft_labels(ci_prob=0.8)
    assert soft.ci_prob == 0.8 and not soft.is_point_estimate
    assert (soft.upper - soft.lower).max() > 0


def test_a_vote_keeps_its_tie_break_and_has_no_label_for_unlabelled_items(small_sim):
    ann = small_sim.annotations.subset(np.arange(small_sim.annotations.n_items) % 2 == 0)
    vote = bl.majority_vote(ann, seed=1)
    soft = vote.soft_labels()
    names = np.asarray(vote.classes, dtype=object)
    expected = [names[code] if code >= 0 else None for code in vote.label]
    assert soft.label.tolist() == expected
    assert (soft.label_code == vote.label).all()
    assert pd.isna(soft.to_frame()["label"]).sum() == (vote.label < 0).sum() > 0


def test_as_soft_labels_takes_every_form(em_fit, tmp_path):
    soft = em_fit.soft_labels()
    path = em_fit.export(tmp_path / "soft.parquet")
    forms = [soft, em_fit, em_fit.em, soft.to_frame(), path, str(path)]
    for form in forms:
        np.testing.assert_allclose(bl.as_soft_labels(form).mean, soft.mean, atol=1e-12)
    with pytest.raises(bl.DataError, match="not list"):
        bl.as_soft_labels([[0.5, 0.5]])


def test_select_keeps_the_order_asked_for():
    soft = _by_hand().select(["c", "0007"])
    assert soft.items.tolist() == ["c", "0007"]
    assert soft.n_labels.tolist() == [0, 3] and soft.subtype.tolist() == ["s2", "s1"]
    np.testing.assert_array_equal(soft.mean, _by_hand().mean[[2, 0]])
    with pytest.raises(bl.DataError, match="not in these soft labels"):
        _by_hand().select(["nope"])


def test_classes_are_the_p_columns_that_are_not_another_columns_interval():
    frame = pd.DataFrame({"item": ["a"], "p_hi": [0.5], "p_x_lo": [0.5]})
    assert bl.SoftLabels.from_frame(frame).classes == ("hi", "x_lo")  # no p_x: x_lo is a class
    frame = _table(p_no_lo=[0.8, 0.2], p_no_hi=[0.95, 0.4], p_yes_lo=[0.05, 0.6], p_yes_hi=[0.2, 0.8])
    soft = bl.SoftLabels.from_frame(frame, ci_prob=0.9)
    assert soft.classes == ("no", "yes") and soft.ci_prob == 0.9
    np.testing.assert_array_equal(soft.lower, [[0.8, 0.05], [0.2, 0.6]])


def test_other_columns_are_ignored_and_entropy_is_recomputed():
    soft = bl.SoftLabels.from_frame(_table(entropy=[9.0, 9.0], weight=[1.0, 0.5], tied=[False, True]))
    np.testing.assert_allclose(soft.entropy, [_h(0.9), _h(0.3)])
    assert soft.n_labels is None and "n_labels" not in soft.to_frame()


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"p_yes": None}, r"one 'p_<class>' column per class \(≥ 2\)"),
        ({"item": None}, "needs an 'item' column"),
        ({"p_no_lo": [0.8, 0.2], "p_no_hi": [0.95, 0.4], "p_yes_lo": [0.0, 0.6]}, r"lacks \['p_yes_hi'\]"),
        (
            {
                "p_no_lo": [0.8, 0.2],
                "p_no_hi": [0.95, 0.4],
                "p_yes": None,
                "p_yes_lo": [0, 0.6],
                "p_yes_hi": [0.2, 0.8],
            },
            "interval column 'p_yes_lo' has no probability column 'p_yes'",
        ),
        ({"p_no": [1.2, 0.3], "p_yes": [-0.2, 0.7]}, r"outside \[0, 1\].*item 'a', p_no: 1.2"),
        ({"p_no": [0.9, 0.5]}, r"do not sum to 1.*item 'b'.*sum 1.2"),
        ({"p_no": [0.9, np.nan]}, "missing.*item 'b', p_no"),
        ({"p_no": ["0.9", "lots"]}, "column 'p_no' holds values that are not numbers.*item 'b'"),
        (
            {"p_no_lo": [0.95, 0.2], "p_no_hi": [0.99, 0.4], "p_yes_lo": [0, 0.6], "p_yes_hi": [0.2, 0.8]},
            "interval that does not contain.*item 'a': p_no_lo 0.95",
        ),
        ({"label": ["no", "maybe"]}, "'label' 'maybe' of item 'b' is not among the classes"),
        ({"item": ["a", "a"]}, "repeats item ids.*'a'"),
        ({"item": ["a", None]}, "row 1 .*has no item id"),
        ({"n_labels": [2, -1]}, "'n_labels' must hold non-negative whole numbers.*item 'b'"),
    ],
)
def test_from_frame_names_the_column_at_fault(columns, message):
    with pytest.raises(bl.DataError, match=message):
        bl.SoftLabels.from_frame(_table(**columns))


def test_float_noise_is_tolerated_but_kept():
    soft = bl.SoftLabels.from_frame(_table(p_no=[0.9 + 4e-7, 0.3], p_yes=[0.1, 0.7 - 1e-12]))
    assert soft.mean[0, 0] == 0.9 + 4e-7  # read as given; to_training_frame renormalises its copy


@pytest.mark.parametrize("n_draws", [1, 2, 7, 100, 999, 4000])
def test_interval_quantiles_are_numpys_to_the_last_bit(n_draws):
    """The soft-label intervals' quantiles over draws (sorted per scalar, for speed) equal
    `np.quantile(..., axis=0)` exactly, for any draw count and tail, NaN included."""
    from bayeslabels._quantiles import draw_quantiles

    probs = np.random.default_rng(n_draws).dirichlet([1.0, 1.0, 1.0], size=(n_draws, 50))
    probs[:, 7, 1] = np.nan
    for tails in ([0.05, 0.95], [0.025, 0.975], [0.005, 0.995], [1 / 3], [0.0, 1.0], [0.5]):
        expected = np.quantile(probs, tails, axis=0)
        np.testing.assert_array_equal(draw_quantiles(probs, tails), expected, err_msg=f"{tails}")
    one_scalar = probs[:, 0, 0]  # draws of a single quantity
    expected = np.quantile(one_scalar, [0.05, 0.95])
    np.testing.assert_array_equal(draw_quantiles(one_scalar, [0.05, 0.95]), expected)


def test_interval_quantiles_refuse_probabilities_outside_zero_one():
    from bayeslabels._quantiles import draw_quantiles

    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        draw_quantiles(np.ones((5, 2)), [0.5, 1.5])


def test_soft_labels_are_the_same_on_one_thread_and_on_several(nuts_fit, monkeypatch):
    """The per-draw item pass runs its blocks on threads; the numbers do not depend on it."""
    from bayeslabels import _threads

    threaded = nuts_fit.soft_labels(ci_prob=0.9)
    monkeypatch.setattr(_threads, "usable_cores", lambda: 1)
    serial = nuts_fit.soft_labels(ci_prob=0.9)
    for name in ("mean", "lower", "upper"):
        np.testing.assert_array_equal(getattr(threaded, name), getattr(serial, name), err_msg=name)


def test_block_map_keeps_order_holds_few_blocks_ahead_and_raises_a_blocks_error():
    import threading

    from bayeslabels._threads import ordered_map

    started, lock = [], threading.Lock()

    def work(i: int) -> int:
        with lock:
            started.append(i)
        return i * i

    results = []
    for value in ordered_map(work, range(50), workers=3):
        results.append(value)
        assert len(started) <= len(results) + 3 + 1  # at most workers + 1 computed ahead
    assert results == [i * i for i in range(50)]

    def fails_at_seven(i: int) -> int:
        if i == 7:
            raise ValueError("block 7 is bad")
        return i

    with pytest.raises(ValueError, match="block 7"):
        list(ordered_map(fails_at_seven, range(20), workers=2))
