"""The command line as a user runs it: a real subprocess, a labels file in, a file out."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import bayeslabels as bl


def _run(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "bayeslabels.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


def test_simulate_then_fit_with_em_writes_soft_labels_with_provenance(tmp_path):
    done = _run(
        "simulate",
        "--items",
        150,
        "--annotators",
        10,
        "--classes",
        3,
        "--gold-fraction",
        0.2,
        "--out",
        "labels.csv",
        "--truth",
        "truth.csv",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    truth = pd.read_csv(tmp_path / "truth.csv", dtype=str)
    labels = pd.read_csv(tmp_path / "labels.csv", dtype=str)
    gold = truth.sample(30, random_state=0).rename(columns={"true_class": "gold"})
    gold.to_csv(tmp_path / "gold.csv", index=False)

    done = _run(
        "fit", "labels.csv", "--gold", "gold.csv", "--method", "em", "--out", "soft.parquet", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "150 items" in done.stdout and "point estimate" in done.stdout
    soft = pd.read_parquet(tmp_path / "soft.parquet")
    assert soft["item"].tolist() == list(pd.unique(labels["item"]))
    assert bl.read_provenance(tmp_path / "soft.parquet")["method"] == "em"


def test_help_shows_an_example(tmp_path):
    done = _run("fit", "--help", cwd=tmp_path)
    assert done.returncode == 0
    assert "bayeslabels fit labels.csv --gold gold.csv" in done.stdout


def test_errors_are_one_line_and_exit_2(tmp_path):
    (tmp_path / "labels.csv").write_text("item,annotator,label\na,x,1\nb,x,1\n")
    for args in (("fit", "missing.csv"), ("fit", "labels.csv", "--method", "em"), ("fit", "--model")):
        done = _run(*args, cwd=tmp_path)
        assert done.returncode == 2, args
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("bayeslabels: error:"), done.stderr
        assert "Traceback" not in done.stderr


def test_check_and_export_a_saved_fit(nuts_fit, tmp_path, capsys):
    from dataclasses import replace

    from bayeslabels.cli import main

    good = nuts_fit.save(tmp_path / "good")
    bad = replace(nuts_fit, posterior=nuts_fit.posterior.isel(draw=slice(0, 40))).save(tmp_path / "bad")

    assert main(["check", str(good)]) == 0
    assert "converged" in capsys.readouterr().out

    assert main(["check", str(bad)]) == 1
    assert "NOT converged" in capsys.readouterr().out

    assert main(["export", str(bad), "--out", str(tmp_path / "soft.parquet")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ESS" in err and "--allow-failed-check" in err
    assert not (tmp_path / "soft.parquet").exists()

    assert main(["export", str(bad), "--out", str(tmp_path / "soft.parquet"), "--allow-failed-check"]) == 0
    assert bl.read_provenance(tmp_path / "soft.parquet")["allow_failed_check"] is True
    assert main(["export", str(good), "--out", str(tmp_path / "good.csv")]) == 0

    # route on a fit that failed its check runs, with a one-line caveat
    assert main(["route", str(bad), "--budget", "10", "--out", str(tmp_path / "plan.csv")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bayeslabels: warning: the fit in")
    assert "failed its convergence check" in err and f"bayeslabels check {bad}" in err
    assert main(["route", str(good), "--budget", "10", "--out", str(tmp_path / "plan.csv")]) == 0
    assert capsys.readouterr().err == ""


def test_check_of_a_directory_that_is_not_a_fit_is_one_line_exit_2(tmp_path, capsys):
    from bayeslabels.cli import main

    assert main(["check", str(tmp_path)]) == 2
    assert "manifest.json" in capsys.readouterr().err


@pytest.mark.slow
def test_fit_hierarchical_subtype_by_advi_from_the_command_line(tmp_path, capsys):
    from bayeslabels.cli import main

    sim = bl.simulate.dawid_skene(
        n_items=120, n_annotators=8, n_classes=2, n_subtypes=2, labels_per_item=(3, 4)
    )
    sim.annotations.to_frame().to_csv(tmp_path / "labels.csv", index=False)
    code = main(
        [
            "fit",
            str(tmp_path / "labels.csv"),
            "--model",
            "hierarchical-subtype",
            "--method",
            "advi",
            "--draws",
            "300",
            "--quiet",
            "--out",
            str(tmp_path / "soft.parquet"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "variational approximation, converged" in out
    soft = pd.read_parquet(tmp_path / "soft.parquet")
    assert len(soft) == 120 and set(soft["subtype"]) == {"s0", "s1"}
    assert bl.read_provenance(tmp_path / "soft.parquet")["model"]["model"] == "hierarchical-subtype"


def test_fit_takes_the_nuts_target_acceptance_and_refuses_one_outside_0_1(tmp_path, capsys):
    from bayeslabels.cli import main

    sim = bl.simulate.dawid_skene(n_items=60, n_annotators=6, n_classes=2, seed=2)
    sim.annotations.to_frame().to_csv(tmp_path / "labels.csv", index=False)
    common = ["fit", str(tmp_path / "labels.csv"), "--method", "em", "--quiet"]
    with pytest.raises(SystemExit) as refused:  # by the option's own check, before anything runs
        main([*common, "--target-accept", "1.5", "--out", str(tmp_path / "a.parquet")])
    assert refused.value.code == 2
    assert "--target-accept: must be above 0 and below 1, got 1.5" in capsys.readouterr().err
    assert main([*common, "--target-accept", "0.9", "--save", str(tmp_path / "fit")]) == 0
    assert bl.load(tmp_path / "fit").spec.inference.target_accept == 0.9
