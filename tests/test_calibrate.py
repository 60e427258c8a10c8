"""`bl.calibrate`: calibration maps on soft labels, fitted on gold, cross-fitted.

EM fits throughout (no compile), except the draw-by-draw tests, which read the session's
shared NUTS fixture (`nuts_fit`, simulated data without gold: its truth is gold the fit
never saw).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

import bayeslabels as bl
from bayeslabels.calibrate import CalibrationMap


def _sharpened(probabilities: np.ndarray, factor: float) -> np.ndarray:
    """softmax(factor · log p): the same ranking, ``factor`` times as confident on the logit scale."""
    return softmax(factor * np.log(np.maximum(probabilities, 1e-300)), axis=1)


@pytest.fixture(scope="module")
def sim() -> bl.simulate.SimulatedData:
    """2000 items, 30 annotators, K = 3, 2-4 labels per item: EM's posteriors are far from 0/1."""
    return bl.simulate.dawid_skene(
        n_items=2000, n_annotators=30, n_classes=3, labels_per_item=(2, 4), spammer_fraction=0.2, seed=2
    )


@pytest.fixture(scope="module")
def em_soft(sim) -> bl.SoftLabels:
    return bl.dawid_skene_em(sim.annotations).soft_labels()


# --------------------------------------------------------------------------- (1) recovery


def test_temperature_recovers_an_overconfidence_put_in_on_purpose(sim, em_soft):
    """EM's soft labels sharpened ×3 (log-probabilities × 3): calibration finds T ≈ 3 — exactly
    3 × the temperature EM's own labels need (EM's plug-in posteriors are a little
    overconfident themselves, T ≈ 1.04 here) — and lowers ECE and log-loss on gold it never saw."""
    over = replace(em_soft, mean=_sharpened(em_soft.mean, 3.0), lower=None, upper=None)
    cal = bl.calibrate(over, sim.true_class, method="temperature", fraction=0.5, seed=1)
    own = bl.calibrate(em_soft, sim.true_class, method="temperature", fraction=0.5, seed=1)

    assert cal.temperature == pytest.approx(3.0, abs=0.4)
    assert cal.temperature == pytest.approx(3.0 * own.temperature, rel=0.01)
    assert all(t == pytest.approx(cal.temperature, rel=0.1) for t in cal.fold_temperatures)
    for gold in ("cross-fitted", "held-out"):
        assert cal.value("ece", "after", gold) < 0.5 * cal.value("ece", "before", gold)
        assert cal.value("log_loss", "after", gold) < cal.value("log_loss", "before", gold)
        # temperature scaling never moves the hard label
        assert cal.value("accuracy", "after", gold) == cal.value("accuracy", "before", gold)
    assert cal.n_gold == 1000 and cal.n_held_out == 1000
    soft = cal.soft_labels()
    assert soft.is_point_estimate and (soft.label == over.label).all()


def test_vector_scaling_fits_a_scale_per_class_and_stays_near_identity_on_calibrated_labels(sim, em_soft):
    over = replace(em_soft, mean=_sharpened(em_soft.mean, 3.0), lower=None, upper=None)
    cal = bl.calibrate(over, sim.true_class, method="vector")
    assert cal.temperature is None and cal.overall.scale.shape == (3,)
    # scale ≈ 1/T for every class, the sharpening undone
    assert np.allclose(cal.overall.scale, 1 / 3, rtol=0.25)
    assert cal.value("log_loss", "after") < cal.value("log_loss", "before")
    assert cal.value("ece", "after") < cal.value("ece", "before")
    # on EM's own (nearly calibrated) labels the prior keeps the map close to the identity
    near = bl.calibrate(em_soft, sim.true_class, method="vector").overall
    assert np.allclose(near.scale, 1.0, atol=0.2) and np.allclose(near.bias, 0.0, atol=0.2)


def _top_label_distorted(probabilities: np.ndarray, a: float, b: float) -> np.ndarray:
    """The label's probability c ↦ σ(a logit c + b), the other classes rescaled in proportion."""
    label = probabilities.argmax(axis=1)
    rows = np.arange(len(probabilities))
    c = probabilities[rows, label]
    distorted_c = 1 / (1 + np.exp(-(a * np.log(c / (1 - c)) + b)))
    out = probabilities * ((1 - distorted_c) / (1 - c))[:, None]
    out[rows, label] = distorted_c
    return out


