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

Task lists for `bayeslabels.fit_many` (independent fits, by name):

* `tasks_by_subtype`: one `Annotations` per subtype (every item in exactly one task);
* `fold_tasks`: the training side of each fold of a K-fold split by item (`kfold_splits`),
  or of any `Split`\\ s given (e.g. from `split`);
* `bootstrap_tasks`: items resampled with replacement; the c-th copy (c = 0, 1, …) of item
  ``x`` in a replicate is the item ``"x#c"`` (every copy renamed, the first too, so names
  stay unique; `bootstrap_origin` maps them back), with all of ``x``'s labels and its gold.
  Replicate r is drawn from ``np.random.SeedSequence(seed, spawn_key=(r,))``
  (= ``SeedSequence(seed).spawn(n)[r]``), so it does not depend on ``n``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, KFold

from .choices import Method
from .data import Annotations
from .errors import DataError
from .fitting import fit
from .spec import ModelSpec

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
    """One train/test division of an `Annotations` (bool masks over label rows and items), from `split`.

    ``train()`` / ``test()`` give each side as an `Annotations` with the same code books:
    that side's label rows and the gold of that side's items only.

    Attributes
    ----------
    by : str
        ``"item"``, ``"annotator"`` or ``"time"``.
    test_size : float
        The test share asked for.
    seed : int or None
        The seed of the shuffle.
    train_rows, test_rows : numpy.ndarray
        Bool masks over label rows.
    train_items, test_items : numpy.ndarray
        Bool masks over items (whose gold goes with each side).
    cutoff : pandas.Timestamp or None
        The time of a ``by="time"`` split.
    annotations : Annotations
        The data split.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> split = bl.split(bl.datasets.load("rte"), test_size=0.25, seed=0)
    >>> split.train().n_labels, split.test().n_labels
    (6000, 2000)
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
        """The training side: its label rows and the gold of its items, code books unchanged.

        Returns
        -------
        Annotations

        Examples
        --------
        >>> import bayeslabels as bl
        >>> bl.split(bl.datasets.load("rte"), test_size=0.25, seed=0).train().n_labels
        6000
        """
        return _rows(self.annotations, self.train_rows, self.train_items)

    def test(self) -> Annotations:
        """The test side: its label rows and the gold of its items, code books unchanged.

        Returns
        -------
        Annotations

        Examples
        --------
        >>> import bayeslabels as bl
        >>> bl.split(bl.datasets.load("rte"), test_size=0.25, seed=0).test().n_labels
        2000
        """
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
    """One leakage-safe train/test split of ``ann`` (see the module docstring for each ``by``).

    Parameters
    ----------
    ann : Annotations
        The labels to split.
    by : {"item", "annotator", "time"}, default "item"
        What the two sides share nothing of: items (with all their labels and gold),
        annotators, or time (the latest-completed items are the test side; needs label
        timestamps).
    test_size : float, default 0.2
        The test share, strictly between 0 and 1.
    seed : int or None, default 0
        Seed of the shuffle (``by="item"`` / ``"annotator"``).

    Returns
    -------
    Split

    Raises
    ------
    DataError
        If ``ann`` is not an `Annotations`, a side would be empty, a split by annotator has
        fewer than two annotators, or a split by time has no timestamps.
    ValueError
        If ``by`` or ``test_size`` is invalid.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("rte")
    >>> print(bl.split(ann, test_size=0.25, seed=0))  # doctest: +NORMALIZE_WHITESPACE
    split by item (test_size 0.25, seed 0); train: 600 items, 6000 labels, 164 annotators;
    test: 200 items, 2000 labels, 164 annotators
    >>> print(bl.split(ann, by="annotator", test_size=0.25, seed=0))  # doctest: +NORMALIZE_WHITESPACE
    split by annotator (test_size 0.25, seed 0); train: 800 items, 5740 labels, 123 annotators;
    test: 800 items, 2260 labels, 41 annotators
    """
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
    """Targets made fold by fold, from `fit_per_fold`.

    Attributes
    ----------
    splits : tuple of Split
        The folds.
    fits : tuple of Fit
        The fit of each fold, made on its training labels only.
    targets : pandas.DataFrame
        The columns of `SoftLabels.to_frame` with ``fold`` and ``side`` (``"train"`` /
        ``"test"``) in front, one row per item and side of each fold.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("rte")
    >>> folds = bl.fit_per_fold(ann, bl.split(ann, test_size=0.25, seed=0))
    >>> folds.targets.groupby("side").size()
    side
    test     200
    train    600
    dtype: int64
    """

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
    model: str | Path | ModelSpec = "dawid-skene",
    method: Method | None = "em",
    *,
    ci_prob: float = 0.9,
    **fit_kwargs: Any,
) -> FoldTargets:
    """Fit the aggregation model on each split's training labels only and make targets.

    Training items get the soft labels of the fit of their fold's training labels (gold of
    training items anchors it unless ``use_gold=False``); test items get the fitted annotator
    parameters applied to their own labels — test labels never enter the fit, and test gold
    never anchors anything.

    Parameters
    ----------
    ann : Annotations
        The labels the splits were made from.
    splits : Split or sequence of Split
        From `split` (or `kfold_splits`).
    model : str, pathlib.Path or ModelSpec, default "dawid-skene"
        As in `bayeslabels.fit`.
    method : str or None, default "em"
        As in `bayeslabels.fit`.
    ci_prob : float, default 0.9
        Probability of the targets' intervals.
    **fit_kwargs
        Other keyword arguments of `bayeslabels.fit`.

    Returns
    -------
    FoldTargets

    Raises
    ------
    ValueError
        If ``splits`` is not a Split or a sequence of them.
    DataError
        If a split was made from other annotations.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("rte")
    >>> folds = bl.fit_per_fold(ann, bl.split(ann, test_size=0.25, seed=0))
    >>> len(folds.fits), folds.targets.shape
    (1, (800, 14))
    >>> nuts = bl.fit_per_fold(ann, bl.split(ann), method="nuts")  # doctest: +SKIP
    """
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
        test_frame = fitted.predict(test_ann, ci_prob).to_frame()
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
    """Split the well-labelled items into a clean slice and an ambiguous slice.

    Among items with at least ``min_labels`` labels, the clean slice holds those whose top
    class has at least ``min_agreement`` of the item's labels, the ambiguous slice the rest.
    Items with fewer labels are in neither: too few labels to call them clean or ambiguous.
    Score the clean slice on gold with `evaluate` and the ambiguous one with `evaluate_soft`.

    Parameters
    ----------
    ann : Annotations
        The labels.
    min_labels : int, default 3
        Fewest labels for an item to be in either slice.
    min_agreement : float, default 0.8
        Top-class share of a clean item, in (0, 1].

    Returns
    -------
    clean, ambiguous : Annotations
        `Annotations.subset` views (codes unchanged; other items have no labels and no gold
        there).

    Raises
    ------
    ValueError
        If ``min_labels`` or ``min_agreement`` is out of range.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> clean, ambiguous = bl.clean_test_set(bl.datasets.load("rte"))
    >>> clean.n_labels, ambiguous.n_labels
    (4060, 3940)
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


