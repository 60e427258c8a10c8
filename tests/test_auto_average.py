"""``--model auto`` exports the equal average of the candidates whose full fit converged.

Two candidates on the session's small simulated set (the session NUTS fit's worker: Dawid–Skene
is compiled there already), short full fits; the tests are about the rule and the wiring, the
averaging arithmetic is in test_averaging.py.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import bayeslabels as bl
from bayeslabels.cli import _selection_text, main
from bayeslabels.diagnostics import ConvergenceReport
from bayeslabels.fitting import worth_a_full_fit

CANDIDATES = ["dawid-skene", "one-coin"]
FULL = {"draws": 1000, "tune": 500, "chains": 2}


@pytest.fixture(scope="module")
def averaged(nuts_fit, small_sim) -> bl.FamilyAverage:
    return bl.auto_average(
        small_sim.annotations, candidates=CANDIDATES, use_gold=False, seed=0, quiet=True, final_settings=FULL
    )


def test_every_candidate_that_mixed_is_fitted_in_full_and_the_converged_ones_are_averaged(averaged):
    selection = averaged.model_selection
    assert selection is not None
    assert {row["model"] for row in selection["models"]} == set(CANDIDATES)  # the screen's table
    full = {record["model"]: record for record in selection["final_fits"]}
    assert set(full) == set(selection["fitted_in_full"]) and set(full) <= set(CANDIDATES)
    converged = [name for name, record in full.items() if record["verdict"] == "converged"]
    assert selection["averaged"] == (converged or list(full))
    assert list(averaged.fits) == list(full)  # every full fit is kept; the unconverged weigh 0
    assert averaged.weights == {
        name: float(name in selection["averaged"]) / len(selection["averaged"]) for name in full
    }
    for name, member in averaged.fits.items():
        assert member.spec.model == name and member.sampling.draws == FULL["draws"]
        assert member.self_calibration == selection["self_calibration"][name]  # tempered, no gold
    json.dumps(selection)  # provenance-ready


def test_the_soft_label_is_the_mean_of_the_members_and_recovers_the_truth(averaged, small_sim):
    soft = averaged.soft_labels(ci_prob=0.9)
    kept = averaged.model_selection["averaged"]
    members = np.mean([averaged.fits[name].soft_labels().mean for name in kept], axis=0)
    np.testing.assert_allclose(soft.mean, members, atol=1e-12)
    assert soft.ci_prob == 0.9 and (soft.lower <= soft.mean).all() and (soft.mean <= soft.upper).all()
    accuracy = (soft.mean.argmax(axis=1) == small_sim.true_class).mean()
    assert accuracy > 0.8, accuracy  # simulated with known truth; EM gets ~0.9 here


def test_the_export_records_every_member_and_the_comparison(averaged, tmp_path):
    path = averaged.export(tmp_path / "soft.parquet")
    record = bl.read_provenance(path)
    kept = averaged.model_selection["averaged"]
    assert [member["name"] for member in record["averaged"]] == kept == record["model_selection"]["averaged"]
    assert all(member["convergence"]["ok"] for member in record["averaged"])
    frame = pd.read_parquet(path)
    assert list(frame["item"]) == list(averaged.annotations.items)  # every item, in order


def test_a_saved_average_loads_with_the_same_soft_labels(averaged, tmp_path):
    directory = averaged.save(tmp_path / "average")
    assert {p.name for p in directory.iterdir()} == {*averaged.fits, "average.json"}
    again = bl.FamilyAverage.load(directory)
    assert again.weights == averaged.weights and again.model_selection == averaged.model_selection
    np.testing.assert_allclose(again.soft_labels().mean, averaged.soft_labels().mean, atol=1e-12)
    with pytest.raises(bl.DataError, match="not a saved average"):
        averaged.save(tmp_path)  # holds other things


def test_the_average_is_calibrated_on_gold_draw_by_draw(averaged, small_sim):
    gold = np.where(np.arange(small_sim.annotations.n_items) % 2 == 0, small_sim.true_class, -1)
    calibration = bl.calibrate(averaged, gold, method="temperature")
    soft = calibration.soft_labels()
    assert soft.ci_prob == 0.9 and (soft.lower <= soft.mean).all() and (soft.mean <= soft.upper).all()
    np.testing.assert_array_equal(soft.mean.argmax(axis=1), averaged.soft_labels().mean.argmax(axis=1))
    assert calibration.provenance()["averaged"][0]["name"] == next(iter(averaged.fits))
    # named no map, the average gets the top-label map (its members are self-calibrated already)
    default = bl.calibrate(averaged, gold)
    assert (
        default.method == "top-label" and default.provenance()["calibration"]["map"]["method"] == "top-label"
    )


def test_the_command_line_exports_and_saves_the_average(averaged, small_sim, tmp_path, capsys):
    """The same candidates and settings from the command line (compiled models re-used)."""
    labels = tmp_path / "labels.csv"
    small_sim.annotations.to_frame().to_csv(labels, index=False)
    out, saved = tmp_path / "soft.parquet", tmp_path / "fits"
    args = ["fit", str(labels), "--model", "auto", "--candidates", ",".join(CANDIDATES), "--seed", "0"]
    args += [
        "--draws",
        "1000",
        "--tune",
        "500",
        "--chains",
        "2",
        "--quiet",
        "--save",
        str(saved),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    said = capsys.readouterr().out
    assert (
        f"exported: {averaged.model_selection['rule']}: {', '.join(averaged.model_selection['averaged'])}"
        in said
    )
    assert f"saved the averaged fits to {saved}/<family>" in said
    record = bl.read_provenance(out)
    assert [member["name"] for member in record["averaged"]] == averaged.model_selection["averaged"]
    columns = [f"p_{c}" for c in small_sim.annotations.classes]
    np.testing.assert_allclose(
        pd.read_parquet(out)[columns].to_numpy(), averaged.soft_labels().mean, atol=1e-6
    )
    assert bl.FamilyAverage.load(saved).weights == averaged.weights
    converged = [r["model"] for r in averaged.model_selection["final_fits"] if r["verdict"] == "converged"]
    assert main(["check", str(saved)]) == (0 if converged else 1)  # every averaged member's check
    assert "== dawid-skene (" in capsys.readouterr().out
    again = tmp_path / "again.parquet"
    assert main(["export", str(saved), "--out", str(again)]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(again), pd.read_parquet(out))
    assert main(["route", str(saved), "--budget", "5", "--out", str(tmp_path / "plan.csv")]) == 2
    assert f"give one of them ({saved}/dawid-skene" in capsys.readouterr().err


def _screen(**changes) -> ConvergenceReport:
    """A screen's report: 2 chains × 1000 draws, one item's tail ESS a little short."""
    report = {
        "ok": False,
        "point_estimate": False,
        "max_rhat": 1.03,
        "min_ess_bulk": 190.0,
        "min_ess_tail": 94.0,
        "divergences": 0,
        "bfmi": (1.0, 1.0),
        "n_chains": 2,
        "n_draws": 1000,
        "reasons": ("min tail ESS 94 < 100",),
    }
    return ConvergenceReport(**(report | changes))


def test_a_screen_a_few_draws_short_earns_a_full_fit_one_far_from_mixing_does_not():
    full = 4 * 4000  # the shipped specs: 4 chains, up to 4000 draws each
    assert worth_a_full_fit(_screen(ok=True, reasons=()), full)
    assert worth_a_full_fit(_screen(), full)  # tail ESS 94 × 8 = 752 ≥ 400 within the full fit's draws
    assert not worth_a_full_fit(_screen(), 4 * 1000)  # 188: not even the full fit would get there
    assert not worth_a_full_fit(_screen(max_rhat=1.2, reasons=("max R-hat 1.2 > 1.05",)), full)
    diverging = _screen(divergences=40, reasons=("40 divergent transitions > 10",))
    assert not worth_a_full_fit(diverging, full)  # more draws do not cure divergences


def test_full_fits_already_made_are_used_instead_of_fitting_again(averaged, small_sim, em_fit):
    from bayeslabels.self_calibration import untempered

    made = {name: untempered(member) for name, member in averaged.fits.items()}
    again = bl.auto_average(
        small_sim.annotations, candidates=CANDIDATES, use_gold=False, seed=0, quiet=True, full_fits=made
    )
    np.testing.assert_allclose(again.soft_labels().mean, averaged.soft_labels().mean, atol=1e-12)
    with pytest.raises(bl.DataError, match="'one-coin' is a fit of model 'dawid-skene'"):
        bl.auto_average(
            small_sim.annotations, candidates=CANDIDATES, use_gold=False, full_fits={"one-coin": em_fit}
        )


def test_candidates_outside_model_auto_or_unknown_are_one_line_errors(tmp_path, capsys):
    common = ["fit", "--dataset", "bluebirds", "--out", str(tmp_path / "soft.parquet")]
    assert main([*common, "--candidates", "dawid-skene"]) == 2
    assert "add --model auto" in capsys.readouterr().err
    assert main([*common, "--model", "auto", "--candidates", "dawid-skene,no-such"]) == 2
    err = capsys.readouterr().err
    assert "unknown families ['no-such']" in err and len(err.strip().splitlines()) == 1


def test_the_command_line_names_the_recommendation_the_full_fits_and_the_members():
    row = {"model": "item-difficulty", "elpd_loo": -10.0, "se": 1.0, "pareto_k_bad": 0, "misfits": 0}
    calibrated = {"n_held_out_labels": 100, "correlation": 0.1}
    selection = {
        "models": [row, {**row, "model": "dawid-skene", "elpd_loo": -12.0}],
        "recommended": "item-difficulty",
        "reason": "best elpd",
        "rule": "equal average of the candidates whose full fit converged",
        "final_fits": [
            {"model": "item-difficulty", "passed_screen_bar": True, "verdict": "NOT converged: R-hat 1.02"},
            {"model": "dawid-skene", "passed_screen_bar": True, "verdict": "converged"},
        ],
        "averaged": ["dawid-skene"],
        "self_calibration": {"dawid-skene": calibrated},
    }
    lines = _selection_text(selection).splitlines()
    assert "LOO and the predictive checks recommend: item-difficulty (best elpd)" in lines
    assert "  full fit of item-difficulty: NOT converged: R-hat 1.02" in lines
    assert "exported: equal average of the candidates whose full fit converged: dawid-skene" in lines
    skipped = {**selection, "models": [*selection["models"], {**row, "model": "mace"}]}
    assert "  mace: not fitted in full (its screen did not mix, nor come close)" in _selection_text(skipped)
    assert lines[-1] == (
        "self-calibrated on 100 held-out labels, temperature T(n) = 1 + (n - 1) r; "
        "intra-item correlation r: dawid-skene 0.100"
    )
