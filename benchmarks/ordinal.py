"""The ordinal model (ordered logit: per-annotator bias and noise) against Dawid–Skene on ordered
labels, gold held out of every fit.

Parts (each a separate run, one at a time; each writes benchmarks/results/ordinal_<part>.json):

* ``adult`` — adult_content (11,040 items, 825 annotators, 92,721 labels, G < P < R < X; gold
  for 333 items, held out): majority vote, Dawid–Skene EM (the package's default smoothing),
  and the ordinal model by ADVI and by MAP, and by MAP with the class positions and class
  noise fixed (``class_spacing=0, class_noise_sd=0``: the classic equally spaced,
  homoscedastic model, the default before). Scored on gold by `bayeslabels.evaluate` with the
  ordinal metrics: accuracy, MAE in classes, quadratic-weighted κ, log-loss, ECE, with
  intervals (Wilson / item bootstrap). The ordinal fit is also scored with its median class
  as the hard label (the label that minimises the expected distance).
* ``adult-nuts`` — the same with the ordinal model by NUTS at its shipped settings (nutpie,
  4 chains × 1000 + 1000, the draws doubled up to 4000 while the check fails);
  ``adult-nuts-classic`` the classic model by NUTS (2 chains × 500 + 500).
* ``anesthesia`` — Dawid & Skene's (1979) own table (45 patients, 5 anaesthetists, ratings 1–4,
  no gold): each observer's bias and noise under the ordinal model (NUTS) next to Dawid &
  Skene's reading of the same table, i.e. their maximum-likelihood EM error rates (EM with
  flat Dirichlet(1) priors, no smoothing), summarised as the mean signed error
  ``Σ_k ρ_k Σ_l π_jkl (l − k)`` and the shares of ratings above / below the true class;
  then PSIS-LOO of the ordinal model against Bayesian Dawid–Skene (both NUTS, 4 × 1000 + 1000)
  by `bayeslabels.compare_models`.
* ``sim`` — simulated ordinal data (`simulate.from_family("ordinal")`, 1–3 labels per item,
  five classes, three seeds): accuracy and MAE of the hard labels against the true classes
  for majority vote, Dawid–Skene EM, and the ordinal model by ADVI.

``--report`` assembles benchmarks/results/ordinal.md from the parts' JSON files.

Run from the repository root, one part at a time:
    .venv/bin/python benchmarks/ordinal.py adult
    .venv/bin/python benchmarks/ordinal.py --report
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np
from _common import RESULTS, SHARED_NOTE, load_shipped_fit, machine_info, machine_line

METRICS = ("accuracy", "mae", "qwk", "log_loss", "ece")


def _scores(target, gold, n_boot: int = 1000) -> dict:
    import bayeslabels as bl

    evaluation = bl.evaluate(target, gold, ci_prob=0.95, n_boot=n_boot, ordinal=True, seed=0)
    return {m: [evaluation.value(m), *evaluation.interval(m)] for m in METRICS} | {
        f"off_by_{d}": evaluation.value("off_by", str(d)) for d in range(1, len(evaluation.classes))
    }


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


CLASSIC = ", classic (equal spacing and noise)"


def _spec(classic: bool):
    """The shipped ordinal spec, or the classic model (class positions and noise fixed)."""
    import bayeslabels as bl

    spec = bl.resolve_spec("ordinal")
    return replace(spec, priors=bl.OrdinalPriors(class_spacing=0, class_noise_sd=0)) if classic else spec


SHIPPED_NUTS = "ordinal NUTS (shipped: 4 × 1000, up to 4000)"
SHORT_NUTS = "ordinal NUTS (2 × 500)"


def part_adult(
    nuts: bool, classic: bool = False, checkpoint=lambda result: None, saved: str | None = None
) -> dict:
    """The adult_content rows; ``checkpoint`` gets the rows so far after each method (the
    cheap fits first), so a run cut short still leaves what it finished. ``saved``: score
    this saved shipped-settings NUTS fit (`_common.load_shipped_fit`) instead of fitting it again."""
    import bayeslabels as bl

    ann = bl.datasets.load("adult_content")
    gold = ann.gold_series().dropna()
    held_out = replace(ann, gold=np.full(ann.n_items, -1))
    rows: dict[str, dict] = {}
    if not nuts:
        rows["majority vote"] = _scores(bl.majority_vote(held_out).soft_labels(), gold)
        em, em_s = _timed(bl.dawid_skene_em, held_out)
        rows["Dawid–Skene EM"] = {**_scores(em.soft_labels(), gold), "seconds": em_s}
        methods = {
            "ordinal MAP": ("map", False),
            "ordinal MAP" + CLASSIC: ("map", True),
            "ordinal ADVI": ("advi", False),
        }
    else:
        methods = {(SHORT_NUTS + CLASSIC if classic else SHIPPED_NUTS): ("nuts", classic)}
    for name, (method, fixed) in methods.items():
        short = name == SHORT_NUTS + CLASSIC
        settings = {"draws": 500, "tune": 500, "chains": 2, "max_draws": 0} if short else {}
        if saved is not None and name == SHIPPED_NUTS:
            fit, seconds = load_shipped_fit(saved, ann, "ordinal", use_gold=False)
        else:
            fit, seconds = _timed(
                bl.fit, ann, model=_spec(fixed), method=method, use_gold=False, seed=0, quiet=True, **settings
            )
        soft = fit.soft_labels()
        rows[name] = {**_scores(soft, gold), "seconds": seconds}
        rows[name + ", median class"] = _scores(replace(soft, hard=soft.median_class), gold)
        if method == "advi":
            rows[name]["iterations"] = int(fit.posterior["posterior"].attrs.get("iterations", -1))
        if method == "nuts":
            rows[name]["check"] = _check(fit)
            rows[name]["draws_used"] = list(fit.sampling.draws_used or (fit.sampling.draws,))
        table = fit.annotators()
        rows[name]["annotators"] = {
            "bias_quantiles": np.quantile(table["bias"], [0.05, 0.5, 0.95]).tolist(),
            "noise_quantiles": np.quantile(table["noise"], [0.05, 0.5, 0.95]).tolist(),
            "cutpoints": fit.draws("cutpoints").mean(axis=0).tolist(),
            "class_position": fit.draws("class_position").mean(axis=0).tolist(),
            "class_noise": fit.draws("class_noise").mean(axis=0).tolist(),
            "labels_loglik": float(fit.log_likelihood()["labels"].mean(("chain", "draw")).sum()),
        }
        checkpoint({"n_gold": len(gold), "rows": rows, "unfinished": [m for m in methods if m not in rows]})
    return {"n_gold": len(gold), "rows": rows}


def _em_reading(ann) -> dict:
    """Dawid & Skene's maximum-likelihood EM (flat priors) per observer: mean signed error and
    the shares of ratings above / below the true class, prevalence-weighted."""
    import bayeslabels as bl

    em = bl.dawid_skene_em(ann, priors=bl.DawidSkenePriors(1.0, 0.0, 1.0))
    k = ann.n_classes
    error = np.arange(k)[None, :] - np.arange(k)[:, None]
    rho = em.prevalence
    return {
        "mean_error": np.einsum("k,jkl,kl->j", rho, em.confusion, error).tolist(),
        "above": np.einsum("k,jkl,kl->j", rho, em.confusion, (error > 0).astype(float)).tolist(),
        "below": np.einsum("k,jkl,kl->j", rho, em.confusion, (error < 0).astype(float)).tolist(),
        "accuracy": np.einsum("k,jkk->j", rho, em.confusion).tolist(),
        "prevalence": rho.tolist(),
    }


def _check(fit) -> dict:
    report = fit.check()
    return {
        "ok": report.ok,
        "reasons": list(report.reasons),
        "max_rhat": report.max_rhat,
        "min_ess_bulk": report.min_ess_bulk,
        "min_ess_tail": report.min_ess_tail,
        "divergences": report.divergences,
    }


def part_anesthesia() -> dict:
    import bayeslabels as bl

    ann = bl.datasets.load("anesthesia")
    ordinal, ordinal_s = _timed(bl.fit, ann, model="ordinal", seed=0, quiet=True)
    ds, ds_s = _timed(bl.fit, ann, model="dawid-skene", seed=0, quiet=True)
    table = ordinal.annotators(ci_prob=0.9)
    comparison = bl.compare_models({"ordinal": ordinal, "dawid-skene": ds})
    return {
        "observers": list(map(str, ann.annotators)),
        "n_labels": ann.labels_per_annotator.tolist(),
        "bias": table[["bias", "bias_lo", "bias_hi"]].to_numpy().tolist(),
        "noise": table[["noise", "noise_lo", "noise_hi"]].to_numpy().tolist(),
        "accuracy": table["accuracy"].tolist(),
        "cutpoints": ordinal.draws("cutpoints").mean(axis=0).tolist(),
        "class_position": ordinal.draws("class_position").mean(axis=0).tolist(),
        "dawid_skene_1979": _em_reading(ann),
        "check": {name: _check(fit) for name, fit in (("ordinal", ordinal), ("dawid-skene", ds))},
        "seconds": {"ordinal": ordinal_s, "dawid-skene": ds_s},
        "comparison": comparison.to_dict(),
        "comparison_text": str(comparison),
    }


def part_sim(seeds: tuple[int, ...] = (1, 2, 3)) -> dict:
    import bayeslabels as bl

    runs = []
    for seed in seeds:
        sim = bl.simulate.from_family(
            "ordinal", n_items=1500, n_annotators=40, n_classes=5, labels_per_item=(1, 3), seed=seed
        )
        ann, truth = sim.annotations, sim.true_class
        labels = {
            "majority vote": bl.majority_vote(ann).label,
            "Dawid–Skene EM": bl.dawid_skene_em(ann).label,
        }
        fit, seconds = _timed(bl.fit, ann, model="ordinal", method="advi", seed=seed, quiet=True)
        soft = fit.soft_labels()
        labels["ordinal ADVI"] = soft.label_code
        classes = list(soft.classes)
        labels["ordinal ADVI, median class"] = np.array([classes.index(c) for c in soft.median_class])
        run = {"seed": seed, "n_labels": ann.n_labels, "ordinal_seconds": seconds}
        for name, label in labels.items():
            label = np.asarray(label)
            scored = label >= 0
            position = np.where(scored, label, 2)  # an item without a vote: the middle class
            run[name] = {
                "accuracy": float((label == truth).mean()),
                "mae": float(np.abs(position - truth).mean()),
            }
        run["bias_correlation"] = float(np.corrcoef(fit.annotators()["bias"], sim.parameters["bias"])[0, 1])
        runs.append(run)
    return {
        "runs": runs,
        "settings": "1500 items, 40 annotators, 5 classes, 1–3 labels per item",
        "model": "class positions and class noise free (the default since they were added)",
    }


# ------------------------------------------------------------------ report


NUTS_PARTS = ("adult-nuts", "adult-nuts-classic")
SCALE_LABELS = (("class_position", "class positions"), ("class_noise", "class noise"))


def _nuts_rows(parts: dict) -> dict:
    return {k: v for p in NUTS_PARTS for k, v in parts.get(p, {}).get("result", {}).get("rows", {}).items()}


def _reading(parts: dict) -> list[str]:
    """What the numbers say, against the issue's targets."""
    lines = ["## Reading", ""]
    if "adult" in parts:
        rows = {
            **parts["adult"]["result"]["rows"],
            **_nuts_rows(parts),
        }
        others = {name: rows[name] for name in ("majority vote", "Dawid–Skene EM")}
        ordinal = {k: v for k, v in rows.items() if k.startswith("ordinal") and "median" not in k}
        for name, row in ordinal.items():
            n_gold = parts["adult"]["result"]["n_gold"]
            lines.append(f"- adult_content, {name}: " + _against_targets(row, others, n_gold))
        loglik = {
            n: r["annotators"]["labels_loglik"]
            for n, r in ordinal.items()
            if "labels_loglik" in r["annotators"]
        }
        maps = ", ".join(f"{name} {value:.1f}" for name, value in loglik.items() if "MAP" in name)
        lines.append(
            "- Gold chose nothing here: every row is the package's default (or the named classic "
            "model), scored once. The class positions and class noise were chosen on the labels "
            "alone, gold held out (log-likelihood of the labels at the posterior mode"
            + (f": {maps} nats" if maps else "")
            + "). "
            + (
                "The accuracy intervals of all methods overlap: "
                if max(r["accuracy"][1] for r in rows.values())
                <= min(r["accuracy"][2] for r in rows.values())
                else "Not all accuracy intervals overlap; still, "
            )
            + f"{n_gold} gold items tell a difference of a few items from chance only weakly."
        )
    for name, row in _nuts_rows(parts).items():
        if "check" in row:
            draws = " → ".join(str(d) for d in row.get("draws_used", [])) or "as named"
            verdict = "passes" if row["check"]["ok"] else "does **not** pass"
            lines.append(f"- {name}: draws per chain {draws}; the check {verdict} (above).")
    stale = [
        name
        for name, present in (
            ("anesthesia", "class_position" in parts.get("anesthesia", {}).get("result", {})),
            ("sim", "model" in parts.get("sim", {}).get("result", {})),
        )
        if name in parts and not present
    ]
    if stale:
        lines.append(
            f"- Parts {stale} were run before the class positions and class noise were added (the classic "
            "model; commit in the header) and not rerun since."
        )
    if "anesthesia" in parts:
        a = parts["anesthesia"]["result"]
        lenient = [o for o, b in zip(a["observers"], a["bias"], strict=True) if b[1] > 0]
        harsh = [o for o, b in zip(a["observers"], a["bias"], strict=True) if b[2] < 0]
        rows = a["comparison"]["models"] if "models" in a["comparison"] else []
        bias = [b[0] for b in a["bias"]]
        em_error = a["dawid_skene_1979"]["mean_error"]
        same_order = list(np.argsort(bias)) == list(np.argsort(em_error))
        lines.append(
            f"- anesthesia: lenient beyond doubt (90 % interval above 0): observer(s) {lenient or 'none'}; "
            f"harsh: {harsh or 'none'}; the biases rank the observers "
            f"{'in the same order as' if same_order else 'differently from'} Dawid & Skene's EM mean errors. "
            + (
                f"LOO prefers {a['comparison'].get('recommended')}."
                if a["comparison"].get("recommended")
                else ""
            )
            + (
                " (" + "; ".join(f"{r['model']} elpd_loo {r['elpd_loo']:.1f}" for r in rows) + ")"
                if rows
                else ""
            )
            + f" Ordinal check: {_verdict(a['check']['ordinal'])}."
            + (
                " On 45 patients the class positions and noise (5 population parameters) are "
                "weakly identified and trade off against the biases: "
                "`OrdinalPriors(class_spacing=0, class_noise_sd=0)` is the classic model."
                if not a["check"]["ordinal"]["ok"] and "class_position" in a
                else ""
            )
        )
    if "sim" in parts:
        runs = parts["sim"]["result"]["runs"]
        wins = sum(
            r["ordinal ADVI"]["accuracy"] > r["Dawid–Skene EM"]["accuracy"]
            and r["ordinal ADVI"]["mae"] < r["Dawid–Skene EM"]["mae"]
            for r in runs
        )
        lines.append(
            f"- simulated ordinal data, 1–3 labels per item: the ordinal model beats Dawid–Skene EM in "
            f"both accuracy and MAE in {wins} of {len(runs)} seeds (two parameters per annotator instead "
            "of K(K − 1))."
        )
    return lines