def test_top_label_scaling_undoes_a_distortion_of_the_labels_confidence(sim, em_soft):
    """EM's nearly calibrated labels with the label's log-odds doubled and shifted by +1 (too
    sure everywhere, more so where sure): the top-label map finds the inverse, logit c ↦
    0.5 logit c − 0.5, composed with the map EM's own labels need (a ≈ 1.16, b ≈ −0.17 here:
    logit c ↦ a (logit c' − 1) / 2 + b), keeps every label, and lowers ECE and log-loss on gold
    it never saw."""
    distorted = _top_label_distorted(em_soft.mean, 2.0, 1.0)
    assert (distorted.argmax(axis=1) == em_soft.mean.argmax(axis=1)).all()
    over = replace(em_soft, mean=distorted, lower=None, upper=None)
    cal = bl.calibrate(over, sim.true_class, method="top-label", fraction=0.5, seed=1)
    own = bl.calibrate(em_soft, sim.true_class, method="top-label", fraction=0.5, seed=1).overall
    a, b = cal.overall.scale[0], cal.overall.bias[0]
    assert own.scale[0] == pytest.approx(1.0, abs=0.3) and own.bias[0] == pytest.approx(0.0, abs=0.3)
    assert a == pytest.approx(own.scale[0] / 2, rel=0.05)
    assert b == pytest.approx(own.bias[0] - own.scale[0] / 2, abs=0.05)
    assert cal.temperature is None and cal.to_dict()["map"] == {
        "method": "top-label",
        "a": a,
        "b": b,
        "n_gold": 1000,
    }
    for gold in ("cross-fitted", "held-out"):
        assert cal.value("ece", "after", gold) < 0.5 * cal.value("ece", "before", gold)
        assert cal.value("log_loss", "after", gold) < cal.value("log_loss", "before", gold)
        assert cal.value("accuracy", "after", gold) == cal.value("accuracy", "before", gold)
    assert "logit c" in str(cal) and "per fold (a, b): (" in str(cal)


def test_the_top_label_map_keeps_the_label_on_top_and_the_other_classes_in_proportion():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [1.0, 0.0, 0.0]])
    mild = CalibrationMap("top-label", np.full(3, 0.5), np.full(3, 0.2), n_gold=0).apply(probabilities)
    np.testing.assert_allclose(mild.sum(axis=1), 1.0)
    c = 1 / (1 + np.exp(-(0.5 * np.log(0.7 / 0.3) + 0.2)))
    np.testing.assert_allclose(mild[0], [c, (1 - c) * 2 / 3, (1 - c) / 3])
    # a map that would drop the label below the runner-up stops where they tie
    harsh = CalibrationMap("top-label", np.full(3, 0.01), np.full(3, -5.0), n_gold=0).apply(probabilities)
    assert (harsh.argmax(axis=1) == 0).all()
    np.testing.assert_allclose(harsh[1, 0], harsh[1, 1])
    np.testing.assert_allclose(harsh[1, 1] / harsh[1, 2], 0.35 / 0.25)
    # an underflowed rest (EM's exact 0s: logit c = log(1 / 1e-300)) is shared evenly
    assert harsh[2, 1] == harsh[2, 2] > 0.05 and np.isfinite(harsh).all()
    # with draws (draws × items × K) the label is the class of the highest mean, in every draw
    draws = np.array([[[0.6, 0.4]], [[0.3, 0.7]], [[0.9, 0.1]]])  # mean [0.6, 0.4]: label 0
    mapped = CalibrationMap("top-label", np.full(2, 0.5), np.zeros(2), n_gold=0).apply(draws)
    expected = 1 / (1 + np.exp(-0.5 * np.log(draws[:, 0, 0] / draws[:, 0, 1])))
    np.testing.assert_allclose(mapped[:, 0, 0], np.maximum(expected, [0.5, 0.0, 0.5]))


# --------------------------------------------------------------------------- (2) cross-fitting


