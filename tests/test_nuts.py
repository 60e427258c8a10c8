"""Bayesian Dawid-Skene by NUTS recovers known truth, converges, and does not switch labels."""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import pytest

import bayeslabels as bl


def test_nuts_fit_converges_well_inside_the_thresholds(nuts_fit):
    """The margin is what keeps this test from flipping: R-hat ≤ 1.008 (threshold 1.01; the
    maximum over ~110 parameters of a well-mixed 4 × 1000 run sits around 1.003–1.006) and
    ESS ≥ 800 (twice the threshold's 400)."""
    report = nuts_fit.check()
    assert report.max_rhat <= 1.008, report
    assert min(report.min_ess_bulk, report.min_ess_tail) >= 2 * report.thresholds.min_ess, report
    assert report.divergences == 0
    assert report.ok, report


def test_check_agrees_with_arviz_and_names_the_worst_scalars(nuts_fit):
    import arviz_stats as azs

    report = nuts_fit.check()
    rhat = azs.rhat(nuts_fit.posterior)
    rhat = rhat.to_dataset() if hasattr(rhat, "to_dataset") else rhat
    assert report.max_rhat == pytest.approx(max(float(rhat[v].max()) for v in rhat.data_vars))
    worst = report.worst[0]
    assert worst.rhat == pytest.approx(report.max_rhat)
    value = rhat[worst.variable].sel(worst.coords)
    assert float(value) == pytest.approx(worst.rhat)
    assert set(worst.coords) == set(nuts_fit.posterior["posterior"][worst.variable].dims) - {"chain", "draw"}
    assert worst.label in str(report)


def test_max_draws_draws_again_until_the_check_passes_and_says_so(nuts_fit, small_sim, caplog):
    """50 draws per chain cannot reach ESS 400: the fit doubles its draws (same compiled model,
    same seed) until the check passes or max_draws is reached, and the report says so."""
    with caplog.at_level(logging.INFO, logger="bayeslabels"):
        fit = bl.fit(small_sim.annotations, draws=50, tune=300, chains=2, max_draws=400, quiet=True)
    rounds = fit.sampling.draws_used
    assert rounds[0] == 50 and len(rounds) >= 2
    assert all(b == min(2 * a, 400) for a, b in zip(rounds, rounds[1:], strict=False))
    # every round whose check decided whether to go on was logged, with its check attached
    logged = [record for record in caplog.records if hasattr(record, "check")]
    decided = rounds if rounds[-1] < 400 else rounds[:-1]
    assert [record.check["n_draws"] for record in logged] == list(decided)
    assert all("more draws needed" in record.getMessage() for record in logged[: len(rounds) - 1])
    assert fit.posterior["posterior"].sizes["draw"] == rounds[-1] == fit.sampling.draws
    report = fit.check()
    assert report.ok or rounds[-1] == 400  # it stopped because the check passed, or at the cap
    assert "drew more" in str(report) and " → ".join(map(str, rounds)) in str(report)
    # the chains were continued, not restarted: the draws are those of one seeded run that long
    exact = bl.fit(small_sim.annotations, draws=rounds[-1], tune=300, chains=2, quiet=True)
    assert exact.sampling.draws_used == ()
    for name in ("confusion", "prevalence"):
        np.testing.assert_array_equal(
            fit.posterior["posterior"][name].values, exact.posterior["posterior"][name].values
        )
    # the check it samples until is the one named (the `model="auto"` screen's is looser)
    loose = bl.Thresholds(max_rhat=1.5, min_ess=10.0, max_divergences=10**6)
    lenient = bl.fit(
        small_sim.annotations, draws=50, tune=300, chains=2, max_draws=400, check_thresholds=loose, quiet=True
    )
    assert lenient.sampling.draws_used == () and lenient.sampling.draws == 50


def test_draws_given_explicitly_are_exactly_the_draws(nuts_fit):
    assert nuts_fit.sampling.draws_used == () and nuts_fit.sampling.draws == 1000


def test_posterior_mean_confusion_recovers_the_truth(nuts_fit, small_sim):
    confusion = nuts_fit.posterior["posterior"]["confusion"].mean(("chain", "draw")).values
    honest = ~small_sim.is_spammer
    diag_error = np.abs(np.einsum("jkk->jk", confusion) - np.einsum("jkk->jk", small_sim.confusion))[honest]
    assert np.median(diag_error) < 0.1
    prevalence = nuts_fit.posterior["posterior"]["prevalence"].mean(("chain", "draw")).values
    np.testing.assert_allclose(prevalence, small_sim.prevalence, atol=0.08)


