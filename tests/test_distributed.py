"""Dask: independent fits fanned out over a cluster, and Dawid–Skene EM over a partitioned table.

Specification:

* `fit_many` gives the same fits serially, on a cluster of worker processes (everything
  pickled both ways), on threads, and through a scheduler address; a task without a seed of
  its own gets ``task_seed(base, name)``, whatever the other tasks; a failing task's error
  comes back with the task named.
* The builders: per-subtype tasks cover every item exactly once; K-fold training tasks hold
  no test item, label or gold; bootstrap replicates are seeded and reproducible, with each
  copy of an item named ``item#c`` and carrying that item's labels.
* `dawid_skene_em_dask` equals in-memory `dawid_skene_em` to 1e-8 (confusion, prevalence,
  each item's posterior, the objective per iteration, iterations) on simulated data split
  into several partitions, K = 2 and 3, with and without gold, class-conditional and
  one-coin; a table missing a column is a DataError.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import bayeslabels as bl
from bayeslabels.distributed import bootstrap_origin, kfold_splits, task_seed

distributed = pytest.importorskip("distributed")


def _local_client(processes: bool):
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=processes, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def process_client():
    """Two single-threaded worker processes: every task and result crosses a pickle."""
    yield from _local_client(processes=True)


@pytest.fixture(scope="module")
def thread_client():
    """Two single-threaded workers in this process (fast, for the EM equality cases)."""
    yield from _local_client(processes=False)


@pytest.fixture(scope="module")
def sim() -> bl.simulate.SimulatedData:
    """300 items in 3 subtypes, 12 annotators, K = 3, gold for about 10% of items."""
    return bl.simulate.dawid_skene(
        n_items=300, n_annotators=12, n_classes=3, n_subtypes=3, gold_fraction=0.1, seed=11
    )


def assert_same_fit(a: bl.Fit, b: bl.Fit) -> None:
    """Identical posteriors (bit for bit), spec (seed included) and soft labels."""
    post_a, post_b = a.posterior["posterior"].to_dataset(), b.posterior["posterior"].to_dataset()
    assert list(post_a.data_vars) == list(post_b.data_vars)
    for name in post_a.data_vars:
        np.testing.assert_array_equal(post_a[name].values, post_b[name].values)
    assert a.spec == b.spec
    pd.testing.assert_frame_equal(a.soft_labels().to_frame(), b.soft_labels().to_frame())


# --------------------------------------------------------------------------- fit_many


def test_importing_bayeslabels_does_not_import_dask():
    code = "import sys, bayeslabels; assert 'dask' not in sys.modules and 'distributed' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fit_many_on_worker_processes_equals_the_serial_run(sim, process_client):
    ann = sim.annotations
    tasks = {
        **bl.tasks_by_subtype(ann),
        **bl.fold_tasks(ann, n_folds=3, seed=1),
        **bl.bootstrap_tasks(ann, 2, seed=5),
        "one-coin": (ann, {"model": "one-coin"}),
    }
    serial = bl.fit_many(tasks, method="em", seed=3)
    remote = bl.fit_many(tasks, client=process_client, method="em", seed=3)
    assert list(serial) == list(remote) == list(tasks)
    for name in tasks:
        assert_same_fit(serial[name], remote[name])
        assert remote[name].spec.inference.seed == task_seed(3, name)
    assert remote["one-coin"].spec.model == "one-coin"
    assert remote["s0"].annotations.n_items == serial["s0"].annotations.n_items


def test_fit_many_through_a_scheduler_address(sim, process_client):
    tasks = bl.fold_tasks(sim.annotations, n_folds=2, seed=0)
    address = process_client.scheduler.address
    assert address.startswith("tcp://")
    remote = bl.fit_many(tasks, client=address, method="em")
    for name, fitted in bl.fit_many(tasks, method="em").items():
        assert_same_fit(fitted, remote[name])


@pytest.fixture(scope="module")
def map_fits(sim, thread_client):
    """Posterior-mode (L-BFGS) fits of two subtypes, serially and on two worker threads (the
    fits compile one at a time in a process: PyTensor's compile cache is not thread-safe)."""
    tasks = {name: task for name, task in bl.tasks_by_subtype(sim.annotations).items() if name != "s2"}
    return bl.fit_many(tasks, method="map", seed=4), bl.fit_many(
        tasks, client=thread_client, method="map", seed=4
    )


def test_fit_many_map_on_the_cluster_equals_the_serial_run(map_fits):
    serial, remote = map_fits
    assert list(serial) == ["s0", "s1"]
    for name in serial:
        assert serial[name].method == "map"
        assert_same_fit(serial[name], remote[name])


def test_fits_survive_pickling(sim, map_fits):
    em_fit = bl.fit(sim.annotations, method="em")
    for fitted in (em_fit, map_fits[0]["s0"]):
        copy = pickle.loads(pickle.dumps(fitted))
        assert_same_fit(fitted, copy)
        assert copy.method == fitted.method and copy.used_gold == fitted.used_gold
        np.testing.assert_array_equal(copy.annotations.item_idx, fitted.annotations.item_idx)
        assert copy.annotations.items.equals(fitted.annotations.items)
        np.testing.assert_array_equal(copy.em.posterior, fitted.em.posterior)
        assert not copy.annotations.label.flags.writeable  # read-only after the trip, as built


def test_a_task_seed_depends_on_the_base_seed_and_its_name_only(sim):
    ann = sim.annotations
    both = bl.fit_many({"b": ann, "a": ann}, method="em", seed=7)
    alone = bl.fit_many({"a": ann}, method="em", seed=7)
    assert both["a"].spec.inference.seed == alone["a"].spec.inference.seed == task_seed(7, "a")
    assert task_seed(7, "a") != task_seed(7, "b") != task_seed(8, "b")
    own = bl.fit_many({"a": (ann, {"seed": 123})}, method="em", seed=7)
    assert own["a"].spec.inference.seed == 123
    assert_same_fit(alone["a"], bl.fit(ann, method="em", seed=task_seed(7, "a")))


@pytest.mark.parametrize("where", ["serial", "processes"])
def test_a_failing_task_is_named(sim, process_client, where):
    tasks = {"good": sim.annotations, "bad": (sim.annotations, {"model": "hierarchical"})}
    with pytest.raises(bl.SpecError, match="method 'em' fits Dawid–Skene only") as caught:
        bl.fit_many(tasks, client=None if where == "serial" else process_client, method="em")
    assert "task 'bad'" in " ".join(getattr(caught.value, "__notes__", []))


def test_fit_many_refuses_what_is_not_a_task(sim):
    with pytest.raises(TypeError, match="task 'x'"):
        bl.fit_many({"x": sim.annotations.to_frame()}, method="em")
    with pytest.raises(TypeError, match="client must be"):
        bl.fit_many({"x": sim.annotations}, client=42, method="em")


# --------------------------------------------------------------------------- builders


def test_subtype_tasks_cover_every_item_exactly_once(sim):
    ann = sim.annotations
    tasks = bl.tasks_by_subtype(ann)
    assert list(tasks) == list(ann.subtypes)
    items = pd.Index(np.concatenate([t.items.to_numpy() for t in tasks.values()]))
    assert items.is_unique and set(items) == set(ann.items)
    assert sum(t.n_labels for t in tasks.values()) == ann.n_labels
    assert sum(int((t.gold >= 0).sum()) for t in tasks.values()) == int((ann.gold >= 0).sum())
    for name, task in tasks.items():
        assert set(task.subtypes[task.subtype]) == {name}
        original = ann.to_frame(include_gold=True)
        mine = original[original["item"].isin(task.items)].reset_index(drop=True)
        pd.testing.assert_frame_equal(task.to_frame(include_gold=True), mine)


def test_fold_tasks_do_not_leak_test_items(sim):
    ann = sim.annotations
    splits = kfold_splits(ann, n_folds=4, seed=2)
    tests = np.stack([s.test_items for s in splits])
    assert (tests.sum(axis=0) == 1).all()  # every item is tested in exactly one fold
    tasks = bl.fold_tasks(ann, n_folds=4, seed=2)
    assert list(tasks) == ["fold0", "fold1", "fold2", "fold3"]
    for split_, task in zip(splits, tasks.values(), strict=True):
        assert not set(task.items) & set(split_.test_item_ids)
        assert set(task.items) == set(split_.train_item_ids)
        assert task.n_labels == int(split_.train_rows.sum())
        gold = ann.gold_series()
        assert task.gold_series().equals(gold.reindex(task.items).rename("gold"))


def test_bootstrap_replicates_are_seeded_and_carry_whole_items(sim):
    ann = sim.annotations
    first, again = bl.bootstrap_tasks(ann, 3, seed=9), bl.bootstrap_tasks(ann, 5, seed=9)
    assert list(first) == ["boot0", "boot1", "boot2"]
    for name in first:  # same seed: the same replicates, whatever n
        pd.testing.assert_frame_equal(
            first[name].to_frame(include_gold=True), again[name].to_frame(include_gold=True)
        )
    other = bl.bootstrap_tasks(ann, 1, seed=10)["boot0"]
    assert not other.items.equals(first["boot0"].items)

    rep = first["boot1"]
    assert rep.n_items == ann.n_items and rep.items.is_unique
    origin = bootstrap_origin(rep.items)
    assert origin.isin(ann.items).all() and origin.duplicated().any()  # drawn with replacement
    copies = pd.Series(rep.items).str.rsplit("#", n=1).str[1].astype(int)
    assert (copies.groupby(origin.to_numpy()).apply(lambda c: sorted(c) == list(range(len(c))))).all()
    source = ann.to_frame(include_gold=True).astype(object)
    replicate = rep.to_frame(include_gold=True).astype(object)
    for copy, item in list(zip(rep.items, origin, strict=True))[:30]:  # each copy: its item's labels, gold
        mine = replicate[replicate["item"] == copy].drop(columns="item").reset_index(drop=True)
        theirs = source[source["item"] == item].drop(columns="item").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, theirs)


