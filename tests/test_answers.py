"""Right answers (issue 17): what the API and CLI compute must be what they claim, or say why not.

One class of failure per section: Beta–Bernoulli soft labels (exact, not a random draw), a fit's
gold provenance, interval weights of a point estimate, simulated gold, routing that spends its
budget or says why, quiet samplers, EM at low redundancy and annotators below chance.
"""

from __future__ import annotations

import hashlib
import json
import logging

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import betainc

import bayeslabels as bl
from bayeslabels.cli import main
from bayeslabels.diagnostics import overlap_per_annotator
from bayeslabels.export_io import SIDECAR_HASH_KEY
from bayeslabels.inference import QUIET_LOGGERS, _pymc_logging
from bayeslabels.models.beta_bernoulli import mixture_quantiles, positive_counts

# --------------------------------------------------------------------------- Beta–Bernoulli


def _rates_table() -> bl.Annotations:
    """Items with 0–3 positives of 4 labels, each count on two items; gold on two items."""
    rows = [(f"i{i}", f"a{j}", "pos" if j < i % 4 else "neg") for i in range(8) for j in range(4)]
    frame = pd.DataFrame(rows, columns=["item", "annotator", "label"])
    return bl.Annotations.from_frame(frame, gold=pd.Series({"i0": "neg", "i3": "pos"}))


@pytest.fixture(scope="module")
def rate_map() -> bl.Fit:
    return bl.fit(_rates_table(), model="beta-bernoulli", method="map", quiet=True)


def test_beta_bernoulli_map_soft_labels_are_the_exact_conjugate_posterior(rate_map):
    ann = rate_map.annotations
    alpha, beta = float(rate_map.draws("alpha")[0]), float(rate_map.draws("beta")[0])
    k, n = positive_counts(ann)
    soft = rate_map.soft_labels(ci_prob=0.8)
    exact = stats.beta(alpha + k, beta + n - k)
    np.testing.assert_allclose(soft.mean[:, 1], exact.mean(), rtol=1e-12)
    np.testing.assert_allclose(soft.lower[:, 1], exact.ppf(0.1), rtol=1e-10)
    np.testing.assert_allclose(soft.upper[:, 1], exact.ppf(0.9), rtol=1e-10)
    np.testing.assert_allclose(soft.lower[:, 0], 1 - exact.ppf(0.9), rtol=1e-10)
    assert soft.ci_prob == 0.8  # an interval of θ_i given the fitted (α, β), not a collapsed point
    frame = soft.to_frame().set_index("item").drop(columns="gold")
    for i in range(4):  # equal counts, equal soft labels
        pd.testing.assert_series_equal(frame.loc[f"i{i}"], frame.loc[f"i{i + 4}"], check_names=False)


def test_beta_bernoulli_fit_claims_no_gold_anchor_and_no_confusion_warnings(rate_map):
    assert rate_map.annotations.has_gold and not rate_map.used_gold  # gold is not in its likelihood
    assert rate_map.provenance(0.9)["used_gold"] is False
    assert not rate_map.soft_labels().anchored.any()
    text = " ".join(rate_map.check().warnings)
    assert "confusion" not in text and "EM disagree" not in text
    assert "anchored the fit" not in rate_map.summary()
    assert "below_chance" not in rate_map.annotators()  # no annotator confusion to be below chance


def test_mixture_quantiles_solve_the_mixture_cdf():
    a = np.array([[2.0, 30.0, 0.5], [9.0, 3.0, 0.7], [4.0, 4.0, 60.0]])
    b = np.array([[5.0, 2.0, 0.5], [1.5, 8.0, 9.0], [4.0, 1.0, 2.0]])
    for q in (0.05, 0.5, 0.95):
        x = mixture_quantiles(a, b, q)
        np.testing.assert_allclose(betainc(a, b, x).mean(axis=0), q, atol=1e-10)
        np.testing.assert_allclose(
            mixture_quantiles(a[:1], b[:1], q), stats.beta.ppf(q, a[0], b[0]), rtol=1e-12
        )


# --------------------------------------------------------------------------- gold provenance


def test_a_fit_without_gold_does_not_claim_gold_anchored_it(tmp_path, capsys):
    sim = bl.simulate.dawid_skene(n_items=60, n_annotators=6, seed=3)
    fit = bl.fit(sim.annotations, method="em")  # use_gold defaults to True, and there is no gold
    assert fit.used_gold is False and fit.provenance(0.9)["used_gold"] is False
    path = fit.export(tmp_path / "soft.csv")
    truth = sim.truth_frame().rename(columns={"true_class": "gold"})
    truth.to_csv(tmp_path / "gold.csv", index=False)
    assert main(["evaluate", str(path), "--gold", str(tmp_path / "gold.csv")]) == 0
    assert "anchor" not in capsys.readouterr().err


