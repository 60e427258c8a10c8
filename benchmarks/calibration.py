"""Calibration on gold of every bundled data set: are the soft labels honest?

For each bundled data set with gold, gold is held out of every fit and the soft labels are scored
on it: accuracy, top-label ECE (10 bins), log-loss and Brier — for the vote share, Dawid–Skene EM,
and EM calibrated on the same gold by `bl.calibrate` (every map: temperature-floor, temperature,
top-label, vector; 5 folds cross-fitted: every gold item is scored by a map fitted without its
own gold), EM calibrated on 20 % of the gold (scored on the other 80 %), and EM self-calibrated without gold
(`bl.self_calibrate`: a temperature growing with the label count, fitted on held-out labels;
also its in-sample variant, for comparison). With ``--nuts``
also the Dawid–Skene NUTS posterior mean and its temperature-calibrated version (slow: minutes per
data set, adult_content a quarter of an hour).

With ``--families dawid-skene mace ambiguity ...`` those families are the candidates of
``--model auto`` (`bl.auto_average`, gold held out): each is screened, every one whose screen mixed
is fitted by NUTS (``--draws`` / ``--tune`` per chain, ``--chains``; default its shipped
settings) and scored alone (compile and sampling seconds, whether it passed its check), then
what ``--model auto`` exports: the equal average of the converged ones, self-calibrated (no gold;
s = the whole auto run), LOO's pick among the same full fits (``--auto-rule pick``), and the
average calibrated on 20 % of the gold (temperature-floor and top-label, ``--gold-use calibrate
--calibration-fraction 0.2 [--calibration-method top-label]``) scored on the other 80 % (mean of
10 splits). ``--fits DIR`` re-uses shipped-settings full fits saved as DIR/<data>/<family> (the
screens still run), and saves there the shipped-settings full fits it makes.

    .venv/bin/python benchmarks/calibration.py [--nuts] [--families ...] [--data rte dog ...] [--fits DIR]

Writes results/calibration.{json,md}.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from _common import SHARED_NOTE, datasets_with_gold, fmt, load_shipped_fit, machine_info, machine_line, write

import bayeslabels as bl
from bayeslabels._tempering import item_temperature, temper
from bayeslabels.choices import CALIBRATION_METHODS
from bayeslabels.self_calibration import HeldOutLabels, fit_correlation, untempered

METRICS = ("accuracy", "ece", "log_loss", "brier")


def _scores(targets, gold) -> dict[str, float]:
    metrics = bl.evaluate(targets, gold, ci_prob=0.9, n_boot=50, seed=0).metrics
    return {metric: float(metrics.loc[metrics["metric"] == metric, "estimate"].iloc[0]) for metric in METRICS}


def _in_sample_correlation(em: bl.Fit) -> float:
    """r fitted by leaving one label out with the annotator parameters fitted on all labels
    (the held-out label included): what self-calibration would find without refitting."""
    ann = em.annotations
    log_pi = np.log(np.maximum(em.draws("confusion")[0], 1e-300))
    per_row = log_pi[ann.annotator_idx, :, ann.label]
    joint = np.zeros((ann.n_items, ann.n_classes))
    np.add.at(joint, ann.item_idx, per_row)
    joint += np.log(em.draws("prevalence")[0])
    n = ann.labels_per_item[ann.item_idx]
    keep = n >= 2
    held = HeldOutLabels(joint[ann.item_idx[keep]] - per_row[keep], per_row[keep], n[keep] - 1)
    return fit_correlation(held)


def _tempered(em: bl.Fit, correlation: float) -> bl.SoftLabels:
    """EM's soft labels tempered by T(n) = 1 + (n − 1) r."""
    soft = em.soft_labels()
    p = temper(soft.mean, item_temperature(em.annotations.labels_per_item, correlation))
    return replace(soft, mean=p, lower=p, upper=p, hard=None)


def _calibrated(cal: bl.Calibration) -> dict[str, float]:
    return {metric: cal.value(metric, "after") for metric in METRICS} | {"temperature": cal.temperature}


