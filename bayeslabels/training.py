r"""The hand-off to a training job: soft-label targets, per-item weights, and reference losses.

`to_training_frame` turns `SoftLabels` — or a `Fit`, an `EMResult`, a `VoteResult`, a
soft-label table or an exported soft-label file (`as_soft_labels`) — into one plain table
— ``item``, ``p_<class>`` (the target distribution t_i), ``label`` (the hard label) and
``weight`` — that scikit-learn, PyTorch or a Parquet reader consumes without glue.
`expand_soft_targets` / `to_sample_weighted` write the soft targets as duplicated rows with
sample weights, the form scikit-learn needs:

.. math::

    \sum_i w_i \sum_k t_{ik} \bigl(-\log q_k(x_i)\bigr)
      = \sum_{(i,k)} \underbrace{w_i t_{ik}}_{\text{sample weight}} \bigl(-\log q_k(x_i)\bigr),

so ``clf.fit(X_rep, y_rep, sample_weight=w_rep)`` minimises the soft-target cross-entropy.

`soft_target_xent` and `bootstrapped_xent` are NumPy reference implementations of the losses
(to check a deep-learning implementation against); nothing here imports a deep-learning
framework.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from .errors import DataError
from .soft_labels import SoftLabels, as_soft_labels

Weighting = Literal["agreement", "interval"] | None


# --------------------------------------------------------------------------- training frame


def target_classes(frame: pd.DataFrame) -> list[str]:
    """Class names of a soft-label or training table, in the order of its ``p_`` columns; the
    integer codes of `expand_soft_targets` and `to_sample_weighted` index this list."""
    return list(SoftLabels.from_frame(frame).classes)


def _renormalised(probs: np.ndarray) -> np.ndarray:
    """The targets with float drift removed: tiny negatives clipped, rows summed to exactly 1
    (`SoftLabels` has checked them: in [0, 1] and summing to 1 within 1e-6)."""
    probs = np.clip(probs, 0.0, None)
    return probs / probs.sum(axis=1, keepdims=True)


def _hard_label(probs: np.ndarray, given: np.ndarray | None, classes: tuple[str, ...]) -> np.ndarray:
    """argmax of the target; a tie goes to the source's own label when it is one of the tied
    classes (a majority vote's tie-break), else to the first tied class."""
    label = probs.argmax(axis=1)
    if given is None:
        return label
    code = pd.Index(classes, dtype=object).get_indexer(given)
    rows = np.flatnonzero(code >= 0)
    tied_ok = np.isclose(probs[rows, code[rows]], probs[rows].max(axis=1), rtol=0, atol=1e-12)
    label[rows[tied_ok]] = code[rows[tied_ok]]
    return label


def agreement_weight(probs: np.ndarray) -> np.ndarray:
    r"""``1 − H(p)/log K`` per row: 1 for a certain item, 0 for the uniform distribution.

    ``H(p) = −Σ_k p_k log p_k`` (with ``0 log 0 = 0``) is the entropy of the target.
    """
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(f"probs must be an items × K array with K ≥ 2, got shape {probs.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = 0.0 - np.where(probs > 0, probs * np.log(probs), 0.0).sum(axis=1)  # never -0.0
    return np.clip(1.0 - entropy / np.log(probs.shape[1]), 0.0, 1.0)


def _interval_weight(soft: SoftLabels, label: np.ndarray) -> np.ndarray:
    if soft.is_point_estimate:
        raise DataError(
            "weight='interval' needs credible intervals (p_<class>_lo / p_<class>_hi), and these soft labels "
            f"are a point estimate ({soft.meaning}) whose intervals collapse onto the estimate: use the soft "
            "labels of a posterior fit (method 'nuts' or 'advi'), or weight='agreement'"
        )
    rows = np.arange(soft.n_items)
    lo, hi = soft.lower[rows, label], soft.upper[rows, label]
    return np.clip(1.0 - (hi - lo), 0.0, 1.0)


def to_training_frame(source: Any, weight: Weighting = None, ci_prob: float = 0.9) -> pd.DataFrame:
    """Training targets, one row per item in the source's order.

    ``label`` is ``argmax_k p_k``; a tie goes to the source's own ``label`` when that is one
    of the tied classes (so a majority vote keeps its seeded tie-break), else to the first.
    Rows whose probabilities sum to 1 within 1e-6 are renormalised.

    Parameters
    ----------
    source : SoftLabels or anything `as_soft_labels` takes
        A `Fit` (its ``soft_labels(ci_prob)``), an `EMResult`, a `VoteResult` (vote shares;
        every item needs a label), a soft-label DataFrame, or the path of a file written by
        `Fit.export` / ``bayeslabels fit --out`` (Parquet, CSV or JSON Lines, by extension).
    weight : {None, "agreement", "interval"}, default None
        * ``None``: ``w_i = 1``;
        * ``"agreement"``: ``w_i = 1 − H(p_i)/log K`` with ``H(p) = −Σ_k p_k log p_k``, the
          normalised entropy's complement: 1 for a certain item, 0 for a uniform one;
        * ``"interval"``: ``w_i = 1 − (hi_i − lo_i)``, the complement of the width of the
          credible interval of the hard label's probability (``p_<label>_lo`` /
          ``p_<label>_hi``; a posterior fit's soft labels have them; point estimates — EM,
          MAP, votes — are refused).
    ci_prob : float, default 0.9
        Passed to a `Fit`'s ``soft_labels``.

    Returns
    -------
    pandas.DataFrame
        ``item``, ``p_<class>`` (the target distribution, rows summing to 1), ``label`` (the
        hard label) and ``weight`` in [0, 1].

    Raises
    ------
    DataError
        For a missing, negative or non-summing row (naming the item), or ``"interval"``
        weights of a point estimate.
    ValueError
        If ``weight`` is not one of the three.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> em = bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False))
    >>> bl.to_training_frame(em, weight="agreement").round(3).head(3)
        item  p_false  p_true label  weight
    0  11573      0.0     1.0  true     1.0
    1  11574      0.0     1.0  true     1.0
    2  11575      0.0     1.0  true     1.0
    >>> fit = bl.fit(bl.datasets.load("bluebirds"), method="nuts")  # doctest: +SKIP
    >>> bl.to_training_frame(fit, weight="interval", ci_prob=0.9)  # doctest: +SKIP
    """
    if weight not in (None, "agreement", "interval"):
        raise ValueError(f"weight must be None, 'agreement' or 'interval', not {weight!r}")
    soft = as_soft_labels(source, ci_prob=ci_prob)
    if soft.hard is not None and pd.isna(soft.hard).any():
        first = int(np.flatnonzero(pd.isna(soft.hard))[0])
        raise DataError(
            f"{int(pd.isna(soft.hard).sum())} items have no labels and so no hard label (a majority vote of "
            f"nothing; e.g. item {soft.items[first]!r}): drop them first (ann.drop_unlabelled()) or use a "
            "model fit"
        )
    probs = _renormalised(soft.mean)
    label = _hard_label(probs, soft.hard, soft.classes)
    if weight is None:
        w = np.ones(soft.n_items)
    elif weight == "agreement":
        w = agreement_weight(probs)
    else:
        w = _interval_weight(soft, label)
    out: dict[str, Any] = {"item": pd.array(soft.items, dtype="string")}
    for k, name in enumerate(soft.classes):
        out[f"p_{name}"] = probs[:, k]
    out["label"] = pd.array(np.asarray(soft.classes, dtype=object)[label], dtype="string")
    out["weight"] = w.astype(float)
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- duplicated rows


def expand_soft_targets(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (item, class), item-major, for a classifier that takes ``sample_weight``.

    Fitting a classifier on these rows with ``sample_weight`` minimises
    ``Σ_i w_i Σ_k p_ik (−log q_k(x_i))``: the soft-target cross-entropy of
    `soft_target_xent` (weighted by ``w_i``). Every class keeps its row, zero weight or not,
    so a classifier always sees all K classes (``clf.classes_`` = ``0 … K−1``).

    Parameters
    ----------
    frame : pandas.DataFrame
        A training frame (`to_training_frame`): ``item``, ``p_<class>`` and, optionally,
        ``weight``.

    Returns
    -------
    pandas.DataFrame
        ``row`` (the item's row in ``frame``), ``item``, ``class`` (name), ``code`` (index
        into `target_classes`) and ``sample_weight = w_i · p_ik``.

    Raises
    ------
    DataError
        If the frame has no ``p_`` columns or its weights are not finite and non-negative.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> em = bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False))
    >>> bl.expand_soft_targets(bl.to_training_frame(em)).round(3).head(4)
       row   item  class  code  sample_weight
    0    0  11573  false     0            0.0
    1    0  11573   true     1            1.0
    2    1  11574  false     0            0.0
    3    1  11574   true     1            1.0
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            "expand_soft_targets needs a training frame (item, p_<class> columns) from to_training_frame"
        )
    soft = SoftLabels.from_frame(frame)
    probs = _renormalised(soft.mean)
    weight = frame["weight"].to_numpy(dtype=float) if "weight" in frame.columns else np.ones(len(frame))
    if not (np.isfinite(weight).all() and (weight >= 0).all()):
        raise DataError("the 'weight' column must hold finite, non-negative numbers")
    n, k = probs.shape
    classes = np.asarray(soft.classes, dtype=object)
    return pd.DataFrame(
        {
            "row": np.repeat(np.arange(n), k),
            "item": np.repeat(soft.items, k),
            "class": np.tile(classes, n),
            "code": np.tile(np.arange(k), n),
            "sample_weight": (probs * weight[:, None]).ravel(),
        }
    )


