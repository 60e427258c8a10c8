"""Beyond one machine: independent fits over a Dask cluster, and EM over a partitioned table.

Fan-out of independent fits
---------------------------
`fit_many` runs independent `bayeslabels.fit` calls — one per subtype, fold or bootstrap
replicate — serially in this process (``client=None``) or on a ``dask.distributed``
cluster (a ``Client``, or a scheduler address such as ``"tcp://host:8786"``), and returns
the `Fit` of each task by name. The builders make the ``tasks`` mapping:

* `tasks_by_subtype`: one `Annotations` per subtype (every item in exactly one task);
* `fold_tasks`: the training side of each fold of a K-fold split by item (`kfold_splits`),
  or of any `Split`\\ s given (e.g. from `bayeslabels.split`);
* `bootstrap_tasks`: items resampled with replacement; the c-th copy (c = 0, 1, …) of item
  ``x`` in a replicate is the item ``"x#c"`` (every copy renamed, the first too, so names
  stay unique; `bootstrap_origin` maps them back), with all of ``x``'s labels and its gold.

Seeds. A task's ``seed`` is always explicit: its own ``seed`` keyword if its kwargs give one,
otherwise `task_seed(seed, name)` — a function of the base ``seed`` (default 0) and the
task's *name* only (SHA-256 of ``str(name)`` mixed into ``np.random.SeedSequence``), never of
the order of the tasks, the process it runs in or any global random state. So a task gives
the same result serially, on any cluster, alone or among others; ``bl.fit(ann,
seed=task_seed(0, name), ...)`` reproduces it. Bootstrap replicate r is drawn from
``np.random.SeedSequence(seed, spawn_key=(r,))`` (= ``SeedSequence(seed).spawn(n)[r]``), so it
does not depend on ``n``.

EM over a partitioned label table
---------------------------------
`dawid_skene_em_dask` runs the iterations of `bayeslabels.dawid_skene_em` over a Dask
DataFrame (columns item, annotator, label; gold as a column or a mapping) that need not fit
one machine. A first pass collects the code books (annotators, classes: small); the table
is then integer-coded, shuffled so that each item's labels sit in one partition, turned into
one sparse count matrix per partition and persisted once. Each iteration maps over the
partitions — E-step of that partition's items from the broadcast confusion and prevalence,
returning only the M-step's sufficient statistics (``Cᵀq``: annotators·K × K, ``Σ_i q_i``:
K) and the log-evidence — and sums them in a tree; the M-step, the smoothing, the objective
and the stopping rule are `dawid_skene_em`'s own code (`aggregate._em_loop`), so on data that
fits in memory both agree to rounding (≤ 1e-8). Per-item posteriors come back as a lazy Dask
DataFrame, never gathered on the client.

Dask is imported only when one of these functions runs (``pip install bayeslabels[dask]``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Hashable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .aggregate import EMResult, _check_variant, _e_step, _em_loop, _initial_posterior, _m_statistics
from .data import (
    _MAX_LISTED,
    Annotations,
    _canonical_class,
    _gold_table,
    _id_strings,
    _is_missing,
    _map_distinct,
    _rows_text,
    _sort_classes,
)
from .errors import DataError
from .models._likelihood import annotation_counts, gold_log_mask
from .spec import DawidSkenePriors
from .splits import Split

if TYPE_CHECKING:
    from .fit import Fit

__all__ = [
    "DaskEMResult",
    "bootstrap_origin",
    "bootstrap_replicate",
    "bootstrap_tasks",
    "dawid_skene_em_dask",
    "fit_many",
    "fold_tasks",
    "kfold_splits",
    "task_seed",
    "tasks_by_subtype",
]


# =========================================================================== fan-out


def task_seed(base_seed: int, name: Hashable) -> int:
    """The seed `fit_many` gives a task that brings none: a function of ``base_seed`` and
    ``str(name)`` only (SHA-256 of the name mixed into ``np.random.SeedSequence``), in [0, 2³²)."""
    if isinstance(base_seed, bool) or not isinstance(base_seed, int | np.integer) or base_seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {base_seed!r}")
    words = np.frombuffer(hashlib.sha256(str(name).encode()).digest()[:16], dtype="<u4")
    return int(np.random.SeedSequence([int(base_seed), *map(int, words)]).generate_state(1)[0])


def _jobs(tasks: Mapping, seed: int, common: dict[str, Any]) -> list[tuple[Hashable, Annotations, dict]]:
    if not isinstance(tasks, Mapping):
        raise TypeError(
            "tasks must be a mapping name -> Annotations (or (Annotations, kwargs)), "
            f"not {type(tasks).__name__}"
        )
    if not tasks:
        raise ValueError("tasks is empty: give at least one name -> Annotations")
    jobs = []
    for name, value in tasks.items():
        if isinstance(value, Annotations):
            ann, own = value, {}
        elif (
            isinstance(value, tuple)
            and len(value) == 2
            and isinstance(value[0], Annotations)
            and isinstance(value[1], Mapping)
        ):
            ann, own = value[0], dict(value[1])
        else:
            raise TypeError(
                f"task {name!r}: expected an Annotations or a pair (Annotations, dict of fit keyword "
                f"arguments), got {type(value).__name__}"
            )
        kwargs = {"quiet": True, **common, **own}
        if kwargs.get("seed") is None:
            kwargs["seed"] = task_seed(seed, name)
        jobs.append((name, ann, kwargs))
    return jobs


_COMPILE_LOCK = threading.Lock()


def _fit_task(ann: Annotations, kwargs: dict[str, Any]) -> Fit:
    """One task, wherever it runs. PyTensor's compile cache is not thread-safe (two threads
    compiling at once fail in ``ModuleCache.add_key``), so in one process the fits that build
    a PyMC model run one at a time; EM (NumPy only) runs freely. Parallel PyMC fits need
    worker processes (``LocalCluster``'s default), best with one thread each."""
    from .fitting import fit

    if kwargs.get("method") == "em":
        return fit(ann, **kwargs)
    with _COMPILE_LOCK:
        return fit(ann, **kwargs)


def _name_task(exc: BaseException, name: Hashable) -> None:
    exc.add_note(f"bayeslabels.fit_many: raised by task {name!r}")


@contextmanager
def _connected(client: Any):
    """A distributed Client: the one given, or a new one connected to an address (closed after)."""
    if isinstance(client, str):
        from distributed import Client

        with Client(client, set_as_default=False) as connected:
            yield connected
    elif hasattr(client, "submit") and hasattr(client, "scatter"):
        yield client
    else:
        raise TypeError(
            f"client must be None (run here), a distributed.Client or a scheduler address string such as "
            f"'tcp://host:8786', not {type(client).__name__}"
        )


def fit_many(
    tasks: Mapping[Hashable, Annotations | tuple[Annotations, Mapping[str, Any]]],
    *,
    client: Any = None,
    seed: int = 0,
    **fit_kwargs: Any,
) -> dict[Hashable, Fit]:
    """Independent `bayeslabels.fit` calls, by name; returns ``{name: Fit}`` in the tasks' order.

    tasks: name → `Annotations` (fitted with ``fit_kwargs``), or name → ``(Annotations,
    kwargs)`` whose kwargs override ``fit_kwargs`` for that task — e.g. from
    `tasks_by_subtype`, `fold_tasks` or `bootstrap_tasks`.
    client: ``None`` runs the tasks one after the other here; a ``distributed.Client`` or a
    scheduler address (``"tcp://host:8786"``) runs them on that cluster (each task's
    `Annotations` is scattered to a worker, the `Fit` gathered back).
    seed: the base seed: a task without a ``seed`` of its own is fitted with
    ``task_seed(seed, name)``, so the serial and the distributed run give identical fits.
    ``quiet`` defaults to True. If a task fails, its exception is re-raised here (the other
    tasks are cancelled) with a note naming the task.

    Within one worker process, fits that compile a PyMC model (every method but ``"em"``) run
    one at a time (PyTensor's compile cache is not thread-safe): parallelism comes from
    worker processes, e.g. ``LocalCluster(n_workers=..., threads_per_worker=1)``.
    """
    jobs = _jobs(tasks, seed, fit_kwargs)
    results: dict[Hashable, Fit] = {}
    if client is None:
        for name, ann, kwargs in jobs:
            try:
                results[name] = _fit_task(ann, kwargs)
            except Exception as exc:
                _name_task(exc, name)
                raise
        return results

    import uuid

    with _connected(client) as connected:
        run = uuid.uuid4().hex[:8]
        futures = []
        for position, (name, ann, kwargs) in enumerate(jobs):
            data = connected.scatter(ann, hash=False)
            key = f"bayeslabels-fit-{run}-{position}"
            futures.append((name, connected.submit(_fit_task, data, kwargs, key=key, pure=False)))
        try:
            for name, future in futures:
                try:
                    results[name] = future.result()
                except Exception as exc:
                    _name_task(exc, name)
                    raise
        finally:
            pending = [f for _, f in futures if not f.done()]
            if pending:
                connected.cancel(pending)
    return results


# --------------------------------------------------------------------------- builders


def tasks_by_subtype(ann: Annotations, *, missing: str | None = "(no subtype)") -> dict[str, Annotations]:
    """One `Annotations` per subtype: that subtype's items, their labels and gold.

    Items are re-coded within each task (`Annotations.drop_unlabelled`); annotators and classes
    keep the whole code book, so an annotator with no label in a subtype is in that task with
    no labels (EM gives it the prior mode). Items without a subtype form the task named
    ``missing``, or are left out with ``missing=None``. Every item is in exactly one task.
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
    from sklearn.model_selection import KFold

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
    """The training side of each fold, ``{"fold0": ..., "fold1": ...}``: `kfold_splits` (by
    item) unless ``splits`` are given (e.g. ``bl.split(ann, by="annotator")``). As in
    `bayeslabels.fit_per_fold`, a fold's task holds its training labels and training gold only
    (re-coded with `Annotations.drop_unlabelled`): no test label or test gold enters it."""
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
    """``n`` bootstrap replicates over items (`bootstrap_replicate`), named ``boot0 …`` (zero
    padded); replicate r is drawn from ``np.random.SeedSequence(seed, spawn_key=(r,))``."""
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


# =========================================================================== EM over Dask


@dataclass(frozen=True, eq=False)
class _Block:
    """One partition of the label table, ready for EM: its items (every label of each) coded
    against the global annotator and class code books, their count matrix and gold mask."""

    annotations: Annotations
    counts: Any  # scipy CSR, items × (annotators·K)
    mask: np.ndarray | None


def _ids(values: pd.Series, what: str) -> pd.Series:
    """Ids as stripped strings, like `Annotations.from_frame` (integers without a per-row loop)."""
    if pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return pd.Series(values.astype(str).to_numpy(dtype=object), index=values.index)
    return pd.Series(_id_strings(values, what, "row").to_numpy(dtype=object), index=values.index)


def _class_names(values: pd.Series) -> pd.Series:
    """Canonical class names, like `Annotations.from_frame` (one call per distinct value)."""
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        names = _map_distinct(values, _canonical_class)
    else:  # one numeric / boolean dtype: 1 and 1.0 cannot both occur, so factorize is safe
        codes, distinct = pd.factorize(values)
        names = pd.Series(np.asarray([_canonical_class(v) for v in distinct], dtype=object)[codes])
    return pd.Series(names.to_numpy(dtype=object), index=values.index)


def _normalise(part: pd.DataFrame, item: str, annotator: str, label: str, gold: str | None) -> pd.DataFrame:
    for column, what in ((item, "item"), (annotator, "annotator"), (label, "label")):
        missing = _is_missing(part[column])
        if missing.any():
            raise DataError(
                f"missing {what} ({column!r} is empty/NaN) in {_rows_text(list(part.index[missing]), 'row')} "
                f"of the label table: every row needs an item, an annotator and a label; drop or fill them"
            )
    out = pd.DataFrame(
        {
            "item": _ids(part[item], "item"),
            "annotator": _ids(part[annotator], "annotator"),
            "label": _class_names(part[label]),
        },
        index=part.index,
    )
    if gold is not None:
        unknown = _is_missing(part[gold])
        out["gold"] = _class_names(part[gold]).where(~unknown, None)
    return out


def _code_books(part: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Distinct annotators, labels and gold classes of a partition, in order of appearance."""
    gold = part["gold"].dropna().unique() if "gold" in part.columns else np.array([], dtype=object)
    return (
        pd.unique(part["annotator"].to_numpy(dtype=object)),
        pd.unique(part["label"].to_numpy(dtype=object)),
        np.asarray(gold, dtype=object),
        len(part),
    )


def _encode(part: pd.DataFrame, annotators: pd.Index, classes: pd.Index) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "item": part["item"],
            "annotator": annotators.get_indexer(part["annotator"].to_numpy(dtype=object)).astype(np.int32),
            "label": classes.get_indexer(part["label"].to_numpy(dtype=object)).astype(np.int16),
        },
        index=part.index,
    )
    if "gold" in part.columns:
        known = part["gold"].notna().to_numpy()
        codes = np.full(len(part), -1, dtype=np.int16)
        codes[known] = classes.get_indexer(part["gold"].to_numpy(dtype=object)[known])
        out["gold"] = codes
    return out