def _against_targets(row: dict, others: dict, n_gold: int) -> str:
    """One ordinal row against the issue's targets and the other methods."""
    n_correct = round(row["accuracy"][0] * n_gold)
    lowest = {
        metric: all(row[metric][0] < o[metric][0] for o in others.values()) for metric in ("mae", "log_loss")
    }
    ece_vs = ", ".join(f"{name} {o['ece'][0]:.3f}" for name, o in others.items())
    return (
        f"accuracy {row['accuracy'][0]:.3f} ({n_correct}/{n_gold}; target ≥ 0.766: "
        f"{'met' if round(row['accuracy'][0], 3) >= 0.766 else 'not met'}), "
        f"MAE {row['mae'][0]:.3f} ({'lowest' if lowest['mae'] else 'not lowest'}), "
        f"log-loss {row['log_loss'][0]:.3f} ({'lowest' if lowest['log_loss'] else 'not lowest'}), "
        f"ECE {row['ece'][0]:.3f} (vs {ece_vs}); off by three classes {row['off_by_3']:.3f}"
        + (f"; check {_verdict(row['check'])}" if "check" in row else "")
        + "."
    )


def _verdict(check: dict) -> str:
    numbers = (
        f" (max R-hat {check['max_rhat']:.3f}, min ESS bulk {check['min_ess_bulk']:.0f} / tail "
        f"{check['min_ess_tail']:.0f}, {check['divergences']} divergences)"
        if "max_rhat" in check
        else ""
    )
    return ("ok" if check["ok"] else "FAILED: " + "; ".join(check["reasons"])) + numbers


