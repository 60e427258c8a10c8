"""`Annotations`: the one validated, integer-coded view of a label table.

Every other part of bayeslabels consumes an `Annotations`. It is built from a long
table (one row per label: item, annotator, label, optional subtype and timestamp) held
in a DataFrame, a CSV / Parquet / JSON Lines file, or a wide item × annotator table,
plus optional gold labels per item (a column or a separate table).

Conventions:

* item and annotator ids are strings, exactly as written (``"0001"`` stays ``"0001"``;
  surrounding whitespace is stripped and counted in the ingest summary);
* class names are strings; integral numbers are written without a decimal point
  (``1``, ``1.0`` and ``"1.0"`` are all class ``"1"``), booleans as ``"true"``/``"false"``;
* the class order is the one given, or sorted (numerically when every class is a number);
* codes are int arrays; ``-1`` means "unknown" for per-item ``subtype`` and ``gold``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .errors import DataError

DuplicatePolicy = Literal["keep", "last", "error"]
GoldOnlyPolicy = Literal["error", "keep"]
_MISSING_STRINGS = frozenset({"", "nan", "NaN", "NA", "N/A", "null", "NULL", "None"})
_MAX_LISTED = 5


# --------------------------------------------------------------------------- helpers


def _rows_text(labels: Sequence[Any], row_name: str) -> str:
    """'line 3, 7, 9 (and 12 more)' for error messages."""
    shown = ", ".join(str(r) for r in list(labels)[:_MAX_LISTED])
    more = len(labels) - _MAX_LISTED
    plural = "s" if len(labels) > 1 else ""
    return f"{row_name}{plural} {shown}" + (f" (and {more} more)" if more > 0 else "")


def _is_missing(values: pd.Series) -> np.ndarray:
    missing = values.isna().to_numpy()
    as_str = values.astype("string").str.strip()
    return missing | as_str.isin(_MISSING_STRINGS).fillna(True).to_numpy()


def _canonical_class(value: Any) -> str:
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


def _map_distinct(values: pd.Series, func: Any) -> pd.Series:
    """``values.map(func)``, calling ``func`` once per distinct value when every value is a string
    (labels repeat a lot; other types go value by value, since 1 == 1.0 == True would merge)."""
    if not pd.api.types.is_string_dtype(values):
        return values.map(func)
    codes, distinct = pd.factorize(values.to_numpy(dtype=object))
    return pd.Series(np.asarray([func(v) for v in distinct], dtype=object)[codes], index=values.index)


def _sort_classes(names: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(names))
    try:
        return sorted(names, key=float)
    except ValueError:
        return sorted(names)


def _id_strings(values: pd.Series, what: str, row_name: str) -> pd.Series:
    """Ids as stripped strings; floats such as 12.0 (from a column with NaN) are refused."""
    if pd.api.types.is_float_dtype(values.dtype):
        bad = values.index[values.notna() & (values % 1 != 0)]
        first = values.dropna()
        raise DataError(
            f"{what} ids are floating-point numbers (e.g. {float(first.iloc[0])!r} in {row_name} "
            f"{first.index[0]}); "
            f"ids must be strings or integers. Read the file with dtype=str, or convert the "
            f"column with .astype('Int64').astype(str)"
            + (f" ({_rows_text(list(bad), row_name)} are not even whole numbers)" if len(bad) else "")
        )
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
                f"({_rows_text(rows, row_name)}). "
                f"Convert the {what} column to strings before building Annotations"
            )
    return values.map(lambda v: str(v).strip() if not isinstance(v, str) else v.strip())


def _hash_frame(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for column in frame.columns:
        digest.update(str(column).encode())
        digest.update(pd.util.hash_pandas_object(frame[column], index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class IngestSummary:
    """What ingest did to the table: counts of everything normalised or dropped."""

    n_rows: int
    n_items: int
    n_annotators: int
    n_classes: int
    n_gold: int
    duplicates_policy: str
    repeated_pairs: int
    rows_dropped_as_duplicates: int
    ids_stripped: int
    items_with_one_label: int
    gold_only_items: int
    source: str = ""

    def __str__(self) -> str:
        lines = [
            f"{_count(self.n_rows, 'label')}, {_count(self.n_items, 'item')}, "
            f"{_count(self.n_annotators, 'annotator')}, {_count(self.n_classes, 'class', 'classes')}, "
            f"gold for {_count(self.n_gold, 'item')}"
        ]
        if self.repeated_pairs:
            lines.append(
                f"{_count(self.repeated_pairs, '(item, annotator) pair')} labelled more than once "
                f"(policy '{self.duplicates_policy}': "
                f"{_count(self.rows_dropped_as_duplicates, 'row')} dropped)"
            )
        if self.ids_stripped:
            stripped = _count(self.ids_stripped, "id or label", "ids or labels")
            lines.append(f"{stripped} had surrounding whitespace removed")
        if self.items_with_one_label:
            one = self.items_with_one_label
            lines.append(f"{_count(one, 'item')} {'has' if one == 1 else 'have'} a single label")
        if self.gold_only_items:
            only = self.gold_only_items
            lines.append(f"{_count(only, 'item')} {'has' if only == 1 else 'have'} gold but no labels")
        return "\n".join(lines)


def _count(n: int, singular: str, plural: str | None = None) -> str:
    """``1 item``, ``2 items`` (``plural`` where adding an s is wrong)."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


