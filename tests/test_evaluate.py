"""Gold-set evaluation: scikit-learn's metrics as point estimates, Wilson intervals equal to
statsmodels', bootstrap replicates equal to scikit-learn with resampling weights, calibration,
paired comparisons on the bundled real data, threshold tuning, audit sample sizes, and the
`evaluate` command."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
)
from statsmodels.stats.proportion import proportion_confint

import bayeslabels as bl
from bayeslabels.cli import main
from bayeslabels.evaluate import _scored, _w_average_precision, _w_f1, _w_overall

GOLD_SETS = ["rte", "bluebirds", "dog", "music_genre", "duchenne", "adult_content"]


def _soft_frame(probabilities: np.ndarray, classes=("0", "1")) -> pd.DataFrame:
    frame = pd.DataFrame({"item": [f"i{i:04d}" for i in range(len(probabilities))]})
    for k, name in enumerate(classes):
        frame[f"p_{name}"] = probabilities[:, k]
    return frame


def _binary(n: int = 400, seed: int = 0, temperature: float = 1.0):
    """Perfectly calibrated scores (y ~ Bernoulli(p)), then sharpened by 1/temperature."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, n)
    y = (rng.random(n) < p).astype(np.int64)
    logit = np.log(p / (1 - p)) / temperature
    q = 1 / (1 + np.exp(-logit))
    return _soft_frame(np.column_stack([1 - q, q])), y


@pytest.fixture(scope="module")
def three_class():
    sim = bl.simulate.dawid_skene(n_items=300, n_annotators=10, n_classes=3, labels_per_item=(2, 4), seed=11)
    em = bl.fit(sim.annotations, method="em")
    return sim, em


# --------------------------------------------------------------------------- point estimates


def test_point_estimates_are_scikit_learns_and_name_their_method(three_class):
    sim, em = three_class
    soft = em.soft_labels().to_frame()
    result = bl.evaluate(soft, sim.true_class, n_boot=200)
    proba = soft[["p_0", "p_1", "p_2"]].to_numpy()
    pred = proba.argmax(axis=1)
    y = sim.true_class
    assert result.value("accuracy") == pytest.approx((pred == y).mean())
    assert result.value("macro_f1") == pytest.approx(f1_score(y, pred, average="macro"))
    assert result.value("log_loss") == pytest.approx(log_loss(y, proba, labels=[0, 1, 2]))
    assert result.value("brier") == pytest.approx(brier_score_loss(y, proba, labels=[0, 1, 2]))
    expected_ap = average_precision_score(np.eye(3)[y], proba, average="macro")
    assert result.value("pr_auc") == pytest.approx(expected_ap)
    for k in range(3):
        assert result.value("precision", str(k)) == pytest.approx(
            precision_score(y, pred, labels=[k], average=None)[0]
        )
        assert result.value("recall", str(k)) == pytest.approx(
            recall_score(y, pred, labels=[k], average=None)[0]
        )
    methods = result.metrics.set_index(["metric", "class"])["method"]
    assert methods[("accuracy", "")] == "wilson" and methods[("precision", "0")] == "wilson"
    assert (
        methods[("macro_f1", "")] == "bootstrap-percentile" and methods[("ece", "")] == "bootstrap-percentile"
    )
    assert result.positive is None  # three classes: PR-AUC is the macro one-vs-rest mean


def test_wilson_intervals_equal_statsmodels(three_class):
    sim, em = three_class
    result = bl.evaluate(em, sim.true_class, ci_prob=0.9, n_boot=100)
    correct = int((em.soft_labels().to_frame()["label"].astype(int).to_numpy() == sim.true_class).sum())
    lo, hi = proportion_confint(correct, len(sim.true_class), alpha=0.1, method="wilson")
    assert result.interval("accuracy") == pytest.approx((lo, hi))
    row = result.metrics.set_index(["metric", "class"]).loc[("recall", "1")]
    tp = row["estimate"] * row["n"]
    assert (row["lo"], row["hi"]) == pytest.approx(proportion_confint(round(tp), row["n"], 0.1, "wilson"))


def test_binary_metrics_name_their_positive_class():
    soft, y = _binary()
    result = bl.evaluate(soft, y, n_boot=100)
    assert result.positive == "1"
    rows = result.metrics.set_index("metric")
    assert rows.loc["pr_auc", "class"] == "1" and rows.loc["brier", "class"] == "1"
    assert result.value("pr_auc", "1") == pytest.approx(average_precision_score(y, soft["p_1"]))
    assert result.value("brier", "1") == pytest.approx(brier_score_loss(y, soft["p_1"]))
    flipped = bl.evaluate(soft, y, positive="0", n_boot=100)
    assert flipped.positive == "0"
    assert flipped.value("pr_auc", "0") == pytest.approx(average_precision_score(1 - y, soft["p_0"]))
    assert "positive class '1'" in str(result)


