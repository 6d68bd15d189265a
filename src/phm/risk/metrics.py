"""How good a risk score is: discrimination, calibration and case-finding yield.

Small pure functions over arrays of outcomes (0/1) and predicted probabilities.

- AUC (the c-statistic) with DeLong's 95% confidence interval (DeLong, DeLong &
  Clarke-Pearson, Biometrics 1988;44:837-45), computed with midranks as in Sun
  & Xu, IEEE Signal Processing Letters 2014;21:1389-93.
- Calibration slope and intercept by logistic recalibration of the logit of
  the prediction (Cox, Biometrika 1958; Van Calster et al., J Clin Epidemiol
  2016;74:167-76): the slope from logit P(y) = a + b·logit(p); the intercept
  ("calibration in the large") from logit P(y) = a + logit(p), the slope fixed
  at 1. Perfect calibration: slope 1, intercept 0.
- PPV and sensitivity among the top fraction of scores, as QAdmissions and
  QMortality report them at the top 1%–20% (Hippisley-Cox & Coupland, BMJ
  2017;358:j4208, Table 5), here at the case-finding tiers 0.5%, 1% and 5%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

Array = npt.ArrayLike
Z_95 = 1.959963984540054
_EPS = 1e-12


@dataclass(frozen=True)
class Auc:
    """A c-statistic with its 95% confidence interval."""

    auc: float
    lower: float
    upper: float

    def __str__(self) -> str:
        return f"{self.auc:.3f} (95% CI {self.lower:.3f}–{self.upper:.3f})"


@dataclass(frozen=True)
class Calibration:
    """Logistic recalibration of a prediction: slope and intercept."""

    slope: float
    intercept: float


@dataclass(frozen=True)
class TopYield:
    """Case finding among the top `fraction` of scores: k people flagged."""

    fraction: float
    k: int
    ppv: float
    sensitivity: float


def _outcomes(y: Array) -> npt.NDArray[np.bool_]:
    return np.asarray(y).astype(bool)


def auc(y: Array, score: Array) -> Auc:
    """The c-statistic of `score` for outcome `y`, with DeLong's 95% CI.

    The probability that a random person with the outcome scores above a random
    person without (ties count one half): 1 for a perfect ranking, 0 for a
    reversed one, 0.5 when every score is equal.
    """
    outcome, s = _outcomes(y), np.asarray(score, dtype=np.float64)
    positive, negative = s[outcome], s[~outcome]
    m, n = len(positive), len(negative)
    if m == 0 or n == 0:
        raise ValueError("the AUC needs people with and without the outcome")
    combined = rankdata(np.concatenate([positive, negative]))
    within_positive, within_negative = rankdata(positive), rankdata(negative)
    value = float((combined[:m].sum() - m * (m + 1) / 2) / (m * n))
    v10 = (combined[:m] - within_positive) / n
    v01 = 1.0 - (combined[m:] - within_negative) / m
    s10 = float(np.var(v10, ddof=1)) if m > 1 else 0.0
    s01 = float(np.var(v01, ddof=1)) if n > 1 else 0.0
    se = math.sqrt(s10 / m + s01 / n)
    return Auc(value, max(0.0, value - Z_95 * se), min(1.0, value + Z_95 * se))


def logit(p: Array) -> npt.NDArray[np.float64]:
    """log(p / (1 - p)), with p clipped away from 0 and 1."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1 - 1e-9)
    return np.asarray(np.log(q / (1 - q)))


def _logistic_fit(
    y: npt.NDArray[np.float64], design: npt.NDArray[np.float64], offset: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Unpenalised maximum-likelihood logistic regression by Newton-Raphson."""
    beta = np.zeros(design.shape[1])
    for _ in range(100):
        eta = offset + design @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        weight = np.maximum(p * (1 - p), _EPS)
        step = np.linalg.solve(design.T @ (design * weight[:, None]), design.T @ (y - p))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def calibration(y: Array, p: Array) -> Calibration:
    """Calibration slope and intercept of predicted probabilities `p` for outcome `y`."""
    outcome = _outcomes(y).astype(np.float64)
    lp = logit(p)
    ones = np.ones((len(lp), 1))
    slope = _logistic_fit(outcome, np.column_stack([ones, lp]), np.zeros(len(lp)))[1]
    intercept = _logistic_fit(outcome, ones, lp)[0]
    return Calibration(slope=float(slope), intercept=float(intercept))


def top_count(n: int, fraction: float) -> int:
    """How many of n people the top `fraction` holds: ceil(fraction x n), at least one."""
    return max(1, math.ceil(round(fraction * n, 9)))


def top_yield(y: Array, score: Array, fraction: float) -> TopYield:
    """PPV and sensitivity when the top `fraction` of scores is flagged.

    The top k = ceil(fraction x n) scores are flagged, ties at the cut broken by
    order of input. PPV = outcomes among the flagged ÷ k; sensitivity =
    outcomes among the flagged ÷ all outcomes (0 when nobody has the outcome).
    """
    outcome, s = _outcomes(y), np.asarray(score, dtype=np.float64)
    k = top_count(len(s), fraction)
    flagged = np.argsort(-s, kind="stable")[:k]
    hits = int(outcome[flagged].sum())
    total = int(outcome.sum())
    return TopYield(fraction, k, hits / k, hits / total if total else 0.0)


def reliability(
    y: Array, p: Array, bins: int = 10
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Mean predicted and observed rate in `bins` groups of equal size by predicted risk.

    Returns (mean predicted, observed rate, people) per group, lowest risk first.
    """
    outcome, q = _outcomes(y).astype(np.float64), np.asarray(p, dtype=np.float64)
    groups = np.array_split(np.argsort(q, kind="stable"), bins)
    predicted = np.array([q[g].mean() for g in groups])
    observed = np.array([outcome[g].mean() for g in groups])
    people = np.array([len(g) for g in groups], dtype=np.int64)
    return predicted, observed, people