# --------------------------------------------------------------------------- task lists
# Builders of the ``tasks`` mapping of `bayeslabels.fit_many`: one `Annotations` per subtype,
# per training fold or per bootstrap replicate. They only slice annotations (no Dask).


def tasks_by_subtype(ann: Annotations, *, missing: str | None = "(no subtype)") -> dict[str, Annotations]:
    """One `Annotations` per subtype: that subtype's items, their labels and gold.

    Items are re-coded within each task (`Annotations.drop_unlabelled`); annotators and
    classes keep the whole code book, so an annotator with no label in a subtype is in that
    task with no labels (EM gives it the prior mode). Every item is in exactly one task. For
    `fit_many`.

    Parameters
    ----------
    ann : Annotations
        Labels with subtypes.
    missing : str or None, default "(no subtype)"
        The task of the items without a subtype; None leaves them out.

    Returns
    -------
    dict of str to Annotations
        Subtype name → its task.

    Raises
    ------
    DataError
        If ``ann`` is not an `Annotations` or has no subtypes, or ``missing`` is also a
        subtype name.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> tasks = bl.tasks_by_subtype(bl.datasets.load("rte"))
    >>> {name: task.n_items for name, task in tasks.items()}
    {'CD': 150, 'IE': 120, 'IR': 90, 'MT': 120, 'PP': 50, 'QA': 130, 'RC': 140}
    >>> fits = bl.fit_many(tasks, method="em")  # doctest: +SKIP
    """
    if not isinstance(ann, Annotations):
        raise DataError(f"tasks_by_subtype() needs an Annotations, got {type(ann).__name__}")
    if not ann.has_subtypes:
        raise DataError(
            "these annotations have no subtypes: build them from a table with a 'subtype' column "
            "(Annotations.from_frame(..., subtype='column'))"
        )
    groups = {str(name): ann.subtype == code for code, name in enumerate(ann.subtypes)}
    unknown = ann.subtype < 0
    if unknown.any() and missing is not None:
        if missing in groups:
            raise DataError(f"missing={missing!r} is also a subtype name: pick another name for it")
        groups[missing] = unknown
    return {
        name: replace(ann.subset(members).drop_unlabelled(), summary=None)
        for name, members in groups.items()
        if members.any()
    }


