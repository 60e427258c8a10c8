r"""Soft labels averaged over model families: a mixture of their posteriors over the classes.

Families disagree about an item's class exactly where its labels are split, and the crowd's
labels alone cannot tell which family is right there: PSIS-LOO scores how well a family predicts
the *labels* (`bayeslabels.compare_models`), and a family with item effects predicts split labels
best by making them weak evidence for any class. Where no gold decides, the families can be
kept as equally plausible explanations of the classes and their posteriors mixed:

.. math::  p(z_i = c \mid y) = \sum_m w_m\, p(z_i = c \mid y, m), \qquad \sum_m w_m = 1,

with equal weights by default (or, e.g., stacking weights from ``compare_models``' ``loo_weight``
column). The mixture's draws are each family's draws of :math:`p(z_i \mid y, m, \theta)` pooled
in proportion to the weights, so its intervals carry both the within-family uncertainty and the
disagreement between families. A self-calibrated fit (`bayeslabels.self_calibrate`) enters with
its tempered draws.

Measured at shipped settings, every candidate of ``model="auto"`` self-calibrated and averaged
with equal weights, gold held out (benchmarks/results/gold_free_rules_{1,2}.md): the average keeps
Dawid–Skene's accuracy where LOO's pick (item-difficulty) loses it (duchenne 0.786 against
0.736; dog 0.833 against 0.820) with lower ECE and log-loss there, beats the pick's log-loss on
music_genre (0.874 against 1.172, EM 1.145), and gives up accuracy where item-difficulty was right
(bluebirds 0.898 against 0.917).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ._quantiles import draw_quantiles
from .data import Annotations
from .errors import DataError
from .fit import Fit, _ItemPosteriors
from .selection import check_fits_of_same_labels
from .self_calibration import SelfCalibration
from .soft_labels import SoftLabels, export_kind

BLOCK_ITEMS = 4096
"""Items per block of `FamilyAverage.item_probability_draws` (float64 copies of the pooled draws)."""

AVERAGE_RECORD = "average.json"
"""The file `FamilyAverage.save` writes beside its members' directories (written last)."""

POOLED_DRAWS = 2000
"""The mixture's intervals are quantiles of this many pooled draws, each fit's share its weight
(its draws thinned, or repeated, evenly); the mixture's mean uses every draw."""


def _checked_weights(fits: Mapping[str, Fit], weights: Mapping[str, float] | None) -> dict[str, float]:
    """Weights that are finite, non-negative, named after the fits and summing to one."""
    if weights is None:
        return {name: 1.0 / len(fits) for name in fits}
    unknown = sorted(set(weights) - set(fits))
    if unknown:
        raise DataError(f"average_soft_labels: weights name fits that are not given: {unknown}")
    values = {name: float(weights.get(name, 0.0)) for name in fits}
    bad = {name: w for name, w in values.items() if not np.isfinite(w) or w < 0}
    if bad:
        raise DataError(f"average_soft_labels: weights must be finite and ≥ 0, got {bad}")
    total = sum(values.values())
    if total <= 0:
        raise DataError("average_soft_labels: the weights sum to 0; give at least one positive weight")
    return {name: w / total for name, w in values.items()}


def _members_as_fits(fits: Mapping[str, Fit | SelfCalibration]) -> Mapping[str, Fit]:
    """``fits`` with each `SelfCalibration` (``bl.self_calibrate(fit)``) as its tempered fit, the
    way ``--model auto`` averages self-calibrated members; anything else as given (checked next)."""
    if not isinstance(fits, Mapping):
        return fits
    return {name: fit.fit if isinstance(fit, SelfCalibration) else fit for name, fit in fits.items()}


def _check_same_labels(fits: Mapping[str, Fit]) -> Fit:
    """The first fit, after checking every fit is a Fit of the same labels, same use of gold."""
    check_fits_of_same_labels(fits, "average_soft_labels", "average")
    first_name, first = next(iter(fits.items()))
    for name, fit in fits.items():
        if fit.used_gold != first.used_gold:
            raise DataError(
                f"average_soft_labels: {name!r} {'used' if fit.used_gold else 'held out'} gold and "
                f"{first_name!r} did not; fit them all with the same use_gold"
            )
    return first


def _spread(n_draws: int, keep: int) -> np.ndarray:
    """``keep`` draw indices spread evenly over ``n_draws`` (repeating draws where there are
    fewer than ``keep``, so each fit's share of the pooled draws is its weight)."""
    return np.linspace(0, n_draws - 1, keep).round().astype(int)


