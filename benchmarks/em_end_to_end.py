"""Dawid–Skene EM end to end from a DataFrame, first call in a fresh process: bayeslabels vs crowd-kit.

The user's path: a (task, worker, label) frame → `bl.Annotations.from_frame` (validation,
codes) → `bl.dawid_skene_em` → `soft_labels()`; crowd-kit's is `DawidSkene().fit_predict(frame)`
on the same frame. Each measurement runs in its own fresh process (``--one``), so first-call
costs count; the imports do not (for either library). Both at their defaults. Accuracy is
scored against the simulated truth (`bl.simulate.dawid_skene`, 1000 annotators, 5 labels per
item). Target (issue 18): ≥ 10× crowd-kit, accuracies within 0.001.

    .venv/bin/python benchmarks/em_end_to_end.py [--labels 500000 5000000] [--classes 2 3 5]

Needs crowd-kit (``pip install 'bayeslabels[bench]'``). Writes results/em_end_to_end.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

from _common import machine_info, machine_line, write

TARGET_RATIO, TARGET_ACC_DIFF = 10.0, 0.001


def one(library: str, frame_path: str) -> dict:
    """Time ``library``'s path from the frame to hard labels, in this (fresh) process."""
    import warnings

    import numpy as np
    import pandas as pd

    frame = pd.read_parquet(frame_path)
    truth = pd.read_parquet(frame_path.replace(".parquet", ".truth.parquet"))["label"]
    if library == "bayeslabels":
        import bayeslabels as bl
        import bayeslabels.aggregate  # noqa: F401  (the import, not the first call)

        started = time.perf_counter()
        ann = bl.Annotations.from_frame(frame, item="task", annotator="worker", label="label")
        em = bl.dawid_skene_em(ann)
        soft = em.soft_labels()
        seconds = time.perf_counter() - started
        hard = pd.Series(np.asarray(soft.classes)[soft.mean.argmax(axis=1)], index=soft.items)
    else:
        from crowdkit.aggregation import DawidSkene

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            started = time.perf_counter()
            hard = DawidSkene().fit_predict(frame)
            seconds = time.perf_counter() - started
    accuracy = float((hard.reindex(truth.index).astype(str) == truth.astype(str)).mean())
    return {"seconds": seconds, "accuracy": accuracy}


def _fresh(library: str, frame_path: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", library, frame_path],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--one", nargs=2, metavar=("LIBRARY", "FRAME"))
    parser.add_argument("--labels", type=int, nargs="+", default=[500_000, 5_000_000])
    parser.add_argument("--classes", type=int, nargs="+", default=[2, 3, 5])
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return
    import bayeslabels as bl

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n_labels in args.labels:
            for k in args.classes:
                sim = bl.simulate.dawid_skene(
                    n_items=n_labels // 5, n_annotators=1000, n_classes=k, labels_per_item=5, seed=0
                )
                path = f"{tmp}/frame_{n_labels}_{k}.parquet"
                frame = sim.annotations.to_frame().rename(columns={"item": "task", "annotator": "worker"})
                frame.to_parquet(path)
                names = list(sim.annotations.classes)
                truth = [names[c] for c in sim.true_class]
                import pandas as pd

                pd.DataFrame({"label": truth}, index=list(sim.annotations.items)).to_parquet(
                    path.replace(".parquet", ".truth.parquet")
                )
                ours, theirs = _fresh("bayeslabels", path), _fresh("crowdkit", path)
                row = {
                    "labels": n_labels,
                    "classes": k,
                    "bayeslabels_s": ours["seconds"],
                    "crowdkit_s": theirs["seconds"],
                    "ratio": theirs["seconds"] / ours["seconds"],
                    "accuracy_bayeslabels": ours["accuracy"],
                    "accuracy_crowdkit": theirs["accuracy"],
                }
                row["met"] = (
                    row["ratio"] >= TARGET_RATIO
                    and abs(row["accuracy_bayeslabels"] - row["accuracy_crowdkit"]) <= TARGET_ACC_DIFF
                )
                rows.append(row)
                print(row, flush=True)
    lines = [
        "# Dawid–Skene EM end to end from a DataFrame, first call in a fresh process",
        "",
        f"- {machine_line(machine_info())}",
        "- frame → `Annotations.from_frame` → `dawid_skene_em` → `soft_labels()` against crowd-kit's"
        " `DawidSkene().fit_predict(frame)`, each in its own fresh process, imports not timed; 1000"
        " annotators, 5 labels per item; accuracy against the simulated truth.",
        "",
        "| labels | K | bayeslabels s | crowd-kit s | ratio (target ≥ 10) | accuracy bl / ck | met |",
        "|---:|---:|---:|---:|---:|---|:---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['labels']:,} | {r['classes']} | {r['bayeslabels_s']:.3f} | {r['crowdkit_s']:.2f} |"
            f" {r['ratio']:.1f} | {r['accuracy_bayeslabels']:.4f} / {r['accuracy_crowdkit']:.4f} |"
            f" {'yes' if r['met'] else 'no'} |"
        )
    write("em_end_to_end", {"rows": rows}, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
