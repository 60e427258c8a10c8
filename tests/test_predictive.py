"""Posterior predictive checks: a model that made the data passes, one that cannot make it fails,
on the statistic that shows why. Replicates here come from a small NumPy Dawid–Skene sampler
(no PyMC), with the observed design (items, annotators, rows) kept."""

from __future__ import annotations

import json
from dataclasses import replace

import matplotlib
import numpy as np
import pandas as pd
import pytest

import bayeslabels as bl
from bayeslabels import predictive
from bayeslabels.predictive import PredictiveCheck, predictive_check, predictive_check_from

matplotlib.use("Agg")

STATISTICS = [
    "mean_disagreement",
    "var_disagreement",
    "unanimous_share",
    "fleiss_kappa",
    "agreement_sd",
    "annotators_outside",
    "class_use_chi2",
]


def replicate_dawid_skene(
    ann: bl.Annotations, confusion: np.ndarray, prevalence: np.ndarray, n: int = 200, seed: int = 0
) -> np.ndarray:
    """n tables with ``ann``'s design: a true class per item from ``prevalence``, then each row's
    label from its annotator's confusion row (replicates × rows)."""
    rng = np.random.default_rng(seed)
    k = len(prevalence)
    truth = rng.choice(k, size=(n, ann.n_items), p=prevalence)
    probs = confusion[ann.annotator_idx[None, :], truth[:, ann.item_idx]]  # n × rows × K
    draw = rng.random(probs.shape[:2])[..., None]
    return (draw > probs.cumsum(axis=-1)).sum(axis=-1).clip(max=k - 1)


@pytest.fixture(scope="module")
def ds_sim() -> bl.simulate.SimulatedData:
    """300 items × 5 labels by 20 ordinary annotators (no spammers), K = 3."""
    return bl.simulate.dawid_skene(
        n_items=300, n_annotators=20, n_classes=3, labels_per_item=5, spammer_fraction=0.0, seed=1
    )


@pytest.fixture(scope="module")
def ds_check(ds_sim) -> PredictiveCheck:
    ann = ds_sim.annotations
    replicated = replicate_dawid_skene(ann, ds_sim.confusion, ds_sim.prevalence, seed=11)
    return predictive_check_from(ann, replicated, model="dawid-skene")


def ambiguous_table(seed: int = 0) -> bl.Annotations:
    """300 items × 5 of 10 annotators, K = 2. Half the items are clear (every annotator right with
    probability 0.95); on the other half every label is a fair coin: items are either (nearly)
    unanimous or split, which independent annotators given the class cannot produce."""
    rng = np.random.default_rng(seed)
    n_items, n_annotators, per_item = 300, 10, 5
    item = np.repeat(np.arange(n_items), per_item)
    annotator = np.argsort(rng.random((n_items, n_annotators)), axis=1)[:, :per_item].ravel()
    truth = rng.integers(0, 2, size=n_items)
    p_one = np.where(np.arange(n_items) % 2 == 0, np.where(truth == 1, 0.95, 0.05), 0.5)
    label = (rng.random(len(item)) < p_one[item]).astype(int)
    frame = pd.DataFrame({"item": [f"i{i:03d}" for i in item], "annotator": [f"a{j}" for j in annotator]})
    frame["label"] = label.astype(str)
    return bl.Annotations.from_frame(frame, classes=["0", "1"])


# --------------------------------------------------------------------------- a model that fits


def test_data_replicated_from_the_model_that_made_them_pass_every_statistic(ds_check, ds_sim):
    table = ds_check.table
    k = ds_sim.annotations.n_classes
    assert list(table["statistic"]) == STATISTICS + [f"class_share[{c}]" for c in range(k)]
    assert table["p_value"].between(0.01, 0.99).all(), table
    assert not table["misfit"].any()
    assert ds_check.ok and ds_check.warnings == []
    assert ds_check.replicates == 200 and ds_check.model == "dawid-skene"
    assert (table["replicated_lo"] <= table["replicated_mean"]).all()
    assert (table["replicated_mean"] <= table["replicated_hi"]).all()


