"""Generative simulators with known truth, seeded with ``np.random.default_rng``.

`dawid_skene` draws a label table from the Dawid–Skene model: true classes from the
prevalence, each annotator's labels from its confusion matrix, a variable number of
labels per item, some spammers (labels independent of the truth), optional subtypes and
a revealed gold subset. It returns the `Annotations` and the truth that made them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import Annotations


@dataclass(frozen=True)
class SimulatedData:
    """Simulated annotations and the truth behind them (codes as in ``annotations``).

    Attributes
    ----------
    annotations : Annotations
        The simulated labels (and gold, if asked for).
    true_class : numpy.ndarray
        Int class code per item.
    prevalence : numpy.ndarray
        Class prevalence, K.
    confusion : numpy.ndarray
        Annotators × K × K confusion matrices (row = true class).
    is_spammer : numpy.ndarray
        Bool per annotator.
    subtype_confusion : numpy.ndarray or None
        Annotators × subtypes × K × K, with subtypes.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> sim = bl.simulate.dawid_skene(n_items=200, n_annotators=10, seed=0)
    >>> sim.confusion.shape, int(sim.is_spammer.sum())
    ((10, 2, 2), 1)
    """

    annotations: Annotations
    true_class: np.ndarray  # per item, int code
    prevalence: np.ndarray  # K
    confusion: np.ndarray  # annotators × K × K (row = true class)
    is_spammer: np.ndarray  # per annotator
    subtype_confusion: np.ndarray | None = None  # annotators × subtypes × K × K (with subtypes)

    def truth_frame(self) -> pd.DataFrame:
        """The true class of each item, by name.

        Returns
        -------
        pandas.DataFrame
            Columns ``item`` and ``true_class``.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> bl.simulate.dawid_skene(n_items=200, n_annotators=10, seed=0).truth_frame().head(2)
              item true_class
        0  item000          1
        1  item001          0
        """
        ann = self.annotations
        return pd.DataFrame(
            {"item": ann.items.to_numpy(), "true_class": np.asarray(ann.classes)[self.true_class]}
        )


def _confusion_matrices(
    rng: np.random.Generator, n_annotators: int, k: int, accuracy: tuple[float, float], spam: np.ndarray
) -> np.ndarray:
    """Per annotator: diagonal accuracy ~ U(accuracy) per class, errors split by a Dirichlet;
    spammers answer from one class distribution whatever the truth."""
    diag = rng.uniform(*accuracy, size=(n_annotators, k))
    errors = rng.dirichlet(np.full(k - 1, 2.0), size=(n_annotators, k))
    confusion = np.empty((n_annotators, k, k))
    for true in range(k):  # loop over K classes only: builds the truth, not a model graph
        others = [c for c in range(k) if c != true]
        confusion[:, true, true] = diag[:, true]
        confusion[:, true, others] = (1 - diag[:, true])[:, None] * errors[:, true]
    spam_rows = rng.dirichlet(np.ones(k), size=n_annotators)
    confusion[spam] = spam_rows[spam][:, None, :]
    return confusion


def _distinct_annotators(rng: np.random.Generator, n_annotators: int, per_item: np.ndarray) -> np.ndarray:
    """Each item's ``per_item`` distinct annotators, item after item (row-major).

    Up to 50M item × annotator keys: rank random keys per item and keep the first ones (exact,
    one draw). Beyond (e.g. 2M items × 10k annotators): draw with replacement and redraw the
    items that got an annotator twice until none does — same distribution, bounded memory."""
    n_items, width = len(per_item), int(per_item.max(initial=0))
    if n_items * n_annotators <= 50_000_000:
        order = np.argsort(rng.random((n_items, n_annotators)), axis=1)
        return order[np.arange(n_annotators)[None, :] < per_item[:, None]]
    used = np.arange(width)[None, :] < per_item[:, None]
    picks = rng.integers(0, n_annotators, size=(n_items, width))
    while True:  # each round redraws only the rows with a repeat (≈ width² / 2J of them)
        ranked = np.sort(np.where(used, picks, -1 - np.arange(width)[None, :]), axis=1)
        repeated = (np.diff(ranked, axis=1) == 0).any(axis=1)
        if not repeated.any():
            return picks[used]
        picks[repeated] = rng.integers(0, n_annotators, size=(int(repeated.sum()), width))


def dawid_skene(
    n_items: int = 500,
    n_annotators: int = 20,
    n_classes: int = 2,
    labels_per_item: int | tuple[int, int] = (3, 6),
    prevalence: np.ndarray | None = None,
    accuracy: tuple[float, float] = (0.65, 0.95),
    spammer_fraction: float = 0.1,
    n_subtypes: int = 0,
    subtype_shift: Sequence[float] | None = None,
    gold_fraction: float = 0.0,
    one_coin: bool = False,
    seed: int | np.random.Generator | None = 0,
) -> SimulatedData:
    """Simulate Dawid–Skene labels with known truth.

    Parameters
    ----------
    n_items, n_annotators, n_classes : int, default 500, 20, 2
        Size of the table (n_classes ≥ 2).
    labels_per_item : int or (int, int), default (3, 6)
        A fixed count, or (min, max) drawn uniformly per item; each item's annotators are
        distinct and chosen at random.
    prevalence : numpy.ndarray, optional
        Class prevalence (default: drawn from a symmetric Dirichlet(5)).
    accuracy : (float, float), default (0.65, 0.95)
        Range of each annotator's per-class accuracy (uniform); errors are split by a
        Dirichlet.
    spammer_fraction : float, default 0.1
        Share of annotators whose labels are independent of the truth.
    n_subtypes : int, default 0
        Subtypes, assigned to items uniformly.
    subtype_shift : sequence of float, optional
        One number per subtype, added to every annotator's logit of the correct label in
        that subtype, so reliability differs by subtype (``subtype_confusion`` holds the
        truth).
    gold_fraction : float, default 0.0
        Share of items that get their true class as gold.
    one_coin : bool, default False
        Every error is uniform over the wrong classes (π_jkl = (1 − a_j)/(K − 1)).
    seed : int, numpy.random.Generator or None, default 0
        Seed of ``np.random.default_rng``.

    Returns
    -------
    SimulatedData

    Raises
    ------
    ValueError
        If ``n_classes`` < 2 or ``labels_per_item`` is not between 1 and ``n_annotators``.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> sim = bl.simulate.dawid_skene(n_items=200, n_annotators=10, seed=0)
    >>> sim.annotations
    Annotations(898 labels, 200 items, 10 annotators, classes=['0', '1'], gold for 0 items)
    >>> em = bl.dawid_skene_em(sim.annotations)
    >>> float((em.label == sim.true_class).mean())
    0.955
    """
    rng = np.random.default_rng(seed)
    k = n_classes
    if k < 2:
        raise ValueError("n_classes must be at least 2")
    low, high = (labels_per_item, labels_per_item) if isinstance(labels_per_item, int) else labels_per_item
    if not 1 <= low <= high <= n_annotators:
        raise ValueError("labels_per_item must lie between 1 and n_annotators")
    prevalence = rng.dirichlet(np.full(k, 5.0)) if prevalence is None else np.asarray(prevalence, dtype=float)
    n_spam = int(round(spammer_fraction * n_annotators))
    is_spammer = np.zeros(n_annotators, dtype=bool)
    is_spammer[rng.choice(n_annotators, n_spam, replace=False)] = True
    confusion = _confusion_matrices(rng, n_annotators, k, accuracy, is_spammer)
    if one_coin:
        acc = confusion[:, np.arange(k), np.arange(k)].mean(axis=1)
        confusion = np.broadcast_to(((1 - acc) / (k - 1))[:, None, None], (n_annotators, k, k)).copy()
        confusion[:, np.arange(k), np.arange(k)] = acc[:, None]

    subtype_of_item = rng.integers(0, max(n_subtypes, 1), size=n_items)
    shift = np.zeros(max(n_subtypes, 1)) if subtype_shift is None else np.asarray(subtype_shift, dtype=float)
    if n_subtypes and len(shift) != n_subtypes:
        raise ValueError("subtype_shift needs one value per subtype")
    logits = np.log(np.clip(confusion, 1e-12, None))[:, None] + shift[None, :, None, None] * np.eye(k)
    cell_confusion = np.exp(logits - logits.max(axis=-1, keepdims=True))
    cell_confusion /= cell_confusion.sum(axis=-1, keepdims=True)
    true_class = rng.choice(k, size=n_items, p=prevalence)
    per_item = rng.integers(low, high + 1, size=n_items)
    item_idx = np.repeat(np.arange(n_items), per_item)
    annotator_idx = _distinct_annotators(rng, n_annotators, per_item)
    probs = cell_confusion[annotator_idx, subtype_of_item[item_idx], true_class[item_idx]]
    cumulative = probs.cumsum(axis=1)
    label = (rng.random(len(item_idx))[:, None] > cumulative).sum(axis=1).clip(max=k - 1)

    width = len(str(n_items))
    item_ids = np.array([f"item{i:0{width}d}" for i in range(n_items)], dtype=object)
    annotator_ids = np.array(
        [f"ann{j:0{len(str(n_annotators))}d}" for j in range(n_annotators)], dtype=object
    )
    class_names = [str(c) for c in range(k)]
    frame = pd.DataFrame(
        {"item": item_ids[item_idx], "annotator": annotator_ids[annotator_idx], "label": label.astype(str)}
    )
    subtype_names = np.array([f"s{s:0{len(str(n_subtypes))}d}" for s in range(n_subtypes)], dtype=object)
    if n_subtypes:
        frame["subtype"] = subtype_names[subtype_of_item[item_idx]]
    gold = None
    if gold_fraction > 0:
        chosen = rng.random(n_items) < gold_fraction
        gold = pd.Series(np.asarray(class_names, dtype=object)[true_class[chosen]], index=item_ids[chosen])
    ann = Annotations.from_frame(frame, classes=class_names, gold=gold)
    # Item / annotator codes follow first appearance; map the truth onto those codes.
    item_order = pd.Index(item_ids).get_indexer(ann.items)
    annotator_order = pd.Index(annotator_ids).get_indexer(ann.annotators)
    return SimulatedData(
        annotations=ann,
        true_class=true_class[item_order],
        prevalence=prevalence,
        confusion=confusion[annotator_order],
        is_spammer=is_spammer[annotator_order],
        subtype_confusion=(
            cell_confusion[annotator_order][:, pd.Index(subtype_names).get_indexer(ann.subtypes)]
            if n_subtypes
            else None
        ),
    )
