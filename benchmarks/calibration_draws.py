"""Gold calibration of a posterior: map fitted on the posterior mean vs on the draws.

`bl.calibrate` applies its map draw by draw and exports the mean of the calibrated draws. It used
to fit the map on the log of the posterior mean; it now fits it on the draws, to the mean it
exports. This script fits one family by NUTS (2 chains × 500, gold held out), calibrates it on all
the gold (5 folds, cross-fitted) and on 20 % of it (scored on the other 80 %) both ways (the old
way by swapping in the old fitted-on function), then self-calibrates it (no gold).

    .venv/bin/python benchmarks/calibration_draws.py rte item-difficulty

Prints one line per calibration; results by hand in results/calibration_draws.md.
"""

from __future__ import annotations

import sys
import time
import warnings

import bayeslabels as bl

calibrate_module = sys.modules["bayeslabels.calibrate"]  # bl.calibrate is the function


def main() -> None:
    warnings.simplefilter("ignore")
    name, family = sys.argv[1], sys.argv[2]
    ann = bl.datasets.load(name)
    started = time.perf_counter()
    fit = bl.fit(ann, model=family, use_gold=False, quiet=True, seed=0, draws=500, tune=500, chains=2)
    print("fit seconds", round(time.perf_counter() - started), flush=True)
    on_draws = calibrate_module._log_fitted_on

    def on_mean(fit, before, items, seed):
        return calibrate_module._log(before.mean[items])

    for label, fitted_on in (("map fitted on the mean (old)", on_mean), ("fitted on the draws", on_draws)):
        calibrate_module._log_fitted_on = fitted_on
        for fraction, gold in ((None, "cross-fitted"), (0.2, "held-out")):
            cal = bl.calibrate(fit, ann.gold, fraction=fraction, seed=0)
            scores = {
                m: (round(cal.value(m, "before", gold), 3), round(cal.value(m, "after", gold), 3))
                for m in ("ece", "log_loss")
            }
            print(name, family, label, fraction, round(cal.temperature, 2), scores, flush=True)
    calibrate_module._log_fitted_on = on_draws
    self_cal = bl.self_calibrate(fit)
    metrics = bl.evaluate(self_cal.soft_labels(), ann.gold, n_boot=50).metrics.set_index("metric")["estimate"]
    before = bl.evaluate(fit, ann.gold, n_boot=50).metrics.set_index("metric")["estimate"]
    for label, m in (("as fitted", before), (f"self-calibrated (r = {self_cal.correlation:.3f})", metrics)):
        print(label, {k: round(float(m[k]), 3) for k in ("accuracy", "ece", "log_loss", "brier")})


if __name__ == "__main__":
    main()