def kfold_splits(ann: Annotations, n_folds: int = 5, seed: int | None = 0) -> tuple[Split, ...]:
    """K-fold by item: ``n_folds`` `Split`\\ s whose test sides partition the items (shuffled,
    seeded; scikit-learn's ``KFold``). Each item, with all its labels and gold, is on one side."""
    if not isinstance(ann, Annotations):
        raise DataError(f"kfold_splits() needs an Annotations, got {type(ann).__name__}")
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or not 2 <= n_folds <= ann.n_items:
        raise ValueError(f"n_folds must be a whole number from 2 to the number of items, got {n_folds!r}")
    splitter = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    splits = []
    for _, test_codes in splitter.split(np.arange(ann.n_items)):
        test_items = np.zeros(ann.n_items, dtype=bool)
        test_items[test_codes] = True
        test_rows = test_items[ann.item_idx]
        splits.append(
            Split(
                by="item",
                test_size=1 / n_folds,
                seed=seed,
                train_rows=~test_rows,
                test_rows=test_rows,
                train_items=~test_items,
                test_items=test_items,
                annotations=ann,
            )
        )
    return tuple(splits)


def fold_tasks(
    ann: Annotations, n_folds: int = 5, *, seed: int | None = 0, splits: Split | Sequence[Split] | None = None
) -> dict[str, Annotations]:
    """The training side of each fold, ``{"fold0": ..., "fold1": ...}``, for `fit_many`.

    `kfold_splits` (by item) unless ``splits`` are given (e.g. ``bl.split(ann,
    by="annotator")``). As in `bayeslabels.fit_per_fold`, a fold's task holds its training
    labels and training gold only (re-coded with `Annotations.drop_unlabelled`): no test label
    or test gold enters it.

    Parameters
    ----------
    ann : Annotations
        The labels.
    n_folds : int, default 5
        Folds of the K-fold split (ignored with ``splits``).
    seed : int or None, default 0
        Seed of the K-fold shuffle.
    splits : Split or sequence of Split, optional
        Splits to use instead of K-fold.

    Returns
    -------
    dict of str to Annotations

    Raises
    ------
    ValueError
        If ``n_folds`` is out of range or ``splits`` is not Splits.
    DataError
        If a split was made from other annotations.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> tasks = bl.fold_tasks(bl.datasets.load("rte"), n_folds=3)
    >>> {name: task.n_items for name, task in tasks.items()}
    {'fold0': 533, 'fold1': 533, 'fold2': 534}
    """
    if splits is None:
        splits = kfold_splits(ann, n_folds, seed)
    folds = (splits,) if isinstance(splits, Split) else tuple(splits)
    if not folds or not all(isinstance(s, Split) for s in folds):
        raise ValueError("splits must be a Split or a sequence of Splits (from bl.split or kfold_splits)")
    for s in folds:
        if s.annotations is not ann:
            raise DataError("a split was made from other annotations: make the splits from the same `ann`")
    return {f"fold{number}": s.train().drop_unlabelled() for number, s in enumerate(folds)}


