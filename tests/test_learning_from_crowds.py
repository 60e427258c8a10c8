"""Learning from crowds (Raykar et al. 2010): each item's class prior is softmax(x_i W + b), read
through Dawid–Skene annotators on the shared likelihood. Its labels' log-probability is the
enumerated marginal with that per-item prior, without features it is Dawid–Skene, features are
validated like labels, and a fit predicts unlabelled items from their features (also after
save and load, and from the command line)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.special import log_softmax, logsumexp, softmax

import bayeslabels as bl
from bayeslabels.cli import main
from bayeslabels.errors import DataError, SpecError
from bayeslabels.models import family
from tests.test_generative import _graph_item_logp, _tiny

LFC = "learning-from-crowds"


def _zero_sum(x: np.ndarray) -> np.ndarray:
    return x - x.mean(axis=-1, keepdims=True)


def _features(ann: bl.Annotations, n_features: int = 2, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = [f"f{c}" for c in range(n_features)]
    return pd.DataFrame(rng.normal(size=(ann.n_items, n_features)), index=list(ann.items), columns=columns)


# --------------------------------------------------------------------------- the likelihood
def test_the_labels_logp_is_the_enumerated_marginal_under_each_items_classifier_prior():
    ann = _tiny(3, n_items=5, gold=True)
    frame = _features(ann)
    scaled = bl.features.item_features(frame, ann.items)
    rng = np.random.default_rng(1)
    weights, intercept = _zero_sum(rng.normal(size=(2, 3))), _zero_sum(rng.normal(size=3))
    confusion = rng.dirichlet(np.ones(3), size=(ann.n_annotators, 3))
    fixed_scale = bl.LearningFromCrowdsPriors(weight_scale_prior=0.0)  # W itself is free
    model = family(LFC).build(ann, priors=fixed_scale, features=scaled)
    graph = _graph_item_logp(model, {"weights": weights, "intercept": intercept, "confusion": confusion})

    log_prior = log_softmax(scaled.values @ weights + intercept, axis=-1)
    expected = []
    for i in range(ann.n_items):
        rows = ann.item_idx == i
        classes = [ann.gold[i]] if ann.gold[i] >= 0 else range(3)
        expected.append(
            logsumexp(
                [
                    log_prior[i, z] + np.log(confusion[ann.annotator_idx[rows], z, ann.label[rows]]).sum()
                    for z in classes
                ]
            )
        )
    np.testing.assert_allclose(graph, expected, rtol=1e-10)


@pytest.mark.parametrize("shrinkage", ["global", "horseshoe"])
def test_a_learned_weight_scale_is_non_centred_and_enters_the_labels_logp_as_its_weights(shrinkage):
    """W = τ · Z (global scale), or W_f· = τ λ̃_f Z_f· with λ̃_f² = c² λ_f² / (c² + τ² λ_f²)
    (regularised horseshoe): the sampler sees Z, and the labels' logp is the enumerated marginal
    under the classifier with those weights."""
    ann = _tiny(3, n_items=5)
    frame = _features(ann, n_features=4)
    scaled = bl.features.item_features(frame, ann.items)
    horseshoe = shrinkage == "horseshoe"
    priors = bl.LearningFromCrowdsPriors(weight_scale_prior=1.0, horseshoe_slab=2.0 if horseshoe else 0.0)
    model = family(LFC).build(ann, priors=priors, features=scaled)
    free = {rv.name for rv in model.free_RVs}
    assert "weights" not in free and model["weights"] in model.deterministics
    local = {"local_scale", "slab_scale_sq"} if horseshoe else set()
    assert free == {"intercept", "confusion", "weight_scale", "weights_standard"} | local

    rng = np.random.default_rng(4)
    tau, standard = 0.3, _zero_sum(rng.normal(size=(4, 3)))
    values = {
        "intercept": _zero_sum(rng.normal(size=3)),
        "confusion": rng.dirichlet(np.ones(3), size=(ann.n_annotators, 3)),
        "weight_scale": tau,
        "weights_standard": standard,
    }
    weights = tau * standard
    if horseshoe:
        lam, c2 = np.array([0.1, 1.0, 5.0, 50.0]), 4.0
        values |= {"local_scale": lam, "slab_scale_sq": c2}
        weights = tau * np.sqrt(c2 * lam**2 / (c2 + tau**2 * lam**2))[:, None] * standard
        assert np.abs(weights[-1]).max() < np.sqrt(c2) * np.abs(standard[-1]).max()  # the slab caps it
    log_prior = log_softmax(scaled.values @ weights + values["intercept"], axis=-1)
    confusion = values["confusion"]
    expected = [
        logsumexp(
            [
                log_prior[i, z] + np.log(confusion[ann.annotator_idx[rows], z, ann.label[rows]]).sum()
                for z in range(3)
            ]
        )
        for i in range(ann.n_items)
        for rows in [ann.item_idx == i]
    ]
    np.testing.assert_allclose(_graph_item_logp(model, values), expected, rtol=1e-10)


def test_a_horseshoe_needs_a_learned_global_scale():
    with pytest.raises(SpecError, match="weight_scale_prior > 0"):
        bl.LearningFromCrowdsPriors(weight_scale_prior=0.0, horseshoe_slab=2.0)


def test_without_features_the_labels_logp_is_dawid_skenes_at_the_same_point():
    ann = _tiny(4, n_items=6)
    rng = np.random.default_rng(2)
    prevalence = rng.dirichlet(np.ones(3))
    confusion = rng.dirichlet(np.ones(3), size=(ann.n_annotators, 3))
    dawid_skene = _graph_item_logp(
        family("dawid-skene").build(ann), {"prevalence": prevalence, "confusion": confusion}
    )
    intercept = _zero_sum(np.log(prevalence))  # softmax(b) = ρ
    no_features = family(LFC).build(ann)
    zero_columns = family(LFC).build(
        ann, features=bl.features.item_features(pd.DataFrame(index=list(ann.items)), ann.items)
    )
    for model in (no_features, zero_columns):
        assert "weights" not in model.named_vars
        lfc = _graph_item_logp(model, {"intercept": intercept, "confusion": confusion})
        np.testing.assert_allclose(lfc, dawid_skene, rtol=1e-10)


def test_forward_draws_follow_each_items_own_class_prior():
    """The graph's random draw (prior / posterior predictive) uses the per-item prior: items with
    opposite priors get opposite classes."""
    from bayeslabels.models._likelihood import sample_label_rows

    log_prior = np.log(np.array([[[0.99, 0.01], [0.01, 0.99]]]))  # one draw, two items
    confusion = np.eye(2)[None, None].repeat(1, axis=1)  # one perfect annotator
    labels = np.stack(
        [
            sample_label_rows(
                confusion, log_prior, np.array([0, 1]), np.array([0, 0]), 2, None, np.random.default_rng(s)
            )[0]
            for s in range(200)
        ]
    )
    assert labels[:, 0].mean() < 0.05 and labels[:, 1].mean() > 0.95


def test_a_compiled_model_is_reused_only_for_the_same_item_count():
    """The per-item class prior is sized by the items: nutpie's compiled graph cannot take data
    with another item count (unlike Dawid–Skene's, whose parameters do not grow with items)."""
    ann = _tiny(3, n_items=5)
    smaller = ann.subset(ann.items[:4]).drop_unlabelled()
    assert family(LFC).shape_key(ann) != family(LFC).shape_key(smaller)
    assert family("dawid-skene").shape_key(ann) == family("dawid-skene").shape_key(smaller)


# --------------------------------------------------------------------------- features in
@pytest.fixture(scope="module")
def sim() -> bl.simulate.SimulatedFamily:
    return bl.simulate.learning_from_crowds(n_items=160, n_annotators=6, n_features=3, weight_sd=3.0, seed=3)


def test_the_simulator_draws_classes_from_the_features():
    sim = bl.simulate.learning_from_crowds(n_items=2000, n_annotators=5, seed=0)
    prior = sim.parameters["class_prior"]
    np.testing.assert_allclose(
        prior,
        softmax(sim.features.to_numpy() @ sim.parameters["weights"] + sim.parameters["intercept"], axis=-1),
    )
    hit = prior[np.arange(len(prior)), sim.true_class]
    assert hit.mean() > 0.6  # classes follow the classifier, not a coin
    assert list(sim.features.index) == list(sim.annotations.items)


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (lambda f: pd.concat([f, f.iloc[:1]]), "more than one row"),
        (lambda f: f.drop(index=f.index[2]), "no feature row"),
        (lambda f: f.assign(x1=f["x1"].where(f.index != f.index[4])), "missing or infinite"),
        (lambda f: f.assign(colour="red"), "not numeric"),
        (lambda f: f.to_numpy()[:-1], "rows and there are"),
        (lambda f: f.to_numpy().ravel(), "must be 2-D"),
        (lambda f: f.to_dict(), "give a pandas DataFrame"),
    ],
    ids=["duplicate", "missing-item", "nan", "text-column", "array-rows", "1-d", "dict"],
)
def test_bad_features_are_refused_with_the_item_or_column_named(sim, features, message):
    with pytest.raises(DataError, match=message) as error:
        bl.fit(sim.annotations, model=LFC, features=features(sim.features), method="map")
    if message in ("no feature row", "missing or infinite"):
        bad = sim.features.index[2 if message == "no feature row" else 4]
        assert bad in str(error.value)
    if message == "not numeric":
        assert "colour" in str(error.value)


