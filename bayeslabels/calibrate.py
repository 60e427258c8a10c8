r"""Calibration maps on item log-posteriors, fitted on gold and cross-fitted.

Soft labels from annotator models are often overconfident on real data: the model assumes
annotators err independently given the true class, real labels do not, and the posterior
piles up near 0 and 1. `calibrate` fits a small map from the soft labels' log-probabilities
to calibrated probabilities on gold items (Guo et al. 2017, "On calibration of modern neural
networks"):

* ``method="temperature"``: one scalar ``T > 0``, ``p_cal ∝ exp(log p / T)``. ``T > 1``
  softens overconfident labels; the hard label (the argmax) never changes.
* ``method="temperature-floor"`` (the default, but for ``--model auto``'s `FamilyAverage`:
  `default_method`): temperature scaling mixed with the uniform
  distribution, ``p_cal = (1 − ε) softmax(log p / T) + ε / K``. The floor ``ε`` is the share
  of items on which the soft label carries no information (its confident mistakes): without
  it a few confidently wrong gold items drive ``T`` up until every label is too soft (music_genre:
  EM's ECE 0.127 rose to 0.215 under temperature alone, and fell to 0.031 with the floor). It
  is fitted as the MAP under a weak prior ``logit ε ~ N(−3, 1.5)`` (`FLOOR_PRIOR`), which keeps
  ``ε`` near 5 % unless the gold says otherwise; the hard label never changes.
* ``method="top-label"``: Platt scaling of the top label's confidence (top-label calibration,
  Gupta & Ramdas 2022): with ``c`` the probability of the item's label (the class of its
  highest mean probability), ``c_cal = σ(a · logit c + b)``, and the other classes share
  ``1 − c_cal`` in their old proportions. Two numbers, fitted as the MAP under ``a ~ N(1, 1)``,
  ``b ~ N(0, 1)`` (`TOP_LABEL_PRIOR_SD`). It calibrates what the top-label ECE measures, where
  a temperature and a floor cannot bend far enough: on music_genre the average of the families is
  too soft in the middle (0.46–0.73 stated, 0.58–0.77 right) and too sure at the top (0.98
  stated, 0.88 right); fitted on 20 % of the gold its ECE on the other 80 % was 0.046 and its
  log-loss 0.809, temperature-floor's 0.064 and 0.851 (mean of 10 splits,
  ``benchmarks/results/calibration_shipped_3.md``). A point estimate's label never changes
  (``c_cal`` is kept at least the runner-up's share); in a posterior, each draw in which the label
  leads keeps it ahead, so the exported mean can change its label only on an item whose draws
  disagree about its class.
* ``method="vector"``: a scale and a bias per class, ``p_cal = softmax(a ⊙ log p + b)``. With
  few gold items this can overfit, so it is fitted as the MAP under a Gaussian prior that keeps
  it near the identity: ``a_k ~ N(1, 1)``, ``b_k ~ N(0, 1)`` — the negative log-likelihood of
  the gold plus ``½ (‖a − 1‖² + ‖b‖²)`` (`VECTOR_PRIOR_SD`). It can move the argmax.

**What the map is fitted on.** What it will produce: the soft label that is exported. For a
point estimate that is the map of its probabilities; for a fit with posterior draws it is the
mean over draws of the calibrated draws, so the map is fitted on each draw's log class
probabilities (`MAX_FIT_DRAWS` of them) and scores the gold by that mean. (Fitting on the
log of the posterior mean and then applying the map draw by draw, as before, fits one quantity
and exports another: when the draws are sharper than their mean, the map barely moved the
exported labels.) It is fitted by minimising
the negative log-likelihood of the gold classes on the gold items with L-BFGS-B (scipy), ``T``
on the log scale within `TEMPERATURE_BOUNDS`, the scales within `SCALE_BOUNDS`. Probabilities
are floored at ``1e-300`` before the log (an EM posterior can underflow to exactly 0).

**Cross-fitting.** The gold items are dealt at random (seeded) into ``folds`` folds; each fold
gets a map fitted on the gold of the other folds, and each gold item's calibrated soft label
comes from its own fold's map, which never saw its gold. Items without gold (and gold items
held out by ``fraction``) get the map fitted on all the calibration gold. The metrics before
and after (top-label ECE over 10 bins and log-loss, as `bayeslabels.evaluate`) are computed on
the cross-fitted labels, so they are an honest estimate of what calibration does on new items.

**Intervals follow.** For a `Fit` with posterior draws the map is applied draw by draw to the
per-draw class posteriors (`Fit.item_probability_draws`), and the calibrated soft label is the
mean and equal-tailed interval of the calibrated draws, exactly as `Fit.soft_labels` summarises
the uncalibrated ones (the mean of the calibrated draws, not the map of the mean; the map is
fitted to that mean, see above). A point estimate (EM, a vote, `SoftLabels`
without intervals) has the map applied to its probabilities.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logsumexp

from ._checks import check_ci_prob
from ._io import json_safe
from ._quantiles import draw_quantiles
from ._version import __version__
from .averaging import FamilyAverage
from .choices import (
    AVERAGE_CALIBRATION_METHOD,
    CALIBRATION_METHODS,
    DEFAULT_CALIBRATION_METHOD,
    CalibrationMethod,
)
from .errors import DataError
from .evaluate import Targets, _gold_codes, _points, _scored
from .fit import Fit
from .ingest import read_gold
from .soft_labels import SoftLabels, as_soft_labels, export_kind

METHODS: tuple[str, ...] = CALIBRATION_METHODS
FLOOR_PRIOR = (-3.0, 1.5)  # logit ε ~ N(mean, sd): ε near 0.05 unless the gold says otherwise
FLOOR_LOGIT_BOUNDS = (-30.0, 5.0)
MIN_GOLD = 20  # fewer gold items than this cannot fit (and cross-fit) a map worth having
PROBABILITY_FLOOR = 1e-300  # probabilities are floored here before the log
TEMPERATURE_BOUNDS = (1e-2, 1e2)
TEMPERATURE_METHODS = ("temperature-floor", "temperature")
SCALE_BOUNDS = (1e-2, 1e2)
VECTOR_PRIOR_SD = 1.0  # a_k ~ N(1, sd), b_k ~ N(0, sd)
TOP_LABEL_PRIOR_SD = 1.0  # top-label: a ~ N(1, sd), b ~ N(0, sd)
LABEL_MARGIN = 1e-9  # top-label: a bound label stays this far (relatively) above the runner-up, no tie
N_BINS = 10
MAX_FIT_DRAWS = 500  # posterior draws a map is fitted on (a seeded subset of more)
METRICS = ("ece", "log_loss", "accuracy", "brier")
CROSS_FITTED = "cross-fitted"
HELD_OUT = "held-out"


# --------------------------------------------------------------------------- maps


@dataclass(frozen=True, eq=False)
class CalibrationMap:
    """One fitted calibration map, ``p_cal = (1 − floor) softmax(scale ⊙ log p + bias) + floor / K``.

    Temperature scaling is ``scale = 1/T`` for every class, ``bias = 0`` and ``floor = 0``;
    ``"temperature-floor"`` adds the floor ε. ``"top-label"`` maps the label's probability
    ``c`` to ``σ(a · logit c + b)`` with ``a = scale[0]``, ``b = bias[0]`` (module docstring).

    Attributes
    ----------
    method : str
        ``"temperature-floor"``, ``"temperature"``, ``"top-label"`` or ``"vector"``.
    scale, bias : numpy.ndarray
        Per class (K; top-label: ``a`` and ``b`` repeated).
    n_gold : int
        Gold items the map was fitted on.
    floor : float
        ε, the weight of the uniform distribution in the mixture (0 but for temperature-floor).

    Examples
    --------
    >>> import numpy as np
    >>> from bayeslabels.calibrate import CalibrationMap
    >>> halve = CalibrationMap("temperature", np.full(2, 0.5), np.zeros(2), n_gold=0)
    >>> halve.temperature
    2.0
    >>> halve.apply(np.array([[0.9, 0.1]])).round(3)
    array([[0.75, 0.25]])
    """

    method: str
    scale: np.ndarray
    bias: np.ndarray
    n_gold: int
    floor: float = 0.0

    @property
    def temperature(self) -> float | None:
        """``T`` of a temperature map (None for a vector or top-label map)."""
        return float(1.0 / self.scale[0]) if self.method in TEMPERATURE_METHODS else None

    @property
    def is_identity(self) -> bool:
        return bool(np.all(self.scale == 1.0) and np.all(self.bias == 0.0) and self.floor == 0.0)

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of ``probabilities`` (``(..., K)``, class on the last axis).

        Parameters
        ----------
        probabilities : numpy.ndarray
            Class probabilities, the classes on the last axis.

        Returns
        -------
        numpy.ndarray
            The calibrated probabilities, same shape; the identity map returns its input.

        Examples
        --------
        >>> import numpy as np
        >>> from bayeslabels.calibrate import CalibrationMap
        >>> CalibrationMap("vector", np.ones(2), np.array([0.0, np.log(3)]), 0).apply(np.array([0.5, 0.5]))
        array([0.25, 0.75])
        """
        if self.is_identity:
            return probabilities
        if self.method == "top-label":
            return _top_label_map(probabilities, float(self.scale[0]), float(self.bias[0]))
        calibrated = _softmax(self.scale * _log(probabilities) + self.bias)
        if self.floor:
            calibrated = (1.0 - self.floor) * calibrated + self.floor / calibrated.shape[-1]
        return calibrated

    def to_dict(self) -> dict[str, Any]:
        """The map as JSON-ready values (``temperature`` or ``scale`` / ``bias``, ``n_gold``).

        Returns
        -------
        dict

        Examples
        --------
        >>> import numpy as np
        >>> from bayeslabels.calibrate import CalibrationMap
        >>> CalibrationMap("temperature", np.full(2, 0.5), np.zeros(2), n_gold=40).to_dict()
        {'method': 'temperature', 'temperature': 2.0, 'n_gold': 40}
        """
        if self.method == "temperature":
            return {"method": self.method, "temperature": self.temperature, "n_gold": self.n_gold}
        if self.method == "temperature-floor":
            return {
                "method": self.method,
                "temperature": self.temperature,
                "floor": self.floor,
                "n_gold": self.n_gold,
            }
        if self.method == "top-label":
            return {
                "method": self.method,
                "a": float(self.scale[0]),
                "b": float(self.bias[0]),
                "n_gold": self.n_gold,
            }
        return {
            "method": self.method,
            "scale": self.scale.tolist(),
            "bias": self.bias.tolist(),
            "n_gold": self.n_gold,
        }

    def describe(self) -> str:
        if self.method == "temperature":
            return f"T = {self.temperature:.3g}"
        if self.method == "temperature-floor":
            return f"T = {self.temperature:.3g}, floor {self.floor:.3g}"
        if self.method == "top-label":
            return f"c ↦ σ({self.scale[0]:.3g} · logit c {self.bias[0]:+.3g})"
        return f"scale {np.round(self.scale, 3).tolist()}, bias {np.round(self.bias, 3).tolist()}"


