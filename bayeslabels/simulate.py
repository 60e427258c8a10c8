"""Generative simulators with known truth, seeded with ``np.random.default_rng``.

`dawid_skene` draws a label table from the Dawid–Skene model: true classes from the
prevalence, each annotator's labels from its confusion matrix, a variable number of
labels per item, some spammers (labels independent of the truth), optional subtypes and
a revealed gold subset. It returns the `Annotations` and the truth that made them.

`from_family` simulates any registered family whose truth it can draw (`FAMILY_PARAMETERS`)
with that family's own forward code (`Family.replicated_labels`, the random draw of the
graph's observed ``labels``), so the simulator and the model cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .data import Annotations
from .models._likelihood import observed_cells


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


# --------------------------------------------------------------------------- any family


@dataclass(frozen=True)
class SimulatedFamily:
    """Labels simulated from a model family, and the truth behind them.

    Attributes
    ----------
    annotations : Annotations
        The simulated labels.
    parameters : dict of str to numpy.ndarray
        The true parameters by posterior variable name, coded like ``annotations``
        (annotator, subtype axes in its code order).
    true_class : numpy.ndarray or None
        Int class code per item; None for a family without a latent class (beta-bernoulli).
    family : str
        The family simulated.
    features : pandas.DataFrame or None
        For ``learning-from-crowds``: the item features (indexed by item id, columns ``x0``, …).

    Examples
    --------
    >>> import bayeslabels as bl
    >>> sim = bl.simulate.from_family("mace", n_items=100, n_annotators=8, seed=0)
    >>> sorted(sim.parameters), sim.true_class.shape
    (['confusion', 'prevalence', 'reliability', 'spam'], (100,))
    """

    annotations: Annotations
    parameters: dict[str, np.ndarray]
    true_class: np.ndarray | None
    family: str
    features: pd.DataFrame | None = None


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _zero_sum(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    for axis in axes:
        x = x - x.mean(axis=axis, keepdims=True)
    return x


# Each family: (free parameters, defaults drawer, derivation of the rest). The drawer gets
# (rng, items I, annotators J, classes K, subtypes S) and returns every free parameter; the
# derivation adds the deterministic ones (e.g. ``confusion``) from the free ones.
_Draw = Callable[[np.random.Generator, int, int, int, int], dict[str, np.ndarray]]
_Derive = Callable[[dict[str, np.ndarray], Annotations], dict[str, np.ndarray]]


def _prevalence(rng: np.random.Generator, k: int) -> np.ndarray:
    return rng.dirichlet(np.full(k, 5.0))


def _one_coin_confusion(accuracy: np.ndarray, k: int) -> np.ndarray:
    eye = np.eye(k)
    return accuracy[:, None, None] * eye + ((1 - accuracy) / (k - 1))[:, None, None] * (1 - eye)


def _mace_confusion(reliability: np.ndarray, spam: np.ndarray) -> np.ndarray:
    k = spam.shape[-1]
    return reliability[:, None, None] * np.eye(k) + (1 - reliability)[:, None, None] * spam[:, None, :]


def _ordinal_defaults(rng: np.random.Generator, j: int, k: int) -> dict[str, np.ndarray]:
    """Biases N(0, 0.4) (harsh < 0 < lenient), noise scales log-normal around 0.5, cut-points
    halfway between classes, classes equally spaced."""
    return {
        "prevalence": _prevalence(rng, k),
        "bias": rng.normal(0.0, 0.4, j),
        "noise": np.exp(rng.normal(np.log(0.5), 0.4, j)),
        "cutpoints": np.arange(k - 1) + 0.5,
        "class_position": np.arange(k, dtype=float),
        "class_noise": np.ones(k),
    }


def _ordinal(p: dict[str, np.ndarray], ann: Annotations) -> dict[str, np.ndarray]:
    from .models.ordinal import ordinal_log_confusion

    k, scale = ann.n_classes, (p["class_position"], p["class_noise"])
    confusion = np.exp(ordinal_log_confusion(p["bias"], p["noise"], p["cutpoints"], k, *scale))
    if "subtype_shift" not in p:
        return {"confusion": confusion}
    _, cell_annotator, cell_subtype = observed_cells(ann)
    bias = p["bias"][cell_annotator] + p["subtype_shift"][cell_subtype]
    cells = ordinal_log_confusion(bias, p["noise"][cell_annotator], p["cutpoints"], k, *scale)
    return {"confusion": confusion, "cell_confusion": np.exp(cells)}


def _item_class_distributions(rng: np.random.Generator, n_items: int, k: int) -> np.ndarray:
    """Half the items clear (θ_i near one-hot), half ambiguous (θ_i ~ Dirichlet(2))."""
    clear = 0.9 * np.eye(k)[rng.integers(0, k, size=n_items)] + 0.1 / k
    ambiguous = rng.dirichlet(np.full(k, 2.0), size=n_items)
    return np.where((rng.random(n_items) < 0.5)[:, None], clear, ambiguous)


def _standardised(x: np.ndarray) -> np.ndarray:
    """Columns at sample mean 0 and sd 1: what the model's standardisation leaves unchanged."""
    return (x - x.mean(axis=0)) / x.std(axis=0)


