"""What check() reports on a deliberately label-switched fit and after relabel().

Per K in (2, 3): simulated data (250 items, 10 annotators, no gold), a symmetric confusion
prior (confusion_diag_per_class = 0), three chains started at the EM solution and one at
the class-permuted EM solution. Prints and writes benchmarks/results/label_switching.json.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import xarray as xr

import bayeslabels as bl


def switched_fit(k: int) -> tuple[bl.Fit, bl.Fit]:
    sim = bl.simulate.dawid_skene(
        n_items=250, n_annotators=10, n_classes=k, labels_per_item=(3, 5), spammer_fraction=0.0, seed=k
    )
    spec = bl.ModelSpec(priors=bl.DawidSkenePriors(confusion_diag_per_class=0.0))
    settings = dict(model=spec, draws=1000, tune=500, quiet=True)
    healthy = bl.fit(sim.annotations, chains=3, **settings)
    permutation = list(np.roll(np.arange(k), 1))
    em = healthy.em
    start = replace(em, confusion=em.confusion[:, permutation], prevalence=em.prevalence[permutation])
    stray = bl.fit(sim.annotations, chains=1, init=start, seed=5, **settings)
    groups = {}
    for name in ("posterior", "sample_stats"):
        a, b = healthy.posterior[name].to_dataset(), stray.posterior[name].to_dataset()
        groups[name] = xr.concat([a, b.assign_coords(chain=b.chain + 3)], dim="chain")
    return healthy, replace(healthy, posterior=xr.DataTree.from_dict(groups))


def summary(report) -> dict:
    return {
        "ok": report.ok,
        "max_rhat": report.max_rhat,
        "min_ess_bulk": report.min_ess_bulk,
        "chains": [
            {"permutation": c.permutation, "switched": c.switched, "agreement": c.agreement}
            for c in report.chains
        ],
        "reasons": list(report.reasons),
    }


def main() -> None:
    results = {}
    for k in (2, 3):
        healthy, mixed = switched_fit(k)
        fixed = mixed.relabel()
        gap = np.abs(fixed.soft_labels().mean - healthy.soft_labels().mean).max()
        results[f"K={k}"] = {
            "switched": summary(mixed.check()),
            "relabelled": summary(fixed.check()),
            "max_soft_label_gap_vs_unswitched": float(gap),
        }
        print(f"K={k} switched:\n{mixed.check()}\nK={k} relabelled:\n{fixed.check()}\nmax gap {gap:.4f}\n")
    out = Path(__file__).parent / "results" / "label_switching.json"
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