def _fold_description(m: CalibrationMap) -> str:
    return f"{m.temperature:.3g}" + (f" (floor {m.floor:.2g})" if m.floor else "")


def _top_label_parts(probabilities: np.ndarray) -> tuple[np.ndarray, ...]:
    """For `_top_label_map`: the label's one-hot mask, its log-odds ``logit c``, the lowest
    ``c_cal`` that keeps the label on top (0 where it was not on top of this draw), and the other
    classes' shares of ``1 − c``. The label is the class of the highest probability averaged
    over every leading axis (the draws), so one item keeps one label across its draws."""
    k = probabilities.shape[-1]
    reference = (
        probabilities
        if probabilities.ndim <= 2
        else probabilities.mean(axis=tuple(range(probabilities.ndim - 2)))
    )
    top = np.eye(k, dtype=bool)[reference.argmax(axis=-1)]
    top = np.broadcast_to(top, probabilities.shape)
    c = np.where(top, probabilities, 0.0).sum(axis=-1)
    rest = np.where(top, 0.0, probabilities)
    rest_total = rest.sum(axis=-1)
    log_odds = np.log(np.maximum(c, PROBABILITY_FLOOR)) - np.log(np.maximum(rest_total, PROBABILITY_FLOOR))
    empty = rest_total <= 0.0  # the label took all the mass: the rest is shared evenly
    shares = np.where(
        empty[..., None],
        np.where(top, 0.0, 1.0 / max(k - 1, 1)),
        rest / np.where(empty, 1.0, rest_total)[..., None],
    )
    runner_up = shares.max(axis=-1)
    keep_on_top = np.where(c >= rest.max(axis=-1), (1.0 + LABEL_MARGIN) * runner_up / (1.0 + runner_up), 0.0)
    return top, log_odds, keep_on_top, shares


