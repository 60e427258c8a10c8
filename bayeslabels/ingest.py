"""Ingest: read label files, and turn a raw label table into validated, canonical columns.

Everything here works on one pandas frame, so `Annotations.from_frame` (the whole table)
and `dawid_skene_em_dask` (one partition at a time) run the same checks and raise the same
`DataError` — naming the rows, what is wrong and how to fix it.

* readers: `file_kind`, `read_table` (CSV / TSV, Parquet, JSON Lines; ``.gz`` / ``.bz2`` /
  ``.xz`` decompressed; CSV cells read as text, the index holding each record's physical file
  line, every line checked to have as many fields as the header);
* values: `canonical_class` (``1``, ``1.0`` and ``"1.0"`` are class ``"1"``), `id_strings`,
  `class_names`, `is_missing` (the empty cell, plus the spellings the caller lists in
  ``na_values``), `scalar_cells` (bytes decoded, lists / dicts / sets refused);
* a label table: `check_table`, `normalise_rows` (per partition), `class_index`,
  `duplicate_rows`, `subtype_codes`, `parse_timestamps`;
* gold and the positive class: `read_gold` (the one gold reader: a column, file, table,
  Series or mapping), `gold_codes`, `check_gold_only`, `positive_code` (the one rule for
  ``positive=``).
"""

from __future__ import annotations

import bz2
import csv
import gzip
import itertools
import json
import lzma
import math
import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd

from .errors import DataError

# Texts that often stand for "missing" (R's NA, pandas' NaN, JSON's null, Python's None).
# They are *not* missing by default (ids are kept exactly as given; ``na_values=`` makes them
# missing): a label spelled like this is refused unless the classes are declared
# (`class_index`), since it is far more often a missing value than a class.
LOOKS_MISSING = frozenset({"na", "n/a", "nan", "null", "none", "nil", "#n/a", "missing"})
MAX_LISTED = 5
MAX_CLASSES = 1000  # more distinct labels than this is refused unless max_classes= says otherwise


# --------------------------------------------------------------------------- values


def rows_text(labels: Sequence[Any], row_name: str) -> str:
    """'line 3, 7, 9 (and 12 more)' for error messages."""
    shown = ", ".join(str(r) for r in list(labels)[:MAX_LISTED])
    more = len(labels) - MAX_LISTED
    plural = "s" if len(labels) > 1 else ""
    return f"{row_name}{plural} {shown}" + (f" (and {more} more)" if more > 0 else "")


def na_spellings(na_values: Iterable[str] | str | None) -> frozenset[str]:
    """The texts that mean "missing": the empty cell always, plus ``na_values`` (a string is
    one spelling). Matched after stripping surrounding whitespace, case-sensitively."""
    if na_values is None:
        return frozenset({""})
    spellings = [na_values] if isinstance(na_values, str) else list(na_values)
    odd = [v for v in spellings if not isinstance(v, str)]
    if odd:
        raise DataError(
            f"na_values must be texts such as ['NA', 'null'], got {odd[0]!r}: list the spellings "
            "that mean a missing value, as they are written in the file"
        )
    return frozenset({"", *(v.strip() for v in spellings)})


def is_missing(values: pd.Series, na_values: Iterable[str] | str | None = None) -> np.ndarray:
    """True where a value is NaN / None, an empty (or whitespace-only) text, or one of the
    ``na_values`` spellings. ``"NA"``, ``"null"`` and ``"None"`` are values unless listed."""
    missing = values.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return missing
    as_str = values.astype("string").str.strip()
    return missing | as_str.isin(na_spellings(na_values)).fillna(True).to_numpy()


_SCALARS = (str, int, float, np.integer, np.floating, np.bool_, np.str_)
_MISSING_TYPES = (type(None), type(pd.NA), type(pd.NaT))


def _cell_kind(value: Any) -> str:
    """What a cell holds: ``"ok"`` (a scalar or missing), ``"bytes"``, or the name of the kind
    of container / object it is."""
    if value is None or value is pd.NA or value is pd.NaT or isinstance(value, _SCALARS):
        return "ok"
    if isinstance(value, bytes | bytearray):
        return "bytes"
    if isinstance(value, list | tuple | np.ndarray):
        return "a list"
    if isinstance(value, dict | Mapping):
        return "an object (dict)"
    if isinstance(value, set | frozenset):
        return "a set"
    return f"a {type(value).__name__} value"


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def scalar_cells(values: pd.Series, column: Hashable, noun: str, row_name: str) -> pd.Series:
    """``values`` with bytes decoded as UTF-8 text; a list, dict, set or other object in
    place of one value is refused, naming the rows (``noun``: what one cell should be, e.g.
    ``"class name"``)."""
    if values.dtype != object:
        return values
    present = set(map(type, values.to_numpy()))
    if all(issubclass(kind, _SCALARS) or kind in _MISSING_TYPES for kind in present):
        return values  # the common case: one pass at C speed
    kinds = values.map(_cell_kind)
    odd = (kinds != "ok") & (kinds != "bytes")
    if odd.any():
        rows = list(values.index[odd.to_numpy()])
        raise DataError(
            f"column {column!r} holds {kinds[odd].iloc[0]} instead of {_a(noun)} in "
            f"{rows_text(rows, row_name)}: give one {noun} per row (one row per label)"
        )
    if not (kinds == "bytes").any():
        return values
    decoded = values.map(_utf8_text)
    undecodable = decoded.map(lambda v: v is _NOT_UTF8).to_numpy(dtype=bool)
    if undecodable.any():
        position = int(np.flatnonzero(undecodable)[0])
        raise DataError(
            f"column {column!r} holds bytes that are not UTF-8 text ({bytes(values.iloc[position])[:20]!r}) "
            f"in {rows_text(list(values.index[undecodable]), row_name)}: store it as a text column "
            "(decode it first)"
        )
    return decoded


