"""The ``bayeslabels`` command. Errors are one line on stderr and a non-zero exit:
2 for bad input, 1 for a fit that fails its convergence check on export."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, get_args

from ._checks import check_ci_prob
from .choices import SAMPLERS, Method, shipped_specs
from .errors import DataError, SpecError

if TYPE_CHECKING:  # the command imports lazily, to start fast
    import pandas as pd

    from .agreement import AgreementReport
    from .calibrate import Calibration
    from .compare import SubtypeComparison
    from .data import Annotations
    from .fit import Fit

EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 1

FIT_EXAMPLE = """examples:
  bayeslabels fit labels.csv --gold gold.csv --model dawid-skene --out soft_labels.parquet
  bayeslabels fit labels.csv --method em --out soft_labels.csv
  bayeslabels fit --dataset rte --gold-use evaluate --out soft_labels.parquet
  bayeslabels fit labels.csv --gold gold.csv --gold-use calibrate --method em --out soft_labels.parquet
  bayeslabels fit labels.csv --model hierarchical-subtype --method advi --out soft_labels.parquet
  bayeslabels fit ratings.csv --classes G,P,R,X --ordered --model ordinal --out soft_labels.parquet
"""
SIMULATE_EXAMPLE = """example:
  bayeslabels simulate --items 1000 --annotators 50 --classes 2 --out labels.csv --truth truth.csv