def test_per_item_and_per_annotator_tables_cover_every_item_and_annotator(ds_check, ds_sim):
    ann = ds_sim.annotations
    assert list(ds_check.per_item.index) == list(ann.items)
    assert list(ds_check.per_item.columns) == [
        "n_labels",
        "observed_disagreement",
        "replicated_mean",
        "p_value",
    ]
    assert ds_check.per_item["p_value"].between(0, 1).all()
    per_annotator = ds_check.per_annotator
    assert list(per_annotator.index) == list(ann.annotators)
    assert (per_annotator["n_labels"].to_numpy() == ann.labels_per_annotator).all()
    shares = per_annotator[[f"share_{c}" for c in ann.classes]].to_numpy()
    assert np.allclose(shares.sum(axis=1), 1.0)
    assert {"observed_agreement", "replicated_lo", "replicated_hi", "p_value", "outside"} <= set(
        per_annotator
    )
    # ~10% of annotators fall outside a 90% cut-off by chance; the count is judged against that
    row = ds_check.table.set_index("statistic").loc["annotators_outside"]
    assert row["observed"] == per_annotator["outside"].sum()
    assert 0.5 <= row["replicated_mean"] <= 4


# --------------------------------------------------------------------------- models that do not fit


def test_item_level_ambiguity_is_flagged_by_the_variance_of_disagreement():
    ann = ambiguous_table()
    em = bl.dawid_skene_em(ann)  # independent labels given the class: cannot make split items
    replicated = replicate_dawid_skene(ann, em.confusion, em.prevalence, seed=1)
    check = predictive_check_from(ann, replicated, model="dawid-skene")
    row = check.table.set_index("statistic").loc["var_disagreement"]
    assert row["misfit"] and row["p_value"] < 0.01
    assert row["observed"] > row["replicated_hi"]
    assert not check.ok
    (warning,) = [w for w in check.warnings if "variance of per-item disagreement" in w]
    assert "ambiguity" in warning and "item-difficulty" in warning
    assert "above" in warning and f"p = {row['p_value']:.3f}" in warning
    # EM fitted each annotator's class use: the data sit closer to the fit than its replicates
    # (p near 1), which a one-sided discrepancy does not call a misfit
    chi2 = check.table.set_index("statistic").loc["class_use_chi2"]
    assert chi2["p_value"] > 0.975 and not chi2["misfit"]


@pytest.mark.parametrize(
    ("fitted", "other"), [("ambiguity", "item-difficulty"), ("item-difficulty", "ambiguity")]
)
def test_an_item_level_misfit_of_an_item_level_family_suggests_the_other_not_itself(fitted, other):
    ann = ambiguous_table()
    em = bl.dawid_skene_em(ann)
    replicated = replicate_dawid_skene(ann, em.confusion, em.prevalence, seed=1)
    check = predictive_check_from(ann, replicated, model=fitted)
    (warning,) = [w for w in check.warnings if "variance of per-item disagreement" in w]
    assert f"try model={fitted!r}" not in warning
    assert f"model={fitted!r} already models item-level variation" in warning
    assert f"model={other!r}" in warning and "model='dawid-skene'" in warning


def test_a_spammer_replicated_as_an_ordinary_annotator_is_extreme_and_counted(ds_sim):
    ann = ds_sim.annotations
    spammer = 4
    label = np.where(ann.annotator_idx == spammer, 0, ann.label)  # always class 0
    spammed = replace(ann, label=label)
    replicated = replicate_dawid_skene(spammed, ds_sim.confusion, ds_sim.prevalence, seed=5)
    check = predictive_check_from(spammed, replicated, model="one-coin")
    row = check.per_annotator.iloc[spammer]
    assert row["p_value"] > 0.99  # agrees with the others far less than any replicate of it
    assert row["outside"] and row["observed_agreement"] < row["replicated_lo"]
    assert row["class_use_p_value"] < 0.01
    table = check.table.set_index("statistic")
    assert table.loc["annotators_outside", "observed"] >= 1
    assert table.loc["class_use_chi2", "misfit"]
    (warning,) = [w for w in check.warnings if "class-use" in w]
    assert str(ann.annotators[spammer]) in warning
    assert "dawid-skene" in warning and "hierarchical" in warning  # the one-coin model's way out


def test_the_same_misfit_under_a_full_confusion_model_gets_a_neutral_message(ds_sim):
    ann = ds_sim.annotations
    spammed = replace(ann, label=np.where(ann.annotator_idx == 4, 0, ann.label))
    replicated = replicate_dawid_skene(spammed, ds_sim.confusion, ds_sim.prevalence, seed=5)
    check = predictive_check_from(spammed, replicated, model="dawid-skene")
    (warning,) = [w for w in check.warnings if "class-use" in w]
    assert "model='dawid-skene'" not in warning and "per_annotator" in warning