_NOT_UTF8 = object()


def _utf8_text(value: Any) -> Any:
    """Bytes decoded as UTF-8 (`_NOT_UTF8` when they are not); other values as they are."""
    if not isinstance(value, bytes | bytearray):
        return value
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return _NOT_UTF8


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
    # a string column (Arrow-backed or object of str) factorizes in its own storage: no Python
    # object per row (5M labels: 0.9 s -> 0.2 s)
    codes, distinct = pd.factorize(values if values.dtype != object else values.to_numpy(dtype=object))
    mapped = np.asarray([func(v) for v in distinct], dtype=object)[codes]
    return pd.Series(mapped, index=values.index, dtype=object)  # not re-inferred as Arrow text


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


def _float_ids_error(what: str, example: float, row: Any, row_name: str, bad: list) -> DataError:
    return DataError(
        f"{what} ids are floating-point numbers (e.g. {float(example)!r} in {row_name} {row}); "
        f"ids must be strings or integers. Read the file with dtype=str, or convert the "
        f"column with .astype('Int64').astype(str)"
        + (f" ({rows_text(bad, row_name)} are not even whole numbers)" if len(bad) else "")
    )


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
    """Ids as stripped strings, exactly as written otherwise.

    Ids must be strings or integers: floats such as 12.0 (from a column with NaN), booleans,
    and a column where one id is written both as a number and as a string (``1`` and ``"1"``)
    are refused; so are text ids that differ only by a trailing ``.0`` (``"7"`` and ``"7.0"``,
    a spreadsheet's doing), naming the rows.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        raise DataError(
            f"{what} ids are booleans (e.g. {bool(values.iloc[0])!r} in {row_name} {values.index[0]}): "
            f"ids must be strings or integers; is {what}=... the right column?"
        )
    if pd.api.types.is_float_dtype(values.dtype):
        bad = list(values.index[values.notna() & (values % 1 != 0)])
        first = values.dropna()
        raise _float_ids_error(what, first.iloc[0], first.index[0], row_name, bad)
    if pd.api.types.is_integer_dtype(values.dtype):
        return pd.Series(values.astype(str).to_numpy(dtype=object), index=values.index)
    if pd.api.types.is_string_dtype(values):  # every id a string (CSV, Parquet): no mix, no loop
        ids = values.str.strip()  # stays in the column's string storage (Arrow: no object per id)
        _check_spreadsheet_numbers(ids, what, row_name)
        return ids
    present = set(map(type, values.to_numpy()))
    is_float = (
        values.map(lambda v: isinstance(v, float | np.floating) and not np.isnan(v)).to_numpy(dtype=bool)
        if any(issubclass(kind, float | np.floating) for kind in present)
        else np.zeros(len(values), dtype=bool)
    )
    if is_float.any():
        floats = values[is_float]
        bad = list(floats.index[(floats.astype(float) % 1 != 0).to_numpy()])
        raise _float_ids_error(what, floats.iloc[0], floats.index[0], row_name, bad)
    if bool in present or np.bool_ in present:
        is_bool = values.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)
        rows = list(values.index[is_bool])
        raise DataError(
            f"{what} ids include booleans ({values[is_bool].iloc[0]!r} in {rows_text(rows, row_name)}): "
            f"ids must be strings or integers; is {what}=... the right column?"
        )
    kinds = {kind for kind in present if kind not in _MISSING_TYPES and not issubclass(kind, float)}
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
    ids = values.map(lambda v: str(v).strip() if not isinstance(v, str) else v.strip())
    _check_spreadsheet_numbers(ids, what, row_name)
    return ids


def _check_spreadsheet_numbers(ids: pd.Series, what: str, row_name: str) -> None:
    """Refuse ids ``"7"`` and ``"7.0"`` in one column: the same number, written two ways."""
    if not isinstance(ids.dtype, pd.StringDtype):
        ids = ids.astype("str")  # Arrow strings: the pattern runs over the column at once
    if not ids.str.contains(".", regex=False, na=False).any():  # a plain search: most tables
        return
    dotted = ids.str.fullmatch(r"[+-]?\d+\.0+", na=False).to_numpy()
    if not dotted.any():
        return
    whole = ids[dotted].str.replace(r"\.0+$", "", regex=True)
    present = whole.isin(pd.Index(ids.dropna().unique())).to_numpy()
    if present.any():
        number = whole[present].iloc[0]
        as_whole = ids.str.replace(r"\.0+$", "", regex=True)
        rows = list(ids.index[(as_whole == number).to_numpy(dtype=bool, na_value=False)])
        raise DataError(
            f"{what} ids {number!r} and {ids[dotted][present].iloc[0]!r} both occur "
            f"({rows_text(rows, row_name)}): the same number written two ways (a spreadsheet "
            f"export?); ids are kept exactly as written, so write every {what} id one way"
        )


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
    """Read a file, CSV cells as strings; file problems become DataError.

    The index holds the file's physical line numbers for CSV (header is line 1; a record
    whose quoted field spans lines is named by its first line) and JSON Lines. Column names
    are stripped of whitespace and a byte-order mark; a name given twice is refused.
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
    check_unique_columns(frame.columns, str(path))
    return frame