def _make_block(
    part: pd.DataFrame, annotators: pd.Index, classes: pd.Index, gold: pd.Series | None
) -> _Block:
    k = len(classes)
    item_idx, items = pd.factorize(part["item"].to_numpy(dtype=object))
    n = len(items)
    gold_code = np.full(n, -1, dtype=np.int64)
    if "gold" in part.columns:  # gold per row: one class per item
        rows = part["gold"].to_numpy(dtype=np.int64)
        known = rows >= 0
        np.maximum.at(gold_code, item_idx[known], rows[known])
        lowest = np.full(n, k, dtype=np.int64)
        np.minimum.at(lowest, item_idx[known], rows[known])
        conflict = np.flatnonzero((gold_code >= 0) & (lowest != gold_code))
        if len(conflict):
            first = conflict[0]
            raise DataError(
                f"item {items[first]!r} has conflicting gold labels "
                f"{sorted(classes[np.unique(rows[known & (item_idx == first)])])} "
                f"({len(conflict)} such items): give one gold class per item"
            )
    elif gold is not None:
        gold_code = gold.reindex(items).fillna(-1).to_numpy(dtype=np.int64)
    ann = Annotations(
        items=pd.Index(items, dtype=object),
        annotators=annotators,
        classes=classes,
        item_idx=item_idx,
        annotator_idx=part["annotator"].to_numpy(),
        label=part["label"].to_numpy(),
        gold=gold_code,
    )
    return _Block(ann, annotation_counts(ann), gold_log_mask(ann.gold, k))


