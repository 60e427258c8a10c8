"""Convergence, label switching and identifiability checks (ArviZ 1.x, `arviz_stats`).

`check_convergence` returns a frozen `ConvergenceReport`: max R-hat (rank-normalised,
≤ 1.01), min bulk and tail ESS (≥ 400), divergences (0), BFMI per chain (≥ 0.3), and —
given per-chain item posteriors — per chain the class permutation that aligns it to a
reference (gold where there is gold, else EM), found by the Hungarian method on the
overlap ``Σ_i P_chain(z_i = a) · P_ref(z_i = b)``. A chain whose permutation is not the
identity has switched labels; one whose permutation changes between windows of its own
draws switched within the chain (reported, never "fixed"). Thresholds are explicit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment

from ._convergence_stats import rank_diagnostics


@dataclass(frozen=True)
class Thresholds:
    """The limits `Fit.check` applies.

    The first four decide whether a fit passes; the last four only trigger identifiability
    warnings (they do not fail the check).

    Parameters
    ----------
    max_rhat : float, default 1.01
        Highest R-hat allowed.
    min_ess : float, default 400.0
        Lowest bulk and tail ESS allowed.
    min_bfmi : float, default 0.3
        Lowest BFMI allowed, per chain.
    max_divergences : int, default 0
        Most divergent transitions allowed.
    min_labels_per_annotator : int, default 10
        Annotators with fewer labels are reported: their confusion matrices are mostly prior.
    min_prevalence : float, default 0.01
        Classes rarer than this are reported as near-degenerate.
    max_em_disagreement : float, default 0.05
        Largest share of items on which the posterior and EM may disagree on the most
        probable class before a warning.
    min_overlap_per_annotator : int, default 15
        An EM point estimate warns when the median annotator has fewer labels than this on
        items that someone else labelled too: its confusion matrices are then barely
        identified and EM can fall below majority vote (`low_redundancy_warning`).

    Examples
    --------
    >>> import bayeslabels as bl
    >>> fit = bl.fit(bl.datasets.load("rte"), method="em")
    >>> print(fit.check(bl.Thresholds(min_labels_per_annotator=50)))  # doctest: +ELLIPSIS
    convergence: point estimate (no sampling to check)
      warning: 141 of 164 annotators have fewer than 50 labels (median 20): ...
    """

    max_rhat: float = 1.01
    min_ess: float = 400.0
    min_bfmi: float = 0.3
    max_divergences: int = 0
    min_labels_per_annotator: int = 10
    min_prevalence: float = 0.01
    max_em_disagreement: float = 0.05
    min_overlap_per_annotator: int = 15


@dataclass(frozen=True)
class ChainAlignment:
    """How one chain's classes map onto the reference's.

    ``permutation[a]`` is the reference class that the chain's class ``a`` means;
    ``agreement`` the share of reference items whose most probable class agrees after
    aligning; ``window_permutations`` the permutation found in each window of the chain.
    """

    chain: int
    permutation: tuple[int, ...]
    switched: bool
    within_chain_switch: bool
    agreement: float
    window_permutations: tuple[tuple[int, ...], ...] = ()


def best_permutation(probs: np.ndarray, reference: np.ndarray) -> tuple[int, ...]:
    """Permutation maximising the overlap of ``probs`` (items × K) with ``reference``."""
    overlap = probs.T @ reference  # chain class a × reference class b
    rows, cols = linear_sum_assignment(-overlap)
    permutation = np.empty(len(rows), dtype=int)
    permutation[rows] = cols
    return tuple(int(p) for p in permutation)


def align_chains(
    chain_means: np.ndarray, window_means: np.ndarray, reference: np.ndarray
) -> tuple[ChainAlignment, ...]:
    """Align chains to the reference.

    chain_means: chains × items × K mean class posteriors; window_means: chains × windows ×
    items × K; reference: items × K (one-hot for gold items, EM posteriors otherwise; rows of
    zeros for items without a reference).
    """
    identity = tuple(range(reference.shape[1]))
    has_reference = reference.sum(axis=1) > 0
    alignments = []
    for chain, means in enumerate(chain_means):
        permutation = best_permutation(means, reference)
        windows = tuple(best_permutation(w, reference) for w in window_means[chain])
        aligned = np.asarray(permutation)[means.argmax(axis=1)]
        agreement = (
            float((aligned == reference.argmax(axis=1))[has_reference].mean()) if has_reference.any() else 1.0
        )
        alignments.append(
            ChainAlignment(
                chain=chain,
                permutation=permutation,
                switched=permutation != identity,
                within_chain_switch=len(set(windows)) > 1,
                agreement=agreement,
                window_permutations=windows,
            )
        )
    return tuple(alignments)


def subtype_switches(
    chain_means: np.ndarray,
    reference: np.ndarray,
    subtype: np.ndarray,
    subtype_names: list[str],
    alignments: tuple[ChainAlignment, ...],
    min_items: int = 10,
    margin: float = 0.2,
) -> tuple[str, ...]:
    """Chains whose classes mean something else on one subtype's items than on the rest.

    A model with a confusion matrix per (annotator, subtype) can flip one subtype's classes
    while the chain as a whole still aligns: the chain-level permutation then holds for most
    items but not for that subtype's. Per chain and subtype (≥ ``min_items`` items with a
    reference), the best permutation of that subtype's items is compared with the chain's; a
    different one that agrees with the reference on at least ``margin`` more of the subtype's
    items is reported (``relabel()`` cannot undo it: the subtype's parameters are shared)."""
    has_reference = reference.sum(axis=1) > 0
    truth = reference.argmax(axis=1)
    found = []
    for alignment in alignments:
        means = chain_means[alignment.chain]
        for code, name in enumerate(subtype_names):
            items = (subtype == code) & has_reference
            if items.sum() < min_items:
                continue
            own = best_permutation(means[items], reference[items])
            if own == alignment.permutation:
                continue
            labels = means[items].argmax(axis=1)
            gain = (np.asarray(own)[labels] == truth[items]).mean() - (
                np.asarray(alignment.permutation)[labels] == truth[items]
            ).mean()
            if gain >= margin:
                found.append(
                    f"chain {alignment.chain}: subtype {name!r} has its classes permuted {own} against the "
                    f"chain's {alignment.permutation} (agreement with the reference +{gain:.2f} that way)"
                )
    return tuple(found)


@dataclass(frozen=True)
class Culprit:
    """One scalar of the posterior, named by variable and coordinates, with its diagnostics.

    ``label`` reads like ArviZ's summary index: ``confusion[a7, 1, 2]`` with the dimension
    names in ``coords``."""

    variable: str
    coords: dict[str, str]
    rhat: float
    ess_bulk: float
    ess_tail: float

    @property
    def label(self) -> str:
        if not self.coords:
            return self.variable
        return f"{self.variable}[{', '.join(f'{k}={v}' for k, v in self.coords.items())}]"

    def __str__(self) -> str:
        return (
            f"{self.label}: R-hat {self.rhat:.4f}, bulk ESS {self.ess_bulk:.0f}, tail ESS {self.ess_tail:.0f}"
        )


def worst_scalars(
    rhat: xr.Dataset, ess_bulk: xr.Dataset, ess_tail: xr.Dataset, n: int = 5
) -> tuple[Culprit, ...]:
    """The ``n`` scalars with the highest R-hat and the ``n`` with the lowest bulk or tail ESS
    (together, without repeats, worst R-hat first), each named by its coordinates."""
    names = [name for name in rhat.data_vars if rhat[name].size]
    if not names:
        return ()
    flat = {
        d: np.concatenate([np.asarray(ds[name].values, float).ravel() for name in names])
        for d, ds in (("r", rhat), ("b", ess_bulk), ("t", ess_tail))
    }
    owner = np.repeat(np.arange(len(names)), [rhat[name].size for name in names])
    offset = np.concatenate([[0], np.cumsum([rhat[name].size for name in names])])
    ess = np.fmin(flat["b"], flat["t"])
    high = np.argsort(-np.nan_to_num(flat["r"], nan=-np.inf), kind="stable")[:n]
    low = np.argsort(np.nan_to_num(ess, nan=np.inf), kind="stable")[:n]
    chosen = sorted(
        dict.fromkeys([*high.tolist(), *low.tolist()]),
        key=lambda i: (-np.nan_to_num(flat["r"][i], nan=-np.inf), ess[i]),
    )
    culprits = []
    for i in chosen:
        name = names[owner[i]]
        array = rhat[name]
        index = np.unravel_index(i - offset[owner[i]], array.shape)
        coords = {
            dim: str(array[dim].values[j]) if dim in array.coords else str(j)
            for dim, j in zip(array.dims, index, strict=True)
        }
        culprits.append(Culprit(name, coords, float(flat["r"][i]), float(flat["b"][i]), float(flat["t"][i])))
    return tuple(culprits)


@dataclass(frozen=True, kw_only=True)
class ConvergenceReport:
    """The verdict on a fit, from `Fit.check`.

    ``ok`` is True when every check passes: R-hat, ESS, divergences, BFMI, and no chain that
    switched labels (between or within chains). A point estimate (EM: one draw) has no
    sampling to check: ``point_estimate`` is True, ``ok`` is True and the statistics are NaN.
    ``print(report)`` shows a table of the checks against their `Thresholds`.

    Attributes
    ----------
    ok : bool
        Whether every check passed.
    point_estimate : bool
        A one-draw posterior (EM, MAP): nothing to check.
    max_rhat, min_ess_bulk, min_ess_tail : float
        The worst R-hat and ESS over the checked variables.
    divergences : int
        Divergent transitions.
    bfmi : tuple of float
        BFMI per chain.
    n_chains, n_draws : int
        Chains and draws per chain.
    reasons : tuple of str
        Why the check failed, one per failed check.
    chains : tuple of ChainAlignment
        One per chain: how its classes map onto the reference's.
    warnings : tuple of str
        The identifiability warnings (they do not fail the check).
    thresholds : Thresholds
        The limits applied.
    variational : bool
        An ADVI fit (draws from the approximation).
    worst : tuple of Culprit
        The scalars with the highest R-hat and lowest ESS.
    draws_used : tuple of int
        Draws per chain of each round, when NUTS drew more to pass (``max_draws``).
    thin : int
        Every ``thin``-th draw was kept (1: all): a large posterior's memory bound
        (`bayeslabels.inference.posterior_thinning`); ``n_draws`` counts the kept draws.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> report = bl.fit(bl.datasets.load("rte"), method="em").check()
    >>> report.ok, report.point_estimate
    (True, True)
    >>> report  # doctest: +ELLIPSIS
    convergence: point estimate (no sampling to check)
      warning: predictive check (200 replicated label tables): ... try model='ambiguity' ...
    """

    ok: bool
    point_estimate: bool
    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    bfmi: tuple[float, ...]
    n_chains: int
    n_draws: int
    reasons: tuple[str, ...] = ()
    chains: tuple[ChainAlignment, ...] = ()
    warnings: tuple[str, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)
    variational: bool = False
    worst: tuple[Culprit, ...] = ()
    draws_used: tuple[int, ...] = ()
    thin: int = 1

    @property
    def needs_more_draws(self) -> bool:
        """Failed on R-hat or ESS only: more draws from the same chains can fix it (label
        switching, divergences and low BFMI need another remedy)."""
        convergence = ("max R-hat", "min bulk ESS", "min tail ESS")
        return bool(self.reasons) and all(r.startswith(convergence) for r in self.reasons)

    @property
    def verdict(self) -> str:
        if self.point_estimate:
            return "point estimate (no sampling to check)"
        if self.variational:
            return (
                "variational approximation, converged"
                if self.ok
                else "NOT converged: " + "; ".join(self.reasons)
            )
        return "converged" if self.ok else "NOT converged: " + "; ".join(self.reasons)

    def to_dict(self) -> dict:
        """The report as a dict (dataclass fields, nested), plus the `verdict`.

        Returns
        -------
        dict
            Every field (``chains``, ``thresholds`` and ``worst`` as dicts) and ``verdict``.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> report = bl.fit(bl.datasets.load("rte"), method="em").check().to_dict()
        >>> report["ok"], report["verdict"]
        (True, 'point estimate (no sampling to check)')
        """
        data = asdict(self)
        data["verdict"] = self.verdict
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ConvergenceReport:
        """The report that `to_dict` gave, also after a JSON round trip (lists for tuples,
        None for NaN): what a saved fit's ``diagnostics.json`` holds.

        Parameters
        ----------
        data : dict
            A report's `to_dict` (its ``verdict`` is recomputed, not read).

        Returns
        -------
        ConvergenceReport

        Examples
        --------
        >>> import bayeslabels as bl
        >>> report = bl.fit(bl.datasets.load("rte"), method="em").check()
        >>> again = bl.ConvergenceReport.from_dict(report.to_dict())
        >>> (again.ok, again.verdict, again.warnings) == (report.ok, report.verdict, report.warnings)
        True
        """

        def number(value: float | None) -> float:
            return float("nan") if value is None else float(value)

        defaults = Thresholds()
        threshold_types: dict[str, type] = {f.name: type(getattr(defaults, f.name)) for f in fields(defaults)}
        return cls(
            ok=bool(data["ok"]),
            point_estimate=bool(data["point_estimate"]),
            max_rhat=number(data["max_rhat"]),
            min_ess_bulk=number(data["min_ess_bulk"]),
            min_ess_tail=number(data["min_ess_tail"]),
            divergences=int(data["divergences"]),
            bfmi=tuple(number(b) for b in data["bfmi"]),
            n_chains=int(data["n_chains"]),
            n_draws=int(data["n_draws"]),
            reasons=tuple(str(r) for r in data["reasons"]),
            chains=tuple(
                ChainAlignment(
                    chain=int(c["chain"]),
                    permutation=tuple(int(i) for i in c["permutation"]),
                    switched=bool(c["switched"]),
                    within_chain_switch=bool(c["within_chain_switch"]),
                    agreement=number(c["agreement"]),
                    window_permutations=tuple(tuple(int(i) for i in w) for w in c["window_permutations"]),
                )
                for c in data["chains"]
            ),
            warnings=tuple(str(w) for w in data["warnings"]),
            thresholds=Thresholds(
                **{
                    name: threshold_types[name](number(value) if value is None else value)
                    for name, value in data["thresholds"].items()
                }
            ),
            variational=bool(data["variational"]),
            worst=tuple(
                Culprit(
                    variable=str(w["variable"]),
                    coords={str(k): str(v) for k, v in w["coords"].items()},
                    rhat=number(w["rhat"]),
                    ess_bulk=number(w["ess_bulk"]),
                    ess_tail=number(w["ess_tail"]),
                )
                for w in data["worst"]
            ),
            draws_used=tuple(int(d) for d in data["draws_used"]),
            thin=int(data.get("thin", 1)),
        )

    def __str__(self) -> str:
        t = self.thresholds
        simple = self.point_estimate or self.variational
        lines = [f"convergence: {self.verdict}"] if simple else self._table(t)
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _table(self, t: Thresholds) -> list[str]:
        min_bfmi = min(self.bfmi) if self.bfmi else float("nan")
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
            ("min BFMI", f"{min_bfmi:.3f}", f"≥ {t.min_bfmi}", not self.bfmi or min_bfmi >= t.min_bfmi),
        ]
        lines = [f"convergence ({self.n_chains} chains × {self.n_draws} draws): {self.verdict}"]
        lines += [
            f"  {name:<13} {value:>9}  {limit:<8} {'ok' if good else 'FAIL'}"
            for name, value, limit, good in rows
        ]
        for c in self.chains:
            state = (
                "switched WITHIN the chain " + " → ".join(map(str, dict.fromkeys(c.window_permutations)))
                if c.within_chain_switch
                else (f"label-switched: permutation {c.permutation}" if c.switched else "aligned")
            )
            lines.append(f"  chain {c.chain}: {state} (agreement with reference {c.agreement:.3f})")
        if self.worst:
            lines.append("  worst scalars (highest R-hat, lowest ESS):")
            lines += [f"    {culprit}" for culprit in self.worst]
        if len(self.draws_used) > 1:
            lines.append(
                "  drew more until the check passed or max_draws was reached: draws per chain "
                + " → ".join(map(str, self.draws_used))
            )
        if self.thin > 1:
            lines.append(
                f"  thinned: 1 draw in {self.thin} kept ({self.n_draws} per chain), to bound the posterior's "
                "memory (bayeslabels.inference.POSTERIOR_READ_BYTES)"
            )
        return lines

    __repr__ = __str__