def test_bootstrap_replicates_equal_scikit_learn_with_resampling_weights(three_class):
    sim, em = three_class
    s, _ = _scored(em, sim.true_class, None, 10)
    rng = np.random.default_rng(5)
    weights = rng.multinomial(len(s.y), np.full(len(s.y), 1 / len(s.y)), size=3).astype(float)
    overall = _w_overall(weights, s)
    _, macro = _w_f1(weights, s)
    for r, w in enumerate(weights):
        take = np.repeat(np.arange(len(s.y)), w.astype(int))  # the resampled data, written out
        y, pred, proba = s.y[take], s.pred[take], s.proba[take]
        present = np.unique(np.r_[y, pred])
        assert macro[r] == pytest.approx(f1_score(y, pred, labels=present, average="macro"))
        assert overall["log_loss"][r] == pytest.approx(log_loss(y, proba, labels=[0, 1, 2]))
        assert overall["accuracy"][r] == pytest.approx((y == pred).mean())
        for k in range(3):
            ap = _w_average_precision(w[None], s.y == k, s.proba[:, k])[0]
            assert ap == pytest.approx(average_precision_score(y == k, proba[:, k]))
            assert ap == pytest.approx(average_precision_score(s.y == k, s.proba[:, k], sample_weight=w))


def test_every_target_form_gives_the_same_scores(small_sim, em_fit):
    ann = small_sim.annotations
    gold = pd.Series(np.asarray(ann.classes)[small_sim.true_class], index=ann.items)
    from_fit = bl.evaluate(em_fit, small_sim.true_class, n_boot=100)
    from_frame = bl.evaluate(em_fit.soft_labels().to_frame(), gold, n_boot=100)
    from_soft = bl.evaluate(em_fit.soft_labels(), gold, n_boot=100)
    pd.testing.assert_frame_equal(from_soft.metrics, from_frame.metrics)
    from_em = bl.evaluate(em_fit.em, small_sim.true_class, n_boot=100)
    pd.testing.assert_frame_equal(from_fit.metrics, from_frame.metrics)
    pd.testing.assert_frame_equal(from_fit.metrics, from_em.metrics, atol=1e-9)
    votes = bl.evaluate(bl.majority_vote(ann), gold, n_boot=100)
    assert votes.n_items == ann.n_items


def test_gold_covers_only_the_items_it_names(small_sim, em_fit):
    ann = small_sim.annotations
    gold = pd.Series(np.asarray(ann.classes)[small_sim.true_class], index=ann.items).iloc[:50]
    assert bl.evaluate(em_fit, gold, n_boot=50).n_items == 50
    with pytest.raises(bl.DataError, match="do not have"):
        bl.evaluate(em_fit, pd.Series({"no-such-item": "0"}), n_boot=50)
    with pytest.raises(bl.DataError, match="not among"):
        bl.evaluate(em_fit, pd.Series({ann.items[0]: "7"}), n_boot=50)
    with pytest.raises(bl.DataError, match="no gold"):
        bl.evaluate(em_fit, np.full(ann.n_items, -1), n_boot=50)


