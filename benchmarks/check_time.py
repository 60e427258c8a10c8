"""How long `Fit.check()` takes on a 4 × 1000-draw fit of the 1k items × 50 annotators set.

check() = R-hat, bulk/tail ESS, divergences, BFMI (arviz_stats) + per-chain and per-window
item posteriors for label-switching alignment (one pass of the shared likelihood over every
draw) + identifiability warnings. Timed after the fit, best of 3 fresh Fit objects (check()
is cached per Fit). Writes benchmarks/results/check_time.json.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import bayeslabels as bl


def main() -> None:
    sim = bl.simulate.dawid_skene(n_items=1000, n_annotators=50, n_classes=2, labels_per_item=5, seed=0)
    fit = bl.fit(sim.annotations, draws=1000, tune=1000, chains=4, quiet=True)
    times = []
    for _ in range(3):
        fresh = replace(fit)  # a new object: the cached report is not shared
        start = time.perf_counter()
        report = fresh.check()
        times.append(time.perf_counter() - start)
    result = {
        "check_seconds_best": min(times),
        "check_seconds_all": times,
        "ok": report.ok,
        "max_rhat": report.max_rhat,
        "min_ess_bulk": report.min_ess_bulk,
        "min_ess_tail": report.min_ess_tail,
        "divergences": report.divergences,
        "bfmi_min": min(report.bfmi),
        "chains_switched": [c.switched for c in report.chains],
    }
    print(report)
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "check_time.json"
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