@dataclass(frozen=True, eq=False)
class FamilyAverage:
    r"""Fits of the same labels and their weights: the mixture of their class posteriors.

    What ``--model auto`` exports (`bayeslabels.fitting.auto_average`); made by hand from any
    fits of the same labels. It exports, calibrates on gold (`bayeslabels.calibrate`) and saves
    like a `Fit`.

    Attributes
    ----------
    fits : dict of str to Fit
        Name → member fit (same items and classes, all with or all without gold).
    weights : dict of str to float
        Name → weight, normalised to sum to one (a member not named gets 0).
    model_selection : dict or None
        For ``--model auto``: the screen's comparison, the full fits and which were averaged
        (written into the export's provenance).

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("rte")
    >>> fits = {m: bl.fit(ann, method="em", model=m, use_gold=False) for m in ("dawid-skene", "one-coin")}
    >>> average = bl.FamilyAverage.of(fits)
    >>> average
    <FamilyAverage of 2 fits (dawid-skene 0.50, one-coin 0.50), 800 items, point estimates>
    >>> average.soft_labels().mean.shape
    (800, 2)
    """

    fits: dict[str, Fit]
    weights: dict[str, float]
    model_selection: dict[str, Any] | None = field(default=None)

    @classmethod
    def of(
        cls,
        fits: Mapping[str, Fit | SelfCalibration],
        weights: Mapping[str, float] | None = None,
        model_selection: dict[str, Any] | None = None,
    ) -> FamilyAverage:
        """The checked average of ``fits`` (equal weights by default; `average_soft_labels`).

        Parameters
        ----------
        fits : mapping of str to Fit or SelfCalibration
            Name → fit of the same labels; a `SelfCalibration` enters with its tempered draws.
        weights : mapping of str to float, optional
            Name → weight (normalised; a fit not named gets 0). Default: equal.
        model_selection : dict, optional
            A record of how the fits were chosen, kept for the provenance.

        Returns
        -------
        FamilyAverage

        Raises
        ------
        DataError
            As `average_soft_labels`.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.datasets.load("bluebirds")
        >>> fits = {m: bl.fit(ann, method="em", model=m) for m in ("dawid-skene", "one-coin")}
        >>> bl.FamilyAverage.of(fits, {"dawid-skene": 3, "one-coin": 1}).weights
        {'dawid-skene': 0.75, 'one-coin': 0.25}
        """
        fits = _members_as_fits(fits)
        _check_same_labels(fits)
        return cls(dict(fits), _checked_weights(fits, weights), model_selection)

    # ------------------------------------------------------------------ what the fits share
    @property
    def annotations(self) -> Annotations:
        """The labels every member was fitted to."""
        return next(iter(self.fits.values())).annotations

    @property
    def used_gold(self) -> bool:
        """Whether gold anchored the members (all alike)."""
        return next(iter(self.fits.values())).used_gold

    @property
    def _members(self) -> dict[str, Fit]:
        """The fits with a positive weight."""
        return {name: fit for name, fit in self.fits.items() if self.weights[name] > 0}

    @property
    def is_point_estimate(self) -> bool:
        """True when every weighted member is a point estimate (no draws, no intervals)."""
        return all(fit.is_point_estimate for fit in self._members.values())

    # ------------------------------------------------------------------ the mixture
    @cached_property
    def _mean(self) -> np.ndarray:
        r""":math:`\sum_m w_m\, \bar p_m(z_i)` over every draw of every member (items × K)."""
        ann = self.annotations
        mean = np.zeros((ann.n_items, ann.n_classes))
        for name, fit in self._members.items():
            for rows, probs in fit.item_probability_draws():
                mean[rows] += self.weights[name] * probs.mean(axis=0)
        return mean

    @cached_property
    def _pooled(self) -> np.ndarray:
        """Each member's draws thinned (or repeated) evenly to its weight's share of
        `POOLED_DRAWS` and stacked: (draws, items, K), float32; one draw per point estimate."""
        ann = self.annotations
        pooled: list[np.ndarray] = []
        for name, fit in self._members.items():
            keep = 1 if self.is_point_estimate else max(1, round(self.weights[name] * POOLED_DRAWS))
            draws = np.empty((keep, ann.n_items, ann.n_classes), dtype=np.float32)
            for rows, probs in fit.item_probability_draws():
                draws[:, rows] = probs[_spread(probs.shape[0], keep)]
            pooled.append(draws)
        return np.concatenate(pooled, axis=0)

    def item_probability_draws(self) -> Iterator[tuple[slice, np.ndarray]]:
        """The mixture's pooled draws of the class posteriors, as `Fit.item_probability_draws`.

        What `bayeslabels.calibrate` maps draw by draw: each member contributes its weight's share
        of `POOLED_DRAWS` draws (a point estimate, its one point).

        Returns
        -------
        iterator of (slice, numpy.ndarray)
            Blocks of `BLOCK_ITEMS` items and their (draws, items, K) probabilities (float64).

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.datasets.load("rte")
        >>> fits = {m: bl.fit(ann, method="em", model=m) for m in ("dawid-skene", "one-coin")}
        >>> [(rows, probs.shape) for rows, probs in bl.FamilyAverage.of(fits).item_probability_draws()]
        [(slice(0, 800, None), (2, 800, 2))]
        """
        n_items = self.annotations.n_items
        for start in range(0, n_items, BLOCK_ITEMS):
            rows = slice(start, min(start + BLOCK_ITEMS, n_items))
            yield rows, self._pooled[:, rows].astype(np.float64)  # as a Fit's: sums to 1 in float64

    def soft_labels(self, ci_prob: float = 0.9) -> SoftLabels:
        """The mixture's soft labels (module docstring).

        Parameters
        ----------
        ci_prob : float, default 0.9
            Probability of the equal-tailed interval over the pooled draws.

        Returns
        -------
        SoftLabels
            ``mean`` the weighted mean of the members' means; ``lower`` / ``upper`` quantiles of
            the pooled draws (equal to the mean where every member is a point estimate);
            ``meaning`` names the families and weights.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.datasets.load("rte")
        >>> fits = {m: bl.fit(ann, method="em", model=m) for m in ("dawid-skene", "one-coin")}
        >>> bl.FamilyAverage.of(fits).soft_labels().meaning
        'P(true class) averaged over model families (weights: dawid-skene 0.50, one-coin 0.50)'
        """
        from ._checks import check_ci_prob

        ci_prob = check_ci_prob(ci_prob)
        first = next(iter(self.fits.values()))
        ann, mean, sampled = self.annotations, self._mean, not self.is_point_estimate
        tail = (1 - ci_prob) / 2
        lo, hi = draw_quantiles(self._pooled, [tail, 1 - tail])
        score = None
        if ann.ordered and sampled:
            values = self._pooled @ np.arange(ann.n_classes, dtype=np.float32)
            score = draw_quantiles(values, [tail, 1 - tail]).T
        summary = _ItemPosteriors(
            mean, np.minimum(lo, mean), np.maximum(hi, mean), mean[None], mean[None, None], score
        )
        soft = first._labels_table(ann, summary, ci_prob, first.used_gold)
        return replace(
            soft,
            ci_prob=ci_prob if sampled else None,
            lower=soft.lower if sampled else mean,
            upper=soft.upper if sampled else mean,
            meaning=f"P(true class) averaged over model families (weights: {self._described})",
            score_interval=score,
        )

    @property
    def _described(self) -> str:
        return ", ".join(f"{name} {share:.2f}" for name, share in self.weights.items() if share > 0)

    # ------------------------------------------------------------------ export, check, save
    def refuse_unconverged(self, allow_failed_check: bool = False) -> None:
        """`Fit.refuse_unconverged` of every weighted member: the gate of every export.

        Parameters
        ----------
        allow_failed_check : bool, default False
            Let members that fail their check through (the exports record it).

        Raises
        ------
        ConvergenceError
            If a member fails its check and ``allow_failed_check`` is False (it is named).

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fits = {"em": bl.fit(bl.datasets.load("rte"), method="em")}
        >>> bl.FamilyAverage.of(fits).refuse_unconverged()  # point estimates pass
        """
        from .fit import ConvergenceError

        for name, fit in self._members.items():
            try:
                fit.refuse_unconverged(allow_failed_check)
            except ConvergenceError as exc:
                raise ConvergenceError(f"averaged fit {name!r}: {exc}") from None

    def provenance(self, ci_prob: float = 0.9, allow_failed_check: bool = False) -> dict[str, Any]:
        """The provenance record `export` writes.

        Parameters
        ----------
        ci_prob : float, default 0.9
            Probability of the exported intervals.
        allow_failed_check : bool, default False
            Whether the export was allowed despite a member's failed check.

        Returns
        -------
        dict
            ``bayeslabels_version``, ``created_at``, ``soft_label_meaning``, ``used_gold``,
            ``n_items``, ``ci_prob`` (None for point estimates), ``allow_failed_check``,
            ``averaged`` (per weighted member: ``name``, ``weight`` and its `Fit.provenance`) and,
            from ``--model auto``, ``model_selection``.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.datasets.load("rte")
        >>> fits = {m: bl.fit(ann, method="em", model=m) for m in ("dawid-skene", "one-coin")}
        >>> record = bl.FamilyAverage.of(fits).provenance()
        >>> [(f["name"], f["weight"], f["model"]["model"]) for f in record["averaged"]]
        [('dawid-skene', 0.5, 'dawid-skene'), ('one-coin', 0.5, 'one-coin')]
        """
        from ._version import __version__

        return {
            "bayeslabels_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "soft_label_meaning": self.soft_labels(ci_prob).meaning,
            "used_gold": self.used_gold,
            "n_items": self.annotations.n_items,
            "ci_prob": None if self.is_point_estimate else ci_prob,
            "allow_failed_check": allow_failed_check,
            "averaged": [
                {"name": name, "weight": self.weights[name], **fit.provenance(ci_prob, allow_failed_check)}
                for name, fit in self._members.items()
            ],
            **({"model_selection": self.model_selection} if self.model_selection else {}),
        }

    def export(self, path: str | Path, ci_prob: float = 0.9, allow_failed_check: bool = False) -> Path:
        """Write `soft_labels` like `Fit.export` (Parquet, CSV or JSON Lines), atomically.

        Parameters
        ----------
        path : str or pathlib.Path
            ``.parquet``, ``.csv`` or ``.jsonl``.
        ci_prob : float, default 0.9
            Probability of the credible intervals.
        allow_failed_check : bool, default False
            Export even where a member fails its convergence check (recorded).

        Returns
        -------
        pathlib.Path
            The file written; its provenance is `provenance`.

        Raises
        ------
        ConvergenceError
            If a member fails its check and ``allow_failed_check`` is False (nothing is written).

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fits = {"em": bl.fit(bl.datasets.load("rte"), method="em")}
        >>> bl.FamilyAverage.of(fits).export("soft.parquet")  # doctest: +SKIP
        PosixPath('soft.parquet')
        """
        from ._io import json_safe

        export_kind(path)
        self.refuse_unconverged(allow_failed_check)
        record = self.provenance(ci_prob, allow_failed_check)
        text = json.dumps(json_safe(record), indent=2, allow_nan=False)
        return self.soft_labels(ci_prob).write(path, provenance=text)

    def save(self, directory: str | Path) -> Path:
        """Save every member as a `Fit.save` directory ``directory/<name>``, then
        ``average.json`` (weights and ``model_selection``), written last and atomically;
        `FamilyAverage.load` restores it.

        Parameters
        ----------
        directory : str or pathlib.Path
            A new or empty directory, or one a previous `save` wrote.

        Returns
        -------
        pathlib.Path
            The directory.

        Raises
        ------
        DataError
            If ``directory`` is a file, or holds something other than a saved average.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fits = {"em": bl.fit(bl.datasets.load("rte"), method="em")}
        >>> bl.FamilyAverage.of(fits).save("runs/rte-average")  # doctest: +SKIP
        PosixPath('runs/rte-average')
        """
        from ._io import atomic_write, json_safe

        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise DataError(f"cannot save to {directory}: it is a file; choose a directory name")
        if directory.is_dir() and any(directory.iterdir()) and not (directory / AVERAGE_RECORD).is_file():
            raise DataError(
                f"cannot save to {directory}: it exists and is not a saved average; choose another"
            )
        for name, fit in self.fits.items():
            fit.save(directory / name)
        record = {"weights": self.weights, "model_selection": self.model_selection}
        text = json.dumps(json_safe(record), indent=2, allow_nan=False)
        atomic_write(directory / AVERAGE_RECORD, lambda tmp: tmp.write_text(text))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> FamilyAverage:
        """The average `save` wrote to ``directory``.

        Parameters
        ----------
        directory : str or pathlib.Path
            A directory written by `FamilyAverage.save` (or ``bayeslabels fit --model auto --save``).

        Returns
        -------
        FamilyAverage

        Raises
        ------
        DataError
            If the directory holds no ``average.json`` or a member's files do not match their hashes.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> average = bl.FamilyAverage.load("runs/rte-average")  # doctest: +SKIP
        """
        from .fit import load_fit

        directory = Path(directory)
        path = directory / AVERAGE_RECORD
        if not path.is_file():
            raise DataError(
                f"{directory} holds no {AVERAGE_RECORD}: not an average saved by FamilyAverage.save"
            )
        record = json.loads(path.read_text())
        fits = {name: load_fit(directory / name) for name in record["weights"]}
        return cls.of(fits, record["weights"], record.get("model_selection"))

    def summary(self) -> str:
        """One line for the average, one per member: its weight and convergence verdict.

        Returns
        -------
        str

        Examples
        --------
        >>> import bayeslabels as bl
        >>> fits = {"em": bl.fit(bl.datasets.load("rte"), method="em")}
        >>> print(bl.FamilyAverage.of(fits).summary())
        soft labels averaged over 1 fit of 800 items (equal weights)
          em                     weight 1.00  em                point estimate (no sampling to check)
        """
        equal = len(set(self.weights.values())) == 1
        n = len(self.fits)
        lines = [
            f"soft labels averaged over {n} fit{'s' if n > 1 else ''} of {self.annotations.n_items} items "
            f"({'equal weights' if equal else 'weighted'})"
        ]
        for name, fit in self.fits.items():
            lines.append(
                f"  {name:<22} weight {self.weights[name]:.2f}  {fit.method:<17} {fit.check().verdict}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        kind = "point estimates" if self.is_point_estimate else "sampled"
        n = len(self.fits)
        return (
            f"<FamilyAverage of {n} fit{'s' if n > 1 else ''} ({self._described}), "
            f"{self.annotations.n_items} items, {kind}>"
        )


def average_soft_labels(
    fits: Mapping[str, Fit | SelfCalibration],
    weights: Mapping[str, float] | None = None,
    ci_prob: float = 0.9,
) -> SoftLabels:
    """The soft labels of a weighted mixture of fits' posteriors over the classes (module docstring).

    Parameters
    ----------
    fits : mapping of str to Fit or SelfCalibration
        Name → fit of the same labels (same items and classes, all with or all without gold).
        Sampled fits and point estimates mix alike; a self-calibrated fit (or the
        `SelfCalibration` of ``bl.self_calibrate``) enters tempered.
    weights : mapping of str to float, optional
        Name → weight (normalised to sum to one; a fit not named gets 0). Default: equal.
    ci_prob : float, default 0.9
        Probability of the equal-tailed interval over the pooled draws.

    Returns
    -------
    SoftLabels
        ``mean`` is :math:`\\sum_m w_m\\, \\bar p_m(z_i)`; ``lower`` / ``upper`` the quantiles of
        the pooled draws (absent where every fit is a point estimate); ``meaning`` names the
        families and weights.

    Raises
    ------
    DataError
        If ``fits`` is empty, holds something other than a Fit or fits of other labels, or the
        weights are negative, not finite, all zero or name fits that are not given.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("rte")
    >>> fits = {m: bl.fit(ann, method="em", model=m, use_gold=False) for m in ("dawid-skene", "one-coin")}
    >>> soft = bl.average_soft_labels(fits)
    >>> bool(abs(soft.mean - (fits["dawid-skene"].soft_labels().mean
    ...                       + fits["one-coin"].soft_labels().mean) / 2).max() < 1e-12)
    True
    """
    from ._checks import check_ci_prob

    ci_prob = check_ci_prob(ci_prob)
    return FamilyAverage.of(fits, weights).soft_labels(ci_prob)


def export_average(
    fits: Mapping[str, Fit | SelfCalibration],
    path: str | Path,
    weights: Mapping[str, float] | None = None,
    ci_prob: float = 0.9,
    allow_failed_check: bool = False,
) -> Path:
    """Write `average_soft_labels` to ``path`` (atomically), each fit's provenance beside its weight.

    Parameters
    ----------
    fits, weights, ci_prob
        As for `average_soft_labels`.
    path : str or pathlib.Path
        ``.parquet``, ``.csv`` or ``.jsonl`` (the export schema of `SoftLabels.to_frame`).
    allow_failed_check : bool, default False
        Export even where a fit fails its convergence check (recorded in its provenance).

    Returns
    -------
    pathlib.Path
        The file written. Its provenance (`bayeslabels.read_provenance`) holds
        ``soft_label_meaning``, ``ci_prob`` and ``averaged``: one record per fit with ``name``,
        ``weight`` and that fit's own provenance (`Fit.provenance`); `FamilyAverage.provenance`.

    Raises
    ------
    ConvergenceError
        If a fit fails its check and ``allow_failed_check`` is False (nothing is written).

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("bluebirds")
    >>> fits = {m: bl.fit(ann, method="em", model=m, use_gold=False) for m in ("dawid-skene", "one-coin")}
    >>> path = bl.export_average(fits, "soft.parquet")  # doctest: +SKIP
    >>> [(f["name"], f["weight"]) for f in bl.read_provenance(path)["averaged"]]  # doctest: +SKIP
    [('dawid-skene', 0.5), ('one-coin', 0.5)]
    """
    from ._checks import check_ci_prob

    ci_prob = check_ci_prob(ci_prob)
    average = FamilyAverage.of(fits, weights)
    return average.export(path, ci_prob=ci_prob, allow_failed_check=allow_failed_check)