def test_a_fit_anchored_on_the_gold_it_is_scored_on_warns():
    sim = bl.simulate.dawid_skene(n_items=80, n_annotators=6, gold_fraction=0.5, seed=2)
    anchored = bl.fit(sim.annotations, method="em")
    with pytest.warns(UserWarning, match="not a test"):
        bl.evaluate(anchored, sim.annotations.gold, n_boot=50)
    held_out = bl.fit(sim.annotations, method="em", use_gold=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bl.evaluate(held_out, sim.annotations.gold, n_boot=50)


# --------------------------------------------------------------------------- calibration


def test_ece_is_zero_for_exactly_calibrated_scores():
    # In each bin, the share correct equals the confidence exactly.
    confidence = np.repeat([0.55, 0.65, 0.75, 0.85, 0.95], 20)
    correct = np.concatenate([np.arange(20) < round(c * 20) for c in (0.55, 0.65, 0.75, 0.85, 0.95)])
    y = np.where(correct, 1, 0)
    soft = _soft_frame(np.column_stack([1 - confidence, confidence]))
    assert bl.expected_calibration_error(soft, y) == pytest.approx(0.0, abs=1e-12)
    assert bl.evaluate(soft, y, n_boot=100).value("ece") == pytest.approx(0.0, abs=1e-12)


def test_ece_is_near_zero_for_calibrated_simulated_scores_and_grows_with_miscalibration():
    ece = {}
    for temperature in (1.0, 0.7, 0.5, 0.3):  # < 1: overconfident
        soft, y = _binary(n=20000, seed=1, temperature=temperature)
        ece[temperature] = bl.expected_calibration_error(soft, y)
    assert ece[1.0] < 0.015
    assert ece[1.0] < ece[0.7] < ece[0.5] < ece[0.3]


def test_calibration_table_matches_scikit_learns_calibration_curve():
    soft, y = _binary(n=2000, seed=3, temperature=0.6)
    table = bl.calibration_table(soft, y, n_bins=10)
    confidence = soft[["p_0", "p_1"]].max(axis=1).to_numpy()
    correct = (soft[["p_0", "p_1"]].to_numpy().argmax(axis=1) == y).astype(int)
    prob_true, prob_pred = calibration_curve(correct, confidence, n_bins=10)
    np.testing.assert_allclose(table["accuracy"], prob_true)
    np.testing.assert_allclose(table["confidence"], prob_pred)
    ece = (table["n"] * table["gap"].abs()).sum() / table["n"].sum()
    assert ece == pytest.approx(bl.expected_calibration_error(soft, y, n_bins=10))


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module", params=GOLD_SETS)
def real(request):
    ann = bl.datasets.load(request.param)
    held_out = dataclasses.replace(ann, gold=np.full(ann.n_items, -1))
    return ann, bl.fit(held_out, method="em"), bl.majority_vote(ann)


def test_on_real_data_intervals_contain_their_estimates(real):
    ann, em, votes = real
    for targets in (em, votes):
        metrics = bl.evaluate(targets, ann.gold, n_boot=400).metrics.dropna(subset=["estimate"])
        inside = (metrics["lo"] <= metrics["estimate"] + 1e-12) & (
            metrics["estimate"] <= metrics["hi"] + 1e-12
        )
        assert inside.all(), metrics[~inside]


def test_on_real_data_compare_targets_gives_a_paired_difference_with_its_interval(real):
    ann, em, votes = real
    comparison = bl.compare_targets({"majority vote": votes, "em": em}, ann.gold, n_boot=400)
    table = comparison.differences.set_index("metric")
    assert set(table.index) == {"accuracy", "macro_f1", "pr_auc", "log_loss", "brier", "ece"}
    assert (table["method"] == "paired-bootstrap-percentile").all()
    assert (table["baseline"] == "majority vote").all() and (table["target"] == "em").all()
    np.testing.assert_allclose(table["difference"], table["target_estimate"] - table["baseline_estimate"])
    assert ((table["lo"] <= table["hi"]) & table["share_better"].between(0, 1)).all()
    accuracy = table.loc["accuracy"]
    assert accuracy["lo"] <= accuracy["difference"] <= accuracy["hi"]
    assert accuracy["target_estimate"] == pytest.approx(comparison.evaluations["em"].value("accuracy"))
    assert "majority vote" in str(comparison)


def test_a_paired_difference_is_tighter_than_two_separate_intervals():
    ann = bl.datasets.load("rte")
    em = bl.fit(dataclasses.replace(ann, gold=np.full(ann.n_items, -1)), method="em")
    votes = bl.majority_vote(ann)
    diff = bl.compare_targets({"mv": votes, "em": em}, ann.gold, n_boot=500).differences.set_index("metric")
    width = diff.loc["accuracy", "hi"] - diff.loc["accuracy", "lo"]
    separate = [bl.evaluate(t, ann.gold, n_boot=500).interval("accuracy") for t in (votes, em)]
    assert width < sum(hi - lo for lo, hi in separate) / 2


def test_nuts_targets_evaluate_like_any_other(nuts_fit, small_sim):
    result = bl.evaluate(nuts_fit, small_sim.true_class, n_boot=300)
    metrics = result.metrics.dropna(subset=["estimate"])
    assert (
        (metrics["lo"] <= metrics["estimate"] + 1e-12) & (metrics["estimate"] <= metrics["hi"] + 1e-12)
    ).all()
    assert result.value("accuracy") > 0.8


# --------------------------------------------------------------------------- soft metrics


def test_soft_metrics_score_distributions_against_the_votes(small_sim):
    ann = small_sim.annotations
    votes = bl.majority_vote(ann)
    exact = bl.evaluate_soft(votes, ann, n_boot=100)
    assert exact.value("total_variation") == pytest.approx(0.0, abs=1e-12)
    assert exact.value("js_distance") == pytest.approx(0.0, abs=1e-6)
    uniform = _soft_frame(np.full((ann.n_items, 3), 1 / 3), classes=ann.classes)
    uniform["item"] = list(ann.items)
    worse = bl.evaluate_soft(uniform, ann, n_boot=100)
    assert worse.value("total_variation") > 0.2
    assert worse.value("cross_entropy") > exact.value("cross_entropy")


def test_clean_and_ambiguous_slices_are_scored_separately(small_sim, em_fit):
    ann = dataclasses.replace(small_sim.annotations, gold=small_sim.true_class)
    clean, ambiguous = bl.clean_test_set(ann, min_labels=3, min_agreement=0.75)
    on_clean = bl.evaluate(em_fit, clean.gold, n_boot=100)
    assert on_clean.n_items == int((clean.labels_per_item > 0).sum())
    soft = bl.evaluate_soft(em_fit, ambiguous, n_boot=100)
    assert soft.n_items == int((ambiguous.labels_per_item > 0).sum())


# --------------------------------------------------------------------------- thresholds


def test_tune_threshold_maximises_f1_over_every_cut():
    soft, y = _binary(n=300, seed=4)
    scores = soft["p_1"].to_numpy()
    choice = bl.tune_threshold(scores, y, objective="f1")
    best = max(f1_score(y, scores >= t) for t in np.unique(scores))
    assert choice.value == pytest.approx(best)
    assert f1_score(y, scores >= choice.threshold) == pytest.approx(best)
    predicted = scores >= choice.threshold
    assert choice.tp == int((predicted & (y == 1)).sum()) and choice.fp == int((predicted & (y == 0)).sum())


def test_costly_false_negatives_lower_the_threshold():
    soft, y = _binary(n=500, seed=6)
    scores = soft["p_1"].to_numpy()
    balanced = bl.tune_threshold(scores, y, objective={"fp": 1, "fn": 1})
    cautious = bl.tune_threshold(scores, y, objective={"fp": 1, "fn": 5})
    assert cautious.threshold < balanced.threshold
    cost = [(scores >= t)[y == 0].sum() + 5 * (scores < t)[y == 1].sum() for t in np.unique(scores)]
    assert cautious.value == min(cost)
    assert "threshold" in str(cautious)
    with pytest.raises(ValueError, match="objective"):
        bl.tune_threshold(scores, y, objective="accuracy")
    with pytest.raises(ValueError, match="fp"):
        bl.tune_threshold(scores, y, objective={"fp": 1})


# --------------------------------------------------------------------------- audit sizes


def test_audit_sample_size_is_the_textbook_formula():
    plan = bl.audit_sample_size(p=0.9, margin=0.02, ci_prob=0.95)
    z = 1.959963984540054
    assert plan.n_infinite == pytest.approx(z**2 * 0.9 * 0.1 / 0.02**2)
    assert plan.n == 865 and int(plan) == 865
    assert bl.audit_sample_size(p=0.5, margin=0.05, ci_prob=0.95).n == 385
    corrected = bl.audit_sample_size(p=0.5, margin=0.05, ci_prob=0.95, population=1000)
    assert corrected.n == int(np.ceil(384.1459 / (1 + 383.1459 / 1000)))  # 278
    assert bl.audit_sample_size(p=0.5, margin=0.01, population=50).n <= 50
    assert "finite-population" in str(corrected)
    for bad in ({"p": 0}, {"p": 1.2}, {"margin": 0}, {"ci_prob": 1}, {"population": 0}):
        with pytest.raises(ValueError):
            bl.audit_sample_size(**bad)


@pytest.mark.slow
def test_audit_sample_size_delivers_its_margin_by_simulation():
    rng = np.random.default_rng(0)
    plan = bl.audit_sample_size(p=0.9, margin=0.03, ci_prob=0.95)
    estimates = rng.binomial(plan.n, 0.9, size=40000) / plan.n
    assert np.mean(np.abs(estimates - 0.9) <= 0.03) == pytest.approx(0.95, abs=0.015)
    finite = bl.audit_sample_size(p=0.8, margin=0.03, ci_prob=0.95, population=2000)
    draws = rng.hypergeometric(1600, 400, finite.n, size=40000) / finite.n  # sampling without replacement
    assert np.mean(np.abs(draws - 0.8) <= 0.03) == pytest.approx(0.95, abs=0.015)


@pytest.mark.slow
def test_bootstrap_intervals_cover_a_known_parameter_at_the_nominal_rate():
    # p ~ U(0, 1), y ~ Bernoulli(p): the expected Brier score is E[p(1 - p)] = 1/6 and the
    # expected log-loss E[-p log p - (1 - p) log(1 - p)] = 1/2.
    rng = np.random.default_rng(1)
    hits = {"brier": 0, "log_loss": 0, "accuracy": 0}
    truth = {"brier": 1 / 6, "log_loss": 0.5, "accuracy": 0.75}  # accuracy of the argmax: E[max(p, 1-p)]
    runs = 300
    for run in range(runs):
        p = rng.uniform(0, 1, 250)
        y = (rng.random(250) < p).astype(np.int64)
        result = bl.evaluate(_soft_frame(np.column_stack([1 - p, p])), y, ci_prob=0.9, n_boot=600, seed=run)
        for name in hits:
            lo, hi = result.interval(name, "1" if name == "brier" else "")
            hits[name] += lo <= truth[name] <= hi
    for name, count in hits.items():
        assert count / runs == pytest.approx(0.9, abs=0.05), name


# --------------------------------------------------------------------------- the command


def test_evaluate_command_scores_an_exported_fit(tmp_path, capsys):
    ann = bl.datasets.load("bluebirds")
    fit = bl.fit(ann, method="em", use_gold=False)
    fit.export(tmp_path / "soft.parquet")
    ann.gold_series().rename_axis("item").reset_index().to_csv(tmp_path / "gold.csv", index=False)
    assert main(["evaluate", str(tmp_path / "soft.parquet"), "--gold", str(tmp_path / "gold.csv")]) == 0
    captured = capsys.readouterr()
    assert "108 gold items" in captured.out and "positive class 'true'" in captured.out
    assert "wilson" in captured.out and "bootstrap-percentile" in captured.out and captured.err == ""
    expected = bl.evaluate(fit, ann.gold)
    assert f"{expected.value('accuracy'):.3f}" in captured.out

    assert (
        main(["evaluate", str(tmp_path / "soft.parquet"), "--json", "--ci-prob", "0.9", "--n-boot", "300"])
        == 0
    )
    payload = json.loads(capsys.readouterr().out)  # gold from the file's own gold column
    assert payload["ci_prob"] == 0.9 and payload["n_items"] == 108
    assert {m["method"] for m in payload["metrics"]} == {"wilson", "bootstrap-percentile"}


def test_evaluate_command_warns_about_gold_anchored_soft_labels(tmp_path, capsys):
    ann = bl.datasets.load("bluebirds")
    bl.fit(ann, method="em").export(tmp_path / "soft.csv")
    assert main(["evaluate", str(tmp_path / "soft.csv"), "--n-boot", "100"]) == 0
    assert "not a test" in capsys.readouterr().err


def test_evaluate_command_errors_are_one_line_with_exit_2(tmp_path, capsys):
    ann = bl.datasets.load("bluebirds")
    bl.fit(ann, method="em", use_gold=False, quiet=True).export(tmp_path / "soft.parquet")
    (tmp_path / "bad_gold.csv").write_text("item,annotator,label\na,b,c\n")
    (tmp_path / "odd_gold.csv").write_text("item,gold\n11573,maybe\n")
    soft = str(tmp_path / "soft.parquet")
    assert main(["evaluate", str(tmp_path / "missing.parquet"), "--gold", "x.csv"]) == 2
    assert main(["evaluate", soft, "--gold", str(tmp_path / "bad_gold.csv")]) == 2
    assert main(["evaluate", soft, "--gold", str(tmp_path / "odd_gold.csv")]) == 2
    assert main(["evaluate", soft, "--positive", "blue"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("bayeslabels: error:") for line in lines)
    assert "'item' and 'gold'" in lines[1] and "maybe" in lines[2] and "blue" in lines[3]


def test_evaluate_help_shows_an_example(capsys):
    with pytest.raises(SystemExit) as done:
        main(["evaluate", "--help"])
    assert done.value.code == 0
    assert "bayeslabels evaluate soft_labels.parquet --gold gold.csv" in capsys.readouterr().out
