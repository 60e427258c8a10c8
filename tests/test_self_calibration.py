"""`bl.self_calibrate`: soft labels tempered by label count, T(n) = 1 + (n − 1) r, with the
intra-item correlation r fitted on cross-fitted held-out labels — no gold.

EM fits throughout (no compile); the draw-by-draw test builds a two-draw posterior by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import softmax

import bayeslabels as bl
from bayeslabels._tempering import item_temperature, temper
from bayeslabels.cli import main
from bayeslabels.self_calibration import _rows, held_out_labels, label_folds


def _log_loss(probabilities: np.ndarray, truth: np.ndarray) -> float:
    return float(-np.log(np.maximum(probabilities[np.arange(len(truth)), truth], 1e-15)).mean())


def _hard_items(n_items: int = 600, n_annotators: int = 20, per_item: int = 9, seed: int = 0):
    """Two classes; half the items are hard: every annotator is 60 % accurate on them (their own
    accuracy, 75–95 %, on the others). Labels of one item are correlated given its class."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n_items)
    hard = rng.random(n_items) < 0.5
    accuracy = rng.uniform(0.75, 0.95, n_annotators)
    rows = []
    for i in range(n_items):
        for j in rng.choice(n_annotators, per_item, replace=False):
            right = rng.random() < (0.6 if hard[i] else accuracy[j])
            rows.append((f"i{i}", f"a{j}", int(truth[i] if right else 1 - truth[i])))
    ann = bl.Annotations.from_frame(pd.DataFrame(rows, columns=["item", "annotator", "label"]))
    return ann, truth[[int(item[1:]) for item in ann.items]]


def test_labels_correlated_within_items_give_r_above_zero_and_honester_soft_labels():
    ann, truth = _hard_items()
    fit = bl.fit(ann, method="em")
    cal = bl.self_calibrate(fit)

    assert cal.correlation > 0.08
    assert cal.log_predictive_after > cal.log_predictive_before  # what r was fitted to
    before, after = fit.soft_labels().mean, cal.soft_labels().mean
    assert _log_loss(after, truth) < _log_loss(before, truth) - 0.05  # truth it never saw
    assert bl.expected_calibration_error(cal.soft_labels(), truth) < bl.expected_calibration_error(fit, truth)
    assert (after.argmax(axis=1) == before.argmax(axis=1)).all()  # the hard label never moves
    # the map is the per-item temperature on the class posterior
    expected = temper(before, item_temperature(ann.labels_per_item, cal.correlation))
    np.testing.assert_allclose(after, expected, atol=1e-12)


def test_on_plain_dawid_skene_data_r_is_near_zero():
    """Independent labels: nothing to correct but the plug-in optimism of EM's estimates, which
    shrinks with the data (r ≈ 0.08 at 600 items, under 0.03 at 3000)."""
    sim = bl.simulate.dawid_skene(n_items=3000, n_annotators=20, n_classes=3, labels_per_item=(3, 9), seed=0)
    fit = bl.fit(sim.annotations, method="em")
    cal = bl.self_calibrate(fit)
    assert 0.0 <= cal.correlation < 0.03
    assert cal.temperature(9) < 1.25
    truth = sim.true_class
    assert _log_loss(cal.soft_labels().mean, truth) < _log_loss(fit.soft_labels().mean, truth) + 0.005


def test_the_vectorised_held_out_predictive_equals_a_slow_loop():
    sim = bl.simulate.dawid_skene(n_items=40, n_annotators=6, n_classes=3, labels_per_item=(1, 4), seed=3)
    ann, folds, r = sim.annotations, 3, 0.3
    held = held_out_labels(ann, folds=folds, seed=5)
    fold = label_folds(ann, folds, seed=5)
    slow = []
    for f in range(folds):
        em = bl.dawid_skene_em(_rows(ann, fold != f))
        for row in np.flatnonzero(fold == f):
            others = [o for o in range(ann.n_labels) if ann.item_idx[o] == ann.item_idx[row] and fold[o] != f]
            if not others:
                continue  # nothing to predict it from
            joint = np.log(em.prevalence).copy()
            for o in others:
                joint += np.log(em.confusion[ann.annotator_idx[o], :, ann.label[o]])
            posterior = softmax(joint / (1 + (len(others) - 1) * r))
            slow.append(np.log(posterior @ em.confusion[ann.annotator_idx[row], :, ann.label[row]]))
    np.testing.assert_allclose(held.log_predictive(r), slow, rtol=1e-10)
    assert len(slow) == len(held.n_others) > 0


