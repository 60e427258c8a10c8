"""Calibration on gold of every bundled data set: are the soft labels honest?

For each bundled data set with gold, gold is held out of every fit and the soft labels are scored
on it: accuracy, top-label ECE (10 bins), log-loss and Brier — for the vote share, Dawid–Skene EM,
and EM calibrated on the same gold by `bl.calibrate` (temperature and vector scaling, 5 folds
cross-fitted: every gold item is scored by a map fitted without its own gold). With ``--nuts``
also the Dawid–Skene NUTS posterior mean and its temperature-calibrated version (slow: minutes per
data set, adult_content a quarter of an hour).

With ``--families dawid-skene mace ambiguity ...`` every named family is fitted by NUTS (``--draws``
/ ``--tune`` per chain, ``--chains``; gold held out), scored the same way, with its compile and
sampling seconds and whether it passed its convergence check; then ``model="auto"``'s choice:
`bl.compare_models` over those fits (LOO and predictive checks, no gold), its recommended family's
row repeated as "auto → <family>", and that fit calibrated on 20 % of the gold (temperature),
scored on the other 80 % before and after.

    .venv/bin/python benchmarks/calibration.py [--nuts] [--families ...] [--data rte dog ...]

Writes results/calibration.{json,md}.
"""

from __future__ import annotations

import argparse
import time

from _common import SHARED_NOTE, fmt, machine_info, machine_line, write

import bayeslabels as bl

METRICS = ("accuracy", "ece", "log_loss", "brier")


def _scores(targets, gold) -> dict[str, float]:
    metrics = bl.evaluate(targets, gold, ci_prob=0.9, n_boot=50, seed=0).metrics
    return {metric: float(metrics.loc[metrics["metric"] == metric, "estimate"].iloc[0]) for metric in METRICS}


def _calibrated(cal: bl.Calibration) -> dict[str, float]:
    return {metric: cal.value(metric, "after") for metric in METRICS} | {"temperature": cal.temperature}


def family_rows(name: str, ann: bl.Annotations, families: list[str], settings: dict) -> list[dict]:
    """Each family by NUTS (gold held out), then auto's choice and its 20 %-gold calibration."""
    gold = ann.gold
    rows, fits = [], {}
    for family in families:
        started = time.perf_counter()
        fit = bl.fit(ann, model=family, use_gold=False, quiet=True, seed=0, **settings)
        seconds = time.perf_counter() - started
        fits[family] = fit
        info = fit.sampling
        rows.append(
            {
                "data": name,
                "method": family,
                **_scores(fit, gold),
                "seconds": seconds,
                "compile_seconds": info.compile_seconds if info else None,
                "sampling_seconds": info.sampling_seconds if info else None,
                "converged": bool(fit.check().ok),
            }
        )
        print(rows[-1], flush=True)
    if len(fits) > 1:
        comparison = bl.compare_models(fits)
        chosen = comparison.recommended
        row = next(r for r in rows if r["method"] == chosen)
        rows.append({**row, "method": f"auto → {chosen}", "reason": comparison.reason})
        cal = bl.calibrate(fits[chosen], gold, method="temperature", folds=5, seed=0, fraction=0.2)
        for when in ("before", "after"):
            rows.append(
                {
                    "data": name,
                    "method": f"auto → {chosen}, 20 % gold calibration ({when}), other 80 %",
                    **{m: cal.value(m, when, gold="held-out") for m in METRICS},
                    **({"temperature": cal.temperature} if when == "after" else {}),
                }
            )
    return rows


def rows_for(
    name: str, nuts: bool, families: list[str] | None = None, settings: dict | None = None
) -> list[dict]:
    ann = bl.datasets.load(name)
    gold = ann.gold
    rows = [{"data": name, "method": "vote share", **_scores(bl.majority_vote(ann), gold)}]
    em = bl.fit(ann, method="em", use_gold=False)
    rows.append({"data": name, "method": "EM", **_scores(em, gold)})
    for method in ("temperature", "vector"):
        cal = bl.calibrate(em, gold, method=method, folds=5, seed=0)
        rows.append({"data": name, "method": f"EM + {method} (cross-fitted)", **_calibrated(cal)})
    if nuts:
        started = time.perf_counter()
        posterior = bl.fit(ann, model="dawid-skene", use_gold=False, quiet=True)
        seconds = time.perf_counter() - started
        rows.append({"data": name, "method": "DS NUTS", **_scores(posterior, gold), "seconds": seconds})
        cal = bl.calibrate(posterior, gold, method="temperature", folds=5, seed=0)
        rows.append({"data": name, "method": "DS NUTS + temperature (cross-fitted)", **_calibrated(cal)})
    if families:
        rows += family_rows(name, ann, families, settings or {})
    n_gold = int((gold >= 0).sum())
    for row in rows:
        row["n_gold"] = n_gold
    return rows


def table(rows: list[dict], machine: dict) -> str:
    lines = [
        "# Calibration on held-out gold: vote share, EM, EM calibrated on gold",
        "",
        machine_line(machine),
        "",
        "Gold is held out of every fit. ECE: 10-bin top-label expected calibration error; log-loss and",
        "Brier of the soft label against gold. Calibrated rows are cross-fitted (5 folds): each gold item",
        "is scored by a map fitted on the other folds' gold. T: the temperature fitted on all the gold",
        "(T > 1: the soft labels were overconfident).",
        "",
        "Family rows: NUTS with gold held out; s = compile + sampling seconds; ok = passed its",
        "convergence check. auto: `compare_models` over the family fits (no gold) and its choice.",
        "",
        "| data | gold items | method | accuracy | ECE | log-loss | Brier | T | s | ok |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        ok = "" if "converged" not in r else ("yes" if r["converged"] else "no")
        lines.append(
            f"| {r['data']} | {r['n_gold']} | {r['method']} | {fmt(r['accuracy'])} | {fmt(r['ece'])} "
            f"| {fmt(r['log_loss'])} | {fmt(r['brier'])} | {fmt(r.get('temperature'), '.2f')} "
            f"| {fmt(r.get('seconds'), '.0f')} | {ok} |"
        )
    lines += ["", SHARED_NOTE, ""]
    return "\n".join(lines)


def main() -> None:
    with_gold = [name for name in bl.datasets.names() if bl.datasets.load(name).has_gold]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=with_gold, choices=with_gold)
    parser.add_argument("--nuts", action="store_true", help="also Dawid–Skene NUTS (slow)")
    parser.add_argument("--families", nargs="+", default=[], help="model families to fit by NUTS")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--out", default="calibration", help="results/<out>.{json,md}")
    args = parser.parse_args()
    machine = machine_info()
    settings = {"draws": args.draws, "tune": args.tune, "chains": args.chains}
    rows = [row for name in args.data for row in rows_for(name, args.nuts, args.families, settings)]
    meta = {"machine": machine, "settings": settings, "rows": rows}
    write(args.out, meta, table(rows, machine))


if __name__ == "__main__":
    main()
