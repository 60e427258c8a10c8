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
valued on its own), at most ``max_per_annotator`` per annotator, never an annotator who
already labelled the item, never an item with gold (its class is known, whether or not the
gold went into the fit). When an annotator is at its cap the item goes to its next best
annotator: each item keeps ``per_item + ⌊budget / max_per_annotator⌋`` candidates, as many as
can ever be needed (at most that many annotators can be full at once), so the cap spreads the
labels instead of leaving the budget unspent. A plan that spends less than the budget says
why in ``plan.attrs["unspent_reason"]`` (the binding limit, with its numbers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import DataError
from .fit import Fit


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
        If ``budget`` ≤ 0, ``per_item`` or ``max_per_annotator`` < 1, the model has no
        confusion matrices, or the severity weights are invalid or name unknown items.

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
    if max_per_annotator < 1:
        raise DataError(f"route needs max_per_annotator ≥ 1, got {max_per_annotator}")
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
    # an item needs its next best annotator only past those it already has and those at their
    # cap, and at most ⌊budget / cap⌋ annotators can be at their cap: keeping that many more
    # candidates per item gives the greedy plan it would get from all of them
    keep = min(per_item + int(budget // max_per_annotator), ann.n_annotators)
    rows = []
    open_per_item = np.zeros(len(candidates), dtype=np.int64)  # annotators with a positive gain
    open_per_annotator = np.zeros(ann.n_annotators, dtype=np.int64)
    block = max(1, 4_000_000 // (ann.n_annotators * len(classes) ** 2))
    for start in range(0, len(candidates), block):
        items = candidates[start : start + block]
        gain = expected_information_gain(p[items], fit.family.item_confusion(ann, confusion, items))
        gain[labelled[items].toarray() > 0] = -np.inf
        useful = np.isfinite(gain) & (gain > 0)
        open_per_item[start : start + len(items)] = useful.sum(axis=1)
        open_per_annotator += useful.sum(axis=0)
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
    result = result.reset_index(drop=True)
    spent = float(plan["cost"].sum())
    limits = _Limits(
        budget=float(budget),
        spent=spent,
        n_items=ann.n_items,
        n_gold=int((ann.gold >= 0).sum()),
        gold_in_fit=fit.used_gold,
        n_zero_severity=int(((ann.gold < 0) & (weights == 0)).sum()),
        n_candidates=len(candidates),
        per_item=per_item,
        item_capacity=int(np.minimum(open_per_item, per_item).sum()),
        max_per_annotator=max_per_annotator,
        annotator_capacity=int(np.minimum(open_per_annotator, max_per_annotator).sum()),
        n_annotators=ann.n_annotators,
        experts=len(expert_ids),
        expert_cost=float(expert_cost),
    )
    result.attrs.update({"budget": float(budget), "spent": spent, "unspent_reason": limits.reason()})
    return result


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


@dataclass(frozen=True)
class _Limits:
    """What bounds a plan, to say why it spends less than its budget."""

    budget: float
    spent: float
    n_items: int
    n_gold: int
    gold_in_fit: bool
    n_zero_severity: int
    n_candidates: int
    per_item: int
    item_capacity: int  # crowd labels the per-item cap and the annotators not yet asked allow
    max_per_annotator: int
    annotator_capacity: int  # crowd labels the per-annotator cap allows
    n_annotators: int
    experts: int
    expert_cost: float

    def reason(self) -> str | None:
        """None when the budget is spent to within one label's cost, else why not (one line)."""
        cheapest = min(1.0, self.expert_cost) if self.experts else 1.0
        if self.budget - self.spent < cheapest - 1e-9:
            return None
        head = f"spent {self.spent:g} of the budget {self.budget:g}: "
        if self.n_candidates == 0:
            if self.n_gold == self.n_items:
                where = (
                    "anchored the fit"
                    if self.gold_in_fit
                    else "was kept out of the fit, but the classes are known"
                )
                return (
                    head
                    + f"every item has gold (all {self.n_items}; the gold {where}) and items with gold are "
                    "never routed; to plan labels for them, route a fit of the labels without their gold"
                )
            return (
                head + f"no item to route: of {self.n_items} items {self.n_gold} have gold and "
                f"{self.n_zero_severity} have severity 0"
            )
        limits = []
        if self.item_capacity < self.budget:
            limits.append(
                f"only {self.item_capacity} crowd labels are open ({self.n_candidates} items without gold, "
                f"at most per_item {self.per_item} each, from annotators who have not labelled the item "
                "and whose label would tell something new)"
            )
        if self.annotator_capacity < self.budget:
            limits.append(
                f"the per-annotator cap allows {self.annotator_capacity} ({self.n_annotators} annotators, "
                f"at most max_per_annotator {self.max_per_annotator} each on the items open to them)"
            )
        if not limits:
            limits.append("the annotators left under their cap have no open item among the candidates")
        remedy = "raise per_item or max_per_annotator" + ("" if self.experts else ", or add experts")
        return head + "; ".join(limits) + f" — {remedy}"
