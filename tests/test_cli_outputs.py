"""The command line's manners: options checked before the fit, outputs where and as asked,
messages in the user's terms. EM fits only (no compile)."""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayeslabels as bl
from bayeslabels import cli
from bayeslabels.cli import cli_terms, main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def labels(tmp_path_factory) -> Path:
    """120 simulated items with two subtypes and label times, as a CSV with columns named
    otherwise than the defaults' subtype / timestamp."""
    sim = bl.simulate.dawid_skene(n_items=120, n_annotators=8, n_classes=2, n_subtypes=2, seed=3)
    frame = sim.annotations.to_frame().rename(columns={"subtype": "grp"})
    frame["when"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(len(frame)), unit="min")
    path = tmp_path_factory.mktemp("cli") / "labels.csv"
    frame.to_csv(path, index=False)
    return path


def _fit(labels: Path, *options: object) -> list[str]:
    return ["fit", str(labels), "--method", "em", *map(str, options)]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bayeslabels: error: "), err
    return err


# --------------------------------------------------------------------------- checked before the fit


@pytest.mark.parametrize(
    "options, message",
    [
        (
            ["--out", "soft.xlsx"],
            "--out soft.xlsx: cannot export to .xlsx; use .parquet, .csv, .tsv or .jsonl",
        ),
        (["--out", "soft.parquet.gz"], "Parquet compresses itself"),
        (["--ci-prob", "1.5"], "--ci-prob must lie strictly between 0 and 1, got 1.5"),
        (["--save", "a_file.txt"], "--save a_file.txt: exists and is not a directory"),
        (["--save", "notes"], "--save notes: exists and is not a saved fit"),
        (["--out", "a_file.txt/soft.csv"], "a_file.txt is a file, not a directory"),
        (["--save", "a_file.txt/fit"], "a_file.txt is a file, not a directory"),
    ],
)
def test_outputs_and_ci_prob_are_refused_before_the_fit_runs(
    labels, tmp_path, monkeypatch, capsys, options, message
):
    import bayeslabels.fitting

    def no_fit(*args, **kwargs):
        raise AssertionError("the fit ran before the options were checked")

    monkeypatch.setattr(bayeslabels.fitting, "fit", no_fit)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file.txt").write_text("x")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("keep")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(_fit(labels, *options)) == 2
    assert message in _one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


