"""Gold-free ways to turn several family fits into one set of soft labels, scored on gold.

Every candidate family of ``model="auto"`` is fitted by NUTS at its shipped settings with gold held
out (or loaded from ``--fits DIR/<data>/<family>``, where a previous run saved it) and
self-calibrated (`bl.self_calibrate`: what ``--model auto`` exports by default). Then one set of
soft labels is made without gold, five ways, and each is scored on the held-out gold:

* **LOO pick**: `bl.compare_models`' recommendation (PSIS-LOO, then predictive misfits), today's
  ``--model auto``;
* **stacking average**: `bl.average_soft_labels` with the stacking weights of ``az.compare``
  (``loo_weight``);
* **equal average**: `bl.average_soft_labels` with equal weights over the converged candidates;
* **equal average without one-coin**: the same, one-coin (nested in Dawid–Skene) left out;
* **closest to the average**: the single family whose soft labels are nearest (mean total
  variation) to the equal average.

    .venv/bin/python benchmarks/gold_free_rules.py [--data rte dog ...] [--families ...] [--fits DIR]

Writes results/gold_free_rules.{json,md}.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import SHARED_NOTE, datasets_with_gold, fmt, load_shipped_fit, machine_info, machine_line, write

import bayeslabels as bl
from bayeslabels.fitting import AUTO_CANDIDATES

METRICS = ("accuracy", "ece", "log_loss", "brier")


def _scores(targets, gold) -> dict[str, float]:
    metrics = bl.evaluate(targets, gold, ci_prob=0.9, n_boot=50, seed=0).metrics
    return {metric: float(metrics.loc[metrics["metric"] == metric, "estimate"].iloc[0]) for metric in METRICS}


def _family_fit(ann: bl.Annotations, name: str, family: str, fits_dir: Path | None) -> tuple[bl.Fit, float]:
    """The family's shipped-settings NUTS fit, gold held out: loaded where saved, else fitted
    (and saved there when ``fits_dir`` is given)."""
    saved = fits_dir / name / family if fits_dir is not None else None
    if saved is not None and saved.exists():
        return load_shipped_fit(str(saved), ann, family, use_gold=False)
    started = time.perf_counter()
    fit = bl.fit(ann, model=family, use_gold=False, quiet=True, seed=0)
    seconds = time.perf_counter() - started
    if saved is not None:
        fit.save(saved)
    return fit, seconds


def _closest_to(target: np.ndarray, softs: dict[str, np.ndarray]) -> str:
    """The name whose probabilities are nearest ``target`` in mean total variation."""
    distance = {name: 0.5 * np.abs(p - target).sum(axis=1).mean() for name, p in softs.items()}
    return min(distance, key=distance.__getitem__)


def rows_for(name: str, families: list[str], fits_dir: Path | None) -> list[dict]:
    ann = bl.datasets.load(name)
    gold = ann.gold
    rows = [{"data": name, "rule": "vote share", **_scores(bl.majority_vote(ann), gold)}]
    em = bl.fit(ann, method="em", use_gold=False)
    rows.append({"data": name, "rule": "EM", **_scores(em, gold)})
    fits, calibrated, converged = {}, {}, {}
    for family in families:
        fit, seconds = _family_fit(ann, name, family, fits_dir)
        fits[family] = fit
        calibrated[family] = bl.self_calibrate(fit).fit
        converged[family] = bool(fit.check().ok)
        row = {"data": name, "rule": f"{family} + self-calibration", **_scores(calibrated[family], gold)}
        rows.append({**row, "seconds": seconds, "converged": converged[family]})
        print(rows[-1], flush=True)
    comparison = bl.compare_models(fits)
    chosen = comparison.recommended
    loo_pick = _scores(calibrated[chosen], gold)
    rows.append({"data": name, "rule": f"LOO pick → {chosen} (today's auto)", **loo_pick})
    weights = comparison.table.set_index("model")["loo_weight"].to_dict()
    stacked = bl.average_soft_labels(calibrated, weights=weights)
    shown = ", ".join(f"{m} {w:.2f}" for m, w in weights.items() if w >= 0.005)
    rows.append({"data": name, "rule": f"stacking average ({shown})", **_scores(stacked, gold)})
    kept = [f for f in families if converged[f]]
    equal = bl.average_soft_labels({f: calibrated[f] for f in kept})
    rows.append({"data": name, "rule": f"equal average of {len(kept)}", **_scores(equal, gold)})
    without = [f for f in kept if f != "one-coin"]
    rows.append(
        {
            "data": name,
            "rule": f"equal average of {len(without)}, no one-coin",
            **_scores(bl.average_soft_labels({f: calibrated[f] for f in without}), gold),
        }
    )
    softs = {f: calibrated[f].soft_labels().mean for f in kept}
    nearest = _closest_to(equal.mean, softs)
    closest = _scores(calibrated[nearest], gold)
    rows.append({"data": name, "rule": f"closest to the average → {nearest}", **closest})
    n_gold = int((gold >= 0).sum())
    for row in rows:
        row["n_gold"] = n_gold
    return rows


def table(rows: list[dict], machine: dict) -> str:
    lines = [
        "# Gold-free rules for one set of soft labels from several families, scored on gold",
        "",
        machine_line(machine),
        "",
        "Every family by NUTS at its shipped settings, gold held out, self-calibrated (no gold).",
        "Rules (no gold): LOO pick = `compare_models`' recommendation (today's `--model auto`);",
        "averages = `bl.average_soft_labels` over the self-calibrated fits (stacking weights from",
        "`az.compare`, or equal over the converged candidates); closest = the family nearest the",
        "equal average. ECE: 10-bin top-label; s: compile + sampling seconds of the family's fit.",
        "",
        "| data | gold items | rule | accuracy | ECE | log-loss | Brier | s | ok |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        ok = "" if "converged" not in r else ("yes" if r["converged"] else "no")
        lines.append(
            f"| {r['data']} | {r['n_gold']} | {r['rule']} | {fmt(r['accuracy'])} | {fmt(r['ece'])} "
            f"| {fmt(r['log_loss'])} | {fmt(r['brier'])} | {fmt(r.get('seconds'), '.1f')} | {ok} |"
        )
    lines += ["", SHARED_NOTE, ""]
    return "\n".join(lines)


def main() -> None:
    with_gold = datasets_with_gold()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=with_gold, choices=with_gold)
    parser.add_argument("--families", nargs="+", default=list(AUTO_CANDIDATES))
    parser.add_argument("--fits", type=Path, help="saved fits: loaded from / saved to DIR/<data>/<family>")
    parser.add_argument("--out", default="gold_free_rules", help="results/<out>.{json,md}")
    args = parser.parse_args()
    machine = machine_info()
    rows = [row for name in args.data for row in rows_for(name, args.families, args.fits)]
    write(args.out, {"machine": machine, "families": args.families, "rows": rows}, table(rows, machine))


if __name__ == "__main__":
    main()
