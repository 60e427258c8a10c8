"""The ``bayeslabels`` command. Errors are one line on stderr and a non-zero exit:
2 for bad input, 1 for a fit that fails its convergence check on export.

Every option is checked before any work (output extensions, ``--ci-prob``, directories that
must exist or be creatable), files are written before anything is printed, and a reader that
goes away (``bayeslabels fit … | head -1``) silences the output, not the command. Messages of
the library, which spell fixes as Python arguments (``model='hierarchical'``), reach the user
as this command's options (``--model hierarchical``) through one mapping, `cli_terms`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, get_args

from ._checks import check_ci_prob
from ._version import __version__
from .choices import (
    AVERAGE_CALIBRATION_METHOD,
    CALIBRATION_METHODS,
    DEFAULT_CALIBRATION_METHOD,
    SAMPLERS,
    Method,
    shipped_specs,
)
from .errors import DataError, SpecError
from .export_io import EXPORT_EXTENSIONS, export_format

if TYPE_CHECKING:  # the command imports lazily, to start fast
    import pandas as pd

    from .agreement import AgreementReport
    from .averaging import FamilyAverage
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


# --------------------------------------------------------------------------- option types


def _whole(minimum: int) -> Any:
    """An argparse type: a whole number ≥ ``minimum``, with the bound in the message."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
        if value < minimum:
            bound = "positive" if minimum == 1 else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    parse.__name__ = "whole number"
    return parse