def test_chains_started_from_em_agree_on_what_each_class_means(nuts_fit):
    """No label switching: every chain's item posteriors point the same way as EM's."""
    per_chain = []
    for chain in nuts_fit.posterior["posterior"].chain.values:
        single = bl.Fit(
            nuts_fit.posterior.isel(chain=[int(chain)]),
            nuts_fit.annotations,
            nuts_fit.spec,
            "nuts",
            em=nuts_fit.em,
        )
        per_chain.append(single.soft_labels().to_frame()["label"].to_numpy())
    em_labels = np.asarray(nuts_fit.annotations.classes)[nuts_fit.em.label]
    for labels in per_chain:
        assert (labels == em_labels).mean() > 0.95


def test_soft_labels_are_as_accurate_as_em_against_the_truth(nuts_fit, small_sim):
    labels = nuts_fit.soft_labels().to_frame()["label"].to_numpy()
    truth = np.asarray(nuts_fit.annotations.classes)[small_sim.true_class]
    em_truth_acc = (nuts_fit.em.label == small_sim.true_class).mean()
    assert (labels == truth).mean() >= em_truth_acc - 0.02


def test_posterior_is_a_datatree_with_named_coords(nuts_fit):
    posterior = nuts_fit.posterior["posterior"]
    assert posterior["confusion"].dims == ("chain", "draw", "annotator", "true_class", "label_class")
    assert list(posterior.coords["annotator"].values) == list(nuts_fit.annotations.annotators)
    assert "sample_stats" in nuts_fit.posterior.children


@pytest.mark.slow
def test_one_coin_recovers_accuracies_on_a_larger_set():
    sim = bl.simulate.dawid_skene(n_items=1000, n_annotators=30, n_classes=2, one_coin=True, seed=21)
    fit = bl.fit(sim.annotations, model="one-coin", draws=1000, tune=1000, chains=4, quiet=True)
    assert fit.check().ok
    table = fit.annotators(ci_prob=0.9)
    truth = np.einsum("jkk->jk", sim.confusion)[:, 0]
    covered = (table["accuracy_lo"] <= truth) & (truth <= table["accuracy_hi"])
    assert covered.mean() >= 0.8  # 90% intervals cover most true accuracies


@pytest.mark.slow
def test_nuts_on_real_data_is_as_accurate_as_em():
    ann = bl.datasets.load("rte")
    fit = bl.fit(ann, use_gold=False, quiet=True)
    gold = fit.gold_accuracy()
    assert fit.check().ok
    assert gold["model"] >= gold["em"] - 0.005
    assert gold["model"] > gold["majority_vote"]


def test_a_large_deterministic_is_computed_after_sampling_equal_to_the_traced_one(monkeypatch, caplog):
    """A deterministic of `UNTRACED_MIN_VALUES` values per draw or more stays out of nutpie's trace
    (which nutpie holds three times over while handing it back) and is computed from the free
    variables after every round: the same posterior, and the same checks deciding the rounds."""
    import bayeslabels.inference as inference

    ann = bl.simulate.dawid_skene(
        n_items=60, n_annotators=6, n_classes=2, labels_per_item=(2, 4), seed=4
    ).annotations
    strict = bl.Thresholds(min_ess=10.0**6)  # never met: the rounds run to max_draws
    settings = dict(
        model="one-coin",
        draws=50,
        tune=100,
        chains=2,
        max_draws=100,
        check_thresholds=strict,
        reuse_compiled=False,  # both compiled here: not a model of this shape another test left in the cache
        quiet=True,
    )
    fits, checks = [], []
    for min_values in (inference.UNTRACED_MIN_VALUES, 20):  # one-coin confusion: 6 × 2 × 2 = 24 values
        monkeypatch.setattr(inference, "UNTRACED_MIN_VALUES", min_values)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="bayeslabels"):
            fits.append(bl.fit(ann, **settings))
        checks.append([record.check for record in caplog.records if hasattr(record, "check")])
    traced, computed = (fit.posterior["posterior"] for fit in fits)
    assert inference.untraced_deterministics(fits[1].model) == ["confusion"]
    assert fits[1].sampling.draws_used == (50, 100)
    assert set(computed.data_vars) == set(traced.data_vars)
    for name in traced.data_vars:
        np.testing.assert_allclose(computed[name].values, traced[name].values, rtol=1e-12, atol=1e-15)
    assert [c["n_draws"] for c in checks[1]] == [50] and checks[1][0]["worst"] == checks[0][0]["worst"]
    assert checks[1][0]["max_rhat"] == pytest.approx(checks[0][0]["max_rhat"], rel=1e-9)