def _family_row(
    name: str, family: str, fit: bl.Fit, gold: np.ndarray, seconds: float, note: str = ""
) -> dict:
    info = fit.sampling
    return {
        "data": name,
        "method": family + note,
        **_scores(fit, gold),
        "seconds": seconds,
        "compile_seconds": info.compile_seconds if info else None,
        "sampling_seconds": info.sampling_seconds if info else None,
        "converged": bool(fit.check().ok),
        "draws": " → ".join(map(str, info.draws_used or (info.draws,))) if info else None,
    }


def _saved_fits(name: str, ann: bl.Annotations, families: list[str], fits_dir: Path | None) -> dict:
    """Shipped-settings full fits saved under ``fits_dir/<data>/<family>`` (gold held out): name →
    (fit, compile + sampling seconds)."""
    if fits_dir is None:
        return {}
    return {
        family: load_shipped_fit(str(fits_dir / name / family), ann, family, use_gold=False)
        for family in families
        if (fits_dir / name / family).exists()
    }


def family_rows(
    name: str, ann: bl.Annotations, families: list[str], settings: dict, fits_dir: Path | None = None
) -> list[dict]:
    """``--model auto`` (`bl.auto_average`: the screen, a full fit of every candidate that mixed,
    the equal average of the converged ones, self-calibrated; gold held out) and each family's
    full fit from it; then LOO's pick among them, and the average calibrated on 20 % of the gold."""
    gold = ann.gold
    saved = _saved_fits(name, ann, families, fits_dir)
    started = time.perf_counter()
    average = bl.auto_average(
        ann,
        candidates=families,
        use_gold=False,
        seed=0,
        quiet=True,
        final_settings=settings,
        full_fits={family: fit for family, (fit, _) in saved.items()},
    )
    seconds = (
        time.perf_counter() - started + sum(s for family, (_, s) in saved.items() if family in average.fits)
    )
    selection = average.model_selection
    assert selection is not None
    if fits_dir is not None and not settings:  # shipped settings: keep the new full fits for re-use
        for family, fit in average.fits.items():
            if family not in saved:
                fit_dir = fits_dir / name / family
                untempered(fit).save(fit_dir)
                print(f"saved {family} to {fit_dir}", flush=True)
    rows = []
    for family in families:
        if family in average.fits:
            fit = untempered(average.fits[family])
            took = (
                saved[family][1]
                if family in saved
                else fit.sampling.compile_seconds + fit.sampling.sampling_seconds
            )
            rows.append(_family_row(name, family, fit, gold, took, " (reused)" if family in saved else ""))
        else:
            rows.append(
                {
                    "data": name,
                    "method": f"{family}: not fitted in full (its screen did not mix, nor come close)",
                }
            )
        print(rows[-1], flush=True)
    members = ", ".join(selection["averaged"])
    rows.append(
        {
            "data": name,
            "method": f"auto: equal average of {members}, self-calibrated (no gold; the default)",
            **_scores(average.soft_labels(), gold),
            "seconds": seconds,
        }
    )
    comparison = bl.compare_models({f: untempered(fit) for f, fit in average.fits.items()})
    chosen = comparison.recommended
    rows.append(
        {
            "data": name,
            "method": f"auto --auto-rule pick: LOO's pick of the full fits → {chosen}, self-calibrated",
            **_scores(average.fits[chosen], gold),
            "reason": comparison.reason,
        }
    )
    for method in ("temperature-floor", "top-label"):
        rows += _twenty_percent_rows(name, average, gold, method, "auto (the average)")
    return rows


SPLITS = 10  # random 20 % calibration sets per data set: one split's ECE on 80 % of the gold is noisy


def _twenty_percent_rows(name: str, source, gold: np.ndarray, method: str, what: str = "EM") -> list[dict]:
    """The map fitted on a random 20 % of the gold, scored on the other 80 %: the mean over
    `SPLITS` seeded splits (before / after)."""
    cals = [
        bl.calibrate(source, gold, method=method, folds=5, seed=seed, fraction=0.2) for seed in range(SPLITS)
    ]
    rows = []
    for when in ("before", "after"):
        rows.append(
            {
                "data": name,
                "method": f"{what}, 20 % gold {method} ({when}), other 80 %, mean of {SPLITS} splits",
                **{m: float(np.mean([c.value(m, when, gold="held-out") for c in cals])) for m in METRICS},
                **(
                    {"temperature": float(np.mean([c.temperature for c in cals]))}
                    if when == "after" and cals[0].temperature is not None
                    else {}
                ),
            }
        )
    return rows


