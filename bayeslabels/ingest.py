"""Ingest: read label files, and turn a raw label table into validated, canonical columns.

Everything here works on one pandas frame, so `Annotations.from_frame` (the whole table)
and `dawid_skene_em_dask` (one partition at a time) run the same checks and raise the same
`DataError` — naming the rows, what is wrong and how to fix it.

* readers: `file_kind`, `read_table` (CSV / TSV, Parquet, JSON Lines; ``.gz`` / ``.bz2`` /
  ``.xz`` decompressed; every column read as text, the index holding file line numbers);
* values: `canonical_class` (``1``, ``1.0`` and ``"1.0"`` are class ``"1"``), `id_strings`,
  `class_names`, `is_missing`;
* a label table: `check_table`, `normalise_rows` (per partition), `class_index`,
  `duplicate_rows`, `subtype_codes`, `parse_timestamps`;
* gold and the positive class: `read_gold` (the one gold reader: a column, file, table,
  Series or mapping), `gold_codes`, `check_gold_only`, `positive_code` (the one rule for
  ``positive=``).
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from io import StringIO
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd

from .errors import DataError

MISSING_STRINGS = frozenset({"", "nan", "NaN", "NA", "N/A", "null", "NULL", "None"})
MAX_LISTED = 5


# --------------------------------------------------------------------------- values


def rows_text(labels: Sequence[Any], row_name: str) -> str:
    """'line 3, 7, 9 (and 12 more)' for error messages."""
    shown = ", ".join(str(r) for r in list(labels)[:MAX_LISTED])
    more = len(labels) - MAX_LISTED
    plural = "s" if len(labels) > 1 else ""
    return f"{row_name}{plural} {shown}" + (f" (and {more} more)" if more > 0 else "")


def is_missing(values: pd.Series) -> np.ndarray:
    """True where a value is NaN / None or a text such as ``""``, ``"NA"``, ``"null"``."""
    missing = values.isna().to_numpy()
    as_str = values.astype("string").str.strip()
    return missing | as_str.isin(MISSING_STRINGS).fillna(True).to_numpy()


def canonical_class(value: Any) -> str:
    """One string per class name: 1, 1.0 and "1.0" are all "1"; True and "TRUE" are "true"."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip()
    if text.lower() in ("true", "false"):  # a CSV of booleans says True / TRUE / true
        return text.lower()
    try:
        number = float(text)
    except ValueError:
        return text
    if (
        math.isfinite(number)
        and number.is_integer()
        and "." in text
        and text.strip("-+").replace(".", "").isdigit()
    ):
        return str(int(number))
    return text


def map_distinct(values: pd.Series, func: Callable[[Any], Any]) -> pd.Series:
    """``values.map(func)``, calling ``func`` once per distinct value when every value is a string
    (labels repeat a lot; other types go value by value, since 1 == 1.0 == True would merge)."""
    if not pd.api.types.is_string_dtype(values):
        return values.map(func)
    codes, distinct = pd.factorize(values.to_numpy(dtype=object))
    return pd.Series(np.asarray([func(v) for v in distinct], dtype=object)[codes], index=values.index)


def class_names(values: pd.Series) -> pd.Series:
    """Canonical class name per value (object dtype, same index), one call per distinct value."""
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        names = map_distinct(values, canonical_class)
        return names if names.dtype == object else names.astype(object)
    # one numeric / boolean dtype: 1 and 1.0 cannot both occur, so factorize is safe
    codes, distinct = pd.factorize(values)  # a missing value gets code -1: the None appended
    names = np.asarray([*map(canonical_class, distinct), None], dtype=object)[codes]
    return pd.Series(names, index=values.index)


def sort_classes(names: Iterable[str]) -> list[str]:
    """Distinct class names, sorted numerically when every one is a number, else as text."""
    names = list(dict.fromkeys(names))
    try:
        return sorted(names, key=float)
    except ValueError:
        return sorted(names)