# --------------------------------------------------------------------------- EM over Dask


def assert_em_equal(result: bl.DaskEMResult, em: bl.EMResult, client) -> None:
    assert result.n_iter == em.n_iter and result.converged == em.converged
    assert list(result.classes) == list(em.classes) and list(result.annotators) == list(em.annotators)
    np.testing.assert_allclose(result.confusion, em.confusion, rtol=0, atol=1e-8)
    np.testing.assert_allclose(result.prevalence, em.prevalence, rtol=0, atol=1e-8)
    np.testing.assert_allclose(result.log_posterior, em.log_posterior, rtol=1e-12, atol=1e-8)
    frame = result.posterior.compute(scheduler=client)
    assert len(frame) == result.n_items == em.posterior.shape[0]
    posterior = frame.set_index("item").loc[list(em.items)].to_numpy()
    np.testing.assert_allclose(posterior, em.posterior, rtol=0, atol=1e-8)


CASES = [
    (2, None, "class-conditional"),
    (3, None, "class-conditional"),
    (2, "column", "class-conditional"),
    (3, "mapping", "class-conditional"),
    (3, "column", "one-coin"),
    (2, None, "one-coin"),
]


@pytest.mark.parametrize(("k", "gold", "variant"), CASES)
def test_dask_em_equals_in_memory_em(k, gold, variant, thread_client):
    sim = bl.simulate.dawid_skene(
        n_items=1500, n_annotators=25, n_classes=k, gold_fraction=0.1 if gold else 0.0, seed=20 + k
    )
    ann = sim.annotations
    em = bl.dawid_skene_em(ann, variant=variant)
    frame = ann.to_frame(include_gold=gold == "column")
    gold_arg = {"column": "gold", "mapping": ann.gold_series().dropna().to_dict(), None: None}[gold]
    table = dd.from_pandas(frame, npartitions=5, sort=False)
    result = bl.dawid_skene_em_dask(
        table, gold=gold_arg, variant=variant, npartitions=4, client=thread_client
    )
    assert result.posterior.npartitions == 4 and result.n_labels == ann.n_labels
    assert_em_equal(result, em, thread_client)