def _number(
    low: float = -math.inf, high: float = math.inf, *, low_open: bool = False, high_open: bool = False
) -> Any:
    """An argparse type: a finite number between ``low`` and ``high`` (each bound included unless
    ``*_open``), with the range in the message."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if not math.isfinite(value) or too_low or too_high:
            bounds = [
                f"{'above' if low_open else 'at least'} {low:g}" if math.isfinite(low) else "",
                f"{'below' if high_open else 'at most'} {high:g}" if math.isfinite(high) else "",
            ]
            raise argparse.ArgumentTypeError(f"must be {' and '.join(filter(None, bounds))}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


POSITIVE = _whole(1)
NON_NEGATIVE = _whole(0)
FRACTION = _number(0.0, 1.0)


def _add_ingest_options(parser: argparse.ArgumentParser) -> None:
    """The label-table options of every command that reads one (fit, analyze)."""
    parser.add_argument(
        "labels", nargs="?", help="label table: .csv/.tsv, .parquet or .jsonl (item, annotator, label)"
    )
    parser.add_argument(
        "--dataset", help="use a bundled dataset instead of a file (see 'bayeslabels datasets')"
    )
    parser.add_argument("--gold", help="gold table (item, gold) or the name of a gold column in LABELS")
    parser.add_argument(
        "--duplicates",
        choices=["keep", "last", "error"],
        default="keep",
        help="an (item, annotator) pair labelled more than once: keep every label (default), "
        "keep the last, or refuse",
    )
    parser.add_argument(
        "--gold-only",
        choices=["error", "keep"],
        default="error",
        help="gold for an item with no labels: error (default) or keep it as an item without labels",
    )
    parser.add_argument(
        "--classes", help="comma-separated class names, in order (default: the labels, sorted)"
    )
    parser.add_argument("--item-col", default="item", help="column of item ids (default: item)")
    parser.add_argument(
        "--annotator-col", default="annotator", help="column of annotator ids (default: annotator)"
    )
    parser.add_argument("--label-col", default="label", help="column of labels (default: label)")
    parser.add_argument(
        "--subtype-col",
        help="column of item subtypes (default: a column named 'subtype' if there is one), "
        "for --model hierarchical-subtype",
    )
    parser.add_argument(
        "--timestamp-col",
        help="column of label times (default: a column named 'timestamp' if there is one)",
    )
    parser.add_argument(
        "--ordered",
        action="store_true",
        help="the classes are ordered, lowest first as --classes lists them (numeric labels: sorted); "
        "needed by --model ordinal, adds the expected score and median class to the export",
    )
    parser.add_argument(
        "--na-values",
        metavar="A,B",
        help="comma-separated texts that mean a missing value, e.g. NA,null "
        "(default: none; only an empty cell is missing, so an id 'NA' is kept as written)",
    )
    parser.add_argument(
        "--max-classes",
        type=NON_NEGATIVE,
        default=1000,
        help="refuse more distinct labels than this: usually the wrong --label-col "
        "(default 1000; 0: no limit)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="bayeslabels",
        description="Bayesian annotator models: noisy crowd labels in, "
        "soft labels with credible intervals out.",
    )
    parser.add_argument("--version", action="version", version=f"bayeslabels {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    fit = sub.add_parser(
        "fit",
        help="fit an annotator model and export soft labels",
        epilog=FIT_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_ingest_options(fit)
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
        "--calibration-folds",
        type=_whole(2),
        default=5,
        help="--gold-use calibrate: cross-fitting folds (default 5)",
    )
    fit.add_argument(
        "--calibration-fraction",
        type=_number(0.0, 1.0, low_open=True),
        help="--gold-use calibrate: calibrate on this share of the gold items only (e.g. 0.2); "
        "the others are held out of every map and scored as a check",
    )
    fit.add_argument(
        "--calibration-method",
        choices=list(CALIBRATION_METHODS),
        help="--gold-use calibrate: temperature with a uniform floor, one temperature, Platt "
        "scaling of the label's probability (top-label), or a scale and bias per class (default: "
        f"{AVERAGE_CALIBRATION_METHOD} for --model auto's average, {DEFAULT_CALIBRATION_METHOD} otherwise)",
    )
    fit.add_argument(
        "--model",
        default="dawid-skene",
        help=" | ".join([*shipped_specs(), "auto", "my.toml"])
        + " (auto: screen the candidate families, fit those that mix and export the equal average of "
        "the converged ones; see --auto-rule)",
    )
    fit.add_argument(
        "--auto-rule",
        choices=["average", "pick"],
        default="average",
        help="--model auto: export the equal average of the converged candidates' soft labels (default; "
        "--save writes each member to DIR/<family>), or only the one family LOO and the predictive "
        "checks pick",
    )
    fit.add_argument(
        "--candidates",
        help="--model auto: the families to screen, comma-separated (default: every registered family "
        "that fits the data, e.g. dawid-skene,one-coin,hierarchical,mace,item-difficulty,ambiguity)",
    )
    fit.add_argument(
        "--no-self-calibration",
        action="store_true",
        help="--model auto: export the fits as fitted, without tempering their soft labels by "
        "label count on held-out labels (the default self-calibration; it uses no gold)",
    )
    fit.add_argument(
        "--self-calibrate",
        action="store_true",
        help="any other --model: temper the soft labels by label count, fitted on held-out labels "
        "(no gold; what --model auto does by default)",
    )
    fit.add_argument("--method", choices=list(get_args(Method)), help="default: the spec's (nuts)")
    fit.add_argument("--minibatch-items", type=POSITIVE, help="ADVI: items per minibatch (default: all)")
    fit.add_argument(
        "--draws", type=POSITIVE, help="NUTS: draws per chain; ADVI: draws from the approximation (spec's)"
    )
    fit.add_argument("--tune", type=NON_NEGATIVE, help="NUTS: tuning steps per chain (spec's)")
    fit.add_argument("--chains", type=POSITIVE, help="NUTS: independent chains (spec's: 4)")
    fit.add_argument("--seed", type=NON_NEGATIVE, help="random seed, for a reproducible fit (spec's)")
    fit.add_argument(
        "--sampler",
        choices=list(SAMPLERS),
        help="NUTS implementation (default auto: numpyro for cheap-gradient families up to 10k labels, "
        "else nutpie, compiled through JAX up to 50k labels, else numba; nutpie-jax / nutpie-numba "
        "name the backend; blackjax needs bayeslabels[jax])",
    )
    fit.add_argument(
        "--target-accept",
        type=_number(0.0, 1.0, low_open=True, high_open=True),
        help="NUTS target acceptance, e.g. 0.9 (spec's: 0.8)",
    )
    fit.add_argument("--ci-prob", type=float, default=0.9, help="credible interval mass (default 0.9)")
    fit.add_argument("--out", default="soft_labels.parquet", help=f"soft-label file: {EXPORT_EXTENSIONS}")
    fit.add_argument(
        "--allow-failed-check", action="store_true", help="export even if the convergence check fails"
    )
    fit.add_argument(
        "--save",
        metavar="DIR",
        help="also save the whole fit to DIR, created if missing (see 'bayeslabels check')",
    )
    fit.add_argument("--quiet", action="store_true", help="no progress bars, summary only")
    _add_feature_parsers(fit, sub)

    check = sub.add_parser(
        "check",
        help="convergence and label-switching report of a saved fit (exit 0 if ok, 1 if not)",
        epilog="example:\n  bayeslabels check runs/fit-01\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "fit_dir",
        help="a directory written by 'bayeslabels fit --save' or Fit.save (--model auto: each averaged fit)",
    )

    export = sub.add_parser(
        "export",
        help="write the soft labels of a saved fit",
        epilog="example:\n  bayeslabels export runs/fit-01 --out soft.parquet\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument(
        "fit_dir",
        help="a directory written by 'bayeslabels fit --save' or Fit.save (of --model auto: the average)",
    )
    export.add_argument("--out", required=True, help=f"soft-label file: {EXPORT_EXTENSIONS}")
    export.add_argument("--ci-prob", type=float, default=0.9, help="credible interval mass (default 0.9)")
    export.add_argument(
        "--allow-failed-check", action="store_true", help="export even if the check fails (recorded)"
    )

    average = sub.add_parser(
        "average",
        help="write the soft labels averaged over saved fits of the same labels (a mixture of "
        "their class posteriors; no gold)",
        epilog="example:\n  bayeslabels average runs/dawid-skene runs/ambiguity runs/item-difficulty "
        "--out soft.parquet\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    average.add_argument("fit_dirs", nargs="+", help="directories written by 'bayeslabels fit --save'")
    average.add_argument("--weights", help="comma-separated weights, one per fit, in order (default: equal)")
    average.add_argument("--out", required=True, help=f"soft-label file: {EXPORT_EXTENSIONS}")
    average.add_argument("--ci-prob", type=float, default=0.9, help="credible interval mass (default 0.9)")
    average.add_argument(
        "--allow-failed-check", action="store_true", help="average fits that fail their check (recorded)"
    )

    simulate = sub.add_parser(
        "simulate",
        help="write a simulated Dawid-Skene label table and its truth",
        epilog=SIMULATE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    simulate.add_argument("--items", type=POSITIVE, default=1000, help="items (default 1000)")
    simulate.add_argument("--annotators", type=POSITIVE, default=50, help="annotators (default 50)")
    simulate.add_argument("--classes", type=_whole(2), default=2, help="classes (default 2)")
    simulate.add_argument(
        "--labels-per-item",
        type=POSITIVE,
        nargs=2,
        default=(3, 7),
        metavar=("MIN", "MAX"),
        help="each item gets between MIN and MAX labels (default 3 7)",
    )
    simulate.add_argument(
        "--spammers", type=FRACTION, default=0.1, help="fraction of spammer annotators (default 0.1)"
    )
    simulate.add_argument(
        "--gold-fraction",
        type=FRACTION,
        default=0.0,
        help="fraction of items given gold (their true class) (default 0)",
    )
    simulate.add_argument(
        "--subtypes",
        type=NON_NEGATIVE,
        default=0,
        help="item subtypes, as a 'subtype' column (default 0: none)",
    )
    simulate.add_argument("--seed", type=NON_NEGATIVE, default=0, help="random seed (default 0)")
    simulate.add_argument(
        "--out", default="labels.csv", help=f"the label table (default labels.csv): {EXPORT_EXTENSIONS}"
    )
    simulate.add_argument(
        "--truth", default="truth.csv", help="the true class of every item (default truth.csv)"
    )

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
    compare.add_argument("--ci-prob", type=float, default=0.9, help="credible interval mass (default 0.9)")
    compare.add_argument(
        "--out",
        help="write the population table to OUT and the annotator table beside it "
        f"(<name>_annotators<ext>): {EXPORT_EXTENSIONS}",
    )
    compare.add_argument("--plots", metavar="DIR", help="write the figures as PNGs into DIR (created)")
    route = sub.add_parser(
        "route",
        help="which items to send for more labels, and to whom",
        epilog="example:\n  bayeslabels route runs/fit-01 --budget 200 --out plan.csv\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    route.add_argument("fit_dir", help="a directory written by 'bayeslabels fit --save' or Fit.save")
    route.add_argument(
        "--budget",
        type=_number(0.0, low_open=True),
        required=True,
        help="labels to buy (a crowd label costs 1, an expert label --expert-cost)",
    )
    route.add_argument(
        "--per-item", type=POSITIVE, default=1, help="most new labels one item may get (default 1)"
    )
    route.add_argument("--experts", help="comma-separated ids of expert annotators")
    route.add_argument(
        "--expert-cost",
        type=_number(0.0, low_open=True),
        default=5.0,
        help="cost of one expert label, in crowd labels (default 5)",
    )
    route.add_argument(
        "--max-per-annotator", type=POSITIVE, help="most new labels one annotator may get (default: no cap)"
    )
    route.add_argument("--severity", help="CSV with columns item, severity (weights ≥ 0; default 1)")
    route.add_argument("--out", required=True, help=f"the plan: {EXPORT_EXTENSIONS}")


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
    _add_ingest_options(analyze)
    analyze.add_argument("--json", action="store_true", help="print the report as JSON")
    analyze.add_argument("--plots", metavar="DIR", help="write the figures (PNG) into DIR")
    analyze.add_argument(
        "--level",
        choices=["nominal", "ordinal", "interval"],
        help="Krippendorff α metric (default: ordinal with --ordered, else nominal)",
    )
    analyze.add_argument("--ci-prob", type=float, default=0.95, help="interval mass (default 0.95)")
    analyze.add_argument("--seed", type=NON_NEGATIVE, default=0, help="bootstrap seed (default 0)")

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
    evaluate.add_argument("--bins", type=POSITIVE, default=10, help="confidence bins for ECE (default 10)")
    evaluate.add_argument("--n-boot", type=POSITIVE, default=2000, help="bootstrap replicates (default 2000)")
    evaluate.add_argument("--seed", type=NON_NEGATIVE, default=0, help="bootstrap seed (default 0)")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")


# --------------------------------------------------------------------------- the user's terms

# Library parameters and the options that set them. `cli_terms` rewrites ``name='value'``,
# ``name=...``, ``name=True`` and ``name must`` in any message into ``--option value`` etc.
_OPTIONS = {
    "model": "--model",
    "method": "--method",
    "sampler": "--sampler",
    "draws": "--draws",
    "tune": "--tune",
    "chains": "--chains",
    "seed": "--seed",
    "target_accept": "--target-accept",
    "minibatch_items": "--minibatch-items",
    "ci_prob": "--ci-prob",
    "allow_failed_check": "--allow-failed-check",
    "item": "--item-col",
    "annotator": "--annotator-col",
    "label": "--label-col",
    "subtype": "--subtype-col",
    "timestamp": "--timestamp-col",
    "gold": "--gold",
    "gold_only": "--gold-only",
    "duplicates": "--duplicates",
    "classes": "--classes",
    "budget": "--budget",
    "per_item": "--per-item",
    "max_per_annotator": "--max-per-annotator",
    "expert_cost": "--expert-cost",
    "n_boot": "--n-boot",
    "n_bins": "--bins",
    "positive": "--positive",
    "gold_fraction": "--gold-fraction",
    "na_values": "--na-values",
    "max_classes": "--max-classes",
    "ordered": "--ordered",
}
_PHRASES = (  # whole phrases first: they read better than the word-by-word rewrite
    ("pass max_classes=None (or a larger number)", "pass --max-classes 0 (no limit) or a larger number"),
    ("check label=...", "check --label-col"),
    ("in na_values", "in --na-values"),
    ("item=..., annotator=..., label=...", "--item-col, --annotator-col, --label-col"),
    ("classes=[...]", "--classes A,B,..."),
    ("ordered=True", "--ordered"),
    ("use_gold=False", "--gold-use evaluate"),
    ("or 'last'", "or --duplicates last"),
    ("gold=...", "--gold gold.csv"),
    ("bl.load(dir)", "the commands that take a saved fit (bayeslabels check DIR, export DIR, route DIR)"),
    ("bl.load(directory)", "bayeslabels export DIR"),
)
_NAMES = "|".join(sorted(_OPTIONS, key=len, reverse=True))
# not after a dot: ``inference.draws`` names a key of the user's spec file, which keeps its name
_ASSIGNMENT = re.compile(rf"(?<![\w.])({_NAMES})=('[^']*'|\"[^\"]*\"|\.\.\.|[^\s,;:()]+)")
_SUBJECT = re.compile(rf"(?<![\w.])({_NAMES})(?= must\b)")


def cli_terms(message: str) -> str:
    """A library message in this command's terms: ``model='hierarchical'`` → ``--model
    hierarchical``, ``ci_prob must`` → ``--ci-prob must``, ``allow_failed_check=True`` →
    ``--allow-failed-check``."""
    for python, option in _PHRASES:
        message = message.replace(python, option)

    def assignment(match: re.Match[str]) -> str:
        option, value = _OPTIONS[match.group(1)], match.group(2).strip("'\"")
        return option if value == "True" else f"{option} {value}"

    message = _ASSIGNMENT.sub(assignment, message)
    return _SUBJECT.sub(lambda match: _OPTIONS[match.group(1)], message)


# --------------------------------------------------------------------------- output


class _QuietWhenReaderGone:
    """``sys.stdout`` for the command: when its reader has gone (``fit … | head -1``), the rest
    of the output goes to /dev/null instead of ending the command before its files are written."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._silence()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._silence()

    def _silence(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _say(text: str) -> None:
    """Print a report to stdout, in the command's terms, at once (a log shows the ingest summary
    before a long fit, not after it)."""
    print(cli_terms(text), flush=True)


def _warn(text: str) -> None:
    print(f"bayeslabels: warning: {cli_terms(text)}", file=sys.stderr)


def _end_progress_line(quiet: bool) -> None:
    """Progress bars (stderr, terminals only) leave the cursor on their last line: start a new
    one, so the summary on stdout is not printed onto it."""
    if not quiet and sys.stderr.isatty():
        sys.stderr.write("\n")
        sys.stderr.flush()


# --------------------------------------------------------------------------- up-front checks


def _check_ci_prob(value: float) -> None:
    try:
        check_ci_prob(value)
    except ValueError:
        raise CliError(f"--ci-prob must lie strictly between 0 and 1, got {value}") from None


def _creatable(path: Path, option: str) -> None:
    """Refuse, before any work, a path whose directory neither exists nor can be created."""
    for ancestor in path.absolute().parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise CliError(f"{option} {path}: {ancestor} is a file, not a directory")
            if not os.access(ancestor, os.W_OK | os.X_OK):
                raise CliError(f"{option} {path}: cannot write in {ancestor} (permission denied)")
            return


def _output_file(value: str, option: str = "--out") -> Path:
    """An output file checked up front: a known extension, not a directory, a creatable parent."""
    path = Path(value)
    try:
        export_format(path)
    except ValueError as exc:
        raise CliError(f"{option} {exc}") from None
    if path.is_dir():
        raise CliError(f"{option} {path}: is a directory; give a file name")
    _creatable(path, option)
    return path


def _output_dir(value: str, option: str) -> Path:
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise CliError(f"{option} {path}: exists and is not a directory")
    _creatable(path, option)
    return path


def _save_dir(value: str, average: bool = False) -> Path:
    """``--save DIR`` checked before the fit: new, empty, or a previous saved fit (``average``:
    a previous saved average, `FamilyAverage.save`)."""
    from .persist import MANIFEST

    marker = "average.json" if average else MANIFEST
    path = _output_dir(value, "--save")
    if path.is_dir() and not (path / marker).is_file() and any(path.iterdir()):
        what = "saved average" if average else "saved fit"
        raise CliError(f"--save {path}: exists and is not a {what} (no {marker}); choose a new directory")
    return path


def _made_parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- commands


def _load(args: argparse.Namespace) -> Annotations:
    from . import datasets
    from .data import Annotations

    if args.dataset and args.labels:
        raise CliError("give either a labels file or --dataset, not both")
    if args.dataset:
        if args.gold or args.classes:
            raise CliError("--gold and --classes cannot be combined with --dataset (bundled data is used)")
        ann = datasets.load(args.dataset, duplicates=args.duplicates)
        if args.ordered and not ann.ordered:
            raise CliError(f"--ordered: the bundled dataset {args.dataset!r} has unordered classes")
        return ann
    if not args.labels:
        raise CliError("no labels: give a labels file or --dataset NAME")
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    columns = {"subtype": args.subtype_col, "timestamp": args.timestamp_col}
    return Annotations.from_file(
        args.labels,
        gold=args.gold,
        duplicates=args.duplicates,
        gold_only=args.gold_only,
        classes=classes,
        ordered=args.ordered,
        item=args.item_col,
        annotator=args.annotator_col,
        label=args.label_col,
        na_values=args.na_values.split(",") if args.na_values else None,
        max_classes=args.max_classes or None,
        **{name: column for name, column in columns.items() if column is not None},
    )


def _cmd_fit(args: argparse.Namespace) -> int:
    _check_ci_prob(args.ci_prob)
    if args.self_calibrate and args.no_self_calibration:
        raise CliError("--self-calibrate and --no-self-calibration contradict each other: give one")
    out = _output_file(args.out)
    if args.candidates is not None and args.model != "auto":
        raise CliError("--candidates names the families --model auto screens; add --model auto or drop it")
    averaging = args.model == "auto" and args.auto_rule == "average"
    save = _save_dir(args.save, averaging) if args.save else None
    ann = _load(args)
    if ann.summary is not None:
        _say(str(ann.summary))
    if args.gold_use == "calibrate":
        _check_calibration_gold(ann, args.calibration_folds)
    from .averaging import FamilyAverage
    from .fit import Fit

    result = _fitted(args, ann)
    _end_progress_line(args.quiet)
    if isinstance(result, Fit) and args.self_calibrate and result.self_calibration is None:
        from .self_calibration import self_calibrate

        calibrated = self_calibrate(result, seed=0 if args.seed is None else args.seed)
        result = calibrated.fit
        _say(calibrated.summary())
    saved = result.save(save) if save is not None else None
    report = [_selection_text(result.model_selection)] if result.model_selection else []
    report.append(
        result.summary() if isinstance(result, FamilyAverage) else result.summary(data=ann.summary is None)
    )
    exported: Fit | FamilyAverage | Calibration = result
    if args.gold_use == "calibrate":
        from .calibrate import calibrate

        exported = calibrate(
            result,
            ann.gold,
            method=args.calibration_method,
            folds=args.calibration_folds,
            seed=0 if args.seed is None else args.seed,
            fraction=args.calibration_fraction,
        )
        report.append(exported.summary())
    try:
        path = _export(exported, out, args.ci_prob, args.allow_failed_check)
    except CliError as exc:
        _say("\n".join(report))
        if saved is not None and exc.code == EXIT_NOT_CONVERGED:
            raise CliError(f"{exc}; the fit is saved in {saved}", exc.code) from None
        raise
    if saved is not None:
        what = (
            f"the averaged fits to {saved}/<family>"
            if isinstance(result, FamilyAverage)
            else f"the fit to {saved}"
        )
        report.append(f"saved {what}")
    report.append(f"wrote {path} ({ann.n_items} items)")
    _say("\n".join(report))
    return 0


def _fitted(args: argparse.Namespace, ann: Annotations) -> Fit | FamilyAverage:
    """The fit ``bayeslabels fit`` asks for: one family, or ``--model auto``'s average (or pick)."""
    from .fitting import auto_average, auto_fit, fit  # PyMC and the models: 3 s, after the input is read

    settings: dict[str, Any] = {
        "method": args.method,
        "draws": args.draws,
        "minibatch_items": args.minibatch_items,
        "tune": args.tune,
        "chains": args.chains,
        "sampler": args.sampler,
        "target_accept": args.target_accept,
    }
    if args.model != "auto":
        return fit(
            ann,
            model=args.model,
            seed=args.seed,
            use_gold=args.gold_use == "anchor",
            quiet=args.quiet,
            features=_read_features(args.features) if args.features else None,
            **settings,
        )
    if args.features:
        raise CliError("--model auto does not screen feature models; use --model learning-from-crowds")
    options: dict[str, Any] = {
        "candidates": _candidates(args.candidates),
        "use_gold": args.gold_use == "anchor",
        "seed": args.seed,
        "quiet": args.quiet,
        "final_settings": {name: value for name, value in settings.items() if value is not None},
        "self_calibration": not args.no_self_calibration,
    }
    if args.auto_rule == "average":
        return auto_average(ann, **options)
    return auto_fit(ann, **options)[0]


def _candidates(value: str | None) -> list[str] | None:
    """``--candidates a,b``: registered family names, in order (None: `auto_candidates`)."""
    if value is None:
        return None
    from .models import family_names

    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in family_names()]
    if unknown or not names:
        problem = f"unknown families {unknown}" if unknown else "no family named"
        raise CliError(f"--candidates {value!r}: {problem}; choose from {', '.join(family_names())}")
    return names


