"""`Annotations`: the one validated, integer-coded view of a label table.

Every other part of bayeslabels consumes an `Annotations`. It is built from a long
table (one row per label: item, annotator, label, optional subtype and timestamp) held
in a DataFrame, a CSV / Parquet / JSON Lines file, or a wide item × annotator table,
plus optional gold labels per item (a column or a separate table). Reading files and
checking the raw table is `bayeslabels.ingest`'s job (shared with the Dask path); this module
codes the result.

Conventions:

* item and annotator ids are strings, exactly as written (``"0001"`` stays ``"0001"``;
  surrounding whitespace is stripped and counted in the ingest summary);
* class names are strings; integral numbers are written without a decimal point
  (``1``, ``1.0`` and ``"1.0"`` are all class ``"1"``), booleans as ``"true"``/``"false"``;
* the class order is the one given, or sorted (numerically when every class is a number);
  ``ordered=True`` declares that order meaningful (a rating scale: ``G < P < R < X``), which the
  ordinal model needs and which adds the ordinal metrics and outputs;
* codes are int arrays; ``-1`` means "unknown" for per-item ``subtype`` and ``gold``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import ingest
from .errors import DataError

DuplicatePolicy = Literal["keep", "last", "error"]
GoldOnlyPolicy = Literal["error", "keep"]


def _hash_frame(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for column in frame.columns:
        digest.update(str(column).encode())
        digest.update(pd.util.hash_pandas_object(frame[column], index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class IngestSummary:
    """What ingest did to the table: counts of everything normalised or dropped.

    Kept as `Annotations.summary`; ``print(summary)`` lists what is worth knowing.

    Attributes
    ----------
    n_rows, n_items, n_annotators, n_classes, n_gold : int
        Label rows kept, items, annotators, classes and items with gold.
    duplicates_policy : str
        The ``duplicates`` policy applied (``"keep"``, ``"last"`` or ``"error"``).
    repeated_pairs : int
        (item, annotator) pairs labelled more than once.
    rows_dropped_as_duplicates : int
        Rows the policy dropped.
    ids_stripped : int
        Ids or labels that had surrounding whitespace removed.
    items_with_one_label : int
        Items with a single label.
    gold_only_items : int
        Items with gold but no labels.
    source : str
        Where the table came from (a path), if known.

    Examples
    --------
    >>> import pandas as pd
    >>> import bayeslabels as bl
    >>> frame = pd.DataFrame({
    ...     "item": ["q1", "q1", "q2", "q2", "q3"],
    ...     "annotator": ["a", "b", "a", "b", "a"],
    ...     "label": ["yes", "yes", "no", "yes", "no"],
    ... })
    >>> print(bl.Annotations.from_frame(frame).summary)
    5 labels, 3 items, 2 annotators, 2 classes, gold for 0 items
    1 item has a single label
    """

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

# Default of `Annotations.subtype`, recognised by identity: ``__post_init__`` replaces it
# with ``-1`` (unknown) for every item, so the field is always an array once built.
_NO_SUBTYPE = np.empty(0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Annotations:
    """Validated, integer-coded annotations: the input of every model and statistic.

    Build it with `from_frame`, `from_csv`, `from_parquet`, `from_jsonl`, `from_file` or
    `from_wide` (or ``bl.datasets.load``); the constructor takes the coded arrays as they
    are.

    Parameters
    ----------
    items, annotators, classes, subtypes : pandas.Index of str
        The code books; ``items[item_idx[r]]`` is row r's item.
    item_idx, annotator_idx, label : int arrays
        One entry per label row.
    gold, subtype : int arrays
        One entry per item; ``-1`` = unknown.
    timestamp : datetime64[ns, UTC] array or None
        One entry per label row.
    summary : IngestSummary or None
        What ingest did to the table.
    ordered : bool
        Whether the classes are ordered (``classes[0] < classes[1] < …``, a rating scale).

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("rte")
    >>> ann
    Annotations(8000 labels, 800 items, 164 annotators, classes=['0', '1'], gold for 800 items, 7 subtypes)
    >>> ann.n_items, ann.n_annotators, ann.has_gold, ann.has_subtypes
    (800, 164, True, True)
    """

    items: pd.Index
    annotators: pd.Index
    classes: pd.Index
    item_idx: np.ndarray
    annotator_idx: np.ndarray
    label: np.ndarray
    gold: np.ndarray
    subtypes: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))
    subtype: np.ndarray = field(default_factory=lambda: _NO_SUBTYPE)
    timestamp: np.ndarray | None = None
    summary: IngestSummary | None = None
    ordered: bool = False

    def __post_init__(self) -> None:
        n_items = len(self.items)
        if self.subtype is None or self.subtype is _NO_SUBTYPE:  # None: as before, unknown
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
        """Item × class matrix of label counts (the votes).

        Returns
        -------
        numpy.ndarray
            Int counts, items × K.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> bl.datasets.load("rte").label_counts()[:3]
        array([[2, 8],
               [7, 3],
               [4, 6]])
        """
        counts = np.zeros((self.n_items, self.n_classes), dtype=np.int64)
        np.add.at(counts, (self.item_idx, self.label), 1)
        return counts

    @property
    def data_hash(self) -> str:
        """A short hash of the content (codes and code books), recorded in provenance."""
        return _hash_frame(self.to_frame(include_gold=True))

    def __repr__(self) -> str:
        sub = f", {len(self.subtypes)} subtypes" if self.has_subtypes else ""
        order = ", ordered" if self.ordered else ""
        return (
            f"Annotations({self.n_labels} labels, {self.n_items} items, {self.n_annotators} "
            f"annotators, classes={list(self.classes)}{order}, gold for {int((self.gold >= 0).sum())} "
            f"items{sub})"
        )

    # ----------------------------------------------------------------- views
    def to_frame(self, include_gold: bool = False) -> pd.DataFrame:
        """The long table back, with string ids and class names.

        Parameters
        ----------
        include_gold : bool, default False
            Add a ``gold`` column (the item's gold class, None where unknown).

        Returns
        -------
        pandas.DataFrame
            One row per label: ``item``, ``annotator``, ``label``, and ``subtype`` / ``timestamp``
            when the data have them.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> bl.datasets.load("rte").to_frame(include_gold=True).head(3)
          item       annotator label subtype gold
        0  266  A19IBSKBTABMR3     1      IR    1
        1  266   AEX5NCH03LWSG     1      IR    1
        2  266  A17RPF5ZMO75GW     1      IR    1
        """
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
        """Gold class name per item (None where unknown), indexed by item.

        Returns
        -------
        pandas.Series
            Named ``gold``; what `evaluate` takes as ``gold``.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> bl.datasets.load("rte").gold_series().head(3)
        266    1
        934    0
        961    1
        Name: gold, dtype: object
        """
        names = np.asarray(self.classes, dtype=object)
        values = np.where(self.gold >= 0, names[np.maximum(self.gold, 0)], None)
        return pd.Series(values, index=self.items, name="gold", dtype=object)

    def subset(self, items: Iterable[str] | np.ndarray) -> Annotations:
        """Only the given items (ids, or a boolean mask over ``items``), codes unchanged.

        The code books (items, annotators, classes, subtypes) are kept whole so that codes stay
        comparable between the subset and the original; items outside the subset simply have no
        labels and no gold (`drop_unlabelled` removes them).

        Parameters
        ----------
        items : iterable of str or numpy.ndarray
            Item ids, or a boolean mask over `items`.

        Returns
        -------
        Annotations

        Raises
        ------
        DataError
            If an id is not among the items, or a mask has the wrong length.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.datasets.load("rte")
        >>> first = ann.subset(ann.items[:100])
        >>> first.n_items, first.n_labels
        (800, 1000)
        >>> first.drop_unlabelled().n_items
        100
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
        """Re-coded copy without items that have no labels and no gold (after `subset`).

        Returns
        -------
        Annotations

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.datasets.load("rte")
        >>> ann.subset(ann.items[:100]).drop_unlabelled()  # doctest: +ELLIPSIS
        Annotations(1000 labels, 100 items, 164 annotators, classes=['0', '1'], ...)
        """
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
        ordered: bool = False,
        duplicates: DuplicatePolicy = "keep",
        gold_only: GoldOnlyPolicy = "error",
        na_values: Iterable[str] | str | None = None,
        max_classes: int | None = ingest.MAX_CLASSES,
        row_name: str = "row",
        source: str = "",
    ) -> Annotations:
        """Build from a long DataFrame, one row per label.

        Errors name rows by ``row_name`` and the frame's index.

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per label.
        item, annotator, label : str, default "item", "annotator", "label"
            The column names.
        subtype, timestamp : str or None, default "subtype", "timestamp"
            Optional columns (used when present).
        gold : str, pandas.Series, pandas.DataFrame, mapping, path or None
            A column name of ``frame``, a Series indexed by item, a DataFrame with columns
            ``item`` and ``gold``, a mapping item → class, or a path to such a table.
        classes : sequence, optional
            The classes, in order (default: the distinct labels, sorted).
        ordered : bool, default False
            The classes are ordered, lowest first, in the order of ``classes`` (a rating scale);
            without ``classes`` only numeric labels can be ordered (numerically).
        duplicates : {"keep", "last", "error"}, default "keep"
            Repeated (item, annotator) rows: keep them all, keep the last, or refuse.
        gold_only : {"error", "keep"}, default "error"
            Gold for items that have no labels: refuse, or keep those items (after the
            labelled ones).
        na_values : sequence of str or str, optional
            Texts that mean "missing value" (e.g. ``["NA", "null"]``), matched after stripping
            whitespace, case-sensitively. Default: none — only an empty cell (or NaN / None)
            is missing, so ids such as ``"NA"`` or ``"None"`` are kept exactly as written. A
            label spelled like a missing value is refused unless ``classes`` are declared;
            in gold those spellings always mean "no gold".
        max_classes : int or None, default 1000
            More distinct labels (or declared classes) than this is refused before anything
            is sized by the class count: usually the wrong column. None: no limit.
        row_name : str, default "row"
            How errors name rows (``"line"`` for files).
        source : str, default ""
            Where the table came from, for messages and the summary.

        Returns
        -------
        Annotations

        Raises
        ------
        DataError
            If a column is missing, a row cannot be used, the gold does not match, or the
            ``duplicates`` policy refuses the table — naming the rows at fault.

        Examples
        --------
        >>> import pandas as pd
        >>> import bayeslabels as bl
        >>> frame = pd.DataFrame({
        ...     "item": ["q1", "q1", "q2", "q2", "q3"],
        ...     "annotator": ["a", "b", "a", "b", "a"],
        ...     "label": ["yes", "yes", "no", "yes", "no"],
        ... })
        >>> frame["gold"] = ["yes", "yes", None, None, "no"]
        >>> ann = bl.Annotations.from_frame(frame, gold="gold")
        >>> ann
        Annotations(5 labels, 3 items, 2 annotators, classes=['no', 'yes'], gold for 2 items)
        >>> ann.gold
        array([ 1, -1,  0])
        """
        if duplicates not in ("keep", "last", "error"):
            raise DataError(f"duplicates={duplicates!r}: use 'keep', 'last' or 'error'")
        ingest.check_table(frame, item, annotator, label, source)
        rows = ingest.normalise_rows(frame, item, annotator, label, row_name, na_values)
        gold_table = ingest.read_gold(
            gold, frame=frame, item_ids=rows["item"], row_name=row_name, na_values=na_values
        )
        class_index = ingest.class_index(
            classes, rows["label"].unique(), _rows_labelled(rows), row_name, max_classes
        )
        if ordered:
            ingest.check_ordered(class_index, declared=classes is not None)
        coded = _code_rows(rows, class_index, duplicates, row_name)
        item_index = _item_index(coded, gold_table, gold_only)
        subtype_index, subtype_code = _subtypes(frame, subtype, coded, item_index, row_name, na_values)
        gold_code = _gold_per_item(gold_table, item_index, class_index)
        timestamps = None
        if timestamp is not None and timestamp in frame.columns:
            timestamps = ingest.parse_timestamps(frame[timestamp], row_name, na_values)[coded.keep]
        stripped = ingest.count_stripped(rows)
        summary = _summary(coded, item_index, class_index, gold_code, duplicates, stripped, source)
        return cls(
            items=item_index,
            annotators=pd.Index(np.asarray(coded.annotator_names, dtype=object), dtype=object),
            classes=class_index,
            item_idx=coded.item_code[coded.keep],
            annotator_idx=coded.annotator_code[coded.keep],
            label=coded.label_code[coded.keep],
            gold=gold_code,
            subtypes=subtype_index,
            subtype=subtype_code,
            timestamp=timestamps,
            summary=summary,
            ordered=bool(ordered),
        )

    @classmethod
    def from_csv(cls, path: str | Path, *, sep: str | None = None, **kwargs: Any) -> Annotations:
        """Read a CSV (ids and labels kept as strings). Errors name physical file lines.

        Every line must have as many fields as the header (a record whose quoted field holds
        a line break is named by its first line); a header name given twice is refused. A
        trailing delimiter (one extra empty field at the end of lines, or an unnamed empty
        last column) is ignored. Cells are text: ``NA``, ``null`` or ``None`` are values,
        not missing, unless listed in ``na_values``.

        Parameters
        ----------
        path : str or pathlib.Path
            The file.
        sep : str, optional
            The separator (default: sniffed from the file).
        **kwargs
            Passed to `from_frame`: column names (``item``, ``annotator``, ``label``,
            ``subtype``, ``timestamp``), ``gold``, ``classes``, ``ordered``, ``duplicates``,
            ``gold_only``, ``na_values`` (texts that mean "missing"; default: only the
            empty cell), ``max_classes``.

        Returns
        -------
        Annotations

        Raises
        ------
        DataError
            If the file is missing or unreadable, or its rows fail the checks of `from_frame`
            (naming the file lines or rows at fault).

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.Annotations.from_csv("labels.csv", gold="gold.csv")  # doctest: +SKIP
        """
        frame = ingest.read_table(path, "csv", sep=sep)
        kwargs.setdefault("gold", None)
        return cls.from_frame(frame, row_name="line", source=str(path), **kwargs)

    @classmethod
    def from_parquet(cls, path: str | Path, **kwargs: Any) -> Annotations:
        """Read a Parquet file of labels, one row per label.

        Parameters
        ----------
        path : str or pathlib.Path
            The file.
        **kwargs
            Passed to `from_frame`: column names (``item``, ``annotator``, ``label``,
            ``subtype``, ``timestamp``), ``gold``, ``classes``, ``ordered``, ``duplicates``,
            ``gold_only``, ``na_values`` (texts that mean "missing"; default: only the
            empty cell), ``max_classes``.

        Returns
        -------
        Annotations

        Raises
        ------
        DataError
            If the file is missing or unreadable, or its rows fail the checks of `from_frame`
            (naming the file lines or rows at fault).

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.Annotations.from_parquet("labels.parquet", gold="gold")  # doctest: +SKIP
        """
        frame = ingest.read_table(path, "parquet")
        return cls.from_frame(frame, row_name="row", source=str(path), **kwargs)

    @classmethod
    def from_jsonl(cls, path: str | Path, **kwargs: Any) -> Annotations:
        """Read a JSON Lines file of labels, one object per label. Errors name file lines.

        Parameters
        ----------
        path : str or pathlib.Path
            The file.
        **kwargs
            Passed to `from_frame`: column names (``item``, ``annotator``, ``label``,
            ``subtype``, ``timestamp``), ``gold``, ``classes``, ``ordered``, ``duplicates``,
            ``gold_only``, ``na_values`` (texts that mean "missing"; default: only the
            empty cell), ``max_classes``.

        Returns
        -------
        Annotations

        Raises
        ------
        DataError
            If the file is missing or unreadable, or its rows fail the checks of `from_frame`
            (naming the file lines or rows at fault).

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.Annotations.from_jsonl("labels.jsonl", annotator="worker")  # doctest: +SKIP
        """
        frame = ingest.read_table(path, "jsonl")
        return cls.from_frame(frame, row_name="line", source=str(path), **kwargs)

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> Annotations:
        """Read a label file, dispatching on the extension.

        ``.csv`` / ``.tsv`` / ``.txt`` go to `from_csv`, ``.parquet`` / ``.pq`` to
        `from_parquet`, ``.jsonl`` / ``.ndjson`` to `from_jsonl`.

        Parameters
        ----------
        path : str or pathlib.Path
            The file.
        **kwargs
            Passed to `from_frame`: column names (``item``, ``annotator``, ``label``,
            ``subtype``, ``timestamp``), ``gold``, ``classes``, ``ordered``, ``duplicates``,
            ``gold_only``, ``na_values`` (texts that mean "missing"; default: only the
            empty cell), ``max_classes``.

        Returns
        -------
        Annotations

        Raises
        ------
        DataError
            If the file is missing or unreadable, or its rows fail the checks of `from_frame`
            (naming the file lines or rows at fault).

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.Annotations.from_file("labels.parquet")  # doctest: +SKIP
        """
        ingest.check_path(path)
        kind = ingest.file_kind(path)
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

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per item, one column per annotator.
        item : str, optional
            The id column (default: the frame's index).
        annotators : sequence of str, optional
            The columns to read (default: every other column).
        **kwargs
            Passed to `from_frame` (``gold``, ``classes``, ``ordered``, ...).

        Returns
        -------
        Annotations

        Raises
        ------
        DataError
            If the table is empty or a named column is missing.

        Examples
        --------
        >>> import pandas as pd
        >>> import bayeslabels as bl
        >>> wide = pd.DataFrame(
        ...     {"id": ["q1", "q2", "q3"], "ann_a": ["yes", "no", "yes"], "ann_b": ["yes", None, "no"]}
        ... )
        >>> bl.Annotations.from_wide(wide, item="id")
        Annotations(5 labels, 3 items, 2 annotators, classes=['no', 'yes'], gold for 0 items)
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
        long = long[~ingest.is_missing(long["label"], kwargs.get("na_values"))].reset_index(drop=True)
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
                f"{unlabelled[: ingest.MAX_LISTED]}): drop those rows, or give their gold with gold=... "
                "and gold_only='keep'"
            )
        return cls.from_frame(long, **kwargs)