def test_dask_em_on_worker_processes(process_client):
    sim = bl.simulate.dawid_skene(n_items=800, n_annotators=15, n_classes=3, gold_fraction=0.1, seed=31)
    ann = sim.annotations
    table = dd.from_pandas(ann.to_frame(include_gold=True), npartitions=3, sort=False)
    result = bl.dawid_skene_em_dask(table, gold="gold", client=process_client)
    assert_em_equal(result, bl.dawid_skene_em(ann), process_client)
    labels = result.soft_label_partitions().compute(scheduler=process_client)
    labels = labels.set_index("item").loc[list(ann.items)]
    assert (labels["label"].to_numpy() == ann.classes[bl.dawid_skene_em(ann).label]).all()
    whole = result.to_em_result()
    assert whole.posterior.shape == (ann.n_items, 3) and set(whole.items) == set(ann.items)
    soft = result.soft_labels()  # the one soft-label value, as every producer returns it
    assert isinstance(soft, bl.SoftLabels) and soft.is_point_estimate
    np.testing.assert_allclose(
        soft.select(list(ann.items)).mean, bl.dawid_skene_em(ann).soft_labels().mean, atol=1e-8
    )
    pd.testing.assert_series_equal(result.accuracy(), bl.dawid_skene_em(ann).accuracy(), rtol=0, atol=1e-8)


def test_gold_for_items_without_labels(thread_client):
    sim = bl.simulate.dawid_skene(n_items=400, n_annotators=10, n_classes=2, gold_fraction=0.2, seed=4)
    frame = sim.annotations.to_frame()
    gold = {**sim.annotations.gold_series().dropna().to_dict(), "extra1": "0", "extra2": "1"}
    table = dd.from_pandas(frame, npartitions=3, sort=False)
    with pytest.raises(bl.DataError, match="gold given for 2 item"):
        bl.dawid_skene_em_dask(table, gold=gold, client=thread_client)
    result = bl.dawid_skene_em_dask(table, gold=gold, gold_only="keep", client=thread_client)
    ann = bl.Annotations.from_frame(frame, gold=gold, gold_only="keep")
    assert_em_equal(result, bl.dawid_skene_em(ann), thread_client)


def test_dask_em_refuses_a_table_without_the_columns(thread_client):
    frame = bl.simulate.dawid_skene(n_items=50, seed=1).annotations.to_frame()
    table = dd.from_pandas(frame.rename(columns={"annotator": "worker"}), npartitions=2)
    with pytest.raises(bl.DataError, match=r"missing column\(s\) \['annotator'\]"):
        bl.dawid_skene_em_dask(table, client=thread_client)
    with pytest.raises(bl.DataError, match="neither a column"):
        bl.dawid_skene_em_dask(dd.from_pandas(frame, npartitions=2), gold="truth", client=thread_client)
    result = bl.dawid_skene_em_dask(table, annotator="worker", client=thread_client)  # or name it
    assert len(result.annotators) == len(frame["annotator"].unique())