# --------------------------------------------------------------------------- Annotations


@dataclass(frozen=True, eq=False)
class Annotations:
    """Validated, integer-coded annotations.

    Attributes
    ----------
    items, annotators, classes, subtypes : pd.Index of str
        The code books; ``items[item_idx[r]]`` is row r's item.
    item_idx, annotator_idx, label : int arrays, one entry per label row.
    subtype, gold : int arrays, one entry per item; ``-1`` = unknown.
    timestamp : datetime64[ns, UTC] array per label row, or None.
    """

    items: pd.Index
    annotators: pd.Index
    classes: pd.Index
    item_idx: np.ndarray
    annotator_idx: np.ndarray
    label: np.ndarray
    gold: np.ndarray
    subtypes: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))
    subtype: np.ndarray | None = None
    timestamp: np.ndarray | None = None
    summary: IngestSummary | None = None

    def __post_init__(self) -> None:
        n_items = len(self.items)
        if self.subtype is None:
            object.__setattr__(self, "subtype", np.full(n_items, -1, dtype=np.int64))
        for name in ("item_idx", "annotator_idx", "label", "gold", "subtype"):
            array = np.ascontiguousarray(getattr(self, name), dtype=np.int64)
            array.setflags(write=False)
            object.__setattr__(self, name, array)
        if self.timestamp is not None:
            self.timestamp.setflags(write=False)

    def __setstate__(self, state: dict) -> None:
        """Unpickling (e.g. on a Dask worker) restores the arrays read-only, as built."""
        self.__dict__.update(state)
        self.__post_init__()

    # ----------------------------------------------------------------- sizes
    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_annotators(self) -> int:
        return len(self.annotators)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_labels(self) -> int:
        return len(self.label)

    @property
    def has_gold(self) -> bool:
        return bool((self.gold >= 0).any())

    @property
    def has_subtypes(self) -> bool:
        return len(self.subtypes) > 0

    @property
    def labels_per_item(self) -> np.ndarray:
        return np.bincount(self.item_idx, minlength=self.n_items)

    @property
    def labels_per_annotator(self) -> np.ndarray:
        return np.bincount(self.annotator_idx, minlength=self.n_annotators)

    def label_counts(self) -> np.ndarray:
        """Item × class matrix of label counts (the votes)."""
        counts = np.zeros((self.n_items, self.n_classes), dtype=np.int64)
        np.add.at(counts, (self.item_idx, self.label), 1)
        return counts

    @property
    def data_hash(self) -> str:
        """A short hash of the content (codes and code books), recorded in provenance."""
        return _hash_frame(self.to_frame(include_gold=True))

    def __repr__(self) -> str:
        sub = f", {len(self.subtypes)} subtypes" if self.has_subtypes else ""
        return (
            f"Annotations({self.n_labels} labels, {self.n_items} items, {self.n_annotators} "
            f"annotators, classes={list(self.classes)}, gold for {int((self.gold >= 0).sum())} "
            f"items{sub})"
        )

    # ----------------------------------------------------------------- views
    def to_frame(self, include_gold: bool = False) -> pd.DataFrame:
        """The long table back, with string ids and class names."""
        frame = pd.DataFrame(
            {
                "item": np.asarray(self.items, dtype=object)[self.item_idx],
                "annotator": np.asarray(self.annotators, dtype=object)[self.annotator_idx],
                "label": np.asarray(self.classes, dtype=object)[self.label],
            }
        )
        if self.has_subtypes:
            frame["subtype"] = np.asarray(self.subtypes, dtype=object)[self.subtype[self.item_idx]]
        if self.timestamp is not None:
            frame["timestamp"] = self.timestamp
        if include_gold:
            gold = self.gold_series()
            frame["gold"] = gold.reindex(frame["item"]).to_numpy()
        return frame

    def gold_series(self) -> pd.Series:
        """Gold class name per item (None where unknown), indexed by item."""
        names = np.asarray(self.classes, dtype=object)
        values = np.where(self.gold >= 0, names[np.maximum(self.gold, 0)], None)
        return pd.Series(values, index=self.items, name="gold", dtype=object)

    def subset(self, items: Iterable[str] | np.ndarray) -> Annotations:
        """Only the given items (ids, or a boolean mask over ``items``), codes unchanged.

        The code books (items, annotators, classes, subtypes) are kept whole so that codes
        stay comparable between the subset and the original; items outside the subset
        simply have no labels and no gold.
        """
        if isinstance(items, np.ndarray) and items.dtype == bool:
            keep_items = items
        else:
            wanted = pd.Index([str(i) for i in items])
            unknown = wanted.difference(self.items)
            if len(unknown):
                raise DataError(
                    f"subset: {len(unknown)} unknown item ids (e.g. {list(unknown[:3])}); "
                    "pass ids from ann.items"
                )
            keep_items = self.items.isin(wanted)
        rows = keep_items[self.item_idx]
        gold = np.where(keep_items, self.gold, -1)
        return replace(
            self,
            item_idx=self.item_idx[rows],
            annotator_idx=self.annotator_idx[rows],
            label=self.label[rows],
            gold=gold,
            timestamp=None if self.timestamp is None else self.timestamp[rows],
        )

    def drop_unlabelled(self) -> Annotations:
        """Re-coded copy without items that have no labels and no gold (after `subset`)."""
        used = (self.labels_per_item > 0) | (self.gold >= 0)
        new_code = np.cumsum(used) - 1
        return replace(
            self,
            items=self.items[used],
            item_idx=new_code[self.item_idx],
            gold=self.gold[used],
            subtype=self.subtype[used],
        )

    # ----------------------------------------------------------------- builders
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        item: str = "item",
        annotator: str = "annotator",
        label: str = "label",
        subtype: str | None = "subtype",
        timestamp: str | None = "timestamp",
        gold: str | pd.Series | pd.DataFrame | Mapping | str | Path | None = None,
        classes: Sequence[Hashable] | None = None,
        duplicates: DuplicatePolicy = "keep",
        gold_only: GoldOnlyPolicy = "error",
        row_name: str = "row",
        source: str = "",
    ) -> Annotations:
        """Build from a long DataFrame, one row per label.

        ``subtype`` and ``timestamp`` name optional columns (used when present).
        ``gold`` is a column name of ``frame``, a Series indexed by item, a DataFrame with
        columns ``item`` and ``gold``, a mapping item → class, or a path to such a table.
        Errors name rows by ``row_name`` and the frame's index.
        """
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"expected a pandas DataFrame, got {type(frame).__name__}")
        if duplicates not in ("keep", "last", "error"):
            raise DataError(f"duplicates={duplicates!r}: use 'keep', 'last' or 'error'")
        if len(frame) == 0:
            raise DataError(
                f"the label table{' ' + source if source else ''} is empty: it needs one row per "
                f"label with columns {item!r}, {annotator!r}, {label!r}"
            )
        required = [item, annotator, label]
        absent = [c for c in required if c not in frame.columns]
        if absent:
            raise DataError(
                f"missing column(s) {absent}; the table has {list(map(str, frame.columns))}. "
                f"Rename them, or name yours with item=..., annotator=..., label=..."
            )
        gold_column = gold if isinstance(gold, str) and gold in frame.columns else None
        subtype_col = subtype if subtype is not None and subtype in frame.columns else None
        time_col = timestamp if timestamp is not None and timestamp in frame.columns else None

        stripped = 0
        for column, what in ((item, "item"), (annotator, "annotator"), (label, "label")):
            missing = _is_missing(frame[column])
            if missing.any():
                rows = list(frame.index[missing])
                fix = (
                    "drop those rows or fill in the label"
                    if what == "label"
                    else f"every row needs an {what} id; drop those rows or fill them in"
                )
                raise DataError(
                    f"missing {what} ({column!r} is empty/NaN) in {_rows_text(rows, row_name)}: {fix}"
                )
        nested = np.zeros(len(frame), dtype=bool)
        if not pd.api.types.is_string_dtype(frame[label]):
            nested = frame[label].map(lambda v: isinstance(v, list | dict | set | np.ndarray)).to_numpy()
        if nested.any():
            raise DataError(
                f"column {label!r} holds a list or object instead of a class name in "
                f"{_rows_text(list(frame.index[nested]), row_name)}: give one class name per row "
                "(one row per label)"
            )
        item_ids = _id_strings(frame[item], "item", row_name)
        annotator_ids = _id_strings(frame[annotator], "annotator", row_name)
        for raw, clean in ((frame[item], item_ids), (frame[annotator], annotator_ids)):
            if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
                stripped += int((raw.astype(str) != clean).sum())
        label_names = _map_distinct(frame[label], _canonical_class)

        # ---------------------------------------------------------- classes
        gold_table = _gold_table(frame, gold, gold_column, item_ids, row_name)
        if classes is not None:
            declared = [_canonical_class(c) for c in classes]
            if len(set(declared)) != len(declared):
                raise DataError(f"classes={list(classes)} repeats a class name: give each class once")
        else:  # gold classes are checked against these below
            declared = _sort_classes(label_names.unique())
            folded = pd.Series(declared, dtype=object).str.casefold()
            first_repeat = set(folded[folded.duplicated()].head(1))
            clash = [c for c, f in zip(declared, folded, strict=True) if f in first_repeat]
            how = "differ only in upper/lower case"
            if not clash and {"true", "false"} & set(declared) and {"0", "1"} & set(declared):
                clash, how = [c for c in declared if c in ("0", "1", "false", "true")], "mix booleans and 0/1"
            if clash:
                rows = list(frame.index[label_names.isin(clash).to_numpy()])
                raise DataError(
                    f"labels {clash} {how} ({_rows_text(rows, row_name)}): write each class one way, "
                    "or declare every class with classes=[...] if they really are different classes"
                )
        if len(declared) < 2:
            raise DataError(
                f"only one class ({declared[0]!r}) in the labels: at least two are needed. "
                "If other classes exist but were never used, declare them with classes=[...]"
                if declared
                else "no classes declared"
            )
        class_index = pd.Index(declared, dtype=object)
        label_code = class_index.get_indexer(label_names)
        if (label_code < 0).any():
            bad = np.flatnonzero(label_code < 0)
            values = sorted(set(label_names.iloc[bad]))[:_MAX_LISTED]
            raise DataError(
                f"label(s) {values} in {_rows_text(list(frame.index[bad]), row_name)} are not among "
                f"the declared classes {declared}: fix the labels or add them to classes=[...]"
            )

        # ---------------------------------------------------------- codes, duplicates
        # items and annotators coded in order of first appearance (one hash pass over the ids)
        item_code, item_names = pd.factorize(item_ids)
        annotator_code, annotator_names = pd.factorize(annotator_ids)
        pair = pd.Series(item_code.astype(np.int64) * len(annotator_names) + annotator_code)
        repeated_mask = pair.duplicated(keep=False).to_numpy()
        repeated_pairs = int(pair[repeated_mask].nunique())
        keep_rows = np.ones(len(frame), dtype=bool)
        if repeated_pairs and duplicates == "error":
            rows = list(frame.index[repeated_mask])
            first = int(np.flatnonzero(repeated_mask)[0])
            raise DataError(
                f"{repeated_pairs} (item, annotator) pairs are labelled more than once, e.g. item "
                f"{item_ids.iloc[first]!r} by annotator {annotator_ids.iloc[first]!r} in "
                f"{_rows_text(rows, row_name)}: "
                "pass duplicates='keep' (count every label) or 'last' (keep the last one)"
            )
        if repeated_pairs and duplicates == "last":
            keep_rows = ~pair.duplicated(keep="last").to_numpy()
        del pair

        # ---------------------------------------------------------- items, subtypes
        item_index = pd.Index(np.asarray(item_names, dtype=object), dtype=object)
        annotator_index = pd.Index(np.asarray(annotator_names, dtype=object), dtype=object)
        gold_only_ids: list[str] = []
        if gold_table is not None:
            unknown = gold_table.index.difference(item_index, sort=False)
            if len(unknown) and gold_only == "error":
                raise DataError(
                    f"gold given for {len(unknown)} item(s) with no labels, e.g. "
                    f"{list(unknown[:_MAX_LISTED])}: check the item ids match the label table "
                    "(same spelling, leading zeros), drop those gold rows, or pass "
                    "gold_only='keep' to include them as items without labels"
                )
            gold_only_ids = list(unknown)
            item_index = item_index.append(pd.Index(gold_only_ids, dtype=object))

        subtype_index = pd.Index([], dtype=object)
        subtype_code = np.full(len(item_index), -1, dtype=np.int64)
        if subtype_col is not None:
            sub_values = frame[subtype_col]
            sub_missing = _is_missing(sub_values)
            sub_names = sub_values.map(lambda v: str(v).strip())
            per_item = pd.DataFrame({"code": item_code, "s": sub_names.where(~sub_missing, None)})
            distinct = per_item.dropna().groupby("code")["s"].nunique()
            conflicting = distinct.index[distinct > 1]
            if len(conflicting):
                first_item = item_index[conflicting[0]]
                rows = list(frame.index[np.isin(item_code, conflicting)])
                found = sorted(set(per_item["s"][item_code == conflicting[0]].dropna()))
                raise DataError(
                    f"subtype differs between rows of one item: item {first_item!r} has {found} "
                    f"({len(conflicting)} such items; {_rows_text(rows, row_name)}). A subtype "
                    "belongs to the item: give each item one subtype"
                )
            if not sub_missing.all():
                subtype_index = pd.Index(sorted(set(sub_names[~sub_missing])), dtype=object)
                first_sub = per_item.dropna().groupby("code")["s"].first()
                subtype_code[first_sub.index.to_numpy()] = subtype_index.get_indexer(first_sub)

        gold_code = np.full(len(item_index), -1, dtype=np.int64)
        if gold_table is not None:
            known = gold_table.dropna()
            code = class_index.get_indexer(known.to_numpy())
            if (code < 0).any():
                bad_items = list(known.index[code < 0])
                bad_values = sorted(set(known[code < 0]))
                raise DataError(
                    f"gold class(es) {bad_values[:_MAX_LISTED]} for item(s) "
                    f"{bad_items[:_MAX_LISTED]} are not among the label classes {declared}: gold and "
                    "labels must use the same class names (e.g. both 1/0 or both true/false); "
                    "declare a class no annotator used with classes=[...]"
                )
            gold_code[item_index.get_indexer(known.index)] = code

        timestamps = None
        if time_col is not None:
            timestamps = _parse_timestamps(frame[time_col], row_name)[keep_rows]

        item_idx = item_code.astype(np.int64)[keep_rows]
        n_per_item = np.bincount(item_idx, minlength=len(item_index))
        summary = IngestSummary(
            n_rows=int(keep_rows.sum()),
            n_items=len(item_index),
            n_annotators=len(annotator_index),
            n_classes=len(class_index),
            n_gold=int((gold_code >= 0).sum()),
            duplicates_policy=duplicates,
            repeated_pairs=repeated_pairs,
            rows_dropped_as_duplicates=int((~keep_rows).sum()),
            ids_stripped=stripped,
            items_with_one_label=int((n_per_item == 1).sum()),
            gold_only_items=len(gold_only_ids),
            source=source,
        )
        return cls(
            items=item_index,
            annotators=annotator_index,
            classes=class_index,
            item_idx=item_idx,
            annotator_idx=annotator_code.astype(np.int64)[keep_rows],
            label=label_code[keep_rows],
            gold=gold_code,
            subtypes=subtype_index,
            subtype=subtype_code,
            timestamp=timestamps,
            summary=summary,
        )

    @classmethod
    def from_csv(cls, path: str | Path, *, sep: str | None = None, **kwargs: Any) -> Annotations:
        """Read a CSV (ids and labels kept as strings). Errors name file lines."""
        frame = _read_table(path, "csv", sep=sep)
        kwargs.setdefault("gold", None)
        return cls.from_frame(frame, row_name="line", source=str(path), **kwargs)

    @classmethod
    def from_parquet(cls, path: str | Path, **kwargs: Any) -> Annotations:
        frame = _read_table(path, "parquet")
        return cls.from_frame(frame, row_name="row", source=str(path), **kwargs)

    @classmethod
    def from_jsonl(cls, path: str | Path, **kwargs: Any) -> Annotations:
        frame = _read_table(path, "jsonl")
        return cls.from_frame(frame, row_name="line", source=str(path), **kwargs)

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> Annotations:
        """Dispatch on the extension: .csv/.tsv/.txt, .parquet/.pq, .jsonl/.ndjson."""
        _check_path(path)
        kind = _file_kind(path)
        reader = {"csv": cls.from_csv, "parquet": cls.from_parquet, "jsonl": cls.from_jsonl}[kind]
        return reader(path, **kwargs)

    @classmethod
    def from_wide(
        cls,
        frame: pd.DataFrame,
        *,
        item: str | None = None,
        annotators: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> Annotations:
        """Build from a wide table: one row per item, one column per annotator, empty = no label.

        ``item`` names the id column (default: the frame's index); ``annotators`` the columns
        to read (default: every other column).
        """
        if not isinstance(frame, pd.DataFrame) or frame.empty:
            raise DataError("the wide table is empty: one row per item, one column per annotator")
        if item is not None and item not in frame.columns:
            raise DataError(
                f"item column {item!r} not in the wide table {list(map(str, frame.columns))}: "
                "pass item= the name of the id column, or leave it out to use the index"
            )
        wide = frame.set_index(item) if item is not None else frame
        columns = list(annotators) if annotators is not None else list(wide.columns)
        absent = [c for c in columns if c not in wide.columns]
        if absent:
            raise DataError(f"annotator columns {absent} not in the wide table {list(wide.columns)}")
        block = wide[columns].astype(object)
        block.index = [str(i).strip() for i in block.index]
        block.columns = [str(c).strip() for c in block.columns]
        long = block.stack(future_stack=True).rename("label").reset_index()
        long.columns = ["item", "annotator", "label"]
        long = long[~_is_missing(long["label"])].reset_index(drop=True)
        long.index = [f"({i!r}, {a!r})" for i, a in zip(long["item"], long["annotator"], strict=True)]
        kwargs.setdefault("row_name", "(item, annotator) cell")
        if long.empty:
            raise DataError(
                f"the wide table has no labels: every cell of the annotator columns {columns} is empty; "
                "pass annotators=[...] naming the columns that hold labels"
            )
        all_items = list(dict.fromkeys(block.index))
        labelled = set(long["item"])
        unlabelled = [i for i in all_items if i not in labelled]
        if unlabelled and kwargs.get("gold") is None:
            raise DataError(
                f"{len(unlabelled)} item(s) of the wide table have no label at all (e.g. "
                f"{unlabelled[:_MAX_LISTED]}): drop those rows, or give their gold with gold=... "
                "and gold_only='keep'"
            )
        return cls.from_frame(long, **kwargs)


# --------------------------------------------------------------------------- readers


def _file_kind(path: str | Path) -> str:
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


def _check_path(path: str | Path) -> None:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path (relative paths start at {Path.cwd()})")
    if path.is_dir():
        raise DataError(
            f"{path} is a directory, not a label file: give the path of a .csv, .parquet or .jsonl "
            "file inside it"
        )


def _read_table(path: str | Path, kind: str, sep: str | None = None) -> pd.DataFrame:
    """Read a file with every column as strings; file problems become DataError.

    The index holds the file's line numbers for CSV (header is line 1) and JSON Lines.
    """
    path = Path(path)
    _check_path(path)
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
    import bz2
    import gzip
    import lzma

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
    import re
    from io import StringIO

    text = _decoded_text(path)
    if not text.strip():
        raise DataError(
            f"{path}: the file is empty: it needs a header line (item,annotator,label) and one line per label"
        )
    leading = text[: re.match(r"\s*", text).end()].count("\n")  # blank lines before the header
    if sep is None:
        header = text.lstrip().split("\n", 1)[0]
        sep = (
            "\t"
            if ".tsv" in [s.lower() for s in path.suffixes] or "\t" in header
            else (";" if header.count(";") > header.count(",") else ",")
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
            f"{_rows_text(list(frame.index[repeated]), 'line')}: remove the repeated header lines "
            "(were several files joined with their headers?)"
        )
    return frame[~blank]


def _read_jsonl_text(path: Path) -> pd.DataFrame:
    """One JSON object per line; the index holds file line numbers (blank lines are skipped)."""
    import json
    from io import StringIO

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


def _gold_table(
    frame: pd.DataFrame,
    gold: Any,
    gold_column: str | None,
    item_ids: pd.Series,
    row_name: str,
) -> pd.Series | None:
    """Gold as a Series item → canonical class name (NaN where unknown), one row per item."""
    if gold is None:
        return None
    gold_rows = "row"
    if gold_column is not None:
        values = frame[gold_column]
        table = pd.DataFrame({"item": item_ids.to_numpy(), "gold": values.to_numpy()}, index=frame.index)
        where = f"the gold column {gold_column!r}"
        gold_rows = row_name
    elif isinstance(gold, str | Path):
        path = Path(gold)
        if not path.exists():
            raise DataError(
                f"gold={str(gold)!r} is neither a column of the label table nor an existing file: "
                "check the path or the column name"
            )
        kind = _file_kind(path)
        table = _read_table(path, kind)
        where = str(path)
        gold_rows = "row" if kind == "parquet" else "line"
    elif isinstance(gold, pd.DataFrame):
        table = gold
        where = "the gold table"
    elif isinstance(gold, pd.Series):
        table = pd.DataFrame({"item": gold.index, "gold": gold.to_numpy()})
        where = "the gold series"
    elif isinstance(gold, Mapping):
        table = pd.DataFrame({"item": list(gold.keys()), "gold": list(gold.values())})
        where = "the gold mapping"
    else:
        raise DataError(
            f"gold must be a column name, file path, DataFrame, Series or dict, not {type(gold).__name__}"
        )

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
    missing_item = _is_missing(table["item"])
    if missing_item.any() and gold_column is None:
        raise DataError(
            f"{where}: missing item id in {_rows_text(list(table.index[missing_item]), gold_rows)}: "
            "drop those gold rows or fill in the item id"
        )
    ids = _id_strings(table["item"], "gold item", gold_rows)
    missing_gold = _is_missing(table["gold"])
    names = table["gold"].map(_canonical_class).where(~missing_gold, None)
    pairs = pd.DataFrame({"item": ids.to_numpy(), "gold": names.to_numpy()})
    pairs.index = table.index
    known = pairs.dropna()
    conflicting = known.groupby("item")["gold"].nunique()
    conflicting = conflicting[conflicting > 1]
    if len(conflicting):
        first = conflicting.index[0]
        rows = list(known.index[(known["item"] == first).to_numpy()])
        raise DataError(
            f"{where}: item {first!r} has conflicting gold labels "
            f"{sorted(set(known.loc[known['item'] == first, 'gold']))} ({_rows_text(rows, gold_rows)}): "
            "give one gold class per item"
        )
    return known.drop_duplicates("item").set_index("item")["gold"]


def _parse_timestamps(values: pd.Series, row_name: str) -> np.ndarray:
    missing = _is_missing(values)
    parsed = pd.to_datetime(values.where(~missing, None), errors="coerce", utc=True, format="mixed")
    bad = parsed.isna().to_numpy() & ~missing
    if bad.any():
        rows = list(values.index[bad])
        raise DataError(
            f"unparseable timestamp(s) {list(values[bad].astype(str).iloc[:3])} in "
            f"{_rows_text(rows, row_name)}: use ISO 8601 (e.g. 2026-01-31T12:00:00Z) or drop "
            "the timestamp column"
        )
    return parsed.to_numpy(dtype="datetime64[ns]")