"""


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse prints usage + message; we print one line
        self.exit(EXIT_BAD_INPUT, f"bayeslabels: error: {message} (see {self.prog} --help)\n")


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_BAD_INPUT):
        super().__init__(message)
        self.code = code


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="bayeslabels",
        description="Bayesian annotator models: noisy crowd labels in, "
        "soft labels with credible intervals out.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    fit = sub.add_parser(
        "fit",
        help="fit an annotator model and export soft labels",
        epilog=FIT_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument(
        "labels", nargs="?", help="label table: .csv/.tsv, .parquet or .jsonl (item, annotator, label)"
    )
    fit.add_argument("--dataset", help="use a bundled dataset instead of a file (see 'bayeslabels datasets')")
    fit.add_argument("--gold", help="gold table (item, gold) or the name of a gold column in LABELS")
    fit.add_argument(
        "--gold-use",
        choices=["anchor", "evaluate", "calibrate"],
        default="anchor",
        help="anchor: gold fixes those items' class in the fit (default); "
        "evaluate: keep gold out of the fit and report accuracy on it; "
        "calibrate: keep gold out of the fit, calibrate the soft labels on it (cross-fitted) "
        "and export the calibrated ones",
    )
    fit.add_argument(
        "--calibration-folds", type=int, default=5, help="--gold-use calibrate: cross-fitting folds (5)"
    )
    fit.add_argument(
        "--calibration-fraction",
        type=float,
        help="--gold-use calibrate: calibrate on this share of the gold items only (e.g. 0.2); "
        "the others are held out of every map and scored as a check",
    )
    fit.add_argument(
        "--calibration-method",
        choices=["temperature", "vector"],
        default="temperature",
        help="--gold-use calibrate: one temperature (default) or a scale and bias per class",
    )
    fit.add_argument(
        "--model",
        default="dawid-skene",
        help=" | ".join([*shipped_specs(), "auto", "my.toml"])
        + " (auto: screen the candidate families, keep the one LOO and the predictive checks choose)",
    )
    fit.add_argument(
        "--method", choices=list(get_args(Method)), help="default: the spec's (nuts)"
    )
    fit.add_argument("--minibatch-items", type=int, help="ADVI: items per minibatch (default: all)")
    fit.add_argument("--draws", type=int)
    fit.add_argument("--tune", type=int)
    fit.add_argument("--chains", type=int)
    fit.add_argument("--seed", type=int)
    fit.add_argument("--sampler", choices=list(SAMPLERS))
    fit.add_argument("--target-accept", type=float, help="NUTS target acceptance, e.g. 0.9 (spec's: 0.8)")
    fit.add_argument("--ci-prob", type=float, default=0.9, help="credible interval mass (default 0.9)")
    fit.add_argument("--out", default="soft_labels.parquet", help="output: .parquet, .csv or .jsonl")
    fit.add_argument("--duplicates", choices=["keep", "last", "error"], default="keep")
    fit.add_argument(
        "--gold-only",
        choices=["error", "keep"],
        default="error",
        help="gold for an item with no labels: error (default) or keep it as an item without labels",
    )
    fit.add_argument("--classes", help="comma-separated class names, in order (default: the labels, sorted)")
    fit.add_argument(
        "--ordered",
        action="store_true",
        help="the classes are ordered, lowest first as --classes lists them (numeric labels: sorted); "
        "needed by --model ordinal, adds the expected score and median class to the export",
    )
    fit.add_argument("--item-col", default="item")
    fit.add_argument("--annotator-col", default="annotator")
    fit.add_argument("--label-col", default="label")
    _add_reading_options(fit)
    fit.add_argument(
        "--allow-failed-check", action="store_true", help="export even if the convergence check fails"
    )
    fit.add_argument("--save", metavar="DIR", help="also save the whole fit to DIR (see 'bayeslabels check')")
    fit.add_argument("--quiet", action="store_true", help="no progress bars, summary only")
    _add_feature_parsers(fit, sub)

    check = sub.add_parser(
        "check",
        help="convergence and label-switching report of a saved fit (exit 0 if ok, 1 if not)",
        epilog="example:\n  bayeslabels check runs/fit-01\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("fit_dir", help="a directory written by 'bayeslabels fit --save' or Fit.save")

    export = sub.add_parser(
        "export",
        help="write the soft labels of a saved fit",
        epilog="example:\n  bayeslabels export runs/fit-01 --out soft.parquet\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("fit_dir")
    export.add_argument("--out", required=True, help="output: .parquet, .csv or .jsonl")
    export.add_argument("--ci-prob", type=float, default=0.9)
    export.add_argument(
        "--allow-failed-check", action="store_true", help="export even if the check fails (recorded)"
    )

    simulate = sub.add_parser(
        "simulate",
        help="write a simulated Dawid-Skene label table and its truth",
        epilog=SIMULATE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    simulate.add_argument("--items", type=int, default=1000)
    simulate.add_argument("--annotators", type=int, default=50)
    simulate.add_argument("--classes", type=int, default=2)
    simulate.add_argument("--labels-per-item", type=int, nargs=2, default=(3, 7), metavar=("MIN", "MAX"))
    simulate.add_argument("--spammers", type=float, default=0.1, help="fraction of spammer annotators")
    simulate.add_argument("--gold-fraction", type=float, default=0.0)
    simulate.add_argument("--subtypes", type=int, default=0)
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--out", default="labels.csv")
    simulate.add_argument("--truth", default="truth.csv")

    _add_analysis_parsers(sub)
    sub.add_parser("datasets", help="list the bundled real datasets")
    _add_subtype_parsers(sub)
    _add_report_parser(sub)
    return parser


def _add_subtype_parsers(sub: argparse._SubParsersAction[_OneLineParser]) -> None:
    compare = sub.add_parser(
        "compare",
        help="reliability by subtype of a saved per-subtype fit, with P(A > B)",
        epilog="example:\n  bayeslabels compare runs/fit-01 --plots out/ --out comparison.csv\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument("fit_dir", help="a saved fit of model hierarchical-subtype")
    compare.add_argument("--ci-prob", type=float, default=0.9)
    compare.add_argument("--out", help="write the population and annotator tables (CSV; two files)")
    compare.add_argument("--plots", metavar="DIR", help="write the figures as PNGs into DIR")
    route = sub.add_parser(
        "route",
        help="which items to send for more labels, and to whom",
        epilog="example:\n  bayeslabels route runs/fit-01 --budget 200 --out plan.csv\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    route.add_argument("fit_dir")
    route.add_argument(
        "--budget", type=float, required=True, help="labels to buy (an expert costs --expert-cost)"
    )
    route.add_argument("--per-item", type=int, default=1)
    route.add_argument("--experts", help="comma-separated expert ids")
    route.add_argument("--expert-cost", type=float, default=5.0)
    route.add_argument("--max-per-annotator", type=int)
    route.add_argument("--severity", help="CSV with columns item, severity (weights ≥ 0; default 1)")
    route.add_argument("--out", required=True, help="the plan: .csv, .parquet or .jsonl")


ANALYZE_EXAMPLE = """examples:
  bayeslabels analyze labels.csv
  bayeslabels analyze labels.csv --gold gold.csv --plots figures/
  bayeslabels analyze --dataset rte --json > rte_agreement.json