def test_a_gold_items_calibrated_label_comes_from_a_map_that_never_saw_its_gold(sim, em_soft):
    gold = np.where(np.arange(sim.annotations.n_items) < 300, sim.true_class, -1)  # 300 gold items
    over = replace(em_soft, mean=_sharpened(em_soft.mean, 2.0), lower=None, upper=None)
    cal = bl.calibrate(over, gold, method="temperature", folds=5, seed=3)
    soft = cal.soft_labels()
    assert set(cal.fold[gold >= 0]) == set(range(5)) and (cal.fold[gold < 0] == -1).all()

    # flipping only item i's gold changes every map that saw it, but not item i's calibrated label
    i = int(np.flatnonzero(gold >= 0)[7])
    flipped = gold.copy()
    flipped[i] = (gold[i] + 1) % 3
    cal_flipped = bl.calibrate(over, flipped, method="temperature", folds=5, seed=3)
    assert np.array_equal(cal_flipped.fold, cal.fold)
    np.testing.assert_array_equal(cal_flipped.soft_labels().mean[i], soft.mean[i])
    assert cal_flipped.overall.temperature != cal.overall.temperature
    others = [f for f in range(5) if f != cal.fold[i]]
    assert all(cal_flipped.fold_maps[f].temperature != cal.fold_maps[f].temperature for f in others)

    # item i's map is the one fitted, by hand, on the gold of the other folds
    train = np.flatnonzero((gold >= 0) & (cal.fold != cal.fold[i]))
    log_p = np.log(over.mean[train])

    def nll(log_t: float) -> float:
        return -log_softmax(log_p / np.exp(log_t), axis=1)[np.arange(len(train)), gold[train]].mean()

    by_hand = np.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded", options={"xatol": 1e-8}).x)
    assert cal.fold_maps[cal.fold[i]].temperature == pytest.approx(by_hand, rel=1e-4)
    np.testing.assert_allclose(soft.mean[i], softmax(np.log(over.mean[i]) / by_hand), rtol=1e-4)
    # an item without gold gets the map fitted on all the gold
    j = int(np.flatnonzero(gold < 0)[0])
    np.testing.assert_allclose(soft.mean[j], cal.overall.apply(over.mean[j]))


# --------------------------------------------------------------------------- (3) draw by draw


def _all_item_draws(fit: bl.Fit) -> np.ndarray:
    """P(z_i = k | draw) for every item: the fit's blocks of items put together (draws, items, K)."""
    blocks = list(fit.item_probability_draws())
    assert [rows.start for rows, _ in blocks] == [0, *(rows.stop for rows, _ in blocks[:-1])]
    return np.concatenate([probs for _, probs in blocks], axis=1)


@pytest.fixture(scope="module")
def nuts_calibration(nuts_fit, small_sim) -> bl.Calibration:
    """The session's NUTS fit, calibrated on its simulation's truth (gold the fit never saw), by
    the default map (temperature with a uniform floor)."""
    return bl.calibrate(nuts_fit, small_sim.true_class)


def _floored(draws: np.ndarray, temperature, floor) -> np.ndarray:
    """The temperature-floor map by hand: (1 − ε) softmax(log p / T) + ε / K."""
    return (1 - floor) * softmax(
        np.log(np.maximum(draws, 1e-300)) / temperature, axis=-1
    ) + floor / draws.shape[-1]