def check_ordered(classes: pd.Index, declared: bool) -> None:
    """``ordered=True`` needs a meaningful order: the declared ``classes`` (lowest first), or
    labels that are all numbers (sorted numerically). Numeric classes declared out of numeric
    order are refused, since that is almost always a typo."""
    names = [str(c) for c in classes]
    try:
        values = [float(c) for c in names]
    except ValueError:
        values = None
    if not declared and values is None:
        raise DataError(
            f"ordered=True needs the class order: the labels {names[:MAX_LISTED]} are not all numbers, "
            "so declare them lowest first with classes=[...] (e.g. classes=['G', 'P', 'R', 'X'])"
        )
    if values is not None and values != sorted(values):
        raise DataError(
            f"ordered=True with numeric classes {names} declared out of numeric order: list them "
            "lowest first in classes=[...]"
        )


def id_strings(values: pd.Series, what: str, row_name: str) -> pd.Series:
    """Ids as stripped strings; floats such as 12.0 (from a column with NaN) are refused."""
    if pd.api.types.is_float_dtype(values.dtype):
        bad = values.index[values.notna() & (values % 1 != 0)]
        first = values.dropna()
        raise DataError(
            f"{what} ids are floating-point numbers (e.g. {float(first.iloc[0])!r} in {row_name} "
            f"{first.index[0]}); "
            f"ids must be strings or integers. Read the file with dtype=str, or convert the "
            f"column with .astype('Int64').astype(str)"
            + (f" ({rows_text(list(bad), row_name)} are not even whole numbers)" if len(bad) else "")
        )
    if pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return pd.Series(values.astype(str).to_numpy(dtype=object), index=values.index)
    if pd.api.types.is_string_dtype(values):  # every id a string (CSV, Parquet): no mix, no loop
        return values.str.strip()  # stays in the column's string storage (Arrow: no object per id)
    kinds = {type(v) for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))}
    if len(kinds) > 1 and any(k is not str for k in kinds) and str in kinds:
        as_text = values.map(lambda v: str(v).strip())
        clash = as_text.groupby(as_text).agg(lambda s: len({type(values[i]) for i in s.index}))
        clashing = list(clash.index[clash > 1])
        if clashing:
            rows = list(values.index[(as_text == clashing[0]).to_numpy()])
            raise DataError(
                f"{what} ids mix types: {clashing[0]!r} appears both as a number and as a string "
                f"({rows_text(rows, row_name)}). "
                f"Convert the {what} column to strings before building Annotations"
            )
    return values.map(lambda v: str(v).strip() if not isinstance(v, str) else v.strip())


# --------------------------------------------------------------------------- files


def file_kind(path: str | Path) -> str:
    """``"csv"``, ``"parquet"`` or ``"jsonl"`` from the extension (after a compression suffix)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in (".gz", ".bz2", ".zst", ".xz") and len(suffixes) > 1:
        suffix = suffixes[-2]
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise DataError(
        f"{path}: unknown file type {suffix or '(no extension)'}; use .csv, .tsv, .parquet or .jsonl"
    )


_READ_HINTS = {
    "csv": "check the delimiter and quoting: every line needs as many fields as the header line, "
    "and a field that contains the delimiter must be quoted",
    "parquet": "check it really is a Parquet file (e.g. written with DataFrame.to_parquet), or give it "
    "the extension of its real format",
    "jsonl": "each line must be one JSON object",
}


def check_path(path: str | Path) -> None:
    """A DataError unless ``path`` is an existing file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path (relative paths start at {Path.cwd()})")
    if path.is_dir():
        raise DataError(
            f"{path} is a directory, not a label file: give the path of a .csv, .parquet or .jsonl "
            "file inside it"
        )


def read_table(path: str | Path, kind: str, sep: str | None = None) -> pd.DataFrame:
    """Read a file with every column as strings; file problems become DataError.

    The index holds the file's line numbers for CSV (header is line 1) and JSON Lines.
    """
    path = Path(path)
    check_path(path)
    try:
        if kind == "csv":
            frame = _read_csv_text(path, sep)
        elif kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = _read_jsonl_text(path)
    except DataError:
        raise
    except (ValueError, TypeError, OSError, UnicodeError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"{path}: cannot be read as {kind}: {first.rstrip('.')}; {_READ_HINTS[kind]}"
        ) from exc
    frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    return frame


