"""The shared marginal likelihood equals brute-force enumeration over every assignment of
true classes, in NumPy and in the PyTensor graph the models sample."""

from __future__ import annotations

import itertools

import numpy as np
import pytensor.tensor as pt
import pytest
from scipy.special import logsumexp

from bayeslabels.models._likelihood import (
    cell_count_matrix,
    class_posterior,
    class_posterior_blocks,
    filled_rows,
    gold_log_mask,
    label_structure,
    logsumexp_last,
    marginal_loglik,
    per_item_sum,
    softmax_last_inplace,
)


def _tiny_problem(seed: int, n_items: int, n_classes: int, n_annotators: int = 3):
    rng = np.random.default_rng(seed)
    rows = [(i, j) for i in range(n_items) for j in range(n_annotators) if rng.random() < 0.7]
    rows += [(i, 0) for i in range(n_items)]  # every item labelled, one pair repeated
    item_idx = np.array([r[0] for r in rows])
    annotator_idx = np.array([r[1] for r in rows])
    label = rng.integers(0, n_classes, size=len(rows))
    confusion = rng.dirichlet(np.ones(n_classes), size=(n_annotators, n_classes))
    prevalence = rng.dirichlet(np.ones(n_classes))
    return item_idx, annotator_idx, label, confusion, prevalence


def _brute_force(item_idx, annotator_idx, label, confusion, prevalence, n_items, gold):
    k = len(prevalence)
    totals = []
    for z in itertools.product(range(k), repeat=n_items):
        z = np.array(z)
        if np.any((gold >= 0) & (z != gold)):
            continue
        logp = np.log(prevalence[z]).sum() + np.log(confusion[annotator_idx, z[item_idx], label]).sum()
        totals.append(logp)
    return logsumexp(totals)


@pytest.mark.parametrize("n_items", [1, 4, 6])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("with_gold", [False, True])
def test_marginal_likelihood_equals_brute_force_enumeration(n_items, n_classes, with_gold):
    item_idx, annotator_idx, label, confusion, prevalence = _tiny_problem(
        n_items * 10 + n_classes, n_items, n_classes
    )
    gold = np.full(n_items, -1)
    if with_gold:
        gold[0] = n_classes - 1
        if n_items > 2:
            gold[2] = 0
    counts = cell_count_matrix(item_idx, annotator_idx, label, n_items, confusion.shape[0], n_classes)
    mask = gold_log_mask(gold, n_classes)
    expected = _brute_force(item_idx, annotator_idx, label, confusion, prevalence, n_items, gold)

    numpy_value = marginal_loglik(counts, np.log(confusion), np.log(prevalence), mask)
    graph_value = marginal_loglik(
        counts, pt.as_tensor(np.log(confusion)), pt.as_tensor(np.log(prevalence)), mask
    ).eval()

    assert numpy_value == pytest.approx(expected, abs=1e-10, rel=0)
    assert float(graph_value) == pytest.approx(expected, abs=1e-10, rel=0)


def test_class_posterior_is_the_enumerated_marginal_of_each_item():
    n_items, k = 4, 3
    item_idx, annotator_idx, label, confusion, prevalence = _tiny_problem(3, n_items, k)
    counts = cell_count_matrix(item_idx, annotator_idx, label, n_items, confusion.shape[0], k)
    posterior = class_posterior(counts, np.log(confusion), np.log(prevalence))
    joint = {}
    for z in itertools.product(range(k), repeat=n_items):
        z = np.array(z)
        joint[tuple(z)] = np.exp(
            np.log(prevalence[z]).sum() + np.log(confusion[annotator_idx, z[item_idx], label]).sum()
        )
    total = sum(joint.values())
    for i in range(n_items):
        for c in range(k):
            marginal = sum(p for z, p in joint.items() if z[i] == c) / total
            assert posterior[i, c] == pytest.approx(marginal, abs=1e-12)


def test_gold_items_put_all_posterior_mass_on_their_gold_class():
    item_idx, annotator_idx, label, confusion, prevalence = _tiny_problem(5, 5, 3)
    gold = np.array([2, -1, 0, -1, -1])
    counts = cell_count_matrix(item_idx, annotator_idx, label, 5, 3, 3)
    posterior = class_posterior(counts, np.log(confusion), np.log(prevalence), gold_log_mask(gold, 3))
    np.testing.assert_allclose(posterior[[0, 2]], np.eye(3)[[2, 0]])
    np.testing.assert_allclose(posterior.sum(axis=1), 1.0)


def test_blockwise_posterior_draws_equal_the_per_draw_posterior():
    n_items, k, draws = 6, 3, 7
    item_idx, annotator_idx, label, _, _ = _tiny_problem(11, n_items, k)
    rng = np.random.default_rng(0)
    confusion = rng.dirichlet(np.ones(k), size=(draws, 3, k))
    prevalence = rng.dirichlet(np.ones(k), size=draws)
    counts = cell_count_matrix(item_idx, annotator_idx, label, n_items, 3, k)
    blocks = list(
        class_posterior_blocks(counts, np.log(confusion), np.log(prevalence), max_values=2 * draws * k)
    )
    assert len(blocks) == 3  # two items per block
    stacked = np.concatenate([probs for _, probs in blocks], axis=1)
    for s in range(draws):
        expected = class_posterior(counts, np.log(confusion[s]), np.log(prevalence[s]))
        np.testing.assert_allclose(stacked[s], expected, atol=1e-12)