def _selection_text(selection: dict) -> str:
    """The --model auto comparison, one line per candidate; then what was kept (the fit LOO
    picks, or the members of the average) and how it was self-calibrated."""
    lines = ["model auto: candidates screened by NUTS (2 chains × 500 draws; 1000 where R-hat or ESS missed)"]
    for row in selection["models"]:
        elpd = "n/a" if row.get("elpd_loo") is None else f"{row['elpd_loo']:.1f} ± {row['se']:.1f}"
        draws = row.get("draws")
        lines.append(
            f"  {row['model']:<22} elpd_loo {elpd:<16} Pareto k > 0.7: {row.get('pareto_k_bad')}  "
            f"predictive misfits: {row['misfits']}  "
            + ("converged" if row.get("converged", True) else f"NOT converged (R-hat {row['max_rhat']:.3f})")
            + (f" at {int(draws)} draws" if isinstance(draws, int | float) and math.isfinite(draws) else "")
        )
    averaged = selection.get("averaged")
    finals = selection.get("final_fits") or []
    if averaged is not None:
        lines.append(
            f"LOO and the predictive checks recommend: {selection['recommended']} ({selection['reason']})"
        )
        for final in finals:
            lines.append(f"  full fit of {final['model']}: {final['verdict']}")
        for row in selection["models"]:
            if row["model"] not in {final["model"] for final in finals}:
                lines.append(f"  {row['model']}: not fitted in full (its screen did not mix, nor come close)")
        lines.append(f"exported: {selection['rule']}: {', '.join(averaged)}")
    else:
        lines.append(f"chosen: {selection['recommended']} ({selection['reason']})")
        if len(finals) > 1 or any(not f["passed_screen_bar"] for f in finals):
            for final in finals:
                lines.append(
                    f"  full fit of {final['model']}: {final['verdict']}"
                    + ("" if final["passed_screen_bar"] else " — has not mixed (the screen's bar)")
                )
            kept = next((f["model"] for f in finals if f["passed_screen_bar"]), finals[0]["model"])
            lines.append(f"kept: {kept}")
    calibrated = selection.get("self_calibration")
    if not calibrated:
        lines.append("not self-calibrated (--no-self-calibration)")
    elif averaged is None:
        lines.append(
            f"self-calibrated on {calibrated['n_held_out_labels']} held-out labels: intra-item correlation "
            f"r = {calibrated['correlation']:.3f}, temperature T(n) = 1 + (n - 1) r"
        )
    else:
        first = next(iter(calibrated.values()))
        each = ", ".join(f"{name} {record['correlation']:.3f}" for name, record in calibrated.items())
        lines.append(
            f"self-calibrated on {first['n_held_out_labels']} held-out labels, temperature "
            f"T(n) = 1 + (n - 1) r; intra-item correlation r: {each}"
        )
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
    result: Fit | FamilyAverage | Calibration, out: Path, ci_prob: float, allow_failed_check: bool
) -> Path:
    from .fit import ConvergenceError

    try:
        return result.export(_made_parent(out), ci_prob=ci_prob, allow_failed_check=allow_failed_check)
    except ConvergenceError as exc:
        raise CliError(str(exc), EXIT_NOT_CONVERGED) from None


