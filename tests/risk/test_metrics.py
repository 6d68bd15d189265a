"""Discrimination, calibration and case-finding yield on small hand-made predictions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from phm.risk.metrics import auc, calibration, logit, reliability, top_count, top_yield


def test_a_perfect_ranking_has_auc_1_and_a_reversed_one_0() -> None:
    y = [0, 0, 1, 1]
    assert auc(y, [0.1, 0.2, 0.8, 0.9]).auc == 1.0
    assert auc(y, [0.9, 0.8, 0.2, 0.1]).auc == 0.0


def test_ties_count_one_half() -> None:
    assert auc([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]).auc == 0.5
    # one tied pair of four: (1 + 1 + 0.5 + 0) / 4
    assert auc([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.7]).auc == pytest.approx(0.625)


def test_auc_and_its_delong_interval_by_hand() -> None:
    # positives 0.9, 0.8, 0.6; negatives 0.7, 0.5: 5 of the 6 pairs ranked right.
    result = auc([1, 1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6, 0.5])
    assert result.auc == pytest.approx(5 / 6)
    # V10 = (1, 1, 1/2), V01 = (2/3, 1): var 1/12 and 1/18; se² = (1/12)/3 + (1/18)/2 = 1/18.
    se = math.sqrt(1 / 18)
    assert result.lower == pytest.approx(5 / 6 - 1.959963984540054 * se)
    assert result.upper == 1.0  # clipped
    assert str(result).startswith("0.833 (95% CI 0.371–1.000)")


def test_auc_agrees_with_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    y = rng.random(2000) < 0.2
    score = rng.random(2000) + 0.3 * y
    assert auc(y, score).auc == pytest.approx(roc_auc_score(y, score))


def test_auc_needs_both_outcomes() -> None:
    with pytest.raises(ValueError, match="with and without"):
        auc([1, 1], [0.2, 0.3])


def test_ppv_and_sensitivity_at_the_top() -> None:
    y = [1, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    score = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    top_20 = top_yield(y, score, 0.20)  # the top 2: one of them has the outcome
    assert (top_20.k, top_20.ppv, top_20.sensitivity) == (2, 0.5, pytest.approx(1 / 3))
    top_30 = top_yield(y, score, 0.30)  # the top 3 hold 2 of the 3 outcomes
    assert (top_30.k, top_30.ppv, top_30.sensitivity) == (
        3,
        pytest.approx(2 / 3),
        pytest.approx(2 / 3),
    )
    smallest = top_yield(y, score, 0.005)  # at least one person is flagged
    assert (smallest.k, smallest.ppv) == (1, 1.0)


def test_ties_at_the_cut_go_to_the_earlier_row() -> None:
    result = top_yield([0, 1, 0, 0], [0.5, 0.5, 0.5, 0.1], 0.25)
    assert (result.k, result.ppv) == (1, 0.0)


def test_top_counts_are_exact_shares() -> None:
    assert top_count(1000, 0.005) == 5
    assert top_count(4000, 0.05) == 200
    assert top_count(201, 0.005) == 2  # ceil(1.005)
    assert top_count(10, 0.01) == 1


def _drawn(n: int = 60_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    p = rng.uniform(0.02, 0.6, n)
    return rng.random(n) < p, p


def test_perfectly_calibrated_predictions_have_slope_1_and_intercept_0() -> None:
    y, p = _drawn()
    result = calibration(y, p)
    assert result.slope == pytest.approx(1.0, abs=0.05)
    assert result.intercept == pytest.approx(0.0, abs=0.03)


def test_overconfident_and_too_high_predictions_show_in_slope_and_intercept() -> None:
    y, p = _drawn()
    overconfident = 1 / (1 + np.exp(-2 * logit(p)))
    assert calibration(y, overconfident).slope == pytest.approx(0.5, abs=0.03)
    too_high = 1 / (1 + np.exp(-(logit(p) + 1)))
    assert calibration(y, too_high).intercept == pytest.approx(-1.0, abs=0.04)


def test_reliability_groups_are_of_equal_size_lowest_risk_first() -> None:
    y = [0, 0, 1, 0, 1, 1]
    predicted, observed, people = reliability(y, [0.1, 0.2, 0.3, 0.4, 0.8, 0.9], bins=3)
    assert people.tolist() == [2, 2, 2]
    assert predicted == pytest.approx([0.15, 0.35, 0.85])
    assert observed == pytest.approx([0.0, 0.5, 1.0])