"""
EVALUATE_EXAMPLE = """examples:
  bayeslabels evaluate soft_labels.parquet --gold gold.csv
  bayeslabels evaluate soft_labels.csv --gold gold.csv --ci-prob 0.9 --positive 1 --json
"""


def _add_analysis_parsers(sub: argparse._SubParsersAction[_OneLineParser]) -> None:
    analyze = sub.add_parser(
        "analyze",
        help="agreement report of a label table: Fleiss κ, Krippendorff α, annotators, majority vote vs gold",
        epilog=ANALYZE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    analyze.add_argument(
        "labels", nargs="?", help="label table: .csv/.tsv, .parquet or .jsonl (item, annotator, label)"
    )
    analyze.add_argument(
        "--dataset", help="use a bundled dataset instead of a file (see 'bayeslabels datasets')"
    )
    analyze.add_argument("--gold", help="gold table (item, gold) or the name of a gold column in LABELS")
    analyze.add_argument("--json", action="store_true", help="print the report as JSON")
    analyze.add_argument("--plots", metavar="DIR", help="write the figures (PNG) into DIR")
    analyze.add_argument(
        "--level",
        choices=["nominal", "ordinal", "interval"],
        help="Krippendorff α metric (default: ordinal with --ordered, else nominal)",
    )
    analyze.add_argument("--ci-prob", type=float, default=0.95, help="interval mass (default 0.95)")
    analyze.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    analyze.add_argument("--duplicates", choices=["keep", "last", "error"], default="keep")
    analyze.add_argument("--gold-only", choices=["error", "keep"], default="error")
    analyze.add_argument(
        "--classes", help="comma-separated class names, in order (default: the labels, sorted)"
    )
    analyze.add_argument(
        "--ordered", action="store_true", help="the classes are ordered, lowest first as --classes lists them"
    )
    analyze.add_argument("--item-col", default="item")
    analyze.add_argument("--annotator-col", default="annotator")
    analyze.add_argument("--label-col", default="label")
    _add_reading_options(analyze)

    evaluate = sub.add_parser(
        "evaluate",
        help="score soft labels on gold: accuracy, F1, PR-AUC, log-loss, Brier, ECE with intervals",
        epilog=EVALUATE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument(
        "soft", help="soft labels as written by 'bayeslabels fit' (item, label, p_<class>...)"
    )
    evaluate.add_argument(
        "--gold", help="gold table (item, gold); default: the soft-label file's own 'gold' column"
    )
    evaluate.add_argument("--ci-prob", type=float, default=0.95, help="interval mass (default 0.95)")
    evaluate.add_argument("--positive", help="positive class of binary metrics (default: the second class)")
    evaluate.add_argument("--bins", type=int, default=10, help="confidence bins for ECE (default 10)")
    evaluate.add_argument("--n-boot", type=int, default=2000, help="bootstrap replicates (default 2000)")
    evaluate.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")


def _add_reading_options(parser: argparse.ArgumentParser) -> None:
    """How a labels file is read: the spellings of a missing value, the class-count limit."""
    parser.add_argument(
        "--na-values",
        metavar="A,B",
        help="comma-separated texts that mean a missing value, e.g. NA,null "
        "(default: none; only an empty cell is missing, so an id 'NA' is kept as written)",
    )
    parser.add_argument(
        "--max-classes",
        type=int,
        default=1000,
        help="refuse more distinct labels than this: usually the wrong --label-col "
        "(default 1000; 0: no limit)",
    )


# Fixes that DataError messages spell as Python arguments, as this command's options.
_CLI_FIXES = (
    ("pass max_classes=None (or a larger number)", "pass --max-classes 0 (no limit) or a larger number"),
    ("check label=...", "check --label-col"),
    ("in na_values", "in --na-values"),
    ("item=..., annotator=..., label=...", "--item-col, --annotator-col, --label-col"),
    ("gold_only='keep'", "--gold-only keep"),
    ("duplicates='keep'", "--duplicates keep"),
    ("or 'last'", "or --duplicates last"),
    ("classes=[...]", "--classes A,B,..."),
    ("ordered=True", "--ordered"),
)


def _load(args: argparse.Namespace) -> Annotations:
    from . import datasets
    from .data import Annotations

    if args.dataset and args.labels:
        raise CliError("give either a labels file or --dataset, not both")
    if args.dataset:
        ann = datasets.load(args.dataset, duplicates=args.duplicates)
        if args.gold or args.classes:
            raise CliError("--gold and --classes cannot be combined with --dataset (bundled data is used)")
        if getattr(args, "ordered", False) and not ann.ordered:
            raise CliError(f"--ordered: the bundled dataset {args.dataset!r} has unordered classes")
        return ann
    if not args.labels:
        raise CliError("no labels: give a labels file or --dataset NAME")
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    try:
        return Annotations.from_file(
            args.labels,
            gold=args.gold,
            duplicates=args.duplicates,
            gold_only=args.gold_only,
            classes=classes,
            ordered=getattr(args, "ordered", False),
            item=args.item_col,
            annotator=args.annotator_col,
            label=args.label_col,
            na_values=args.na_values.split(",") if args.na_values else None,
            max_classes=args.max_classes or None,
        )
    except DataError as exc:
        message = str(exc)
        for python, option in _CLI_FIXES:
            message = message.replace(python, option)
        raise CliError(message) from None


def _cmd_fit(args: argparse.Namespace) -> int:
    from .fitting import fit

    ann = _load(args)
    out = Path(args.out)
    if not out.parent.exists():
        raise CliError(f"--out {args.out}: directory {out.parent} does not exist")
    if ann.summary is not None:
        print(str(ann.summary))
    if args.gold_use == "calibrate":
        _check_calibration_gold(ann, args.calibration_folds)
    result = fit(
        ann,
        model=args.model,
        method=args.method,
        draws=args.draws,
        minibatch_items=args.minibatch_items,
        tune=args.tune,
        chains=args.chains,
        seed=args.seed,
        sampler=args.sampler,
        target_accept=args.target_accept,
        use_gold=args.gold_use == "anchor",
        quiet=args.quiet,
        features=_read_features(args.features) if args.features else None,
    )
    if result.model_selection:
        print(_selection_text(result.model_selection))
    print(result.summary())
    if args.save:
        print(f"saved the fit to {result.save(args.save)}")
    if args.gold_use == "calibrate":
        from .calibrate import calibrate

        calibration = calibrate(
            result,
            ann.gold,
            method=args.calibration_method,
            folds=args.calibration_folds,
            seed=0 if args.seed is None else args.seed,
            fraction=args.calibration_fraction,
        )
        print(calibration.summary())
        return _export(calibration, out, args.ci_prob, args.allow_failed_check, ann.n_items)
    return _export(result, out, args.ci_prob, args.allow_failed_check, ann.n_items)


def _selection_text(selection: dict) -> str:
    """The --model auto comparison, one line per candidate."""
    lines = ["model auto: candidates screened by NUTS (2 chains × 500 draws)"]
    for row in selection["models"]:
        elpd = "n/a" if row.get("elpd_loo") is None else f"{row['elpd_loo']:.1f} ± {row['se']:.1f}"
        lines.append(
            f"  {row['model']:<22} elpd_loo {elpd:<16} Pareto k > 0.7: {row.get('pareto_k_bad')}  "
            f"predictive misfits: {row['misfits']}"
        )
    lines.append(f"chosen: {selection['recommended']} ({selection['reason']})")
    return "\n".join(lines)


def _check_calibration_gold(ann: Annotations, folds: int) -> None:
    """Refuse, before a fit that may take minutes, gold too scarce to calibrate on."""
    from .calibrate import MIN_GOLD

    if folds < 2:
        raise CliError(f"--calibration-folds must be at least 2, got {folds}")
    n_gold = int((ann.gold >= 0).sum())
    if n_gold < max(MIN_GOLD, folds):
        raise CliError(
            f"--gold-use calibrate needs gold for at least {max(MIN_GOLD, folds)} items "
            f"(--calibration-folds {folds}); {'there is none' if n_gold == 0 else f'there are {n_gold}'}: "
            "give --gold gold.csv (item, gold) with more gold items"
        )


def _export(
    result: Fit | Calibration, out: Path, ci_prob: float, allow_failed_check: bool, n_items: int
) -> int:
    from .fit import ConvergenceError

    try:
        path = result.export(out, ci_prob=ci_prob, allow_failed_check=allow_failed_check)
    except ConvergenceError as exc:
        message = str(exc).replace("allow_failed_check=True", "--allow-failed-check")
        raise CliError(message, EXIT_NOT_CONVERGED) from None
    print(f"wrote {path} ({n_items} items)")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from .fit import load_fit

    report = load_fit(args.fit_dir).check()
    print(report)
    return 0 if report.ok else EXIT_NOT_CONVERGED


def _cmd_export(args: argparse.Namespace) -> int:
    from .fit import load_fit

    result = load_fit(args.fit_dir)
    return _export(result, Path(args.out), args.ci_prob, args.allow_failed_check, result.annotations.n_items)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from ._io import atomic_write_many
    from .simulate import dawid_skene

    sim = dawid_skene(
        n_items=args.items,
        n_annotators=args.annotators,
        n_classes=args.classes,
        labels_per_item=tuple(args.labels_per_item),
        spammer_fraction=args.spammers,
        gold_fraction=args.gold_fraction,
        n_subtypes=args.subtypes,
        seed=args.seed,
    )
    labels = sim.annotations.to_frame(include_gold=sim.annotations.has_gold)  # --gold-fraction: a gold column
    truth = sim.truth_frame()
    atomic_write_many(
        [
            (args.out, lambda tmp: labels.to_csv(tmp, index=False)),
            (args.truth, lambda tmp: truth.to_csv(tmp, index=False)),
        ]
    )
    n_gold = int((sim.annotations.gold >= 0).sum())
    gold = f", gold for {n_gold} items in its 'gold' column (fit with --gold gold)" if n_gold else ""
    print(f"wrote {args.out} ({len(labels)} labels{gold}) and {args.truth} ({len(truth)} items)")
    return 0


def _check_ci_prob(value: float) -> None:
    try:
        check_ci_prob(value)
    except ValueError:
        raise CliError(f"--ci-prob must lie strictly between 0 and 1, got {value}") from None


def _cmd_analyze(args: argparse.Namespace) -> int:

    from .aggregate import majority_vote
    from .agreement import agreement, annotator_profiles
    from .evaluate import evaluate

    _check_ci_prob(args.ci_prob)
    ann = _load(args)
    plots_dir = Path(args.plots) if args.plots else None
    if plots_dir is not None and plots_dir.exists() and not plots_dir.is_dir():
        raise CliError(f"--plots {args.plots}: exists and is not a directory")
    report = agreement(ann, level=args.level, ci_prob=args.ci_prob, seed=args.seed)
    profiles = annotator_profiles(ann, ci_prob=args.ci_prob)
    gold_eval = None
    if ann.has_gold:
        gold_eval = evaluate(majority_vote(ann), ann.gold, args.ci_prob, seed=args.seed)
    written = _write_analysis_plots(ann, report, profiles, plots_dir) if plots_dir is not None else []
    if args.json:
        payload = {
            "ingest": asdict(ann.summary) if ann.summary is not None else None,
            "agreement": report.to_dict(),
            "annotators": _json_records(profiles),
            "majority_vote_vs_gold": gold_eval.to_dict() if gold_eval is not None else None,
            "plots": [str(p) for p in written],
        }
        print(json.dumps(payload, indent=2, allow_nan=False, default=str))
        return 0
    if ann.summary is not None:
        print(str(ann.summary))
    print(str(report))
    print(_annotator_lines(profiles, args.ci_prob))
    if gold_eval is not None:
        print(f"majority vote vs gold ({gold_eval.n_items} gold items):")
        print(str(gold_eval))
    for path in written:
        print(f"wrote {path}")
    return 0


def _json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    from ._resample import records

    return records(frame)


def _annotator_lines(profiles: pd.DataFrame, ci_prob: float, min_compared: int = 20, show: int = 5) -> str:
    scored = profiles[profiles["n_compared"] >= min_compared].sort_values("accuracy")
    if scored.empty:
        return "annotators: none has 20 labels on items others labelled too"
    lines = [
        f"annotators vs leave-one-out consensus ({len(scored)} with ≥ {min_compared} compared labels): "
        f"median accuracy {scored['accuracy'].median():.3f}; lowest, with {ci_prob:.0%} Wilson intervals:"
    ]
    for row in scored.head(show).itertuples():
        lines.append(
            f"  {row.annotator:<20} {row.accuracy:.3f} [{row.accuracy_lo:.3f}, {row.accuracy_hi:.3f}]  "
            f"{row.n_compared} labels"
        )
    return "\n".join(lines)


def _write_analysis_plots(
    ann: Annotations, report: AgreementReport, profiles: pd.DataFrame, directory: Path
) -> list[Path]:
    from matplotlib.figure import Figure

    from . import plots
    from .aggregate import majority_vote

    directory.mkdir(parents=True, exist_ok=True)
    drawings = [
        ("agreement_heatmap.png", lambda ax: plots.plot_agreement(report, ax=ax)),
        ("annotator_profiles.png", lambda ax: plots.plot_annotator_profiles(profiles, ax=ax)),
    ]
    if ann.has_gold:
        votes = majority_vote(ann)
        drawings += [
            (
                "reliability_majority_vote.png",
                lambda ax: plots.plot_reliability(votes, ann.gold, ax=ax, label="majority vote"),
            ),
            (
                "pr_curve_majority_vote.png",
                lambda ax: plots.plot_pr_curve(votes, ann.gold, ax=ax, label="majority vote"),
            ),
        ]
    written = []
    for name, draw in drawings:
        figure = Figure(figsize=(7, 5.5), layout="constrained")
        draw(figure.add_subplot())
        path = directory / name
        figure.savefig(path, dpi=110)
        written.append(path)
    return written


def _read_gold_file(path: str) -> pd.Series:
    from .ingest import read_gold

    return read_gold(path)


def _cmd_evaluate(args: argparse.Namespace) -> int:

    import warnings

    import pandas as pd

    from .evaluate import evaluate
    from .soft_labels import SoftLabels

    _check_ci_prob(args.ci_prob)
    if args.n_boot < 1 or args.bins < 1:
        raise CliError("--n-boot and --bins must be at least 1")
    soft = SoftLabels.read(args.soft)
    if args.gold:
        gold = _read_gold_file(args.gold)
    elif soft.gold is not None:
        gold = pd.Series(soft.gold, index=soft.items, dtype=object)
    else:
        raise CliError(f"{args.soft} has no 'gold' column: give the gold labels with --gold gold.csv")
    with warnings.catch_warnings(record=True) as caught:  # the provenance says which items gold anchored
        warnings.simplefilter("always", UserWarning)
        result = evaluate(
            soft,
            gold,
            args.ci_prob,
            positive=args.positive,
            n_boot=args.n_boot,
            n_bins=args.bins,
            seed=args.seed,
        )
    for warning in caught:
        message = str(warning.message).replace(" (used_gold=True)", "")
        message = message.replace("use_gold=False", "--gold-use evaluate")
        print(f"bayeslabels: warning: {message}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        print(str(result))
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from . import datasets

    for name in datasets.names():
        meta = datasets.info(name)
        print(
            f"{name:<14} {meta['n_items']:>6} items {meta['n_annotators']:>5} annotators "
            f"{meta['n_labels']:>7} labels  K={len(meta['classes']):<3} gold {meta['n_gold']:>5}  "
            f"{meta['original_paper_citation'].split('(')[0].strip()}"
        )
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from ._io import atomic_write_many
    from .compare import compare_subtypes
    from .fit import load_fit

    comparison = compare_subtypes(load_fit(args.fit_dir), ci_prob=args.ci_prob)
    print(comparison)
    if args.out:
        out = Path(args.out)
        annotators = out.with_name(out.stem + "_annotators" + out.suffix)
        atomic_write_many(
            [
                (out, lambda tmp: comparison.population.to_csv(tmp, index=False)),
                (annotators, lambda tmp: comparison.annotators.to_csv(tmp, index=False)),
            ]
        )
        print(f"wrote {out} and {annotators}")
    if args.plots:
        for path in _write_subtype_plots(comparison, Path(args.plots)):
            print(f"wrote {path}")
    return 0


def _write_subtype_plots(comparison: SubtypeComparison, directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plots

    directory.mkdir(parents=True, exist_ok=True)
    figures = {
        "subtype_forest.png": plots.plot_subtype_forest(comparison).figure,
        "annotator_subtype_heatmap.png": plots.plot_annotator_subtype_heatmap(comparison).figure,
        "subtype_confusions.png": plots.plot_confusion_matrices(comparison)[0].figure,
    }
    written = []
    for name, figure in figures.items():
        figure.savefig(directory / name, dpi=120)
        plt.close(figure)
        written.append(directory / name)
    return written


def _cmd_route(args: argparse.Namespace) -> int:
    import pandas as pd

    from ._io import atomic_write
    from .fit import load_fit
    from .ingest import file_kind as _file_kind
    from .routing import route

    severity = None
    if args.severity:
        table = pd.read_csv(args.severity, dtype={"item": str})
        if not {"item", "severity"} <= set(table.columns):
            raise CliError(f"--severity {args.severity}: needs columns item, severity")
        severity = table.set_index("item")["severity"]
    plan = route(
        load_fit(args.fit_dir),
        budget=args.budget,
        per_item=args.per_item,
        experts=args.experts.split(",") if args.experts else None,
        expert_cost=args.expert_cost,
        severity=severity,
        max_per_annotator=args.max_per_annotator,
    )
    kind = _file_kind(args.out)
    writers = {
        "csv": lambda tmp: plan.to_csv(tmp, index=False),
        "parquet": lambda tmp: plan.to_parquet(tmp, index=False),
        "jsonl": lambda tmp: plan.to_json(tmp, orient="records", lines=True, double_precision=15),
    }
    atomic_write(args.out, writers[kind])
    reasons = ", ".join(f"{n} {r}" for r, n in plan["reason"].value_counts().items())
    reasons = f" ({reasons})" if reasons else ""
    print(f"wrote {args.out}: {len(plan)} labels on {plan['item'].nunique()} items{reasons}")
    if plan.attrs.get("unspent_reason"):  # why the budget is not spent: one line
        print(f"bayeslabels: note: {plan.attrs['unspent_reason']}", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- report


def _add_report_parser(sub: argparse._SubParsersAction[_OneLineParser]) -> None:
    report = sub.add_parser(
        "report",
        help="one self-contained HTML report of a saved fit or a labels file",
        epilog="examples:\n  bayeslabels report runs/fit-01 --out report.html\n"
        "  bayeslabels report labels.csv --gold gold.csv --out report.html\n"
        "  bayeslabels report runs/fit-01 --route-budget 200 --out report.html\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("source", help="a saved fit directory, or a labels file (.csv, .parquet, .jsonl)")
    report.add_argument("--out", default="report.html", help="the HTML file to write (default report.html)")
    report.add_argument("--gold", help="gold table (item, gold); for a labels file also a gold column name")
    report.add_argument("--route-budget", type=float, help="add a routing plan for this many labels (a fit)")
    report.add_argument("--ci-prob", type=float, default=0.9, help="interval mass (default 0.9)")
    report.add_argument("--n-boot", type=int, default=500, help="bootstrap replicates (default 500)")
    report.add_argument("--top-items", type=int, default=25, help="rows of the most-uncertain-items table")
    report.add_argument("--title", help="page title")


def _cmd_report(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from .report import report

    _check_ci_prob(args.ci_prob)
    source = Path(args.source)
    if not source.exists():
        raise CliError(f"{args.source}: no such file or directory (give a fit directory or labels file)")
    gold = args.gold
    if gold is not None and source.is_dir():
        gold = _read_gold_file(gold)
    written = report(
        source,
        args.out,
        gold=gold,
        route_budget=args.route_budget,
        ci_prob=args.ci_prob,
        n_boot=args.n_boot,
        top_items=args.top_items,
        title=args.title,
    )
    print(f"wrote {written}")
    return 0


# --------------------------------------------------------------------------- item features
# learning from crowds: `fit --features` and `predict` (a fit's classifier on new items' features)

PREDICT_EXAMPLE = """examples:
  bayeslabels fit labels.csv --features items.parquet --model learning-from-crowds --save runs/fit
  bayeslabels predict runs/fit --features new_items.parquet --out predictions.parquet