def _loaded(fit_dir: str, purpose: str | None = None) -> Fit:
    """A saved fit; with ``purpose``, a one-line caveat on stderr when it fails its check."""
    from .averaging import AVERAGE_RECORD
    from .fit import load_fit

    if (Path(fit_dir) / AVERAGE_RECORD).is_file():
        members = sorted(child.name for child in Path(fit_dir).iterdir() if child.is_dir())
        raise CliError(
            f"{fit_dir} holds fits averaged by --model auto, not one fit: give one of them "
            f"({', '.join(f'{fit_dir}/{name}' for name in members)}); check and export take the average"
        )
    result = load_fit(fit_dir)
    if purpose is not None:
        report = result.check()
        if not report.ok:
            _warn(
                f"the fit in {fit_dir} failed its convergence check ({'; '.join(report.reasons)}): "
                f"{purpose} rests on an unconverged posterior (details: bayeslabels check {fit_dir})"
            )
    return result


def _saved_average(fit_dir: str) -> FamilyAverage | None:
    """The average saved in ``fit_dir`` (``fit --model auto --save``), or None for a single fit."""
    from .averaging import AVERAGE_RECORD, FamilyAverage

    return FamilyAverage.load(fit_dir) if (Path(fit_dir) / AVERAGE_RECORD).is_file() else None