def test_a_trace_too_large_for_memory_goes_through_disk_with_the_same_draws(monkeypatch, tmp_path, caplog):
    """Above `TRACE_ON_DISK_BYTES` nutpie writes its trace to a temporary zarr store (it holds an
    in-memory trace, tuning draws included, twice over while handing it back): the posterior,
    the sample stats and the checks deciding the rounds are those of the in-memory trace, and
    the store is gone once the fit returns."""
    import tempfile

    import bayeslabels.inference as inference

    ann = bl.simulate.dawid_skene(
        n_items=60, n_annotators=6, n_classes=2, labels_per_item=(2, 4), seed=4
    ).annotations
    strict = bl.Thresholds(min_ess=10.0**6)  # never met: the rounds run to max_draws
    settings = dict(model="one-coin", draws=50, tune=100, chains=2, check_thresholds=strict, quiet=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stores = []
    in_memory = inference._trace_store

    @contextlib.contextmanager
    def spied(*args):
        with in_memory(*args) as store:
            stores.append(store)
            yield store

    monkeypatch.setattr(inference, "_trace_store", spied)
    fits, checks = [], []
    for limit in (inference.TRACE_ON_DISK_BYTES, 0):
        monkeypatch.setattr(inference, "TRACE_ON_DISK_BYTES", limit)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="bayeslabels"):
            fits.append(bl.fit(ann, max_draws=100, **settings))
        checks.append([record.check for record in caplog.records if hasattr(record, "check")])
    assert stores[0] == {} and "zarr_store" in stores[1]
    assert list(tmp_path.glob("bayeslabels-trace-*")) == []
    memory, disk = fits
    assert disk.sampling.draws_used == memory.sampling.draws_used == (50, 100)
    assert set(disk.posterior["posterior"].data_vars) == set(memory.posterior["posterior"].data_vars)
    # the store keeps the divergences' bookkeeping per divergence, not per draw: left out
    stats = set(memory.posterior["sample_stats"].data_vars)
    assert stats - set(disk.posterior["sample_stats"].data_vars) == {
        "divergence_draw",
        "divergence_message",
        "divergence_energy_error",
        "transformation_update_id",
    }
    for group in ("posterior", "sample_stats"):
        for name, values in disk.posterior[group].data_vars.items():
            np.testing.assert_array_equal(values.values, memory.posterior[group][name].values, err_msg=name)
    assert disk.posterior["posterior"]["confusion"].dims == memory.posterior["posterior"]["confusion"].dims
    assert list(disk.posterior["posterior"].coords["annotator"].values) == list(ann.annotators)
    assert [c["max_rhat"] for c in checks[1]] == [c["max_rhat"] for c in checks[0]]
    assert [c["min_ess_bulk"] for c in checks[1]] == [c["min_ess_bulk"] for c in checks[0]]
    once = bl.fit(ann, max_draws=0, **settings)  # one run, no rounds: through disk too
    assert "zarr_store" in stores[-1]
    np.testing.assert_array_equal(
        once.posterior["posterior"]["confusion"].values,
        memory.posterior["posterior"]["confusion"].values[:, :50],
    )