def test_the_readmes_first_command_creates_the_missing_directories(labels, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(_fit(labels, "--save", "runs/fit-01", "--out", "out/em/soft.parquet")) == 0
    assert bl.load(tmp_path / "runs" / "fit-01").method == "em"
    assert len(pd.read_parquet(tmp_path / "out" / "em" / "soft.parquet")) == 120
    out = capsys.readouterr().out
    assert "saved the fit to runs/fit-01" in out and "wrote out/em/soft.parquet (120 items)" in out


def test_compressed_and_tab_separated_outputs_are_what_their_names_say(labels, tmp_path, capsys):
    for name in ("soft.csv.gz", "soft.tsv", "soft.jsonl.bz2"):
        assert main(_fit(labels, "--out", tmp_path / name)) == 0, capsys.readouterr().err
    with gzip.open(tmp_path / "soft.csv.gz", "rt") as stream:
        assert stream.readline().startswith("item,label,p_0,")
    assert (tmp_path / "soft.tsv").read_text().splitlines()[0].startswith("item\tlabel\tp_0\t")
    for name in ("soft.csv.gz", "soft.tsv", "soft.jsonl.bz2"):
        soft = bl.SoftLabels.read(tmp_path / name)
        assert soft.n_items == 120 and bl.read_provenance(tmp_path / name)["method"] == "em"


def test_a_reader_that_goes_away_does_not_lose_the_output_file(labels, tmp_path):
    """``bayeslabels fit … | head -1``: the file is written, the command exits quietly."""
    command = [sys.executable, "-m", "bayeslabels.cli", *_fit(labels, "--out", tmp_path / "soft.csv")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    process.stdout.close()  # the reader is gone before the first line: every write meets a broken pipe
    err = process.stderr.read().decode()
    assert process.wait() == 0 and err == "", err
    assert len(pd.read_csv(tmp_path / "soft.csv")) == 120


def test_pipe_semantics_in_process(labels, tmp_path, capsys):
    """The same through `main` with a stdout whose reader is gone."""

    class Gone:
        def write(self, text):
            raise BrokenPipeError

        def flush(self):
            raise BrokenPipeError

        def fileno(self):
            return devnull.fileno()

    with open("/dev/null", "w") as devnull:
        real = sys.stdout
        sys.stdout = Gone()
        try:
            code = main(_fit(labels, "--out", tmp_path / "soft.parquet"))
        finally:
            sys.stdout = real
    assert code == 0 and len(pd.read_parquet(tmp_path / "soft.parquet")) == 120


# --------------------------------------------------------------------------- options


def test_version():
    done = subprocess.run(
        [sys.executable, "-m", "bayeslabels.cli", "--version"], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 0 and done.stdout.strip() == f"bayeslabels {bl.__version__}"


def test_every_option_of_every_command_has_help():
    parser = cli._parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    missing = [
        f"{name} {action.option_strings[0]}"
        for name, command in commands.items()
        for action in command._actions
        if action.option_strings and not action.help and action.dest != "help"
    ]
    assert missing == []


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--draws", "0", "argument --draws: must be positive, got 0"),
        ("--chains", "-1", "argument --chains: must be positive, got -1"),
        ("--tune", "-5", "argument --tune: must be at least 0, got -5"),
        ("--seed", "x", "argument --seed: must be a whole number, got 'x'"),
        ("--target-accept", "1", "argument --target-accept: must be above 0 and below 1, got 1"),
    ],
)
def test_numeric_options_say_their_range(labels, capsys, option, value, message):
    with pytest.raises(SystemExit) as stopped:
        main(_fit(labels, option, value))
    assert stopped.value.code == 2 and message in _one_line_error(capsys)


def test_subtype_and_timestamp_columns_by_name(labels, tmp_path, capsys):
    args = _fit(labels, "--subtype-col", "grp", "--timestamp-col", "when", "--save", str(tmp_path / "fit"))
    assert main([*args, "--out", str(tmp_path / "soft.parquet")]) == 0, capsys.readouterr().err
    loaded = bl.load(tmp_path / "fit")
    assert list(loaded.annotations.subtypes) == ["s0", "s1"] and loaded.annotations.timestamp is not None
    assert set(pd.read_parquet(tmp_path / "soft.parquet")["subtype"]) == {"s0", "s1"}


def test_the_ingest_summary_is_printed_once(labels, tmp_path, capsys):
    assert main(_fit(labels, "--out", tmp_path / "soft.parquet")) == 0
    out = capsys.readouterr().out
    assert out.count("120 items") == 2  # the data line, and the line of the file written
    assert out.count("labels, 120 items") == 1


# --------------------------------------------------------------------------- messages in CLI terms


@pytest.mark.parametrize(
    "library, command",
    [
        ("use model='dawid-skene' or 'hierarchical'", "use --model dawid-skene or 'hierarchical'"),
        ("(or name yours with subtype=...)", "(or name yours with --subtype-col ...)"),
        ("ci_prob must lie in (0, 1)", "--ci-prob must lie in (0, 1)"),
        ("spec.toml: inference.draws must be", "spec.toml: inference.draws must be"),  # the file's key
        ("pass allow_failed_check=True (recorded)", "pass --allow-failed-check (recorded)"),
        (
            "name yours with item=..., annotator=..., label=...",
            "name yours with --item-col, --annotator-col, --label-col",
        ),
        ("try sampler='nutpie'", "try --sampler nutpie"),
        ("a saved fit is loaded with bl.load(dir)", "bayeslabels check DIR"),
        ("keep them with gold_only='keep'", "keep them with --gold-only keep"),
        ("a model_name=3 or modeled", "a model_name=3 or modeled"),  # whole words only
    ],
)
def test_library_messages_are_rewritten_in_the_commands_terms(library, command):
    assert command in cli_terms(library)


def test_a_family_that_needs_subtypes_is_refused_in_cli_terms(tmp_path, capsys):
    sim = bl.simulate.dawid_skene(n_items=40, n_annotators=5, n_classes=2, labels_per_item=(2, 4), seed=1)
    sim.annotations.to_frame().to_csv(tmp_path / "plain.csv", index=False)
    code = main(
        _fit(tmp_path / "plain.csv", "--model", "hierarchical-subtype", "--out", tmp_path / "s.parquet")
    )
    err = _one_line_error(capsys)
    assert code == 2 and "--subtype-col" in err and "subtype=" not in err and "model='" not in err


def test_a_hierarchical_fit_is_not_advised_to_pool_its_annotators():
    from bayeslabels.diagnostics import Thresholds, identifiability_warnings

    common = dict(
        labels_per_annotator=np.array([3, 4, 50]),
        labels_per_item=np.array([3, 3]),
        classes=["a", "b"],
        prevalence=np.array([0.5, 0.5]),
        anchored_by_gold=False,
        symmetric_prior=False,
        em_disagreement=0,
        thresholds=Thresholds(),
    )
    assert "pool them (model='hierarchical')" in identifiability_warnings(**common)[0]
    assert "pool them" not in identifiability_warnings(**common, pooled=True)[0]


# --------------------------------------------------------------------------- what is printed


def test_no_negative_zero_entropy_in_any_output(tmp_path, capsys):
    (tmp_path / "sure.csv").write_text("item,annotator,label\na,x,1\na,y,1\nb,x,0\nb,y,1\n")
    soft = bl.SoftLabels.from_frame(pd.DataFrame({"item": ["a", "b"], "p_0": [0.0, 0.5], "p_1": [1.0, 0.5]}))
    assert not np.signbit(soft.entropy).any()
    path = soft.write(tmp_path / "soft.csv")
    assert "-0.0" not in path.read_text()
    items = bl.agreement(bl.Annotations.from_file(tmp_path / "sure.csv")).items
    assert not np.signbit(items["entropy"].dropna()).any()


def test_a_fit_without_compile_time_does_not_print_nan(em_fit):
    from bayeslabels.spec import SamplingInfo

    advi_like = SamplingInfo("advi", 500, 0, 1, 0, 0.8, float("nan"), 2.5)
    line = replace(em_fit, sampling=advi_like).summary().splitlines()[0]
    assert "nan" not in line and "sampling 2.5 s" in line
    saved_like = replace(advi_like, compile_seconds=None)  # NaN becomes null in a saved manifest
    assert "compile" not in replace(em_fit, sampling=saved_like).summary().splitlines()[0]


def test_the_summary_starts_on_a_fresh_line_after_progress_bars(monkeypatch):
    class Terminal:
        text = ""

        def isatty(self):
            return True

        def write(self, text):
            self.text += text

        def flush(self):
            pass

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    cli._end_progress_line(quiet=True)
    assert terminal.text == ""
    cli._end_progress_line(quiet=False)
    assert terminal.text == "\n"


def test_the_readme_links_the_design_inside_the_repository():
    readme = (REPO / "README.md").read_text()
    assert "../shared/" not in readme and "(docs/DESIGN.md)" in readme
    assert (REPO / "docs" / "DESIGN.md").read_text().startswith("<!-- Copied verbatim")
