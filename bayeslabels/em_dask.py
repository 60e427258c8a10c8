"""Dawid–Skene EM over a partitioned label table (a Dask DataFrame).

`dawid_skene_em_dask` runs the iterations of `bayeslabels.dawid_skene_em` over a Dask
DataFrame (columns item, annotator, label; gold as a column or a mapping) that need not fit
one machine. Each partition is normalised and validated by `bayeslabels.ingest` — the code
`Annotations.from_frame` runs, so both refuse the same bad rows with the same message. A
first pass collects the code books (annotators, classes: small); the table is then
integer-coded (`encode_table`), shuffled so that each item's labels sit in one partition,
turned into one sparse count matrix per partition and persisted once. Each iteration maps over
the partitions — E-step of that partition's items from the broadcast confusion and
prevalence, returning only the M-step's sufficient statistics (``Cᵀq``: annotators·K × K,
``Σ_i q_i``: K) and the log-evidence — and sums them in a tree; the M-step, the smoothing,
the objective and the stopping rule are `dawid_skene_em`'s own code (`aggregate._em_loop`),
so on data that fits in memory both agree to rounding (≤ 1e-8). Per-item posteriors come back
as a lazy Dask DataFrame, never gathered on the client.

Dask is imported only when these functions run (``pip install bayeslabels[dask]``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import ingest
from .aggregate import EMResult, _check_variant, _e_step, _em_loop, _initial_posterior, _m_statistics
from .data import Annotations
from .errors import DataError
from .models._likelihood import annotation_counts, gold_log_mask
from .priors import DawidSkenePriors
from .soft_labels import SoftLabels

if TYPE_CHECKING:  # Dask is imported when used
    import dask.dataframe as dd
    from dask.delayed import Delayed

__all__ = ["DaskEMResult", "EncodedTable", "dawid_skene_em_dask", "encode_table"]

_LABEL_COLUMNS = ("item", "annotator", "label")


# --------------------------------------------------------------------------- ingest, per partition


def _normalise(part: pd.DataFrame, item: str, annotator: str, label: str, gold: str | None) -> pd.DataFrame:
    """`ingest.normalise_rows` on one partition (object columns, so every partition hashes alike
    in the shuffle by item), plus the canonical gold class per row (None = unknown)."""
    rows = ingest.normalise_rows(part, item, annotator, label)
    out = pd.DataFrame({c: rows[c].to_numpy(dtype=object) for c in _LABEL_COLUMNS}, index=part.index)
    if gold is not None:
        out["gold"] = ingest.gold_names(part[gold]).to_numpy(dtype=object)
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


def _rows_labelled(part: pd.DataFrame, names: list[str]) -> list:
    """The partition's rows whose label is one of ``names`` (for an error message)."""
    return list(part.index[part["label"].isin(names).to_numpy()])