def _decoded_text(path: Path) -> str:
    """The file's text, decompressed by extension; UTF-8 (with or without BOM), else Latin-1."""
    raw = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".zst":
        raise DataError(f"{path}: .zst files are not read directly: decompress it first (zstd -d)")
    decompress = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".xz": lzma.decompress}.get(suffix)
    if decompress is not None:
        try:
            raw = decompress(raw)
        except (OSError, EOFError, ValueError, lzma.LZMAError) as exc:
            raise DataError(
                f"{path}: not a valid {suffix} file ({exc}): decompress it yourself, or remove the "
                f"{suffix} extension if it is not compressed"
            ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _read_csv_text(path: Path, sep: str | None) -> pd.DataFrame:
    text = _decoded_text(path)
    if not text.strip():
        raise DataError(
            f"{path}: the file is empty: it needs a header line (item,annotator,label) and one line per label"
        )
    leading = text[: len(text) - len(text.lstrip())].count("\n")  # blank lines before the header
    if sep is None:
        first_line = text.lstrip().split("\n", 1)[0]
        sep = (
            "\t"
            if ".tsv" in [s.lower() for s in path.suffixes] or "\t" in first_line
            else (";" if first_line.count(";") > first_line.count(",") else ",")
        )
    frame = pd.read_csv(
        StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=False, header=leading
    )
    frame.index = pd.RangeIndex(leading + 2, leading + 2 + len(frame))  # file line numbers
    # Blank lines and fully empty rows (",,") are not labels.
    cells = frame.fillna("").astype(str).apply(lambda c: c.str.strip().str.lstrip("\ufeff"))
    blank = (cells == "").all(axis=1).to_numpy()
    header = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
    repeated = (cells == header).all(axis=1).to_numpy()
    if repeated.any():
        raise DataError(
            f"{path}: the header line ({','.join(header)}) appears again in "
            f"{rows_text(list(frame.index[repeated]), 'line')}: remove the repeated header lines "
            "(were several files joined with their headers?)"
        )
    return frame[~blank]


def _read_jsonl_text(path: Path) -> pd.DataFrame:
    """One JSON object per line; the index holds file line numbers (blank lines are skipped)."""
    lines = _decoded_text(path).splitlines()
    numbers = [n for n, line in enumerate(lines, start=1) if line.strip()]
    if not numbers:
        return pd.DataFrame()
    if lines[numbers[0] - 1].lstrip().startswith("["):
        raise DataError(
            f"{path} holds a JSON array, not JSON Lines: each line must be one JSON object (pandas writes "
            "that with .to_json(path, orient='records', lines=True))"
        )
    try:
        frame = pd.read_json(StringIO("\n".join(lines[n - 1] for n in numbers)), lines=True, dtype=False)
    except (ValueError, TypeError):
        records = []
        for n in numbers:  # find the line at fault
            try:
                record = json.loads(lines[n - 1])
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path}: line {n} is not valid JSON ({exc.msg} at column {exc.colno}): fix or "
                    "remove that line; each line must be one JSON object"
                ) from None
            if not isinstance(record, dict):
                raise DataError(
                    f"{path}: line {n} is not a JSON object (it reads {lines[n - 1].strip()[:30]!r}): "
                    'each line must be one object such as {"item": "a", "annotator": "w1", "label": 1}'
                ) from None
            records.append(record)
        frame = pd.DataFrame(records)  # every line is an object: e.g. an integer id beyond 64 bits
    if len(frame) == len(numbers):
        frame.index = pd.Index(numbers)
    return frame


# --------------------------------------------------------------------------- a label table