def test_a_posterior_too_large_to_read_back_keeps_every_kth_draw(monkeypatch, caplog, tmp_path):
    """Above `POSTERIOR_READ_BYTES` of posterior draws a round keeps every k-th draw (k the
    smallest factor that fits): the kept draws are exactly those of the unthinned run, the
    sample stats keep every draw (no divergence goes uncounted), and the rounds' log, the fit,
    its check, its printout and its saved copy say so. Through the disk store, as a large fit
    runs."""
    import bayeslabels.inference as inference

    ann = bl.simulate.dawid_skene(
        n_items=60, n_annotators=6, n_classes=2, labels_per_item=(2, 4), seed=4
    ).annotations
    strict = bl.Thresholds(min_ess=10.0**6)  # never met: the rounds run to max_draws
    settings = dict(model="one-coin", tune=100, chains=2, check_thresholds=strict, quiet=True)
    whole = bl.fit(ann, draws=50, max_draws=200, **settings)
    assert whole.sampling.thin == 1 and whole.check().thin == 1
    posterior = whole.posterior["posterior"]
    per_draw = sum(var.size // (2 * 200) for var in posterior.data_vars.values())
    monkeypatch.setattr(inference, "TRACE_ON_DISK_BYTES", 0)
    monkeypatch.setattr(inference, "POSTERIOR_READ_BYTES", 8 * per_draw * 2 * 60)  # 60 draws a chain
    with caplog.at_level(logging.INFO, logger="bayeslabels"):
        thinned = bl.fit(ann, draws=50, max_draws=200, **settings)
    logged = [record for record in caplog.records if hasattr(record, "check")]
    assert [record.check["thin"] for record in logged] == [1, 2]  # 50 draws fit; 100 keep 1 in 2
    assert [record.check["n_draws"] for record in logged] == [50, 50]
    assert logged[1].getMessage().startswith("100 draws per chain (1 in 2 kept): more draws needed")
    assert thinned.sampling.draws_used == (50, 100, 200) and thinned.sampling.thin == 4
    kept = thinned.posterior["posterior"]
    assert kept.sizes["draw"] == 50 and list(kept["draw"].values) == list(range(50))
    for name, values in kept.data_vars.items():
        np.testing.assert_array_equal(values.values, posterior[name].values[:, ::4], err_msg=name)
    stats = thinned.posterior["sample_stats"]
    assert stats.sizes["draw"] == 200
    np.testing.assert_array_equal(
        stats["diverging"].values, whole.posterior["sample_stats"]["diverging"].values
    )
    report = thinned.check()
    assert report.thin == 4 and report.n_draws == 50
    assert "thinned: 1 draw in 4 kept (50 per chain)" in str(report)
    assert "2 chains × 200 draws, 1 in 4 kept" in thinned.summary()
    assert bl.ConvergenceReport.from_dict(report.to_dict()).thin == 4
    thinned.save(tmp_path / "fit")
    saved = bl.load(tmp_path / "fit")
    assert saved.sampling.thin == 4 and saved.check().thin == 4
    saved.posterior["posterior"].attrs.pop("thin")  # saved before the attrs: the sampling info says it
    assert saved.check().thin == 4
    once = bl.fit(ann, draws=200, max_draws=0, **settings)  # one run, no rounds: the same bound
    assert once.sampling.thin == 4
    np.testing.assert_array_equal(once.posterior["posterior"]["accuracy"].values, kept["accuracy"].values)


def test_thinning_is_the_smallest_factor_within_the_bound(monkeypatch):
    import xarray as xr

    import bayeslabels.inference as inference

    tree = xr.DataTree.from_dict(
        {"posterior": xr.Dataset({"x": (("chain", "draw", "k"), np.zeros((2, 10, 5)))})}
    )  # 5 numbers a draw, 2 chains: 800 bytes for 10 draws a chain
    for bound, thin in ((800, 1), (10**9, 1), (799, 2), (400, 2), (399, 3), (100, 8)):
        monkeypatch.setattr(inference, "POSTERIOR_READ_BYTES", bound)
        assert inference.posterior_thinning(tree, 10) == thin, bound
    monkeypatch.setattr(inference, "POSTERIOR_READ_BYTES", 800)
    assert inference.posterior_thinning(tree, 40) == 4  # the round's draws, not those stored


def test_a_round_waits_for_a_stores_last_chunk_of_its_draws():
    """nutpie's zarr store writes a chain's draws in chunks, read back as NaN until written: a
    round is checked only once the store holds its last draw in every chain and variable."""
    import xarray as xr

    from bayeslabels.inference import _holds_draws

    values = np.ones((2, 32, 3))
    values[1, 16:] = np.nan  # chain 1's second chunk not written yet
    scalar = np.ones((2, 32))
    posterior = xr.Dataset({"x": (("chain", "draw", "k"), values), "s": (("chain", "draw"), scalar)})
    trace = xr.DataTree.from_dict({"posterior": posterior})
    assert _holds_draws(trace, 16)
    assert not _holds_draws(trace, 17)
    assert not _holds_draws(trace, 32)