def _gold_rows(part: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The partition's (item, gold) rows whose gold is one of ``names`` (for an error message)."""
    return part.loc[part["gold"].isin(names).to_numpy(), ["item", "gold"]]


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


@dataclass(frozen=True, eq=False)
class EncodedTable:
    """A label table as `dawid_skene_em_dask` codes it: ``frame`` (lazy; one row per label:
    ``item`` id, ``annotator`` and ``label`` codes, ``gold`` code per row when the gold is a
    column), the code books, gold item → class code when the gold was given apart, the number
    of labels, and the name of the gold column (or None)."""

    frame: Any  # dask DataFrame
    annotators: pd.Index
    classes: pd.Index
    gold: pd.Series | None
    n_labels: int
    gold_column: str | None


def encode_table(
    table: Any,
    *,
    classes: Sequence[Hashable] | None = None,
    gold: str | pd.Series | pd.DataFrame | Mapping | None = None,
    item: str = "item",
    annotator: str = "annotator",
    label: str = "label",
    npartitions: int | None = None,
    client: Any = None,
) -> EncodedTable:
    """Validate and integer-code a label table (Dask or pandas DataFrame) partition by partition,
    with `bayeslabels.ingest`'s checks and code books as in `Annotations.from_frame`: annotators
    in order of first appearance, classes as declared or sorted. One pass over the data (plus
    one more only to name the rows of an error)."""
    import dask
    import dask.dataframe as dd

    if isinstance(table, pd.DataFrame):
        table = dd.from_pandas(table, npartitions=npartitions or 1, sort=False)
    if not isinstance(table, dd.DataFrame):
        raise DataError(f"expected a Dask (or pandas) DataFrame, got {type(table).__name__}")
    ingest.check_columns(table.columns, item, annotator, label)
    scheduler = {} if client is None else {"scheduler": client}
    gold_column = ingest.gold_column(gold, table.columns)
    meta = pd.DataFrame({c: pd.Series(dtype=object) for c in _LABEL_COLUMNS})
    if gold_column is not None:
        meta["gold"] = pd.Series(dtype=object)
    normal = table.map_partitions(_normalise, item, annotator, label, gold_column, meta=meta)

    def each_partition(func: Callable, *args: Any) -> tuple:
        return dask.compute(*[dask.delayed(func)(p, *args) for p in normal.to_delayed()], **scheduler)

    books = each_partition(_code_books)
    n_rows = sum(b[3] for b in books)
    if n_rows == 0:
        raise ingest.empty_table_error(item, annotator, label)
    annotators = pd.Index(pd.unique(np.concatenate([b[0] for b in books])), dtype=object)
    labels = pd.unique(np.concatenate([b[1] for b in books]))
    gold_map = None if gold is None or gold_column is not None else ingest.read_gold(gold)

    def rows_of(names: list[str]) -> list:
        return [row for rows in each_partition(_rows_labelled, names) for row in rows]

    class_index = ingest.class_index(classes, labels, rows_of)
    gold_codes = None
    if gold_map is not None:
        gold_codes = pd.Series(ingest.gold_codes(gold_map, class_index), index=gold_map.index)
    else:
        unknown = sorted(set(np.concatenate([b[2] for b in books])) - set(class_index))
        if unknown:  # name the items as from_frame does
            pairs = pd.concat(each_partition(_gold_rows, unknown))
            ingest.gold_codes(pairs.drop_duplicates("item").set_index("item")["gold"], class_index)
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
    return EncodedTable(encoded, annotators, class_index, gold_codes, n_rows, gold_column)


# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True, eq=False)
class _Block:
    """One partition of the label table, ready for EM: its items (every label of each) coded
    against the global annotator and class code books, their count matrix and gold mask."""

    annotations: Annotations
    counts: Any  # scipy CSR, items × (annotators·K)
    mask: np.ndarray | None


def _make_block(
    part: pd.DataFrame,
    annotators: pd.Index,
    classes: pd.Index,
    gold: pd.Series | None,
    gold_column: str | None,
) -> _Block:
    """A partition shuffled by item (every label of its items) as a block; gold from the gold
    column (one class per item, checked as `ingest.read_gold` does) or from ``gold``."""
    item_idx, items = pd.factorize(part["item"].to_numpy(dtype=object))
    items = pd.Index(items, dtype=object)
    if "gold" in part.columns:
        rows = part["gold"].to_numpy(dtype=np.int64)
        names = np.asarray(classes, dtype=object)[np.maximum(rows, 0)]
        named = pd.Series(np.where(rows >= 0, names, None), index=part.index, dtype=object)
        per_item = ingest.gold_by_item(part["item"], named, f"the gold column {gold_column!r}", "row")
        gold = pd.Series(classes.get_indexer(per_item.to_numpy(dtype=object)), index=per_item.index)
    gold_code = np.full(len(items), -1, dtype=np.int64)
    if gold is not None:
        gold_code = gold.reindex(items).fillna(-1).to_numpy(dtype=np.int64)
    ann = Annotations(
        items=items,
        annotators=annotators,
        classes=classes,
        item_idx=item_idx,
        annotator_idx=part["annotator"].to_numpy(),
        label=part["label"].to_numpy(),
        gold=gold_code,
    )
    return _Block(ann, annotation_counts(ann), gold_log_mask(ann.gold, len(classes)))


def _gold_only_block(items: pd.Index, annotators: pd.Index, classes: pd.Index, gold: pd.Series) -> _Block:
    """Items with gold and no labels (``gold_only="keep"``) as one more block."""
    empty = np.array([], dtype=np.int64)
    ann = Annotations(
        items=pd.Index(items, dtype=object),
        annotators=annotators,
        classes=classes,
        item_idx=empty,
        annotator_idx=empty,
        label=empty,
        gold=gold.reindex(items).to_numpy(),
    )
    return _Block(ann, annotation_counts(ann), gold_log_mask(ann.gold, len(classes)))


def _block_facts(block: _Block) -> tuple[int, int, np.ndarray]:
    """Items, labels and the items with gold of a block."""
    ann = block.annotations
    return ann.n_items, ann.n_labels, np.asarray(ann.items[ann.gold >= 0], dtype=object)


# --------------------------------------------------------------------------- EM passes


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


def _tree_sum(parts: list[Delayed], fanin: int = 8) -> Delayed:
    import dask

    while len(parts) > 1:
        parts = [
            dask.delayed(_add_statistics, pure=False)(*parts[i : i + fanin])
            for i in range(0, len(parts), fanin)
        ]
    return parts[0]


# --------------------------------------------------------------------------- result and driver


@dataclass(frozen=True, eq=False)
class DaskEMResult:
    """`dawid_skene_em_dask`'s result: `EMResult`'s estimates, with lazy per-item posteriors.

    The posteriors are a lazy Dask DataFrame (columns ``item``, ``p_<class>``; one row per
    item). `soft_labels` gathers them into `SoftLabels`, `soft_label_partitions` adds the
    ``label`` column lazily; `to_em_result` computes the posteriors into an `EMResult` (only
    for data that fits in memory). The partitions stay persisted on the cluster while this
    result (its ``posterior``) is alive; compute the frames with the same ``client``
    (``.compute(scheduler=result.client)`` when it is not the default one).

    Attributes
    ----------
    confusion, prevalence, log_posterior, converged, n_iter, variant, classes, annotators, priors
        As on `EMResult` (and `accuracy` too).
    posterior : dask.dataframe.DataFrame
        The per-item posteriors, lazy.
    n_items, n_labels : int
        Items and labels of the table.
    client : distributed.Client or None
        The Client the partitions are persisted on.
    seconds : dict of str to float
        Wall time of each phase (``code_books``: the first pass; ``partition``: shuffle by
        item and build the persisted count matrices; ``em``: the iterations).

    Examples
    --------
    >>> import bayeslabels as bl
    >>> table = bl.datasets.load("bluebirds").to_frame()  # a pandas table, split into partitions
    >>> result = bl.dawid_skene_em_dask(table, npartitions=2)
    >>> result.converged, result.n_items, result.n_labels
    (True, 108, 4212)
    >>> result.prevalence.round(3)
    array([0.568, 0.432])
    """

    confusion: np.ndarray
    prevalence: np.ndarray
    posterior: Any  # dask DataFrame
    log_posterior: np.ndarray
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
        """Per-annotator accuracy ``Σ_k ρ_k π_jkk`` under the estimated prevalence.

        Returns
        -------
        pandas.Series
            Accuracy per annotator, named ``"accuracy"``.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> table = bl.datasets.load("bluebirds").to_frame()  # a pandas table, split into partitions
        >>> result = bl.dawid_skene_em_dask(table, npartitions=2)
        >>> len(result.accuracy())
        39
        """
        return EMResult.accuracy(self)  # type: ignore[arg-type]

    def soft_labels(self) -> SoftLabels:
        """The posteriors gathered into `SoftLabels`, as every producer returns them.

        A point estimate; items in partition order. For data beyond memory see
        `soft_label_partitions`.

        Returns
        -------
        SoftLabels

        Examples
        --------
        >>> import bayeslabels as bl
        >>> table = bl.datasets.load("bluebirds").to_frame()  # a pandas table, split into partitions
        >>> result = bl.dawid_skene_em_dask(table, npartitions=2)
        >>> result.soft_labels()
        <SoftLabels 108 items × ['false', 'true'], point estimate>
        """
        return self.to_em_result().soft_labels()

    def soft_label_partitions(self) -> dd.DataFrame:
        """The soft labels left on the cluster, partition by partition.

        Returns
        -------
        dask.dataframe.DataFrame
            Lazy: ``item``, ``label`` (most probable class), ``p_<class>``.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> table = bl.datasets.load("bluebirds").to_frame()  # a pandas table, split into partitions
        >>> result = bl.dawid_skene_em_dask(table, npartitions=2)
        >>> list(result.soft_label_partitions().columns)
        ['item', 'label', 'p_false', 'p_true']
        """
        columns = [f"p_{name}" for name in self.classes]
        meta = self.posterior._meta
        meta = _with_label(meta, columns, list(self.classes))
        return self.posterior.map_partitions(_with_label, columns, list(self.classes), meta=meta)

    def to_em_result(self) -> EMResult:
        """Gather the posteriors into an `EMResult` (items in partition order).

        Returns
        -------
        EMResult

        Examples
        --------
        >>> import bayeslabels as bl
        >>> table = bl.datasets.load("bluebirds").to_frame()  # a pandas table, split into partitions
        >>> result = bl.dawid_skene_em_dask(table, npartitions=2)
        >>> result.to_em_result().posterior.shape
        (108, 2)
        """
        frame = self.posterior.compute(**({} if self.client is None else {"scheduler": self.client}))
        columns = [f"p_{name}" for name in self.classes]
        return EMResult(
            confusion=self.confusion,
            prevalence=self.prevalence,
            posterior=frame[columns].to_numpy(dtype=float),
            log_posterior=self.log_posterior,
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

    Ids and class names are normalised as `Annotations.from_frame` does (strings, stripped;
    ``1``, ``1.0`` and ``"1.0"`` are class ``"1"``); every row counts (``duplicates="keep"``).
    Passes over the data: one for the code books, one to shuffle by item and build each
    partition's count matrix (persisted on the workers), then one map-reduce per iteration.
    Only O(annotators·K²) numbers come back to the client per iteration.

    Parameters
    ----------
    table : dask.dataframe.DataFrame or pandas.DataFrame
        One row per label with columns ``item``, ``annotator``, ``label`` (other names via
        ``item=`` …); a pandas table is split into ``npartitions``.
    classes : sequence, optional
        Class order: as given, else sorted (annotator order: first appearance in the table).
    gold : str, pandas.Series, pandas.DataFrame, mapping or path, optional
        A column of ``table`` (one class per item; empty = unknown), or a mapping / Series /
        two-column table / file item → class (read on the client, sent once to each
        partition).
    gold_only : {"error", "keep"}, default "error"
        Gold for items without labels raises unless ``"keep"`` (then they count as items
        with gold and no labels, as in ``Annotations.from_frame(..., gold_only="keep")``).
    variant, priors, tol, max_iter
        As in `dawid_skene_em`.
    item, annotator, label : str
        The column names.
    npartitions : int, optional
        Partitions of the item-partitioned table (default: the table's own).
    client : distributed.Client, optional
        The client to run on; default: Dask's current scheduler (the active Client, if any).
        Connect to a remote scheduler with ``Client("tcp://host:8786")``.

    Returns
    -------
    DaskEMResult

    Raises
    ------
    DataError
        If the table fails the checks of `Annotations.from_frame` (naming the rows), or the
        gold does not match.
    ValueError
        If ``variant`` is invalid.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> table = bl.datasets.load("bluebirds").to_frame()  # a pandas table, split into partitions
    >>> result = bl.dawid_skene_em_dask(table, npartitions=2)
    >>> result.n_iter, result.prevalence.round(3)  # as bl.dawid_skene_em on the same labels
    (13, array([0.568, 0.432]))
    >>> import dask.dataframe as dd  # doctest: +SKIP
    >>> big = dd.read_parquet("labels/*.parquet")  # doctest: +SKIP
    >>> result = bl.dawid_skene_em_dask(big, gold="gold", client=client)  # doctest: +SKIP
    """
    import dask
    import dask.dataframe as dd

    started = time.perf_counter()
    _check_variant(variant)
    ingest.check_gold_only(pd.Index([]), gold_only)
    if client is not None and not hasattr(client, "submit"):
        raise TypeError(
            f"client must be None (Dask's current scheduler) or a distributed.Client, not "
            f"{type(client).__name__}; for a scheduler address, pass Client('tcp://host:8786')"
        )
    priors = priors or DawidSkenePriors.em_smoothing()
    scheduler = {} if client is None else {"scheduler": client}

    # pass 1: validate, the code books (small); pass 2: code, partition by item, persist the blocks
    coded = encode_table(
        table,
        classes=classes,
        gold=gold,
        item=item,
        annotator=annotator,
        label=label,
        npartitions=npartitions,
        client=client,
    )
    annotators, class_index, k = coded.annotators, coded.classes, len(coded.classes)
    seconds = {"code_books": time.perf_counter() - started}
    by_item = coded.frame.shuffle(on="item", npartitions=npartitions)
    books = [dask.delayed(x, traverse=False) for x in (annotators, class_index, coded.gold)]
    blocks = [dask.delayed(_make_block)(p, *books, coded.gold_column) for p in by_item.to_delayed()]
    blocks = list(dask.persist(*blocks, **scheduler))

    facts = dask.compute(*[dask.delayed(_block_facts)(b) for b in blocks], **scheduler)
    n_items = sum(f[0] for f in facts)
    if coded.gold is not None:
        labelled = pd.Index(np.concatenate([f[2] for f in facts]))
        unknown = coded.gold.index.difference(labelled, sort=False)
        ingest.check_gold_only(unknown, gold_only)
        if len(unknown):  # items with gold and no labels: one more (small) block
            block = _gold_only_block(unknown, annotators, class_index, coded.gold)
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
        log_posterior=np.asarray(trace),
        converged=converged,
        n_iter=len(trace),
        variant=variant,
        classes=class_index,
        annotators=annotators,
        priors=priors,
        n_items=n_items,
        n_labels=coded.n_labels,
        client=client,
        seconds={**seconds, "em": time.perf_counter() - started - sum(seconds.values())},
    )
