"""Agreement: published worked examples to 3 decimals, Cohen's κ equal to scikit-learn's,
annotator profiles against the leave-one-out consensus, and the `analyze` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

import bayeslabels as bl
from bayeslabels.cli import main

# Fleiss (1971), Table 1: 30 patients, 6 psychiatrists each, 5 diagnoses (1 depression,
# 2 personality disorder, 3 schizophrenia, 4 neurosis, 5 other); kappa = .430.
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5], [2, 2, 2, 4, 4, 4],
    [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4], [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5],
    [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4], [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5],
    [3, 3, 3, 3, 3, 5], [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4], [1, 4, 4, 4, 4, 5],
    [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4], [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
]  # fmt: skip

# The worked example of Wikipedia's "Fleiss' kappa" article: 10 subjects x 14 raters, kappa = 0.210.
FLEISS_WIKIPEDIA = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]  # fmt: skip

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", example C: 4 observers,
# 12 units, missing values (None); nominal .743, ordinal .815, interval .849.
KRIPPENDORFF_2011 = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def _wide(table, classes=None) -> bl.Annotations:
    frame = pd.DataFrame(table, index=[f"u{i + 1}" for i in range(len(next(iter(table.values()))))])
    return bl.Annotations.from_wide(frame, classes=classes)


def test_fleiss_kappa_reproduces_fleiss_1971_table_1():
    raters = {f"r{j}": [row[j] for row in FLEISS_1971] for j in range(6)}
    ann = _wide(raters, classes=[1, 2, 3, 4, 5])
    assert round(bl.fleiss_kappa(ann), 3) == 0.430
    assert round(bl.fleiss_kappa(ann.label_counts()), 3) == 0.430


def test_fleiss_kappa_reproduces_the_wikipedia_worked_example_and_equals_statsmodels():
    assert round(bl.fleiss_kappa(np.array(FLEISS_WIKIPEDIA)), 3) == 0.210
    rng = np.random.default_rng(0)
    for _ in range(5):  # equal labels per item: exactly statsmodels' Fleiss kappa
        counts = rng.multinomial(7, rng.dirichlet(np.ones(4)), size=40)
        assert bl.fleiss_kappa(counts) == pytest.approx(statsmodels_fleiss(counts), abs=1e-12)


def test_fleiss_kappa_with_variable_labels_per_item_follows_gwet():
    counts = np.array([[3, 0, 0], [1, 1, 0], [2, 1, 1], [0, 0, 1], [0, 4, 1]])
    n = counts.sum(axis=1)
    pairable = n >= 2
    observed = np.mean(
        [(c * (c - 1)).sum() / (m * (m - 1)) for c, m in zip(counts[pairable], n[pairable], strict=True)]
    )
    pi = (counts / n[:, None]).mean(axis=0)  # every labelled item, as Gwet (2014)
    expected = (pi**2).sum()
    assert bl.fleiss_kappa(counts) == pytest.approx((observed - expected) / (1 - expected), abs=1e-12)


@pytest.mark.parametrize(
    ("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]
)
def test_krippendorff_alpha_reproduces_the_2011_example_with_missing_values(level, published):
    ann = _wide(KRIPPENDORFF_2011, classes=[1, 2, 3, 4, 5])
    assert ann.n_labels == 41  # 48 cells, 7 missing
    assert round(bl.krippendorff_alpha(ann, level=level), 3) == published


def test_krippendorff_alpha_is_one_for_perfect_agreement_and_ignores_unpairable_units():
    counts = np.array([[3, 0], [0, 2], [0, 4], [1, 0]])  # the single-value unit is not pairable
    assert bl.krippendorff_alpha(counts) == pytest.approx(1.0)
    assert bl.fleiss_kappa(counts[:3]) == pytest.approx(1.0)


def test_pairwise_cohen_kappa_equals_scikit_learn_for_every_pair(small_sim):
    ann = small_sim.annotations
    pairs = bl.pairwise_cohen_kappa(ann)
    wide = ann.to_frame().pivot(index="item", columns="annotator", values="label")
    assert len(pairs) > 30
    for row in pairs.itertuples():
        both = wide[[row.annotator_a, row.annotator_b]].dropna()
        assert row.n_items == len(both)
        assert row.agreement == pytest.approx((both.iloc[:, 0] == both.iloc[:, 1]).mean())
        expected = cohen_kappa_score(both.iloc[:, 0], both.iloc[:, 1])
        if np.isnan(expected):
            assert np.isnan(row.cohen_kappa)
        else:
            assert row.cohen_kappa == pytest.approx(expected, abs=1e-12)


def test_many_classes_and_sparse_overlap_still_match_scikit_learn():
    sim = bl.simulate.dawid_skene(n_items=150, n_annotators=20, n_classes=12, labels_per_item=(2, 4), seed=9)
    ann = sim.annotations
    pairs = bl.pairwise_cohen_kappa(ann, min_overlap=3)
    wide = ann.to_frame().pivot(index="item", columns="annotator", values="label")
    assert len(pairs) > 10 and (pairs["n_items"] >= 3).all()
    for row in pairs.itertuples():
        both = wide[[row.annotator_a, row.annotator_b]].dropna()
        expected = cohen_kappa_score(both.iloc[:, 0], both.iloc[:, 1])
        assert row.cohen_kappa == pytest.approx(expected, abs=1e-12, nan_ok=True)
    # alpha from the sparse coincidences equals the textbook sum over pairs of values in each unit
    counts = ann.label_counts().astype(float)
    m = counts.sum(axis=1)
    o = sum((np.outer(c, c) - np.diag(c)) / (mu - 1) for c, mu in zip(counts, m, strict=True) if mu >= 2)
    n_c = o.sum(axis=1)
    textbook = 1 - (n_c.sum() - 1) * (o.sum() - np.trace(o)) / (np.outer(n_c, n_c).sum() - (n_c**2).sum())
    assert bl.krippendorff_alpha(ann) == pytest.approx(textbook, abs=1e-12)


def test_agreement_report_has_intervals_around_its_estimates(small_sim):
    report = bl.agreement(small_sim.annotations, n_boot=300)
    table = report.coefficients
    assert list(table["coefficient"]) == ["fleiss_kappa", "krippendorff_alpha", "observed_agreement"]
    assert (table["method"] == "bootstrap-percentile").all()
    assert ((table["lo"] <= table["estimate"]) & (table["estimate"] <= table["hi"])).all()
    assert report.fleiss_kappa == pytest.approx(bl.fleiss_kappa(small_sim.annotations))
    assert report.krippendorff_alpha == pytest.approx(bl.krippendorff_alpha(small_sim.annotations))
    assert sum(report.redundancy_bins().values()) == small_sim.annotations.n_items
    assert report.redundancy["n_items"].sum() == small_sim.annotations.n_items
    text = str(report)
    assert "Fleiss κ" in text and "Krippendorff α" in text and "labels per item" in text
    json.dumps(report.to_dict(), allow_nan=False)
    matrix = report.cohen_matrix()
    assert (np.diag(matrix.to_numpy(dtype=float)) == 1).all()
    np.testing.assert_allclose(matrix.to_numpy(dtype=float), matrix.to_numpy(dtype=float).T, equal_nan=True)


def test_the_bootstrap_is_seeded():
    ann = bl.datasets.load("anesthesia")
    first, again = bl.agreement(ann, seed=3), bl.agreement(ann, seed=3)
    pd.testing.assert_frame_equal(first.coefficients, again.coefficients)
    assert not first.coefficients.equals(bl.agreement(ann, seed=4).coefficients)


def test_item_agreement_reports_shares_entropy_and_ties():
    frame = pd.DataFrame(
        {
            "item": ["a", "a", "a", "b", "b", "c"],
            "annotator": ["x", "y", "z", "x", "y", "x"],
            "label": ["1", "1", "1", "0", "1", "0"],
        }
    )
    table = bl.item_agreement(bl.Annotations.from_frame(frame)).set_index("item")
    assert table.loc["a", "top_share"] == 1 and table.loc["a", "entropy"] == pytest.approx(0)
    assert table.loc["b", "tied"] and table.loc["b", "entropy"] == pytest.approx(np.log(2))
    assert table.loc["b", "pairwise_agreement"] == 0 and np.isnan(table.loc["c", "pairwise_agreement"])


def test_profiles_score_each_annotator_against_the_others_only():
    # x and y disagree on every item; z sides with x. Nobody is scored against their own label.
    frame = pd.DataFrame(
        {
            "item": ["a", "a", "a", "b", "b", "b", "c", "c"],
            "annotator": ["x", "y", "z", "x", "y", "z", "x", "y"],
            "label": ["1", "0", "1", "0", "1", "0", "1", "0"],
        }
    )
    profiles = bl.annotator_profiles(bl.Annotations.from_frame(frame)).set_index("annotator")
    # x on a: the others say {y: 0, z: 1}, a tie, so half credit; on b likewise; on c y says 0: wrong.
    assert profiles.loc["x", "accuracy"] == pytest.approx((0.5 + 0.5 + 0) / 3)
    # y: on a and b, x and z agree with each other and not with y; on c x disagrees.
    assert profiles.loc["y", "accuracy"] == pytest.approx(0.0)
    # z: x and y tie on a and b, so half credit each; counting z's own label would have given 1.
    assert profiles.loc["z", "accuracy"] == pytest.approx(0.5)
    assert profiles.loc["x", "n_compared"] == 3 and profiles.loc["z", "n_items"] == 2
    assert (profiles["accuracy_lo"] <= profiles["accuracy"]).all()
    assert (profiles["accuracy"] <= profiles["accuracy_hi"]).all()
    # positive class: the second class ("1"); y always says the opposite of the consensus
    assert profiles.loc["y", "positive_rate"] == pytest.approx(1 / 3)


def test_an_annotators_repeated_labels_on_an_item_are_never_their_own_consensus():
    frame = pd.DataFrame(
        {
            "item": ["a", "a", "a", "b", "b"],
            "annotator": ["x", "x", "y", "x", "y"],
            "label": ["1", "1", "0", "0", "0"],
        }
    )
    profiles = bl.annotator_profiles(bl.Annotations.from_frame(frame)).set_index("annotator")
    # x's second "1" on item a is x's own: against y alone, x is wrong on a and right on b
    assert profiles.loc["x", "n_compared"] == 3 and profiles.loc["x", "accuracy"] == pytest.approx(1 / 3)
    assert profiles.loc["y", "accuracy"] == pytest.approx(0.5)  # a: x says 1 (twice); b: x says 0


def test_profiles_find_the_spammers(small_sim):
    ann = small_sim.annotations
    profiles = bl.annotator_profiles(ann)
    spam = profiles["accuracy"].to_numpy()[small_sim.is_spammer]
    good = profiles["accuracy"].to_numpy()[~small_sim.is_spammer]
    assert spam.max() < np.median(good)
    assert {f"bias_{c}" for c in ann.classes} <= set(profiles.columns)
    assert "median_seconds" not in profiles  # no timestamps, no timing columns
    confusion = bl.annotator_confusion(ann)
    assert len(confusion) == ann.n_annotators * ann.n_classes**2
    totals = confusion.groupby("annotator")["count"].sum()
    compared = profiles.set_index("annotator")["n_compared"]
    np.testing.assert_allclose(totals.reindex(compared.index), compared)


def _timed(seconds_between: dict[str, float], n: int = 40) -> bl.Annotations:
    """Annotators labelling the same n items, each at their own pace; 'late' goes wrong halfway."""
    rows = []
    start = pd.Timestamp("2026-01-01", tz="UTC")
    for who, gap in seconds_between.items():
        for i in range(n):
            label = "1" if i % 3 else "0"
            if who == "late" and i >= n // 2:
                label = "0" if label == "1" else "1"
            rows.append((f"i{i:03d}", who, label, start + pd.Timedelta(seconds=gap * i)))
    frame = pd.DataFrame(rows, columns=["item", "annotator", "label", "timestamp"])
    return bl.Annotations.from_frame(frame)


def test_profiles_with_timestamps_report_speed_and_drift():
    ann = _timed({"fast": 1.0, "steady": 10.0, "other": 10.0, "late": 10.0})
    profiles = bl.annotator_profiles(ann, too_fast=2.0, windows=2).set_index("annotator")
    assert profiles.loc["fast", "median_seconds"] == pytest.approx(1.0)
    assert profiles.loc["fast", "too_fast_share"] == 1.0 and profiles.loc["steady", "too_fast_share"] == 0.0
    assert profiles.loc["late", "drift"] < -0.5
    assert abs(profiles.loc["steady", "drift"]) < 0.2
    drift = bl.annotator_drift(ann, windows=2)
    assert set(drift["window"]) == {0, 1} and (drift["start"] <= drift["end"]).all()


def test_drift_without_timestamps_is_a_data_error(small_sim):
    with pytest.raises(bl.DataError, match="timestamp"):
        bl.annotator_drift(small_sim.annotations)


@pytest.mark.parametrize(
    "name", ["rte", "bluebirds", "dog", "music_genre", "duchenne", "adult_content", "anesthesia"]
)
def test_agreement_on_every_bundled_dataset(name):
    ann = bl.datasets.load(name)
    report = bl.agreement(ann, n_boot=200)
    table = report.coefficients
    assert table["estimate"].between(-1, 1).all()
    assert ((table["lo"] <= table["estimate"]) & (table["estimate"] <= table["hi"])).all()
    assert report.n_items == ann.n_items and report.items["item"].tolist() == list(ann.items)


# --------------------------------------------------------------------------- the command


def test_analyze_prints_a_readable_report(tmp_path, capsys):
    ann = bl.datasets.load("rte")
    ann.to_frame().to_csv(tmp_path / "labels.csv", index=False)
    ann.gold_series().rename_axis("item").reset_index().to_csv(tmp_path / "gold.csv", index=False)
    assert main(["analyze", str(tmp_path / "labels.csv"), "--gold", str(tmp_path / "gold.csv")]) == 0
    out = capsys.readouterr().out
    for needle in (
        "800 items",
        "164 annotators",
        "Fleiss κ",
        "Krippendorff α",
        "labels per item",
        "majority vote",
    ):
        assert needle in out
    assert f"{bl.fleiss_kappa(ann):.3f}" in out


def test_analyze_json_and_plots(tmp_path, capsys):
    assert main(["analyze", "--dataset", "bluebirds", "--json", "--plots", str(tmp_path / "figures")]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["agreement"]["n_items"] == 108
    names = {c["coefficient"] for c in payload["agreement"]["coefficients"]}
    assert names == {"fleiss_kappa", "krippendorff_alpha", "observed_agreement"}
    assert payload["majority_vote_vs_gold"]["positive"] == "true"
    assert len(payload["annotators"]) == 39
    written = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert written == [
        "agreement_heatmap.png", "annotator_profiles.png", "pr_curve_majority_vote.png",
        "reliability_majority_vote.png",
    ]  # fmt: skip
    assert all((tmp_path / "figures" / n).stat().st_size > 1000 for n in written)


def test_analyze_errors_are_one_line_with_exit_2(tmp_path, capsys):
    (tmp_path / "one.csv").write_text("item,annotator,label\na,x,1\nb,x,0\n")  # no item labelled twice
    assert main(["analyze", str(tmp_path / "missing.csv")]) == 2
    assert main(["analyze", str(tmp_path / "one.csv")]) == 2
    assert main(["analyze", "--dataset", "rte", "--ci-prob", "1.5"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("bayeslabels: error:") for line in lines)
    assert "labelled more than once" in lines[1]


def test_analyze_help_shows_an_example(capsys):
    with pytest.raises(SystemExit) as done:
        main(["analyze", "--help"])
    assert done.value.code == 0
    assert "bayeslabels analyze labels.csv --gold gold.csv" in capsys.readouterr().out