"""


def _add_feature_parsers(
    fit: argparse.ArgumentParser, sub: argparse._SubParsersAction[_OneLineParser]
) -> None:
    fit.add_argument(
        "--features",
        help="--model learning-from-crowds: item features, .parquet/.csv/.jsonl with an 'item' column "
        "(or index) and numeric columns, one row per item",
    )
    predict = sub.add_parser(
        "predict",
        help="class probabilities of new items from their features (a saved learning-from-crowds fit)",
        epilog=PREDICT_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument("fit_dir", help="a fit saved with 'fit --save DIR'")
    predict.add_argument("--features", required=True, help="the new items' features, as for 'fit --features'")
    predict.add_argument("--out", default="predictions.parquet", help="output: .parquet, .csv or .jsonl")
    predict.add_argument("--ci-prob", type=float, default=0.9, help="credible interval mass (default 0.9)")
    predict.add_argument(
        "--allow-failed-check",
        action="store_true",
        help="predict even if the fit failed its convergence check",
    )


def _read_features(path: str) -> pd.DataFrame:
    """A feature table indexed by item id (str): from its ``item`` column, else its index."""
    import pandas as pd

    from .ingest import check_path, file_kind, read_table

    check_path(path)
    kind = file_kind(path)
    frame = read_table(path, kind)
    if kind != "parquet":  # text formats are read as strings: numbers where every value is one
        for column in frame.columns.drop("item", errors="ignore"):
            converted = pd.to_numeric(frame[column], errors="coerce")
            if converted.notna().sum() == frame[column].notna().sum():
                frame[column] = converted
    if "item" in frame.columns:
        return frame.assign(item=frame["item"].astype(str)).set_index("item")
    if frame.index.name == "item":
        return frame.set_axis(pd.Index(frame.index.astype(str), name="item"), axis=0)
    raise CliError(f"--features {path}: no 'item' column; name the column holding the item ids 'item'")


def _cmd_predict(args: argparse.Namespace) -> int:
    from ._io import json_safe
    from .fit import ConvergenceError, load_fit

    check_ci_prob(args.ci_prob)
    out = Path(args.out)
    if not out.parent.exists():
        raise CliError(f"--out {args.out}: directory {out.parent} does not exist")
    fit = load_fit(args.fit_dir)
    try:
        fit.refuse_unconverged(args.allow_failed_check)
    except ConvergenceError as exc:
        message = str(exc).replace("allow_failed_check=True", "--allow-failed-check")
        raise CliError(message, EXIT_NOT_CONVERGED) from None
    predictions = fit.predict_items(_read_features(args.features), ci_prob=args.ci_prob)
    provenance = {**fit.provenance(args.ci_prob, args.allow_failed_check), "predicted_from": "features"}
    path = predictions.write(out, provenance=json.dumps(json_safe(provenance), indent=2, allow_nan=False))
    print(f"wrote {path} ({predictions.n_items} items, from their features)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:

    args = _parser().parse_args(argv)
    handlers = {
        "fit": _cmd_fit,
        "check": _cmd_check,
        "export": _cmd_export,
        "simulate": _cmd_simulate,
        "datasets": _cmd_datasets,
        "analyze": _cmd_analyze,
        "evaluate": _cmd_evaluate,
        "compare": _cmd_compare,
        "route": _cmd_route,
        "report": _cmd_report,
        "predict": _cmd_predict,
    }
    try:
        return handlers[args.command](args)
    except CliError as exc:
        return _fail(str(exc), exc.code)
    except (DataError, SpecError, ValueError, OSError) as exc:
        return _fail(str(exc) or type(exc).__name__, EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def _fail(message: str, code: int) -> int:
    line = " ".join(message.split())
    print(f"bayeslabels: error: {line}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