def _cmd_check(args: argparse.Namespace) -> int:
    average = _saved_average(args.fit_dir)
    if average is None:
        report = _loaded(args.fit_dir).check()
        _say(str(report))
        return 0 if report.ok else EXIT_NOT_CONVERGED
    members = average.model_selection["averaged"] if average.model_selection else list(average.fits)
    ok = True
    for name, member in average.fits.items():
        report = member.check()
        role = "averaged" if average.weights[name] > 0 else "weight 0, not averaged"
        _say(f"== {name} ({role})\n{report}")
        ok = ok and (report.ok or name not in members)
    return 0 if ok else EXIT_NOT_CONVERGED


def _cmd_export(args: argparse.Namespace) -> int:
    _check_ci_prob(args.ci_prob)
    out = _output_file(args.out)
    result = _saved_average(args.fit_dir) or _loaded(args.fit_dir)
    path = _export(result, out, args.ci_prob, args.allow_failed_check)
    _say(f"wrote {path} ({result.annotations.n_items} items)")
    return 0


def _cmd_average(args: argparse.Namespace) -> int:
    from .averaging import export_average
    from .fit import ConvergenceError

    _check_ci_prob(args.ci_prob)
    out = _output_file(args.out)
    repeated = sorted({d for d in args.fit_dirs if args.fit_dirs.count(d) > 1})
    if repeated:
        raise CliError(f"fit directory given more than once: {', '.join(repeated)}; give each fit once")
    weights = None
    if args.weights is not None:
        values = [w.strip() for w in args.weights.split(",")]
        if len(values) != len(args.fit_dirs):
            raise CliError(
                f"--weights has {len(values)} value(s) for {len(args.fit_dirs)} fit(s); "
                "give one per fit, in order"
            )
        try:
            weights = dict(zip(args.fit_dirs, map(float, values), strict=True))
        except ValueError:
            raise CliError(f"--weights {args.weights!r}: not numbers; e.g. --weights 0.5,0.25,0.25") from None
    fits = {directory: _loaded(directory) for directory in args.fit_dirs}
    try:
        path = export_average(
            fits, _made_parent(out), weights, ci_prob=args.ci_prob, allow_failed_check=args.allow_failed_check
        )
    except ConvergenceError as exc:
        raise CliError(str(exc), EXIT_NOT_CONVERGED) from None
    n_items = next(iter(fits.values())).annotations.n_items
    _say(f"wrote {path} ({n_items} items, averaged over {len(fits)} fits)")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from ._io import atomic_write_many
    from .export_io import table_writer
    from .simulate import dawid_skene

    out, truth_out = _output_file(args.out), _output_file(args.truth, "--truth")
    if out.absolute() == truth_out.absolute():
        raise CliError(f"--out and --truth are the same file ({out}); give two names")
    low, high = args.labels_per_item
    if low > high:
        raise CliError(f"--labels-per-item MIN MAX: MIN ({low}) is above MAX ({high})")
    sim = dawid_skene(
        n_items=args.items,
        n_annotators=args.annotators,
        n_classes=args.classes,
        labels_per_item=(low, high),
        spammer_fraction=args.spammers,
        gold_fraction=args.gold_fraction,
        n_subtypes=args.subtypes,
        seed=args.seed,
    )
    labels = sim.annotations.to_frame(include_gold=sim.annotations.has_gold)  # --gold-fraction: a gold column
    truth = sim.truth_frame()
    atomic_write_many(
        [
            (_made_parent(out), table_writer(labels, out)),
            (_made_parent(truth_out), table_writer(truth, truth_out)),
        ]
    )
    n_gold = int((sim.annotations.gold >= 0).sum())
    gold = f", gold for {n_gold} items in its 'gold' column (fit with --gold gold)" if n_gold else ""
    _say(f"wrote {out} ({len(labels)} labels{gold}) and {truth_out} ({len(truth)} items)")
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:

    from .aggregate import majority_vote
    from .agreement import agreement, annotator_profiles
    from .evaluate import evaluate

    _check_ci_prob(args.ci_prob)
    plots_dir = _output_dir(args.plots, "--plots") if args.plots else None
    ann = _load(args)
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
    lines = [str(ann.summary)] if ann.summary is not None else []
    lines += [str(report), _annotator_lines(profiles, args.ci_prob)]
    if gold_eval is not None:
        lines += [f"majority vote vs gold ({gold_eval.n_items} gold items):", str(gold_eval)]
    lines += [f"wrote {path}" for path in written]
    _say("\n".join(lines))
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
        written.append(_save_png(figure, directory / name, dpi=110))
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
        _warn(message.replace("use_gold=False", "--gold-use evaluate"))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        _say(str(result))
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
    from .export_io import table_writer

    _check_ci_prob(args.ci_prob)
    out = _output_file(args.out) if args.out else None
    annotators = _beside(out, "_annotators") if out else None
    plots = _output_dir(args.plots, "--plots") if args.plots else None
    comparison = compare_subtypes(_loaded(args.fit_dir, "this comparison"), ci_prob=args.ci_prob)
    lines = [str(comparison)]
    if out is not None and annotators is not None:
        atomic_write_many(
            [
                (_made_parent(out), table_writer(comparison.population, out)),
                (annotators, table_writer(comparison.annotators, annotators)),
            ]
        )
        lines.append(f"wrote {out} and {annotators}")
    if plots is not None:
        lines += [f"wrote {path}" for path in _write_subtype_plots(comparison, plots)]
    _say("\n".join(lines))
    return 0