def test_label_folds_spread_each_items_labels():
    ann = bl.simulate.dawid_skene(n_items=200, labels_per_item=(1, 8), seed=1).annotations
    fold = label_folds(ann, 5, seed=0)
    for item in range(ann.n_items):
        mine = fold[ann.item_idx == item]
        assert len(set(mine)) == min(len(mine), 5)  # distinct folds until every fold has one


def test_draws_are_tempered_one_by_one_and_summarised_like_the_fit():
    """A two-draw posterior (EM's confusion and a perturbed one): the soft label is the mean and
    interval of the tempered draws, not the tempered mean."""
    ann, _ = _hard_items(n_items=150, seed=2)
    em_fit = bl.fit(ann, method="em")
    post = em_fit.posterior["posterior"].to_dataset()
    rng = np.random.default_rng(0)
    other = np.stack([rng.dirichlet(50 * row + 1) for row in post["confusion"].values[0, 0].reshape(-1, 2)])
    confusion = np.stack([post["confusion"].values[0, 0], other.reshape(post["confusion"].shape[2:])])
    prevalence = np.repeat(post["prevalence"].values[0], 2, axis=0)
    two = post.isel(draw=[0, 0]).assign_coords(draw=[0, 1])
    two["confusion"].values[0] = confusion
    two["prevalence"].values[0] = prevalence
    two.attrs = {}
    fit = bl.Fit(xr.DataTree.from_dict({"posterior": two}), ann, em_fit.spec, "nuts", used_gold=False)
    cal = bl.self_calibrate(fit)

    draws = np.concatenate([probs for _, probs in fit.item_probability_draws()], axis=1)
    temperature = item_temperature(ann.labels_per_item, cal.correlation)
    tempered = temper(draws, temperature)
    soft = cal.soft_labels(ci_prob=0.9)
    np.testing.assert_allclose(soft.mean, tempered.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(soft.upper, np.maximum(np.quantile(tempered, 0.95, axis=0), soft.mean))
    assert not np.allclose(soft.mean, temper(draws.mean(axis=0), temperature))


def test_the_tempered_fit_records_r_in_its_provenance_and_keeps_it_when_saved(tmp_path):
    ann = bl.datasets.load("rte")
    fit = bl.fit(ann, method="em", use_gold=False)
    cal = bl.self_calibrate(fit)
    assert fit.self_calibration is None and cal.source is fit
    assert cal.fit.self_calibration["correlation"] == pytest.approx(cal.correlation)
    assert str(cal).startswith("self-calibration on 8000 held-out labels")

    out = cal.export(tmp_path / "soft.parquet")
    record = bl.read_provenance(out)
    assert record["self_calibration"]["correlation"] == pytest.approx(cal.correlation)
    assert "tempered by label count" in record["soft_label_meaning"]
    np.testing.assert_allclose(pd.read_parquet(out)["p_1"], cal.soft_labels().mean[:, 1])

    # new items are tempered by their own label counts: the fitted items again score the same
    np.testing.assert_allclose(cal.fit.predict(ann).mean, cal.soft_labels().mean, atol=1e-9)

    back = bl.load(cal.fit.save(tmp_path / "fit"))
    np.testing.assert_allclose(back.soft_labels().mean, cal.soft_labels().mean)
    again = bl.self_calibrate(cal.fit)  # recalibrated from the untempered fit, not tempered twice
    assert again.correlation == pytest.approx(cal.correlation)
    np.testing.assert_allclose(again.soft_labels().mean, cal.soft_labels().mean)


def test_bad_arguments_are_refused_clearly():
    fit = bl.fit(bl.datasets.load("rte"), method="em", use_gold=False)
    with pytest.raises(ValueError, match="folds must be an integer of at least 2"):
        bl.self_calibrate(fit, folds=1)
    with pytest.raises(bl.DataError, match="needs a Fit"):
        bl.self_calibrate(fit.soft_labels())
    single = bl.Annotations.from_frame(
        pd.DataFrame({"item": list("abcdefgh"), "annotator": ["x", "y"] * 4, "label": [0, 1] * 4})
    )
    with pytest.raises(bl.DataError, match="labels can be held out"):
        bl.self_calibrate(bl.fit(single, method="em"))


def test_the_command_line_self_calibrates_on_request(tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    sim = bl.simulate.dawid_skene(n_items=150, n_annotators=10, seed=4)
    sim.annotations.to_frame().to_csv(labels, index=False)
    out = tmp_path / "soft.csv"
    assert main(["fit", str(labels), "--method", "em", "--self-calibrate", "--out", str(out), "--quiet"]) == 0
    assert "self-calibration on" in capsys.readouterr().out
    assert "correlation" in bl.read_provenance(out)["self_calibration"]
    assert main(["fit", str(labels), "--self-calibrate", "--no-self-calibration", "--out", str(out)]) == 2
    assert "contradict" in capsys.readouterr().err