def _block_facts(block: _Block) -> tuple[int, int, np.ndarray]:
    """Items, labels and the items with gold of a block."""
    ann = block.annotations
    return ann.n_items, ann.n_labels, np.asarray(ann.items[ann.gold >= 0], dtype=object)


def _block_start(block: _Block) -> tuple[np.ndarray, np.ndarray, float]:
    """M-step statistics of EM's starting posterior (soft vote, gold fixed) on a block."""
    expected, mass = _m_statistics(block.counts, _initial_posterior(block.annotations))
    return expected, mass, 0.0


def _block_pass(block: _Block, params: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
    """One EM iteration's map step on a block: E-step, then the M-step statistics."""
    log_pi, log_rho = params
    posterior, log_evidence = _e_step(block.counts, log_pi, log_rho, block.mask)
    expected, mass = _m_statistics(block.counts, posterior)
    return expected, mass, log_evidence


def _add_statistics(*parts: tuple[np.ndarray, np.ndarray, float]) -> tuple[np.ndarray, np.ndarray, float]:
    expected, mass, log_evidence = parts[0][0].copy(), parts[0][1].copy(), parts[0][2]
    for more in parts[1:]:
        expected += more[0]
        mass += more[1]
        log_evidence += more[2]
    return expected, mass, log_evidence


def _block_posterior(
    block: _Block, params: tuple[np.ndarray, np.ndarray], columns: list[str]
) -> pd.DataFrame:
    log_pi, log_rho = params
    posterior, _ = _e_step(block.counts, log_pi, log_rho, block.mask)
    frame = pd.DataFrame(posterior, columns=columns)
    frame.insert(0, "item", pd.Series(block.annotations.items.to_numpy(dtype=object), dtype=object))
    return frame


def _with_label(frame: pd.DataFrame, columns: list[str], classes: list[str]) -> pd.DataFrame:
    names = np.asarray(classes, dtype=object)
    label = names[frame[columns].to_numpy().argmax(axis=1)] if len(frame) else np.array([], dtype=object)
    out = frame[["item"]].copy()
    out["label"] = pd.Series(label, index=frame.index, dtype=object)
    return pd.concat([out, frame[columns]], axis=1)


def _tree_sum(parts: list, fanin: int = 8):
    import dask

    while len(parts) > 1:
        parts = [
            dask.delayed(_add_statistics, pure=False)(*parts[i : i + fanin])
            for i in range(0, len(parts), fanin)
        ]
    return parts[0]


def _class_index(classes: Sequence[Hashable] | None, labels: np.ndarray, gold: np.ndarray) -> pd.Index:
    if classes is not None:
        declared = [_canonical_class(c) for c in classes]
        if len(set(declared)) != len(declared):
            raise DataError(f"classes={list(classes)} repeats a class name: give each class once")
        unknown = sorted(set(labels) - set(declared))
        if unknown:
            raise DataError(
                f"label(s) {unknown[:_MAX_LISTED]} are not among the declared classes {declared}: "
                "fix the labels or add them to classes=[...]"
            )
    else:
        declared = _sort_classes(labels)
    if len(declared) < 2:
        raise DataError(
            f"only one class ({declared[0]!r}) in the labels: at least two are needed. If other classes "
            "exist but were never used, declare them with classes=[...]"
        )
    bad = sorted(set(gold) - set(declared))
    if bad:
        raise DataError(
            f"gold class(es) {bad[:_MAX_LISTED]} are not among the label classes {declared}: gold and labels "
            "must use the same class names; declare a class no annotator used with classes=[...]"
        )
    return pd.Index(declared, dtype=object)


@dataclass(frozen=True, eq=False)
class DaskEMResult:
    """`dawid_skene_em_dask`'s result: `EMResult`'s estimates, with the per-item posteriors
    as a lazy Dask DataFrame (columns ``item``, ``p_<class>``; one row per item).

    ``confusion``, ``prevalence``, ``log_likelihood``, ``converged``, ``n_iter``, ``variant``,
    ``classes``, ``annotators``, ``priors`` and `accuracy` mean what they mean on `EMResult`;
    ``n_items`` / ``n_labels`` count the table; ``seconds`` times the phases (``code_books``:
    the first pass; ``partition``: shuffle by item and build the persisted count matrices;
    ``em``: the iterations);
    `soft_labels` adds the ``label`` column lazily; `to_em_result` computes the posteriors into
    an `EMResult` (only for data that fits in memory). The partitions stay persisted on the
    cluster while this result (its ``posterior``) is alive; compute the frames with the same
    ``client`` (``.compute(scheduler=result.client)`` when it is not the default one).
    """

    confusion: np.ndarray
    prevalence: np.ndarray
    posterior: Any  # dask DataFrame
    log_likelihood: np.ndarray
    converged: bool
    n_iter: int
    variant: str
    classes: pd.Index
    annotators: pd.Index
    priors: DawidSkenePriors = field(repr=False)
    n_items: int = 0
    n_labels: int = 0
    client: Any = field(default=None, repr=False)  # the Client the partitions are persisted on
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each phase

    def accuracy(self) -> pd.Series:
        """Per-annotator accuracy ``Σ_k ρ_k π_jkk`` under the estimated prevalence."""
        return EMResult.accuracy(self)  # type: ignore[arg-type]

    def soft_labels(self):
        """Lazy Dask DataFrame: ``item``, ``label`` (most probable class), ``p_<class>``."""
        columns = [f"p_{name}" for name in self.classes]
        meta = self.posterior._meta
        meta = _with_label(meta, columns, list(self.classes))
        return self.posterior.map_partitions(_with_label, columns, list(self.classes), meta=meta)

    def to_em_result(self) -> EMResult:
        """Gather the posteriors into an `EMResult` (items in partition order)."""
        frame = self.posterior.compute(**({} if self.client is None else {"scheduler": self.client}))
        columns = [f"p_{name}" for name in self.classes]
        return EMResult(
            confusion=self.confusion,
            prevalence=self.prevalence,
            posterior=frame[columns].to_numpy(dtype=float),
            log_likelihood=self.log_likelihood,
            converged=self.converged,
            n_iter=self.n_iter,
            variant=self.variant,
            classes=self.classes,
            items=pd.Index(frame["item"].to_numpy(dtype=object), dtype=object),
            annotators=self.annotators,
            priors=self.priors,
        )


def dawid_skene_em_dask(
    table: Any,
    *,
    classes: Sequence[Hashable] | None = None,
    gold: str | pd.Series | pd.DataFrame | Mapping | None = None,
    gold_only: str = "error",
    variant: str = "class-conditional",
    priors: DawidSkenePriors | None = None,
    tol: float = 1e-7,
    max_iter: int = 500,
    item: str = "item",
    annotator: str = "annotator",
    label: str = "label",
    npartitions: int | None = None,
    client: Any = None,
) -> DaskEMResult:
    """`bayeslabels.dawid_skene_em` over a partitioned label table (a Dask DataFrame).

    table: a Dask DataFrame (or a pandas one, split into ``npartitions``) with one row per
    label and columns ``item``, ``annotator``, ``label`` (other names via ``item=`` …). Ids and
    class names are normalised as `Annotations.from_frame` does (strings, stripped; ``1``,
    ``1.0`` and ``"1.0"`` are class ``"1"``); every row counts (``duplicates="keep"``).
    gold: a column of ``table`` (one class per item; empty = unknown), or a mapping / Series /
    two-column table / file item → class (read on the client, sent once to each partition); gold for
    items without labels raises unless ``gold_only="keep"`` (then they count as items with
    gold and no labels, as in ``Annotations.from_frame(..., gold_only="keep")``).
    classes, variant, priors, tol, max_iter: as in `dawid_skene_em` (class order: as given,
    else sorted; annotator order: first appearance in the table).
    npartitions: partitions of the item-partitioned table (default: the table's own).
    client: a ``distributed.Client`` to run on; default: Dask's current scheduler (the active
    Client, if any). Connect to a remote scheduler with ``Client("tcp://host:8786")``.

    Passes over the data: one for the code books, one to shuffle by item and build each
    partition's count matrix (persisted on the workers), then one map-reduce per iteration.
    Only O(annotators·K²) numbers come back to the client per iteration.
    """
    import time

    import dask
    import dask.dataframe as dd

    started = time.perf_counter()
    _check_variant(variant)
    if gold_only not in ("error", "keep"):
        raise DataError(f"gold_only={gold_only!r}: use 'error' or 'keep'")
    if isinstance(table, pd.DataFrame):
        table = dd.from_pandas(table, npartitions=npartitions or 1, sort=False)
    if not isinstance(table, dd.DataFrame):
        raise DataError(f"expected a Dask (or pandas) DataFrame, got {type(table).__name__}")
    absent = [c for c in (item, annotator, label) if c not in table.columns]
    if absent:
        raise DataError(
            f"missing column(s) {absent}; the table has {list(map(str, table.columns))}. "
            f"Rename them, or name yours with item=..., annotator=..., label=..."
        )
    if client is not None and not hasattr(client, "submit"):
        raise TypeError(
            f"client must be None (Dask's current scheduler) or a distributed.Client, not "
            f"{type(client).__name__}; for a scheduler address, pass Client('tcp://host:8786')"
        )
    gold_column = gold if isinstance(gold, str) and gold in table.columns else None
    priors = priors or DawidSkenePriors.em_smoothing()
    scheduler = {} if client is None else {"scheduler": client}

    meta = pd.DataFrame({c: pd.Series(dtype=object) for c in ("item", "annotator", "label")})
    if gold_column is not None:
        meta["gold"] = pd.Series(dtype=object)
    normal = table.map_partitions(_normalise, item, annotator, label, gold_column, meta=meta)

    # pass 1: the code books (small)
    books = dask.compute(*[dask.delayed(_code_books)(p) for p in normal.to_delayed()], **scheduler)
    n_rows = sum(b[3] for b in books)
    if n_rows == 0:
        raise DataError(
            "the label table is empty: it needs one row per label with columns "
            f"{item!r}, {annotator!r}, {label!r}"
        )
    annotators = pd.Index(pd.unique(np.concatenate([b[0] for b in books])), dtype=object)
    gold_names = np.concatenate([b[2] for b in books])
    gold_map = None
    if gold is not None and gold_column is None:
        gold_map = _gold_table(None, gold, None, None, "row")  # item -> canonical class name
        gold_names = np.concatenate([gold_names, gold_map.to_numpy(dtype=object)])
    class_index = _class_index(classes, pd.unique(np.concatenate([b[1] for b in books])), gold_names)
    k = len(class_index)
    gold_codes = None
    if gold_map is not None:
        gold_codes = pd.Series(class_index.get_indexer(gold_map.to_numpy(dtype=object)), index=gold_map.index)

    # pass 2: code, partition by item, one count matrix per partition, persisted once
    seconds = {"code_books": time.perf_counter() - started}
    annotators_d = dask.delayed(annotators, traverse=False)
    classes_d = dask.delayed(class_index, traverse=False)
    gold_d = dask.delayed(gold_codes, traverse=False)
    encoded_meta = pd.DataFrame(
        {
            "item": pd.Series(dtype=object),
            "annotator": pd.Series(dtype=np.int32),
            "label": pd.Series(dtype=np.int16),
        }
    )
    if gold_column is not None:
        encoded_meta["gold"] = pd.Series(dtype=np.int16)
    encoded = normal.map_partitions(_encode, annotators, class_index, meta=encoded_meta)
    by_item = encoded.shuffle(on="item", npartitions=npartitions)
    blocks = [dask.delayed(_make_block)(p, annotators_d, classes_d, gold_d) for p in by_item.to_delayed()]
    blocks = list(dask.persist(*blocks, **scheduler))

    facts = dask.compute(*[dask.delayed(_block_facts)(b) for b in blocks], **scheduler)
    n_items = sum(f[0] for f in facts)
    if gold_codes is not None:
        unknown = gold_codes.index.difference(pd.Index(np.concatenate([f[2] for f in facts])), sort=False)
        if len(unknown) and gold_only == "error":
            raise DataError(
                f"gold given for {len(unknown)} item(s) with no labels, e.g. {list(unknown[:_MAX_LISTED])}: "
                "check the item ids match the label table (same spelling, leading zeros), drop those gold "
                "rows, or pass gold_only='keep' to include them as items without labels"
            )
        if len(unknown):  # items with gold and no labels: one more (small) block
            empty = np.array([], dtype=np.int64)
            extra = Annotations(
                items=pd.Index(unknown, dtype=object),
                annotators=annotators,
                classes=class_index,
                item_idx=empty,
                annotator_idx=empty,
                label=empty,
                gold=gold_codes.reindex(unknown).to_numpy(),
            )
            block = _Block(extra, annotation_counts(extra), gold_log_mask(extra.gold, k))
            blocks += dask.persist(dask.delayed(block, traverse=False), **scheduler)
            n_items += len(unknown)

    # EM: `dawid_skene_em`'s loop; the data passes are map-reduces over the blocks
    seconds["partition"] = time.perf_counter() - started - seconds["code_books"]
    state = {
        "statistics": dask.compute(_tree_sum([dask.delayed(_block_start)(b) for b in blocks]), **scheduler)[0]
    }

    def e_step(log_pi: np.ndarray, log_rho: np.ndarray) -> float:
        params = dask.delayed((log_pi, log_rho), traverse=False)
        reduced = _tree_sum([dask.delayed(_block_pass, pure=False)(b, params) for b in blocks])
        state["statistics"] = dask.compute(reduced, **scheduler)[0]
        return state["statistics"][2]

    confusion, prevalence, trace, converged = _em_loop(
        lambda: state["statistics"][:2],
        e_step,
        len(annotators),
        k,
        priors,
        variant,
        tol,
        max_iter,
    )
    with np.errstate(divide="ignore"):
        params = dask.delayed((np.log(confusion), np.log(prevalence)), traverse=False)
    columns = [f"p_{name}" for name in class_index]
    posterior_meta = pd.DataFrame(
        {"item": pd.Series(dtype=object), **{c: pd.Series(dtype=float) for c in columns}}
    )
    posterior = dd.from_delayed(
        [dask.delayed(_block_posterior)(b, params, columns) for b in blocks],
        meta=posterior_meta,
        verify_meta=False,
    )
    return DaskEMResult(
        confusion=confusion,
        prevalence=prevalence,
        posterior=posterior,
        log_likelihood=np.asarray(trace),
        converged=converged,
        n_iter=len(trace),
        variant=variant,
        classes=class_index,
        annotators=annotators,
        priors=priors,
        n_items=n_items,
        n_labels=n_rows,
        client=client,
        seconds={**seconds, "em": time.perf_counter() - started - sum(seconds.values())},
    )