def _cell(value: list | float) -> str:
    if isinstance(value, list):
        return f"{value[0]:.3f} [{value[1]:.3f}, {value[2]:.3f}]"
    return f"{value:.3f}"


def report() -> str:
    parts = {
        p: json.loads((RESULTS / f"ordinal_{p}.json").read_text())
        for p in ("adult", *NUTS_PARTS, "anesthesia", "sim")
        if (RESULTS / f"ordinal_{p}.json").is_file()
    }
    lines = ["# Ordinal labels: the ordinal model against Dawid–Skene (gold held out)", ""]
    machines = {p: parts[p].get("machine") for p in parts}
    for name, machine in machines.items():
        if machine:
            lines.append(f"- `{name}`: {machine_line(machine)}")
    lines += ["", SHARED_NOTE, ""]
    lines += _reading(parts) + [""]
    if "adult" in parts:
        rows = {
            **parts["adult"]["result"]["rows"],
            **_nuts_rows(parts),
        }
        n_gold = parts["adult"]["result"]["n_gold"]
        lines += [
            f"## adult_content (G < P < R < X), {n_gold} gold items held out",
            "",
            "Estimates with 95 % intervals (accuracy: Wilson; the rest: bootstrap over gold items). "
            "MAE is in classes; qwk is quadratic-weighted Cohen's κ.",
            "",
            "| method | accuracy | MAE | qwk | log-loss | ECE | off by 1 / 2 / 3 | seconds |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, row in rows.items():
            offs = " / ".join(f"{row[f'off_by_{d}']:.3f}" for d in (1, 2, 3))
            seconds = f"{row['seconds']:.0f}" if "seconds" in row else ""
            lines.append(
                f"| {name} | " + " | ".join(_cell(row[m]) for m in METRICS) + f" | {offs} | {seconds} |"
            )
        lines.append("")
        unfinished = parts["adult"]["result"].get("unfinished", [])
        if "adult-nuts" not in parts:  # the default model by NUTS
            unfinished = [*unfinished, f"{SHIPPED_NUTS} (part `adult-nuts`)"]
        if unfinished:
            lines += [
                f"Not finished for this report: {', '.join(unfinished)} — started, but stopped when the "
                "shared 2-core machine (load average about 14) left it too little time; "
                "`python benchmarks/ordinal.py adult` / `adult-nuts` runs them.",
                "",
            ]
        for name, row in rows.items():
            if "annotators" in row:
                a = row["annotators"]
                lines.append(
                    f"- {name}: annotator bias 5/50/95 % quantiles "
                    f"{', '.join(f'{v:+.2f}' for v in a['bias_quantiles'])} classes; noise "
                    f"{', '.join(f'{v:.2f}' for v in a['noise_quantiles'])}; cut-points "
                    f"{', '.join(f'{v:.2f}' for v in a['cutpoints'])}"
                    + "".join(
                        f"; {label} {', '.join(f'{v:.2f}' for v in a[key])}"
                        for key, label in SCALE_LABELS
                        if key in a
                    )
                    + (f"; ADVI iterations {row['iterations']}" if "iterations" in row else "")
                    + (f"; check {_verdict(row['check'])}" if "check" in row else "")
                )
        lines.append("")
    if "anesthesia" in parts:
        a = parts["anesthesia"]["result"]
        ds = a["dawid_skene_1979"]
        lines += [
            "## anesthesia (Dawid & Skene 1979, 45 patients, ratings 1–4, no gold)",
            "",
            "Ordinal model by NUTS (4 × 1000 + 1000): bias (classes; < 0 harsh, > 0 lenient) and noise with "
            "90 % intervals. Dawid & Skene's reading: their maximum-likelihood EM error rates (flat priors) "
            "summarised as the prevalence-weighted mean signed error and the shares of ratings above / below "
            "the class EM infers.",
            "",
            "| observer | labels | ordinal bias | ordinal noise | D&S EM mean error "
            "| D&S EM above / below | D&S EM accuracy |",
            "|---|---|---|---|---|---|---|",
        ]
        for j, observer in enumerate(a["observers"]):
            lines.append(
                f"| {observer} | {a['n_labels'][j]} | {_cell(a['bias'][j])} | {_cell(a['noise'][j])} | "
                f"{ds['mean_error'][j]:+.3f} | {ds['above'][j]:.3f} / {ds['below'][j]:.3f} | "
                f"{ds['accuracy'][j]:.3f} |"
            )
        lines += [
            "",
            f"Cut-points (posterior mean): {', '.join(f'{v:.2f}' for v in a['cutpoints'])}. "
            "Convergence check: "
            + ", ".join(f"{k} {_verdict(v)}" for k, v in a["check"].items())
            + ". Seconds: "
            + ", ".join(f"{k} {v:.0f}" for k, v in a["seconds"].items()),
            "",
            "LOO (`bl.compare_models`):",
            "",
            "```",
            a["comparison_text"],
            "```",
            "",
        ]
    if "sim" in parts:
        s = parts["sim"]["result"]
        names = [k for k in s["runs"][0] if isinstance(s["runs"][0][k], dict)]
        lines += [
            f"## Simulated ordinal data ({s['settings']}), truth known",
            "",
            "| seed | labels | "
            + " | ".join(f"{n} acc / MAE" for n in names)
            + " | bias corr. | ordinal s |",
            "|---|---|" + "---|" * len(names) + "---|---|",
        ]
        for run in s["runs"]:
            lines.append(
                f"| {run['seed']} | {run['n_labels']} | "
                + " | ".join(f"{run[n]['accuracy']:.3f} / {run[n]['mae']:.3f}" for n in names)
                + f" | {run['bias_correlation']:.2f} | {run['ordinal_seconds']:.0f} |"
            )
        means = [
            (np.mean([r[n]["accuracy"] for r in s["runs"]]), np.mean([r[n]["mae"] for r in s["runs"]]))
            for n in names
        ]
        lines.append("| mean | | " + " | ".join(f"{a:.3f} / {m:.3f}" for a, m in means) + " | | |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("part", nargs="?", choices=["adult", *NUTS_PARTS, "anesthesia", "sim"])
    parser.add_argument("--report", action="store_true", help="write results/ordinal.md from the parts")
    parser.add_argument(
        "--fit",
        help="adult-nuts: score this saved fit (fit.save of bl.fit(adult_content, model='ordinal', "
        "use_gold=False, seed=0) at the shipped settings) instead of fitting again",
    )
    args = parser.parse_args()
    if args.part:
        machine = machine_info()
        start = time.perf_counter()
        path = RESULTS / f"ordinal_{args.part}.json"

        def save(result: dict) -> None:
            payload = {"machine": machine, "wall_seconds": time.perf_counter() - start, "result": result}
            path.write_text(json.dumps(payload, indent=2, default=float))

        run = {
            "adult": lambda: part_adult(nuts=False, checkpoint=save),
            "adult-nuts": lambda: part_adult(nuts=True, saved=args.fit),
            "adult-nuts-classic": lambda: part_adult(nuts=True, classic=True),
            "anesthesia": part_anesthesia,
            "sim": part_sim,
        }[args.part]
        result = run()
        save(result)
        print(path.read_text()[:2000])
    if args.report:
        (RESULTS / "ordinal.md").write_text(report())
        print((RESULTS / "ordinal.md").read_text())


if __name__ == "__main__":
    main()