def empty_table_error(item: str, annotator: str, label: str, source: str = "") -> DataError:
    """The error for a label table without rows."""
    return DataError(
        f"the label table{' ' + source if source else ''} is empty: it needs one row per "
        f"label with columns {item!r}, {annotator!r}, {label!r}"
    )


def check_columns(columns: Iterable[Hashable], item: str, annotator: str, label: str) -> None:
    """A DataError naming the required columns the table lacks."""
    columns = list(columns)
    absent = [c for c in (item, annotator, label) if c not in columns]
    if absent:
        raise DataError(
            f"missing column(s) {absent}; the table has {list(map(str, columns))}. "
            f"Rename them, or name yours with item=..., annotator=..., label=..."
        )


def check_table(frame: Any, item: str, annotator: str, label: str, source: str = "") -> None:
    """The whole-table checks: a DataFrame, not empty, with the item, annotator, label columns."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if len(frame) == 0:
        raise empty_table_error(item, annotator, label, source)
    check_columns(frame.columns, item, annotator, label)


def normalise_rows(
    frame: pd.DataFrame, item: str, annotator: str, label: str, row_name: str = "row"
) -> pd.DataFrame:
    """Columns ``item``, ``annotator`` (stripped id strings) and ``label`` (canonical class
    names) of a label table or one partition of it, on the frame's index.

    Refuses missing ids or labels, a list or object in place of a label, float ids and ids
    that mix numbers and strings, naming the rows (by ``row_name`` and the frame's index).
    """
    for column, what in ((item, "item"), (annotator, "annotator"), (label, "label")):
        missing = is_missing(frame[column])
        if missing.any():
            rows = list(frame.index[missing])
            fix = (
                "drop those rows or fill in the label"
                if what == "label"
                else f"every row needs an {what} id; drop those rows or fill them in"
            )
            raise DataError(f"missing {what} ({column!r} is empty/NaN) in {rows_text(rows, row_name)}: {fix}")
    if not pd.api.types.is_string_dtype(frame[label]):
        nested = frame[label].map(lambda v: isinstance(v, list | dict | set | np.ndarray)).to_numpy()
        if nested.any():
            raise DataError(
                f"column {label!r} holds a list or object instead of a class name in "
                f"{rows_text(list(frame.index[nested]), row_name)}: give one class name per row "
                "(one row per label)"
            )
    return pd.DataFrame(
        {
            "item": id_strings(frame[item], "item", row_name),
            "annotator": id_strings(frame[annotator], "annotator", row_name),
            "label": class_names(frame[label]),
        },
        index=frame.index,
    )


def count_stripped(frame: pd.DataFrame, rows: pd.DataFrame, item: str, annotator: str) -> int:
    """How many text ids of ``frame`` lost surrounding whitespace in `normalise_rows`."""
    stripped = 0
    for raw, clean in ((frame[item], rows["item"]), (frame[annotator], rows["annotator"])):
        if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
            stripped += int((raw.astype(str) != clean).sum())
    return stripped


def class_index(
    classes: Sequence[Hashable] | None,
    labels: Iterable[str],
    rows_of: Callable[[list[str]], list],
    row_name: str = "row",
) -> pd.Index:
    """The class code book: ``classes`` (canonical names) if declared, else the distinct
    ``labels`` sorted. ``rows_of(names)`` lists the rows whose label is one of ``names``
    (called only to name the rows in an error)."""
    labels = list(dict.fromkeys(labels))
    if classes is not None:
        declared = [canonical_class(c) for c in classes]
        if len(set(declared)) != len(declared):
            raise DataError(f"classes={list(classes)} repeats a class name: give each class once")
    else:  # gold classes are checked against these later (`gold_codes`)
        declared = sort_classes(labels)
        folded = pd.Series(declared, dtype=object).str.casefold()
        first_repeat = set(folded[folded.duplicated()].head(1))
        clash = [c for c, f in zip(declared, folded, strict=True) if f in first_repeat]
        how = "differ only in upper/lower case"
        if not clash and {"true", "false"} & set(declared) and {"0", "1"} & set(declared):
            clash, how = [c for c in declared if c in ("0", "1", "false", "true")], "mix booleans and 0/1"
        if clash:
            raise DataError(
                f"labels {clash} {how} ({rows_text(rows_of(clash), row_name)}): write each class one way, "
                "or declare every class with classes=[...] if they really are different classes"
            )
    if len(declared) < 2:
        raise DataError(
            f"only one class ({declared[0]!r}) in the labels: at least two are needed. "
            "If other classes exist but were never used, declare them with classes=[...]"
            if declared
            else "no classes declared"
        )
    unknown = sorted(set(labels) - set(declared))
    if unknown:
        raise DataError(
            f"label(s) {unknown[:MAX_LISTED]} in {rows_text(rows_of(unknown), row_name)} are not among "
            f"the declared classes {declared}: fix the labels or add them to classes=[...]"
        )
    return pd.Index(declared, dtype=object)


def duplicate_rows(
    rows: pd.DataFrame, item_code: np.ndarray, annotator_code: np.ndarray, policy: str, row_name: str
) -> tuple[np.ndarray, int]:
    """Rows to keep under the ``duplicates=`` policy, and how many (item, annotator) pairs repeat."""
    if policy not in ("keep", "last", "error"):
        raise DataError(f"duplicates={policy!r}: use 'keep', 'last' or 'error'")
    n_annotators = int(annotator_code.max()) + 1 if len(annotator_code) else 0
    pair = pd.Series(item_code.astype(np.int64) * n_annotators + annotator_code)
    repeated_mask = pair.duplicated(keep=False).to_numpy()
    repeated_pairs = int(pair[repeated_mask].nunique())
    keep_rows = np.ones(len(rows), dtype=bool)
    if repeated_pairs and policy == "error":
        first = int(np.flatnonzero(repeated_mask)[0])
        raise DataError(
            f"{repeated_pairs} (item, annotator) pairs are labelled more than once, e.g. item "
            f"{rows['item'].iloc[first]!r} by annotator {rows['annotator'].iloc[first]!r} in "
            f"{rows_text(list(rows.index[repeated_mask]), row_name)}: "
            "pass duplicates='keep' (count every label) or 'last' (keep the last one)"
        )
    if repeated_pairs and policy == "last":
        keep_rows = ~pair.duplicated(keep="last").to_numpy()
    return keep_rows, repeated_pairs


def subtype_codes(
    values: pd.Series, item_code: np.ndarray, item_index: pd.Index, row_name: str
) -> tuple[pd.Index, np.ndarray]:
    """Subtype code book and code per item (``-1`` = none) from a per-row subtype column;
    refuses an item whose rows give different subtypes."""
    codes = np.full(len(item_index), -1, dtype=np.int64)
    missing = is_missing(values)
    names = values.map(lambda v: str(v).strip())
    per_item = pd.DataFrame({"code": item_code, "s": names.where(~missing, None)})
    distinct = per_item.dropna().groupby("code")["s"].nunique()
    conflicting = distinct.index[distinct > 1]
    if len(conflicting):
        first_item = item_index[conflicting[0]]
        rows = list(values.index[np.isin(item_code, conflicting)])
        found = sorted(set(per_item["s"][item_code == conflicting[0]].dropna()))
        raise DataError(
            f"subtype differs between rows of one item: item {first_item!r} has {found} "
            f"({len(conflicting)} such items; {rows_text(rows, row_name)}). A subtype "
            "belongs to the item: give each item one subtype"
        )
    if missing.all():
        return pd.Index([], dtype=object), codes
    index = pd.Index(sorted(set(names[~missing])), dtype=object)
    first = per_item.dropna().groupby("code")["s"].first()
    codes[first.index.to_numpy()] = index.get_indexer(first)
    return index, codes


def parse_timestamps(values: pd.Series, row_name: str) -> np.ndarray:
    """UTC datetime64[ns] per row (NaT where empty); refuses unparseable values."""
    missing = is_missing(values)
    parsed = pd.to_datetime(values.where(~missing, None), errors="coerce", utc=True, format="mixed")
    bad = parsed.isna().to_numpy() & ~missing
    if bad.any():
        rows = list(values.index[bad])
        raise DataError(
            f"unparseable timestamp(s) {list(values[bad].astype(str).iloc[:3])} in "
            f"{rows_text(rows, row_name)}: use ISO 8601 (e.g. 2026-01-31T12:00:00Z) or drop "
            "the timestamp column"
        )
    return parsed.to_numpy(dtype="datetime64[ns]")


# --------------------------------------------------------------------------- gold


def gold_column(gold: Any, columns: Iterable[Hashable]) -> str | None:
    """``gold`` when it names a column of the label table, else None."""
    return gold if isinstance(gold, str) and gold in list(columns) else None


def gold_names(values: pd.Series) -> pd.Series:
    """Canonical gold class per value, None where unknown (empty, NaN, "NA" ...)."""
    missing = is_missing(values)
    return class_names(values).where(~missing, None)


def gold_by_item(item_ids: pd.Series, names: pd.Series, where: str, row_name: str) -> pd.Series:
    """Gold item → class from aligned item ids and gold names (None = unknown); refuses an item
    with two different gold classes, naming its rows."""
    pairs = pd.DataFrame({"item": item_ids.to_numpy(dtype=object), "gold": names.to_numpy(dtype=object)})
    pairs.index = names.index
    known = pairs.dropna()
    conflicting = known.groupby("item")["gold"].nunique()
    conflicting = conflicting[conflicting > 1]
    if len(conflicting):
        first = conflicting.index[0]
        rows = list(known.index[(known["item"] == first).to_numpy()])
        try:
            rows = sorted(rows)
        except TypeError:
            pass
        raise DataError(
            f"{where}: item {first!r} has conflicting gold labels "
            f"{sorted(set(known.loc[known['item'] == first, 'gold']))} ({rows_text(rows, row_name)}): "
            "give one gold class per item"
        )
    return known.drop_duplicates("item").set_index("item")["gold"]


def _gold_source(
    gold: Any, frame: pd.DataFrame | None, item_ids: pd.Series | None, row_name: str
) -> tuple[pd.DataFrame, str, str, bool]:
    """The gold as a table, where it came from (for messages), how its rows are named, and
    whether it is a column of the label table."""
    column = gold_column(gold, frame.columns) if frame is not None else None
    if column is not None:
        if frame is None or item_ids is None:
            raise TypeError(f"read_gold: gold={column!r} is a column; pass frame= and item_ids=")
        table = pd.DataFrame(
            {"item": item_ids.to_numpy(), "gold": frame[column].to_numpy()}, index=frame.index
        )
        return table, f"the gold column {column!r}", row_name, True
    if isinstance(gold, str | Path):
        path = Path(gold)
        if not path.exists():
            raise DataError(
                f"gold={str(gold)!r} is neither a column of the label table nor an existing file: "
                "check the path or the column name"
            )
        kind = file_kind(path)
        return read_table(path, kind), str(path), "row" if kind == "parquet" else "line", False
    if isinstance(gold, pd.DataFrame):
        return gold, "the gold table", "row", False
    if isinstance(gold, pd.Series):
        return pd.DataFrame({"item": gold.index, "gold": gold.to_numpy()}), "the gold series", "row", False
    if isinstance(gold, Mapping):
        table = pd.DataFrame({"item": list(gold.keys()), "gold": list(gold.values())})
        return table, "the gold mapping", "row", False
    raise DataError(
        f"gold must be a column name, file path, DataFrame, Series or dict, not {type(gold).__name__}"
    )


@overload
def read_gold(
    gold: None, *, frame: pd.DataFrame | None = ..., item_ids: pd.Series | None = ..., row_name: str = ...
) -> None: ...
@overload
def read_gold(
    gold: str | Path | pd.DataFrame | pd.Series | Mapping[Any, Any],
    *,
    frame: pd.DataFrame | None = ...,
    item_ids: pd.Series | None = ...,
    row_name: str = ...,
) -> pd.Series: ...
def read_gold(
    gold: Any,
    *,
    frame: pd.DataFrame | None = None,
    item_ids: pd.Series | None = None,
    row_name: str = "row",
) -> pd.Series | None:
    """The one gold reader: gold item → canonical class name, one entry per item with gold.

    ``gold``: a column of ``frame`` (then ``item_ids`` are the frame's normalised item ids), a
    path to a table (CSV / Parquet / JSON Lines), a DataFrame with columns ``item`` and ``gold``
    (or just two columns, id then class), a Series indexed by item, or a mapping item → class;
    None gives None. Empty gold values mean "unknown" and are left out; an item given two
    different gold classes, or gold without an item id, is refused.
    """
    if gold is None:
        return None
    table, where, gold_rows, is_column = _gold_source(gold, frame, item_ids, row_name)
    if not {"item", "gold"} <= set(table.columns):
        if table.shape[1] == 2:
            table = table.set_axis(["item", "gold"], axis=1)
        else:
            raise DataError(
                f"{where} needs columns 'item' and 'gold'; it has {list(map(str, table.columns))}: "
                "rename them (or give just two columns, item id then gold class)"
            )
    if table.empty:
        return pd.Series([], dtype=object, index=pd.Index([], dtype=object))
    missing_item = is_missing(table["item"])
    if missing_item.any() and not is_column:
        raise DataError(
            f"{where}: missing item id in {rows_text(list(table.index[missing_item]), gold_rows)}: "
            "drop those gold rows or fill in the item id"
        )
    ids = id_strings(table["item"], "gold item", gold_rows)
    return gold_by_item(ids, gold_names(table["gold"]), where, gold_rows)


def gold_codes(gold: pd.Series, classes: pd.Index) -> np.ndarray:
    """Class code of each gold entry (item → canonical class name); refuses a gold class that
    is not among ``classes``, naming the items."""
    code = classes.get_indexer(gold.to_numpy(dtype=object))
    if (code < 0).any():
        bad_items = list(gold.index[code < 0])
        bad_values = sorted(set(gold[code < 0]))
        raise DataError(
            f"gold class(es) {bad_values[:MAX_LISTED]} for item(s) "
            f"{bad_items[:MAX_LISTED]} are not among the label classes {list(classes)}: gold and "
            "labels must use the same class names (e.g. both 1/0 or both true/false); "
            "declare a class no annotator used with classes=[...]"
        )
    return code.astype(np.int64)


def check_gold_only(unknown: pd.Index, policy: str) -> None:
    """Gold for items without labels: refused unless ``gold_only="keep"``."""
    if policy not in ("error", "keep"):
        raise DataError(f"gold_only={policy!r}: use 'error' or 'keep'")
    if len(unknown) and policy == "error":
        raise DataError(
            f"gold given for {len(unknown)} item(s) with no labels, e.g. "
            f"{list(unknown[:MAX_LISTED])}: check the item ids match the label table "
            "(same spelling, leading zeros), drop those gold rows, or pass "
            "gold_only='keep' to include them as items without labels"
        )


# --------------------------------------------------------------------------- positive class


def positive_code(classes: pd.Index, positive: Hashable | None) -> int | None:
    """The one rule for ``positive=``: the code of the positive class of binary metrics.

    * a class name (``"1"``, ``1``, ``"spam"``; canonicalised like every class name) picks that class;
    * ``True``: the class named ``"true"`` when there is one, else the second of two classes;
    * ``None``: the second of two classes; None (no positive class) for more classes.
    """
    if positive is None:
        return 1 if len(classes) == 2 else None
    code = int(classes.get_indexer([canonical_class(positive)])[0])
    if code < 0 and positive is True and len(classes) == 2:
        return 1
    if code < 0:
        hint = "; positive=True picks the second of two classes" if positive is True else ""
        raise DataError(f"positive class {positive!r} is not among the classes {list(classes)}{hint}")
    return code