def check_unique_columns(columns: Iterable[Hashable], where: str = "") -> None:
    """A DataError naming a column name that occurs twice (after stripping whitespace)."""
    names = pd.Index([str(c).strip() for c in columns])
    if names.has_duplicates:
        twice = names[names.duplicated()][0]
        positions = [n + 1 for n, name in enumerate(names) if name == twice]
        raise DataError(
            f"{where + ': ' if where else ''}the column name {twice!r} occurs more than once "
            f"(columns {', '.join(map(str, positions))}): give every column its own name, so it is "
            "clear which one is meant"
        )


def _decoded_text(path: Path) -> str:
    """The file's text, decompressed by extension; UTF-8 (with or without BOM), else Latin-1.

    Line ends are normalised to ``\\n`` (``\\r\\n`` and a lone ``\\r`` both end a line)."""
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
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _sniffed_separator(path: Path, text: str) -> str:
    """Tab for .tsv files or a tab in the first line; else ``;`` if it outnumbers ``,``."""
    first_line = text.lstrip().split("\n", 1)[0]
    if ".tsv" in [s.lower() for s in path.suffixes]:
        if "\t" not in first_line and ("," in first_line or ";" in first_line):
            found = "," if first_line.count(",") >= first_line.count(";") else ";"
            raise DataError(
                f"{path}: the file is named .tsv but its header line has no tab; it looks separated "
                f"by {found!r}: rename it .csv, or pass the separator (sep={found!r})"
            )
        return "\t"
    if "\t" in first_line:
        return "\t"
    return ";" if first_line.count(";") > first_line.count(",") else ","


@dataclass(frozen=True)
class _Records:
    """A CSV text cut into records: every cell as text (one row per record, as many columns as
    the widest record; short records padded with ``""``), each record's first physical line,
    and its number of fields (0 for a blank line)."""

    cells: pd.DataFrame
    line: np.ndarray
    width: np.ndarray


def _pandas_cells(text: str, sep: str, n_columns: int, quoted: bool) -> pd.DataFrame:
    """Every record's fields as text (C parser), short records padded with ``""``."""
    return pd.read_csv(
        StringIO(text),
        sep=sep,
        header=None,
        names=range(max(n_columns, 1)),
        dtype=str,
        na_filter=False,
        skip_blank_lines=False,
        index_col=False,
        quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE,
        doublequote=True,
        engine="c",
    )


def _records_by_lines(text: str, sep: str) -> _Records | None:
    """Records of a text without quote characters: one per physical line (pandas' C parser
    for the cells). None if pandas cuts it differently (then the csv module decides)."""
    width = _fields_per_line(text, sep)
    cells = _pandas_cells(text, sep, int(width.max(initial=0)), quoted=False)
    if len(cells) != len(width):
        return None
    return _Records(cells, np.arange(1, len(width) + 1), width)


def _fields_per_line(text: str, sep: str) -> np.ndarray:
    """Fields on each physical line of an unquoted text (0 for a blank line), counted over the
    UTF-8 bytes at once (a one-character separator is one byte when it is ASCII)."""
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    if len(sep.encode("utf-8")) != 1:  # a non-ASCII separator: line by line
        lines = text.split("\n")[: -1 if text.endswith("\n") else None]
        return np.asarray([line.count(sep) + 1 if line.strip() else 0 for line in lines], dtype=np.int64)
    newline = np.flatnonzero(data == ord("\n"))
    starts = np.concatenate([[0], newline + 1])
    if len(data) and data[-1] == ord("\n"):
        starts = starts[:-1]  # no line after the final line end
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    separators = np.add.reduceat(data == ord(sep), starts, dtype=np.int64)
    ink = np.add.reduceat(~np.isin(data, np.frombuffer(b" \t\n\v\f", dtype=np.uint8)), starts, dtype=np.int64)
    return np.where(ink > 0, separators + 1, 0)


