"""`Family`: everything the rest of the package asks of a model family, in one value.

A family module (``models/<family>.py``) builds its PyMC graph and declares a `Family` with
`register`; the fit, the comparisons and routing ask the family, never which one it is.
What a family may declare beyond the builder:

- ``priors`` — its priors dataclass (`bayeslabels.priors`), which its spec's ``[priors]`` fill;
- ``start`` — sampler start values from the Dawid–Skene EM solution; ``steady_start`` the
  free variables every NUTS chain starts at exactly those values (the others are jittered by
  U(−1, 1) on the unconstrained scale, so chains still start apart): population parameters a
  jitter of which moves every annotator or class at once, far enough to reach another mode;
- ``em_variant`` — the EM variant whose solution is the start, and ``em_point_estimate``
  whether ``method="em"`` *is* a fit of this family;
- ``ordered_only`` — the family needs ordered classes (``Annotations.ordered``, a rating scale);
- ``cells`` — who owns a confusion matrix in the likelihood: ``"annotator"``,
  ``"annotator-subtype"`` (the observed (annotator, subtype) cells) or ``None`` (no
  confusion matrices: the soft label comes from ``item_probabilities``);
- ``class_prior`` — the posterior variable holding each draw's class prior: ``prevalence``
  (K,) shared by the items, or one per item, (items, K) (learning from crowds' classifier);
  ``takes_features`` whether the builder takes item features (``features=``, an `ItemFeatures`);
  ``numpyro_faster`` whether NUTS runs faster through NumPyro than nutpie (``sampler="auto"``);
  ``numba_faster`` whether nutpie's numba backend repays its compile over a long run (a
  parameter per item: the gradient dominates; `inference.nutpie_backend`);
- ``gold_in_likelihood`` — whether gold fixes items' class in the likelihood (False for a
  family without a latent class: its fits are never anchored by gold);
- ``nuts_model`` — a model NUTS samples in place of the family's own graph, another
  parameterisation of the same posterior, with the way back to the family's variables
  (`SampledModel`; item-difficulty's pseudo-priors);
- hooks that read posterior draws (``draws(name) → (draws, ...)``): ``item_probabilities``,
  ``item_interval`` (the exact interval of an item quantity with a closed-form conditional
  posterior), ``confusion``, ``reliability``, ``after_relabel``, and for a family off the shared
  likelihood its per-item log-likelihood (``item_loglik``) and its forward simulation
  (``replicate``), the NumPy twins of its graph's observed ``labels``.

Defaults cover a family with one confusion matrix per annotator stored as ``confusion``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import scipy.sparse as sp

from ..errors import DataError, SpecError
from ._likelihood import (
    annotation_counts,
    class_posterior_blocks,
    gold_log_mask,
    item_loglik_blocks,
    likelihood_data,
    observed_cells,
    sample_label_rows,
)

if TYPE_CHECKING:
    import pymc as pm
    import xarray as xr

    from ..aggregate import EMResult
    from ..data import Annotations

Draws = Callable[[str], np.ndarray]
ItemBlocks = Iterator[tuple[slice, np.ndarray]]
Replicate = Callable[["Annotations", Draws, bool, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class SampledModel:
    """A model NUTS samples in place of a family's own graph: another parameterisation of the
    same posterior (item-difficulty's pseudo-priors), its start values and `pm.Data` by name
    (compiled-model re-use), and ``to_posterior(tree, used_gold, seed)``, which turns its draws
    into draws of the family's own variables — what the fit, its check and its outputs read."""

    model: pm.Model
    start: dict[str, np.ndarray]
    data: dict[str, np.ndarray]
    to_posterior: Callable[[xr.DataTree, bool, int], xr.DataTree]


CLASS_POSTERIOR_MEANING = "P(true class = c | all labels), the latent class posterior (mean over draws)"


def confusion_reliability(confusion: np.ndarray, prevalence: np.ndarray) -> dict[str, np.ndarray]:
    """Reliability draws of confusion matrices ``confusion`` (draws, ..., K, K) under prevalence
    (draws, K), each (draws, ...): ``accuracy = Σ_k ρ_k π_kk``; for K = 2 also ``sensitivity =
    π_11`` and ``specificity = π_00`` (second class positive)."""
    diagonal = np.einsum("...kk->...k", confusion)
    rho = prevalence.reshape(prevalence.shape[0], *([1] * (confusion.ndim - 3)), prevalence.shape[1])
    quantities = {"accuracy": (diagonal * rho).sum(axis=-1)}
    if confusion.shape[-1] == 2:
        quantities["sensitivity"] = diagonal[..., 1]
        quantities["specificity"] = diagonal[..., 0]
    return quantities


@dataclass(frozen=True)
class Family:
    """A registered model family (see the module docstring for what each field means)."""

    name: str
    priors: type
    build: Callable[..., pm.Model]
    start: Callable[[EMResult, Annotations, Any], dict[str, np.ndarray]]
    summary: str = ""
    steady_start: tuple[str, ...] = ()
    em_variant: Literal["class-conditional", "one-coin"] = "class-conditional"
    em_point_estimate: bool = False
    cells: Literal["annotator", "annotator-subtype"] | None = "annotator"
    binary_only: bool = False
    ordered_only: bool = False
    soft_label_meaning: str = CLASS_POSTERIOR_MEANING
    gold_in_likelihood: bool = True
    # hooks on posterior draws; None: the confusion-matrix default
    item_probabilities: Callable[[Annotations, Draws, bool, int], ItemBlocks] | None = None
    item_interval: Callable[[Annotations, Draws, float], tuple[np.ndarray, np.ndarray]] | None = None
    dense_confusion: Callable[[Annotations, Draws], np.ndarray] | None = None
    annotator_reliability: Callable[[Annotations, Draws], dict[str, np.ndarray]] | None = None
    after_relabel: Callable[[xr.Dataset], xr.Dataset] | None = None
    unseen_annotator: Callable[[Draws], np.ndarray] | None = None
    data: Callable[[Annotations], dict[str, np.ndarray]] | None = None
    shape: Callable[[Annotations], tuple] | None = None
    item_loglik: Callable[[Annotations, Draws, bool], ItemBlocks] | None = None
    loo_loglik: Callable[[Annotations, Draws, bool], ItemBlocks] | None = None
    replicate: Replicate | None = None
    # the posterior variable holding each draw's class prior: shared (draws, K) or per item
    # (draws, items, K); and whether the builder takes item features (``features=``)
    class_prior: str = "prevalence"
    takes_features: bool = False
    # NUTS through NumPyro (the whole trajectory one XLA program) measured faster than nutpie
    # on the family's gradient: ``sampler="auto"`` takes it (`inference.nuts_sampler`)
    numpyro_faster: bool = False
    # nutpie's numba gradient measured enough cheaper than JAX's to repay numba's compile over a
    # run of `inference.NUMBA_MIN_ITERATIONS` iterations (`inference.nutpie_backend`)
    numba_faster: bool = False
    # the model NUTS samples in place of ``build``'s, with the way back to this family's own
    # posterior (`SampledModel`): (annotations, priors, EM solution, start) → SampledModel
    nuts_model: Callable[[Annotations, Any, EMResult, dict[str, np.ndarray]], SampledModel] | None = None

    # ------------------------------------------------------------------ data side
    @property
    def per_subtype(self) -> bool:
        """Reliability per (annotator, subtype) cell."""
        return self.cells == "annotator-subtype"

    @property
    def has_confusion(self) -> bool:
        return self.cells is not None

    def model_data(self, ann: Annotations) -> dict[str, np.ndarray]:
        """What the full-batch model reads from `pm.Data`, by name: everything that changes
        when the same-shaped model is fitted to new labels."""
        if self.data is not None:
            return self.data(ann)
        data = likelihood_data(ann, self.per_subtype)
        if self.per_subtype:
            _, data["cell_annotator"], data["cell_subtype"] = observed_cells(ann)
        return data

    def shape_key(self, ann: Annotations, priors: Any = None) -> tuple:
        """The sizes the compiled model is fixed to (its parameters' shapes), and for priors
        that choose the model's structure from the data (``data_choices``: centred offsets, free
        class positions) those choices."""
        if self.shape is not None:
            key: tuple = self.shape(ann)
        elif self.per_subtype:
            key = (ann.n_annotators, ann.n_classes, len(ann.subtypes), len(observed_cells(ann)[1]))
        else:
            key = (ann.n_annotators, ann.n_classes, 0)
        if priors is not None and hasattr(priors, "data_choices"):
            key = (*key, priors.data_choices(ann.labels_per_annotator, ann.n_items, ann.n_classes))
        return key

    def validate(self, ann: Annotations) -> None:
        """A DataError when the data cannot be fitted by this family."""
        if self.per_subtype:
            if not ann.has_subtypes:
                raise DataError(
                    f"model {self.name!r} needs a subtype per item, and these data have none: add a "
                    "'subtype' column (or name yours with subtype=...), or use model='hierarchical'"
                )
            missing = ann.subtype < 0
            if missing.any():
                raise DataError(
                    f"model {self.name!r} needs a subtype for every item; {int(missing.sum())} items have "
                    f"none (e.g. {list(ann.items[missing][:3])}): fill them in, or use model='hierarchical'"
                )
        if self.ordered_only and not ann.ordered:
            raise DataError(
                f"model {self.name!r} needs ordered classes (a rating scale), and these are unordered "
                f"({list(ann.classes)}): load the labels with ordered=True and classes=[...] lowest first "
                "(command line: --ordered --classes A,B,...), or use model='dawid-skene'"
            )
        if self.binary_only and ann.n_classes != 2:
            raise DataError(
                f"model {self.name!r} needs exactly two classes, the data have {ann.n_classes} "
                f"({list(ann.classes)}): use model='dawid-skene' or 'hierarchical'"
            )

    # ------------------------------------------------------------------ draws side
    def item_probability_blocks(
        self,
        ann: Annotations,
        draws: Draws,
        used_gold: bool,
        seed: int,
        cell_confusion: np.ndarray | None = None,
    ) -> ItemBlocks:
        """``(rows, P[draw, item, class])`` in blocks of items: the class posterior of each item
        given each draw, by the shared likelihood (or the family's own hook). ``cell_confusion``
        (draws, cells of ``ann``, K, K) replaces the fitted cells' (`cells_for` new labels):
        then a family with confusion matrices scores by them, its own hook (which reads the
        fitted items' draws) only the fitted items."""
        if self.item_probabilities is not None and cell_confusion is None:
            return self.item_probabilities(ann, draws, used_gold, seed)
        counts = annotation_counts(ann, self.per_subtype)
        mask = gold_log_mask(ann.gold, ann.n_classes) if used_gold else None
        with np.errstate(divide="ignore"):
            log_pi = self._cell_log_confusion(draws) if cell_confusion is None else np.log(cell_confusion)
            # new items (cell_confusion given) have no fitted per-item prior: the population's
            log_rho = self.log_class_prior(draws) if cell_confusion is None else np.log(draws("prevalence"))
        return class_posterior_blocks(counts, log_pi, log_rho, mask)

    def log_class_prior(self, draws: Draws) -> np.ndarray:
        """Log class-prior draws of the fitted items: (draws, K) shared, or (draws, items, K)
        for a family with a prior per item (``class_prior``)."""
        with np.errstate(divide="ignore"):
            return np.log(draws(self.class_prior))

    def exact_interval(
        self, ann: Annotations, draws: Draws, ci_prob: float
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(lower, upper), items × K: the equal-tailed ``ci_prob`` interval of the item quantity
        from its closed-form conditional posterior mixed over the draws (``item_interval``), or
        None for a family whose interval is the spread of `item_probability_blocks` over draws.
        Such a family's point estimate (MAP) still has an interval."""
        if self.item_interval is None:
            return None
        return self.item_interval(ann, draws, ci_prob)

    def _cell_log_confusion(self, draws: Draws) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(draws("cell_confusion" if self.per_subtype else "confusion"))

    def row_cells(self, ann: Annotations) -> np.ndarray:
        """The likelihood's cell of each label row: its annotator, or its observed
        (annotator, subtype) cell."""
        return observed_cells(ann)[0] if self.per_subtype else ann.annotator_idx

    def item_loglik_blocks(self, ann: Annotations, draws: Draws, used_gold: bool) -> ItemBlocks:
        """``(rows, ℓ[draw, item])`` in blocks of items: ``log p(y_i | draw)``, every label of
        item i jointly (class summed out) — what the graph's observed ``labels`` gives per item,
        computed in NumPy from the draws (no compile)."""
        if self.item_loglik is not None:
            return self.item_loglik(ann, draws, used_gold)
        counts = annotation_counts(ann, self.per_subtype)
        mask = gold_log_mask(ann.gold, ann.n_classes) if used_gold else None
        return item_loglik_blocks(counts, self._cell_log_confusion(draws), self.log_class_prior(draws), mask)

    def loo_loglik_blocks(self, ann: Annotations, draws: Draws, used_gold: bool) -> ItemBlocks:
        """The per-item log-likelihood LOO reads: `item_loglik_blocks`, or for a family with
        parameters of each item (``loo_loglik``) those integrated over their population, so
        that leaving an item out is what PSIS can estimate ("integrated LOO")."""
        if self.loo_loglik is not None:
            return self.loo_loglik(ann, draws, used_gold)
        return self.item_loglik_blocks(ann, draws, used_gold)

    @overload
    def replicated_labels(
        self,
        ann: Annotations,
        draws: Draws,
        used_gold: bool,
        rng: np.random.Generator,
        return_classes: Literal[False] = False,
    ) -> np.ndarray: ...

    @overload
    def replicated_labels(
        self,
        ann: Annotations,
        draws: Draws,
        used_gold: bool,
        rng: np.random.Generator,
        return_classes: Literal[True],
    ) -> tuple[np.ndarray, np.ndarray | None]: ...

    def replicated_labels(
        self,
        ann: Annotations,
        draws: Draws,
        used_gold: bool,
        rng: np.random.Generator,
        return_classes: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray | None]:
        """(draws, rows) label codes simulated forwards from each draw with the observed
        design (the same (item, annotator) rows): a fresh true class per item (fixed by gold
        when the fit used it), then each label through its cell's confusion — the generative
        code of the graph's ``labels`` (`_likelihood.sample_label_rows`). With
        ``return_classes`` also the true classes drawn, (draws, items), or None for a family
        with its own forward simulation (``replicate``: no latent class)."""
        if self.replicate is not None:
            labels = self.replicate(ann, draws, used_gold, rng)
            return (labels, None) if return_classes else labels
        mask = gold_log_mask(ann.gold, ann.n_classes) if used_gold else None
        confusion = draws("cell_confusion" if self.per_subtype else "confusion")
        log_rho = self.log_class_prior(draws)
        cells = self.row_cells(ann)
        block = max(1, 20_000_000 // max(1, len(cells) * ann.n_classes))
        pieces = [
            sample_label_rows(
                confusion[start : start + block],
                log_rho[start : start + block],
                ann.item_idx,
                cells,
                ann.n_items,
                mask,
                rng,
                return_classes=True,
            )
            for start in range(0, len(confusion), block)
        ]
        labels = np.concatenate([piece[0] for piece in pieces])
        if not return_classes:
            return labels
        return labels, np.concatenate([piece[1] for piece in pieces])

    def cells_for(self, fitted: Annotations, draws: Draws, new: Annotations) -> np.ndarray | None:
        """Confusion draws (draws, cells of ``new``, K, K) for labels ``new`` coded with the
        fitted code books, where annotator codes ≥ the fitted count are annotators the fit has
        not seen: they label like the family's unseen annotator (the population for the
        hierarchical families, the average fitted annotator otherwise). None for a family
        without confusion matrices (its item probabilities need no cells)."""
        if not self.has_confusion:
            return None
        dense = self.confusion(fitted, draws)  # draws, J, [S,] K, K
        unseen = (
            self.unseen_annotator(draws) if self.unseen_annotator is not None else dense.mean(axis=1)
        )  # draws, [S,] K, K
        if self.per_subtype:
            _, annotator, subtype = observed_cells(new)
            known = annotator < fitted.n_annotators
            cells = unseen[:, subtype]
            cells[:, known] = dense[:, annotator[known], subtype[known]]
            return cells
        n_unseen = new.n_annotators - fitted.n_annotators
        return np.concatenate([dense, np.repeat(unseen[:, None], n_unseen, axis=1)], axis=1)

    def _need_confusion(self, what: str) -> None:
        if not self.has_confusion:
            raise DataError(
                f"{what} needs annotator confusion matrices, and model {self.name!r} has none: "
                "fit model='dawid-skene' or 'hierarchical'"
            )

    def confusion(self, ann: Annotations, draws: Draws) -> np.ndarray:
        """Confusion draws, (draws, annotators, K, K), or (draws, annotators, subtypes, K, K)
        for a per-subtype family."""
        self._need_confusion("confusion")
        if self.dense_confusion is not None:
            return self.dense_confusion(ann, draws)
        return draws("confusion")

    def annotator_confusion(self, ann: Annotations, draws: Draws) -> np.ndarray:
        """Confusion draws per annotator, (draws, annotators, K, K). Per-subtype families are
        averaged over subtypes, weighted by where each annotator's labels fell.

        That average reads the fitted cells only (``cell_confusion``, (draws, C, K, K)): every
        label lies in one, so the J × S dense confusion (2.6 MB a draw at 800 annotators × 100
        subtypes, gigabytes over a posterior) is built only for an annotator without labels,
        who gets the plain mean over subtypes of its population confusion."""
        if not self.per_subtype:
            return self.confusion(ann, draws)
        _, cell_annotator, cell_subtype = observed_cells(ann)
        in_cell = labels_per_cell(ann)[cell_annotator, cell_subtype]
        per_annotator = np.bincount(cell_annotator, in_cell, minlength=ann.n_annotators)
        n_cells = len(cell_annotator)
        weights = sp.csr_matrix(
            (in_cell / per_annotator[cell_annotator], (cell_annotator, np.arange(n_cells))),
            shape=(ann.n_annotators, n_cells),
        )
        cells = draws("cell_confusion")  # draws, C, K, K
        k = cells.shape[-1]
        averaged = weights @ cells.transpose(1, 0, 2, 3).reshape(n_cells, -1)  # J × (draws·K·K)
        confusion = np.ascontiguousarray(averaged.reshape(ann.n_annotators, -1, k, k).transpose(1, 0, 2, 3))
        unlabelled = np.flatnonzero(per_annotator == 0)
        if len(unlabelled):
            confusion[:, unlabelled] = self.confusion(ann, draws)[:, unlabelled].mean(axis=2)
        return confusion

    def subtype_confusion(self, ann: Annotations, draws: Draws, what: str = "this") -> np.ndarray:
        """(draws, annotators, subtypes, K, K); a DataError for a family without subtypes."""
        if not self.per_subtype:
            raise DataError(
                f"{what} needs a per-subtype fit; this one is {self.name!r}: "
                "fit with model='hierarchical-subtype' (data with a subtype column)"
            )
        return self.confusion(ann, draws)

    def item_confusion(self, ann: Annotations, confusion: np.ndarray, items: np.ndarray) -> np.ndarray:
        """(items, annotators, K, K): the confusion each annotator would label each of ``items``
        with, from a (posterior-mean) ``confusion`` as `confusion` returns it without draws."""
        if self.per_subtype:
            return confusion[:, ann.subtype[items]].transpose(1, 0, 2, 3)
        return np.broadcast_to(confusion, (len(items), *confusion.shape))

    def reliability(self, ann: Annotations, draws: Draws) -> dict[str, np.ndarray]:
        """Per-annotator reliability draws by name, each (draws, annotators)."""
        if self.annotator_reliability is not None:
            return self.annotator_reliability(ann, draws)
        return confusion_reliability(self.annotator_confusion(ann, draws), draws("prevalence"))

    def em_tree_values(self, em: EMResult) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
        """The variables of a ``method="em"`` point estimate of this family."""
        if not self.em_point_estimate:
            raise SpecError(
                f"method 'em' fits Dawid–Skene only; for model {self.name!r} use nuts, advi or map"
            )
        return {
            "prevalence": (("true_class",), em.prevalence),
            "confusion": (("annotator", "true_class", "label_class"), em.confusion),
        }


def labels_per_cell(ann: Annotations) -> np.ndarray:
    """Annotators × subtypes label counts."""
    n_subtypes = max(len(ann.subtypes), 1)
    cells = ann.annotator_idx * n_subtypes + np.maximum(ann.subtype[ann.item_idx], 0)
    return np.bincount(cells, minlength=ann.n_annotators * n_subtypes).reshape(ann.n_annotators, n_subtypes)