def check_convergence(
    tree: xr.DataTree,
    var_names: list[str],
    thresholds: Thresholds | None = None,
    alignments: tuple[ChainAlignment, ...] = (),
    warnings: tuple[str, ...] = (),
    subtype_switched: tuple[str, ...] = (),
    draws_used: tuple[int, ...] = (),
    thin: int = 1,
) -> ConvergenceReport:
    """R-hat, ESS, divergences and BFMI of ``var_names`` in ``tree``'s posterior, plus the
    chain alignments, subtype-level switches (`subtype_switches`) and identifiability warnings
    computed by the caller."""
    thresholds = thresholds or Thresholds()
    posterior = tree.children["posterior"]  # the group as a DataTree (tree[...] may be a variable)
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    nan = float("nan")
    if posterior.attrs.get("point_estimate") or chains * draws == 1:
        return ConvergenceReport(
            ok=True,
            point_estimate=True,
            max_rhat=nan,
            min_ess_bulk=nan,
            min_ess_tail=nan,
            divergences=0,
            bfmi=(),
            n_chains=chains,
            n_draws=draws,
            reasons=(),
            chains=(),
            warnings=warnings,
            thresholds=thresholds,
        )
    if posterior.attrs.get("variational"):
        return _variational_report(posterior, alignments, warnings, thresholds)
    var_names = [v for v in var_names if v in posterior.data_vars]
    rhat_all, bulk_all, tail_all = rank_diagnostics_of(posterior.to_dataset(), var_names)
    rhat, ess_bulk, ess_tail = _max_over(rhat_all), _min_over(bulk_all), _min_over(tail_all)
    worst = worst_scalars(rhat_all, bulk_all, tail_all)
    divergences = 0
    bfmi: tuple[float, ...] = ()
    if "sample_stats" in tree.children:
        stats = tree["sample_stats"]
        if "diverging" in stats.data_vars:
            divergences = int(stats["diverging"].sum().item())
        if "energy" in stats.data_vars and draws > 1:
            import arviz_stats as azs  # 2 s to import (numba, JAX): only where a sampled fit is checked

            bfmi = tuple(float(b) for b in np.atleast_1d(azs.bfmi(tree)["energy"].values))
    reasons = []
    if chains < 2:
        reasons.append("one chain: R-hat needs at least 2")
    if not rhat <= thresholds.max_rhat:
        at = next((c.label for c in worst if c.rhat == rhat), "")
        reasons.append(f"max R-hat {rhat:.3f} > {thresholds.max_rhat}" + (f" at {at}" if at else ""))
    if not ess_bulk >= thresholds.min_ess:
        at = next((c.label for c in worst if c.ess_bulk == ess_bulk), "")
        reasons.append(
            f"min bulk ESS {ess_bulk:.0f} < {thresholds.min_ess:.0f}" + (f" at {at}" if at else "")
        )
    if not ess_tail >= thresholds.min_ess:
        at = next((c.label for c in worst if c.ess_tail == ess_tail), "")
        reasons.append(
            f"min tail ESS {ess_tail:.0f} < {thresholds.min_ess:.0f}" + (f" at {at}" if at else "")
        )
    if divergences > thresholds.max_divergences:
        reasons.append(f"{divergences} divergent transitions")
    if bfmi and min(bfmi) < thresholds.min_bfmi:
        reasons.append(f"BFMI {min(bfmi):.2f} < {thresholds.min_bfmi}")
    switched = [a.chain for a in alignments if a.switched and not a.within_chain_switch]
    if switched:
        reasons.append(f"label switching in chain(s) {switched}: call fit.relabel()")
    within = [a.chain for a in alignments if a.within_chain_switch]
    if within:
        reasons.append(f"labels switch within chain(s) {within}: not fixable by relabelling; resample")
    for switch in subtype_switched:
        reasons.append(
            f"{switch}: a subtype-level label switch, not fixable by relabelling; resample with more "
            "tuning or target_accept 0.9, add gold on that subtype, or tighten subtype_scale"
        )
    return ConvergenceReport(
        ok=not reasons,
        point_estimate=False,
        max_rhat=rhat,
        min_ess_bulk=ess_bulk,
        min_ess_tail=ess_tail,
        divergences=divergences,
        bfmi=bfmi,
        n_chains=chains,
        n_draws=draws,
        reasons=tuple(reasons),
        chains=alignments,
        warnings=warnings,
        thresholds=thresholds,
        worst=worst,
        draws_used=tuple(draws_used),
        thin=int(thin),
    )


