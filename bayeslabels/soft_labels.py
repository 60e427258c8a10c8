"""`SoftLabels`: the one soft-label value every producer returns and every consumer takes.

A `Fit` (``fit.soft_labels(ci_prob)``), an `EMResult`, a `VoteResult` and `soft_vote` all
return a `SoftLabels`; `evaluate`, `to_training_frame`, the plots, routing and the command
line all take one (through `as_soft_labels`, which also accepts a table in the export schema
or the path of an exported file). This module is the only place that writes or parses the
``p_<class>`` columns of the export schema (DESIGN.md, "Outputs"):

``item``, ``label``, per class ``p_<c>``, ``p_<c>_lo``, ``p_<c>_hi``, ``entropy``,
``n_labels``, ``subtype`` (if any), ``gold`` (if any); for ordered classes also
``expected_score``, ``expected_score_lo``, ``expected_score_hi`` (the posterior mean of the
true class's position 0 … K−1, and its interval) and ``median_class`` (the class where the
cumulative probability first reaches ½: the hard label that minimises the expected distance).

Which columns are classes (`SoftLabels.from_frame`): every ``p_<name>`` column, in column
order, except ``p_<c>_lo`` / ``p_<c>_hi`` when ``p_<c>`` is also a column — those hold the
interval of class ``c``. Other columns (``entropy``, a training frame's ``weight``, a vote's
``tied``) are not read: ``entropy`` is recomputed from the probabilities.
"""

from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import DataError
from .export_io import consistent_read, export_format, read_provenance, write_table
from .ingest import canonical_class as _canonical_class
from .ingest import file_kind as _file_kind
from .ingest import read_table as _read_table

VOTE_SHARE_MEANING = "share of the item's labels that name class c (a vote count, not a model)"
EM_MEANING = "P(true class = c | all labels) under the Dawid-Skene EM point estimates"
UNKNOWN_MEANING = "not recorded (soft labels read from a table)"
SUM_TOLERANCE = 1e-6  # a row's probabilities must sum to 1 within this
RANGE_TOLERANCE = 1e-9  # probabilities may stray this far outside [0, 1] (float noise)
_TEXT_COLUMNS = ("subtype", "gold")