# --------------------------------------------------------------------------- from_frame's steps


@dataclass(frozen=True)
class _Coded:
    """Label rows coded: items and annotators in order of first appearance, the class codes,
    and the rows kept under the ``duplicates=`` policy."""

    item_code: np.ndarray
    item_names: np.ndarray
    annotator_code: np.ndarray
    annotator_names: np.ndarray
    label_code: np.ndarray
    keep: np.ndarray
    repeated_pairs: int


def _rows_labelled(rows: pd.DataFrame) -> Callable[[list[str]], list]:
    """The rows whose label is one of some class names (to name them in an error)."""
    return lambda names: list(rows.index[rows["label"].isin(names).to_numpy()])


def _code_rows(rows: pd.DataFrame, classes: pd.Index, duplicates: str, row_name: str) -> _Coded:
    """Integer codes of the normalised rows (one hash pass over the ids) and the duplicate policy."""
    item_code, item_names = pd.factorize(rows["item"])
    annotator_code, annotator_names = pd.factorize(rows["annotator"])
    keep, repeated_pairs = ingest.duplicate_rows(rows, item_code, annotator_code, duplicates, row_name)
    return _Coded(
        item_code=item_code.astype(np.int64),
        item_names=np.asarray(item_names, dtype=object),
        annotator_code=annotator_code.astype(np.int64),
        annotator_names=np.asarray(annotator_names, dtype=object),
        label_code=classes.get_indexer(rows["label"]).astype(np.int64),
        keep=keep,
        repeated_pairs=repeated_pairs,
    )