def _beside(path: Path, tag: str) -> Path:
    """``comparison.csv.gz`` → ``comparison_annotators.csv.gz``: ``tag`` before the extension."""
    extension = "".join(path.suffixes[-(2 if export_format(path).compression else 1) :])
    return path.with_name(path.name[: -len(extension)] + tag + extension)


def _save_png(figure: Any, path: Path, dpi: int) -> Path:
    """A figure as a PNG, atomically (a killed command leaves no half image)."""
    from ._io import atomic_write

    return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=dpi))


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
        written.append(_save_png(figure, directory / name, dpi=120))
        plt.close(figure)
    return written


def _cmd_route(args: argparse.Namespace) -> int:
    import pandas as pd

    from .export_io import write_table
    from .routing import route

    out = _output_file(args.out)
    severity = None
    if args.severity:
        table = pd.read_csv(args.severity, dtype={"item": str})
        if not {"item", "severity"} <= set(table.columns):
            raise CliError(f"--severity {args.severity}: needs columns item, severity")
        severity = table.set_index("item")["severity"]
    plan = route(
        _loaded(args.fit_dir, "this plan"),
        budget=args.budget,
        per_item=args.per_item,
        experts=args.experts.split(",") if args.experts else None,
        expert_cost=args.expert_cost,
        severity=severity,
        max_per_annotator=args.max_per_annotator,
    )
    write_table(plan, _made_parent(out))
    reasons = ", ".join(f"{n} {r}" for r, n in plan["reason"].value_counts().items())
    reasons = f" ({reasons})" if reasons else ""
    _say(f"wrote {out}: {len(plan)} labels on {plan['item'].nunique()} items{reasons}")
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
    """Run the command; the exit code (0, 1 for a failed convergence check, 2 for bad input)."""
    stdout = sys.stdout
    sys.stdout = _QuietWhenReaderGone(stdout)
    try:
        return _run(argv)
    finally:
        sys.stdout.flush()
        sys.stdout = stdout


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    handlers = {
        "fit": _cmd_fit,
        "check": _cmd_check,
        "export": _cmd_export,
        "average": _cmd_average,
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
    line = " ".join(cli_terms(message).split())
    print(f"bayeslabels: error: {line}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