def _text(values: Any) -> np.ndarray:
    """Object array of str, with None for missing (None, NaN, pd.NA, the empty string)."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        missing = value is None or (not isinstance(value, str) and bool(pd.isna(value)))
        text = None if missing else str(value)
        out[i] = None if text is None or text.strip() == "" else text
    return out


def _string_array(values: np.ndarray) -> pd.arrays.StringArray:
    return pd.array(np.asarray(values, dtype=object), dtype="string")


@dataclass(frozen=True, eq=False)
class SoftLabels:
    """Per-item class probabilities with credible intervals, one row per item in input order.

    Every producer (`Fit.soft_labels`, `Fit.predict`, `EMResult.soft_labels`,
    `VoteResult.soft_labels`, `soft_vote`) returns one and every consumer takes one (see
    `as_soft_labels`).

    Parameters
    ----------
    items : object array of str
        Item ids.
    classes : tuple of str
        Class names; column k of every array is class ``classes[k]``.
    mean, lower, upper : items × K float arrays
        The probability of each class and its equal-tailed ``ci_prob`` interval; for a point
        estimate ``lower = upper = mean``.
    ci_prob : float or None
        The intervals' probability; None for a point estimate (EM, MAP, a vote); NaN for a
        table whose intervals do not record it.
    n_labels : int array or None
        Labels per item (None when the producer does not know it).
    meaning : str
        What the probability means, e.g. the latent class posterior, or a Beta–Bernoulli
        item's rate of positive labels.
    subtype, gold : object arrays or None
        Per item, None where unknown; None as a whole when the data have none.
    anchored : bool array or None
        Items whose class gold fixed in the fit that made them (not a test of the model
        there); None where the producer does not know (a table read back, a vote).
    hard : object array or None
        Hard labels when they are not simply the argmax of ``mean`` (a majority vote's
        tie-break; None for an item without one). Read it through `label`.
    ordered : bool
        The classes are ordered (lowest first): `expected_score` and `median_class` are
        defined, and the export has their columns.
    score_interval : items × 2 float array or None
        The ``ci_prob`` interval (lo, hi) of the expected score over posterior draws; None for
        a point estimate (the interval is the score itself).

    Raises
    ------
    ValueError
        If an array's shape does not match the items and classes.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> soft = bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False)).soft_labels()
    >>> soft
    <SoftLabels 108 items × ['false', 'true'], point estimate>
    >>> soft.mean.shape, soft.label[:3]
    ((108, 2), array(['true', 'true', 'true'], dtype=object))
    >>> fit = bl.fit(bl.datasets.load("bluebirds"), method="nuts", seed=1)  # doctest: +SKIP
    >>> fit.soft_labels(ci_prob=0.9).to_frame()  # the export schema  # doctest: +SKIP
    """

    items: np.ndarray
    classes: tuple[str, ...]
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    ci_prob: float | None = None
    n_labels: np.ndarray | None = None
    meaning: str = UNKNOWN_MEANING
    subtype: np.ndarray | None = None
    gold: np.ndarray | None = None
    hard: np.ndarray | None = None
    anchored: np.ndarray | None = None
    ordered: bool = False
    score_interval: np.ndarray | None = None

    def __post_init__(self) -> None:
        items = np.asarray([str(i) for i in self.items], dtype=object)
        classes = tuple(str(c) for c in self.classes)
        mean = np.asarray(self.mean, dtype=float)
        shape = (len(items), len(classes))
        if mean.shape != shape:
            raise ValueError(f"mean must be items × classes {shape}, got {mean.shape}")
        lower = mean.copy() if self.lower is None else np.asarray(self.lower, dtype=float)
        upper = mean.copy() if self.upper is None else np.asarray(self.upper, dtype=float)
        if lower.shape != shape or upper.shape != shape:
            raise ValueError(f"lower and upper must be items × classes {shape}")
        fields: dict[str, Any] = {"items": items, "classes": classes, "mean": mean, "lower": lower}
        fields["upper"] = upper
        for name in ("n_labels", "subtype", "gold", "hard"):
            value = getattr(self, name)
            if value is not None and len(value) != len(items):
                raise ValueError(f"{name} must have one value per item ({len(items)}), got {len(value)}")
        if self.n_labels is not None:
            fields["n_labels"] = np.asarray(self.n_labels, dtype=np.int64)
        if self.anchored is not None:
            if len(self.anchored) != len(items):
                raise ValueError(f"anchored must have one value per item ({len(items)})")
            fields["anchored"] = np.asarray(self.anchored, dtype=bool)
        for name in ("subtype", "gold", "hard"):
            if getattr(self, name) is not None:
                fields[name] = _text(getattr(self, name))
        if self.score_interval is not None:
            interval = np.asarray(self.score_interval, dtype=float)
            if interval.shape != (len(items), 2):
                raise ValueError(f"score_interval must be items × 2 ({len(items)}, 2), got {interval.shape}")
            fields["score_interval"] = interval
        fields["ordered"] = bool(self.ordered)
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        _check_values(self)

    # ------------------------------------------------------------------ properties
    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def label(self) -> np.ndarray:
        """Hard label per item (object array of class names): the argmax of ``mean`` (first
        class on ties), or the producer's own (a vote's tie-break; None where it has none)."""
        if self.hard is not None:
            return self.hard
        return np.asarray(self.classes, dtype=object)[self.mean.argmax(axis=1)]

    @property
    def label_code(self) -> np.ndarray:
        """`label` as class indices, -1 for an item without a hard label."""
        return pd.Index(self.classes, dtype=object).get_indexer(self.label).astype(np.int64)

    @property
    def entropy(self) -> np.ndarray:
        """Entropy of ``mean`` per item, in nats (``0 log 0 = 0``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            # 0.0 - x, not -x: a certain item has entropy 0.0, never -0.0 in an output
            return 0.0 - np.where(self.mean > 0, self.mean * np.log(self.mean), 0.0).sum(axis=1)

    @property
    def is_point_estimate(self) -> bool:
        return self.ci_prob is None

    @property
    def expected_score(self) -> np.ndarray:
        """``Σ_k k · p_k`` per item: the expected position (0 … K−1) of the true class, for
        ordered classes (its interval: ``score_interval``)."""
        return self.mean @ np.arange(self.n_classes, dtype=float)

    @property
    def median_class(self) -> np.ndarray:
        """Per item, the first class whose cumulative probability reaches ½ (object array of
        class names): the label that minimises the expected distance in classes."""
        position = (np.cumsum(self.mean, axis=1) < 0.5 - 1e-12).sum(axis=1)
        return np.asarray(self.classes, dtype=object)[np.minimum(position, self.n_classes - 1)]

    def __repr__(self) -> str:
        interval = "point estimate" if self.ci_prob is None else f"{self.ci_prob:g} intervals"
        return f"<SoftLabels {self.n_items} items × {list(self.classes)}, {interval}>"

    def __len__(self) -> int:
        return self.n_items

    # ------------------------------------------------------------------ selection
    def select(self, items: Any) -> SoftLabels:
        """The soft labels of ``items`` (ids, in the order given).

        Parameters
        ----------
        items : sequence of str
            Item ids, each one of `items`.

        Returns
        -------
        SoftLabels

        Raises
        ------
        DataError
            If an id is not among `items`.

        Examples
        --------
        >>> import pandas as pd
        >>> import bayeslabels as bl
        >>> soft = bl.SoftLabels.from_frame(
        ...     pd.DataFrame({"item": ["a", "b", "c"], "p_cat": [0.9, 0.4, 0.5], "p_dog": [0.1, 0.6, 0.5]})
        ... )
        >>> soft.select(["c", "a"]).items
        array(['c', 'a'], dtype=object)
        """
        wanted = pd.Index([str(i) for i in items], dtype=object)
        rows = pd.Index(self.items, dtype=object).get_indexer(wanted)
        if (rows < 0).any():
            missing = list(wanted[rows < 0][:3])
            raise DataError(f"{int((rows < 0).sum())} item(s) are not in these soft labels (e.g. {missing})")

        def pick(value: np.ndarray | None) -> np.ndarray | None:
            return None if value is None else value[rows]

        return replace(
            self,
            items=self.items[rows],
            mean=self.mean[rows],
            lower=self.lower[rows],
            upper=self.upper[rows],
            n_labels=pick(self.n_labels),
            subtype=pick(self.subtype),
            gold=pick(self.gold),
            hard=pick(self.hard),
            anchored=pick(self.anchored),
            score_interval=pick(self.score_interval),
        )

    # ------------------------------------------------------------------ frames
    def to_frame(self) -> pd.DataFrame:
        """The export schema, one row per item.

        Returns
        -------
        pandas.DataFrame
            ``item`` (string), ``label`` (string), per class ``p_<c>``, ``p_<c>_lo``,
            ``p_<c>_hi`` (float), ``entropy`` (nats), ``n_labels`` (int64; when known),
            ``subtype`` and ``gold`` (string; when the data have them).

        Examples
        --------
        >>> import pandas as pd
        >>> import bayeslabels as bl
        >>> soft = bl.SoftLabels.from_frame(
        ...     pd.DataFrame({"item": ["a", "b", "c"], "p_cat": [0.9, 0.4, 0.5], "p_dog": [0.1, 0.6, 0.5]})
        ... )
        >>> soft.to_frame().round(3)
          item label  p_cat  p_cat_lo  p_cat_hi  p_dog  p_dog_lo  p_dog_hi  entropy
        0    a   cat    0.9       0.9       0.9    0.1       0.1       0.1    0.325
        1    b   dog    0.4       0.4       0.4    0.6       0.6       0.6    0.673
        2    c   cat    0.5       0.5       0.5    0.5       0.5       0.5    0.693
        """
        columns: dict[str, Any] = {"item": _string_array(self.items), "label": _string_array(self.label)}
        for k, name in enumerate(self.classes):
            columns[f"p_{name}"] = self.mean[:, k]
            columns[f"p_{name}_lo"] = self.lower[:, k]
            columns[f"p_{name}_hi"] = self.upper[:, k]
        columns["entropy"] = self.entropy
        if self.ordered:
            score = self.expected_score
            interval = self.score_interval if self.score_interval is not None else np.c_[score, score]
            columns["expected_score"] = score
            columns["expected_score_lo"] = np.minimum(interval[:, 0], score)
            columns["expected_score_hi"] = np.maximum(interval[:, 1], score)
            columns["median_class"] = _string_array(self.median_class)
        if self.n_labels is not None:
            columns["n_labels"] = self.n_labels.astype(np.int64)
        for name in _TEXT_COLUMNS:
            value = getattr(self, name)
            if value is not None:
                columns[name] = _string_array(value)
        return pd.DataFrame(columns)

    @classmethod
    def point_estimate(
        cls,
        items: Any,
        classes: Any,
        probabilities: np.ndarray,
        meaning: str,
        n_labels: np.ndarray | None = None,
        hard: np.ndarray | None = None,
    ) -> SoftLabels:
        """Soft labels of a point estimate (a vote, EM): no interval, ``lower = upper = mean``.

        Parameters
        ----------
        items, classes
            Item ids and class names.
        probabilities : numpy.ndarray
            Items × K.
        meaning : str
            What the probability means.
        n_labels, hard
            Labels per item, and the producer's own hard label per item (or None).

        Returns
        -------
        SoftLabels

        Examples
        --------
        >>> import numpy as np
        >>> soft = SoftLabels.point_estimate(["a"], ["x", "y"], np.array([[0.2, 0.8]]), "a share")
        >>> soft.is_point_estimate, soft.label.tolist()
        (True, ['y'])
        """
        return cls(
            items=np.asarray(items, dtype=object),
            classes=tuple(classes),
            mean=probabilities,
            lower=probabilities,
            upper=probabilities,
            ci_prob=None,
            n_labels=n_labels,
            meaning=meaning,
            hard=hard,
        )

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, *, ci_prob: float | None = None, meaning: str | None = None
    ) -> SoftLabels:
        """Parse a table in the export schema (the one parser of it).

        Required: ``item`` and one ``p_<c>`` column per class (≥ 2). Optional: ``label`` (kept
        as the hard label), the interval columns ``p_<c>_lo`` / ``p_<c>_hi`` (for every class or
        none), ``n_labels``, ``subtype``, ``gold``, ``expected_score`` (its presence marks the
        classes ordered, in column order; ``expected_score_lo`` / ``_hi`` its interval). Classes
        are the ``p_<name>`` columns in column order, except ``p_<c>_lo`` / ``p_<c>_hi`` where
        ``p_<c>`` is also a column. Other columns are ignored (``entropy`` and ``median_class``
        are recomputed).

        Parameters
        ----------
        frame : pandas.DataFrame
            The table (numbers may be strings, as a CSV reads).
        ci_prob : float, optional
            The intervals' probability when the table does not say (NaN if not given). A table
            without interval columns, or whose intervals all equal the probabilities, is a point
            estimate (``ci_prob=None``).
        meaning : str, optional
            What the probabilities mean (default: not recorded).

        Returns
        -------
        SoftLabels

        Raises
        ------
        DataError
            Naming the column or item at fault and how to fix it.

        Examples
        --------
        >>> import pandas as pd
        >>> import bayeslabels as bl
        >>> bl.SoftLabels.from_frame(pd.DataFrame({"item": ["a"], "p_no": [0.2], "p_yes": [0.8]}))
        <SoftLabels 1 items × ['no', 'yes'], point estimate>
        """
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"a soft-label table must be a DataFrame, not {type(frame).__name__}")
        frame = frame.reset_index(drop=True)
        names = [str(c) for c in frame.columns]
        frame.columns = names
        probability_columns = [c for c in names if c.startswith("p_")]
        interval = {
            c for c in probability_columns if c.endswith(("_lo", "_hi")) and c[:-3] in probability_columns
        }
        class_columns = [c for c in probability_columns if c not in interval]
        if "item" not in names or len(class_columns) < 2:
            raise DataError(
                "a soft-label table needs an 'item' column and one 'p_<class>' column per class (≥ 2); it "
                f"has {names[:12]}"
            )
        classes = tuple(c[2:] for c in class_columns)
        items = _item_ids(frame["item"])
        mean = _numbers(frame, class_columns, items)
        has_lo = [f"{c}_lo" in interval for c in class_columns]
        has_hi = [f"{c}_hi" in interval for c in class_columns]
        if any(has_lo) or any(has_hi):
            orphans = [c for c in class_columns if c.endswith(("_lo", "_hi"))]
            if orphans:
                raise DataError(
                    f"interval column {orphans[0]!r} has no probability column {orphans[0][:-3]!r}: give "
                    "p_<class> with its p_<class>_lo and p_<class>_hi for every class"
                )
            missing = [
                f"{c}_{end}"
                for c, lo, hi in zip(class_columns, has_lo, has_hi, strict=True)
                for end, present in (("lo", lo), ("hi", hi))
                if not present
            ]
            if missing:
                raise DataError(
                    f"the soft-label table has interval columns for some classes but lacks {missing[:4]}: "
                    "give p_<class>_lo and p_<class>_hi for every class, or drop them all (a point estimate)"
                )
            lower = _numbers(frame, [f"{c}_lo" for c in class_columns], items)
            upper = _numbers(frame, [f"{c}_hi" for c in class_columns], items)
        else:
            lower, upper = mean.copy(), mean.copy()
        if np.array_equal(lower, mean) and np.array_equal(upper, mean):
            ci_prob = None
        elif ci_prob is None:
            ci_prob = math.nan
        hard = None
        if "label" in names:
            hard = _hard_labels(frame["label"], classes, items)
        n_labels = _counts(frame["n_labels"], items) if "n_labels" in names else None
        text = {name: (frame[name] if name in names else None) for name in _TEXT_COLUMNS}
        ordered = "expected_score" in names
        score_interval = None
        if ordered and ci_prob is not None and {"expected_score_lo", "expected_score_hi"} <= set(names):
            score_interval = _numbers(frame, ["expected_score_lo", "expected_score_hi"], items)
        return cls(
            items=items,
            classes=classes,
            mean=mean,
            lower=lower,
            upper=upper,
            ci_prob=ci_prob,
            n_labels=n_labels,
            meaning=meaning or UNKNOWN_MEANING,
            subtype=None if text["subtype"] is None else text["subtype"].to_numpy(dtype=object),
            gold=None if text["gold"] is None else text["gold"].to_numpy(dtype=object),
            hard=hard,
            ordered=ordered,
            score_interval=score_interval,
        )

    # ------------------------------------------------------------------ files
    @classmethod
    def read(cls, path: str | Path) -> SoftLabels:
        """Read an exported soft-label file: Parquet, CSV or JSON Lines, by extension.

        ``ci_prob`` and ``meaning`` come from the file's provenance when it has one; a
        provenance whose ``ci_prob`` is null (a point estimate: EM, MAP, a vote) makes the soft
        labels a point estimate whatever the interval columns hold; its ``used_gold`` marks the
        items with a ``gold`` value as ``anchored`` (true) or not (false).

        Parameters
        ----------
        path : str or pathlib.Path
            A file written by `write` or `Fit.export` (or another table in the export schema).

        Returns
        -------
        SoftLabels

        Raises
        ------
        DataError
            If the file does not exist or its table is not in the export schema.
        ValueError
            If the extension is not one of the export formats (see `write`).

        Examples
        --------
        >>> import bayeslabels as bl
        >>> soft = bl.SoftLabels.read("soft_labels.parquet")  # doctest: +SKIP
        >>> soft.to_frame().head()  # doctest: +SKIP
        """
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such soft-label file")
        with consistent_read(path):  # the table and its sidecar from one export
            frame = _read_table(path, _file_kind(path))
            provenance = _provenance_if_any(path)
        ci_prob = provenance.get("ci_prob")
        try:
            soft = cls.from_frame(
                frame,
                ci_prob=float(ci_prob) if isinstance(ci_prob, int | float) else None,
                meaning=provenance.get("soft_label_meaning"),
            )
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from None
        if "ci_prob" in provenance and ci_prob is None and not soft.is_point_estimate:
            # the provenance says a point estimate: interval columns that drifted from the
            # probabilities (rounding, a rewrite) must not pass for credible intervals
            soft = replace(soft, lower=soft.mean, upper=soft.mean, ci_prob=None)
        used_gold = provenance.get("used_gold")
        if isinstance(used_gold, bool) and soft.gold is not None:  # the fit's gold anchored those items
            soft = replace(soft, anchored=pd.notna(soft.gold) & used_gold)
        return soft

    def write(self, path: str | Path, provenance: str | None = None) -> Path:
        """Write `to_frame` to Parquet, CSV or JSON Lines (by extension), atomically.

        Parameters
        ----------
        path : str or pathlib.Path
            ``.parquet``, ``.csv``, ``.tsv`` or ``.jsonl``; the text formats may end in ``.gz``,
            ``.bz2`` or ``.xz`` (compressed so).
        provenance : str, optional
            JSON text of an object: stored in the Parquet schema metadata (key
            ``bayeslabels.provenance``) or, for the text formats, in a sidecar ``<path>.json``
            that records the file's sha256 and is renamed with it (an old sidecar is removed
            when there is none); `read_provenance` reads it back and checks the hash.

        Returns
        -------
        pathlib.Path
            The file written.

        Raises
        ------
        ValueError
            If the extension is not one of the export formats (see `write`).

        Examples
        --------
        >>> import bayeslabels as bl
        >>> soft = bl.soft_vote(bl.datasets.load("bluebirds"))
        >>> soft.write("soft_labels.csv", provenance='{"source": "by hand"}')  # doctest: +SKIP
        PosixPath('soft_labels.csv')
        """
        return write_table(self.to_frame(), path, provenance)


