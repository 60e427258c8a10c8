r"""Which items to send for more labels, and to whom, under a budget.

For item i with soft label ``p_i`` and annotator j with posterior-mean confusion ``π_j``
(on the item's subtype for per-subtype fits), one more label y from j is expected to
leave the entropy

.. math::

    \mathbb{E}_y\,H\big(p(z \mid y)\big) = \sum_y q_{ijy}\,H\!\left(\frac{p_{ik}\,\pi_{jky}}{q_{ijy}}\right),
    \qquad q_{ijy} = \sum_k p_{ik}\,\pi_{jky},

so the expected information gain is ``H(p_i) − E_y H(p(z | y))`` (nats). An expert is
taken as always right: it removes all of ``H(p_i)`` at ``expert_cost`` labels' worth.
Each candidate label is valued ``gain × severity / cost`` and the budget is spent
greedily on the most valuable ones — at most ``per_item`` crowd labels per item (each
valued on its own), never an annotator who already labelled the item, never an item
with gold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import DataError
from .fit import Fit

_SPARE = 10  # candidates kept per item beyond per_item, for when annotators are at capacity


def _entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(axis=axis)


def expected_information_gain(p: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """EIG of one label: p (items, K) class posteriors; confusion (items, annotators, K, K)
    or (annotators, K, K). Returns (items, annotators)."""
    if confusion.ndim == 3:
        confusion = confusion[None]
    joint = p[:, None, :, None] * confusion  # item, annotator, true k, label y
    predictive = joint.sum(axis=2)  # item, annotator, y
    with np.errstate(invalid="ignore", divide="ignore"):
        after = joint / predictive[:, :, None, :]
    remaining = (predictive * _entropy(np.nan_to_num(after), axis=2)).sum(axis=-1)
    return _entropy(p)[:, None] - remaining


def _severity(severity: pd.Series | Mapping | None, items: pd.Index) -> np.ndarray:
    if severity is None:
        return np.ones(len(items))
    series = pd.Series(severity) if isinstance(severity, Mapping) else severity
    if not isinstance(series, pd.Series):
        raise DataError("severity must be a pandas Series or a dict item → weight")
    series.index = series.index.map(str)
    unknown = series.index.difference(items)
    if len(unknown):
        raise DataError(f"severity given for {len(unknown)} unknown item(s), e.g. {list(unknown[:3])}")
    values = series.reindex(items).fillna(1.0).to_numpy(dtype=float)
    if (values < 0).any() or not np.isfinite(values).all():
        raise DataError("severity weights must be finite and ≥ 0")
    return values


def route(
    fit: Fit,
    budget: float,
    per_item: int = 1,
    experts: Sequence[str] | None = None,
    expert_cost: float = 5.0,
    severity: pd.Series | Mapping | None = None,
    max_per_annotator: int | None = None,
    ci_prob: float = 0.9,
) -> pd.DataFrame:
    """A labelling plan: one row per requested label, most valuable first.

    Candidates are the items without gold, each with the annotators who have not labelled
    it yet (and the ``experts``); a label's value is its expected information gain about the
    item's class × the item's severity / its cost.

    Parameters
    ----------
    fit : Fit
        A fit with annotator confusion matrices.
    budget : float
        Total cost to spend (a crowd label costs 1), > 0.
    per_item : int, default 1
        Most labels to request per item, ≥ 1.
    experts : sequence of str, optional
        Expert ids who can also be asked.
    expert_cost : float, default 5.0
        Cost of an expert label.
    severity : pandas.Series or mapping, optional
        Item → weight ≥ 0 (default 1); 0 leaves the item out.
    max_per_annotator : int, optional
        Most labels asked of one annotator (default ``ceil(2 · budget / annotators)``).
    ci_prob : float, default 0.9
        Probability of the soft labels' intervals (``interval_width``).

    Returns
    -------
    pandas.DataFrame
        Columns: ``item``, ``subtype``, ``assign_to`` (annotator id, or an expert id),
        ``kind`` ("crowd" / "expert"), ``expected_information_gain`` (nats), ``cost``,
        ``value`` (gain × severity / cost), the item's ``entropy``, ``interval_width``
        (widest credible interval of its soft label), ``disagreement`` (1 − top vote share),
        ``severity``, and ``reason``: which of those ranks the item highest among the
        candidates.

    Raises
    ------
    DataError
        If ``budget`` ≤ 0 or ``per_item`` < 1, the model has no confusion matrices, or the
        severity weights are invalid or name unknown items.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> fit = bl.fit(bl.datasets.load("rte", gold=False), method="em")
    >>> plan = bl.route(fit, budget=10)
    >>> len(plan), float(plan["cost"].sum())
    (10, 10.0)
    >>> plan[["item", "assign_to", "kind", "reason"]].head(3)
       item       assign_to   kind   reason
    0  1252   AMO4BPP31P1QA  crowd  entropy
    1  1276  A2CGA60V75C34Q  crowd  entropy
    2  1553  A3HR7E5S52PME5  crowd  entropy
    """
    if budget <= 0 or per_item < 1:
        raise DataError("route needs budget > 0 and per_item ≥ 1")
    if max_per_annotator is None:
        max_per_annotator = max(1, int(np.ceil(2 * budget / fit.annotations.n_annotators)))
    try:
        confusion = fit.draws("confusion").mean(axis=0)  # annotators, [subtypes,] K, K
    except DataError:
        raise DataError(
            f"route needs annotator confusion matrices; model {fit.spec.model!r} has none"
        ) from None
    ann = fit.annotations
    soft = fit.soft_labels(ci_prob=ci_prob)
    classes = list(ann.classes)
    p = soft.mean
    width = (soft.upper - soft.lower).max(axis=1)
    votes = ann.label_counts()
    with np.errstate(invalid="ignore"):
        disagreement = 1 - votes.max(axis=1) / np.maximum(votes.sum(axis=1), 1)
    weights = _severity(severity, ann.items)
    candidates = np.flatnonzero((ann.gold < 0) & (weights > 0))

    labelled = sp.csr_matrix(
        (np.ones(ann.n_labels), (ann.item_idx, ann.annotator_idx)), shape=(ann.n_items, ann.n_annotators)
    )
    keep = min(per_item + _SPARE, ann.n_annotators)
    rows = []
    block = max(1, 4_000_000 // (ann.n_annotators * len(classes) ** 2))
    for start in range(0, len(candidates), block):
        items = candidates[start : start + block]
        gain = expected_information_gain(p[items], fit.family.item_confusion(ann, confusion, items))
        gain[labelled[items].toarray() > 0] = -np.inf
        best = np.argsort(-gain, axis=1)[:, :keep]
        best_gain = np.take_along_axis(gain, best, axis=1)
        for rank in range(keep):
            ok = np.isfinite(best_gain[:, rank]) & (best_gain[:, rank] > 0)
            rows.append(
                pd.DataFrame(
                    {
                        "item_code": items[ok],
                        "annotator_code": best[ok, rank],
                        "rank": rank,
                        "gain": best_gain[ok, rank],
                        "cost": 1.0,
                    }
                )
            )
    crowd = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(
            {
                "item_code": np.array([], dtype=np.int64),
                "annotator_code": np.array([], dtype=np.int64),
                "rank": np.array([], dtype=np.int64),
                "gain": np.array([], dtype=float),
                "cost": np.array([], dtype=float),
            }
        )
    )
    crowd["kind"] = "crowd"
    options = [crowd]
    if experts:
        options.append(
            pd.DataFrame(
                {
                    "item_code": candidates,
                    "annotator_code": -1,
                    "rank": 0,
                    "gain": _entropy(p[candidates]),
                    "cost": float(expert_cost),
                    "kind": "expert",
                }
            )
        )
    table = pd.concat(options, ignore_index=True)
    table["value"] = table["gain"] * weights[table["item_code"].to_numpy()] / table["cost"]
    plan = _greedy(
        table.sort_values("value", ascending=False, kind="stable"), budget, per_item, max_per_annotator
    )

    codes = plan["item_code"].to_numpy(dtype=np.int64)
    annotators = np.asarray(ann.annotators, dtype=object)
    expert_ids = list(experts or [])
    is_expert = (plan["kind"] == "expert").to_numpy()
    # numpy's stubs take where(c, None, x) for the one-argument form (a tuple of indices)
    assign: np.ndarray = np.where(  # type: ignore[assignment]
        is_expert, None, annotators[np.maximum(plan["annotator_code"].to_numpy(dtype=np.int64), 0)]
    )
    assign[is_expert] = [expert_ids[i % len(expert_ids)] for i in range(int(is_expert.sum()))]
    signals = {
        "entropy": soft.entropy,
        "interval width": width,
        "disagreement": disagreement,
        "severity": weights,
    }
    ranks = {
        name: pd.Series(values[candidates]).rank(pct=True).to_numpy() for name, values in signals.items()
    }
    if severity is None:
        ranks.pop("severity")
    position = pd.Index(candidates).get_indexer(codes)
    names = list(ranks)
    reason = np.asarray(names, dtype=object)[np.argmax(np.stack([ranks[n][position] for n in names]), axis=0)]
    result = pd.DataFrame(
        {
            "item": np.asarray(ann.items, dtype=object)[codes],
            "assign_to": assign,
            "kind": plan["kind"].to_numpy(),
            "expected_information_gain": plan["gain"].to_numpy(),
            "cost": plan["cost"].to_numpy(),
            "value": plan["value"].to_numpy(),
            "entropy": signals["entropy"][codes],
            "interval_width": width[codes],
            "disagreement": disagreement[codes],
            "severity": weights[codes],
            "reason": reason if len(codes) else np.array([], dtype=object),
        }
    )
    if ann.has_subtypes:
        result.insert(1, "subtype", np.asarray(ann.subtypes, dtype=object)[np.maximum(ann.subtype[codes], 0)])
    return result.reset_index(drop=True)


def _greedy(table: pd.DataFrame, budget: float, per_item: int, max_per_annotator: int | None) -> pd.DataFrame:
    """Take options in value order while the budget lasts: an item gets an expert or up to
    ``per_item`` crowd labels; an annotator gets at most ``max_per_annotator`` labels."""
    spent = 0.0
    crowd_per_item: dict[int, int] = {}
    expert_items: set[int] = set()
    load: dict[int, int] = {}
    chosen = []
    for row in table.itertuples(index=False):  # over candidate options, in value order
        if spent + row.cost > budget + 1e-9:
            continue
        item = int(row.item_code)
        if item in expert_items:
            continue
        if row.kind == "expert":
            if crowd_per_item.get(item):
                continue
            expert_items.add(item)
        else:
            annotator = int(row.annotator_code)
            if crowd_per_item.get(item, 0) >= per_item:
                continue
            if max_per_annotator is not None and load.get(annotator, 0) >= max_per_annotator:
                continue
            crowd_per_item[item] = crowd_per_item.get(item, 0) + 1
            load[annotator] = load.get(annotator, 0) + 1
        spent += row.cost
        chosen.append(row)
        if spent >= budget - 1e-9:
            break
    return pd.DataFrame(chosen, columns=table.columns)