def _classifier_prior(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    class_prior = _softmax(p["features"] @ p["weights"] + p["intercept"])
    return {"class_prior": class_prior, "prevalence": class_prior.mean(axis=0)}


def _hierarchical(p: dict[str, np.ndarray], ann: Annotations) -> dict[str, np.ndarray]:
    logits = p["mu"][None] + p["annotator_offset"].transpose(1, 0, 2)
    return {"confusion": _softmax(logits), "population_confusion": _softmax(p["mu"])}


def _hierarchical_subtype(p: dict[str, np.ndarray], ann: Annotations) -> dict[str, np.ndarray]:
    _, cell_annotator, cell_subtype = observed_cells(ann)
    offsets = p["annotator_offset"].transpose(1, 0, 2)  # J, K, K
    logits = p["mu_subtype"][None] + offsets[:, None] + p["interaction"]  # J, S, K, K
    return {
        "cell_confusion": _softmax(logits[cell_annotator, cell_subtype]),
        "population_confusion": _softmax(p["mu_subtype"]),
    }


def _hierarchical_offsets(rng: np.random.Generator, j: int, k: int) -> dict[str, np.ndarray]:
    sigma = np.full(k, 0.5)
    eta = _zero_sum(rng.normal(size=(k, j, k)), (1, 2))
    return {"sigma": sigma, "annotator_offset": sigma[:, None, None] * eta}


FAMILY_PARAMETERS: dict[str, tuple[tuple[str, ...], _Draw, _Derive]] = {
    "dawid-skene": (
        ("prevalence", "confusion"),
        lambda rng, i, j, k, s: {
            "prevalence": _prevalence(rng, k),
            "confusion": _confusion_matrices(rng, j, k, (0.7, 0.95), np.zeros(j, dtype=bool)),
        },
        lambda p, ann: {},
    ),
    "one-coin": (
        ("prevalence", "accuracy"),
        lambda rng, i, j, k, s: {"prevalence": _prevalence(rng, k), "accuracy": rng.uniform(0.7, 0.95, j)},
        lambda p, ann: {"confusion": _one_coin_confusion(p["accuracy"], ann.n_classes)},
    ),
    "mace": (
        ("prevalence", "reliability", "spam"),
        lambda rng, i, j, k, s: {
            "prevalence": _prevalence(rng, k),
            "reliability": rng.uniform(0.3, 0.95, j),
            "spam": rng.dirichlet(np.full(k, 2.0), size=j),
        },
        lambda p, ann: {"confusion": _mace_confusion(p["reliability"], p["spam"])},
    ),
    "hierarchical": (
        ("prevalence", "mu", "sigma", "annotator_offset"),
        lambda rng, i, j, k, s: {
            "prevalence": _prevalence(rng, k),
            "mu": 2.5 * np.eye(k),
            **_hierarchical_offsets(rng, j, k),
        },
        _hierarchical,
    ),
    "hierarchical-subtype": (
        ("prevalence", "mu_subtype", "sigma", "annotator_offset", "interaction"),
        lambda rng, i, j, k, s: {
            "prevalence": _prevalence(rng, k),
            "mu_subtype": 2.5 * np.eye(k) + 0.5 * _zero_sum(rng.normal(size=(s, k, k)), (0, 2)),
            **_hierarchical_offsets(rng, j, k),
            "interaction": 0.3 * _zero_sum(rng.normal(size=(j, s, k, k)), (3,)),
        },
        _hierarchical_subtype,
    ),
    "ambiguity": (
        ("theta", "confusion"),
        lambda rng, i, j, k, s: {
            "theta": _item_class_distributions(rng, i, k),
            "confusion": _confusion_matrices(rng, j, k, (0.75, 0.95), np.zeros(j, dtype=bool)),
        },
        lambda p, ann: {"prevalence": p["theta"].mean(axis=0)},
    ),
    "item-difficulty": (
        ("prevalence", "confusion", "difficulty_scale", "difficulty"),
        lambda rng, i, j, k, s: {
            "prevalence": _prevalence(rng, k),
            "confusion": _confusion_matrices(rng, j, k, (0.75, 0.95), np.zeros(j, dtype=bool)),
            "difficulty_scale": np.full(k, 1.0),
            "difficulty": _zero_sum(rng.normal(size=(i, k)), (1,)),
        },
        lambda p, ann: {},
    ),
    "learning-from-crowds": (
        ("features", "weights", "intercept", "confusion"),
        lambda rng, i, j, k, s: {
            "features": _standardised(rng.normal(size=(i, 3))),
            "weights": _zero_sum(rng.normal(scale=1.0, size=(3, k)), (1,)),
            "intercept": _zero_sum(rng.normal(scale=0.3, size=k), (0,)),
            "confusion": _confusion_matrices(rng, j, k, (0.65, 0.9), np.zeros(j, dtype=bool)),
        },
        lambda p, ann: _classifier_prior(p),
    ),
    "ordinal": (
        ("prevalence", "bias", "noise", "cutpoints", "class_position", "class_noise"),
        lambda rng, i, j, k, s: _ordinal_defaults(rng, j, k),
        _ordinal,
    ),
    "ordinal-subtype": (
        ("prevalence", "bias", "noise", "cutpoints", "class_position", "class_noise", "subtype_shift"),
        lambda rng, i, j, k, s: {
            **_ordinal_defaults(rng, j, k),
            "subtype_shift": _zero_sum(rng.normal(0.0, 0.5, s), (0,)),
        },
        _ordinal,
    ),
    "beta-bernoulli": (
        ("alpha", "beta"),
        lambda rng, i, j, k, s: {"alpha": np.asarray(2.0), "beta": np.asarray(3.0)},
        lambda p, ann: {
            "mean": p["alpha"] / (p["alpha"] + p["beta"]),
            "concentration": p["alpha"] + p["beta"],
            "prevalence": np.stack([p["beta"], p["alpha"]]) / (p["alpha"] + p["beta"]),
        },
    ),
}
# which axis of a free parameter runs over annotators / subtypes (recoded like the annotations)
_ANNOTATOR_AXIS = {
    "confusion": 0,
    "accuracy": 0,
    "reliability": 0,
    "spam": 0,
    "annotator_offset": 1,
    "interaction": 0,
    "bias": 0,
    "noise": 0,
}
_SUBTYPE_AXIS = {"mu_subtype": 0, "interaction": 1, "subtype_shift": 0}


def from_family(
    name: str,
    *,
    n_items: int,
    n_annotators: int,
    n_classes: int = 2,
    labels_per_item: int | tuple[int, int] = (3, 6),
    seed: int | np.random.Generator | None = 0,
    parameters: Mapping[str, np.ndarray] | None = None,
    n_subtypes: int = 0,
) -> SimulatedFamily:
    """Simulate labels from a registered model family, by the family's own forward code.

    The design (which annotators label which item) is drawn as in `dawid_skene`: a number of
    labels per item, distinct annotators chosen at random, subtypes uniform over items. The
    labels are then `Family.replicated_labels` of the true parameters (one draw): a true class
    per item from the prevalence, each label through its annotator's confusion — the same code
    as the graph's posterior predictive.

    Default truth (any free parameter can be given instead, see ``parameters``); every family
    draws the prevalence from a symmetric Dirichlet(5):

    - ``dawid-skene``: ``confusion`` with per-class accuracy ~ U(0.7, 0.95), errors split by a
      Dirichlet(2) (no spammers);
    - ``one-coin``: ``accuracy`` ~ U(0.7, 0.95), errors uniform;
    - ``mace``: ``reliability`` θ_j ~ U(0.3, 0.95), ``spam`` ξ_j ~ Dirichlet(2);
    - ``hierarchical``: population logits ``mu`` = 2.5·I, ``sigma`` = 0.5 per class,
      ``annotator_offset`` = σ_k η_jk with η standard normal centred over annotators and labels
      (stored (true_class, annotator, label_class) like the model); ``confusion`` =
      softmax(μ_k + σ_k η_jk);
    - ``hierarchical-subtype`` (needs ``n_subtypes``): ``mu_subtype`` = 2.5·I plus 0.5 ×
      centred normal noise per subtype, the hierarchical offsets, and an annotator × subtype
      logit ``interaction`` (J, S, K, K) of sd 0.3; ``cell_confusion`` per observed cell;
    - ``learning-from-crowds``: 3 standard normal ``features`` per item (see
      `learning_from_crowds` for other sizes), zero-sum ``weights`` of sd 1 and ``intercept``
      of sd 0.3, each item's ``class_prior`` = softmax(x W + b), a Dawid–Skene ``confusion``
      (accuracy 0.65–0.9);
    - ``beta-bernoulli`` (two classes): ``alpha`` = 2, ``beta`` = 3 (no latent class);
    - ``ambiguity``: ``theta`` per item (items × K), half the items clear (0.9 on one class)
      and half ambiguous (Dirichlet(2)), and a Dawid–Skene ``confusion`` (accuracy 0.75–0.95);
      no latent class (``true_class`` None), the truth is θ;
    - ``item-difficulty``: a Dawid–Skene ``confusion`` (the annotators at zero item effect),
      ``difficulty_scale`` χ_k = 1 and ``difficulty`` θ_i standard normal, centred over labels;
    - ``ordinal`` (ordered classes): ``bias`` b_j ~ N(0, 0.4) in classes, ``noise`` σ_j =
      exp(N(log 0.5, 0.4)), ``cutpoints`` halfway between classes (l + 0.5), ``class_position``
      the true classes equally spaced (0 … K − 1), ``class_noise`` 1 for every class;
      ``confusion`` the ordered logit's;
      ``ordinal-subtype`` (needs ``n_subtypes``) adds ``subtype_shift`` δ_s ~ N(0, 0.5),
      centred, and ``cell_confusion`` per observed cell. Their annotations are ordered.

    Parameters
    ----------
    name : str
        A family in `FAMILY_PARAMETERS`: dawid-skene, one-coin, mace, hierarchical,
        hierarchical-subtype, item-difficulty, ambiguity, beta-bernoulli, ordinal,
        ordinal-subtype.
    n_items, n_annotators : int
        Size of the table.
    n_classes : int, default 2
        Classes (≥ 2; exactly 2 for beta-bernoulli).
    labels_per_item : int or (int, int), default (3, 6)
        A fixed count, or (min, max) drawn uniformly per item.
    seed : int, numpy.random.Generator or None, default 0
        Seed of ``np.random.default_rng`` (design, default truth and labels).
    parameters : mapping of str to numpy.ndarray, optional
        Free parameters to use instead of the defaults, by posterior variable name, annotators
        (and subtypes) in the order ann0, ann1, … (s0, s1, …). The deterministic ones
        (``confusion``, …) are derived from them.
    n_subtypes : int, default 0
        Subtypes assigned to items uniformly (a ``subtype`` column of the annotations).

    Returns
    -------
    SimulatedFamily

    Raises
    ------
    ValueError
        For a family without a simulator, a parameter it does not take, or sizes that do not
        fit (``labels_per_item`` above ``n_annotators``, beta-bernoulli with K ≠ 2,
        hierarchical-subtype without subtypes).

    Examples
    --------
    >>> import bayeslabels as bl
    >>> sim = bl.simulate.from_family("one-coin", n_items=300, n_annotators=10, seed=1)
    >>> sim.annotations.n_items, sim.parameters["confusion"].shape
    (300, (10, 2, 2))
    >>> em = bl.dawid_skene_em(sim.annotations)
    >>> bool((em.label == sim.true_class).mean() > 0.9)
    True
    """
    from .models import family

    if name not in FAMILY_PARAMETERS:
        raise ValueError(f"no simulator for model {name!r}: use one of {sorted(FAMILY_PARAMETERS)}")
    model = family(name)
    free, draw_defaults, derive = FAMILY_PARAMETERS[name]
    given = dict(parameters or {})
    unknown = set(given) - set(free)
    if unknown:
        raise ValueError(f"model {name!r} takes the parameters {list(free)}, not {sorted(unknown)}")
    k = n_classes
    if k < 2 or (model.binary_only and k != 2):
        raise ValueError(f"model {name!r} cannot simulate {k} classes")
    if model.per_subtype and n_subtypes < 1:
        raise ValueError(f"model {name!r} needs n_subtypes ≥ 1")
    low, high = (labels_per_item, labels_per_item) if isinstance(labels_per_item, int) else labels_per_item
    if not 1 <= low <= high <= n_annotators:
        raise ValueError("labels_per_item must lie between 1 and n_annotators")
    rng = np.random.default_rng(seed)

    # the design, coded by from_frame (items and annotators by first appearance)
    per_item = rng.integers(low, high + 1, size=n_items)
    item_idx = np.repeat(np.arange(n_items), per_item)
    annotator_idx = _distinct_annotators(rng, n_annotators, per_item)
    item_ids = np.array([f"item{i:0{len(str(n_items))}d}" for i in range(n_items)], dtype=object)
    annotator_ids = np.array(
        [f"ann{j:0{len(str(n_annotators))}d}" for j in range(n_annotators)], dtype=object
    )
    subtype_ids = np.array([f"s{t:0{len(str(n_subtypes))}d}" for t in range(n_subtypes)], dtype=object)
    class_names = [str(c) for c in range(k)]
    frame = pd.DataFrame(
        {"item": item_ids[item_idx], "annotator": annotator_ids[annotator_idx], "label": class_names[0]}
    )
    if n_subtypes:
        frame["subtype"] = subtype_ids[rng.integers(0, n_subtypes, size=n_items)[item_idx]]
    design = Annotations.from_frame(frame, classes=class_names, ordered=model.ordered_only)

    # the truth: given or default free parameters, recoded like the design, then derived ones
    truth = {**draw_defaults(rng, n_items, n_annotators, k, n_subtypes), **given}
    truth = {key: np.asarray(value, dtype=float) for key, value in truth.items()}
    annotator_order = pd.Index(annotator_ids).get_indexer(design.annotators)
    subtype_order = pd.Index(subtype_ids).get_indexer(design.subtypes)
    for key, axis in _ANNOTATOR_AXIS.items():
        if key in truth:
            truth[key] = np.take(truth[key], annotator_order, axis=axis)
    for key, axis in _SUBTYPE_AXIS.items():
        if key in truth:
            truth[key] = np.take(truth[key], subtype_order, axis=axis)
    truth.update(derive(truth, design))

    if model.replicate is not None and "prevalence" in free:
        # a family with its own forward code and a latent class: draw the class here and let
        # the family's code fix it, as it fixes gold (its replicate draws z internally)
        true_class = rng.choice(k, size=n_items, p=truth["prevalence"] / truth["prevalence"].sum())
        labels = model.replicated_labels(
            replace(design, gold=true_class), lambda variable: truth[variable][None], True, rng
        )
        classes: np.ndarray | None = true_class[None]
    else:
        labels, classes = model.replicated_labels(
            design, lambda variable: truth[variable][None], False, rng, return_classes=True
        )
    frame["label"] = np.asarray(class_names, dtype=object)[labels[0]]
    features = None
    if "features" in truth:
        columns = [f"x{c}" for c in range(truth["features"].shape[1])]
        features = pd.DataFrame(truth["features"], index=pd.Index(design.items, name="item"), columns=columns)
    return SimulatedFamily(
        annotations=Annotations.from_frame(frame, classes=class_names, ordered=model.ordered_only),
        parameters=truth,
        true_class=None if classes is None else classes[0],
        family=name,
        features=features,
    )


def learning_from_crowds(
    *,
    n_items: int,
    n_annotators: int,
    n_features: int = 3,
    n_classes: int = 2,
    labels_per_item: int | tuple[int, int] = (1, 4),
    weight_sd: float = 1.0,
    accuracy: tuple[float, float] = (0.65, 0.9),
    seed: int | None = 0,
) -> SimulatedFamily:
    """Simulate learning from crowds: features → true class → annotators' labels.

    Each item has ``n_features`` standard normal features (standardised in the sample, so the
    model's standardisation leaves them as they are), its class is drawn from
    ``softmax(x W + b)`` with zero-sum weights ``W`` (sd ``weight_sd``) and intercepts (sd
    0.3), and each label through its annotator's Dawid–Skene confusion (per-class accuracy
    uniform in ``accuracy``), by the family's own forward code (`from_family`).

    Parameters
    ----------
    n_items, n_annotators : int
        Size of the table.
    n_features : int, default 3
        Feature columns (``x0``, ``x1``, …).
    n_classes : int, default 2
        Classes.
    labels_per_item : int or (int, int), default (1, 4)
        A fixed count, or (min, max) drawn uniformly per item.
    weight_sd : float, default 1.0
        Sd of the true weights before centring over classes: the weights are a draw from the
        model's ``ZeroSumNormal(weight_sd)`` (the default prior's scale is 1).
    accuracy : (float, float), default (0.65, 0.9)
        Range of each annotator's per-class accuracy.
    seed : int or None, default 0
        Seed of ``np.random.default_rng``.

    Returns
    -------
    SimulatedFamily
        With ``features`` (a DataFrame indexed by item) and the true ``weights``,
        ``intercept``, ``confusion`` and ``class_prior`` in ``parameters``.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> sim = bl.simulate.learning_from_crowds(n_items=100, n_annotators=6, seed=0)
    >>> sim.features.shape, sim.parameters["weights"].shape, sim.parameters["class_prior"].shape
    ((100, 3), (3, 2), (100, 2))
    """
    rng = np.random.default_rng(seed)
    k = n_classes
    parameters = {
        "features": _standardised(rng.normal(size=(n_items, n_features))),
        "weights": _zero_sum(rng.normal(scale=weight_sd, size=(n_features, k)), (1,)),
        "intercept": _zero_sum(rng.normal(scale=0.3, size=k), (0,)),
        "confusion": _confusion_matrices(rng, n_annotators, k, accuracy, np.zeros(n_annotators, dtype=bool)),
    }
    return from_family(
        "learning-from-crowds",
        n_items=n_items,
        n_annotators=n_annotators,
        n_classes=k,
        labels_per_item=labels_per_item,
        seed=rng,
        parameters=parameters,
    )