def _item_index(coded: _Coded, gold: pd.Series | None, gold_only: str) -> pd.Index:
    """Items with labels (first appearance), then items with gold only (if ``gold_only="keep"``)."""
    items = pd.Index(coded.item_names, dtype=object)
    if gold is None:
        return items
    unknown = gold.index.difference(items, sort=False)
    ingest.check_gold_only(unknown, gold_only)
    return items.append(pd.Index(list(unknown), dtype=object))


def _subtypes(
    frame: pd.DataFrame,
    column: str | None,
    coded: _Coded,
    items: pd.Index,
    row_name: str,
    na_values: Iterable[str] | str | None,
) -> tuple[pd.Index, np.ndarray]:
    """Subtype code book and code per item (all ``-1`` without a subtype column)."""
    if column is None or column not in frame.columns:
        return pd.Index([], dtype=object), np.full(len(items), -1, dtype=np.int64)
    return ingest.subtype_codes(frame[column], coded.item_code, items, row_name, na_values)


def _gold_per_item(gold: pd.Series | None, items: pd.Index, classes: pd.Index) -> np.ndarray:
    """Gold class code per item, ``-1`` where unknown."""
    codes = np.full(len(items), -1, dtype=np.int64)
    if gold is not None:
        codes[items.get_indexer(gold.index)] = ingest.gold_codes(gold, classes)
    return codes


def _summary(
    coded: _Coded,
    items: pd.Index,
    classes: pd.Index,
    gold_code: np.ndarray,
    duplicates: str,
    stripped: int,
    source: str,
) -> IngestSummary:
    """What from_frame did: counts for `IngestSummary`."""
    n_per_item = np.bincount(coded.item_code[coded.keep], minlength=len(items))
    return IngestSummary(
        n_rows=int(coded.keep.sum()),
        n_items=len(items),
        n_annotators=len(coded.annotator_names),
        n_classes=len(classes),
        n_gold=int((gold_code >= 0).sum()),
        duplicates_policy=duplicates,
        repeated_pairs=coded.repeated_pairs,
        rows_dropped_as_duplicates=int((~coded.keep).sum()),
        ids_stripped=stripped,
        items_with_one_label=int((n_per_item == 1).sum()),
        gold_only_items=len(items) - len(coded.item_names),
        source=source,
    )
