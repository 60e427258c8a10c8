"""Dawid–Skene EM in memory vs over a partitioned Dask table on a LocalCluster, same data.

Data: Dawid–Skene labels drawn here, vectorised (`bayeslabels.simulate.dawid_skene` draws
an items × annotators key table, too big at millions of items): the confusion matrices and
prevalence of a `bayeslabels.simulate.dawid_skene` call with ``--annotators`` annotators and
K = ``--classes``; each item gets ``--labels-per-item`` distinct annotators (consecutive ids
from a random start). Items = labels / labels-per-item. The table is written once as
``--files`` Parquet files (ids and labels as strings) in a temporary folder.

Per size (default 1M and 5M labels), each side in a fresh process (`_common.run_worker`):

* ``in-memory``: ``Annotations.from_parquet`` (ingest, timed) then
  ``bayeslabels.dawid_skene_em(ann)`` (timed); the estimates are saved for the comparison;
* ``dask``: a ``LocalCluster`` (``--workers`` worker processes, 1 thread each; its start is
  not timed), then ``bayeslabels.dawid_skene_em_dask(dd.read_parquet(folder), client=...)``
  timed end to end (its phases from ``DaskEMResult.seconds``: code books, shuffle by item +
  persisted count matrices, iterations), and the per-item posteriors computed back to the
  client for the comparison (timed separately).

Reported: wall seconds, iterations and seconds per iteration of each, the ratio, and the
largest differences between the two results (absolute for confusion, prevalence and per-item
posterior; relative for the objective per iteration, a sum over all items) — the target is
equality to 1e-8 with equal iterations.

Run from the repository root:
    .venv/bin/python benchmarks/em_dask.py [--labels 1000000 5000000] [--workers 2]
Writes benchmarks/results/em_dask.{json,md} and appends each case to em_dask.jsonl.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
from _common import RESULTS, SHARED_NOTE, fmt, machine_info, machine_line, package_commit, run_worker, write

LOG = RESULTS / "em_dask.jsonl"
TOLERANCE = 1e-8


def simulate(job: dict) -> dict:
    """Write the label table as Parquet files; returns its size."""
    import pandas as pd

    import bayeslabels as bl

    k, n_annot, per_item = job["classes"], job["annotators"], job["labels_per_item"]
    truth = bl.simulate.dawid_skene(  # 2 items labelled by everyone: every annotator's confusion
        n_items=2, n_annotators=n_annot, n_classes=k, labels_per_item=n_annot, seed=job["seed"]
    )
    rng = np.random.default_rng(job["seed"] + 1)
    n_items = job["labels"] // per_item
    true_class = rng.choice(k, size=n_items, p=truth.prevalence)
    start = rng.integers(0, n_annot, size=n_items)
    item_idx = np.repeat(np.arange(n_items), per_item)
    annotator_idx = (np.repeat(start, per_item) + np.tile(np.arange(per_item), n_items)) % n_annot
    cumulative = truth.confusion[annotator_idx, true_class[item_idx]].cumsum(axis=1)
    label = (rng.random(len(item_idx))[:, None] > cumulative).sum(axis=1).clip(max=k - 1)
    frame = pd.DataFrame(
        {
            "item": pd.Series(np.char.add("item", item_idx.astype(str)), dtype="string"),
            "annotator": pd.Series(np.char.add("ann", annotator_idx.astype(str)), dtype="string"),
            "label": pd.Series(label.astype(str), dtype="string"),
        }
    )
    folder = Path(job["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    rows = np.array_split(np.arange(len(frame)), job["files"])
    for number, part in enumerate(rows):
        frame.iloc[part].reset_index(drop=True).to_parquet(folder / f"part{number:03d}.parquet", index=False)
    return {"n_labels": len(frame), "n_items": n_items, "n_annotators": n_annot, "n_classes": k}


def in_memory(job: dict) -> dict:
    import bayeslabels as bl

    files = sorted(Path(job["folder"]).glob("*.parquet"))
    start = time.perf_counter()
    import pandas as pd

    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    ann = bl.Annotations.from_frame(frame)
    ingest = time.perf_counter() - start
    del frame
    start = time.perf_counter()
    em = bl.dawid_skene_em(ann)
    seconds = time.perf_counter() - start
    np.savez(
        job["out"],
        confusion=em.confusion,
        prevalence=em.prevalence,
        posterior=em.posterior,
        trace=em.log_posterior,
        items=np.asarray(em.items, dtype=str),
        annotators=np.asarray(em.annotators, dtype=str),
    )
    return {"ingest_seconds": ingest, "seconds": seconds, "n_iter": int(em.n_iter), "converged": em.converged}


def on_dask(job: dict) -> dict:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import bayeslabels as bl

    with (
        LocalCluster(
            n_workers=job["workers"], threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(job["workers"])
        client.run(lambda: __import__("bayeslabels"))  # import on the workers, outside the timing
        start = time.perf_counter()
        table = dd.read_parquet(job["folder"])
        result = bl.dawid_skene_em_dask(table, client=client)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        posterior = result.posterior.compute()
        gather = time.perf_counter() - start
        partitions = result.posterior.npartitions
    ref = np.load(job["reference"])
    order = result.annotators.get_indexer(ref["annotators"])
    columns = [f"p_{c}" for c in result.classes]
    mine = posterior.set_index("item").loc[ref["items"], columns].to_numpy()
    trace_diff = (  # relative: the objective sums one term per item (millions at this scale)
        float((np.abs(result.log_posterior - ref["trace"]) / np.abs(ref["trace"])).max())
        if len(result.log_posterior) == len(ref["trace"])
        else float("nan")
    )
    return {
        "seconds": seconds,
        "phases": result.seconds,
        "n_iter": int(result.n_iter),
        "converged": result.converged,
        "partitions": partitions,
        "posterior_gather_seconds": gather,
        "max_abs_diff": {
            "confusion": float(np.abs(result.confusion[order] - ref["confusion"]).max()),
            "prevalence": float(np.abs(result.prevalence - ref["prevalence"]).max()),
            "posterior": float(np.abs(mine - ref["posterior"]).max()),
            "objective_trace_relative": trace_diff,
        },
        "same_iterations": int(result.n_iter) == len(ref["trace"]),
    }


def worker(job: dict) -> None:
    kind = job.pop("kind")
    result = {"simulate": simulate, "in-memory": in_memory, "dask": on_dask}[kind](job)
    print(json.dumps(result, default=float))


def run_case(n_labels: int, args, folder: Path) -> dict:
    base = {
        "labels": n_labels,
        "classes": args.classes,
        "annotators": args.annotators,
        "labels_per_item": args.labels_per_item,
        "seed": args.seed,
        "files": args.files,
        "folder": str(folder / f"labels-{n_labels}"),
    }
    script = str(Path(__file__).resolve())
    print(f"{n_labels:,} labels: simulating ...", flush=True)
    data = run_worker(script, {"kind": "simulate", **base})
    if "error" in data:
        raise SystemExit(f"simulation failed: {data}")
    reference = str(folder / f"em-{n_labels}.npz")
    print(f"{n_labels:,} labels: in-memory EM ...", flush=True)
    memory = run_worker(script, {"kind": "in-memory", **base, "out": reference})
    print(f"{n_labels:,} labels: Dask EM on {args.workers} worker processes ...", flush=True)
    dask = run_worker(script, {"kind": "dask", **base, "reference": reference, "workers": args.workers})
    record = {"data": data, "in_memory": memory, "dask": dask}
    if "error" not in memory and "error" not in dask:
        diffs = dask["max_abs_diff"]
        record["ratio"] = dask["seconds"] / memory["seconds"]
        record["equal"] = bool(
            dask["same_iterations"]
            and max(diffs["confusion"], diffs["prevalence"], diffs["posterior"]) <= TOLERANCE
            and diffs["objective_trace_relative"] <= TOLERANCE
        )
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a") as handle:
        handle.write(json.dumps({**record, "bayeslabels_commit": package_commit()}, default=float) + "\n")
    return record


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Dawid–Skene EM: in memory vs Dask (LocalCluster)",
        "",
        machine_line(m) + f" · dask {m['dask']} · distributed {m['distributed']}",
        "",
        f"Settings: {report['settings']}. {SHARED_NOTE}",
        "",
        "| labels | items | in-memory ingest s | in-memory EM s (iters) | s/iter | Dask EM s (iters) "
        "| code books s | shuffle + build s | iterations s | s/iter | Dask / in-memory | gather posteriors s "
        "| max abs diff π, ρ, posterior; max rel diff objective | equal to 1e-8 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|:---:|",
    ]
    for r in report["results"]:
        d, mem, dk = r["data"], r["in_memory"], r["dask"]
        if "error" in mem or "error" in dk:
            lines.append(f"| {d.get('n_labels', '?')} | error: {mem.get('error') or dk.get('error')} |")
            continue
        diff = dk["max_abs_diff"]
        ph = dk["phases"]
        lines.append(
            f"| {d['n_labels']:,} | {d['n_items']:,} | {mem['ingest_seconds']:.2f} "
            f"| {mem['seconds']:.2f} ({mem['n_iter']}) | {mem['seconds'] / mem['n_iter']:.3f} "
            f"| {dk['seconds']:.2f} ({dk['n_iter']}) | {ph['code_books']:.2f} | {ph['partition']:.2f} "
            f"| {ph['em']:.2f} | {ph['em'] / dk['n_iter']:.3f} | {r['ratio']:.1f}× "
            f"| {dk['posterior_gather_seconds']:.2f} "
            f"| {fmt(diff['confusion'], '.1e')}, {fmt(diff['prevalence'], '.1e')}, "
            f"{fmt(diff['posterior'], '.1e')}; {fmt(diff['objective_trace_relative'], '.1e')} "
            f"| {'yes' if r['equal'] else 'no'} |"
        )
    lines += [
        "",
        "Dask EM time is end to end from `dd.read_parquet` (cluster start and worker imports excluded); "
        "in-memory EM time excludes ingest (`Annotations.from_frame` of the concatenated Parquet files), "
        "shown separately. Per-item posteriors stay on the workers until gathered for the comparison. "
        "Equal: same iterations, confusion, prevalence and every item's posterior within 1e-8, and the "
        "objective per iteration within 1e-8 relative (it is a sum over up to millions of items, so its "
        "absolute rounding grows with the data).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--annotators", type=int, default=1000)
    parser.add_argument("--labels-per-item", type=int, default=5)
    parser.add_argument("--files", type=int, default=8, help="Parquet files (= input partitions)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return

    settings = {
        key: getattr(args, key)
        for key in ("classes", "annotators", "labels_per_item", "files", "workers", "seed")
    }
    machine = {**machine_info(), "dask": version("dask"), "distributed": version("distributed")}
    with tempfile.TemporaryDirectory(prefix="em-dask-") as tmp:
        results = [run_case(n, args, Path(tmp)) for n in args.labels]
    report = {"machine": machine, "settings": settings, "results": results}
    write("em_dask", report, markdown(report))


if __name__ == "__main__":
    sys.exit(main())
