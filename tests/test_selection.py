"""compare_models: fits of the same labels side by side on PSIS-LOO (Pareto k shown), the
posterior predictive check and held-out gold, with a recommendation that follows its rule."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayeslabels as bl
from bayeslabels.selection import SCREEN_THRESHOLDS, _recommend


def test_a_sampled_fit_is_compared_by_loo_and_a_point_estimate_without_it(nuts_fit, em_fit):
    comparison = bl.compare_models({"ds-nuts": nuts_fit, "ds-em": em_fit})
    table = comparison.table.set_index("model")
    assert list(comparison.table["model"]) == ["ds-nuts", "ds-em"]  # best elpd first, NaN last
    assert np.isfinite(table.loc["ds-nuts", ["elpd_loo", "se", "p_loo"]].astype(float)).all()
    assert np.isnan(table.loc["ds-em", "elpd_loo"])
    assert table.loc["ds-nuts", "pareto_k_bad"] >= 0
    assert comparison.recommended == "ds-nuts" and "elpd_loo" in comparison.reason
    assert set(comparison.checks) == {"ds-nuts", "ds-em"}
    assert "recommended: ds-nuts" in str(comparison)
    json.dumps(comparison.to_dict())


def test_gold_held_out_of_the_fit_is_scored_with_intervals():
    ann = bl.datasets.load("bluebirds")
    comparison = bl.compare_models(
        {"held-out": bl.fit(ann, method="em", use_gold=False), "anchored": bl.fit(ann, method="em")}
    )
    table = comparison.table.set_index("model")
    row = table.loc["held-out"]
    assert row["gold_accuracy_lo"] <= row["gold_accuracy"] <= row["gold_accuracy_hi"]
    assert 0 <= row["gold_ece"] <= 1 and row["gold_log_loss"] > 0
    assert np.isnan(table.loc["anchored", "gold_accuracy"])  # gold it was fitted on is not a test


def test_the_recommendation_prefers_fewer_misfits_among_models_within_two_standard_errors():
    table = pd.DataFrame(
        {
            "model": ["a", "b", "c"],
            "elpd_loo": [-100.0, -103.0, -140.0],
            "elpd_diff": [0.0, -3.0, -40.0],  # signed, as ArviZ 1.x reports it
            "dse": [0.0, 2.0, 5.0],
            "misfits": [3, 0, 0],
            "pareto_k_bad": [0, 2, 0],
        }
    )
    chosen, reason = _recommend(table)
    assert chosen == "b"  # within 2·dse of the best, and fits the predictive check
    assert "2 items with Pareto k" in reason
    table.loc[1, "dse"] = 1.0  # now b is 3 SE behind: the best elpd wins despite its misfits
    assert _recommend(table)[0] == "a"


def _with_posterior(fit: bl.Fit, **values: np.ndarray) -> bl.Fit:
    """``fit`` with the named posterior variables replaced by ``values`` (same dims)."""
    posterior = fit.posterior["posterior"].to_dataset()
    groups = {name: node.to_dataset() for name, node in fit.posterior.children.items()}
    groups["posterior"] = posterior.assign({name: (posterior[name].dims, v) for name, v in values.items()})
    return replace(fit, posterior=xr.DataTree.from_dict(groups))


def _switched_within_chain_0(fit: bl.Fit) -> bl.Fit:
    """``fit`` with the true classes of chain 0 rotated from the middle of the chain on: the
    confusion's rows and the prevalence permuted together, the labels' meaning kept (what a
    sampler that crossed to another labelling of the classes would draw)."""
    posterior = fit.posterior["posterior"]
    k = posterior.sizes["true_class"]
    flip = np.roll(np.arange(k), 1)
    half = posterior.sizes["draw"] // 2
    confusion = posterior["confusion"].values.copy()  # chain, draw, annotator, true, label
    prevalence = posterior["prevalence"].values.copy()
    confusion[0, half:] = confusion[0, half:][:, :, flip]
    prevalence[0, half:] = prevalence[0, half:][:, flip]
    return _with_posterior(fit, confusion=confusion, prevalence=prevalence)


def test_a_candidate_whose_classes_switch_within_a_chain_is_not_recommended(nuts_fit):
    switched = _switched_within_chain_0(nuts_fit)

    comparison = bl.compare_models({"switched": switched, "ds": nuts_fit})
    table = comparison.table.set_index("model")
    assert table.loc["ds", "draws"] == nuts_fit.sampling.draws
    assert table.loc["ds", "converged"] and not table.loc["switched", "converged"]
    assert "switch within chain" in table.loc["switched", "convergence"]
    assert comparison.recommended == "ds"
    assert "set aside as not converged: switched" in comparison.reason
    alone = bl.compare_models({"switched": switched})
    assert alone.recommended == "switched" and "no candidate converged" in alone.reason


def test_a_screen_that_missed_on_r_hat_alone_is_lengthened_and_a_switched_one_is_not(nuts_fit, em_fit):
    """`model="auto"` continues a candidate's chains to twice the draws where more draws can
    help: R-hat or ESS missed `SCREEN_THRESHOLDS`, nothing else (label switching needs another
    remedy)."""

    def screen_needs_more(fit: bl.Fit) -> bool:  # what `fit(check_thresholds=...)` samples on
        return fit.check(SCREEN_THRESHOLDS, predictive=False).needs_more_draws

    prevalence = nuts_fit.posterior["posterior"]["prevalence"].values.copy()
    prevalence[0, :, 0] += 0.08  # chain 0 sits apart on one direction of the simplex: R-hat only
    prevalence[0, :, 1] -= 0.08
    apart = _with_posterior(nuts_fit, prevalence=prevalence)
    report = apart.check(SCREEN_THRESHOLDS, predictive=False)
    assert report.max_rhat > SCREEN_THRESHOLDS.max_rhat and not any(c.switched for c in report.chains)
    assert screen_needs_more(apart)
    assert not screen_needs_more(nuts_fit)  # converged
    assert not screen_needs_more(_switched_within_chain_0(nuts_fit))
    assert not screen_needs_more(em_fit)  # a point estimate has no draws to add


def test_fits_of_other_labels_are_refused(em_fit):
    other = bl.fit(bl.datasets.load("anesthesia"), method="em")
    with pytest.raises(bl.DataError, match="other labels"):
        bl.compare_models({"a": em_fit, "b": other})
    with pytest.raises(bl.DataError, match="at least one fit"):
        bl.compare_models({})
    with pytest.raises(bl.DataError, match="not a Fit"):
        bl.compare_models({"a": "dawid-skene"})
    with pytest.raises(bl.DataError, match="is a SelfCalibration, not a Fit from bl.fit: pass its .fit"):
        bl.compare_models({"a": bl.self_calibrate(em_fit)})


def test_auto_candidates_are_the_registered_families_that_fit_the_data(small_sim, subtype_sim):
    from bayeslabels.fitting import auto_candidates

    plain = auto_candidates(small_sim.annotations)
    assert {"dawid-skene", "one-coin", "hierarchical", "mace", "ambiguity", "item-difficulty"} <= set(plain)
    assert "beta-bernoulli" not in plain and "hierarchical-subtype" not in plain
    assert "hierarchical-subtype" in auto_candidates(subtype_sim.annotations)


def test_model_auto_screens_the_candidates_and_keeps_the_comparison(nuts_fit, small_sim, tmp_path):
    """Two candidates screened, the recommended one fitted in full (2 × 600 iterations: nutpie)."""
    from bayeslabels.fitting import auto_fit

    fit, comparison = auto_fit(
        small_sim.annotations,
        candidates=["dawid-skene", "one-coin"],
        seed=0,
        quiet=True,
        final_settings={"draws": 300, "tune": 300, "chains": 2},
    )
    assert set(comparison.table["model"]) == {"dawid-skene", "one-coin"}
    assert comparison.table["elpd_loo"].notna().all()
    assert fit.spec.model == comparison.recommended
    selection = dict(fit.model_selection)
    calibrated = selection.pop("self_calibration")  # self-calibrated by default (no gold)
    # one full fit: the recommended family's, which mixed (it is returned)
    [final] = selection.pop("final_fits")
    assert final["model"] == comparison.recommended and final["passed_screen_bar"]
    assert selection == comparison.to_dict()
    assert calibrated == fit.self_calibration and 0 <= calibrated["correlation"] <= 1
    out = fit.export(tmp_path / "soft.parquet", allow_failed_check=True)
    record = bl.read_provenance(out)
    recorded = record["model_selection"]
    assert recorded["recommended"] == comparison.recommended and len(recorded["models"]) == 2
    assert record["self_calibration"]["correlation"] == calibrated["correlation"]


def test_a_final_fit_that_has_not_mixed_gives_way_to_the_next_recommended_family(em_fit, small_sim):
    """2 chains × 30 draws cannot reach the screen's ESS 100: the recommended family's full fit
    is set aside for the one recommended among the other screens; where none mixes, the first
    is returned, and every full fit is on the record."""
    from bayeslabels.fitting import _final_fit

    screens = {"dawid-skene": em_fit, "one-coin": em_fit}
    settings = {"draws": 30, "tune": 30, "chains": 2, "seed": 0, "quiet": True}
    chosen, records = _final_fit(small_sim.annotations, screens, "dawid-skene", settings)
    assert [r["model"] for r in records] == ["dawid-skene", "one-coin"]
    assert not any(r["passed_screen_bar"] for r in records)
    assert all(r["min_ess_bulk"] < SCREEN_THRESHOLDS.min_ess for r in records)
    assert chosen.spec.model == "dawid-skene" and chosen.sampling.draws == 30
    assert records[0]["verdict"] == chosen.check(predictive=False).verdict
    json.dumps(records)  # provenance-ready


@pytest.mark.slow
def test_on_dawid_skene_data_model_auto_picks_a_dawid_skene_family():
    sim = bl.simulate.dawid_skene(n_items=400, n_annotators=15, n_classes=3, labels_per_item=(3, 6), seed=11)
    fit = bl.fit(sim.annotations, model="auto", seed=0, quiet=True)
    assert fit.spec.model in {"dawid-skene", "one-coin", "hierarchical", "mace"}, fit.model_selection


def test_the_command_line_says_which_full_fit_was_kept_and_why():
    from bayeslabels.cli import _selection_text

    row = {"model": "item-difficulty", "elpd_loo": -10.0, "se": 1.0, "pareto_k_bad": 0, "misfits": 0}
    selection = {
        "models": [row, {**row, "model": "dawid-skene", "elpd_loo": -12.0}],
        "recommended": "item-difficulty",
        "reason": "best elpd",
        "final_fits": [
            {"model": "item-difficulty", "passed_screen_bar": False, "verdict": "NOT converged: R-hat 1.3"},
            {"model": "dawid-skene", "passed_screen_bar": True, "verdict": "converged"},
        ],
        "self_calibration": None,
    }
    text = _selection_text(selection)
    assert "full fit of item-difficulty: NOT converged: R-hat 1.3 — has not mixed" in text
    assert text.splitlines()[-2] == "kept: dawid-skene"
    one = {**selection, "final_fits": [selection["final_fits"][1]]}
    assert "kept:" not in _selection_text(one)  # one full fit that mixed: nothing more to say
