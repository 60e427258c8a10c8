"""Shared fixtures. NUTS fits compile a model (10-50 s), so each is made once per session
on small simulated data and shared by every test that reads it."""

from __future__ import annotations

import pytest

import bayeslabels as bl


@pytest.fixture(scope="session")
def small_sim() -> bl.simulate.SimulatedData:
    """200 items, 12 annotators, K = 3, 3-6 labels per item, one spammer."""
    return bl.simulate.dawid_skene(
        n_items=200, n_annotators=12, n_classes=3, labels_per_item=(3, 6), spammer_fraction=0.1, seed=7
    )


@pytest.fixture(scope="session")
def nuts_fit(small_sim) -> bl.Fit:
    """Class-conditional Dawid-Skene by NUTS at the default ``sampler="auto"`` (NumPyro here),
    4 chains x 1000 draws, seeded (a seeded fit is the same whatever the cache state:
    test_reproducibility), well inside the check's thresholds (test_nuts). ``max_draws=0``:
    exactly the draws asked for."""
    return bl.fit(
        small_sim.annotations,
        model="dawid-skene",
        method="nuts",
        draws=1000,
        tune=1000,
        chains=4,
        seed=0,
        max_draws=0,
        quiet=True,
    )


@pytest.fixture(scope="session")
def em_fit(small_sim) -> bl.Fit:
    return bl.fit(small_sim.annotations, method="em")


@pytest.fixture(scope="session")
def subtype_sim() -> bl.simulate.SimulatedData:
    """600 items in 3 subtypes, 15 annotators; everyone is more reliable on s0 (logit +1.2)
    than on s1 and s2, which are alike."""
    return bl.simulate.dawid_skene(
        n_items=600,
        n_annotators=15,
        n_classes=2,
        labels_per_item=(3, 5),
        spammer_fraction=0.0,
        n_subtypes=3,
        subtype_shift=(1.2, 0.0, 0.0),
        seed=8,
    )


@pytest.fixture(scope="session")
def subtype_fit(subtype_sim) -> bl.Fit:
    """Hierarchical-subtype by NUTS, 2 chains x 500 draws, seeded. This posterior also has a
    mode in which one subtype's classes are flipped, and a short run can fall into it (with
    target_accept 0.9 chain 1 does, on s2; check() reports it): the fixture is a fit that stays
    in the reference mode, which the tests of compare_subtypes and of the flip detector need."""
    return bl.fit(
        subtype_sim.annotations,
        model="hierarchical-subtype",
        draws=500,
        tune=500,
        chains=2,
        seed=0,
        target_accept=0.8,
        max_draws=0,
        quiet=True,
    )


SHARED_FITS = ("nuts_fit", "subtype_fit")


def _uses_own_module_fixture(item: pytest.Item) -> bool:
    """Whether ``item`` reads a module-scoped fixture of its own test module (a fit, mostly)."""
    info = getattr(item, "_fixtureinfo", None)
    module = item.nodeid.split("::")[0]
    return info is not None and any(
        definition.scope == "module" and definition.baseid == module
        for definitions in info.name2fixturedefs.values()
        for definition in definitions
    )


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadgroup``), every test that reads one of the sampled session
    fixtures runs on the same worker, and so do the tests of one module that read its own
    module-scoped fixtures: each fixture is compiled and sampled once per run, not once per
    worker (on a cold run `test_refit`'s numba fit was compiled on both workers, 97 s and 80 s).
    A module whose own fixtures are read by some tests that also read a session fit joins that
    fit's group whole, or its fixtures would be built on both workers."""
    shared: dict[str, str] = {}  # node id -> the session fit it reads
    for item in items:
        used = [name for name in SHARED_FITS if name in getattr(item, "fixturenames", ())]
        if used:
            shared[item.nodeid] = used[0]
    own = [item for item in items if _uses_own_module_fixture(item)]
    fits_by_module: dict[str, set[str]] = {}
    for item in own:
        fits = fits_by_module.setdefault(item.nodeid.split("::")[0], set())
        fits.update([shared[item.nodeid]] if item.nodeid in shared else [])
    groups = dict(shared)
    for item in own:
        module = item.nodeid.split("::")[0]
        fits = fits_by_module[module]
        if len(fits) == 1:  # the module's fixtures go where the one session fit it reads is built
            groups[item.nodeid] = next(iter(fits))
        elif item.nodeid not in shared:  # none, or several: the module's own group
            groups[item.nodeid] = module
    for item in items:
        if item.nodeid in groups:
            item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
