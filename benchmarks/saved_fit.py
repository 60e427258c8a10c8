"""Saved-fit size against its label file: what `Fit.save` writes, before and after the save
stopped storing deterministics (they are recomputed on load, `bayeslabels.persist.RECOMPUTED`).

Target (issue 18): saved fit ≤ 5 × the label file plus the parameter draws it must keep — the
free variables' draws, which no smaller file can restore. ``ratio`` = (saved − free draws) /
label file. "with deterministics" is the same DataTree written with them, as saves did before.
Each fit at its spec's defaults (4 chains × 1000 draws, more where its check asks for them).

    python benchmarks/saved_fit.py        # writes results/saved_fit.{json,md}
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).parent))
from _common import SHARED_NOTE, machine_info, machine_line, write  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TARGET = 5.0


def subtype_data(directory: Path):
    """The simulated subtype table of benchmarks/subtypes_demo.py, written as a label CSV."""
    import bayeslabels as bl

    sim = bl.simulate.dawid_skene(
        n_items=600, n_annotators=15, n_classes=2, labels_per_item=(3, 5), n_subtypes=3, seed=3
    )
    path = directory / "subtype_labels.csv"
    sim.annotations.to_frame().to_csv(path, index=False)
    return sim.annotations, path


def measure(name: str, family: str, ann, label_file: Path, directory: Path) -> dict:
    import bayeslabels as bl

    started = time.perf_counter()
    fit = bl.fit(ann, model=family, quiet=True)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    saved = fit.save(directory / f"{name}-{family}")
    save_s = time.perf_counter() - started
    started = time.perf_counter()
    loaded = bl.load(saved)
    load_s = time.perf_counter() - started
    posterior = fit.posterior["posterior"]
    deterministics = {var.name for var in fit.model.deterministics} & set(posterior.data_vars)
    free_bytes = sum(posterior[v].nbytes for v in posterior.data_vars if v not in deterministics)
    whole = {n: node.to_dataset() for n, node in fit.posterior.children.items() if n != "log_likelihood"}
    whole = {
        n: ds.drop_vars([v for v, a in ds.data_vars.items() if a.dtype == object]) for n, ds in whole.items()
    }
    before = len(bytes(xr.DataTree.from_dict(whole).to_netcdf(None, engine="h5netcdf")))
    saved_bytes = sum(p.stat().st_size for p in saved.iterdir())
    label_bytes = label_file.stat().st_size
    worst = max(
        (float(np.abs(loaded.posterior["posterior"][v] - posterior[v]).max()) for v in deterministics),
        default=0.0,
    )
    return {
        "data": name,
        "family": family,
        "labels": len(ann.label),
        "draws": int(posterior.sizes["chain"] * posterior.sizes["draw"]),
        "label_file_bytes": label_bytes,
        "free_draw_bytes": free_bytes,
        "saved_with_deterministics_bytes": before,
        "saved_bytes": saved_bytes,
        "ratio": (saved_bytes - free_bytes) / label_bytes,
        "recomputed": sorted(deterministics),
        "recomputed_max_abs_difference": worst,
        "fit_s": fit_s,
        "save_s": save_s,
        "load_s": load_s,
    }


def main() -> None:
    import bayeslabels as bl

    info = machine_info()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        rte = bl.datasets.load("rte")
        subtype_ann, subtype_csv = subtype_data(directory)
        jobs = [
            ("rte", "dawid-skene", rte, SHARED_DATA / "rte" / "labels.csv"),
            ("rte", "hierarchical", rte, SHARED_DATA / "rte" / "labels.csv"),
            ("sim-subtypes", "hierarchical-subtype", subtype_ann, subtype_csv),
        ]
        for name, family, ann, label_file in jobs:
            rows.append(measure(name, family, ann, label_file, directory))
            print(rows[-1], flush=True)
    mb = 1024 * 1024
    lines = [
        "# Saved fits: size against the label file",
        "",
        machine_line(info),
        "",
        "Target: saved ≤ 5 × label file + the free variables' draws (ratio = (saved − free draws) /",
        "label file). Deterministics are recomputed on load (`persist.RECOMPUTED`, PyTensor FAST_COMPILE);",
        "'with deterministics' is the same tree written with them, as every save did before.",
        "",
        "| data | family | labels | draws | label file KB | free draws MB | with deterministics MB "
        "| saved MB | ratio | target | recomputed (max abs diff) | save s | load s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['data']} | {r['family']} | {r['labels']} | {r['draws']} "
            f"| {r['label_file_bytes'] / 1024:.0f} | {r['free_draw_bytes'] / mb:.1f} "
            f"| {r['saved_with_deterministics_bytes'] / mb:.1f} | {r['saved_bytes'] / mb:.1f} "
            f"| {r['ratio']:.1f} | {'met' if r['ratio'] <= TARGET else 'MISSED'} "
            f"| {', '.join(r['recomputed']) or '—'} ({r['recomputed_max_abs_difference']:.0e}) "
            f"| {r['save_s']:.1f} | {r['load_s']:.1f} |"
        )
    lines += ["", SHARED_NOTE, ""]
    write("saved_fit", {"machine": info, "rows": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