def _records_by_csv(path: Path, text: str, sep: str) -> _Records:
    """Records cut by the csv module (quoted fields may hold the delimiter, quotes and line
    breaks); a quote never closed, or text after a closing quote, is refused naming the line.

    The csv module decides the records and their lines; pandas' C parser reads the cells
    when it cuts the same number of records (else they come from the csv module)."""
    try:
        rows = list(csv.reader(StringIO(text), delimiter=sep, strict=True))
    except csv.Error:
        _raise_quoting_error(path, text, sep)
        raise
    width = np.fromiter(map(len, rows), np.int64, len(rows))
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    starts = np.arange(1, len(rows) + 1) if len(rows) == n_lines else _record_lines(text, sep)
    cells = _pandas_cells(text, sep, int(width.max(initial=0)), quoted=True)
    if len(cells) != len(rows):
        columns = itertools.zip_longest(*rows, fillvalue="") if rows else iter([("",)])
        cells = pd.DataFrame({n: pd.array(column, dtype="str") for n, column in enumerate(columns)})
    return _Records(cells, starts, width)


def _record_lines(text: str, sep: str) -> np.ndarray:
    """The first physical line of every record (a quoted field may span lines)."""
    reader = csv.reader(StringIO(text), delimiter=sep, strict=True)
    starts, start = [], 1
    for _ in reader:
        starts.append(start)
        start = reader.line_num + 1
    return np.asarray(starts, dtype=np.int64)


def _raise_quoting_error(path: Path, text: str, sep: str) -> None:
    """The DataError for a text the csv module cannot cut, naming the line."""
    reader = csv.reader(StringIO(text), delimiter=sep, strict=True)
    start = 1
    try:
        for _ in reader:
            start = reader.line_num + 1
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise DataError(
                f'{path}: a quote (") opened in the record starting on line {start} is never closed, '
                "so the rest of the file would be read as one field: close the quote, or double a "
                'quote that is part of a value ("")'
            ) from None
        raise DataError(
            f"{path}: line {reader.line_num}: {exc}: a quoted field must be quoted whole "
            '(text after the closing quote is not allowed); double a quote that is part of a value ("")'
        ) from None


def _read_csv_text(path: Path, sep: str | None) -> pd.DataFrame:
    """The CSV as a frame of text cells indexed by file line, after the structural checks:
    every line has as many fields as the header, no repeated header line, no header name twice.

    A trailing delimiter is accepted and ignored: one extra *empty* field at the end of a line,
    and an unnamed header column at the end whose cells are all empty. Blank lines and rows of
    empty fields (``,,``) are not labels and are skipped.
    """
    text = _decoded_text(path)
    if not text.strip():
        raise DataError(
            f"{path}: the file is empty: it needs a header line (item,annotator,label) and one line per label"
        )
    if sep is None:
        sep = _sniffed_separator(path, text)
    elif len(sep) != 1:
        raise DataError(f"sep={sep!r}: the separator must be one character, such as ',', ';' or '\\t'")
    records = (_records_by_lines(text, sep) if '"' not in text else None) or _records_by_csv(path, text, sep)
    cells = records.cells.apply(lambda c: c.str.strip().str.lstrip("\ufeff"))
    blank = (records.width == 0) | (cells == "").all(axis=1).to_numpy()
    if blank.all():
        raise DataError(
            f"{path}: the file has no header line, only blank lines: it needs a header line "
            "(item,annotator,label) and one line per label"
        )
    top = int(np.flatnonzero(~blank)[0])
    n_header = int(records.width[top])
    header = list(cells.iloc[top, :n_header])
    data = ~blank & (np.arange(len(blank)) > top)
    named = n_header - 1 if n_header > 1 and header[-1] == "" else n_header  # a trailing delimiter
    width = records.width
    extra_empty = (width == named + 1) & (cells.iloc[:, min(named, cells.shape[1] - 1)] == "").to_numpy()
    wrong = data & (width != named) & ~extra_empty
    if wrong.any():
        _raise_field_count(path, records.line[wrong], width[wrong], named, int(records.line[top]), sep)
    names = [name or f"Unnamed: {n}" for n, name in enumerate(header[:named])]
    check_unique_columns(names, str(path))
    frame = records.cells.loc[data, list(range(named))]
    frame.columns = names
    frame.index = pd.Index(records.line[data])
    repeated = (cells.loc[data, list(range(named))] == header[:named]).all(axis=1).to_numpy()
    if repeated.any():
        raise DataError(
            f"{path}: the header line ({','.join(header[:named])}) appears again in "
            f"{rows_text(list(frame.index[repeated]), 'line')}: remove the repeated header lines "
            "(were several files joined with their headers?)"
        )
    return frame