def to_sample_weighted(frame: pd.DataFrame, X: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """``(X_rep, y_rep, w_rep)`` for ``clf.fit(X_rep, y_rep, sample_weight=w_rep)``.

    Each row is repeated K times; ``y_rep`` is the class code (index into
    `target_classes(frame)`) and ``w_rep = w_i · p_ik`` (`expand_soft_targets`).

    Parameters
    ----------
    frame : pandas.DataFrame
        A training frame (`to_training_frame`).
    X : array-like
        Features with one row per row of ``frame`` (NumPy array, SciPy sparse matrix or
        DataFrame), in the same order.

    Returns
    -------
    X_rep : array-like
        ``X`` with each row repeated K times (same type as ``X``).
    y_rep : numpy.ndarray
        Class codes.
    w_rep : numpy.ndarray
        Sample weights.

    Raises
    ------
    ValueError
        If ``X`` does not have one row per row of ``frame``.

    Examples
    --------
    >>> import numpy as np
    >>> import bayeslabels as bl
    >>> em = bl.dawid_skene_em(bl.datasets.load("bluebirds", gold=False))
    >>> frame = bl.to_training_frame(em)
    >>> X = np.random.default_rng(0).normal(size=(len(frame), 3))
    >>> X_rep, y_rep, w_rep = bl.to_sample_weighted(frame, X)
    >>> X_rep.shape, y_rep[:4], w_rep[:4].round(3)
    ((216, 3), array([0, 1, 0, 1]), array([0., 1., 0., 1.]))
    """
    n_rows = X.shape[0] if hasattr(X, "shape") else len(X)
    if n_rows != len(frame):
        raise ValueError(
            f"X has {n_rows} rows but the training frame has {len(frame)} items: align them first"
        )
    rows = expand_soft_targets(frame)
    index = rows["row"].to_numpy()
    X_rep = X.iloc[index] if isinstance(X, pd.DataFrame | pd.Series) else X[index]
    return X_rep, rows["code"].to_numpy(), rows["sample_weight"].to_numpy()


# --------------------------------------------------------------------------- losses


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """``z − max(z) − log Σ_k exp(z_k − max(z))`` row-wise (no overflow for large logits)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _check_loss_inputs(
    logits: Any, targets: Any, sample_weight: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z = np.asarray(logits, dtype=float)
    if z.ndim != 2 or z.shape[1] < 2 or z.shape[0] < 1:
        raise ValueError(f"logits must be an items × K array with K ≥ 2, got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("logits must be finite")
    t = np.asarray(targets)
    if t.ndim == 1:  # hard labels as class codes
        if not np.issubdtype(t.dtype, np.integer) or len(t) != len(z):
            raise ValueError(
                f"1-D targets must be {len(z)} integer class codes (one per row of logits), got "
                f"{t.dtype} of length {len(t)}"
            )
        if ((t < 0) | (t >= z.shape[1])).any():
            raise DataError(f"class codes must lie in 0..{z.shape[1] - 1}")
        t = np.eye(z.shape[1])[t]
    else:
        t = t.astype(float)
        if t.shape != z.shape:
            raise ValueError(
                f"targets must have the logits' shape {z.shape} (or be class codes), got {t.shape}"
            )
        bad = ~np.isfinite(t).all(axis=1) | (t < 0).any(axis=1) | ~np.isclose(t.sum(axis=1), 1.0, atol=1e-6)
        if bad.any():
            raise DataError(
                f"{int(bad.sum())} target rows (e.g. row {int(np.flatnonzero(bad)[0])}) are not probability "
                "distributions (non-negative, summing to 1)"
            )
    if sample_weight is None:
        w = np.ones(len(z))
    else:
        w = np.asarray(sample_weight, dtype=float)
        if w.shape != (len(z),):
            raise ValueError(f"sample_weight must have one value per item ({len(z)},), got shape {w.shape}")
        if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
            raise DataError("sample_weight must be finite and non-negative, with a positive sum")
    return z, t, w


def soft_target_xent(logits: Any, targets: Any, sample_weight: Any = None) -> float:
    r"""Soft-target cross-entropy, averaged over items.

    .. math::

        L = \frac{\sum_i w_i \ell_i}{\sum_i w_i},\qquad
        \ell_i = -\sum_k t_{ik} \log \operatorname{softmax}(z_i)_k,

    with ``log softmax(z)_k = z_k − m − log Σ_j exp(z_j − m)``, ``m = max_j z_j`` (stable for
    any finite logits). With one-hot targets ``L`` is the ordinary cross-entropy,
    scikit-learn's ``log_loss`` of ``softmax(z)``.

    Parameters
    ----------
    logits : array-like
        Items × K.
    targets : array-like
        Items × K distributions, or 1-D class codes (one-hot).
    sample_weight : array-like, optional
        ``w_i`` (default 1; the weighted mean is scikit-learn's convention).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the shapes do not match or the logits are not finite, items × K (K ≥ 2).
    DataError
        If class codes are out of range or the weights are negative or sum to 0.

    Examples
    --------
    >>> import numpy as np
    >>> import bayeslabels as bl
    >>> logits = np.array([[2.0, 0.0], [0.0, 1.0]])
    >>> round(bl.soft_target_xent(logits, np.array([[0.9, 0.1], [0.3, 0.7]])), 4)
    0.4701
    >>> round(bl.soft_target_xent(logits, np.array([0, 1])), 4)  # hard labels
    0.2201
    """
    z, t, w = _check_loss_inputs(logits, targets, sample_weight)
    per_item = -(t * _log_softmax(z)).sum(axis=1)
    return float(np.average(per_item, weights=w))


def bootstrapped_xent(
    logits: Any,
    targets: Any,
    beta: float = 0.95,
    mode: Literal["soft", "hard"] = "soft",
    sample_weight: Any = None,
) -> float:
    r"""Bootstrapped cross-entropy of Reed et al. (2014).

    "Training deep neural networks on noisy labels with bootstrapping": the target mixes
    the given label with the model's own prediction ``q = softmax(z)``,

    .. math::

        \text{soft:}\quad \ell_i = -\sum_k \bigl(\beta t_{ik} + (1-\beta) q_{ik}\bigr) \log q_{ik},
        \qquad
        \text{hard:}\quad \ell_i = -\sum_k \bigl(\beta t_{ik} + (1-\beta)\,
        \mathbb 1[k = \arg\max_j q_{ij}]\bigr) \log q_{ik},

    averaged as in `soft_target_xent` (weighted mean over items). ``beta = 1`` is
    `soft_target_xent`. This is the loss value; a training framework usually stops the
    gradient through the ``q`` in the target, which changes the gradient but not the value.

    Parameters
    ----------
    logits : array-like
        Items × K.
    targets : array-like
        Items × K distributions, or 1-D class codes.
    beta : float, default 0.95
        Weight of the given targets.
    mode : {"soft", "hard"}, default "soft"
        Mix in the model's probabilities, or its one-hot prediction.
    sample_weight : array-like, optional
        ``w_i`` (default 1).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the shapes, ``beta`` or ``mode`` are invalid.

    Examples
    --------
    >>> import numpy as np
    >>> import bayeslabels as bl
    >>> logits = np.array([[2.0, 0.0], [0.0, 1.0]])
    >>> targets = np.array([[0.9, 0.1], [0.3, 0.7]])
    >>> round(bl.bootstrapped_xent(logits, targets, beta=0.8), 4)
    0.4708
    >>> round(bl.bootstrapped_xent(logits, targets, beta=0.8, mode="hard"), 4)
    0.4201
    >>> bl.bootstrapped_xent(logits, targets, beta=1.0) == bl.soft_target_xent(logits, targets)
    True
    """
    if isinstance(beta, bool) or not isinstance(beta, int | float) or not 0 <= beta <= 1:
        raise ValueError(f"beta must be a number in [0, 1], got {beta!r}")
    if mode not in ("soft", "hard"):
        raise ValueError(f"mode must be 'soft' or 'hard', not {mode!r}")
    z, t, w = _check_loss_inputs(logits, targets, sample_weight)
    log_q = _log_softmax(z)
    q = np.exp(log_q)
    own = q if mode == "soft" else np.eye(z.shape[1])[q.argmax(axis=1)]
    per_item = -((beta * t + (1 - beta) * own) * log_q).sum(axis=1)
    return float(np.average(per_item, weights=w))