def test_features_for_a_model_without_a_classifier_are_refused(sim):
    with pytest.raises(DataError, match="does not use item features"):
        bl.fit(sim.annotations, model="dawid-skene", features=sim.features, method="em")


def test_arrays_and_sparse_matrices_are_aligned_by_the_given_item_order(sim):
    frame = sim.features
    shuffled = frame.sample(frac=1.0, random_state=0)
    from_frame = bl.features.item_features(frame, sim.annotations.items)
    from_array = bl.features.item_features(shuffled.to_numpy(), sim.annotations.items, list(shuffled.index))
    np.testing.assert_allclose(from_array.values, from_frame.values)
    assert from_array.names == ("x0", "x1", "x2")
    sparse = bl.features.item_features(
        sp.csr_matrix(shuffled.to_numpy()), sim.annotations.items, list(shuffled.index)
    )
    assert (sparse.mean == 0).all()  # sparse input is scaled, not centred
    # rows of items that are not fitted never enter the fit
    extra = pd.concat([frame, pd.DataFrame([[9.0, 9.0, 9.0]], index=["unlabelled"], columns=frame.columns)])
    np.testing.assert_allclose(bl.features.item_features(extra, sim.annotations.items).mean, from_frame.mean)


# --------------------------------------------------------------------------- a fit
@pytest.fixture(scope="module")
def lfc_fit(sim) -> bl.Fit:
    """Minibatch ADVI (batches of whole items with their features): the one compile of this file."""
    return bl.fit(
        sim.annotations,
        model=LFC,
        features=sim.features,
        method="advi",
        minibatch_items=64,
        draws=300,
        seed=0,
        quiet=True,
    )