def _raise_field_count(
    path: Path, lines: np.ndarray, widths: np.ndarray, expected: int, header_line: int, sep: str
) -> None:
    """The error for lines whose number of fields is not the header's."""
    first_line, first_width = int(lines[0]), int(widths[0])
    others = f" (also {rows_text([int(n) for n in lines[1:]], 'line')})" if len(lines) > 1 else ""
    delimiter = {"\t": "tab", ",": "','", ";": "';'"}.get(sep, repr(sep))
    if (widths > expected).all():
        why = (
            f"a value that contains the delimiter {delimiter} must be quoted, or the header "
            f"lacks a column name"
        )
    elif (widths < expected).all():
        why = "fields are missing: leave an empty field between delimiters where there is no value"
    else:
        why = f"check the delimiter ({delimiter}) and the quoting"
    raise DataError(
        f"{path}: line {first_line} has {first_width} field{'s' if first_width != 1 else ''} but the "
        f"header (line {header_line}) has {expected}{others}: every line needs as many fields as the "
        f"header line; {why}"
    )


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's dict, refusing a key given twice (json would keep the last silently)."""
    record = dict(pairs)
    if len(record) != len(pairs):
        keys = [key for key, _ in pairs]
        raise _RepeatedKey(next(key for key in keys if keys.count(key) > 1))
    return record


_KEY_END = re.compile(r'"\s*:')  # ends every key of a JSON object (and maybe some text)


class _RepeatedKey(ValueError):
    """A key that occurs twice in one JSON object."""