def rank_diagnostics_of(
    posterior: xr.Dataset, var_names: list[str]
) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """Rank-normalised split R-hat, bulk ESS and tail ESS of every scalar of ``var_names``, as
    ``arviz_stats.rhat`` / ``ess(method="bulk" | "tail")`` give them (same algorithms, same
    numbers to rounding), each variable's scalars in one vectorised pass
    (`bayeslabels._convergence_stats`; no copy of the whole posterior):
    a long fit of a large crowd has tens of thousands of scalars, which ArviZ diagnoses one at a
    time."""
    out: tuple[dict, dict, dict] = ({}, {}, {})
    for name in var_names:
        array = posterior[name].transpose("chain", "draw", ...)
        if not array.size:
            continue
        chains, draws, *shape = array.shape
        coords = {d: array[d].values for d in array.dims[2:] if d in array.coords}
        values = np.asarray(array.values, dtype=float).reshape(chains, draws, -1)
        for result, diagnostic in zip(out, rank_diagnostics(values), strict=True):
            result[name] = xr.DataArray(diagnostic.reshape(shape), dims=array.dims[2:], coords=coords)
    return xr.Dataset(out[0]), xr.Dataset(out[1]), xr.Dataset(out[2])


def _variational_report(
    posterior: xr.DataTree,
    alignments: tuple[ChainAlignment, ...],
    warnings: tuple[str, ...],
    thresholds: Thresholds,
) -> ConvergenceReport:
    """ADVI has no chains to compare: the check is that the optimisation settled before its
    iteration cap, and that the approximation did not land in a permuted mode."""
    nan = float("nan")
    reasons = []
    if not posterior.attrs.get("converged"):
        reasons.append(
            f"ADVI stopped at its iteration cap ({int(posterior.attrs.get('iterations', 0))}) before the "
            "parameters settled: raise inference.advi_iterations"
        )
    reasons += [f"label switching against the reference: {a.permutation}" for a in alignments if a.switched]
    return ConvergenceReport(
        ok=not reasons,
        point_estimate=False,
        max_rhat=nan,
        min_ess_bulk=nan,
        min_ess_tail=nan,
        divergences=0,
        bfmi=(),
        n_chains=posterior.sizes["chain"],
        n_draws=posterior.sizes["draw"],
        reasons=tuple(reasons),
        chains=alignments,
        warnings=warnings,
        thresholds=thresholds,
        variational=True,
    )