def test_a_fit_gives_soft_labels_for_every_item_and_coefficients_by_feature(lfc_fit, sim):
    soft = lfc_fit.soft_labels()
    assert list(soft.items) == list(sim.annotations.items)
    accuracy = (soft.mean.argmax(axis=1) == sim.true_class).mean()
    em = bl.dawid_skene_em(sim.annotations).soft_labels()
    labels_only = (em.mean.argmax(axis=1) == sim.true_class).mean()
    assert accuracy > labels_only  # the features help (here 0.80 against EM's 0.756: 7 items)
    table = lfc_fit.coefficients(ci_prob=0.9)
    assert list(table.columns) == ["feature", "class", "weight", "weight_sd", "weight_lo", "weight_hi"]
    assert list(table["feature"].unique()) == ["(intercept)", "x0", "x1", "x2"]
    weights = table[table["feature"] != "(intercept)"].set_index(["feature", "class"])["weight"].unstack()
    true = sim.parameters["weights"]
    assert np.corrcoef(weights.to_numpy().ravel(), true.ravel())[0, 1] > 0.9  # signs and sizes recovered
    assert (table["weight_lo"] <= table["weight"]).all() and (table["weight"] <= table["weight_hi"]).all()
    assert len(lfc_fit.annotators()) == sim.annotations.n_annotators


def test_predict_items_gives_the_classifier_from_features_alone(lfc_fit, sim):
    new = sim.features.iloc[::-1].head(20).rename(index=lambda item: f"new-{item}")
    predicted = lfc_fit.predict_items(new, ci_prob=0.8)
    assert list(predicted.items) == list(new.index)
    assert (predicted.n_labels == 0).all() and predicted.ci_prob == 0.8
    assert np.all(predicted.lower < predicted.mean) and np.all(predicted.mean < predicted.upper)
    intercept, weights = lfc_fit.draws("intercept"), lfc_fit.draws("weights")
    scaled = (new.to_numpy() - lfc_fit.features.mean) / lfc_fit.features.sd
    expected = softmax(np.einsum("if,sfk->sik", scaled, weights) + intercept[:, None], axis=-1).mean(axis=0)
    np.testing.assert_allclose(predicted.mean, expected)
    # columns are matched by name, and every fitted one is needed
    np.testing.assert_allclose(lfc_fit.predict_items(new[["x2", "x0", "x1"]]).mean, predicted.mean)
    with pytest.raises(DataError, match=r"lack the fitted column\(s\) \['x1'\]"):
        lfc_fit.predict_items(new.drop(columns="x1"))
    with pytest.raises(DataError, match="missing or infinite"):
        lfc_fit.predict_items(new.assign(x0=np.nan))