# --------------------------------------------------------------------------- the statistics themselves


def test_replicating_the_observed_table_itself_gives_mid_p_one_half_everywhere(ds_sim):
    ann = ds_sim.annotations
    check = predictive_check_from(ann, np.tile(ann.label, (50, 1)))
    assert (check.table["p_value"] == 0.5).all()
    assert check.table["replicated_mean"].to_numpy() == pytest.approx(check.table["observed"].to_numpy())
    assert (check.per_item["p_value"] == 0.5).all()
    assert (check.per_annotator["p_value"] == 0.5).all()
    assert (check.per_annotator["class_use_p_value"] == 0.5).all()
    assert check.ok and check.warnings == [] and check.table.loc[5, "observed"] == 0


def tiny_table() -> bl.Annotations:
    """Items q1..q3 labelled by a, b, c: [0, 0, 0], [0, 1, 1], [1, 1, 1]; q4 by d alone: 0."""
    frame = pd.DataFrame(
        {
            "item": ["q1"] * 3 + ["q2"] * 3 + ["q3"] * 3 + ["q4"],
            "annotator": ["a", "b", "c"] * 3 + ["d"],
            "label": ["0", "0", "0", "0", "1", "1", "1", "1", "1", "0"],
        }
    )
    return bl.Annotations.from_frame(frame, classes=["0", "1"])


def test_statistics_agree_with_hand_computation_on_a_tiny_table():
    ann = tiny_table()
    check = predictive_check_from(ann, np.tile(ann.label, (20, 1)))
    observed = check.table.set_index("statistic")["observed"]
    d = np.array([0.0, 1 - 2 / 6, 0.0])  # 1 − Σ n_k(n_k − 1) / (n(n − 1)); q4 has one label
    assert observed["mean_disagreement"] == pytest.approx(d.mean())
    assert observed["var_disagreement"] == pytest.approx(8 / 81)
    assert observed["unanimous_share"] == pytest.approx(2 / 3)
    assert observed["fleiss_kappa"] == pytest.approx(bl.fleiss_kappa(ann))
    agreement = {"a": (1 + 0 + 1) / 3, "b": (1 + 1 / 2 + 1) / 3, "c": (1 + 1 / 2 + 1) / 3}
    per_annotator = check.per_annotator["observed_agreement"]
    assert per_annotator[list(agreement)].to_numpy() == pytest.approx(list(agreement.values()))
    assert np.isnan(per_annotator["d"])  # only labelled a single-label item
    assert observed["agreement_sd"] == pytest.approx(np.std(list(agreement.values())))
    assert observed["class_share[0]"] == pytest.approx(0.5)
    per_item = check.per_item
    assert per_item["observed_disagreement"].iloc[:3].to_numpy() == pytest.approx(d)
    assert np.isnan(per_item.loc["q4", "observed_disagreement"]) and per_item.loc["q4", "n_labels"] == 1


def test_vectorised_statistics_match_loops_and_each_replicate_scored_as_data(ds_sim, monkeypatch):
    ann = ds_sim.annotations
    replicated = replicate_dawid_skene(ann, ds_sim.confusion, ds_sim.prevalence, n=30, seed=2)
    whole = predictive_check_from(ann, replicated)
    monkeypatch.setattr(predictive, "_BLOCK_ELEMENTS", 3 * ann.n_labels)  # blocks of 3 replicates
    blocked = predictive_check_from(ann, replicated)
    pd.testing.assert_frame_equal(whole.table, blocked.table)
    pd.testing.assert_frame_equal(whole.per_item, blocked.per_item)
    pd.testing.assert_frame_equal(whole.per_annotator, blocked.per_annotator)
    # replicate 7 scored as if it were the data: same values as in replicated_statistics
    as_data = predictive_check_from(replace(ann, label=replicated[7]), replicated)
    direct = as_data.table.set_index("statistic")["observed"].drop(["annotators_outside", "class_use_chi2"])
    assert whole.replicated_statistics.loc[7, direct.index].to_numpy() == pytest.approx(direct.to_numpy())
    # the observed statistics by plain loops over items and annotators
    votes: dict[int, list[int]] = {}
    for item, label in zip(ann.item_idx, ann.label, strict=True):
        votes.setdefault(int(item), []).append(int(label))
    disagreement = [
        np.mean([a != b for x, a in enumerate(v) for y, b in enumerate(v) if x != y]) for v in votes.values()
    ]
    observed = whole.table.set_index("statistic")["observed"]
    assert observed["var_disagreement"] == pytest.approx(np.var(disagreement))
    shares: dict[int, list[float]] = {}
    for item, annotator, label in zip(ann.item_idx, ann.annotator_idx, ann.label, strict=True):
        others = list(votes[int(item)])
        others.remove(int(label))
        shares.setdefault(int(annotator), []).append(float(np.mean([o == label for o in others])))
    loops = [np.mean(shares[j]) for j in range(ann.n_annotators)]
    assert whole.per_annotator["observed_agreement"].to_numpy() == pytest.approx(loops)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda label: label, "must be a 2-D array"),
        (lambda label: np.tile(label[:-1], (30, 1)), "columns but the table has"),
        (lambda label: np.tile(label, (30, 1)).astype(float), "integer class codes"),
        (lambda label: np.tile(np.where(np.arange(len(label)) == 0, 3, label), (30, 1)), r"outside 0\.\.2"),
        (lambda label: np.tile(np.where(np.arange(len(label)) == 0, -1, label), (30, 1)), "min -1"),
        (lambda label: np.tile(label, (19, 1)), "only 19 replicated tables.*at least 20"),
    ],
    ids=["1-d", "columns", "float", "code-too-high", "negative-code", "too-few"],
)
def test_bad_replicates_are_refused_with_a_specific_message(ds_sim, make, message):
    ann = ds_sim.annotations
    with pytest.raises(bl.DataError, match=message):
        predictive_check_from(ann, make(ann.label))