def _values(result: xr.Dataset | xr.DataTree) -> np.ndarray:
    dataset = result.to_dataset() if isinstance(result, xr.DataTree) else result
    arrays = [np.asarray(v.values, dtype=float).ravel() for v in dataset.data_vars.values()]
    values = np.concatenate(arrays) if arrays else np.array([np.nan])
    return values[np.isfinite(values)] if np.isfinite(values).any() else np.array([np.nan])


def _max_over(result: xr.Dataset | xr.DataTree) -> float:
    return float(np.max(_values(result)))


def _min_over(result: xr.Dataset | xr.DataTree) -> float:
    return float(np.min(_values(result)))


def identifiability_warnings(
    *,
    labels_per_annotator: np.ndarray,
    labels_per_item: np.ndarray,
    classes: list[str],
    prevalence: np.ndarray,
    anchored_by_gold: bool,
    symmetric_prior: bool,
    em_disagreement: int,
    thresholds: Thresholds,
    has_confusion: bool = True,
    pooled: bool = False,
) -> tuple[str, ...]:
    """Warnings about what the data cannot pin down, each with its numbers and a fallback.
    ``has_confusion`` False (a family without annotator confusion matrices, e.g.
    Beta–Bernoulli): nothing is said about annotators' confusion matrices or a confusion prior;
    ``em_disagreement`` is then passed as 0 by a fit whose soft label is not a class posterior.
    ``pooled``: the model already shrinks annotators toward a population."""
    warnings = []
    sparse = labels_per_annotator < thresholds.min_labels_per_annotator
    if sparse.any() and has_confusion:
        warnings.append(
            f"{int(sparse.sum())} of {len(sparse)} annotators have fewer than "
            f"{thresholds.min_labels_per_annotator} labels "
            f"(median {np.median(labels_per_annotator[sparse]):.0f}): their confusion matrices are mostly "
            + (
                "prior, shrunk toward the population; collect more labels for them"
                if pooled
                else "prior; pool them (model='hierarchical') or collect more labels"
            )
        )
    single = int((labels_per_item == 1).sum())
    if single:
        warnings.append(
            f"{single} items have one label: their soft labels are "
            + ("the annotator's prior-weighted vote" if has_confusion else "mostly the prior")
            + "; get them a second label (bayeslabels route)"
        )
    rare = [(c, p) for c, p in zip(classes, prevalence, strict=True) if p < thresholds.min_prevalence]
    for name, share in rare:
        warnings.append(
            f"class {name!r} has prevalence {share:.4f}: near-degenerate; merge it with a neighbour or "
            "give it gold examples"
        )
    if not anchored_by_gold and symmetric_prior and has_confusion:
        warnings.append(
            "no gold anchor and a symmetric confusion prior: only the EM start tells the classes apart; "
            "add gold labels or a diagonal-favouring prior (confusion_diag_per_class > 0)"
        )
    share = em_disagreement / max(1, len(labels_per_item))
    if share > thresholds.max_em_disagreement:
        warnings.append(
            f"posterior and EM disagree on the most probable class of {em_disagreement} items ({share:.1%}):"
            " the posterior may be multimodal or EM stopped at a poor mode"
        )
    return tuple(warnings)


