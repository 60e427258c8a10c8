"""Item features for learning from crowds: validated, aligned to the items, standardised.

`item_features` turns what a user holds — a pandas DataFrame indexed by item id, or a NumPy
array / SciPy sparse matrix with the item of each row — into `ItemFeatures`: one row per
fitted item in the items' order, float64, standardised column by column with the fitted
items' mean and sd (a sparse matrix is only scaled, so its zeros stay zeros). The scaling is
kept, so `ItemFeatures.transform` puts features of new items on the same scale for prediction,
and only the fitted items' features enter the fit (those of other items are left out: no
leakage from a test set). Bad input is a `DataError` naming the items or columns and the fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import xarray as xr

from .errors import DataError

FeaturesLike = Any
"""A pandas DataFrame indexed by item id, a 2-D NumPy array or a SciPy sparse matrix."""


@dataclass(frozen=True)
class ItemFeatures:
    """Standardised features of the fitted items and the scaling that made them.

    Attributes
    ----------
    values : numpy.ndarray
        Items × F standardised features, ``(x − mean) / sd``, in the order of the items.
    names : tuple of str
        The feature (column) names.
    mean, sd : numpy.ndarray
        The per-feature centre and scale (F,) taken from the fitted items (mean 0 for sparse
        input, which is only scaled; sd 1 for a constant column).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayeslabels.features import item_features
    >>> frame = pd.DataFrame({"length": [3.0, 5.0, 7.0]}, index=["a", "b", "c"])
    >>> features = item_features(frame, pd.Index(["c", "a", "b"]))
    >>> features.values.ravel().round(2).tolist(), features.names
    ([1.22, -1.22, 0.0], ('length',))
    """

    values: np.ndarray
    names: tuple[str, ...]
    mean: np.ndarray
    sd: np.ndarray

    @property
    def n_features(self) -> int:
        return len(self.names)

    def transform(
        self, features: FeaturesLike, items: Sequence[str] | None = None
    ) -> tuple[pd.Index, np.ndarray]:
        """New items' features on the fitted scale: ``(item ids, items × F standardised)``.

        A DataFrame must hold every fitted feature name (columns matched by name, extra
        columns ignored); an array or sparse matrix must have the fitted number of columns,
        in the fitted order, and ``items`` (one id per row; default ``"0"``, ``"1"``, …)."""
        ids, raw, names = _raw(features, items, None, "predict_items")
        if names is not None:
            missing = [name for name in self.names if name not in names]
            if missing:
                raise DataError(
                    f"predict_items: the features lack the fitted column(s) {missing[:5]}"
                    f"{' …' if len(missing) > 5 else ''}; give every feature the model was fitted with"
                )
            raw = raw[:, [names.index(name) for name in self.names]]
        elif raw.shape[1] != self.n_features:
            raise DataError(
                f"predict_items: the features have {raw.shape[1]} columns, the fit has {self.n_features} "
                f"({list(self.names[:5])}…); give the same columns in the same order"
            )
        _check_finite(raw, ids, list(self.names), "predict_items")
        return ids, (raw - self.mean) / self.sd

    def to_dataset(self, items: pd.Index) -> xr.Dataset:
        """The ``features`` group a fit carries (and saves): values, mean and sd."""
        return xr.Dataset(
            {
                "values": (("item", "feature"), self.values),
                "mean": (("feature",), self.mean),
                "sd": (("feature",), self.sd),
            },
            coords={"item": list(map(str, items)), "feature": list(self.names)},
        )

    @classmethod
    def from_dataset(cls, dataset: xr.Dataset) -> ItemFeatures:
        """Back from `to_dataset`."""
        return cls(
            values=np.asarray(dataset["values"], dtype=float).reshape(dataset.sizes["item"], -1),
            names=tuple(str(name) for name in dataset["feature"].values),
            mean=np.asarray(dataset["mean"], dtype=float),
            sd=np.asarray(dataset["sd"], dtype=float),
        )


def no_features(n_items: int) -> ItemFeatures:
    """Zero feature columns: the classifier is its intercept alone (Dawid–Skene's prevalence)."""
    return ItemFeatures(np.zeros((n_items, 0)), (), np.zeros(0), np.ones(0))


def item_features(
    features: FeaturesLike, items: pd.Index, feature_items: Sequence[str] | None = None
) -> ItemFeatures:
    """Validate ``features`` against the fitted ``items`` and standardise them.

    Parameters
    ----------
    features : pandas.DataFrame, numpy.ndarray or scipy.sparse matrix
        One row per item: a DataFrame indexed by item id (its columns the feature names), or a
        2-D array / sparse matrix whose rows are the items ``feature_items`` names (default:
        the fitted items in their order, ``annotations.items``). Numeric values only; rows of
        items that are not fitted are left out.
    items : pandas.Index
        The fitted items (``annotations.items``).
    feature_items : sequence of str, optional
        The item id of each row of an array or sparse matrix.

    Returns
    -------
    ItemFeatures

    Raises
    ------
    DataError
        Not a table, an item with two rows, a fitted item without a row, a missing or
        infinite value, or a non-numeric column — each naming the items or columns.
    """
    ids, raw, names = _raw(features, feature_items, items, "features")
    position = ids.get_indexer(pd.Index(items).astype(str))
    missing = np.asarray(items)[position < 0]
    if len(missing):
        raise DataError(
            f"features: {len(missing)} labelled item(s) have no feature row (e.g. {list(missing[:3])}); "
            "give a row for every item of the annotations"
        )
    raw = raw[position]
    columns = list(names) if names is not None else [f"x{c}" for c in range(raw.shape[1])]
    _check_finite(raw, pd.Index(items), columns, "features")
    mean = np.zeros(raw.shape[1]) if sp.issparse(features) else raw.mean(axis=0)
    sd = raw.std(axis=0) if not sp.issparse(features) else np.sqrt((raw**2).mean(axis=0))
    sd = np.where(sd > 0, sd, 1.0)
    return ItemFeatures(values=(raw - mean) / sd, names=tuple(columns), mean=mean, sd=sd)


def _raw(
    features: FeaturesLike, row_items: Sequence[str] | None, fitted: pd.Index | None, what: str
) -> tuple[pd.Index, np.ndarray, list[str] | None]:
    """(item id per row, rows × F float64, column names or None) of a frame, array or sparse matrix."""
    if isinstance(features, pd.DataFrame):
        if row_items is not None:
            raise DataError(f"{what}: a DataFrame's items are its index; do not also give the items")
        numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])]
        other = [str(c) for c in features.columns if c not in numeric]
        if other:
            raise DataError(
                f"{what}: column(s) {other[:5]} are not numeric; encode them as numbers "
                "(e.g. one-hot) or drop them"
            )
        values = (
            features.to_numpy(dtype=float, na_value=np.nan)
            if len(features.columns)
            else np.zeros((len(features), 0))
        )
        ids = _one_row_per_item(pd.Index(features.index.astype(str)), what)
        return ids, values, [str(c) for c in features.columns]
    if sp.issparse(features):
        values = np.asarray(features.toarray(), dtype=float)
    elif isinstance(features, np.ndarray):
        if features.ndim != 2:
            raise DataError(
                f"{what}: an array of features must be 2-D (items × features), got {features.ndim}-D"
            )
        if not np.issubdtype(features.dtype, np.number) and features.dtype != bool:
            raise DataError(f"{what}: the array holds {features.dtype} values; features must be numeric")
        values = features.astype(float)
    else:
        raise DataError(
            f"{what}: give a pandas DataFrame indexed by item id, a 2-D NumPy array or a SciPy sparse "
            f"matrix, not {type(features).__name__}"
        )
    if row_items is None:
        if fitted is None:
            row_items = [str(r) for r in range(len(values))]
        elif len(values) != len(fitted):
            raise DataError(
                f"{what}: the array has {len(values)} rows and there are {len(fitted)} items; "
                "give the item of each row (feature_items=...) or a DataFrame indexed by item"
            )
        else:
            row_items = list(fitted)
    ids = pd.Index([str(item) for item in row_items])
    if len(ids) != len(values):
        raise DataError(f"{what}: {len(ids)} item ids for {len(values)} rows; give one id per row")
    return _one_row_per_item(ids, what), values, None


def _one_row_per_item(ids: pd.Index, what: str) -> pd.Index:
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise DataError(
            f"{what}: {len(duplicated.unique())} item(s) have more than one row (e.g. "
            f"{list(duplicated.unique()[:3])}); give one row per item"
        )
    return ids


def _check_finite(values: np.ndarray, items: pd.Index, columns: list[str], what: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        rows, cols = np.nonzero(bad)
        named = list(dict.fromkeys(str(items[r]) for r in rows))[:3]
        raise DataError(
            f"{what}: {int(bad.any(axis=1).sum())} item(s) have missing or infinite values (e.g. item "
            f"{str(items[rows[0]])!r} in column {columns[cols[0]]!r}; items {named}); "
            "fill or impute them first"
        )