def _top_label_map(probabilities: np.ndarray, a: float, b: float) -> np.ndarray:
    """Top-label Platt scaling: the label's probability ``c ↦ σ(a · logit c + b)`` (kept at
    least the runner-up's new share where it was on top), the others ``(1 − c_cal)`` times their
    shares of ``1 − c``."""
    top, log_odds, keep_on_top, shares = _top_label_parts(probabilities)
    c_cal = np.maximum(expit(a * log_odds + b), keep_on_top)
    return np.where(top, c_cal[..., None], shares * (1.0 - c_cal)[..., None])


def _log(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(probabilities, PROBABILITY_FLOOR))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def fit_map(log_p: np.ndarray, y: np.ndarray, method: str) -> CalibrationMap:
    """The map minimising the gold's negative log-likelihood (plus its prior, if any).

    ``log_p`` are the items' log-probabilities, (n × K) for a point estimate or (draws × n × K)
    for posterior draws, ``y`` (n) their gold class codes. With draws the gold is scored by the
    mean over draws of the calibrated draws — exactly the soft label the map will produce —
    ``−log m_i``, ``m_i = mean_s q_s[y_i]``; its gradient with respect to ``z_s`` (the draw's
    calibrated logits) is ``ω_s (q_s − e_y)`` with ``ω_s = q_s[y] / Σ_s' q_s'[y]``. With the
    floor the score is ``−log((1 − ε) m_i + ε / K)``, whose gradient is that of ``−log m_i``
    times ``r_i = (1 − ε) m_i / ((1 − ε) m_i + ε / K)``. L-BFGS-B with analytic gradients;
    ``T`` is fitted as ``log T`` within `TEMPERATURE_BOUNDS`, ``ε`` as ``logit ε``.
    """
    log_p = log_p[None] if log_p.ndim == 2 else log_p
    _, n, k = log_p.shape
    onehot = np.eye(k)[y]
    rows = np.arange(n)

    def log_mean_and_gap(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``log m_i`` per item and the gradient of ``−log m_i`` with respect to ``z``."""
        log_q = _log_softmax(z)
        log_q_gold = log_q[:, rows, y]  # draws × n
        log_mean = logsumexp(log_q_gold, axis=0) - np.log(len(z))
        weight = np.exp(log_q_gold - log_q_gold.max(axis=0))
        weight /= weight.sum(axis=0)
        return log_mean, weight[..., None] * (np.exp(log_q) - onehot)

    log_t_bounds = (float(np.log(TEMPERATURE_BOUNDS[0])), float(np.log(TEMPERATURE_BOUNDS[1])))
    if method == "temperature":

        def temperature_objective(x: np.ndarray) -> tuple[float, np.ndarray]:
            z = log_p * np.exp(-x[0])
            log_mean, gap = log_mean_and_gap(z)
            return float(-log_mean.sum()) / n, np.array([-(gap * z).sum() / n])

        result = minimize(
            temperature_objective, np.zeros(1), jac=True, method="L-BFGS-B", bounds=[log_t_bounds]
        )
        t = float(np.exp(result.x[0]))
        return CalibrationMap("temperature", np.full(k, 1.0 / t), np.zeros(k), n)

    if method == "temperature-floor":
        prior_mean, prior_sd = FLOOR_PRIOR

        def floor_objective(x: np.ndarray) -> tuple[float, np.ndarray]:
            z = log_p * np.exp(-x[0])
            log_mean, gap = log_mean_and_gap(z)
            log_eps, log_keep = -np.logaddexp(0.0, -x[1]), -np.logaddexp(0.0, x[1])  # log ε, log(1 − ε)
            log_score = np.logaddexp(log_keep + log_mean, log_eps - np.log(k))  # log((1−ε) m + ε/K)
            share = np.exp(log_keep + log_mean - log_score)  # r_i
            d_log_t = -(share * (gap * z).sum(axis=(0, 2))).sum()
            eps = float(np.exp(log_eps))
            d_logit = -((1.0 / k - np.exp(log_mean)) / np.exp(log_score)).sum() * eps * (1.0 - eps)
            penalty = 0.5 * ((x[1] - prior_mean) / prior_sd) ** 2
            value = float(-log_score.sum()) + penalty
            gradient = np.array([d_log_t, d_logit + (x[1] - prior_mean) / prior_sd**2])
            return value / n, gradient / n

        # two modes compete: a sharp map with a wide floor, a soft map with a narrow one; start
        # at T = 1 and at temperature scaling's own T, keep the better optimum
        alone = fit_map(log_p, y, "temperature").temperature or 1.0
        result = min(
            (
                minimize(
                    floor_objective,
                    np.array([log_t, prior_mean]),
                    jac=True,
                    method="L-BFGS-B",
                    bounds=[log_t_bounds, FLOOR_LOGIT_BOUNDS],
                )
                for log_t in (0.0, float(np.log(alone)))
            ),
            key=lambda r: float(r.fun),
        )
        t = float(np.exp(result.x[0]))
        floor = float(1.0 / (1.0 + np.exp(-result.x[1])))
        return CalibrationMap("temperature-floor", np.full(k, 1.0 / t), np.zeros(k), n, floor=floor)

    if method == "top-label":
        return _fit_top_label(log_p, y)

    precision = 1.0 / VECTOR_PRIOR_SD**2

    def vector_objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = x[:k], x[k:]
        log_mean, gap = log_mean_and_gap(a * log_p + b)
        penalty = 0.5 * precision * (((a - 1.0) ** 2).sum() + (b**2).sum())
        grad_a = (gap * log_p).sum(axis=(0, 1)) + precision * (a - 1.0)
        grad_b = gap.sum(axis=(0, 1)) + precision * b
        return (float(-log_mean.sum()) + penalty) / n, np.concatenate([grad_a, grad_b]) / n

    start = np.concatenate([np.ones(k), np.zeros(k)])
    vector_bounds: list[tuple[float | None, float | None]] = [SCALE_BOUNDS] * k + [(None, None)] * k
    result = minimize(vector_objective, start, jac=True, method="L-BFGS-B", bounds=vector_bounds)
    return CalibrationMap("vector", np.asarray(result.x[:k]), np.asarray(result.x[k:]), n)


def _fit_top_label(log_p: np.ndarray, y: np.ndarray) -> CalibrationMap:
    """The top-label map's MAP ``(a, b)``: gold scored by the mean over draws of the mapped
    draws, as `fit_map`. The gold class's mapped probability is ``c_cal`` where gold is the
    label and ``share_y (1 − c_cal)`` otherwise, so the log-likelihood needs only ``logit c``,
    the keep-on-top bound and ``share_y`` per (draw, item). Two parameters, a kinked objective
    (the bound): Nelder–Mead."""
    probabilities = np.exp(log_p)
    _, n, k = probabilities.shape
    top, log_odds, keep_on_top, shares = _top_label_parts(probabilities)
    gold_is_label = top[0, np.arange(n), y]
    log_share = np.log(np.maximum(shares[:, np.arange(n), y], PROBABILITY_FLOOR))
    log_draws = np.log(len(probabilities))
    precision = 1.0 / TOP_LABEL_PRIOR_SD**2
    log_bound, log_rest_at_bound = np.log(np.maximum(keep_on_top, PROBABILITY_FLOOR)), np.log1p(-keep_on_top)
    logit_bound = log_bound - log_rest_at_bound  # c_cal is held at the bound where z falls below this

    def objective(x: np.ndarray) -> float:
        z = x[0] * log_odds + x[1]
        floored = z < logit_bound
        log_c = np.where(floored, log_bound, log_expit(z))
        log_rest = np.where(floored, log_rest_at_bound, log_expit(-z))
        log_gold = np.where(gold_is_label, log_c, log_share + log_rest)
        log_mean = logsumexp(log_gold, axis=0) - log_draws
        penalty = 0.5 * precision * ((x[0] - 1.0) ** 2 + x[1] ** 2)
        return (float(-log_mean.sum()) + penalty) / n

    result = minimize(
        objective,
        np.array([1.0, 0.0]),
        method="Nelder-Mead",
        bounds=[SCALE_BOUNDS, (None, None)],
        options={"xatol": 1e-4, "fatol": 1e-9, "maxiter": 2000},
    )
    a, b = (float(v) for v in result.x)
    return CalibrationMap("top-label", np.full(k, a), np.full(k, b), n)


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True, eq=False)
class Calibration:
    """Soft labels calibrated on gold, from `bayeslabels.calibrate`.

    Attributes
    ----------
    method : str
        ``"temperature-floor"``, ``"temperature"``, ``"top-label"`` or ``"vector"``.
    overall : CalibrationMap
        The map fitted on all the calibration gold; it calibrates every item without gold (and
        gold items held out by ``fraction``).
    fold_maps : tuple of CalibrationMap
        Per fold, the map fitted on the other folds' gold; it calibrates that fold's gold items.
    fold : numpy.ndarray
        Per item of the source, the fold of a calibration gold item, or -1 (the overall map).
    folds, seed : int
        Cross-fitting settings.
    fraction : float or None
        The share of the gold items used for calibration (None: all).
    n_gold, n_held_out : int
        Gold items the maps were fitted on, and gold items held out of every map.
    metrics : pandas.DataFrame
        ``gold`` (``"cross-fitted"``, or ``"held-out"`` with ``fraction``), ``metric`` (``ece``,
        ``log_loss``, ``accuracy``, ``brier``), ``n``, ``before`` and ``after``.
    uncalibrated : SoftLabels
        The source's soft labels (``ci_prob=0.9`` intervals for a Fit).
    source : Fit, FamilyAverage or SoftLabels
        What was calibrated.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("duchenne")
    >>> cal = bl.calibrate(bl.fit(ann, method="em", use_gold=False), ann.gold)
    >>> round(cal.temperature, 2), round(cal.overall.floor, 3)
    (6.99, 0.051)
    >>> cal.metrics.round(3)
               gold    metric    n  before  after
    0  cross-fitted       ece  159   0.204  0.099
    1  cross-fitted  log_loss  159   1.698  0.553
    2  cross-fitted  accuracy  159   0.780  0.780
    3  cross-fitted     brier  159   0.210  0.182
    """

    method: str
    overall: CalibrationMap
    fold_maps: tuple[CalibrationMap, ...]
    fold: np.ndarray
    folds: int
    seed: int
    fraction: float | None
    n_gold: int
    n_held_out: int
    metrics: pd.DataFrame
    uncalibrated: SoftLabels
    source: Any

    @property
    def temperature(self) -> float | None:
        """The overall map's ``T`` (None for vector scaling)."""
        return self.overall.temperature

    @property
    def fold_temperatures(self) -> list[float | None]:
        """``T`` of each fold's map."""
        return [m.temperature for m in self.fold_maps]

    @property
    def classes(self) -> tuple[str, ...]:
        return self.uncalibrated.classes

    def value(self, metric: str, when: str = "after", gold: str = CROSS_FITTED) -> float:
        """One metric of `metrics`.

        Parameters
        ----------
        metric : str
            ``"ece"``, ``"log_loss"``, ``"accuracy"`` or ``"brier"``.
        when : {"after", "before"}, default "after"
            Calibrated or not.
        gold : {"cross-fitted", "held-out"}, default "cross-fitted"
            Which gold items.

        Returns
        -------
        float

        Raises
        ------
        KeyError
            If there is no such row.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.datasets.load("duchenne")
        >>> cal = bl.calibrate(bl.fit(ann, method="em", use_gold=False), ann.gold)
        >>> cal.value("ece", "before") > cal.value("ece", "after")
        True
        """
        if when not in ("before", "after"):
            raise KeyError(f"when must be 'before' or 'after', got {when!r}")
        rows = self.metrics[(self.metrics["metric"] == metric) & (self.metrics["gold"] == gold)]
        if rows.empty:
            raise KeyError(f"no metric {metric!r} on {gold} gold; have {sorted(set(self.metrics['metric']))}")
        return float(rows[when].iloc[0])

    def soft_labels(self, ci_prob: float = 0.9) -> SoftLabels:
        """Calibrated soft labels of every item of the source, in its order.

        Gold items get their fold's map (fitted without their gold), the others the overall map.
        For a Fit with draws the map is applied draw by draw and the soft label is the mean and
        equal-tailed ``ci_prob`` interval of the calibrated draws; a point estimate stays one.

        Parameters
        ----------
        ci_prob : float, default 0.9
            Probability of the equal-tailed credible intervals (ignored for a point estimate).

        Returns
        -------
        SoftLabels
            As the source's, with calibrated ``mean`` / ``lower`` / ``upper`` and the hard label
            their argmax.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.datasets.load("duchenne")
        >>> cal = bl.calibrate(bl.fit(ann, method="em", use_gold=False), ann.gold)
        >>> soft = cal.soft_labels()
        >>> soft
        <SoftLabels 2134 items × ['0', '1'], point estimate>
        >>> bool(soft.entropy.mean() > cal.uncalibrated.entropy.mean())  # softer than EM's
        True
        """
        ci_prob = check_ci_prob(ci_prob)
        before = self.uncalibrated
        mean, lower, upper = _calibrated(self.source, before, self._maps, self.fold, ci_prob)
        return replace(
            before,
            mean=mean,
            lower=lower,
            upper=upper,
            ci_prob=None if before.ci_prob is None else ci_prob,
            meaning=self.meaning,
            hard=None,
            score_interval=None,  # the expected score's draws were not recalibrated
        )

    @property
    def meaning(self) -> str:
        return f"{self.uncalibrated.meaning}; recalibrated on gold by {self.method} scaling"

    @property
    def _maps(self) -> tuple[CalibrationMap, ...]:
        """Fold maps, then the overall map: ``_maps[fold]`` with fold -1 the overall one."""
        return (*self.fold_maps, self.overall)

    def to_dict(self) -> dict[str, Any]:
        """The calibration as JSON-ready values (what `export` records as ``calibration``).

        Returns
        -------
        dict
            ``method``, ``map`` (the overall map), ``fold_maps``, ``folds``, ``seed``,
            ``fraction``, ``n_gold``, ``n_held_out``, ``fitted_on``, ``applied`` and
            ``metrics`` (records of `metrics`).

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.datasets.load("duchenne")
        >>> cal = bl.calibrate(bl.fit(ann, method="em", use_gold=False), ann.gold)
        >>> record = cal.to_dict()
        >>> record["method"], record["n_gold"], round(record["map"]["temperature"], 2)
        ('temperature-floor', 159, 6.99)
        """
        draws = self.uncalibrated.ci_prob is not None
        return {
            "method": self.method,
            "map": self.overall.to_dict(),
            "fold_maps": [m.to_dict() for m in self.fold_maps],
            "folds": self.folds,
            "seed": self.seed,
            "fraction": self.fraction,
            "n_gold": self.n_gold,
            "n_held_out": self.n_held_out,
            "fitted_on": "the gold items' class probabilities of each posterior draw: the map "
            "minimises the gold's log-loss of the mean of the calibrated draws"
            if draws
            else "log of the class probabilities of the gold items",
            "applied": "draw by draw to the posterior class probabilities"
            if draws
            else "to the point probabilities",
            "cross_fitting": "each gold item is calibrated by the map of the other folds; "
            "other items by the map fitted on all calibration gold",
            "metrics": [
                {k: json_safe(v) for k, v in row.items()} for row in self.metrics.to_dict(orient="records")
            ],
        }

    def provenance(self, ci_prob: float = 0.9, allow_failed_check: bool = False) -> dict[str, Any]:
        """The provenance record `export` writes: the source's, plus ``calibration``.

        Parameters
        ----------
        ci_prob : float, default 0.9
            Probability of the exported intervals.
        allow_failed_check : bool, default False
            Whether the export was allowed despite the fit's failed check.

        Returns
        -------
        dict
            A Fit's `Fit.provenance` (or, for soft labels, the version, time, meaning, item
            count and ``ci_prob``) with ``soft_label_meaning`` the calibrated meaning and
            ``calibration`` = `to_dict`.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.datasets.load("duchenne")
        >>> cal = bl.calibrate(bl.fit(ann, method="em", use_gold=False), ann.gold)
        >>> record = cal.provenance()
        >>> record["method"], record["used_gold"], record["calibration"]["method"]
        ('em', False, 'temperature-floor')
        """
        fit = _as_fit(self.source)
        if fit is not None:
            record = fit.provenance(ci_prob, allow_failed_check)
        else:
            record = {
                "bayeslabels_version": __version__,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "n_items": self.uncalibrated.n_items,
                "ci_prob": None if self.uncalibrated.is_point_estimate else ci_prob,
            }
        record["soft_label_meaning"] = self.meaning
        record["calibration"] = self.to_dict()
        return record

    def export(self, path: str | Path, ci_prob: float = 0.9, allow_failed_check: bool = False) -> Path:
        """Write the calibrated `soft_labels` like `Fit.export`, atomically, with provenance.

        Parquet, CSV or JSON Lines by extension; the provenance (`provenance`: the fit's, plus the
        calibration map) goes into the Parquet metadata or a ``<path>.json`` sidecar.

        Parameters
        ----------
        path : str or pathlib.Path
            ``.parquet``, ``.csv`` or ``.jsonl``.
        ci_prob : float, default 0.9
            Probability of the credible intervals.
        allow_failed_check : bool, default False
            Export the calibration of a fit that fails `Fit.check` anyway (recorded).

        Returns
        -------
        pathlib.Path
            The file written.

        Raises
        ------
        ConvergenceError
            If the source is a Fit that fails its check and ``allow_failed_check`` is False.
        ValueError
            If the extension is not one of the three.

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.datasets.load("duchenne")
        >>> cal = bl.calibrate(bl.fit(ann, method="em", use_gold=False), ann.gold)
        >>> cal.export("calibrated.parquet")  # doctest: +SKIP
        PosixPath('calibrated.parquet')
        >>> bl.read_provenance("calibrated.parquet")["calibration"]["map"]  # doctest: +SKIP
        {'method': 'temperature', 'temperature': 7.69..., 'n_gold': 159}
        """
        export_kind(path)
        ci_prob = check_ci_prob(ci_prob)
        fit = _as_fit(self.source)
        if fit is not None:
            fit.refuse_unconverged(allow_failed_check)
        record = self.provenance(ci_prob, allow_failed_check)
        text = json.dumps(json_safe(record), indent=2, allow_nan=False)
        return self.soft_labels(ci_prob).write(path, provenance=text)

    def summary(self) -> str:
        """A readable report: the map(s), the gold used, metrics before and after.

        Returns
        -------
        str

        Examples
        --------
        >>> import bayeslabels as bl
        >>> ann = bl.datasets.load("duchenne")
        >>> print(bl.calibrate(bl.fit(ann, method="em", use_gold=False), ann.gold).summary())
        ... # doctest: +NORMALIZE_WHITESPACE
        temperature-floor calibration on 159 gold items, 5 folds (seed 0)
        map on all gold: T = 6.99, floor 0.0512; per fold: T = 1.16 (floor 0.34), 7.62 (floor 0.048),
        6.99 (floor 0.05), 7.62 (floor 0.048), 6.31 (floor 0.039)
        metrics on cross-fitted gold (each item calibrated by a map that did not see its gold):
        metric      before    after   (n = 159)
        ece          0.204    0.099
        log_loss     1.698    0.553
        accuracy     0.780    0.780
        brier        0.210    0.182
        """
        head = f"{self.method} calibration on {self.n_gold} gold items, {self.folds} folds (seed {self.seed})"
        if self.n_held_out:
            head += f"; {self.n_held_out} gold items held out (fraction {self.fraction:g})"
        if self.method in TEMPERATURE_METHODS:
            per_fold = ", ".join(_fold_description(m) for m in self.fold_maps)
            lines = [head, f"map on all gold: {self.overall.describe()}; per fold: T = {per_fold}"]
        elif self.method == "top-label":
            per_fold = ", ".join(f"({m.scale[0]:.3g}, {m.bias[0]:+.3g})" for m in self.fold_maps)
            lines = [head, f"map on all gold: {self.overall.describe()}; per fold (a, b): {per_fold}"]
        else:
            lines = [head, f"map on all gold: {self.overall.describe()}"]
        titles = {
            CROSS_FITTED: "metrics on cross-fitted gold "
            "(each item calibrated by a map that did not see its gold):",
            HELD_OUT: "metrics on held-out gold (never seen by any map):",
        }
        for gold, rows in self.metrics.groupby("gold", sort=False):
            lines.append(titles[str(gold)])
            lines.append(f"{'metric':<10} {'before':>7}  {'after':>7}   (n = {int(rows['n'].iloc[0])})")
            lines += [f"{r.metric:<10} {r.before:>7.3f}  {r.after:>7.3f}" for r in rows.itertuples()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<Calibration {self.method} on {self.n_gold} gold items: {self.overall.describe()}>"


# --------------------------------------------------------------------------- calibrate


def calibrate(
    source: Any,
    gold: Any,
    method: CalibrationMethod | None = None,
    folds: int = 5,
    seed: int = 0,
    fraction: float | None = None,
) -> Calibration:
    """Calibrate soft labels on gold items, cross-fitted (module docstring: the maps, the fit).

    Parameters
    ----------
    source : Fit, FamilyAverage, SoftLabels or anything `as_soft_labels` takes
        A `Fit` or a `FamilyAverage` (``--model auto``'s; with draws, intervals are
        recalibrated draw by draw: the average's pooled draws), or point-estimate soft
        labels (an `EMResult`, `VoteResult`, `SoftLabels` with ``ci_prob=None``, a table or
        file without intervals).
    gold : numpy.ndarray, pandas.Series, mapping or path
        As `bayeslabels.evaluate` takes it: an int array aligned with the source's items (-1 =
        unknown, as ``ann.gold``), a Series / mapping item → class, or a gold table (item, gold).
        It must not have anchored the fit (fit with ``use_gold=False``).
    method : {"temperature-floor", "temperature", "top-label", "vector"}, optional
        One temperature and a uniform floor ε, one temperature alone, Platt scaling of the
        label's probability, or a scale and bias per class with a prior near the identity
        (module docstring). Default: ``"top-label"`` for a `FamilyAverage` (``--model auto``'s,
        its members self-calibrated), ``"temperature-floor"`` otherwise (`default_method`).
    folds : int, default 5
        Cross-fitting folds of the gold items (at least 2).
    seed : int, default 0
        Seed of the fold assignment (and of the ``fraction`` draw).
    fraction : float, optional
        Calibrate on this share of the gold items only (drawn with ``seed``); the others are
        held out of every map and reported separately, as a check.

    Returns
    -------
    Calibration
        The maps, the metrics before and after, and ``soft_labels(ci_prob)`` / ``export(path)``.

    Raises
    ------
    DataError
        If the gold anchored the fit, names items or classes the source does not have, or has
        fewer than 20 items (or fewer than ``folds``); if the source is soft labels with
        intervals but no draws.
    ValueError
        If ``method``, ``folds`` or ``fraction`` is invalid.

    Examples
    --------
    >>> import bayeslabels as bl
    >>> ann = bl.datasets.load("duchenne")
    >>> fit = bl.fit(ann, method="em", use_gold=False)  # gold held out of the fit
    >>> cal = bl.calibrate(fit, ann.gold, method="temperature")
    >>> cal
    <Calibration temperature on 159 gold items: T = 7.69>
    >>> round(cal.value("ece", "before"), 3), round(cal.value("ece", "after"), 3)
    (0.204, 0.075)
    >>> bl.calibrate(fit, ann.gold, method="top-label").overall.describe()
    'c ↦ σ(0.0773 · logit c +0.585)'
    >>> bl.calibrate(fit, ann.gold, method="vector").overall.describe()
    'scale [0.144, 0.103], bias [0.27, -0.27]'
    """
    if method is None:
        method = default_method(source)
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if isinstance(folds, bool) or not isinstance(folds, int | np.integer) or folds < 2:
        raise ValueError(f"folds must be an integer of at least 2, got {folds!r}")
    if fraction is not None and not (0.0 < fraction <= 1.0):
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")
    fit = _as_fit(source)
    if fit is not None:
        before = fit.soft_labels(ci_prob=0.9)
    else:
        before = as_soft_labels(source)
        if before.ci_prob is not None:
            raise DataError(
                "calibrate: these soft labels have credible intervals but no posterior draws to "
                "recalibrate them with: pass the Fit itself (bl.load(directory) for a saved one), or "
                "point-estimate soft labels"
            )
    codes = _gold(gold, before)
    known = np.flatnonzero(codes >= 0)
    if before.anchored is not None and before.anchored[known].any():
        n = int(before.anchored[known].sum())
        raise DataError(
            f"calibrate: {n} of the gold items anchored the fit (used_gold=True: gold fixed their "
            "class), so calibrating on that gold is leakage; fit with use_gold=False (gold held out) "
            "and calibrate on it"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(known)
    n_used = len(order) if fraction is None else round(fraction * len(order))
    used, held = order[:n_used], order[n_used:]
    if n_used < max(MIN_GOLD, folds):
        share = "" if fraction is None else f" (fraction {fraction:g} of {len(known)})"
        raise DataError(
            f"calibrate: {n_used} gold items{share} are too few to fit and cross-fit a calibration map: "
            f"give at least {max(MIN_GOLD, folds)} (and at least one per fold; folds={folds})"
        )
    fold = np.full(before.n_items, -1, dtype=np.int64)
    fold[used] = np.arange(n_used) % folds
    log_used = _log_fitted_on(fit, before, used, seed)  # (draws,) n_used × K
    fold_maps = tuple(
        fit_map(log_used[..., fold[used] != f, :], codes[used[fold[used] != f]], method) for f in range(folds)
    )
    overall = fit_map(log_used, codes[used], method)
    maps = (*fold_maps, overall)
    after, _, _ = _calibrated(source if fit is not None else None, before, maps, fold, ci_prob=0.9)
    rows = _metric_rows(before, after, codes, used, CROSS_FITTED)
    if len(held):
        rows += _metric_rows(before, after, codes, held, HELD_OUT)
    return Calibration(
        method=method,
        overall=overall,
        fold_maps=fold_maps,
        fold=fold,
        folds=int(folds),
        seed=seed,
        fraction=fraction,
        n_gold=int(n_used),
        n_held_out=len(held),
        metrics=pd.DataFrame(rows, columns=["gold", "metric", "n", "before", "after"]),
        uncalibrated=before,
        source=fit if fit is not None else before,
    )


def default_method(source: Any) -> CalibrationMethod:
    """The map `calibrate` fits when none is named: ``"top-label"`` for a `FamilyAverage`,
    ``"temperature-floor"`` for anything else.

    ``--model auto``'s average is self-calibrated member by member, so its labels are not
    saturated near 1 (what the floor is for); what is left is their shape, too soft in the
    middle and too sure at the top, which Platt scaling of the label's probability bends and a
    temperature does not. Calibrated on 20 % of the gold, scored on the other 80 % (mean of 10
    splits, ``benchmarks/results/calibration_shipped_{1,2,3}.md``), top-label's ECE was the lower
    on every data set (rte 0.019 vs 0.023, bluebirds 0.056 vs 0.067, duchenne 0.100 vs 0.106, dog
    0.035 vs 0.038, music_genre 0.046 vs 0.064) and its log-loss lower or equal on all but duchenne
    (0.536 vs 0.532). Single fits keep the floor: EM's point estimates and a family's posterior
    are saturated near 1 where they err (bluebirds, EM on 20 % of the gold: log-loss 0.472 under
    top-label, 0.330 under temperature-floor).

    Parameters
    ----------
    source : Fit, FamilyAverage, SoftLabels or anything `calibrate` takes

    Returns
    -------
    str

    Examples
    --------
    >>> import bayeslabels as bl
    >>> from bayeslabels.calibrate import default_method
    >>> ann = bl.datasets.load("bluebirds")
    >>> fits = {m: bl.fit(ann, method="em", model=m) for m in ("dawid-skene", "one-coin")}
    >>> default_method(fits["dawid-skene"]), default_method(bl.FamilyAverage.of(fits))
    ('temperature-floor', 'top-label')
    """
    return AVERAGE_CALIBRATION_METHOD if isinstance(source, FamilyAverage) else DEFAULT_CALIBRATION_METHOD


def _as_fit(source: Any) -> Fit | FamilyAverage | None:
    """``source`` if it is a `Fit` or a `FamilyAverage` (posterior draws to map), else None."""
    return source if isinstance(source, Fit | FamilyAverage) else None


def _log_fitted_on(
    fit: Fit | FamilyAverage | None, before: SoftLabels, items: np.ndarray, seed: int
) -> np.ndarray:
    """What the maps are fitted on for ``items``: the log class probabilities of each posterior
    draw, (draws × items × K; at most `MAX_FIT_DRAWS`, drawn with ``seed``), for a Fit with
    draws; the log of the point probabilities (items × K) otherwise."""
    if fit is None or before.ci_prob is None:
        return _log(before.mean[items])
    parts, positions = [], []
    for rows, probs in fit.item_probability_draws():
        inside = (items >= rows.start) & (items < rows.stop)
        if inside.any():
            parts.append(probs[:, items[inside] - rows.start])
            positions.append(np.flatnonzero(inside))
    draws = np.concatenate(parts, axis=1)[:, np.argsort(np.concatenate(positions))]
    if len(draws) > MAX_FIT_DRAWS:
        keep = np.sort(np.random.default_rng(seed).choice(len(draws), MAX_FIT_DRAWS, replace=False))
        draws = draws[keep]
    return _log(draws)


def _gold(gold: Any, soft: SoftLabels) -> np.ndarray:
    """Gold code per item of ``soft`` (-1 unknown): evaluate's gold handling, and a path read by
    `ingest.read_gold`."""
    if isinstance(gold, str | os.PathLike):
        gold = read_gold(gold)
    targets = Targets(
        pd.Index(soft.items, dtype=object), pd.Index(soft.classes, dtype=object), soft.mean, soft.label_code
    )
    try:
        return _gold_codes(gold, targets)
    except DataError as exc:
        message = str(exc).replace("evaluate targets and gold", "calibrate soft labels on gold")
        raise DataError(f"calibrate: {message}".replace("the targets", "the soft labels")) from None


def _apply(maps: tuple[CalibrationMap, ...], fold: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """``probabilities`` (..., items, K) with each item's map (``maps[fold]``, -1 the overall)."""
    out = np.empty_like(probabilities)
    for f in np.unique(fold):  # loop over folds (at most folds + 1)
        rows = fold == f
        out[..., rows, :] = maps[f].apply(probabilities[..., rows, :])
    return out


def _calibrated(
    source: Fit | FamilyAverage | SoftLabels | None,
    before: SoftLabels,
    maps: tuple[CalibrationMap, ...],
    fold: np.ndarray,
    ci_prob: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibrated mean, lower and upper per item: draw by draw for a Fit with draws (summarised
    as `Fit.soft_labels` does), on the probabilities for a point estimate."""
    fit = _as_fit(source)
    if fit is None or before.ci_prob is None:
        mean = _apply(maps, fold, before.mean)
        return mean, mean, mean
    blocks: Iterable[tuple[slice, np.ndarray]] = fit.item_probability_draws()
    mean = np.empty_like(before.mean)
    lo, hi = np.empty_like(mean), np.empty_like(mean)
    tail = (1 - ci_prob) / 2
    for rows, probs in blocks:
        calibrated = _apply(maps, fold[rows], probs)
        mean[rows] = calibrated.mean(axis=0)
        lo[rows], hi[rows] = draw_quantiles(calibrated, [tail, 1 - tail])
    return mean, np.minimum(lo, mean), np.maximum(hi, mean)


def _metric_rows(
    before: SoftLabels, after: np.ndarray, codes: np.ndarray, rows: np.ndarray, gold: str
) -> list[tuple[str, str, int, float, float]]:
    """`METRICS` before and after on the gold items ``rows`` (evaluate's point estimates)."""
    subset = np.full(len(codes), -1, dtype=np.int64)
    subset[rows] = codes[rows]
    items, classes = pd.Index(before.items, dtype=object), pd.Index(before.classes, dtype=object)
    scores = []
    for probabilities, label in ((before.mean, before.label_code), (after, after.argmax(axis=1))):
        scored, _ = _scored(Targets(items, classes, probabilities, label), subset, None, N_BINS)
        scores.append(_points(scored))
    return [(gold, m, len(rows), scores[0][m], scores[1][m]) for m in METRICS]
