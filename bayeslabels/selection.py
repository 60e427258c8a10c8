r"""Choosing a model family: LOO, predictive checks and held-out gold, side by side.

`compare_models` puts fits of the same labels next to each other on three kinds of evidence:

* **PSIS-LOO** (ArviZ's ``az.compare`` on each fit's per-item log-likelihood): the expected
  log predictive density of an item's labels, :math:`\widehat{\mathrm{elpd}}_{loo} =
  \sum_i \log p(y_i \mid y_{-i})`, with its standard error, the difference to the best model
  and its SE, and the Pareto-k diagnostics (items with k > 0.7 make the estimate unreliable:
  the table counts them, it does not hide them). The unit is the item, because an item's
  labels are dependent once its class is summed out.
* **Posterior predictive misfit** (`bayeslabels.predictive_check`): how many of its statistics
  (per-item disagreement, Fleiss' κ, per-annotator agreement, class use) sit in the tail of
  the replicated tables.
* **Gold held out of the fit** (where there is gold and the fit did not use it): accuracy,
  ECE and log-loss with intervals (`bayeslabels.evaluate`).

* **Convergence** of each sampled fit against `SCREEN_THRESHOLDS` (R-hat, ESS, divergences and
  label switching; looser than `Fit.check`'s defaults, since a screen is a short run): a
  posterior that has not mixed gives LOO and soft labels of a distribution it never sampled.

The recommendation: among the converged models (all of them where none converged, said in the
reason), those whose elpd is within two standard errors of the best (``|elpd_diff| ≤ 2·dse``),
then the one with the fewest predictive misfits, then the best elpd. Gold is reported, never
used to choose (so a choice can be scored on the same gold).

LOO scores how well a family predicts the crowd's labels, not how well it finds the classes.
Every family at its shipped settings, gold held out (`benchmarks/results/calibration_shipped_*.md`):
it recommends item-difficulty on rte, bluebirds, duchenne and dog, whose gold accuracy is above
EM's on rte and bluebirds (0.931 vs 0.929, 0.917 vs 0.898) and below it on duchenne and dog
(0.736 vs 0.780, 0.818 vs 0.843): an item effect that predicts an item's split labels also
weakens what they say about its class. There ambiguity scored better on gold in accuracy, ECE
and log-loss (duchenne 0.780, 0.124, 0.599 against 0.736, 0.180, 0.785). Where some gold
exists, read the gold columns before exporting; where none does, `bayeslabels.average_soft_labels`
mixes the families' class posteriors instead of choosing one (`benchmarks/results/gold_free_rules*.md`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._checks import check_ci_prob
from .diagnostics import Thresholds
from .errors import DataError
from .fit import Fit

PARETO_K_BAD = 0.7
"""Items with a Pareto k above this make PSIS-LOO unreliable (Vehtari et al. 2024)."""

SCREEN_THRESHOLDS = Thresholds(max_rhat=1.05, min_ess=100.0, max_divergences=10)
"""What a candidate's run must pass to be recommended: R-hat ≤ 1.05, bulk and tail ESS ≥ 100
(enough for LOO and the soft labels' means), at most 10 divergent transitions, no chain with
switched labels. Looser than `Thresholds`' defaults, which a final fit must pass: a screen
(``model="auto"``: 2 chains × 500 draws) is too short for ESS ≥ 400 on the hierarchical
families, yet R-hat and label switching already tell a sampler that is stuck or between modes
(item-difficulty on anesthesia: classes 3 and 4 swapped within a chain; on duchenne R-hat 1.14)."""


@dataclass(frozen=True)
class ModelComparison:
    """Fits of the same labels compared, from `compare_models`.

    ``print(comparison)`` shows the table and the recommendation.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model, best elpd first: ``model`` (the name given), ``family``,
        ``method``, ``elpd_loo``, ``se``, ``elpd_diff``, ``dse``, ``p_loo``, ``loo_weight``
        (stacking), ``pareto_k_bad`` (items with k > 0.7), ``misfits`` (predictive-check
        statistics in the tail) and ``misfit_statistics``, ``converged`` (passed
        `SCREEN_THRESHOLDS`; a point estimate passes) with ``max_rhat`` and
        ``convergence`` (the check's verdict), and where gold was held out
        ``gold_accuracy``, ``gold_ece``, ``gold_log_loss`` with ``_lo`` / ``_hi`` intervals.
    recommended : str
        The model chosen by the rule in the module docstring.
    reason : str
        Why, in one sentence with the numbers.
    checks : dict of str to PredictiveCheck
        The predictive check of each model.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("bluebirds")
    >>> comparison = bl.compare_models({"ds": bl.fit(ann, method="em", use_gold=False)})
    >>> comparison.recommended
    'ds'
    """

    table: pd.DataFrame
    recommended: str
    reason: str
    checks: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        columns = [
            c
            for c in (
                "model",
                "elpd_loo",
                "se",
                "elpd_diff",
                "dse",
                "p_loo",
                "pareto_k_bad",
                "misfits",
                "gold_accuracy",
                "gold_ece",
                "gold_log_loss",
            )
            if c in self.table
        ]
        shown = self.table[columns].round(3).to_string(index=False)
        return f"{shown}\nrecommended: {self.recommended} — {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the table as records, the recommendation and its reason (for provenance)."""
        records = self.table.drop(columns=["misfit_statistics"], errors="ignore")
        rows = [
            {
                key: (None if isinstance(v, float) and not np.isfinite(v) else _plain(v))
                for key, v in row.items()
            }
            for row in records.to_dict(orient="records")
        ]
        return {"models": rows, "recommended": self.recommended, "reason": self.reason}


def _plain(value: Any) -> Any:
    """A JSON value: NumPy scalars as Python ones, NaN as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def check_fits_of_same_labels(fits: Mapping[str, Any], caller: str, verb: str) -> None:
    """A DataError unless ``fits`` holds at least one `Fit` and all of them fit the same labels
    (items, annotators, classes, label count). ``caller`` and ``verb`` word the message."""
    if not fits:
        raise DataError(f"{caller} needs at least one fit, e.g. {{'ds': bl.fit(ann)}}")
    for name, fit in fits.items():
        if not isinstance(fit, Fit):
            inner = getattr(fit, "fit", None)
            hint = ": pass its .fit" if isinstance(inner, Fit) else ""
            raise DataError(f"{caller}: {name!r} is a {type(fit).__name__}, not a Fit from bl.fit{hint}")
    first_name, first = next(iter(fits.items()))
    reference = first.annotations
    for name, fit in fits.items():
        ann = fit.annotations
        same = (
            list(ann.items) == list(reference.items)
            and list(ann.annotators) == list(reference.annotators)
            and list(ann.classes) == list(reference.classes)
            and len(ann.label) == len(reference.label)
        )
        if not same:
            raise DataError(
                f"{caller}: {name!r} was fitted to other labels than {first_name!r}; "
                f"{verb} fits of the same Annotations"
            )


def _loo_table(fits: Mapping[str, Fit]) -> pd.DataFrame:
    """az.compare over the fits that carry a log-likelihood; NaN rows for the others."""
    import arviz as az

    with_loglik = {
        name: fit.posterior for name, fit in fits.items() if "log_likelihood" in fit.posterior.children
    }
    rows = pd.DataFrame(index=pd.Index(list(fits), name="model"))
    for column in ("elpd_loo", "se", "elpd_diff", "dse", "p_loo", "loo_weight", "pareto_k_bad"):
        rows[column] = np.nan
    if not with_loglik:
        return rows
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(with_loglik) > 1:
            compared = az.compare(with_loglik, round_to="none")
            for name in compared.index:
                rows.loc[name, ["elpd_loo", "se", "elpd_diff", "dse", "p_loo", "loo_weight"]] = [
                    compared.loc[name, c] for c in ("elpd", "se", "elpd_diff", "dse", "p", "weight")
                ]
        for name, tree in with_loglik.items():
            loo = az.loo(tree, pointwise=True)
            k = np.asarray(loo.pareto_k)
            rows.loc[name, "pareto_k_bad"] = int((k > PARETO_K_BAD).sum())
            if len(with_loglik) == 1:
                rows.loc[name, ["elpd_loo", "se", "elpd_diff", "dse", "p_loo", "loo_weight"]] = [
                    loo.elpd,
                    loo.se,
                    0.0,
                    0.0,
                    loo.p,
                    1.0,
                ]
    return rows


def _gold_columns(fit: Fit, ci_prob: float, seed: int) -> dict[str, float]:
    """Accuracy, ECE and log-loss on gold the fit did not use (empty when there is none)."""
    ann = fit.annotations
    if fit.used_gold or not ann.has_gold:
        return {}
    from .evaluate import evaluate

    evaluation = evaluate(fit.soft_labels(), ann.gold, ci_prob=ci_prob, n_boot=500, seed=seed)
    metrics = evaluation.metrics.set_index("metric")
    columns = {}
    for metric, name in (("accuracy", "gold_accuracy"), ("ece", "gold_ece"), ("log_loss", "gold_log_loss")):
        if metric in metrics.index:
            row = metrics.loc[metric]
            row = row.iloc[0] if isinstance(row, pd.DataFrame) else row
            columns[name] = float(row["estimate"])
            columns[f"{name}_lo"] = float(row["lo"])
            columns[f"{name}_hi"] = float(row["hi"])
    return columns


def compare_models(
    fits: Mapping[str, Fit], *, ci_prob: float = 0.9, predictive_draws: int = 200, seed: int = 0
) -> ModelComparison:
    """Compare fits of the same labels by LOO, predictive checks and held-out gold.

    Parameters
    ----------
    fits : mapping of str to Fit
        Name → fit, at least one, all of the same labels (same items, annotators, classes).
        Point estimates (EM, MAP) have no LOO (NaN) and are compared on the rest.
    ci_prob : float, default 0.9
        Probability of the gold metrics' intervals and the predictive checks' intervals.
    predictive_draws : int, default 200
        Replicated label tables per predictive check.
    seed : int, default 0
        Seed of the replication and of the gold bootstrap.

    Returns
    -------
    ModelComparison
        The table, the recommended model and the reason (module docstring).

    Raises
    ------
    DataError
        If ``fits`` is empty, holds something other than a `Fit`, or fits of other labels.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("rte")
    >>> fits = {m: bl.fit(ann, model=m, draws=300, tune=300, use_gold=False)  # doctest: +SKIP
    ...         for m in ("dawid-skene", "ambiguity")}
    >>> print(bl.compare_models(fits))  # doctest: +SKIP
    """
    check_ci_prob(ci_prob)
    check_fits_of_same_labels(fits, "compare_models", "compare")
    from .predictive import predictive_check

    table = _loo_table(fits)
    checks = {}
    extra: dict[str, dict[str, Any]] = {}
    for name, fit in fits.items():
        check = predictive_check(fit, draws=predictive_draws, seed=seed, ci_prob=ci_prob)
        checks[name] = check
        misfit = check.table.loc[check.table["misfit"], "statistic"].tolist()
        convergence = fit.check(SCREEN_THRESHOLDS, predictive=False)
        extra[name] = {
            "family": fit.spec.model,
            "method": fit.method,
            "draws": fit.sampling.draws if fit.sampling is not None else None,
            "converged": bool(convergence.ok),
            "max_rhat": convergence.max_rhat,
            "convergence": convergence.verdict,
            "misfits": len(misfit),
            "misfit_statistics": ", ".join(misfit),
            **_gold_columns(fit, ci_prob, seed),
        }
    table = table.join(pd.DataFrame.from_dict(extra, orient="index"))
    table = table.sort_values("elpd_loo", ascending=False, na_position="last").reset_index()
    recommended, reason = _recommend_converged(fits, table)
    return ModelComparison(table=table, recommended=recommended, reason=reason, checks=checks)


def _recommend(table: pd.DataFrame) -> tuple[str, str]:
    """The rule of the module docstring, on models already screened for convergence."""
    has_loo = table["elpd_loo"].notna()
    if has_loo.any():
        # ArviZ 1.x reports elpd_diff as signed (≤ 0 for the models behind the best)
        near = table[has_loo & (table["elpd_diff"].abs().fillna(0) <= 2 * table["dse"].fillna(0) + 1e-12)]
        best_elpd = table.loc[has_loo, "elpd_loo"].max()
        chosen = near.sort_values(["misfits", "elpd_loo"], ascending=[True, False]).iloc[0]
        others = len(near) - 1
        reason = (
            f"elpd_loo {chosen['elpd_loo']:.1f} (best {best_elpd:.1f}; "
            f"{others} other model(s) within 2 SE) and {int(chosen['misfits'])} predictive misfit(s)"
        )
        if chosen["pareto_k_bad"] > 0:
            reason += f"; {int(chosen['pareto_k_bad'])} items with Pareto k > {PARETO_K_BAD}"
        return str(chosen["model"]), reason
    chosen = table.sort_values("misfits").iloc[0]
    return str(
        chosen["model"]
    ), f"no LOO (point estimates); fewest predictive misfits ({int(chosen['misfits'])})"


def _recommend_converged(fits: Mapping[str, Fit], table: pd.DataFrame) -> tuple[str, str]:
    """`_recommend` among the converged fits, their LOO compared among themselves (the
    differences and their SEs in ``table`` are to the best of all fits); among all of them,
    said in the reason, where none converged."""
    by_model = table.set_index("model")
    kept = [name for name in fits if by_model.loc[name, "converged"]]
    if len(kept) == len(fits):
        return _recommend(table)
    if not kept:
        chosen, reason = _recommend(table)
        return chosen, reason + "; no candidate converged (see each fit's check()): chosen among all"
    pool = _loo_table({name: fits[name] for name in kept}).join(by_model["misfits"])
    chosen, reason = _recommend(pool.reset_index())
    rhat = by_model["max_rhat"]
    left = ", ".join(f"{name} (R-hat {rhat[name]:.3f})" for name in fits if name not in kept)
    return chosen, f"{reason}; set aside as not converged: {left}"