def overlap_per_annotator(item_idx: np.ndarray, annotator_idx: np.ndarray, n_annotators: int) -> np.ndarray:
    """Per annotator, its labels on items that have at least two labels: the only labels that
    tell an annotator's confusion apart from the class prevalence (a lone label agrees with
    whatever class EM gives its item)."""
    per_item = np.bincount(item_idx)
    shared = per_item[item_idx] >= 2
    return np.bincount(annotator_idx[shared], minlength=n_annotators)


def low_redundancy_warning(
    item_idx: np.ndarray, annotator_idx: np.ndarray, n_annotators: int, thresholds: Thresholds
) -> tuple[str, ...]:
    """The warning for an EM point estimate on data too thin to identify the annotators.

    With few labels per item and per annotator, EM's light smoothing
    (`DawidSkenePriors.em_smoothing`) lets each annotator's confusion fit its own labels, and EM
    falls below majority vote. Measured (benchmarks/low_redundancy.py: `simulate.dawid_skene`,
    8 seeds, K = 2, 200 items × 50 annotators): at 1–2 labels per item (median 4 shared labels
    per annotator) accuracy EM 0.746, one-coin EM 0.684, majority vote 0.797, EM with the
    Bayesian prior (`DawidSkenePriors()`, the prior ``method="map"`` maximises) 0.811; at 3
    labels per item (12 shared) 0.854, 0.802, 0.866 and 0.873. With one label per item
    (nothing shared) majority vote is best (0.790; the Bayesian prior 0.768). The bundled
    real sets have 16–108 shared labels per median annotator, where EM is at or near its best."""
    shared = overlap_per_annotator(item_idx, annotator_idx, n_annotators)
    median = float(np.median(shared)) if len(shared) else 0.0
    if median >= thresholds.min_overlap_per_annotator:
        return ()
    per_item = np.bincount(item_idx)
    remedy = (
        "Use majority vote (nothing here tells the annotators apart), or get items a second label"
        if median == 0
        else "Fit with the Bayesian prior (method='map' or 'nuts'; or EM with priors=DawidSkenePriors()), "
        "or use majority vote; one-coin EM alone does not help"
    )
    return (
        f"low redundancy for EM: the median annotator has {median:.0f} labels on items someone else "
        f"also labelled (< {thresholds.min_overlap_per_annotator}; {float(np.median(per_item)):.0f} "
        "labels per item): its confusion matrices are barely identified and EM can fall below "
        f"majority vote. {remedy}",
    )