def _json_column(values: list[Any]) -> Any:
    """A JSON Lines column: text, 64-bit integers or booleans when every value is one of them
    (and none is missing), floats (null = NaN) when every value is a float or null, else the
    values as JSON gave them (object: integers with nulls stay integers, not floats)."""
    kinds = set(map(type, values))
    if kinds == {str}:
        return pd.array(values, dtype="str")
    if kinds == {bool}:
        return np.asarray(values, dtype=bool)
    if kinds == {int} and -(2**63) <= min(values) and max(values) < 2**63:
        return np.asarray(values, dtype=np.int64)
    if float in kinds and kinds <= {float, type(None)}:  # numbers with a decimal point; null = NaN
        return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def _read_jsonl_text(path: Path) -> pd.DataFrame:
    """One JSON object per line; the index holds file line numbers (blank lines are skipped).

    Values are kept as JSON gives them (object columns: integers beyond 64 bits, a ``null``
    among integers); a key given twice in one object is refused."""
    lines = _decoded_text(path).split("\n")  # not splitlines(): U+2028 may sit inside a JSON string
    numbers = [n for n, line in enumerate(lines, start=1) if line.strip()]
    if not numbers:
        return pd.DataFrame()
    if lines[numbers[0] - 1].lstrip().startswith("["):
        raise DataError(
            f"{path} holds a JSON array, not JSON Lines: each line must be one JSON object (pandas writes "
            "that with .to_json(path, orient='records', lines=True))"
        )
    records = []
    for n in numbers:
        line = lines[n - 1]
        try:
            record = json.loads(line)
            if isinstance(record, dict) and len(_KEY_END.findall(line)) > len(record):  # a key twice?
                json.loads(line, object_pairs_hook=_no_repeated_keys)
        except _RepeatedKey as exc:
            raise DataError(
                f"{path}: line {n} gives the key {exc.args[0]!r} twice: give each key once per object "
                "(JSON readers would silently keep one of them)"
            ) from None
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}: line {n} is not valid JSON ({exc.msg} at column {exc.colno}): fix or "
                "remove that line; each line must be one JSON object"
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"{path}: line {n} is not a JSON object (it reads {line.strip()[:30]!r}): "
                'each line must be one object such as {"item": "a", "annotator": "w1", "label": 1}'
            )
        records.append(record)
    keys = list(dict.fromkeys(key for record in records for key in record))
    columns = {key: _json_column([record.get(key) for record in records]) for key in keys}
    return pd.DataFrame(columns, index=pd.Index(numbers))


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
    """The whole-table checks: a DataFrame, not empty, with the item, annotator, label columns
    (each name once)."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if len(frame) == 0:
        raise empty_table_error(item, annotator, label, source)
    check_unique_columns(frame.columns, source)
    check_columns(frame.columns, item, annotator, label)


def normalise_rows(
    frame: pd.DataFrame,
    item: str,
    annotator: str,
    label: str,
    row_name: str = "row",
    na_values: Iterable[str] | str | None = None,
) -> pd.DataFrame:
    """Columns ``item``, ``annotator`` (stripped id strings; categorical where the column is
    text, checked and stripped once per distinct id) and ``label`` (canonical class names) of
    a label table or one partition of it, on the frame's index; ``attrs[STRIPPED_IDS]`` counts
    the ids that lost surrounding whitespace.

    A cell is missing when it is empty (or NaN / None) or one of the ``na_values`` spellings;
    ``"NA"`` or ``"null"`` are ids like any other unless listed there. Refuses missing ids or
    labels, a list, dict or set in place of one value (bytes are decoded as UTF-8), float or
    boolean ids and ids that mix numbers and strings, naming the rows (by ``row_name`` and
    the frame's index).
    """
    columns: dict[str, pd.Series] = {}
    stripped = 0
    for column, what in ((item, "item"), (annotator, "annotator"), (label, "label")):
        noun = "class name" if what == "label" else f"{what} id"
        values = scalar_cells(frame[column], column, noun, row_name)
        text_ids = what != "label" and isinstance(values.dtype, pd.StringDtype)
        if text_ids:  # every check and the stripping on the distinct ids, not per row
            codes, distinct = pd.factorize(values)
            distinct_values = pd.Series(distinct, dtype=values.dtype)
            missing = np.append(is_missing(distinct_values, na_values), True)[codes]
        else:
            missing = is_missing(values, na_values)
        if missing.any():
            rows = list(frame.index[missing])
            fix = (
                "drop those rows or fill in the label"
                if what == "label"
                else f"every row needs an {what} id; drop those rows or fill them in"
            )
            raise DataError(f"missing {what} ({column!r} is empty/NaN) in {rows_text(rows, row_name)}: {fix}")
        if text_ids:
            columns[what], changed = _distinct_text_ids(values, codes, distinct_values, what, row_name)
            stripped += changed
        elif what == "label":
            columns[what] = class_names(values)
        else:
            columns[what] = id_strings(values, what, row_name)
            stripped += _stripped_count(frame[column], columns[what])
    rows = pd.DataFrame(columns, index=frame.index)
    rows.attrs[STRIPPED_IDS] = stripped
    return rows


STRIPPED_IDS = "stripped_ids"
"""``normalise_rows(...).attrs[STRIPPED_IDS]``: how many ids lost surrounding whitespace."""


def _distinct_text_ids(
    values: pd.Series, codes: np.ndarray, distinct: pd.Series, what: str, row_name: str
) -> tuple[pd.Series, int]:
    """Text ids stripped and checked once per distinct id (`id_strings`), as a categorical
    column on the rows (factorizing it later reads the codes, no string hashing), and how many
    rows had whitespace stripped. An error is re-raised from the rows, to name them."""
    try:
        clean = id_strings(distinct, what, row_name)
    except DataError:
        id_strings(values, what, row_name)
        raise
    changed = (clean != distinct).to_numpy(dtype=bool, na_value=False)
    n_changed = 0
    names = clean.array
    if changed.any():  # " a" and "a" are one id once stripped
        n_changed = int(np.bincount(codes, minlength=len(distinct))[changed].sum())
        merged, names = pd.factorize(clean)
        codes = merged[codes]
    categorical = pd.Categorical.from_codes(codes, categories=pd.Index(names))
    return pd.Series(categorical, index=values.index), n_changed


def _stripped_count(raw: pd.Series, clean: pd.Series) -> int:
    """How many text ids of ``raw`` lost surrounding whitespace in ``clean``."""
    if raw.dtype != object:
        return 0
    is_text = np.fromiter((type(v) is str for v in raw), dtype=bool, count=len(raw))
    return int((is_text & (raw.astype(str) != clean).to_numpy(dtype=bool)).sum())


def count_stripped(rows: pd.DataFrame) -> int:
    """How many text ids lost surrounding whitespace in `normalise_rows` (its ``attrs``)."""
    return int(rows.attrs.get(STRIPPED_IDS, 0))


def class_index(
    classes: Sequence[Hashable] | None,
    labels: Iterable[str],
    rows_of: Callable[[list[str]], list],
    row_name: str = "row",
    max_classes: int | None = MAX_CLASSES,
) -> pd.Index:
    """The class code book: ``classes`` (canonical names) if declared, else the distinct
    ``labels`` sorted. ``rows_of(names)`` lists the rows whose label is one of ``names``
    (called only to name the rows in an error).

    Refused up front, before anything is sized by the number of classes: more than
    ``max_classes`` classes (default 1000; None = no limit), which almost always means the
    wrong column was read as the label. Without declared classes, a label spelled like a
    missing value (``NA``, ``null``, ``None``, ``NaN``, ``n/a`` …, any case) is refused too."""
    labels = list(dict.fromkeys(labels))
    named = labels if classes is None else [str(c) for c in classes]
    check_class_count(len(named), named, max_classes)
    if classes is not None:
        declared = [canonical_class(c) for c in classes]
        if len(set(declared)) != len(declared):
            raise DataError(f"classes={list(classes)} repeats a class name: give each class once")
    else:  # gold classes are checked against these later (`gold_codes`)
        looks_missing = [name for name in labels if name.strip().casefold() in LOOKS_MISSING]
        if looks_missing:
            raise DataError(
                f"label(s) {looks_missing[:MAX_LISTED]} in {rows_text(rows_of(looks_missing), row_name)} "
                "look like a missing value, not a class: drop those rows or fill in the label (in a wide "
                f"table, listing {looks_missing[0]!r} in na_values leaves those cells out); if "
                f"{looks_missing[0]!r} really is a class, declare every class with classes=[...]"
            )
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


def check_class_count(n_classes: int, labels: Sequence[str], max_classes: int | None) -> None:
    """Refuse more than ``max_classes`` classes (None: no limit), saying how many and why."""
    if max_classes is None:
        return
    if isinstance(max_classes, bool) or not isinstance(max_classes, int | np.integer) or max_classes < 2:
        raise DataError(f"max_classes={max_classes!r}: give a whole number ≥ 2, or None for no limit")
    if n_classes > max_classes:
        raise DataError(
            f"{n_classes} classes (e.g. {list(labels[:3])}) is more than max_classes={max_classes}: "
            "that many distinct labels usually means the wrong column was read as the label (an id, "
            "a score or free text?); check label=..., or pass max_classes=None (or a larger number) "
            "if there really are that many classes"
        )


def duplicate_rows(
    rows: pd.DataFrame, item_code: np.ndarray, annotator_code: np.ndarray, policy: str, row_name: str
) -> tuple[np.ndarray, int]:
    """Rows to keep under the ``duplicates=`` policy, and how many (item, annotator) pairs repeat."""
    if policy not in ("keep", "last", "error"):
        raise DataError(f"duplicates={policy!r}: use 'keep', 'last' or 'error'")
    n_annotators = int(annotator_code.max()) + 1 if len(annotator_code) else 0
    key = item_code.astype(np.int64) * n_annotators + annotator_code
    keep_rows = np.ones(len(rows), dtype=bool)
    ordered = np.sort(key)  # repeats are rare: one sort says so (5M rows 0.3 s; hashing 0.8 s)
    if not (ordered[1:] == ordered[:-1]).any():
        return keep_rows, 0
    pair = pd.Series(key)
    repeated_mask = pair.duplicated(keep=False).to_numpy()
    repeated_pairs = int(pair[repeated_mask].nunique())
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
    values: pd.Series,
    item_code: np.ndarray,
    item_index: pd.Index,
    row_name: str,
    na_values: Iterable[str] | str | None = None,
) -> tuple[pd.Index, np.ndarray]:
    """Subtype code book and code per item (``-1`` = none) from a per-row subtype column;
    refuses an item whose rows give different subtypes, or a list / dict in a cell."""
    codes = np.full(len(item_index), -1, dtype=np.int64)
    values = scalar_cells(values, values.name, "subtype", row_name)
    missing = is_missing(values, na_values)
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


# The range of datetime64[ns], the precision timestamps are kept in.
_FIRST_TIME = pd.Timestamp("1677-09-22", tz="UTC")
_LAST_TIME = pd.Timestamp("2262-04-11", tz="UTC")


def parse_timestamps(
    values: pd.Series, row_name: str, na_values: Iterable[str] | str | None = None
) -> np.ndarray:
    """UTC datetime64[ns] per row (NaT where empty).

    Text is parsed as ISO 8601 (any offset, converted to UTC; no offset = UTC); datetime
    columns (Parquet) are taken as they are (naive = UTC). Refused, naming the rows:
    unparseable text; numbers (epoch seconds? milliseconds? the unit is not guessed — convert
    with ``pd.to_datetime(column, unit="s", utc=True)``); times outside 1677-09-22 …
    2262-04-11, which nanosecond precision cannot hold.
    """
    values = scalar_cells(values, values.name, "timestamp", row_name)
    missing = is_missing(values, na_values)
    numeric = _numeric_cells(values) & ~missing
    if numeric.any():
        rows = list(values.index[numeric])
        example = np.asarray(values[numeric], dtype=object)[0]
        example = example.item() if isinstance(example, np.generic) else example
        raise DataError(
            f"timestamp column {values.name!r} holds numbers (e.g. {example!r} in "
            f"{rows_text(rows, row_name)}), and whether they count seconds, milliseconds or "
            "nanoseconds since 1970 is not guessed: convert the column first, e.g. "
            f"frame[{values.name!r}] = pd.to_datetime(frame[{values.name!r}], unit='s', utc=True), "
            "or write ISO 8601 text (2026-01-31T12:00:00Z)"
        )
    try:
        parsed = pd.to_datetime(values.where(~missing, None), errors="coerce", utc=True, format="mixed")
    except (OverflowError, pd.errors.OutOfBoundsDatetime, ValueError, TypeError) as exc:
        raise DataError(
            f"timestamp column {values.name!r} cannot be read as times ({str(exc).splitlines()[0]}): "
            "use ISO 8601 text (e.g. 2026-01-31T12:00:00Z) or drop the timestamp column"
        ) from None
    bad = parsed.isna().to_numpy() & ~missing
    if bad.any():
        rows = list(values.index[bad])
        raise DataError(
            f"unparseable timestamp(s) {list(values[bad].astype(str).iloc[:3])} in "
            f"{rows_text(rows, row_name)}: use ISO 8601 (e.g. 2026-01-31T12:00:00Z) or drop "
            "the timestamp column"
            + (
                f" (if {spelled[0]!r} marks a missing time, list it in na_values)"
                if (spelled := [v for v in values[bad].astype(str) if v.strip().casefold() in LOOKS_MISSING])
                else ""
            )
        )
    outside = ((parsed < _FIRST_TIME) | (parsed > _LAST_TIME)).to_numpy(dtype=bool, na_value=False)
    if outside.any():
        rows = list(values.index[outside])
        raise DataError(
            f"timestamp(s) {[str(t) for t in parsed[outside].iloc[:3]]} in {rows_text(rows, row_name)} "
            "are outside the years 1677–2262 that timestamps are kept in (nanosecond precision): "
            "fix the year, or drop the timestamp column"
        )
    return parsed.to_numpy(dtype="datetime64[ns]")


def _numeric_cells(values: pd.Series) -> np.ndarray:
    """True where a cell is a number (int / float, not a boolean), not text or a time."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return np.zeros(len(values), dtype=bool)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return np.ones(len(values), dtype=bool)
    if values.dtype != object:
        return np.zeros(len(values), dtype=bool)
    return values.map(
        lambda v: isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)
    ).to_numpy(dtype=bool)