def test_evaluate_warns_about_gold_that_did_anchor_an_exported_fit(tmp_path, capsys):
    sim = bl.simulate.dawid_skene(n_items=60, n_annotators=6, gold_fraction=0.5, seed=3)
    fit = bl.fit(sim.annotations, method="em")
    path = fit.export(tmp_path / "soft.parquet")
    soft = bl.SoftLabels.read(path)
    np.testing.assert_array_equal(soft.anchored, sim.annotations.gold >= 0)  # from the provenance
    assert main(["evaluate", str(path)]) == 0
    err = capsys.readouterr().err
    assert f"{int((sim.annotations.gold >= 0).sum())} evaluated items had their gold fix" in err
    assert "--gold-use evaluate" in err and "use_gold" not in err


# --------------------------------------------------------------------------- interval weights


def test_interval_weight_of_a_point_estimate_export_is_refused_like_the_fit(tmp_path):
    fit = bl.fit(bl.simulate.dawid_skene(n_items=50, n_annotators=6, seed=1).annotations, method="em")
    path = fit.export(tmp_path / "soft.csv")
    assert bl.read_provenance(path)["ci_prob"] is None  # no intervals claimed
    frame = pd.read_csv(path, dtype={"item": str})
    for column in [c for c in frame if c.endswith(("_lo", "_hi"))]:  # a rewrite that drifted
        frame[column] = (frame[column] + (1e-9 if column.endswith("_hi") else -1e-9)).clip(0, 1)
    frame.to_csv(path, index=False)
    sidecar = path.with_name(path.name + ".json")  # rewritten with its provenance, which claims no interval
    record = json.loads(sidecar.read_text())
    record[SIDECAR_HASH_KEY] = hashlib.sha256(path.read_bytes()).hexdigest()
    sidecar.write_text(json.dumps(record))
    with pytest.raises(bl.DataError, match="point estimate") as from_fit:
        bl.to_training_frame(fit, weight="interval")
    with pytest.raises(bl.DataError, match="point estimate") as from_file:
        bl.to_training_frame(path, weight="interval")
    assert str(from_fit.value).split("(")[0] == str(from_file.value).split("(")[0]


# --------------------------------------------------------------------------- simulated gold


def test_simulate_gold_fraction_writes_the_gold_and_fit_reads_it(tmp_path, capsys):
    labels, truth = tmp_path / "labels.csv", tmp_path / "truth.csv"
    args = ["simulate", "--items", "80", "--annotators", "10", "--gold-fraction", "0.5"]
    assert main([*args, "--seed", "4", "--out", str(labels), "--truth", str(truth)]) == 0
    assert "'gold' column" in capsys.readouterr().out
    ann = bl.Annotations.from_csv(labels, gold="gold")
    known = ann.gold >= 0
    assert 20 < known.sum() < 60
    true_class = pd.read_csv(truth, dtype=str).set_index("item")["true_class"]
    gold = ann.gold_series()[known]
    assert (gold == true_class.reindex(gold.index)).all()  # the gold is the truth


# --------------------------------------------------------------------------- routing


@pytest.fixture(scope="module")
def routed_fit() -> bl.Fit:
    """160 items × 60 annotators: the same few annotators are the most informative for every item."""
    sim = bl.simulate.dawid_skene(n_items=160, n_annotators=60, labels_per_item=(3, 4), seed=5)
    return bl.fit(sim.annotations, method="em")


def test_route_spends_the_budget_across_annotators_when_one_cap_binds(routed_fit):
    plan = bl.route(routed_fit, budget=100, max_per_annotator=3)
    assert plan["cost"].sum() == 100 and plan.attrs["spent"] == 100
    assert plan.attrs["unspent_reason"] is None
    assert plan["assign_to"].value_counts().max() <= 3 and plan["assign_to"].nunique() >= 34
    assert not plan.duplicated(["item", "assign_to"]).any()


def test_route_says_which_cap_leaves_the_budget_unspent(routed_fit):
    capped = bl.route(routed_fit, budget=100, max_per_annotator=1)
    assert capped["cost"].sum() < 100
    assert "per-annotator cap" in capped.attrs["unspent_reason"]
    assert "max_per_annotator 1" in capped.attrs["unspent_reason"]
    few_items = bl.route(routed_fit, budget=1000, per_item=1)
    assert "per_item 1" in few_items.attrs["unspent_reason"]
    assert str(len(few_items)) in few_items.attrs["unspent_reason"]


def test_route_on_items_that_all_have_gold_is_empty_and_says_why(tmp_path, capsys):
    sim = bl.simulate.dawid_skene(n_items=40, n_annotators=6, gold_fraction=1.0, seed=2)
    held_out = bl.fit(sim.annotations, method="em", use_gold=False)
    plan = bl.route(held_out, budget=20)
    assert plan.empty and "every item has gold" in plan.attrs["unspent_reason"]
    assert "kept out of the fit" in plan.attrs["unspent_reason"]
    held_out.save(tmp_path / "fit")
    assert main(["route", str(tmp_path / "fit"), "--budget", "20", "--out", str(tmp_path / "plan.csv")]) == 0
    out, err = capsys.readouterr()
    assert "0 labels" in out and "()" not in out
    assert len(err.strip().splitlines()) == 1 and "every item has gold" in err


