"""Convergence checks on a posterior (ArviZ 1.x, `arviz_stats`).

`check_convergence` returns a frozen `ConvergenceReport`: max R-hat (rank-normalised,
≤ 1.01), min bulk and tail ESS (≥ 400), divergences (0), and BFMI per chain (≥ 0.3),
with the reasons a check failed. Thresholds are explicit and configurable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import arviz_stats as azs
import numpy as np
import xarray as xr


@dataclass(frozen=True)
class Thresholds:
    max_rhat: float = 1.01
    min_ess: float = 400.0
    min_bfmi: float = 0.3
    max_divergences: int = 0


@dataclass(frozen=True)
class ConvergenceReport:
    """The verdict on a posterior. ``ok`` is True when every check passes.

    A point estimate (EM / MAP: one draw) has nothing to check: ``point_estimate`` is True,
    ``ok`` is True and the sampling statistics are NaN.
    """

    ok: bool
    point_estimate: bool
    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    bfmi: tuple[float, ...]
    chains: int
    draws: int
    reasons: tuple[str, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def verdict(self) -> str:
        if self.point_estimate:
            return "point estimate (no sampling to check)"
        return "converged" if self.ok else "NOT converged: " + "; ".join(self.reasons)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["verdict"] = self.verdict
        return data

    def __str__(self) -> str:
        t = self.thresholds
        if self.point_estimate:
            return f"convergence: {self.verdict}"
        rows = [
            ("max R-hat", f"{self.max_rhat:.4f}", f"≤ {t.max_rhat}", self.max_rhat <= t.max_rhat),
            (
                "min bulk ESS",
                f"{self.min_ess_bulk:.0f}",
                f"≥ {t.min_ess:.0f}",
                self.min_ess_bulk >= t.min_ess,
            ),
            (
                "min tail ESS",
                f"{self.min_ess_tail:.0f}",
                f"≥ {t.min_ess:.0f}",
                self.min_ess_tail >= t.min_ess,
            ),
            (
                "divergences",
                f"{self.divergences}",
                f"≤ {t.max_divergences}",
                self.divergences <= t.max_divergences,
            ),
            (
                "min BFMI",
                f"{min(self.bfmi):.3f}" if self.bfmi else "n/a",
                f"≥ {t.min_bfmi}",
                not self.bfmi or min(self.bfmi) >= t.min_bfmi,
            ),
        ]
        lines = [f"convergence ({self.chains} chains × {self.draws} draws): {self.verdict}"]
        lines += [
            f"  {name:<13} {value:>9}  {limit:<8} {'ok' if good else 'FAIL'}"
            for name, value, limit, good in rows
        ]
        return "\n".join(lines)

    __repr__ = __str__


def check_convergence(
    tree: xr.DataTree, var_names: list[str], thresholds: Thresholds | None = None
) -> ConvergenceReport:
    """R-hat, ESS, divergences and BFMI of ``var_names`` in ``tree``'s posterior."""
    thresholds = thresholds or Thresholds()
    posterior = tree["posterior"]
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    if posterior.attrs.get("point_estimate") or chains * draws == 1:
        nan = float("nan")
        return ConvergenceReport(True, True, nan, nan, nan, 0, (), chains, draws, (), thresholds)
    var_names = [v for v in var_names if v in posterior.data_vars]
    rhat = _max_over(azs.rhat(tree, var_names=var_names))
    ess_bulk = _min_over(azs.ess(tree, var_names=var_names, method="bulk"))
    ess_tail = _min_over(azs.ess(tree, var_names=var_names, method="tail"))
    divergences, bfmi = 0, ()
    if "sample_stats" in tree.children:
        stats = tree["sample_stats"]
        if "diverging" in stats.data_vars:
            divergences = int(stats["diverging"].sum().item())
        if "energy" in stats.data_vars and draws > 1:
            bfmi = tuple(float(b) for b in np.atleast_1d(azs.bfmi(tree)["energy"].values))
    reasons = []
    if chains < 2:
        reasons.append("one chain: R-hat needs at least 2")
    if not rhat <= thresholds.max_rhat:
        reasons.append(f"max R-hat {rhat:.3f} > {thresholds.max_rhat}")
    if not min(ess_bulk, ess_tail) >= thresholds.min_ess:
        reasons.append(f"min ESS {min(ess_bulk, ess_tail):.0f} < {thresholds.min_ess:.0f}")
    if divergences > thresholds.max_divergences:
        reasons.append(f"{divergences} divergent transitions")
    if bfmi and min(bfmi) < thresholds.min_bfmi:
        reasons.append(f"BFMI {min(bfmi):.2f} < {thresholds.min_bfmi}")
    return ConvergenceReport(
        ok=not reasons,
        point_estimate=False,
        max_rhat=rhat,
        min_ess_bulk=ess_bulk,
        min_ess_tail=ess_tail,
        divergences=divergences,
        bfmi=bfmi,
        chains=chains,
        draws=draws,
        reasons=tuple(reasons),
        thresholds=thresholds,
    )


def _values(result) -> np.ndarray:
    dataset = result.to_dataset() if isinstance(result, xr.DataTree) else result
    arrays = [np.asarray(v.values, dtype=float).ravel() for v in dataset.data_vars.values()]
    values = np.concatenate(arrays) if arrays else np.array([np.nan])
    return values[np.isfinite(values)] if np.isfinite(values).any() else np.array([np.nan])


def _max_over(result) -> float:
    return float(np.max(_values(result)))


def _min_over(result) -> float:
    return float(np.min(_values(result)))