@pytest.mark.slow  # compiles PyMC's forward sampler (~35 s on a loaded 2-core machine)
def test_the_graph_runs_forwards_with_each_items_class_prior(lfc_fit, sim):
    """Prior predictive draws through the observed labels' random draw (per-item prior), with the
    observed design."""
    draws = lfc_fit.prior_predictive(draws=4)["prior_predictive"]["labels"]
    table = np.asarray(draws)[0]
    observed = np.asarray(lfc_fit.model["label_table"].get_value())
    assert table.shape == (4, *observed.shape)
    assert ((table >= 0) == (observed >= 0)).all()


def test_prediction_needs_a_fit_with_features(sim):
    fit = bl.fit(sim.annotations, method="em")
    with pytest.raises(DataError, match="needs a fit with item features"):
        fit.predict_items(sim.features)


def test_a_saved_fit_predicts_after_loading_and_from_the_command_line(lfc_fit, sim, tmp_path):
    lfc_fit.save(tmp_path / "fit")
    loaded = bl.load(tmp_path / "fit")
    assert loaded.features.names == lfc_fit.features.names
    new = sim.features.head(7)
    np.testing.assert_allclose(loaded.predict_items(new).mean, lfc_fit.predict_items(new).mean)
    np.testing.assert_allclose(loaded.soft_labels().mean, lfc_fit.soft_labels().mean)

    new.rename_axis("item").reset_index().to_csv(tmp_path / "new.csv", index=False)
    code = main(
        [
            "predict",
            str(tmp_path / "fit"),
            "--features",
            str(tmp_path / "new.csv"),
            "--out",
            str(tmp_path / "pred.parquet"),
            "--allow-failed-check",
        ]
    )
    assert code == 0
    written = pd.read_parquet(tmp_path / "pred.parquet")
    assert list(written["item"]) == list(new.index)
    np.testing.assert_allclose(written["p_1"], lfc_fit.predict_items(new).mean[:, 1])
    assert bl.read_provenance(tmp_path / "pred.parquet")["predicted_from"] == "features"


def test_the_command_line_refuses_features_without_an_item_column(sim, tmp_path, capsys):
    sim.features.reset_index(drop=True).to_csv(tmp_path / "features.csv", index=False)
    pd.DataFrame({"item": ["a", "a"], "annotator": ["b", "c"], "label": ["0", "1"]}).to_csv(
        tmp_path / "l.csv", index=False
    )
    code = main(
        ["fit", str(tmp_path / "l.csv"), "--model", LFC, "--features", str(tmp_path / "features.csv")]
    )
    assert code == 2
    assert "no 'item' column" in capsys.readouterr().err


# --------------------------------------------------------------------------- recovery
@pytest.mark.slow
def test_nuts_recovers_the_weights_and_the_confusion_at_their_nominal_coverage():
    """90 % intervals of W and of the confusion entries cover the truth at about 90 % (pooled over
    three simulated data sets); items with 1–2 labels are classified better than by Dawid–Skene."""
    covered_w, covered_pi, better = [], [], []
    started = time.perf_counter()
    for seed in range(3):
        sim = bl.simulate.learning_from_crowds(
            n_items=400, n_annotators=10, n_features=5, labels_per_item=(1, 4), seed=seed
        )
        fit = bl.fit(
            sim.annotations,
            model=LFC,
            features=sim.features,
            draws=500,
            tune=500,
            chains=2,
            seed=seed,
            quiet=True,
        )
        w, pi = fit.draws("weights"), fit.draws("confusion")
        lo, hi = np.quantile(w, [0.05, 0.95], axis=0)
        covered_w.append(((lo <= sim.parameters["weights"]) & (sim.parameters["weights"] <= hi))[:, 1])
        lo, hi = np.quantile(pi, [0.05, 0.95], axis=0)
        truth = sim.parameters["confusion"]
        covered_pi.append(((lo <= truth) & (truth <= hi))[..., 1].ravel())  # one free entry per row
        few = sim.annotations.labels_per_item <= 2
        ds = bl.fit(
            sim.annotations, model="dawid-skene", draws=500, tune=500, chains=2, seed=seed, quiet=True
        )
        accuracy = [(f.soft_labels().mean.argmax(1) == sim.true_class)[few].mean() for f in (fit, ds)]
        better.append(accuracy[0] - accuracy[1])
    coverage_w, coverage_pi = np.concatenate(covered_w).mean(), np.concatenate(covered_pi).mean()
    seconds = time.perf_counter() - started
    print(f"coverage W {coverage_w:.2f}, confusion {coverage_pi:.2f}, gain {better}, {seconds:.0f} s")
    assert 0.7 <= coverage_w <= 1.0 and 0.8 <= coverage_pi <= 0.98
    assert np.mean(better) > 0.02