def test_intervals_of_a_posterior_are_calibrated_draw_by_draw(nuts_fit, nuts_calibration):
    cal = nuts_calibration
    soft = cal.soft_labels(ci_prob=0.8)
    assert soft.ci_prob == 0.8 and not soft.is_point_estimate
    assert (soft.lower <= soft.mean).all() and (soft.mean <= soft.upper).all()
    assert np.allclose(soft.mean.sum(axis=1), 1.0)

    # by hand, for every item: its map applied to each draw, then mean and 10%/90% quantiles
    draws = _all_item_draws(nuts_fit)
    maps = [*cal.fold_maps, cal.overall]
    assert cal.method == "temperature-floor"
    temperature = np.array([maps[f].temperature for f in cal.fold])[None, :, None]
    floor = np.array([maps[f].floor for f in cal.fold])[None, :, None]
    calibrated = _floored(draws, temperature, floor)
    np.testing.assert_allclose(soft.mean, calibrated.mean(axis=0), rtol=1e-10)
    lo, hi = np.quantile(calibrated, [0.1, 0.9], axis=0)
    np.testing.assert_allclose(soft.lower, np.minimum(lo, soft.mean), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(soft.upper, np.maximum(hi, soft.mean), rtol=1e-10, atol=1e-15)
    # ... which is not the map applied to the posterior mean
    of_mean = _floored(cal.uncalibrated.mean, temperature[0], floor[0])
    assert np.abs(of_mean - soft.mean).max() > 1e-3


def test_with_draws_the_map_is_fitted_to_the_soft_labels_it_exports(nuts_fit, nuts_calibration, small_sim):
    """The map minimises the gold's log-loss of the mean of the calibrated draws (what is exported),
    not of the map of the posterior mean, plus the floor's prior: a temperature or a floor a
    little off either way scores worse."""
    from bayeslabels.calibrate import FLOOR_PRIOR

    draws = _all_item_draws(nuts_fit)
    truth = small_sim.true_class

    def objective(t: float, floor: float) -> float:
        mean = _floored(draws, t, floor).mean(axis=0)
        prior = 0.5 * ((np.log(floor / (1 - floor)) - FLOOR_PRIOR[0]) / FLOOR_PRIOR[1]) ** 2
        return float(-np.log(mean[np.arange(len(truth)), truth]).sum() + prior)

    t, floor = nuts_calibration.temperature, nuts_calibration.overall.floor
    assert 0 < floor < 0.5
    assert objective(t, floor) < min(objective(0.9 * t, floor), objective(1.1 * t, floor))
    assert objective(t, floor) < min(objective(t, 0.8 * floor), objective(t, 1.25 * floor))
    assert nuts_calibration.to_dict()["fitted_on"].startswith("the gold items' class probabilities of each")


def test_a_top_label_map_on_a_posterior_maps_each_draw_with_the_items_one_label(nuts_fit, small_sim):
    cal = bl.calibrate(nuts_fit, small_sim.true_class, method="top-label")
    draws = _all_item_draws(nuts_fit)
    maps = [*cal.fold_maps, cal.overall]
    label = draws.mean(axis=0).argmax(axis=1)
    rows = np.arange(draws.shape[1])
    a = np.array([maps[f].scale[0] for f in cal.fold])
    b = np.array([maps[f].bias[0] for f in cal.fold])
    c = draws[:, rows, label]
    others = draws.copy()
    others[:, rows, label] = 0.0
    runner_up = others.max(axis=2) / (1 - c)
    # the bound: the label kept at least level with the runner-up where it was ahead in that draw
    bound = np.where(c >= others.max(axis=2), runner_up / (1 + runner_up), 0.0)
    expected_c = np.maximum(1 / (1 + np.exp(-(a * np.log(c / (1 - c)) + b))), bound)
    soft = cal.soft_labels()
    np.testing.assert_allclose(soft.mean[rows, label], expected_c.mean(axis=0), rtol=1e-7)
    assert (bound > 0).any() and (expected_c == bound).any()  # the bound was exercised
    assert (soft.label == nuts_fit.soft_labels().label).all()


def test_the_identity_map_reproduces_the_fits_soft_labels_exactly(nuts_fit, nuts_calibration):
    k = len(nuts_fit.classes)
    identity = CalibrationMap("temperature", np.ones(k), np.zeros(k), n_gold=0)
    unchanged = replace(nuts_calibration, overall=identity, fold_maps=(identity,) * nuts_calibration.folds)
    for ci_prob in (0.9, 0.5):
        ours, theirs = unchanged.soft_labels(ci_prob), nuts_fit.soft_labels(ci_prob)
        for name in ("mean", "lower", "upper"):
            np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))
        assert ours.ci_prob == theirs.ci_prob == ci_prob
        assert (ours.items == theirs.items).all() and (ours.n_labels == theirs.n_labels).all()


# --------------------------------------------------------------------------- (4) real data


def test_on_real_data_calibration_lowers_ems_cross_fitted_ece_and_log_loss():
    """duchenne (2134 items, 159 gold): EM is overconfident on it (ECE 0.20 against a vote
    share's 0.09). Measured at the time of writing: T = 7.69; cross-fitted ECE 0.204 → 0.075,
    log-loss 1.698 → 0.532."""
    ann = bl.datasets.load("duchenne")
    fit = bl.fit(ann, method="em", use_gold=False)
    cal = bl.calibrate(fit, ann.gold, method="temperature")
    assert cal.n_gold == 159
    assert cal.value("ece", "before") == pytest.approx(bl.expected_calibration_error(fit, ann.gold))
    assert cal.value("ece", "after") < cal.value("ece", "before") - 0.05
    assert cal.value("ece", "after") < bl.expected_calibration_error(bl.soft_vote(ann), ann.gold)
    assert cal.value("log_loss", "after") < cal.value("log_loss", "before") / 2
    assert cal.temperature > 2  # EM is overconfident here
    text = str(cal)
    assert "159 gold items" in text and "T = " in text and "cross-fitted" in text