def bootstrap_replicate(
    ann: Annotations, seed: int | np.random.SeedSequence | np.random.Generator
) -> Annotations:
    """One bootstrap replicate: ``n_items`` items drawn with replacement (copies renamed
    ``"<item>#<c>"``, c = 0, 1, …, in the original item order), each with all of its labels,
    its gold and its subtype. Annotators, classes and subtypes keep their code books."""
    rng = np.random.default_rng(seed)
    n = ann.n_items
    drawn = np.sort(rng.integers(0, n, size=n))
    copy = np.arange(n) - np.searchsorted(drawn, drawn, side="left")
    names = pd.Index(np.asarray(ann.items, dtype=object)[drawn]).astype(str) + "#" + copy.astype(str)
    per_item = ann.labels_per_item
    order = np.argsort(ann.item_idx, kind="stable")
    start = np.concatenate([[0], np.cumsum(per_item)[:-1]])
    lengths = per_item[drawn]
    ends = np.cumsum(lengths)
    offsets = np.arange(ends[-1] if n else 0) - np.repeat(ends - lengths, lengths)
    rows = order[np.repeat(start[drawn], lengths) + offsets]
    return replace(
        ann,
        items=pd.Index(names, dtype=object),
        item_idx=np.repeat(np.arange(n), lengths),
        annotator_idx=ann.annotator_idx[rows],
        label=ann.label[rows],
        gold=ann.gold[drawn],
        subtype=ann.subtype[drawn],
        timestamp=None if ann.timestamp is None else ann.timestamp[rows],
        summary=None,
    )


def bootstrap_tasks(
    ann: Annotations, n: int, seed: int = 0, *, prefix: str = "boot"
) -> dict[str, Annotations]:
    """``n`` bootstrap replicates over items (`bootstrap_replicate`), for `fit_many`.

    Named ``boot0 …`` (zero padded); replicate r is drawn from
    ``np.random.SeedSequence(seed, spawn_key=(r,))``, so it does not depend on ``n``. The
    c-th copy of item ``x`` is the item ``"x#c"``.

    Parameters
    ----------
    ann : Annotations
        The labels.
    n : int
        Replicates.
    seed : int, default 0
        Base seed (non-negative).
    prefix : str, default "boot"
        Start of the task names.

    Returns
    -------
    dict of str to Annotations

    Raises
    ------
    DataError
        If ``ann`` is not an `Annotations`.
    ValueError
        If ``n`` or ``seed`` is invalid.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> tasks = bl.bootstrap_tasks(bl.datasets.load("bluebirds"), n=3, seed=0)
    >>> list(tasks), list(tasks["boot0"].items[:3])
    (['boot0', 'boot1', 'boot2'], ['11573#0', '11573#1', '11573#2'])
    """
    if not isinstance(ann, Annotations):
        raise DataError(f"bootstrap_tasks() needs an Annotations, got {type(ann).__name__}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive whole number of replicates, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    width = len(str(n - 1))
    return {
        f"{prefix}{r:0{width}d}": bootstrap_replicate(ann, np.random.SeedSequence(seed, spawn_key=(r,)))
        for r in range(n)
    }


def bootstrap_origin(items: Iterable[str]) -> pd.Index:
    """The original item id of each bootstrap copy (``"x#c"`` → ``"x"``)."""
    return pd.Index([str(item).rsplit("#", 1)[0] for item in items], dtype=object)