# --------------------------------------------------------------------------- quiet


def test_quiet_silences_pymc_and_sampler_loggers(capfd):
    with _pymc_logging(quiet=True):
        for name in QUIET_LOGGERS:
            logging.getLogger(name).warning("should not be seen")
        logging.getLogger("pymc.sampling.jax").info("Compiling...")
    assert "should not be seen" not in capfd.readouterr().err
    levels = [logging.getLogger(name).level for name in QUIET_LOGGERS]
    with _pymc_logging(quiet=False):
        assert [logging.getLogger(name).level for name in QUIET_LOGGERS] == levels


def test_quiet_map_prints_nothing(capfd):
    bl.fit(_rates_table(), model="beta-bernoulli", method="map", quiet=True)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["pymc", "numpyro", "blackjax"])
def test_quiet_pymc_samplers_print_nothing(sampler, capfd):
    if sampler != "pymc":
        pytest.importorskip(sampler)
    sim = bl.simulate.dawid_skene(n_items=30, n_annotators=4, labels_per_item=(2, 3), seed=0)
    bl.fit(sim.annotations, method="nuts", sampler=sampler, draws=20, tune=20, chains=1, quiet=True)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# --------------------------------------------------------------------------- EM and annotators


def test_em_at_low_redundancy_warns_with_the_remedy():
    thin = bl.simulate.dawid_skene(n_items=200, n_annotators=50, labels_per_item=(1, 2), seed=0).annotations
    shared = overlap_per_annotator(thin.item_idx, thin.annotator_idx, thin.n_annotators)
    assert np.median(shared) < 10
    warning = [w for w in bl.fit(thin, method="em").check().warnings if "low redundancy" in w]
    assert len(warning) == 1 and "method='map'" in warning[0] and "majority vote" in warning[0]
    single = bl.simulate.dawid_skene(n_items=100, n_annotators=20, labels_per_item=1, seed=0).annotations
    (alone,) = [w for w in bl.fit(single, method="em").check().warnings if "low redundancy" in w]
    assert "has 0 labels" in alone and "Use majority vote" in alone
    rich = bl.simulate.dawid_skene(n_items=500, n_annotators=20, labels_per_item=(1, 2), seed=0).annotations
    assert not any("low redundancy" in w for w in bl.fit(rich, method="em").check().warnings)


def test_the_remedy_beats_em_and_majority_vote_at_low_redundancy():
    accuracy = {"em": [], "majority vote": [], "bayesian prior": []}
    for seed in range(4):
        sim = bl.simulate.dawid_skene(n_items=200, n_annotators=50, labels_per_item=(1, 2), seed=seed)
        truth = sim.true_class
        accuracy["em"].append((bl.dawid_skene_em(sim.annotations).label == truth).mean())
        accuracy["majority vote"].append((bl.majority_vote(sim.annotations).label == truth).mean())
        remedy = bl.dawid_skene_em(sim.annotations, priors=bl.DawidSkenePriors())
        accuracy["bayesian prior"].append((remedy.label == truth).mean())
    mean = {name: float(np.mean(values)) for name, values in accuracy.items()}
    assert mean["em"] < mean["majority vote"] < mean["bayesian prior"], mean


def test_an_annotator_below_chance_is_flagged_with_its_interval():
    sim = bl.simulate.dawid_skene(n_items=300, n_annotators=10, labels_per_item=(3, 5), seed=1)
    frame = sim.annotations.to_frame()
    inverted = frame["annotator"] == "ann03"
    frame.loc[inverted, "label"] = frame.loc[inverted, "label"].map({"0": "1", "1": "0"})
    fit = bl.fit(bl.Annotations.from_frame(frame), method="em")
    table = fit.annotators().set_index("annotator")
    assert table["below_chance"].tolist().count(True) == 1 and table.loc["ann03", "below_chance"]
    row = table.loc["ann03"]
    assert row["balanced_accuracy_lo"] <= row["balanced_accuracy"] <= row["balanced_accuracy_hi"] < 0.5
    assert table.loc[sim.annotations.annotators[sim.is_spammer], "below_chance"].eq(False).all()
    (warning,) = [w for w in fit.check().warnings if "below chance" in w]
    assert "'ann03'" in warning and "1 of 10" in warning


def test_provenance_is_json_with_null_ci_prob_for_a_point_estimate(tmp_path):
    fit = bl.fit(bl.simulate.dawid_skene(n_items=30, n_annotators=6, seed=0).annotations, method="em")
    path = fit.export(tmp_path / "soft.jsonl")
    record = json.loads((tmp_path / "soft.jsonl.json").read_text())
    assert record["ci_prob"] is None and bl.SoftLabels.read(path).is_point_estimate