# --------------------------------------------------------------------------- gold


def gold_column(gold: Any, columns: Iterable[Hashable]) -> str | None:
    """``gold`` when it names a column of the label table, else None."""
    return gold if isinstance(gold, str) and gold in list(columns) else None


def gold_names(
    values: pd.Series, na_values: Iterable[str] | str | None = None, row_name: str = "row"
) -> pd.Series:
    """Canonical gold class per value, None where unknown.

    Gold is sparse by nature, so besides the empty cell and ``na_values``, the usual spellings
    of a missing value (``NA``, ``null``, ``None``, ``NaN``, ``n/a``, any case) mean "no gold
    for this item" here (in ids and labels they do not)."""
    values = scalar_cells(values, "gold", "class name", row_name)
    missing = is_missing(values, na_values)
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        spelled = values.astype("string").str.strip().str.casefold().isin(LOOKS_MISSING)
        missing |= spelled.fillna(False).to_numpy(dtype=bool)
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
    gold: None,
    *,
    frame: pd.DataFrame | None = ...,
    item_ids: pd.Series | None = ...,
    row_name: str = ...,
    na_values: Iterable[str] | str | None = ...,
) -> None: ...
@overload
def read_gold(
    gold: str | Path | pd.DataFrame | pd.Series | Mapping[Any, Any],
    *,
    frame: pd.DataFrame | None = ...,
    item_ids: pd.Series | None = ...,
    row_name: str = ...,
    na_values: Iterable[str] | str | None = ...,
) -> pd.Series: ...
def read_gold(
    gold: Any,
    *,
    frame: pd.DataFrame | None = None,
    item_ids: pd.Series | None = None,
    row_name: str = "row",
    na_values: Iterable[str] | str | None = None,
) -> pd.Series | None:
    """The one gold reader: gold item → canonical class name, one entry per item with gold.

    ``gold``: a column of ``frame`` (then ``item_ids`` are the frame's normalised item ids), a
    path to a table (CSV / Parquet / JSON Lines), a DataFrame with columns ``item`` and ``gold``
    (or just two columns, id then class), a Series indexed by item, or a mapping item → class;
    None gives None. Empty gold values (and ``na_values``, and the usual spellings of a missing
    value: see `gold_names`) mean "unknown" and are left out; an item given two different gold
    classes, or gold without an item id, is refused.
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
    if not is_column:
        table = table.assign(item=scalar_cells(table["item"], "item", "item id", gold_rows))
    missing_item = is_missing(table["item"], na_values)
    if missing_item.any() and not is_column:
        raise DataError(
            f"{where}: missing item id in {rows_text(list(table.index[missing_item]), gold_rows)}: "
            "drop those gold rows or fill in the item id"
        )
    ids = id_strings(table["item"], "gold item", gold_rows)
    return gold_by_item(ids, gold_names(table["gold"], na_values, gold_rows), where, gold_rows)


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