def test_the_floor_keeps_a_few_confident_mistakes_from_softening_every_label():
    """music_genre (700 gold items, K = 10): EM is about as calibrated as a vote share in ECE but
    confidently wrong on some items; temperature alone softens everything to pay for them (ECE
    0.127 → 0.215 cross-fitted), the uniform floor pays for them instead (→ 0.031, T < 1, ε ≈
    0.15) with a lower log-loss than either. Measured at the time of writing."""
    ann = bl.datasets.load("music_genre")
    fit = bl.fit(ann, method="em", use_gold=False)
    temperature = bl.calibrate(fit, ann.gold, method="temperature")
    floored = bl.calibrate(fit, ann.gold)  # the default: temperature-floor
    assert floored.method == "temperature-floor" and 0.05 < floored.overall.floor < 0.3
    assert temperature.value("ece") > temperature.value("ece", "before")  # temperature alone: worse
    assert floored.value("ece") < 0.5 * floored.value("ece", "before")
    assert floored.value("ece") < bl.expected_calibration_error(bl.soft_vote(ann), ann.gold)
    assert floored.value("log_loss") < temperature.value("log_loss") - 0.03
    assert floored.value("accuracy") == floored.value("accuracy", "before")  # the argmax stays
    assert "floor" in str(floored) and floored.to_dict()["map"]["floor"] == floored.overall.floor


def test_top_label_scaling_calibrates_what_a_temperature_and_a_floor_cannot_bend_to():
    """duchenne: EM's label confidence is nearly 1 on most items, right on ~78 %. One temperature
    and a floor leave a cross-fitted ECE of 0.099; mapping the label's log-odds directly brings it
    to 0.035 with a lower log-loss (measured at the time of writing: 0.553 → 0.528)."""
    ann = bl.datasets.load("duchenne")
    fit = bl.fit(ann, method="em", use_gold=False)
    floored = bl.calibrate(fit, ann.gold)
    top = bl.calibrate(fit, ann.gold, method="top-label")
    assert top.value("ece") < 0.6 * floored.value("ece")
    assert top.value("ece") < bl.expected_calibration_error(bl.soft_vote(ann), ann.gold) - 0.02
    assert top.value("log_loss") < floored.value("log_loss")
    assert top.value("accuracy") == top.value("accuracy", "before")
    assert 0 < top.overall.scale[0] < 0.5  # EM's log-odds shrunk: it is overconfident here


# --------------------------------------------------------------------------- (5) errors


def test_gold_that_anchored_the_fit_is_refused_as_leakage():
    ann = bl.simulate.dawid_skene(n_items=200, n_annotators=8, gold_fraction=0.3, seed=1).annotations
    anchored = bl.fit(ann, method="em")  # use_gold=True: gold fixed those items' class
    with pytest.raises(bl.DataError, match=r"anchored the fit.*leakage.*use_gold=False"):
        bl.calibrate(anchored, ann.gold)
    held_out = bl.fit(ann, method="em", use_gold=False)
    assert bl.calibrate(held_out, ann.gold).n_gold == int((ann.gold >= 0).sum())


def test_too_little_gold_unknown_items_and_unknown_classes_are_refused(sim, em_soft):
    few = np.where(np.arange(sim.annotations.n_items) < 12, sim.true_class, -1)
    with pytest.raises(bl.DataError, match=r"12 gold items .* too few.* at least 20"):
        bl.calibrate(em_soft, few)
    with pytest.raises(bl.DataError, match=r"24 gold items \(fraction 0.012 of 2000\).* at least 30"):
        bl.calibrate(em_soft, sim.true_class, folds=30, fraction=0.012)
    gold = pd.Series(["c0"] * 30 + ["c1"], index=[*em_soft.items[:30], "no-such-item"])
    with pytest.raises(bl.DataError, match=r"1 item\(s\) the soft labels do not have.*no-such-item"):
        bl.calibrate(em_soft, gold)
    with pytest.raises(bl.DataError, match=r"gold class 'c9' is not among"):
        bl.calibrate(em_soft, pd.Series(["c9"] * 30, index=em_soft.items[:30]))
    with pytest.raises(ValueError, match="method must be one of"):
        bl.calibrate(em_soft, sim.true_class, method="platt")
    with pytest.raises(ValueError, match="folds"):
        bl.calibrate(em_soft, sim.true_class, folds=1)


