"""Label switching is detected per chain and fixed by relabel(); unconverged fits fail
with the failing check named; identifiability warnings carry their numbers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import xarray as xr

import bayeslabels as bl

SYMMETRIC = bl.ModelSpec(priors=bl.DawidSkenePriors(confusion_diag_per_class=0.0))


def _permuted(em: bl.EMResult, permutation: list[int]) -> bl.EMResult:
    """The same EM solution with the true classes renamed: an equally good mode."""
    return replace(
        em,
        confusion=em.confusion[:, permutation, :],
        prevalence=em.prevalence[permutation],
        posterior=em.posterior[:, permutation],
    )


def _with_chains_of(healthy: bl.Fit, other: bl.Fit) -> bl.Fit:
    """`healthy`'s chains followed by `other`'s, renumbered: one fit."""
    groups = {}
    for name in ("posterior", "sample_stats"):
        a, b = healthy.posterior[name].to_dataset(), other.posterior[name].to_dataset()
        b = b.assign_coords(chain=b.chain + a.sizes["chain"])
        groups[name] = xr.concat([a, b], dim="chain")
    return replace(healthy, posterior=xr.DataTree.from_dict(groups))


@pytest.fixture(scope="module", params=[2, 3], ids=["K=2", "K=3"])
def switched(request):
    """Three chains started at EM, one at the class-permuted EM solution; no gold, symmetric prior.
    500 draws: relabelled, max R-hat 1.0073 (K=2) and 1.0071 (K=3), soft labels within 0.0074 of
    the healthy chains' (1000 draws gave 1.0019 / 1.0068 and 0.0022 / 0.0065 at twice the time)."""
    k = request.param
    sim = bl.simulate.dawid_skene(
        n_items=250, n_annotators=10, n_classes=k, labels_per_item=(3, 5), spammer_fraction=0.0, seed=k
    )
    ann = sim.annotations
    settings = dict(model=SYMMETRIC, draws=500, tune=300, quiet=True)
    healthy = bl.fit(ann, chains=3, **settings)
    permutation = list(np.roll(np.arange(k), 1))
    stray = bl.fit(ann, chains=1, init=_permuted(healthy.em, permutation), seed=5, **settings)
    return healthy, _with_chains_of(healthy, stray), permutation


def test_a_chain_started_in_the_permuted_mode_is_reported(switched):
    _, fit, permutation = switched
    report = fit.check()
    assert not report.ok
    assert [c.switched for c in report.chains] == [False, False, False, True]
    assert report.chains[3].permutation == tuple(int(p) for p in permutation)
    assert not report.chains[3].within_chain_switch
    assert report.max_rhat > 1.1
    assert any("label switching in chain(s) [3]" in reason for reason in report.reasons)
    assert any("symmetric confusion prior" in w for w in report.warnings)


def test_relabel_aligns_every_chain_and_recovers_the_unswitched_answer(switched):
    healthy, fit, _ = switched
    fixed = fit.relabel()
    report = fixed.check()
    # what relabelling means: the switched chain's R-hat (> 1.1) falls to that of agreeing chains
    assert report.max_rhat < 1.02 < 1.1 < fit.check().max_rhat
    assert not any(c.switched for c in report.chains)
    np.testing.assert_allclose(fixed.soft_labels().mean, healthy.soft_labels().mean, atol=0.02)


def test_gold_anchors_keep_every_chain_in_the_gold_mode():
    sim = bl.simulate.dawid_skene(
        n_items=250, n_annotators=10, n_classes=2, labels_per_item=(3, 5), gold_fraction=0.3, seed=2
    )
    em = bl.dawid_skene_em(sim.annotations, priors=SYMMETRIC.priors)
    fit = bl.fit(
        sim.annotations,
        model=SYMMETRIC,
        chains=2,
        draws=400,
        tune=400,
        init=_permuted(em, [1, 0]),
        quiet=True,
    )
    report = fit.check()
    assert not any(c.switched for c in report.chains)
    assert all(c.agreement > 0.95 for c in report.chains)


def test_a_healthy_fit_passes(nuts_fit):
    report = nuts_fit.check()
    assert report.ok and not report.reasons
    assert len(report.chains) == 4 and not any(c.switched or c.within_chain_switch for c in report.chains)
    assert "converged" in str(report) and "chain 3: aligned" in str(report)


def test_too_short_a_run_fails_with_low_ess_named(small_sim):
    short = bl.fit(small_sim.annotations, draws=30, tune=20, chains=2, quiet=True)
    report = short.check()
    assert not report.ok
    assert report.min_ess_bulk < 400
    assert any("ESS" in reason for reason in report.reasons)


def test_window_permutations_reveal_a_switch_within_a_chain(nuts_fit):
    """Swap the classes in the second half of one chain: reported as within-chain, not fixed."""
    posterior = nuts_fit.posterior["posterior"].to_dataset()
    k = posterior.sizes["true_class"]
    half = posterior.sizes["draw"] // 2
    chain0 = posterior.isel(chain=[0])
    swapped = chain0.isel(draw=slice(half, None), true_class=np.roll(np.arange(k), 1))
    swapped = swapped.assign_coords(true_class=posterior.true_class.values)
    mixed = xr.concat([chain0.isel(draw=slice(0, half)), swapped], dim="draw")
    rebuilt = xr.concat([mixed, posterior.isel(chain=slice(1, None))], dim="chain")
    groups = {name: node.to_dataset() for name, node in nuts_fit.posterior.children.items()}
    groups["posterior"] = rebuilt
    fit = replace(nuts_fit, posterior=xr.DataTree.from_dict(groups))
    report = fit.check()
    assert report.chains[0].within_chain_switch
    assert any("within chain(s) [0]" in reason for reason in report.reasons)
    assert fit.relabel().check().chains[0].within_chain_switch