def test_blocks_with_per_item_priors_and_gold_equal_the_per_draw_posterior_and_keep_draws_contiguous():
    n_items, k, draws = 5, 3, 4
    item_idx, annotator_idx, label, _, _ = _tiny_problem(12, n_items, k)
    rng = np.random.default_rng(1)
    confusion = rng.dirichlet(np.ones(k), size=(draws, 3, k))
    item_prior = rng.dirichlet(np.ones(k), size=(draws, n_items))  # learning from crowds' kind
    mask = gold_log_mask(np.array([-1, 2, -1, 0, -1]), k)
    counts = cell_count_matrix(item_idx, annotator_idx, label, n_items, 3, k)
    blocks = list(
        class_posterior_blocks(counts, np.log(confusion), np.log(item_prior), mask, max_values=2 * draws * k)
    )
    for _, probs in blocks:  # each scalar's draws are one contiguous row (what the summaries sort)
        assert np.moveaxis(probs, 0, -1).flags.c_contiguous
    stacked = np.concatenate([probs for _, probs in blocks], axis=1)
    for s in range(draws):
        expected = class_posterior(counts, np.log(confusion[s]), np.log(item_prior[s]), mask)
        np.testing.assert_allclose(stacked[s], expected, atol=1e-12)
    assert stacked[:, 1, 2].tolist() == [1.0] * draws  # gold fixes the class in every draw


def test_in_place_softmax_of_a_transposed_view_is_scipys_softmax_bit_for_bit():
    from scipy.special import softmax

    rng = np.random.default_rng(3)
    memory = rng.normal(scale=20, size=(50, 3, 40))  # items × K × draws, as the blocks are laid out
    memory[0, 1, :] = -np.inf  # a class ruled out
    view = memory.transpose(2, 0, 1)  # draws × items × K
    expected = softmax(view, axis=-1)
    assert softmax_last_inplace(view) is view
    assert np.array_equal(memory.transpose(2, 0, 1), expected)


def test_class_by_class_logsumexp_equals_scipys_including_ruled_out_classes_and_nan():
    rng = np.random.default_rng(4)
    values = rng.normal(scale=50, size=(30, 20, 4))
    values[0, 0] = -np.inf  # every class ruled out
    values[1, 1, :2] = -np.inf  # some
    values[2, 2, 3] = np.nan
    view = np.ascontiguousarray(values.transpose(1, 2, 0)).transpose(2, 0, 1)  # draws-last memory
    expected = logsumexp(values, axis=-1)
    for array in (values, view):
        got = logsumexp_last(array)
        assert np.isneginf(got[0, 0]) and np.isnan(got[2, 2])
        np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)


def test_per_label_terms_summed_per_item_equal_the_padded_table_summed_over_its_width():
    """`filled_rows` reads a ragged table label by label (padding never touched) and
    `per_item_sum` adds each item's terms back up: the same as summing the masked table, items
    with no label get 0, and the gradient reaches every label's term once."""
    cells = np.array([[2, 0, -1, -1], [1, -1, -1, -1], [-1, -1, -1, -1], [0, 1, 2, 1]])
    value = np.where(cells >= 0, np.array([[1, 0, 0, 0], [2, 0, 0, 0], [0, 0, 0, 0], [0, 2, 1, 1]]), -1)
    slots = label_structure(cells, 3)[0]
    row_item, row_cell, row_label = (
        x.eval() for x in filled_rows(pt.as_tensor(value), pt.as_tensor(cells), slots)
    )
    np.testing.assert_array_equal(row_item, [0, 0, 1, 3, 3, 3, 3])
    np.testing.assert_array_equal(row_cell, cells[cells >= 0])
    np.testing.assert_array_equal(row_label, value[cells >= 0])

    weights = pt.matrix("weights")  # (cell, label) → a term per label, as a likelihood gathers it
    terms = weights[row_cell, row_label][:, None] * pt.as_tensor([1.0, -2.0])  # rows, 2
    summed = per_item_sum(terms, row_item, cells.shape[0])
    w = np.random.default_rng(0).normal(size=(3, 3))
    padded = np.where(cells >= 0, w[np.maximum(cells, 0), np.maximum(value, 0)], 0.0).sum(axis=1)
    np.testing.assert_allclose(summed.eval({weights: w}), padded[:, None] * [1.0, -2.0])
    grad = pt.grad(summed[:, 0].sum(), weights).eval({weights: w})
    np.testing.assert_array_equal(grad, np.bincount(row_cell * 3 + row_label, minlength=9).reshape(3, 3))