def _provenance_if_any(path: Path) -> dict[str, Any]:
    """The file's provenance, {} when it has none; a sidecar of another export is an error."""
    try:
        return read_provenance(path)
    except DataError as exc:
        if "does not belong to" in str(exc):
            raise
        return {}
    except (ValueError, OSError):
        return {}


# ---------------------------------------------------------------------- parsing helpers


def _item_ids(column: pd.Series) -> np.ndarray:
    items = _text(column.to_numpy(dtype=object))
    missing = np.flatnonzero(pd.isna(items))
    if len(missing):
        raise DataError(f"row {int(missing[0])} of the soft-label table has no item id: every row needs one")
    index = pd.Index(items, dtype=object)
    if index.has_duplicates:
        raise DataError(
            f"the soft-label table repeats item ids (e.g. {index[index.duplicated()][0]!r}): one row per item"
        )
    return items


def _numbers(frame: pd.DataFrame, columns: list[str], items: np.ndarray) -> np.ndarray:
    """The columns as floats; a cell that is not a number is a DataError (a missing one is
    NaN, refused by `_check_values` with the item named)."""
    out = np.empty((len(frame), len(columns)))
    for k, column in enumerate(columns):
        raw = frame[column]
        if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
            raw = raw.map(lambda v: None if isinstance(v, str) and v.strip() == "" else v)
        try:  # Python's float(): a number written with repr() reads back exactly
            out[:, k] = raw.to_numpy(dtype=float, na_value=np.nan)
            continue
        except (TypeError, ValueError):
            pass
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna().to_numpy() & raw.notna().to_numpy()
        row = int(np.flatnonzero(bad)[0]) if bad.any() else 0
        raise DataError(
            f"column {column!r} holds values that are not numbers (e.g. item {items[row]!r}: "
            f"{raw.iloc[row]!r}): probabilities must be numbers in [0, 1]"
        )
    return out