def test_identifiability_warnings_carry_their_numbers():
    frame_rows = [("i1", "a", "x"), ("i1", "b", "x"), ("i2", "a", "y"), ("i3", "c", "x")]
    import pandas as pd

    ann = bl.Annotations.from_frame(pd.DataFrame(frame_rows, columns=["item", "annotator", "label"]))
    report = bl.fit(ann, method="em").check()
    text = " | ".join(report.warnings)
    assert "3 of 3 annotators have fewer than 10 labels" in text
    assert "2 items have one label" in text


def test_a_subtype_whose_classes_flip_in_one_chain_is_named():
    """Chain 1 means the opposite class on subtype 'b' only: the chain as a whole still aligns."""
    from bayeslabels.diagnostics import align_chains, subtype_switches

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 300)
    subtype = np.repeat([0, 1, 2], 100)
    reference = np.eye(2)[truth] * 0.9 + 0.05
    chain_means = np.stack([reference, reference.copy()])
    chain_means[1, subtype == 1] = chain_means[1, subtype == 1][:, ::-1]
    windows = chain_means[:, None]
    alignments = align_chains(chain_means, windows, reference)
    assert [a.switched for a in alignments] == [False, False]
    found = subtype_switches(chain_means, reference, subtype, ["a", "b", "c"], alignments)
    assert len(found) == 1 and found[0].startswith("chain 1: subtype 'b'")
    assert subtype_switches(chain_means[:1], reference, subtype, ["a", "b", "c"], alignments[:1]) == ()


def test_check_fails_a_fit_with_one_subtype_flipped_in_one_chain(subtype_fit):
    posterior = subtype_fit.posterior["posterior"].to_dataset()
    k = posterior.sizes["true_class"]
    flip = np.roll(np.arange(k), 1)
    confusion = posterior["cell_confusion"].values.copy()  # chain, draw, cell, true, label
    on_s0 = posterior["cell"].str.endswith(" / s0").values
    confusion[0, :, on_s0] = confusion[0, :, on_s0][..., flip, :]
    groups = {name: node.to_dataset() for name, node in subtype_fit.posterior.children.items()}
    groups["posterior"] = posterior.assign(cell_confusion=(posterior["cell_confusion"].dims, confusion))
    flipped = replace(subtype_fit, posterior=xr.DataTree.from_dict(groups))
    report = flipped.check()
    assert not report.ok
    assert any("subtype 's0'" in reason and "chain 0" in reason for reason in report.reasons)
    assert not any("subtype-level" in reason for reason in subtype_fit.check().reasons)


def _autoregressive(chains: int, draws: int, scalars: int, phi: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(chains, draws, scalars))
    values = np.zeros_like(noise)
    for t in range(1, draws):
        values[:, t] = phi * values[:, t - 1] + noise[:, t]
    return values


def _posterior_cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    cases = {
        "independent draws": rng.normal(size=(4, 100, 40)),
        "slow mixing (AR 0.9)": _autoregressive(4, 200, 30, 0.9, 1),
        "odd draw count, 3 chains": _autoregressive(3, 101, 20, 0.5, 2),
        "antithetic (AR -0.7)": _autoregressive(2, 64, 20, -0.7, 3),
        "ties (three values)": rng.integers(0, 3, size=(4, 100, 20)).astype(float),
        "chains apart": _autoregressive(4, 100, 10, 0.3, 4) + np.arange(4)[:, None, None] * 0.5,
        "5 draws": rng.normal(size=(2, 5, 10)),
        "one chain": _autoregressive(1, 100, 10, 0.5, 5),
        "3 draws (too few)": rng.normal(size=(2, 3, 4)),
    }
    constant = np.ones((4, 50, 3))
    constant[:, :, 1] = 2.0
    constant[:, :, 2] = rng.normal(size=(4, 50))
    with_nan = rng.normal(size=(2, 50, 4))
    with_nan[0, 3, 1] = np.nan
    return {**cases, "constant scalars": constant, "a NaN draw": with_nan}


@pytest.mark.parametrize("case", list(_posterior_cases()))
def test_vectorised_rhat_and_ess_are_arviz_numbers(case):
    """`check()` computes ArviZ's rank R-hat, bulk ESS and tail ESS for all scalars in one
    vectorised pass; each equals arviz_stats' own per-scalar value (NaN where ArviZ gives NaN)."""
    import warnings

    from arviz_stats.base import array_stats

    from bayeslabels._convergence_stats import rank_diagnostics

    values = _posterior_cases()[case]
    per_scalar = np.moveaxis(values, 2, 0)  # arviz_stats' array layer: (..., chain, draw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = (
            array_stats.rhat(per_scalar),
            array_stats.ess(per_scalar, method="bulk"),
            array_stats.ess(per_scalar, method="tail", prob=0.05),
        )
    for name, got, expected in zip(
        ("R-hat", "bulk ESS", "tail ESS"), rank_diagnostics(values), want, strict=True
    ):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0, equal_nan=True, err_msg=name)
