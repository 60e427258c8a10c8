"""The ``bayeslabels`` command. Errors are one line on stderr and a non-zero exit:
2 for bad input, 1 for a fit that fails its convergence check on export."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 1

FIT_EXAMPLE = """examples:
  bayeslabels fit labels.csv --gold gold.csv --model dawid-skene --out soft_labels.parquet
  bayeslabels fit labels.csv --method em --out soft_labels.csv
  bayeslabels fit --dataset rte --gold-use evaluate --out soft_labels.parquet
  bayeslabels fit labels.csv --model hierarchical-subtype --method advi --out soft_labels.parquet
"""
SIMULATE_EXAMPLE = """example:
  bayeslabels simulate --items 1000 --annotators 50 --classes 2 --out labels.csv --truth truth.csv
"""


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; we print one line
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
        choices=["anchor", "evaluate"],
        default="anchor",
        help="anchor: gold fixes those items' class in the fit (default); "
        "evaluate: keep gold out of the fit and report accuracy on it",
    )
    fit.add_argument(
        "--model",
        default="dawid-skene",
        help="dawid-skene | one-coin | hierarchical | hierarchical-subtype | beta-bernoulli | my.toml",
    )
    fit.add_argument(
        "--method", choices=["nuts", "advi", "fullrank-advi", "map", "em"], help="default: the spec's (nuts)"
    )
    fit.add_argument("--minibatch-items", type=int, help="ADVI: items per minibatch (default: all)")
    fit.add_argument("--draws", type=int)
    fit.add_argument("--tune", type=int)
    fit.add_argument("--chains", type=int)
    fit.add_argument("--seed", type=int)
    fit.add_argument("--sampler", choices=["nutpie", "pymc", "numpyro", "blackjax"])
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
    fit.add_argument("--item-col", default="item")
    fit.add_argument("--annotator-col", default="annotator")
    fit.add_argument("--label-col", default="label")
    fit.add_argument(
        "--allow-failed-check", action="store_true", help="export even if the convergence check fails"
    )
    fit.add_argument("--save", metavar="DIR", help="also save the whole fit to DIR (see 'bayeslabels check')")
    fit.add_argument("--quiet", action="store_true", help="no progress bars, summary only")

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

    sub.add_parser("datasets", help="list the bundled real datasets")
    return parser


# Fixes that DataError messages spell as Python arguments, as this command's options.
_CLI_FIXES = (
    ("item=..., annotator=..., label=...", "--item-col, --annotator-col, --label-col"),
    ("gold_only='keep'", "--gold-only keep"),
    ("duplicates='keep'", "--duplicates keep"),
    ("or 'last'", "or --duplicates last"),
    ("classes=[...]", "--classes A,B,..."),
)


def _load(args: argparse.Namespace):
    from . import datasets
    from .data import Annotations
    from .errors import DataError

    if args.dataset and args.labels:
        raise CliError("give either a labels file or --dataset, not both")
    if args.dataset:
        ann = datasets.load(args.dataset, duplicates=args.duplicates)
        if args.gold or args.classes:
            raise CliError("--gold and --classes cannot be combined with --dataset (bundled data is used)")
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
            item=args.item_col,
            annotator=args.annotator_col,
            label=args.label_col,
        )
    except DataError as exc:
        message = str(exc)
        for python, option in _CLI_FIXES:
            message = message.replace(python, option)
        raise CliError(message) from None


def _cmd_fit(args: argparse.Namespace) -> int:
    from .inference import fit

    ann = _load(args)
    out = Path(args.out)
    if not out.parent.exists():
        raise CliError(f"--out {args.out}: directory {out.parent} does not exist")
    if ann.summary is not None:
        print(str(ann.summary))
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
        use_gold=args.gold_use == "anchor",
        quiet=args.quiet,
    )
    print(result.summary())
    if args.save:
        print(f"saved the fit to {result.save(args.save)}")
    return _export(result, out, args.ci_prob, args.allow_failed_check)


def _export(result, out: Path, ci_prob: float, allow_failed_check: bool) -> int:
    from .fit import ConvergenceError

    try:
        path = result.export(out, ci_prob=ci_prob, allow_failed_check=allow_failed_check)
    except ConvergenceError as exc:
        message = str(exc).replace("allow_failed_check=True", "--allow-failed-check")
        raise CliError(message, EXIT_NOT_CONVERGED) from None
    print(f"wrote {path} ({result.annotations.n_items} items)")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from .persist import load_fit

    report = load_fit(args.fit_dir).check()
    print(report)
    return 0 if report.ok else EXIT_NOT_CONVERGED


def _cmd_export(args: argparse.Namespace) -> int:
    from .persist import load_fit

    return _export(load_fit(args.fit_dir), Path(args.out), args.ci_prob, args.allow_failed_check)


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
    labels = sim.annotations.to_frame()
    truth = sim.truth_frame()
    atomic_write_many(
        [
            (args.out, lambda tmp: labels.to_csv(tmp, index=False)),
            (args.truth, lambda tmp: truth.to_csv(tmp, index=False)),
        ]
    )
    print(f"wrote {args.out} ({len(labels)} labels) and {args.truth} ({len(truth)} items)")
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


def main(argv: Sequence[str] | None = None) -> int:
    from .errors import DataError, SpecError

    args = _parser().parse_args(argv)
    handlers = {
        "fit": _cmd_fit,
        "check": _cmd_check,
        "export": _cmd_export,
        "simulate": _cmd_simulate,
        "datasets": _cmd_datasets,
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