def _hard_labels(column: pd.Series, classes: tuple[str, ...], items: np.ndarray) -> np.ndarray:
    names = _text(column.to_numpy(dtype=object))
    known = pd.Index(classes, dtype=object)
    out = np.empty(len(names), dtype=object)
    for i, name in enumerate(names):
        if name is None:
            out[i] = None
            continue
        value = name if name in known else _canonical_class(name)
        if value not in known:
            raise DataError(
                f"'label' {name!r} of item {items[i]!r} is not among the classes of the p_ columns "
                f"{list(classes)}: a hard label must name one of them"
            )
        out[i] = value
    return out


def _counts(column: pd.Series, items: np.ndarray) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"column 'n_labels' must hold non-negative whole numbers (e.g. item {items[row]!r}: "
            f"{column.iloc[row]!r})"
        )
    return values.astype(np.int64)


def _check_values(soft: SoftLabels) -> None:
    """Probabilities in [0, 1], rows summing to 1, ``lower ≤ mean ≤ upper``; the first bad item
    and its column are named."""
    classes = soft.classes

    def fail(bad: np.ndarray, what: str, columns: list[str], matrix: np.ndarray) -> None:
        row = int(np.flatnonzero(bad.any(axis=1) if bad.ndim == 2 else bad)[0])
        k = int(np.flatnonzero(bad[row])[0]) if bad.ndim == 2 else None
        where = columns[k] if k is not None else str(columns)
        values = matrix[row].tolist() if k is None else matrix[row, k]
        raise DataError(
            f"{int((bad.any(axis=1) if bad.ndim == 2 else bad).sum())} rows of the soft-label table {what} "
            f"(e.g. item {soft.items[row]!r}, {where}: {values}); a soft label must be a probability "
            "distribution over the classes"
        )

    for suffix, matrix in (("", soft.mean), ("_lo", soft.lower), ("_hi", soft.upper)):
        columns = [f"p_{c}{suffix}" for c in classes]
        missing = ~np.isfinite(matrix)
        if missing.any():
            fail(missing, "have missing or infinite probabilities", columns, matrix)
        outside = (matrix < -RANGE_TOLERANCE) | (matrix > 1 + RANGE_TOLERANCE)
        if outside.any():
            fail(outside, "have probabilities outside [0, 1] (negative or above 1)", columns, matrix)
    sums = soft.mean.sum(axis=1)
    off = ~(np.abs(sums - 1.0) <= SUM_TOLERANCE)
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise DataError(
            f"{int(off.sum())} rows of the soft-label table have class probabilities "
            f"{[f'p_{c}' for c in classes]} that do not sum to 1 (e.g. item {soft.items[row]!r}: "
            f"{soft.mean[row].tolist()}, sum {sums[row]:.6g}); a soft label must be a probability "
            "distribution over the classes"
        )
    tolerance = 1e-9
    outside = (soft.lower > soft.mean + tolerance) | (soft.mean > soft.upper + tolerance)
    if outside.any():
        row, k = (int(v[0]) for v in np.nonzero(outside))
        c = classes[k]
        raise DataError(
            f"{int(outside.any(axis=1).sum())} rows have an interval that does not contain the probability "
            f"(e.g. item {soft.items[row]!r}: p_{c}_lo {soft.lower[row, k]} ≤ p_{c} {soft.mean[row, k]} ≤ "
            f"p_{c}_hi {soft.upper[row, k]} fails): p_<class>_lo ≤ p_<class> ≤ p_<class>_hi"
        )


