"""The item-difficulty family (logistic random effects): an item effect χ_k θ_i, shared by every
label of item i, shifts the annotators' logits under true class k. Its observed ``labels`` give
per item the class-marginal likelihood (checked against enumeration through the graph that is
sampled), its NumPy twins agree, it runs forwards with the right frequencies, and with χ = 0 it
is Dawid–Skene with confusion softmax(β)."""

from __future__ import annotations

from dataclasses import replace

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy.special import log_softmax, logsumexp, softmax
from test_generative import _enumerated_item_loglik, _graph_item_logp, _tiny

import bayeslabels as bl
from bayeslabels.models import family
from bayeslabels.models._likelihood import gold_log_mask
from bayeslabels.models.item_difficulty import (
    INTEGRATION_SAMPLES,
    difficulty_labels_random,
    joint_class_blocks,
    sample_difficulty_rows,
)

FAMILY = family("item-difficulty")


def _zero_sum(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    for axis in axes:
        x = x - x.mean(axis=axis, keepdims=True)
    return x


def _parameters(ann: bl.Annotations, seed: int, scale: float = 0.8) -> dict[str, np.ndarray]:
    """Values of the free variables (non-centred annotator offsets: few labels per annotator)."""
    rng = np.random.default_rng(seed)
    k, j, i = ann.n_classes, ann.n_annotators, ann.n_items
    return {
        "prevalence": rng.dirichlet(np.ones(k)),
        "mu_offset": _zero_sum(rng.normal(size=(k, k)), (-1,)),
        "sigma": np.abs(rng.normal(size=k)) + 0.5,
        "eta": _zero_sum(rng.normal(size=(k, j, k)), (-1, -2)),
        "difficulty_scale": np.abs(rng.normal(size=k)) + scale,
        "difficulty": _zero_sum(rng.normal(size=(i, k, k)), (-1,)),  # one per (item, true class)
    }


def _logits(values: dict[str, np.ndarray]) -> np.ndarray:
    """β (annotators, K, K) from the free variables, as the graph builds it."""
    k = len(values["prevalence"])
    mu = bl.ItemDifficultyPriors().diag_logit * np.eye(k) + values["mu_offset"]
    return mu[None] + (values["sigma"][:, None, None] * values["eta"]).transpose(1, 0, 2)


def _enumerated(ann: bl.Annotations, values: dict[str, np.ndarray]) -> np.ndarray:
    """log p(y_i) per item, summing over the item's true class explicitly (gold: its class)."""
    beta, rho = _logits(values), values["prevalence"]
    scale, effect = values["difficulty_scale"], values["difficulty"]
    out = np.empty(ann.n_items)
    for i in range(ann.n_items):
        rows = np.flatnonzero(ann.item_idx == i)
        classes = [ann.gold[i]] if ann.gold[i] >= 0 else range(len(rho))
        terms = []
        for z in classes:
            probs = log_softmax(beta[ann.annotator_idx[rows], z] - scale[z] * effect[i, z], axis=-1)
            terms.append(np.log(rho[z]) + probs[np.arange(len(rows)), ann.label[rows]].sum())
        out[i] = logsumexp(terms)
    return out


def _draws(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One posterior draw as the hooks read it (with the stored ``confusion``)."""
    one = {name: np.asarray(v)[None] for name, v in values.items()}
    one["confusion"] = softmax(_logits(values), axis=-1)[None]
    return one


@pytest.mark.parametrize("with_gold", [False, True])
def test_the_per_item_logp_is_the_enumerated_marginal_and_the_numpy_twin_agrees(with_gold):
    ann = _tiny(3, gold=with_gold)
    values = _parameters(ann, seed=1)
    model = FAMILY.build(ann)
    assert model["labels"] in model.observed_RVs and not model.potentials

    expected = _enumerated(ann, values)
    np.testing.assert_allclose(_graph_item_logp(model, values), expected, atol=1e-10)
    draws = _draws(values)
    [(rows, numpy_value)] = list(FAMILY.item_loglik_blocks(ann, draws.__getitem__, True))
    np.testing.assert_allclose(numpy_value[0], expected, atol=1e-10)
    # the soft label is the class posterior of the same terms; gold pins its item
    [(rows, probabilities)] = list(FAMILY.item_probability_blocks(ann, draws.__getitem__, True, 0))
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0)
    if with_gold:
        assert probabilities[0, 0, 2] == pytest.approx(1.0)


def test_without_item_effect_the_model_is_dawid_skene_with_confusion_softmax_beta():
    ann = _tiny(4, n_items=5)
    values = {**_parameters(ann, seed=2), "difficulty_scale": np.zeros(3)}  # θ ≠ 0, χ = 0
    graph = _graph_item_logp(FAMILY.build(ann), values)
    confusion = softmax(_logits(values), axis=-1)
    dawid_skene = _enumerated_item_loglik(ann, confusion, values["prevalence"])
    np.testing.assert_allclose(graph, dawid_skene, atol=1e-10)
    # and a non-zero effect changes it
    values["difficulty_scale"] = np.ones(3)
    assert not np.allclose(_enumerated(ann, values), dawid_skene)


def test_loo_reads_the_log_likelihood_with_the_item_effect_integrated_over_its_prior():
    ann = _tiny(4, n_items=5)
    values = _parameters(ann, seed=2)
    # no effect scale: nothing to integrate, the integrated log-likelihood is Dawid–Skene's
    flat = _draws({**values, "difficulty_scale": np.zeros(3)})
    [(_, integrated)] = list(FAMILY.loo_loglik_blocks(ann, flat.__getitem__, False))
    dawid_skene = _enumerated_item_loglik(ann, flat["confusion"][0], values["prevalence"])
    np.testing.assert_allclose(integrated[0], dawid_skene, atol=1e-10)
    # with a scale: the Monte Carlo mean over effects drawn from the prior, item by item
    draws = _draws(values)
    [(_, integrated)] = list(FAMILY.loo_loglik_blocks(ann, draws.__getitem__, False))
    rng = np.random.default_rng(5)
    effects = rng.normal(size=(4000, 3))
    effects -= effects.mean(axis=1, keepdims=True)
    reference = logsumexp(
        [
            _enumerated(ann, {**values, "difficulty": np.broadcast_to(e, values["difficulty"].shape)})
            for e in effects
        ],
        axis=0,
    ) - np.log(len(effects))
    np.testing.assert_allclose(integrated[0], reference, atol=0.3)  # 64 Monte Carlo samples


@pytest.mark.parametrize("used_gold", [False, True])
def test_the_integrated_log_likelihood_equals_its_label_by_label_evaluation(used_gold):
    """The per-annotator count product gives what summing every label row of every item under
    each shared effect sample gives (`joint_class_blocks`), for several draws and with gold."""
    ann = _tiny(3, n_items=7, gold=True)
    stacked = [_draws(_parameters(ann, seed=s)) for s in range(4)]
    draws = {name: np.concatenate([d[name] for d in stacked]) for name in stacked[0]}
    [(_, integrated)] = list(FAMILY.loo_loglik_blocks(ann, draws.__getitem__, used_gold))
    samples = np.random.default_rng(0).normal(size=(INTEGRATION_SAMPLES, 3))
    samples -= samples.mean(axis=1, keepdims=True)
    per_sample = []
    for eta in samples:
        shared = {**draws, "difficulty": np.broadcast_to(eta, (4, ann.n_items, 3))}
        [(_, joint)] = list(joint_class_blocks(ann, shared.__getitem__, used_gold))
        per_sample.append(joint)
    with np.errstate(invalid="ignore"):
        reference = logsumexp(logsumexp(per_sample, axis=0) - np.log(INTEGRATION_SAMPLES), axis=-1)
    assert integrated.shape == (4, ann.n_items) and np.isfinite(integrated).all()
    np.testing.assert_allclose(integrated, reference, rtol=1e-12, atol=1e-10)


def test_forward_simulation_draws_labels_with_the_model_frequencies():
    rng = np.random.default_rng(0)
    logits = np.array([[[1.5, -1.5], [-1.0, 1.0]], [[0.5, -0.5], [-2.0, 2.0]]])  # 2 annotators
    prevalence, scale = np.array([0.3, 0.7]), np.array([0.5, 1.5])
    n_items = 40_000
    # half the items pushed toward label 1 (θ = (−1, 1)), half toward label 0
    effect = np.where(np.arange(n_items)[:, None] % 2 == 0, [-1.0, 1.0], [1.0, -1.0])
    item_idx = np.repeat(np.arange(n_items), 2)
    cells = np.tile([0, 1], n_items)
    labels = sample_difficulty_rows(
        logits[None], np.log(prevalence)[None], scale[None], effect[None], item_idx, cells, None, rng
    )[0]
    for j in range(2):
        for push in (0, 1):
            # P(label = 1 | annotator j, θ) = Σ_k ρ_k softmax(β_jk − χ_k θ)[1]
            theta = effect[push]
            expected = sum(prevalence[k] * softmax(logits[j, k] - scale[k] * theta)[1] for k in range(2))
            chosen = (cells == j) & (item_idx % 2 == push)
            assert labels[chosen].mean() == pytest.approx(expected, abs=0.012)
    # the two labels of an item share its class and its effect
    first, second = labels[0::2], labels[1::2]
    both = sum(
        0.5
        * prevalence[k]
        * softmax(logits[0, k] - scale[k] * effect[push])[1]
        * softmax(logits[1, k] - scale[k] * effect[push])[1]
        for k in range(2)
        for push in (0, 1)
    )
    assert (first & second).mean() == pytest.approx(both, abs=0.012)


def test_the_random_table_has_the_design_of_the_cells_and_gold_fixes_the_class():
    cells = np.array([[0, 1, -1], [1, -1, -1], [0, 1, 0]])
    gold = gold_log_mask(np.array([1, 1, 1]), 2)
    logits = np.array([[[9.0, -9.0], [-9.0, 9.0]], [[9.0, -9.0], [-9.0, 9.0]]])  # near perfect
    table = difficulty_labels_random(
        logits, np.log([0.5, 0.5]), np.zeros(2), np.zeros((3, 2)), cells, gold, rng=np.random.default_rng(0)
    )
    np.testing.assert_array_equal(table >= 0, cells >= 0)
    assert (table[cells >= 0] == 1).all()


def _simulate(
    n_items: int, n_annotators: int, k: int, per_item: int, scale: float, seed: int
) -> tuple[bl.Annotations, np.ndarray]:
    """Labels drawn from the model (the family's forward code), with the true classes as gold."""
    rng = np.random.default_rng(seed)
    logits = _zero_sum(2.0 * np.eye(k) + rng.normal(0, 0.8, (n_annotators, k, k)), (-1,))
    effect = _zero_sum(rng.normal(size=(n_items, k)), (-1,))
    truth = rng.choice(k, size=n_items, p=rng.dirichlet(np.full(k, 5.0)))
    annotators = rng.random((n_items, n_annotators)).argsort(axis=1)[:, :per_item].ravel()
    item_idx = np.repeat(np.arange(n_items), per_item)
    labels = sample_difficulty_rows(
        logits[None],
        np.zeros((1, k)),
        np.full((1, k), scale),
        effect[None],
        item_idx,
        annotators,
        gold_log_mask(truth, k),
        rng,
    )[0]
    items = np.array([f"i{i:04d}" for i in range(n_items)])
    frame = pd.DataFrame(
        {"item": items[item_idx], "annotator": [f"a{a:02d}" for a in annotators], "label": labels.astype(str)}
    )
    gold = dict(zip(items, truth.astype(str), strict=True))
    ann = bl.Annotations.from_frame(frame, gold=gold, classes=[str(c) for c in range(k)])
    order = np.asarray([int(name[1:]) for name in ann.items])
    return ann, truth[order]


@pytest.fixture(scope="module")
def difficult_sim() -> tuple[bl.Annotations, np.ndarray]:
    """120 items, 8 annotators, K = 3, 4 labels per item, item effects of scale 1."""
    return _simulate(120, 8, 3, 4, scale=1.0, seed=11)


@pytest.fixture(scope="module")
def map_fit(difficult_sim) -> bl.Fit:
    """A MAP fit: the API, not accuracy — the joint mode over the per-item effects overfits
    (χ grows until every item explains its own labels; see the module docstring)."""
    ann, _ = difficult_sim
    return bl.fit(ann, model="item-difficulty", method="map", use_gold=False, seed=0)


def without_gold(ann: bl.Annotations) -> bl.Annotations:
    return replace(ann, gold=np.full(ann.n_items, -1))


def test_the_fit_reports_annotators_replicates_and_predicts_new_items(difficult_sim, map_fit):
    ann, _ = difficult_sim
    reliability = map_fit.annotators()
    assert len(reliability) == ann.n_annotators and reliability["accuracy"].between(0, 1).all()
    replicated = map_fit.replicated_labels(draws=4, seed=1)
    assert replicated.shape == (4, len(ann.label)) and replicated.max() < ann.n_classes
    loglik = map_fit.log_likelihood()["labels"]
    assert loglik.shape == (1, 1, ann.n_items) and np.isfinite(loglik).all()
    # new items have no fitted effect: they are scored at zero effect through the confusion
    few = bl.Annotations.from_frame(
        pd.DataFrame({"item": ["n1", "n1"], "annotator": ["a00", "a01"], "label": ["2", "2"]}),
        classes=list(ann.classes),
    )
    predicted = map_fit.predict(few)
    assert predicted.mean.shape == (1, 3) and predicted.mean[0].argmax() == 2


def test_nuts_smoke_soft_labels_check_and_loo():
    ann, _ = _simulate(60, 6, 2, 3, scale=1.0, seed=3)
    fit = bl.fit(
        ann, model="item-difficulty", draws=200, tune=200, chains=2, seed=1, use_gold=False, quiet=True
    )
    soft = fit.soft_labels()
    assert soft.mean.shape == (60, 2) and np.allclose(soft.mean.sum(axis=1), 1.0)
    assert (soft.lower <= soft.mean + 1e-12).all() and (soft.mean <= soft.upper + 1e-12).all()
    report = fit.check()
    assert report.verdict
    # NUTS sampled the pseudo-prior copies; the fit holds the family's own effects
    assert "difficulty_standard" not in fit.posterior["posterior"]
    assert fit.posterior["posterior"]["difficulty"].shape[2:] == (60, 2, 2)
    loo = az.loo(fit.posterior)
    assert np.isfinite(loo.elpd) and loo.n_data_points == 60


@pytest.mark.slow
def test_nuts_recovers_the_classes_and_the_effect_scale_from_simulated_data():
    ann, truth = _simulate(400, 12, 2, 5, scale=1.5, seed=21)
    fit = bl.fit(ann, model="item-difficulty", seed=0, use_gold=False, quiet=True)  # shipped settings
    accuracy = (fit.soft_labels().mean.argmax(axis=1) == truth).mean()
    em_accuracy = (bl.dawid_skene_em(without_gold(ann)).label == truth).mean()
    assert fit.check().ok
    assert accuracy >= em_accuracy and accuracy > 0.8  # 0.848 (EM 0.828) at seed 0
    scale = fit.draws("difficulty_scale")  # draws × K; truth 1.5 for both classes
    low, high = np.quantile(scale, [0.02, 0.98], axis=0)
    assert (low < 1.5).all() and (1.5 < high).all()


# ------------------------------------------------------------------- pseudo-priors (NUTS)


def _sampled(ann: bl.Annotations):
    priors = bl.ItemDifficultyPriors()
    em = bl.dawid_skene_em(ann)
    return FAMILY.nuts_model(ann, priors, em, FAMILY.start(em, ann, priors))


def _class_terms(ann: bl.Annotations, values: dict[str, np.ndarray], effect: np.ndarray) -> np.ndarray:
    """(items, K): log ρ_z + Σ_{r∈i} log softmax(β_{j_r z} − χ_z θ_iz)[y_r], class by class."""
    beta, rho, scale = _logits(values), values["prevalence"], values["difficulty_scale"]
    out = np.empty((ann.n_items, len(rho)))
    for i in range(ann.n_items):
        rows = np.flatnonzero(ann.item_idx == i)
        for z in range(len(rho)):
            probs = log_softmax(beta[ann.annotator_idx[rows], z] - scale[z] * effect[i, z], axis=-1)
            out[i, z] = np.log(rho[z]) + probs[np.arange(len(rows)), ann.label[rows]].sum()
    return out


def test_nuts_samples_the_copies_standardised_by_pseudo_priors_fitted_where_each_class_puts_them():
    ann = _tiny(5, n_items=6)
    sampled = _sampled(ann)
    centre = sampled.data["pseudo_centre"]
    sd = sampled.data["pseudo_sd"]
    assert centre.shape == (6, 3, 3) and sd.shape == (6, 3)
    np.testing.assert_allclose(centre.sum(axis=-1), 0.0, atol=1e-12)  # zero-sum, as the effects
    assert (sd > 0).all() and (sd <= 1).all() and (sd < 1).any()  # labels narrow the copies
    assert np.abs(centre).max() > 0.05  # away from the prior's 0 where the labels disagree with a class
    assert "difficulty_standard" in {rv.name for rv in sampled.model.free_RVs}
    assert "difficulty" not in sampled.model.named_vars
    np.testing.assert_array_equal(sampled.start["difficulty_standard"], np.zeros((6, 3, 3)))


def test_the_sampled_graph_is_the_class_sum_with_the_prior_to_pseudo_prior_ratio():
    ann = _tiny(6, n_items=5)
    sampled = _sampled(ann)
    centre, sd = sampled.data["pseudo_centre"], sampled.data["pseudo_sd"]
    values = _parameters(ann, seed=4)
    standard = values.pop("difficulty")  # a zero-sum draw, now of the standardised copies
    effect = centre + sd[..., None] * standard
    ratio = 2 * np.log(sd) - 0.5 * (effect**2).sum(-1) + 0.5 * (standard**2).sum(-1)  # K − 1 = 2
    expected = logsumexp(_class_terms(ann, values, effect) + ratio, axis=-1)
    graph = _graph_item_logp(sampled.model, {**values, "difficulty_standard": standard})
    np.testing.assert_allclose(graph, expected, atol=1e-10)
    # centre 0, sd 1: the ratio vanishes and the graph is the family's own
    plain = FAMILY.build(ann)
    np.testing.assert_allclose(
        _graph_item_logp(plain, {**values, "difficulty": standard}),
        logsumexp(_class_terms(ann, values, standard), axis=-1),
        atol=1e-10,
    )


@pytest.mark.parametrize("where", ["fitted", "far"])
def test_pseudo_priors_leave_each_class_s_marginal_likelihood_unchanged(where):
    """Carlin & Chib: with the ratio, integrating a copy over its standardised value gives the
    class's term integrated over the effect's prior — brute force on a grid, K = 3 (two
    zero-sum dimensions), for every item and class: at the fitted pseudo-priors, and at ones far
    from both the prior and the copy's posterior (any pseudo-prior is exact)."""
    from bayeslabels.models.item_difficulty import pseudo_prior_log_ratio

    ann = _tiny(7, n_items=4)
    sampled = _sampled(ann)
    centre, sd = sampled.data["pseudo_centre"], sampled.data["pseudo_sd"]
    if where == "far":
        shift = _zero_sum(np.random.default_rng(1).normal(0, 1.5, centre.shape), (-1,))
        centre, sd = centre + shift, np.full_like(sd, 0.5)
    values = _parameters(ann, seed=5, scale=1.5)
    basis = np.linalg.qr(np.c_[np.ones(3), np.eye(3)[:, :2]])[0][:, 1:]  # orthonormal, zero-sum
    grid = np.linspace(-16, 16, 641)
    t = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    weight = np.exp(-0.5 * (t**2).sum(-1)) / (2 * np.pi) * (grid[1] - grid[0]) ** 2  # N(0, I₂) dt
    u = t @ basis.T  # points × 3, ZeroSumNormal(1) coordinates
    beta, rho, scale = _logits(values), values["prevalence"], values["difficulty_scale"]
    for i in range(ann.n_items):
        rows = np.flatnonzero(ann.item_idx == i)
        for z in range(3):

            def term(effect: np.ndarray, z: int = z, rows: np.ndarray = rows) -> np.ndarray:
                """Class z's term of item i at each point's effect θ_iz (points × 3)."""
                shifted = beta[ann.annotator_idx[rows], z][None] - scale[z] * effect[:, None, :]
                picked = log_softmax(shifted, axis=-1)[:, np.arange(len(rows)), ann.label[rows]]
                return np.log(rho[z]) + picked.sum(axis=-1)

            prior_side = logsumexp(term(u) + np.log(weight))
            theta = centre[i, z] + sd[i, z] * u
            ratio = pseudo_prior_log_ratio(theta, u, sd[i, z], 3)
            pseudo_side = logsumexp(term(theta) + ratio + np.log(weight))
            assert pseudo_side == pytest.approx(prior_side, abs=1e-6)


def test_the_way_back_keeps_the_copy_of_the_item_s_class_and_redraws_the_others_from_the_prior():
    import xarray as xr

    from bayeslabels.models.item_difficulty import from_pseudo_priors

    # item 0: eight labels of class 0 by good annotators, so P(z = 0) ≈ 1 in every draw
    frame = pd.DataFrame(
        {
            "item": ["i0"] * 8 + ["i1"] * 2,
            "annotator": [f"a{j}" for j in range(8)] + ["a0", "a1"],
            "label": ["0"] * 8 + ["1", "2"],
        }
    )
    ann = bl.Annotations.from_frame(frame, classes=["0", "1", "2"])
    sampled = _sampled(ann)
    centre, sd = sampled.data["pseudo_centre"], sampled.data["pseudo_sd"]
    rng = np.random.default_rng(0)
    chains, draws = 2, 3000
    standard = rng.normal(size=(chains, draws, 2, 3, 3))
    standard -= standard.mean(axis=-1, keepdims=True)
    confusion = np.broadcast_to(0.9 * np.eye(3) + 0.05 * (1 - np.eye(3)), (chains, draws, 8, 3, 3))
    posterior = xr.Dataset(
        {
            "difficulty_standard": (("chain", "draw", "item", "true_class", "label_class"), standard),
            "confusion": (("chain", "draw", "annotator", "true_class", "label_class"), confusion),
            "prevalence": (("chain", "draw", "true_class"), np.full((chains, draws, 3), 1 / 3)),
            "difficulty_scale": (("chain", "draw", "true_class"), np.full((chains, draws, 3), 0.5)),
        },
        coords={"item": list(ann.items), "true_class": ["0", "1", "2"], "label_class": ["0", "1", "2"]},
    )
    tree = xr.DataTree.from_dict(
        {"posterior": posterior, "sample_stats": xr.Dataset({"x": ("chain", [0, 1])})}
    )
    back = from_pseudo_priors(tree, ann, centre, sd, used_gold=False, seed=3)
    assert "difficulty_standard" not in back["posterior"] and set(back.children) == {
        "posterior",
        "sample_stats",
    }
    effect = back["posterior"]["difficulty"]
    assert effect.dims == ("chain", "draw", "item", "true_class", "label_class")
    kept = centre[0, 0] + sd[0, 0] * standard[:, :, 0, 0]
    np.testing.assert_allclose(effect.values[:, :, 0, 0], kept)  # the class-0 copy of item 0, as sampled
    others = effect.values[:, :, 0, 1:].reshape(-1, 3)  # its other copies: fresh ZeroSumNormal(1)
    np.testing.assert_allclose(others.sum(axis=-1), 0.0, atol=1e-12)
    assert np.abs(others.mean(axis=0)).max() < 0.06
    np.testing.assert_allclose(others.var(axis=0), 2 / 3, rtol=0.06)
    assert not np.allclose(others, (centre[0, 1:] + sd[0, 1:, None] * standard[:, :, 0, 1:]).reshape(-1, 3))
    # seeded: the same draws give the same posterior
    again = from_pseudo_priors(tree, ann, centre, sd, used_gold=False, seed=3)
    np.testing.assert_array_equal(again["posterior"]["difficulty"].values, effect.values)