def test_a_bad_ci_prob_and_a_table_without_repeated_items_are_refused(ds_sim):
    ann = ds_sim.annotations
    with pytest.raises(ValueError, match="ci_prob"):
        predictive_check_from(ann, np.tile(ann.label, (20, 1)), ci_prob=1.5)
    single = tiny_table().subset(["q4"])
    with pytest.raises(bl.DataError, match="no item has two or more labels"):
        predictive_check_from(single, np.tile(single.label, (20, 1)))


# --------------------------------------------------------------------------- from a fit, and output


def test_predictive_check_replicates_from_the_fit_itself(ds_sim):
    fit = bl.fit(ds_sim.annotations, method="em")
    check = bl.predictive_check(fit, draws=40, seed=9, ci_prob=0.8)
    assert check.replicates == 40 and check.model == "dawid-skene" and check.ci_prob == 0.8
    # data simulated from Dawid–Skene, replicated from its own EM fit: the item-level statistics fit
    item_level = check.table.set_index("statistic").loc[
        ["mean_disagreement", "var_disagreement", "fleiss_kappa"]
    ]
    assert item_level["p_value"].between(0.01, 0.99).all()
    assert bl.predictive_check is predictive_check and bl.PredictiveCheck is PredictiveCheck


def test_plot_has_one_panel_per_statistic(ds_check):
    from matplotlib.figure import Figure

    figure = ds_check.plot()
    assert isinstance(figure, Figure)
    assert len(figure.axes) == len(ds_check.table)
    titles = [ax.get_title() for ax in figure.axes]
    names = ds_check.table["statistic"]
    assert all(title.startswith(name) and "p = " in title for title, name in zip(titles, names, strict=True))
    axes = Figure().subplots(3, 4).ravel()
    assert ds_check.plot(ax=axes) is axes[0].figure
    with pytest.raises(ValueError, match="one axes per statistic"):
        ds_check.plot(ax=axes[:2])


def test_summary_and_to_dict(ds_check):
    text = ds_check.summary()
    assert str(ds_check) == text
    assert "dawid-skene" in text and "200 replicated tables" in text and "No misfit" in text
    assert all(name in text for name in ds_check.table["statistic"])
    record = json.loads(json.dumps(ds_check.to_dict()))
    assert record["ok"] is True and record["replicates"] == 200 and record["warnings"] == []
    assert [row["statistic"] for row in record["statistics"]] == list(ds_check.table["statistic"])
    assert all(type(row["p_value"]) is float and type(row["misfit"]) is bool for row in record["statistics"])


def test_a_misfit_summary_lists_the_warnings():
    ann = ambiguous_table()
    em = bl.dawid_skene_em(ann)
    check = predictive_check_from(ann, replicate_dawid_skene(ann, em.confusion, em.prevalence, seed=1))
    text = check.summary()
    assert "misfit" in text and all(warning in text for warning in check.warnings)
    assert json.loads(json.dumps(check.to_dict()))["ok"] is False
