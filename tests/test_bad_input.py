"""Bad input: a specification of what `Annotations` refuses, and how it says so.

Every malformed input below must raise `bayeslabels.DataError` whose message names where the
problem is (`where`: the file line / DataFrame row, the item, or the file) and how to fix it
(`fix`), and the `bayeslabels fit` command must exit 2 with exactly one line
``bayeslabels: error: ...`` on stderr. The files live in ``tests/data/bad/``; cases built as
DataFrames say so in ``via``. A second table lists inputs that look odd but are accepted and
normalised. Conventions: CSV / JSON Lines errors name file ``line N`` (header is line 1),
DataFrame errors name ``row N`` (the index label).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import bayeslabels
from bayeslabels import Annotations, DataError
from bayeslabels.cli import main as cli_main

DATA = Path(__file__).parent / "data" / "bad"
REPO = Path(__file__).resolve().parents[1]


def _frame(item: list, label: list, index: list | None = None) -> Callable[[], pd.DataFrame]:
    """A four-row long table, annotators w1 w2 w1 w2."""
    return lambda: pd.DataFrame(
        {"item": item, "annotator": ["w1", "w2", "w1", "w2"], "label": label}, index=index
    )


@dataclass(frozen=True)
class Bad:
    id: str
    source: str | Callable[[], pd.DataFrame]  # a file in tests/data/bad, or a DataFrame builder
    kwargs: dict[str, Any]  # gold="x.csv" means the file tests/data/bad/x.csv
    where: str  # names the line / row, the item, or the file
    fix: str  # says how to fix it
    cli_fix: str | None = None  # the fix as the command spells it, where it differs
    via: str = "file"  # file: Annotations.from_file; frame: from_frame; wide: from_wide


# fmt: off
BAD = [
    # ---- the file itself
    Bad("empty-file", "empty.csv", {}, "empty.csv: the file is empty", "needs a header line"),
    Bad("header-only", "header_only.csv", {}, "header_only.csv is empty", "one row per label"),
    Bad("only-blank-rows", "only_blank_rows.csv", {}, "only_blank_rows.csv is empty", "one row per label"),
    Bad("unknown-extension", "labels.xlsx", {}, "labels.xlsx: unknown file type .xlsx",
        "use .csv, .tsv, .parquet or .jsonl"),
    Bad("directory", ".", {}, "bad is a directory", "give the path of a .csv, .parquet or .jsonl file"),
    Bad("missing-file", "no_such_file.csv", {}, "no_such_file.csv: no such file", "check the path"),
    Bad("ragged-row", "ragged_row.csv", {}, "Expected 3 fields in line 3, saw 4",
        "every line needs as many fields as the header line"),
    Bad("not-gzip", "not_gzip.csv.gz", {}, "not_gzip.csv.gz: not a valid .gz file",
        "remove the .gz extension"),
    Bad("not-parquet", "not_parquet.parquet", {}, "not_parquet.parquet: cannot be read as parquet",
        "check it really is a Parquet file"),
    Bad("jsonl-empty", "empty.jsonl", {}, "empty.jsonl is empty", "one row per label"),
    Bad("jsonl-broken-line", "broken_line.jsonl", {}, "line 3 is not valid JSON", "fix or remove that line"),
    Bad("jsonl-not-an-object", "not_an_object.jsonl", {}, "line 2 is not a JSON object",
        "each line must be one object"),
    # ---- columns and cells
    Bad("wrong-column-names", "wrong_columns.csv", {}, "the table has ['id', 'worker', 'answer']",
        "name yours with item=..., annotator=..., label=...", cli_fix="--item-col, --annotator-col"),
    Bad("missing-item-id", "missing_item.csv", {}, "missing item ('item' is empty/NaN) in line 4",
        "every row needs an item id"),
    Bad("missing-annotator-id", "missing_annotator.csv", {}, "in line 3", "every row needs an annotator id"),
    Bad("label-NaN", "label_nan.csv", {}, "missing label ('label' is empty/NaN) in line 4",
        "fill in the label"),
    Bad("label-empty", "label_empty.csv", {}, "missing label ('label' is empty/NaN) in line 5",
        "fill in the label"),
    Bad("label-None", "label_none.csv", {}, "missing label ('label' is empty/NaN) in line 3",
        "fill in the label"),
    Bad("blank-line-keeps-line-numbers", "blank_line_then_missing_label.csv", {}, "in line 4",
        "fill in the label"),
    Bad("label-is-a-list", "nested_label.jsonl", {}, "instead of a class name in lines 1, 2",
        "give one class name per row"),
    Bad("bad-timestamp", "bad_timestamp.csv", {}, "['yesterday'] in line 4", "use ISO 8601"),
    # ---- classes
    Bad("label-outside-classes", "label_outside_classes.csv", {"classes": ["cat", "dog"]},
        "label(s) ['bird'] in line 5", "add them to classes=[...]", cli_fix="add them to --classes"),
    Bad("one-class", "one_class.csv", {}, "only one class ('1')", "declare them with classes=[...]",
        cli_fix="declare them with --classes"),
    Bad("classes-repeated", "labels_01.csv", {"classes": ["0", "0.0", "1"]}, "repeats a class name",
        "give each class once"),
    # ---- items: subtypes, duplicates
    Bad("subtype-differs-within-item", "subtype_conflict.csv", {}, "item 'b' has ['sexual', 'violent']",
        "give each item one subtype"),
    Bad("subtype-rows-named", "subtype_conflict.csv", {}, "lines 4, 5", "give each item one subtype"),
    Bad("duplicates-error", "duplicate_pairs.csv", {"duplicates": "error"},
        "item 'a' by annotator 'w1' in lines 2, 5", "pass duplicates='keep'",
        cli_fix="pass --duplicates keep"),
    # ---- gold
    Bad("gold-unknown-item", "labels_01.csv", {"gold": "gold_unknown_item.csv"}, "e.g. ['z']",
        "gold_only='keep'", cli_fix="--gold-only keep"),
    Bad("gold-class-not-a-label-class", "labels_01.csv", {"gold": "gold_true_false.csv"},
        "gold class(es) ['false', 'true'] for item(s) ['a', 'b']", "must use the same class names"),
    Bad("gold-conflict", "labels_01.csv", {"gold": "gold_conflict.csv"},
        "item 'a' has conflicting gold labels ['0', '1'] (lines 2, 4)", "give one gold class per item"),
    Bad("gold-column-conflict", "gold_column_conflict.csv", {"gold": "gold"},
        "item 'a' has conflicting gold labels ['0', '1'] (lines 2, 3)", "give one gold class per item"),
    Bad("gold-missing-item-id", "labels_01.csv", {"gold": "gold_missing_item.csv"},
        "gold_missing_item.csv: missing item id in line 3", "fill in the item id"),
    Bad("gold-wrong-columns", "labels_01.csv", {"gold": "gold_wrong_columns.csv"},
        "it has ['id', 'truth', 'notes']", "rename them"),
    Bad("gold-file-missing", "labels_01.csv", {"gold": "no_such_gold.csv"}, "no_such_gold.csv",
        "check the path or the column name"),
    # ---- DataFrames (rows are named by the index label)
    Bad("mixed-id-types", _frame([1, "1", 2, 2], [1, 0, 1, 1]), {}, "'1' appears both as a number and "
        "as a string (rows 0, 1)", "Convert the item column to strings", via="frame"),
    Bad("float-ids", _frame([1.0, 1.0, 2.0, 2.0], [1, 0, 1, 1]), {}, "(e.g. 1.0 in row 0)",
        ".astype('Int64').astype(str)", via="frame"),
    Bad("float-ids-with-NaN", _frame([1.0, 1.0, np.nan, 2.0], [1, 0, 1, 1]), {}, "missing item "
        "('item' is empty/NaN) in row 2", "every row needs an item id", via="frame"),
    Bad("frame-row-named-by-index", _frame(["a", "a", "b", "b"], [1, 0, None, 1], ["r1", "r2", "r3", "r4"]),
        {}, "in row r3", "fill in the label", via="frame"),
    Bad("wide-empty-row", lambda: pd.DataFrame({"w1": [1, None, 0], "w2": [0, None, 0]}, index=list("abc")),
        {}, "no label at all (e.g. ['b'])", "drop those rows", via="wide"),
    Bad("wide-item-column-absent", lambda: pd.DataFrame({"w1": [1, 0], "w2": [0, 0]}), {"item": "id"},
        "item column 'id' not in the wide table", "pass item=", via="wide"),
    Bad("wide-all-empty", lambda: pd.DataFrame({"w1": [None, None], "w2": [None, None]}), {},
        "every cell of the annotator columns ['w1', 'w2'] is empty", "pass annotators=[...]", via="wide"),
]
# fmt: on
FILE_CASES = [case for case in BAD if case.via == "file"]
# Each of these also runs as a real `python -m bayeslabels.cli` process (each costs an import).
SUBPROCESS_IDS = ["label-NaN", "gold-class-not-a-label-class", "jsonl-broken-line"]


def _kwargs(case: Bad) -> dict[str, Any]:
    kwargs = dict(case.kwargs)
    if str(kwargs.get("gold", "")).endswith(".csv"):
        kwargs["gold"] = str(DATA / kwargs["gold"])
    return kwargs


def _load(case: Bad) -> Annotations:
    if case.via == "file":
        return Annotations.from_file(DATA / case.source, **_kwargs(case))
    builder = Annotations.from_frame if case.via == "frame" else Annotations.from_wide
    return builder(case.source(), **_kwargs(case))


def _cli_args(case: Bad, out: Path) -> list[str]:
    args = ["fit", str(DATA / case.source), "--method", "em", "--out", str(out)]
    for key, value in _kwargs(case).items():
        option = "--" + key.replace("_", "-")
        args += [option, ",".join(value) if isinstance(value, list) else str(value)]
    return args


def test_the_table_is_a_specification():
    ids = [case.id for case in BAD]
    assert len(ids) == len(set(ids)) >= 25
    assert set(SUBPROCESS_IDS) <= {case.id for case in FILE_CASES}
    for case in FILE_CASES:
        assert case.source == "." or (DATA / case.source).exists() or "no_such" in case.source


@pytest.mark.parametrize("case", BAD, ids=lambda case: case.id)
def test_python_api_raises_data_error_naming_where_and_fix(case: Bad):
    with pytest.raises(DataError) as caught:
        _load(case)
    message = str(caught.value)
    assert case.where in message
    assert case.fix in message
    assert "\n" not in message


@pytest.mark.parametrize("case", FILE_CASES, ids=lambda case: case.id)
def test_cli_exits_2_with_one_line(case: Bad, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "o.csv"
    assert cli_main(_cli_args(case, out)) == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith("bayeslabels: error: ")
    assert case.where in stderr
    assert (case.cli_fix or case.fix) in stderr
    assert not out.exists()


@pytest.mark.parametrize("case_id", SUBPROCESS_IDS)
def test_cli_process_exits_2_with_one_line_and_no_traceback(case_id: str, tmp_path: Path):
    case = next(case for case in BAD if case.id == case_id)
    out = tmp_path / "o.csv"
    done = subprocess.run(
        [sys.executable, "-m", "bayeslabels.cli", *_cli_args(case, out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bayeslabels: error: ")
    assert case.where in lines[0] and (case.cli_fix or case.fix) in lines[0]
    assert not out.exists()


# --------------------------------------------------------------------------- accepted and normalised


@dataclass(frozen=True)
class Ok:
    id: str
    source: str | Callable[[], pd.DataFrame]
    kwargs: dict[str, Any] = field(default_factory=dict)
    items: list[str] | None = None
    annotators: list[str] | None = None
    classes: list[str] | None = None
    n_labels: int | None = None
    ids_stripped: int | None = None
    gold: dict[str, str] | None = None  # gold class per item, where known


# fmt: off
OK = [
    Ok("semicolon-delimited", "ok_semicolon.csv", items=["a", "b"], annotators=["w1", "w2"], n_labels=4),
    Ok("utf8-bom", "ok_bom.csv", items=["0001", "0002"], annotators=["w1", "w2"], n_labels=4),
    Ok("latin-1-accents", "ok_latin1.csv", annotators=["José", "Renée"], n_labels=4),
    Ok("trailing-empty-rows", "ok_trailing_blank_rows.csv", items=["a", "b"], n_labels=4),
    Ok("crlf-and-blank-line", "ok_crlf_blank_line.csv", items=["a", "b"], n_labels=4),
    Ok("whitespace-around-ids", "ok_whitespace_ids.csv", items=["a", "b"], annotators=["w1", "w2"],
       ids_stripped=3),
    Ok("leading-zeros-stay", "ok_leading_zeros.csv", items=["0001", "0002", "1"], annotators=["007", "7"]),
    Ok("1.0-and-1-are-one-class", "ok_float_labels.csv", classes=["0", "1"], n_labels=4),
    Ok("frame-1.0-and-1-are-one-class", _frame(["a", "a", "b", "b"], [1, 1.0, 0, 0.0]), classes=["0", "1"]),
    Ok("frame-int-ids-become-strings", _frame([7, 7, 8, 8], [1, 0, 1, 1]), items=["7", "8"]),
    Ok("gold-only-keep", "labels_01.csv", {"gold": "gold_unknown_item.csv", "gold_only": "keep"},
       items=["a", "b", "c", "z"], n_labels=6, gold={"a": "1", "z": "0"}),
]
# fmt: on


@pytest.mark.parametrize("case", OK, ids=lambda case: case.id)
def test_accepted_and_normalised(case: Ok):
    if callable(case.source):
        ann = Annotations.from_frame(case.source(), **case.kwargs)
    else:
        ann = Annotations.from_file(DATA / case.source, **_kwargs(case))
    for name in ("items", "annotators", "classes"):
        if getattr(case, name) is not None:
            assert list(getattr(ann, name)) == getattr(case, name)
            assert all(type(value) is str for value in getattr(ann, name))
    if case.n_labels is not None:
        assert ann.n_labels == case.n_labels
    if case.ids_stripped is not None:
        assert ann.summary.ids_stripped == case.ids_stripped
    if case.gold is not None:
        assert ann.gold_series().dropna().to_dict() == case.gold


# --------------------------------------------------------------------------- nothing dropped


def test_every_item_appears_in_em_soft_labels():
    frame = pd.DataFrame(
        {
            "item": ["a", "a", "a", "b", "b", "b", "solo", "d", "d"],
            "annotator": ["w1", "w2", "w3", "w1", "w2", "w3", "w2", "w1", "w3"],
            "label": [1, 1, 0, 0, 0, 0, 1, 1, 1],
        }
    )
    ann = Annotations.from_frame(frame, gold={"a": 1, "gold-only": 0}, gold_only="keep")
    assert list(ann.items) == ["a", "b", "solo", "d", "gold-only"]
    soft = bayeslabels.fit(ann, method="em").soft_labels()
    assert list(soft["item"]) == list(ann.items)
    assert soft.set_index("item")["n_labels"].to_dict() == {"a": 3, "b": 3, "solo": 1, "d": 2, "gold-only": 0}
    assert soft.set_index("item").loc["gold-only", "label"] == "0"
    probabilities = soft[[f"p_{c}" for c in ann.classes]].to_numpy()
    assert np.isfinite(probabilities).all() and np.allclose(probabilities.sum(axis=1), 1.0)
