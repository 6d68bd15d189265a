"""Explanations: what raised a score most, in words, from a toy model we can reason about."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from phm.risk.explain import NONE_RAISED, contributions, explanations, typical_values
from phm.risk.features import FEATURES

TYPICAL = {name: 0.0 for name in FEATURES} | {
    "age": 40.0,
    "imd_decile": 4.0,
    "years_registered": 8.0,
    "days_at_home_12m": 365.0,
    "days_since_emergency_discharge": math.nan,
    "efi_deficits": math.nan,
    "bmi": 26.0,
    "pam_level": math.nan,
}
COLUMN = {name: k for k, name in enumerate(FEATURES)}


def _predict(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """A logistic model: 0.5 per emergency admission, 1.2 for heart failure, age, eFI, BMI."""
    v = np.nan_to_num(values)
    lp = (
        -3.0
        + 0.5 * v[:, COLUMN["emergency_admissions_12m"]]
        + 1.2 * v[:, COLUMN["heart_failure"]]
        + 0.03 * (v[:, COLUMN["age"]] - 40)
        + 0.2 * v[:, COLUMN["efi_deficits"]]
        - 0.05 * (v[:, COLUMN["bmi"]] - 26)  # lower BMI raises risk in this toy model
    )
    return np.asarray(1 / (1 + np.exp(-lp)))


def _people(*changes: dict[str, float]) -> pd.DataFrame:
    rows = [TYPICAL | change for change in changes]
    index = pd.Index([f"P{i}" for i in range(len(rows))], name="person_id")
    return pd.DataFrame(rows, index=index)[list(FEATURES)].astype("float64")


def _explain(frame: pd.DataFrame) -> list[str]:
    predicted = _predict(frame.to_numpy(np.float64))
    return explanations(frame, contributions(frame, predicted, _predict, TYPICAL))


def test_the_largest_contributions_are_named_largest_first() -> None:
    frame = _people(
        {"emergency_admissions_12m": 3, "days_since_emergency_discharge": 40, "heart_failure": 1},
        {},
        {"age": 88, "efi_deficits": 10},
    )
    assert _explain(frame) == [
        "3 emergency admissions in the last year; heart failure",
        NONE_RAISED,
        "frailty (eFI moderate, 10 deficits); aged 88",
    ]


def test_a_healthy_or_missing_value_is_never_a_reason() -> None:
    # A BMI of 20 raises this toy model's score but is not on the adverse side;
    # a missing BMI is not a reason either.
    frame = _people({"bmi": 20}, {"bmi": math.nan}, {"bmi": 17})
    assert _explain(frame) == [NONE_RAISED, NONE_RAISED, "BMI 17"]


def test_at_most_three_reasons() -> None:
    frame = _people(
        {
            "emergency_admissions_12m": 2,
            "days_since_emergency_discharge": 10,
            "recent_discharge": 1,
            "heart_failure": 1,
            "age": 90,
            "efi_deficits": 14,
        }
    )
    assert _explain(frame) == ["frailty (eFI severe, 14 deficits); aged 90; heart failure"]


def test_batches_give_the_same_contributions() -> None:
    frame = _people(*({"age": 60.0 + k, "heart_failure": float(k % 2)} for k in range(30)))
    predicted = _predict(frame.to_numpy(np.float64))
    whole = contributions(frame, predicted, _predict, TYPICAL)
    batched = contributions(frame, predicted, _predict, TYPICAL, batch_rows=7)
    np.testing.assert_array_equal(whole, batched)


def test_typical_values_are_medians_or_missing() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 9.0], "b": [np.nan, np.nan, 3.0]})
    typical = typical_values(frame)
    assert typical["a"] == 2.0 and math.isnan(typical["b"])