def _top_label_ece(probs: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """10-bin top-label ECE, binned as `bl.evaluate` bins (sklearn's calibration_curve)."""
    confidence, correct = probs.max(axis=1), (probs.argmax(axis=1) == y).astype(float)
    bins = np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1)[1:-1], confidence)
    gap = np.bincount(bins, correct - confidence, minlength=n_bins)
    return float(np.abs(gap).sum() / len(y))


def _perfect_calibration_reference(em: bl.Fit, gold: np.ndarray, n_sim: int = 500) -> dict:
    """The ECE a perfectly calibrated soft label gets on 80 % of this gold by chance alone: the
    gold items' calibrated probabilities (temperature-floor, all gold) taken as the truth, each
    item's class drawn from them, ECE scored on a random 80 % (mean over ``n_sim``)."""
    known = np.flatnonzero(gold >= 0)
    probs = bl.calibrate(em, gold).soft_labels().mean[known]
    rng = np.random.default_rng(0)
    n_scored = len(known) - round(0.2 * len(known))
    eces = []
    for _ in range(n_sim):
        drawn = (rng.random(len(known))[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
        subset = rng.permutation(len(known))[:n_scored]
        eces.append(_top_label_ece(probs[subset], drawn[subset]))
    return {
        "method": f"reference: a perfectly calibrated soft label, ECE on {n_scored} items by chance "
        f"(90 % of {n_sim} simulations ≤ {np.quantile(eces, 0.9):.3f})",
        "accuracy": None,
        "ece": float(np.mean(eces)),
        "log_loss": None,
        "brier": None,
    }


def rows_for(
    name: str,
    nuts: bool,
    families: list[str] | None = None,
    settings: dict | None = None,
    fits_dir: Path | None = None,
) -> list[dict]:
    ann = bl.datasets.load(name)
    gold = ann.gold
    rows = [{"data": name, "method": "vote share", **_scores(bl.majority_vote(ann), gold)}]
    em = bl.fit(ann, method="em", use_gold=False)
    rows.append({"data": name, "method": "EM", **_scores(em, gold)})
    started = time.perf_counter()
    self_cal = bl.self_calibrate(em)
    seconds = time.perf_counter() - started
    rows.append(
        {
            "data": name,
            "method": "EM + self-calibration (no gold)",
            **_scores(self_cal.soft_labels(), gold),
            "r": self_cal.correlation,
            "temperature": float(self_cal.temperature(int(np.median(ann.labels_per_item)))),
            "seconds": seconds,
        }
    )
    r_in_sample = _in_sample_correlation(em)
    rows.append(
        {
            "data": name,
            "method": "EM + self-calibration, in-sample (no refit; for comparison)",
            **_scores(_tempered(em, r_in_sample), gold),
            "r": r_in_sample,
        }
    )
    for method in CALIBRATION_METHODS:
        cal = bl.calibrate(em, gold, method=method, folds=5, seed=0)
        rows.append({"data": name, "method": f"EM + {method} (cross-fitted)", **_calibrated(cal)})
    for method in ("temperature-floor", "temperature", "top-label"):
        rows += _twenty_percent_rows(name, em, gold, method)
    rows.append({"data": name, **_perfect_calibration_reference(em, gold)})
    if nuts:
        started = time.perf_counter()
        posterior = bl.fit(ann, model="dawid-skene", use_gold=False, quiet=True)
        seconds = time.perf_counter() - started
        rows.append({"data": name, "method": "DS NUTS", **_scores(posterior, gold), "seconds": seconds})
        cal = bl.calibrate(posterior, gold, method="temperature", folds=5, seed=0)
        rows.append({"data": name, "method": "DS NUTS + temperature (cross-fitted)", **_calibrated(cal)})
    if families:
        rows += family_rows(name, ann, families, settings or {}, fits_dir)
    n_gold = int((gold >= 0).sum())
    for row in rows:
        row["n_gold"] = n_gold
    return rows


def table(rows: list[dict], machine: dict, settings: dict | None = None) -> str:
    run = ", ".join(f"{name} {value}" for name, value in (settings or {}).items())
    families = any("converged" in r for r in rows)  # family fits by NUTS: say how they ran
    lines = [
        "# Calibration on held-out gold: vote share, EM, EM calibrated on gold"
        + (", every family by NUTS" if families else ""),
        "",
        machine_line(machine),
        "",
        *([f"NUTS settings: {run or 'each family at its shipped settings'}.", ""] if families else []),
        "Gold is held out of every fit. ECE: 10-bin top-label expected calibration error; log-loss and",
        "Brier of the soft label against gold. Calibrated rows are cross-fitted (5 folds): each gold item",
        "is scored by a map fitted on the other folds' gold. T: the temperature fitted on all the gold",
        "(T > 1: the soft labels were overconfident).",
        "",
        "Self-calibration (`bl.self_calibrate`, no gold): each item's class posterior is tempered by",
        "T(n) = 1 + (n − 1) r, n its label count, r the intra-item label correlation fitted on held-out",
        "crowd labels (5 folds of label rows, EM refitted without each; T column: T at the median n).",
        "The in-sample row fits r leaving one label out with EM's parameters from all labels (no",
        "refit), to show why the refit matters. 20 % rows: the map fitted on a random 20 % of the",
        "gold, scored on the other 80 %.",
        "",
        "Family rows: NUTS with gold held out; s = compile + sampling seconds; ok = passed its",
        "convergence check; draws = draws per chain at each check ((reused): loaded from --fits, its",
        "seconds those of the saved run). auto: what `--model auto` exports (`bl.auto_average`: the",
        "equal average of the converged full fits, self-calibrated; no gold); s = the whole auto run,",
        "screens included. auto --auto-rule pick: `compare_models`' recommendation among the same fits.",
        "",
        "| data | gold items | method | accuracy | ECE | log-loss | Brier | T | r | s | ok | draws |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        ok = "" if "converged" not in r else ("yes" if r["converged"] else "no")
        lines.append(
            f"| {r['data']} | {r['n_gold']} | {r['method']} | {fmt(r.get('accuracy'))} | {fmt(r.get('ece'))} "
            f"| {fmt(r.get('log_loss'))} | {fmt(r.get('brier'))} | {fmt(r.get('temperature'), '.2f')} "
            f"| {fmt(r.get('r'), '.3f')} | {fmt(r.get('seconds'), '.1f')} | {ok} | {r.get('draws') or ''} |"
        )
    lines += ["", SHARED_NOTE, ""]
    return "\n".join(lines)


def main() -> None:
    with_gold = datasets_with_gold()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=with_gold, choices=with_gold)
    parser.add_argument("--nuts", action="store_true", help="also Dawid–Skene NUTS (slow)")
    parser.add_argument("--families", nargs="+", default=[], help="model families to fit by NUTS")
    # none given: each family's shipped settings (its spec: 4 × 1000 + 1000, sampling on to its
    # max_draws while the check fails); explicit draws without --max-draws sample exactly those
    parser.add_argument("--draws", type=int, help="draws per chain (default: the family's spec)")
    parser.add_argument("--tune", type=int, help="tuning draws per chain (default: the spec's)")
    parser.add_argument("--chains", type=int, help="chains (default: the spec's)")
    parser.add_argument("--max-draws", type=int, help="cap on draws per chain (default: spec's)")
    parser.add_argument("--out", default="calibration", help="results/<out>.{json,md}")
    parser.add_argument(
        "--fits",
        type=Path,
        help="re-use shipped-settings full fits saved as DIR/<data>/<family> (gold held out); new "
        "shipped-settings full fits are saved there",
    )
    args = parser.parse_args()
    machine = machine_info()
    given = {"draws": args.draws, "tune": args.tune, "chains": args.chains, "max_draws": args.max_draws}
    settings = {name: value for name, value in given.items() if value is not None}
    rows = [
        row for name in args.data for row in rows_for(name, args.nuts, args.families, settings, args.fits)
    ]
    meta = {"machine": machine, "settings": settings, "rows": rows}
    write(args.out, meta, table(rows, machine, settings))


if __name__ == "__main__":
    main()
