r"""The one marginal likelihood every annotator model shares.

Labels are summarised by a sparse count matrix ``C`` (items × cells·K): ``C[i, c·K + l]``
counts the labels of class ``l`` that item ``i`` received from "cell" ``c``. A cell is
whatever owns a confusion matrix: an annotator (Dawid–Skene), or an annotator × subtype
pair (hierarchical-subtype). With ``log π[c, k, l] = log P(label l | true class k, cell c)``,

.. math::

    L_{ik} = \sum_{c,l} C_{i,cK+l}\,\log\pi_{ckl} = (C\,W)_{ik},\qquad
    W_{cK+l,\,k} = \log\pi_{ckl}

is item i's log-likelihood under true class k (the gather of ``log π[annotator, :, label]``
per label row, summed per item, as one sparse product whose gradient is ``Cᵀ g``), and

.. math::

    \log p(y \mid \pi, \rho) = \sum_i \operatorname{logsumexp}_k
        \left(\log\rho_k + L_{ik} + m_{ik}\right)

with ``m`` the gold mask (0 for the gold class, −∞ for the others, 0 everywhere where gold
is unknown): gold items contribute only their gold class. The true class ``z_i`` is
marginalised, never sampled; its posterior ``softmax_k(log ρ_k + L_ik + m_ik)`` is the
Rao–Blackwellised soft label.

Every function here works on NumPy arrays and on PyTensor variables alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.special import logsumexp, softmax

if TYPE_CHECKING:
    from pytensor.tensor import TensorVariable

    from ..data import Annotations

NEG_INF = -np.inf


def label_cells(ann: Annotations, per_subtype: bool = False) -> tuple[np.ndarray, int]:
    """The cell of each label row and the number of cells: the annotator, or with
    ``per_subtype`` the (annotator, item's subtype) pair coded ``annotator · S + subtype``
    (every pair, observed or not; the models parameterise only `observed_cells`)."""
    if not per_subtype:
        return ann.annotator_idx, ann.n_annotators
    n_subtypes = len(ann.subtypes)
    return ann.annotator_idx * n_subtypes + ann.subtype[ann.item_idx], ann.n_annotators * n_subtypes


def observed_cells(ann: Annotations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (annotator, subtype) cells that hold labels, in order of ``annotator · S + subtype``:
    ``(cell of each label row in 0..C-1, annotator of each cell, subtype of each cell)``.

    A per-subtype model gives parameters to these C cells only; the others have no data and
    follow the population (annotator effect plus the subtype's population logits)."""
    dense, _ = label_cells(ann, per_subtype=True)
    codes, row_cell = np.unique(dense, return_inverse=True)
    n_subtypes = len(ann.subtypes)
    return (
        row_cell.astype(np.int64),
        (codes // n_subtypes).astype(np.int64),
        (codes % n_subtypes).astype(np.int64),
    )


def annotation_counts(ann: Annotations, per_subtype: bool = False) -> sp.csr_matrix:
    """`cell_count_matrix` of an `Annotations`: cells are annotators, or with ``per_subtype``
    the observed (annotator, subtype) cells of `observed_cells`."""
    if per_subtype:
        cells, cell_annotator, _ = observed_cells(ann)
        n_cells = len(cell_annotator)
    else:
        cells, n_cells = label_cells(ann)
    return cell_count_matrix(ann.item_idx, cells, ann.label, ann.n_items, n_cells, ann.n_classes)


LIKELIHOOD_DATA = ("label_counts_data", "label_counts_indices", "label_counts_indptr", "gold_mask")


def likelihood_data(ann: Annotations, per_subtype: bool = False) -> dict[str, np.ndarray]:
    """The data the full-batch likelihood reads, by `pm.Data` name: the CSR arrays of the count
    matrix ``C`` and the gold mask (zeros where no item has gold, so one graph serves both).

    The graph holds these as inputs, not constants: a compiled model is re-used for new data
    of the same shape (``nutpie``'s ``with_data``), and PyTensor's disk cache can serve it."""
    counts = annotation_counts(ann, per_subtype)
    mask = gold_log_mask(ann.gold, ann.n_classes)
    return {
        "label_counts_data": counts.data.astype(np.float64),
        "label_counts_indices": counts.indices.astype(np.int64),
        "label_counts_indptr": counts.indptr.astype(np.int64),
        "gold_mask": np.zeros((ann.n_items, ann.n_classes)) if mask is None else mask,
    }


def label_potential(
    ann: Annotations,
    log_pi: TensorVariable,
    log_rho: TensorVariable,
    per_subtype: bool = False,
    minibatch_items: int = 0,
) -> TensorVariable:
    """Add the marginal likelihood of every label to the current PyMC model, as a Potential.

    ``log_pi``: (cells, K, K) log confusion (annotators, or the `observed_cells`); ``log_rho``: (K,).
    The full-batch form reads the counts and gold mask from `pm.Data` (`likelihood_data`).
    ``minibatch_items > 0`` (for ADVI) evaluates a random batch of whole items per step —
    every label of an item together, never a subset of its labels — scaled by
    ``n_items / batch`` so the expected log-likelihood is unchanged.
    """
    import pymc as pm
    import pytensor.tensor as pt

    if not 0 < minibatch_items < ann.n_items:
        from pytensor import sparse as ps

        data = {name: pm.Data(name, value) for name, value in likelihood_data(ann, per_subtype).items()}
        n_columns = log_pi.shape[0] * log_pi.shape[2]
        indptr = data["label_counts_indptr"]
        counts = ps.CSR(
            data["label_counts_data"],
            data["label_counts_indices"],
            indptr,
            pt.stack([indptr.shape[0] - 1, n_columns]),
        )
        joint = item_class_loglik(counts, log_pi) + log_rho[None, :] + data["gold_mask"]
        return pm.Potential("labels", pt.logsumexp(joint, axis=-1).sum())

    mask = gold_log_mask(ann.gold, ann.n_classes)
    if per_subtype:
        cells, cell_annotator, _ = observed_cells(ann)
        n_cells = len(cell_annotator)
    else:
        cells, n_cells = label_cells(ann)
    k = ann.n_classes
    slots, present = padded_item_slots(ann.item_idx, cells * k + ann.label, ann.n_items)
    gold = np.zeros((ann.n_items, k)) if mask is None else np.maximum(mask, -1e30)
    slot_batch, present_batch, gold_batch = pm.Minibatch(
        slots, present.astype(float), gold, batch_size=int(minibatch_items)
    )
    weights = log_pi.transpose(0, 2, 1).reshape((n_cells * k, k))
    loglik = (weights[slot_batch] * present_batch[..., None]).sum(axis=1)
    joint = loglik + log_rho[None, :] + gold_batch
    scale = ann.n_items / minibatch_items
    return pm.Potential("labels", scale * pt.logsumexp(joint, axis=-1).sum())


def padded_item_slots(
    item_idx: np.ndarray, column: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """Items × (max labels per item) table of each label's column in the count matrix
    (``cell · K + label``), 0-padded, with a mask of the real entries."""
    order = np.argsort(item_idx, kind="stable")
    per_item = np.bincount(item_idx, minlength=n_items)
    first = np.concatenate([[0], np.cumsum(per_item)[:-1]])
    position = np.arange(len(order)) - first[item_idx[order]]
    width = max(1, int(per_item.max()))
    slots = np.zeros((n_items, width), dtype=np.int64)
    present = np.zeros((n_items, width), dtype=bool)
    slots[item_idx[order], position] = column[order]
    present[item_idx[order], position] = True
    return slots, present


def cell_count_matrix(
    item_idx: np.ndarray,
    cell_idx: np.ndarray,
    label: np.ndarray,
    n_items: int,
    n_cells: int,
    n_classes: int,
) -> sp.csr_matrix:
    """Sparse items × (cells·K) matrix of label counts, float64."""
    columns = np.asarray(cell_idx, dtype=np.int64) * n_classes + np.asarray(label, dtype=np.int64)
    counts = sp.coo_matrix(
        (np.ones(len(columns)), (np.asarray(item_idx, dtype=np.int64), columns)),
        shape=(n_items, n_cells * n_classes),
    ).tocsr()
    counts.sum_duplicates()
    return counts


def gold_log_mask(gold: np.ndarray, n_classes: int) -> np.ndarray | None:
    """Items × K: 0 for the gold class, −∞ for the others, 0 where gold is unknown (-1).

    None when no item has gold (nothing to add)."""
    gold = np.asarray(gold)
    if not (gold >= 0).any():
        return None
    mask = np.zeros((len(gold), n_classes))
    known = gold >= 0
    mask[known] = NEG_INF
    mask[np.flatnonzero(known), gold[known]] = 0.0
    return mask


def _is_symbolic(x: object) -> bool:
    return not isinstance(x, np.ndarray | np.generic | float | int)


def item_class_loglik(
    counts: sp.spmatrix, log_pi: np.ndarray | TensorVariable
) -> np.ndarray | TensorVariable:
    """``L[i, k] = Σ_{c,l} C[i, cK+l] log π[c, k, l]`` (items × K), NumPy or PyTensor.

    ``log_pi`` has shape (cells, K, K); for many posterior draws at once see
    `class_posterior_blocks`.
    """
    if _is_symbolic(log_pi):
        from pytensor import sparse as ps

        n_cells, k_true, k_label = log_pi.shape
        weights = log_pi.transpose(0, 2, 1).reshape((n_cells * k_label, k_true))
        if sp.issparse(counts):  # a constant matrix; a symbolic one (from pm.Data) is used as it is
            counts = ps.as_sparse_variable(counts)
        return ps.structured_dot(counts, weights)
    log_pi = np.asarray(log_pi)
    n_cells, k_true, k_label = log_pi.shape
    return np.asarray(counts @ log_pi.transpose(0, 2, 1).reshape(n_cells * k_label, k_true))


def joint_class_logp(
    counts: sp.spmatrix,
    log_pi: np.ndarray | TensorVariable,
    log_rho: np.ndarray | TensorVariable,
    mask: np.ndarray | None,
) -> np.ndarray | TensorVariable:
    """``log ρ_k + L_ik + m_ik``: unnormalised log posterior of each item's true class."""
    joint = item_class_loglik(counts, log_pi) + log_rho[None, :]
    if mask is not None:
        joint = joint + mask
    return joint


def marginal_loglik(
    counts: sp.spmatrix,
    log_pi: np.ndarray | TensorVariable,
    log_rho: np.ndarray | TensorVariable,
    mask: np.ndarray | None = None,
) -> float | TensorVariable:
    """``Σ_i logsumexp_k(log ρ_k + L_ik + m_ik)``: z marginalised out (scalar)."""
    joint = joint_class_logp(counts, log_pi, log_rho, mask)
    if _is_symbolic(joint):
        import pytensor.tensor as pt

        return pt.logsumexp(joint, axis=-1).sum()
    return logsumexp(joint, axis=-1).sum()


def class_posterior(
    counts: sp.spmatrix,
    log_pi: np.ndarray | TensorVariable,
    log_rho: np.ndarray | TensorVariable,
    mask: np.ndarray | None = None,
) -> np.ndarray | TensorVariable:
    """``P(z_i = k | π, ρ, y)``: softmax over classes of the joint (items × K, per draw)."""
    joint = joint_class_logp(counts, log_pi, log_rho, mask)
    if _is_symbolic(joint):
        import pytensor.tensor as pt

        return pt.special.softmax(joint, axis=-1)
    return softmax(joint, axis=-1)


def class_posterior_blocks(
    counts: sp.spmatrix,
    log_pi_draws: np.ndarray,
    log_rho_draws: np.ndarray,
    mask: np.ndarray | None = None,
    max_values: int = 20_000_000,
) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(items_slice, P)`` with ``P[s, i, k] = P(z_i = k | draw s)``, items in blocks.

    ``log_pi_draws`` is (draws, cells, K, K), ``log_rho_draws`` (draws, K). Blocks keep
    each ``P`` under ``max_values`` numbers; the draws × cells weights are stacked once.
    """
    draws, n_cells, k_true, k_label = log_pi_draws.shape
    weights = log_pi_draws.transpose(1, 3, 0, 2).reshape(n_cells * k_label, draws * k_true)
    n_items = counts.shape[0]
    block = max(1, max_values // (draws * k_true))
    for start in range(0, n_items, block):
        rows = slice(start, min(start + block, n_items))
        joint = np.asarray(counts[rows] @ weights).reshape(-1, draws, k_true).transpose(1, 0, 2)
        joint = joint + log_rho_draws[:, None, :]
        if mask is not None:
            joint = joint + mask[rows]
        yield rows, softmax(joint, axis=-1)
