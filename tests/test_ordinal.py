"""Ordinal labels (a rating scale): each annotator perceives the true class shifted by a bias
and blurred by a noise, cut into the ordered classes by shared cut-points (ordered logit). Its
graph is the shared marginal likelihood under those banded confusion matrices (checked
against brute-force enumeration); the data layer keeps the class order; the outputs and the
gold metrics know it; fits recover who is harsh, lenient and noisy."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy.special import expit, logsumexp
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

import bayeslabels as bl
from bayeslabels import inference
from bayeslabels.errors import DataError, SpecError
from bayeslabels.models import family
from bayeslabels.models.ordinal import ordinal_log_confusion
from tests._graphs import interpreted
from tests.test_generative import _graph_item_logp, _tiny


def _brute_confusion(
    bias: float,
    noise: float,
    cutpoints: np.ndarray,
    positions: np.ndarray | None = None,
    class_noise: np.ndarray | None = None,
) -> np.ndarray:
    """π[k, l] = F((c_{l+1} − m_k − b)/(σ s_k)) − F((c_l − m_k − b)/(σ s_k)), c_0 = −∞,
    c_K = +∞, m_k = k and s_k = 1 unless given, by hand."""
    k = len(cutpoints) + 1
    m = np.arange(k) if positions is None else positions
    s = np.ones(k) if class_noise is None else class_noise
    edges = np.r_[-np.inf, cutpoints, np.inf]
    return np.array(
        [
            [
                expit((edges[y + 1] - m[z] - bias) / (noise * s[z]))
                - expit((edges[y] - m[z] - bias) / (noise * s[z]))
                for y in range(k)
            ]
            for z in range(k)
        ]
    )


def test_the_confusion_is_the_ordered_logit_cut_into_classes_and_banded():
    bias, noise, cutpoints = np.array([-0.6, 0.0, 0.9]), np.array([0.3, 0.7, 1.5]), np.array([0.4, 1.6, 2.5])
    confusion = np.exp(ordinal_log_confusion(bias, noise, cutpoints, 4))
    expected = np.stack([_brute_confusion(b, s, cutpoints) for b, s in zip(bias, noise, strict=True)])
    np.testing.assert_allclose(confusion, expected, atol=1e-12)
    np.testing.assert_allclose(confusion.sum(axis=-1), 1.0)
    # banded: from the true class outwards the probability falls (unbiased annotator)
    row = confusion[1, 1]
    assert row[1] > row[0] and row[1] > row[2] > row[3]
    # a harsh annotator says lower classes more often than a lenient one
    assert confusion[0, 2, :2].sum() > confusion[2, 2, :2].sum()
    # far off the diagonal the log stays finite (no log 0) for a very precise annotator
    sharp = ordinal_log_confusion(np.array([0.0]), np.array([0.01]), cutpoints, 4)
    assert np.isfinite(sharp).all() and sharp[0, 0, 3] < -100


def test_the_per_item_log_likelihood_is_the_enumerated_ordinal_marginal():
    ann = replace(_tiny(3, n_items=5, k=3), ordered=True)
    rng = np.random.default_rng(0)
    j = ann.n_annotators
    rho = rng.dirichlet(np.ones(3))
    mu_bias, bias_scale, bias_offset = 0.2, 0.5, rng.normal(size=j)
    mu_log_noise, noise_scale, noise_offset = np.log(0.6), 0.3, rng.normal(size=j)
    cutpoints = np.array([0.3, 1.7])  # mean 1 = (K − 1)/2: the re-centring leaves them as they are
    gaps = np.array([0.3, 0.7])  # the middle class sits at 2 × 0.3 = 0.6, nearer the lowest
    model = family("ordinal").build(ann, bl.OrdinalPriors(class_shape_min_items=0))
    graph = _graph_item_logp(
        model,
        {
            "prevalence": rho,
            "mu_bias": np.asarray(mu_bias),
            "bias_scale": np.asarray(bias_scale),
            "bias_offset": bias_offset,
            "mu_log_noise": np.asarray(mu_log_noise),
            "noise_scale": np.asarray(noise_scale),
            "noise_offset": noise_offset,
            "cutpoints_raw": cutpoints,
            "class_gaps": gaps,
            "class_log_noise": np.array([-0.3, 0.5, -0.2]),  # sums to zero
        },
    )
    bias = mu_bias + bias_scale * bias_offset
    noise = np.exp(mu_log_noise + noise_scale * noise_offset)
    positions, class_noise = np.array([0.0, 0.6, 2.0]), np.exp([-0.3, 0.5, -0.2])
    confusion = [
        _brute_confusion(b, s, cutpoints, positions, class_noise) for b, s in zip(bias, noise, strict=True)
    ]
    expected = [
        logsumexp(
            [
                np.log(rho[z])
                + sum(
                    np.log(confusion[a][z, y])
                    for a, y in zip(
                        ann.annotator_idx[ann.item_idx == i], ann.label[ann.item_idx == i], strict=True
                    )
                )
                for z in range(3)
            ]
        )
        for i in range(ann.n_items)
    ]
    np.testing.assert_allclose(graph, expected, atol=1e-10)


def test_a_small_table_gets_the_classic_model_and_a_large_one_the_free_class_shape():
    ann = replace(_tiny(1, n_items=5, k=4), ordered=True)
    shape = {"class_gaps", "class_log_noise"}

    def free(priors: bl.OrdinalPriors) -> set[str]:
        return {v.name for v in family("ordinal").build(ann, priors).free_RVs} & shape

    assert free(bl.OrdinalPriors()) == set()  # 5 items < class_shape_min_items = 200
    assert free(bl.OrdinalPriors(class_shape_min_items=5)) == shape
    assert free(bl.OrdinalPriors(class_shape_min_items=5, class_noise_sd=0)) == {"class_gaps"}
    # the choice is part of a compiled model's shape: a re-fit never crosses it
    keys = {family("ordinal").shape_key(ann, bl.OrdinalPriors(class_shape_min_items=m)) for m in (5, 6)}
    assert len(keys) == 2


def test_the_graph_has_two_parameters_per_annotator_and_shared_cutpoints_and_class_scale():
    ann = replace(_tiny(1, n_items=5, k=4), ordered=True)
    model = family("ordinal").build(ann, bl.OrdinalPriors(class_shape_min_items=0))
    per_annotator = {v.name for v in model.free_RVs if model.named_vars_to_dims.get(v.name) == ("annotator",)}
    assert per_annotator == {"bias_offset", "noise_offset"}
    assert model.named_vars_to_dims["cutpoints"] == ("cutpoint",)
    assert list(model.coords["cutpoint"]) == ["0|1", "1|2", "2|3"]
    with interpreted():
        cutpoints, positions, class_noise = pm.draw(
            [model["cutpoints"], model["class_position"], model["class_noise"]], draws=50, random_seed=1
        )
    assert (np.diff(cutpoints, axis=1) > 0).all()  # ordered
    np.testing.assert_allclose(cutpoints.mean(axis=1), 1.5)  # centred on the middle of the scale
    # the true classes' positions: ends fixed (the scale's unit), the two interior ones free;
    # their noise multipliers: log sums to zero (σ_j stays the annotator's typical noise)
    assert model.named_vars_to_dims["class_gaps"] == ("class_gap",)
    np.testing.assert_allclose(positions[:, [0, 3]], [[0.0, 3.0]] * 50)
    assert (np.diff(positions, axis=1) > 0).all() and positions[:, 1].std() > 0.1
    np.testing.assert_allclose(np.log(class_noise).sum(axis=1), 0.0, atol=1e-9)
    classic = family("ordinal").build(ann, bl.OrdinalPriors(class_spacing=0, class_noise_sd=0))
    assert not {"class_gaps", "class_log_noise"} & set(classic.named_vars)
    with interpreted():
        fixed = pm.draw([classic["class_position"], classic["class_noise"]])
    np.testing.assert_allclose(np.stack(fixed), [[0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0]])


def test_every_chain_starts_the_scale_at_the_em_solution_and_the_annotators_apart():
    """nutpie's start (`inference._flat_start`): the population location and the scale's shape
    (`Family.steady_start`) exactly at the EM start in every chain, the annotators' offsets and
    the population spreads jittered (a jitter of one class's log noise by ±1 sent an adult_content
    chain into a mode with R and X exchanged)."""
    ann = replace(_tiny(2, n_items=5, k=4), ordered=True)
    priors = bl.OrdinalPriors(class_shape_min_items=0)
    ordinal = family("ordinal")
    model = ordinal.build(ann, priors)
    names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    assert set(ordinal.steady_start) <= set(model.named_vars)  # every name a variable of the model
    point = model.initial_point()
    sizes = [np.asarray(point[name]).size for name in names]
    start = inference._flat_start(
        model,
        SimpleNamespace(n_dim=sum(sizes)),
        ordinal.start(bl.dawid_skene_em(ann), ann, priors),
        ordinal.steady_start,
    )
    chains = [dict(zip(names, np.split(start(seed), np.cumsum(sizes)[:-1]), strict=True)) for seed in (1, 2)]
    steady = {model.rvs_to_values[model[name]].name for name in ordinal.steady_start}
    assert steady and steady < set(names)
    for name in names:
        same = np.allclose(chains[0][name], chains[1][name])
        assert same == (name in steady), name


# ------------------------------------------------------------------ ordered classes in the data


def _frame(labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"item": ["a", "a", "b", "b"], "annotator": ["x", "y", "x", "y"], "label": labels})


def test_ordered_classes_follow_the_declared_order_or_the_numbers():
    ann = bl.Annotations.from_frame(_frame(["R", "X", "G", "P"]), classes=["G", "P", "R", "X"], ordered=True)
    assert ann.ordered and list(ann.classes) == ["G", "P", "R", "X"] and "ordered" in repr(ann)
    numeric = bl.Annotations.from_frame(_frame(["10", "2", "3", "2"]), ordered=True)
    assert list(numeric.classes) == ["2", "3", "10"] and numeric.ordered
    assert not bl.Annotations.from_frame(_frame(["R", "X", "G", "P"])).ordered
    with pytest.raises(DataError, match="declare them lowest first with classes"):
        bl.Annotations.from_frame(_frame(["R", "X", "G", "P"]), ordered=True)
    with pytest.raises(DataError, match="out of numeric order"):
        bl.Annotations.from_frame(_frame(["1", "2", "3", "2"]), classes=["1", "3", "2"], ordered=True)
    assert bl.datasets.load("adult_content").ordered and bl.datasets.load("anesthesia").ordered
    # agreement on ordered classes uses the ordinal α unless told otherwise
    assert bl.agreement(bl.datasets.load("anesthesia"), n_boot=20).level == "ordinal"
    assert bl.agreement(ann, n_boot=20, level="nominal").level == "nominal"


def test_the_ordinal_model_refuses_unordered_classes_and_em():
    ann = _tiny(1, n_items=5, k=3)
    with pytest.raises(DataError, match="needs ordered classes.*ordered=True"):
        bl.fit(ann, model="ordinal", method="map")
    with pytest.raises(SpecError, match="method 'em'"):
        bl.fit(replace(ann, ordered=True), model="ordinal", method="em")


def test_the_start_reads_bias_and_noise_from_the_em_confusion():
    ann = replace(_tiny(2, n_items=5, k=4), ordered=True)
    cutpoints = np.array([0.5, 1.5, 2.5])
    truth_bias, truth_noise = np.array([-0.8, 0.0, 0.8]), np.array([0.4, 0.4, 0.4])
    confusion = np.stack(
        [_brute_confusion(b, s, cutpoints) for b, s in zip(truth_bias, truth_noise, strict=True)]
    )
    em = bl.dawid_skene_em(ann)
    em = type(em)(**{**em.__dict__, "confusion": confusion, "prevalence": np.full(4, 0.25)})
    start = family("ordinal").start(em, ann, bl.OrdinalPriors())
    bias = start["mu_bias"] + start["bias_scale"] * start["bias_offset"]
    assert np.argsort(bias).tolist() == [0, 1, 2] and bias[0] < -0.3 < 0.3 < bias[2]
    assert set(start) == {v.name for v in family("ordinal").build(ann).free_RVs}


def test_priors_are_validated_and_the_spec_ships():
    spec = bl.resolve_spec("ordinal")
    assert isinstance(spec.priors, bl.OrdinalPriors) and spec.priors.cutpoint_sd > 0
    assert bl.resolve_spec("ordinal-subtype").family.per_subtype
    with pytest.raises(SpecError, match="noise_scale"):
        bl.OrdinalPriors(noise_scale=0.0)


# ------------------------------------------------------------------ metrics


def test_ordinal_metrics_are_mae_quadratic_kappa_and_distance_shares():
    rng = np.random.default_rng(0)
    n, k = 300, 4
    gold = rng.integers(0, k, n)
    predicted = np.clip(gold + rng.choice([-2, -1, 0, 0, 0, 1], n), 0, k - 1)
    p = np.full((n, k), 0.1)
    p[np.arange(n), predicted] = 0.7
    soft = bl.SoftLabels(
        items=np.arange(n).astype(str), classes=("G", "P", "R", "X"), mean=p, lower=p, upper=p
    )
    plain = bl.evaluate(soft, gold, n_boot=200)
    assert "mae" not in set(plain.metrics["metric"])  # unordered targets: no ordinal metrics
    evaluation = bl.evaluate(replace(soft, ordered=True), gold, n_boot=200)
    assert evaluation.value("mae") == pytest.approx(np.abs(predicted - gold).mean())
    assert evaluation.value("qwk") == pytest.approx(cohen_kappa_score(gold, predicted, weights="quadratic"))
    lo, hi = evaluation.interval("qwk")
    assert lo < evaluation.value("qwk") < hi
    for d in (1, 2, 3):
        assert evaluation.value("off_by", str(d)) == pytest.approx((np.abs(predicted - gold) == d).mean())
    assert bl.evaluate(soft, gold, n_boot=50, ordinal=True).value("mae") == evaluation.value("mae")


# ------------------------------------------------------------------ a fit


@pytest.fixture(scope="module")
def ordinal_advi():
    """12 annotators, biases −0.9 … 0.9 and noise 0.25 … 1.0 (known), 1–3 labels on each of 400
    items of four ordered classes; ADVI (the one sampler compile of this file)."""
    rng = np.random.default_rng(7)
    bias = rng.permutation(np.linspace(-0.9, 0.9, 12))
    noise = rng.permutation(np.linspace(0.25, 1.0, 12))
    sim = bl.simulate.from_family(
        "ordinal",
        n_items=400,
        n_annotators=12,
        n_classes=4,
        labels_per_item=(1, 3),
        seed=7,
        parameters={"bias": bias, "noise": noise},
    )
    spec = bl.resolve_spec("ordinal").with_inference(method="advi", advi_iterations=3000, draws=300)
    fit = bl.fit(sim.annotations, model=spec, seed=1, quiet=True)
    return sim, fit


def test_advi_recovers_who_is_harsh_lenient_and_noisy(ordinal_advi):
    sim, fit = ordinal_advi
    table = fit.annotators()
    assert {"bias", "bias_lo", "bias_hi", "noise", "noise_lo", "noise_hi", "accuracy"} <= set(table.columns)
    assert spearmanr(table["bias"], sim.parameters["bias"]).statistic > 0.85
    assert spearmanr(table["noise"], sim.parameters["noise"]).statistic > 0.6
    harsh = int(np.argmin(sim.parameters["bias"]))
    assert table["bias_hi"].iloc[harsh] < 0  # the harshest annotator is surely harsh
    np.testing.assert_allclose(fit.draws("cutpoints").mean(axis=0), [0.5, 1.5, 2.5], atol=0.35)


def test_soft_labels_carry_the_expected_score_and_beat_dawid_skene_on_sparse_labels(ordinal_advi):
    sim, fit = ordinal_advi
    soft = fit.soft_labels(ci_prob=0.9)
    frame = soft.to_frame()
    assert {"expected_score", "expected_score_lo", "expected_score_hi", "median_class"} <= set(frame.columns)
    assert (frame["expected_score_lo"] <= frame["expected_score"]).all()
    assert (frame["expected_score"] <= frame["expected_score_hi"]).all()
    assert (frame["expected_score_hi"] > frame["expected_score_lo"]).mean() > 0.9  # intervals over draws
    np.testing.assert_allclose(frame["expected_score"], soft.mean @ np.arange(4))
    assert len(frame) == sim.annotations.n_items
    gold = pd.Series(np.asarray(sim.annotations.classes)[sim.true_class], index=sim.annotations.items)
    ours = bl.evaluate(fit, gold, n_boot=200)
    em = bl.evaluate(bl.dawid_skene_em(sim.annotations), gold, n_boot=200, ordinal=True)
    assert ours.value("accuracy") > em.value("accuracy") and ours.value("mae") < em.value("mae")
    assert ours.value("qwk") > 0.7


def test_loo_predictive_checks_and_predict_work_on_the_ordinal_fit(ordinal_advi):
    sim, fit = ordinal_advi
    loglik = fit.log_likelihood()["labels"]
    assert loglik.shape[-1] == sim.annotations.n_items and np.isfinite(loglik.values).all()
    replicated = fit.replicated_labels(draws=20, seed=1)
    assert replicated.shape == (20, sim.annotations.n_labels) and replicated.max() <= 3
    new = sim.annotations.subset(sim.annotations.items[:20]).drop_unlabelled()
    predicted = fit.predict(new)
    assert predicted.ordered and len(predicted) == 20


def test_a_saved_ordinal_fit_keeps_the_order_and_exports_it(ordinal_advi, tmp_path):
    _, fit = ordinal_advi
    back = bl.load(fit.save(tmp_path / "fit"))
    assert back.annotations.ordered and list(back.annotations.classes) == ["0", "1", "2", "3"]
    path = back.export(tmp_path / "soft.csv", allow_failed_check=True)
    provenance = bl.read_provenance(path)
    assert provenance["ordered"] is True and provenance["classes"] == ["0", "1", "2", "3"]
    assert bl.SoftLabels.read(path).ordered


# ------------------------------------------------------------------ command line


def test_the_command_line_reads_ordered_classes(tmp_path, capsys):
    from bayeslabels.cli import main

    labels = tmp_path / "ratings.csv"
    frame = pd.DataFrame(
        {
            "item": [f"i{i}" for i in range(12) for _ in range(3)],
            "annotator": ["a", "b", "c"] * 12,
            "label": list("GPRXGGPPRRXX" * 3),
        }
    )
    frame.to_csv(labels, index=False)
    out = tmp_path / "soft.csv"
    command = ["fit", str(labels), "--classes", "G,P,R,X", "--out", str(out), "--quiet"]
    assert main([*command, "--ordered", "--method", "em"]) == 0
    assert {"expected_score", "median_class"} <= set(pd.read_csv(out).columns)
    capsys.readouterr()
    assert main([*command, "--model", "ordinal", "--method", "map"]) == 2
    err = capsys.readouterr().err
    assert "needs ordered classes" in err and len(err.strip().splitlines()) == 1


def test_the_subtype_variant_shifts_the_scale_per_subtype():
    sim = bl.simulate.from_family(
        "ordinal-subtype",
        n_items=200,
        n_annotators=6,
        n_classes=3,
        labels_per_item=(2, 3),
        seed=1,
        n_subtypes=2,
        parameters={"subtype_shift": np.array([-0.5, 0.5])},
    )
    ann, truth = sim.annotations, sim.parameters
    model = family("ordinal-subtype")
    draws = {**{name: value[None] for name, value in truth.items()}, "mu_bias": np.zeros(1)}.__getitem__
    dense = model.confusion(ann, draws)  # every (annotator, subtype) pair
    _, cell_annotator, cell_subtype = bl.models._likelihood.observed_cells(ann)
    np.testing.assert_allclose(dense[0, cell_annotator, cell_subtype], truth["cell_confusion"], atol=1e-12)
    lenient = list(ann.subtypes).index("s1")
    assert dense[0, :, lenient, 1, 2].mean() > dense[0, :, 1 - lenient, 1, 2].mean()  # shifted up
    graph = model.build(ann)
    assert graph.named_vars_to_dims["subtype_shift"] == ("subtype",)
    assert {"cell_confusion", "cutpoints", "bias", "noise"} <= {v.name for v in graph.deterministics}


@pytest.mark.slow
def test_nuts_recovers_bias_noise_and_cutpoints():
    """Uneven cut-points (a narrow middle class), 20 annotators with known bias and noise."""
    rng = np.random.default_rng(11)
    truth = {
        "bias": rng.normal(0, 0.5, 20),
        "noise": np.exp(rng.normal(np.log(0.5), 0.4, 20)),
        "cutpoints": np.array([0.4, 1.3, 2.8]),  # mean 1.5: the centred scale
    }
    sim = bl.simulate.from_family(
        "ordinal",
        n_items=1500,
        n_annotators=20,
        n_classes=4,
        labels_per_item=(3, 5),
        seed=11,
        parameters=truth,
    )
    fit = bl.fit(sim.annotations, model="ordinal", draws=500, tune=500, chains=2, seed=2, quiet=True)
    report = fit.check()  # 2 × 500 draws: the hyperparameters may miss R-hat ≤ 1.01, not by much
    assert report.divergences == 0 and report.max_rhat < 1.05 and not any(c.switched for c in report.chains)
    table = fit.annotators(ci_prob=0.9)

    def covered(name: str) -> float:
        value = sim.parameters[name]  # in the annotations' annotator order
        return float(((table[f"{name}_lo"] <= value) & (value <= table[f"{name}_hi"])).mean())

    assert covered("bias") >= 0.75 and covered("noise") >= 0.75
    cut = fit.draws("cutpoints")
    lo, hi = np.quantile(cut, [0.02, 0.98], axis=0)
    assert ((lo <= truth["cutpoints"]) & (truth["cutpoints"] <= hi)).all()