def test_soft_labels_with_intervals_but_no_draws_are_refused(nuts_fit, small_sim):
    with pytest.raises(bl.DataError, match="no posterior draws.*pass the Fit"):
        bl.calibrate(nuts_fit.soft_labels(), small_sim.true_class)


# --------------------------------------------------------------------------- (6) export


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_export_round_trips_with_the_map_in_the_provenance(tmp_path, suffix):
    ann = bl.datasets.load("duchenne")
    fit = bl.fit(ann, method="em", use_gold=False)
    cal = bl.calibrate(fit, ann.gold)
    path = cal.export(tmp_path / f"soft{suffix}")

    record = bl.read_provenance(path)
    assert record["method"] == "em" and record["used_gold"] is False  # the fit's provenance ...
    assert record["data_hash"] == ann.data_hash
    calibration = record["calibration"]  # ... plus the map
    assert calibration["method"] == "temperature-floor" and calibration["folds"] == 5
    assert calibration["map"]["floor"] == pytest.approx(cal.overall.floor)
    assert calibration["map"]["temperature"] == pytest.approx(cal.temperature)
    assert [m["temperature"] for m in calibration["fold_maps"]] == pytest.approx(cal.fold_temperatures)
    assert "recalibrated on gold" in record["soft_label_meaning"]

    back = bl.SoftLabels.read(path)
    soft = cal.soft_labels()
    np.testing.assert_allclose(back.mean, soft.mean, rtol=1e-12)
    assert (back.items == soft.items).all() and back.meaning == cal.meaning


def test_export_of_calibrated_soft_labels_records_the_map(tmp_path, sim, em_soft):
    cal = bl.calibrate(em_soft, sim.true_class)
    record = bl.read_provenance(cal.export(tmp_path / "soft.jsonl"))
    assert record["calibration"]["map"]["temperature"] == pytest.approx(cal.temperature)
    assert record["n_items"] == em_soft.n_items


# --------------------------------------------------------------------------- (7) command line


def test_fit_gold_use_calibrate_writes_calibrated_soft_labels(tmp_path, capsys):
    from bayeslabels.cli import main

    sim = bl.simulate.dawid_skene(n_items=300, n_annotators=10, n_classes=2, labels_per_item=(2, 4), seed=4)
    sim.annotations.to_frame().to_csv(tmp_path / "labels.csv", index=False)
    truth = sim.truth_frame().rename(columns={"true_class": "gold"})
    truth.sample(120, random_state=0).to_csv(tmp_path / "gold.csv", index=False)
    out = tmp_path / "soft.parquet"
    args = ["fit", str(tmp_path / "labels.csv"), "--gold", str(tmp_path / "gold.csv"), "--method", "em"]

    assert main([*args, "--gold-use", "calibrate", "--calibration-folds", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "temperature-floor calibration on 120 gold items, 4 folds" in printed and f"wrote {out}" in printed
    record = bl.read_provenance(out)
    assert record["used_gold"] is False and record["calibration"]["folds"] == 4
    assert len(pd.read_parquet(out)) == 300

    # on a fifth of the gold: the other gold items are held out of every map, and said so
    partial = tmp_path / "partial.parquet"
    assert (
        main([*args, "--gold-use", "calibrate", "--calibration-fraction", "0.2", "--out", str(partial)]) == 0
    )
    assert "96 gold items held out (fraction 0.2)" in capsys.readouterr().out
    assert bl.read_provenance(partial)["calibration"]["fraction"] == 0.2

    # the top-label map by name, its two numbers in the provenance
    top = tmp_path / "top.parquet"
    assert (
        main([*args, "--gold-use", "calibrate", "--calibration-method", "top-label", "--out", str(top)]) == 0
    )
    assert "top-label calibration on 120 gold items" in capsys.readouterr().out
    assert set(bl.read_provenance(top)["calibration"]["map"]) == {"method", "a", "b", "n_gold"}

    # too little gold is one line, before any fit
    truth.head(10).to_csv(tmp_path / "few.csv", index=False)
    few = ["fit", str(tmp_path / "labels.csv"), "--gold", str(tmp_path / "few.csv"), "--method", "em"]
    assert main([*few, "--gold-use", "calibrate", "--out", str(tmp_path / "x.parquet")]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "at least 20" in captured.err
    assert "model dawid-skene" not in captured.out and not (tmp_path / "x.parquet").exists()
