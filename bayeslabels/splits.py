"""Leakage-safe splits, aggregation fitted per training fold, and clean / ambiguous test slices.

A `Split` divides the label rows (and the items) of an `Annotations` into a training and a
test side that share nothing along its axis:

* ``by="item"``: every item, with all its labels and its gold, is on one side
  (scikit-learn's ``GroupShuffleSplit`` over items);
* ``by="annotator"``: every annotator, with all their labels, is on one side
  (``GroupShuffleSplit`` over label rows grouped by annotator); items may have labels on both
  sides — the point is to meet annotators the model has never seen;
* ``by="time"``: items are ordered by the time their last label arrived; the latest
  ``test_size`` share is the test side, so every training label is earlier than the cutoff and
  every test item was completed at or after it. Needs label timestamps.

`fit_per_fold` fits the aggregation model on the training side's labels only (the test
side's rows are not in the `Annotations` it is given), then scores the test items by applying
the fitted annotator parameters to the test labels (the E-step with parameters fixed), so
training targets cannot depend on a test label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from .data import Annotations
from .errors import DataError

SplitBy = Literal["item", "annotator", "time"]


def _rows(ann: Annotations, rows: np.ndarray, items: np.ndarray) -> Annotations:
    """The label rows ``rows`` and the gold of ``items`` (bool masks); code books unchanged."""
    return replace(
        ann,
        item_idx=ann.item_idx[rows],
        annotator_idx=ann.annotator_idx[rows],
        label=ann.label[rows],
        gold=np.where(items, ann.gold, -1),
        timestamp=None if ann.timestamp is None else ann.timestamp[rows],
        summary=None,
    )


@dataclass(frozen=True, eq=False)
class Split:
    """One train/test division of an `Annotations` (bool masks over label rows and items).

    ``train()`` / ``test()`` give each side as an `Annotations` with the same code books:
    that side's label rows and the gold of that side's items only.
    """

    by: str
    test_size: float
    seed: int | None
    train_rows: np.ndarray
    test_rows: np.ndarray
    train_items: np.ndarray
    test_items: np.ndarray
    cutoff: pd.Timestamp | None = None
    annotations: Annotations = field(default=None, repr=False)  # type: ignore[assignment]

    def train(self) -> Annotations:
        return _rows(self.annotations, self.train_rows, self.train_items)

    def test(self) -> Annotations:
        return _rows(self.annotations, self.test_rows, self.test_items)

    @property
    def train_item_ids(self) -> pd.Index:
        return self.annotations.items[self.train_items]

    @property
    def test_item_ids(self) -> pd.Index:
        return self.annotations.items[self.test_items]

    def __str__(self) -> str:
        ann = self.annotations
        sides = []
        for name, rows, items in (
            ("train", self.train_rows, self.train_items),
            ("test", self.test_rows, self.test_items),
        ):
            annotators = len(np.unique(ann.annotator_idx[rows]))
            sides.append(
                f"{name}: {int(items.sum())} items, {int(rows.sum())} labels, {annotators} annotators"
            )
        cutoff = f", cutoff {self.cutoff.isoformat()}" if self.cutoff is not None else ""
        return f"split by {self.by} (test_size {self.test_size:g}, seed {self.seed}{cutoff}); " + "; ".join(
            sides
        )


def _check_test_size(test_size: float) -> float:
    if isinstance(test_size, bool) or not isinstance(test_size, int | float) or not 0 < test_size < 1:
        raise ValueError(f"test_size must be a fraction strictly between 0 and 1, got {test_size!r}")
    return float(test_size)


def _label_seconds(ann: Annotations) -> np.ndarray:
    if ann.timestamp is None:
        raise DataError(
            "a temporal split needs label timestamps, and these annotations have none: build them from a "
            "table with a 'timestamp' column (Annotations.from_frame(..., timestamp='column')), or split "
            "by='item' or by='annotator'"
        )
    stamps = np.asarray(ann.timestamp, dtype="datetime64[ns]")
    missing = np.isnat(stamps)
    if missing.any():
        raise DataError(
            f"{int(missing.sum())} label rows have no timestamp (e.g. label row "
            f"{int(np.flatnonzero(missing)[0])}): a temporal split must place every label in time; fill them "
            "in or drop those rows"
        )
    return stamps.astype(np.int64).astype(float)


def split(ann: Annotations, by: SplitBy = "item", test_size: float = 0.2, seed: int | None = 0) -> Split:
    """One leakage-safe train/test split of ``ann`` (see the module docstring for each ``by``)."""
    from sklearn.model_selection import GroupShuffleSplit

    if not isinstance(ann, Annotations):
        raise DataError(f"split() needs an Annotations, got {type(ann).__name__}")
    test_size = _check_test_size(test_size)
    cutoff = None
    if by == "item":
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        codes = np.arange(ann.n_items)
        _, test_codes = next(splitter.split(codes, groups=codes))
        test_items = np.zeros(ann.n_items, dtype=bool)
        test_items[test_codes] = True
        train_items = ~test_items
        test_rows = test_items[ann.item_idx]
        train_rows = ~test_rows
    elif by == "annotator":
        if ann.n_annotators < 2:
            raise DataError("a split by annotator needs at least two annotators")
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        _, test_index = next(splitter.split(ann.annotator_idx, groups=ann.annotator_idx))
        test_rows = np.zeros(ann.n_labels, dtype=bool)
        test_rows[test_index] = True
        train_rows = ~test_rows
        train_items = np.bincount(ann.item_idx[train_rows], minlength=ann.n_items) > 0
        test_items = np.bincount(ann.item_idx[test_rows], minlength=ann.n_items) > 0
    elif by == "time":
        seconds = _label_seconds(ann)
        finished = np.full(ann.n_items, -np.inf)
        np.maximum.at(finished, ann.item_idx, seconds)
        labelled = ann.labels_per_item > 0
        ordered = np.sort(finished[labelled])
        n_test = int(np.ceil(test_size * len(ordered)))
        if not 0 < n_test < len(ordered):
            raise DataError(
                f"too few labelled items ({len(ordered)}) for a temporal split with test_size {test_size}"
            )
        threshold = ordered[len(ordered) - n_test]
        test_items = labelled & (finished >= threshold)
        train_items = ~test_items
        if test_items.all():
            raise DataError("every item finished at the same time: a temporal split has nothing to train on")
        test_rows = test_items[ann.item_idx]
        train_rows = ~test_rows
        cutoff = pd.Timestamp(int(threshold), tz="UTC")
        seed = None  # a temporal split is not random
    else:
        raise ValueError(f"by must be 'item', 'annotator' or 'time', not {by!r}")
    return Split(by, test_size, seed, train_rows, test_rows, train_items, test_items, cutoff, ann)


# --------------------------------------------------------------------------- per fold


@dataclass(frozen=True, eq=False)
class FoldTargets:
    """Targets made fold by fold. ``targets``: the columns of `SoftLabels.to_frame` with
    ``fold`` and ``side`` (``"train"`` / ``"test"``) in front, one row per item and side of each
    fold. ``fits``: the fit of each fold, made on its training labels only."""

    splits: tuple[Split, ...]
    fits: tuple[Any, ...]
    targets: pd.DataFrame

    def side(self, fold: int, side: str) -> pd.DataFrame:
        rows = (self.targets["fold"] == fold) & (self.targets["side"] == side)
        return self.targets[rows].drop(columns=["fold", "side"]).reset_index(drop=True)

    def __str__(self) -> str:
        counts = self.targets.groupby(["fold", "side"]).size().unstack(fill_value=0)
        lines = [f"{len(self.fits)} fold(s), aggregation fitted on each training side only:"]
        for fold, row in counts.iterrows():
            lines.append(f"  fold {fold}: {row.get('train', 0)} train items, {row.get('test', 0)} test items")
        return "\n".join(lines)


def fit_per_fold(
    ann: Annotations,
    splits: Split | Sequence[Split],
    model: Any = "dawid-skene",
    method: str | None = "em",
    *,
    ci_prob: float = 0.9,
    **fit_kwargs: Any,
) -> FoldTargets:
    """Fit the aggregation model on each split's training labels only and make targets.

    Training items get the soft labels of the fit of their fold's training labels (gold of
    training items anchors it unless ``use_gold=False``); test items get the fitted annotator
    parameters applied to their own labels — test labels never enter the fit, and test gold
    never anchors anything. Other keyword arguments go to `bayeslabels.fit`.
    """
    from .inference import fit

    folds = (splits,) if isinstance(splits, Split) else tuple(splits)
    if not folds or not all(isinstance(s, Split) for s in folds):
        raise ValueError("splits must be a Split or a sequence of Splits (from bl.split)")
    for s in folds:
        if s.annotations is not ann and (
            s.annotations.n_labels != ann.n_labels or not s.annotations.items.equals(ann.items)
        ):
            raise DataError("a split was made from other annotations: make the splits from the same `ann`")
    fits, frames = [], []
    for number, s in enumerate(folds):
        train = s.train().drop_unlabelled()
        fit_kwargs.setdefault("quiet", True)
        fitted = fit(train, model=model, method=method, **fit_kwargs)
        fits.append(fitted)
        train_frame = fitted.soft_labels(ci_prob).to_frame()
        train_frame = train_frame[train_frame["item"].isin(s.train_item_ids)]
        test_ann = s.test().drop_unlabelled()
        scorer = replace(fitted, annotations=test_ann, used_gold=False, em=None)
        test_frame = scorer.soft_labels(ci_prob).to_frame()
        test_frame = test_frame[test_frame["item"].isin(s.test_item_ids)]
        for side, frame in (("train", train_frame), ("test", test_frame)):
            frames.append(frame.assign(fold=number, side=side))
    targets = pd.concat(frames, ignore_index=True)
    targets = targets[["fold", "side", *[c for c in targets.columns if c not in ("fold", "side")]]]
    return FoldTargets(folds, tuple(fits), targets)


# --------------------------------------------------------------------------- test slices


def clean_test_set(
    ann: Annotations, min_labels: int = 3, min_agreement: float = 0.8
) -> tuple[Annotations, Annotations]:
    """Split the items with at least ``min_labels`` labels into a clean slice (the top class
    holds at least ``min_agreement`` of the item's labels) and an ambiguous slice (the rest).

    Returns ``(clean, ambiguous)`` as `Annotations.subset` views (codes unchanged; other items
    have no labels and no gold there). Items with fewer labels are in neither: too few labels
    to call them clean or ambiguous. Score the clean slice on gold with `evaluate` and the
    ambiguous one with `evaluate_soft`.
    """
    if int(min_labels) != min_labels or min_labels < 1:
        raise ValueError(f"min_labels must be a positive whole number, got {min_labels!r}")
    if not 0 < min_agreement <= 1:
        raise ValueError(f"min_agreement must lie in (0, 1], got {min_agreement!r}")
    counts = ann.label_counts()
    n = counts.sum(axis=1)
    enough = n >= min_labels
    with np.errstate(invalid="ignore", divide="ignore"):
        top_share = np.where(n > 0, counts.max(axis=1) / np.maximum(n, 1), 0.0)
    clean = enough & (top_share >= min_agreement - 1e-12)
    return ann.subset(clean), ann.subset(enough & ~clean)