# ---------------------------------------------------------------------- files


def export_kind(path: str | Path) -> str:
    """``"parquet"``, ``"csv"``, ``"tsv"`` or ``"jsonl"`` by extension; ValueError for anything else."""
    return export_format(path).kind


# ---------------------------------------------------------------------- coercion


def as_soft_labels(source: Any, ci_prob: float = 0.9) -> SoftLabels:
    """The `SoftLabels` behind ``source`` — the one coercion every consumer uses.

    Parameters
    ----------
    source : SoftLabels, producer, DataFrame, str or pathlib.Path
        A `SoftLabels`; anything with a ``soft_labels()`` method (`Fit`, `EMResult`,
        `VoteResult`); a table in the export schema (`SoftLabels.from_frame`); or the path of
        an exported file (`SoftLabels.read`).
    ci_prob : float, default 0.9
        Passed to producers whose ``soft_labels`` takes it (a `Fit`).

    Returns
    -------
    SoftLabels

    Raises
    ------
    DataError
        If ``source`` is none of the above.

    Examples
    --------
    >>> import pandas as pd
    >>> import bayeslabels as bl
    >>> bl.as_soft_labels(bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False)))
    <SoftLabels 108 items × ['false', 'true'], point estimate>
    >>> bl.as_soft_labels(pd.DataFrame({"item": ["a"], "p_no": [0.2], "p_yes": [0.8]})).label
    array(['yes'], dtype=object)
    >>> bl.as_soft_labels("soft_labels.parquet").label  # doctest: +SKIP
    """
    if isinstance(source, SoftLabels):
        return source
    if isinstance(source, pd.DataFrame):
        return SoftLabels.from_frame(source)
    if isinstance(source, str | os.PathLike):
        return SoftLabels.read(Path(source))
    method = getattr(source, "soft_labels", None)
    if callable(method):
        try:
            takes_ci = "ci_prob" in inspect.signature(method).parameters
        except (TypeError, ValueError):
            takes_ci = False
        result = method(ci_prob=ci_prob) if takes_ci else method()
        if isinstance(result, SoftLabels):
            return result
        if isinstance(result, pd.DataFrame):
            return SoftLabels.from_frame(result)
    raise DataError(
        "soft labels must be a SoftLabels, something with a .soft_labels() method (a Fit, EMResult or "
        "VoteResult), a soft-label DataFrame (item, p_<class> columns) or the path of an exported "
        f"soft-label file, not {type(source).__name__}"
    )
