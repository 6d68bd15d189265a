"""Patient activation, Vital 5 and housing need at the index date (spec tests).

Each test is a few people, their records, and the row each should get. Dates
are days before the index date: `ago(0)` is the index date, `ago(-1)` the day
after it (always ignored).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import pytest

from phm.codelists.thresholds import PamCutPoints, Vital5Rule, load_thresholds
from phm.measures.wellbeing import activation, housing_need, vital5
from tests.conftest import rows

INDEX = dt.date(2026, 3, 31)
FIVE_YEARS = load_thresholds().vital5.lookback_days

SYSTOLIC = "271649006"
DIASTOLIC = "271650006"
OE_SYSTOLIC = "163030003"
BMI = "60621009"
SMOKER = "77176002"
EX_SMOKER = "8517006"
NEVER_SMOKED = "266919005"
HOMELESS = "32911000"
HOUSING_UNSATISFACTORY = "105531004"
HYPERTENSION = "38341003"


def ago(days: int) -> dt.date:
    return INDEX - dt.timedelta(days=days)


def population(**ethnicity: str) -> ibis.Table:
    """People by id, each with an ONS 2021 ethnic category."""
    return ibis.memtable(
        {"person_id": list(ethnicity), "ethnicity": list(ethnicity.values())},
        schema={"person_id": "string", "ethnicity": "string"},
    )


def events(*items: tuple[str, int, str, float | None]) -> ibis.Table:
    """(person, days ago, SNOMED code, value) rows of clinical_event."""
    return ibis.memtable(
        [
            {
                "person_id": person,
                "event_date": ago(days),
                "code_system": "snomed",
                "code": code,
                "value": value,
                "unit": None,
                "source": "gp",
            }
            for person, days, code, value in items
        ],
        schema={
            "person_id": "string",
            "event_date": "date",
            "code_system": "string",
            "code": "string",
            "value": "float64",
            "unit": "string",
            "source": "string",
        },
    )


def scores(*items: tuple[str, int, str, float]) -> ibis.Table:
    """(person, days ago, instrument, score) rows of assessment."""
    return ibis.memtable(
        [
            {"person_id": p, "assessment_date": ago(d), "instrument": i, "score": s}
            for p, d, i, s in items
        ],
        schema={
            "person_id": "string",
            "assessment_date": "date",
            "instrument": "string",
            "score": "float64",
        },
    )


NO_EVENTS = events(("nobody at all", 1, HYPERTENSION, None))
NO_SCORES = scores(("nobody at all", 1, "eq5d", 0.5))


def by_person(result: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["person_id"]: r for r in result}


# --- activation --------------------------------------------------------------------


def test_pam_levels_at_the_cut_points(backend: Any) -> None:
    boundaries = {"47.0": 1, "47.1": 2, "55.1": 2, "55.2": 3, "67.0": 3, "67.1": 4, "0.0": 1}
    people = population(**dict.fromkeys(boundaries, "British"))
    pam = scores(*((p, 10, "pam", float(p)) for p in boundaries))

    result = by_person(rows(backend, activation(people, pam, INDEX), "person_id"))

    assert {p: r["pam_level"] for p, r in result.items()} == boundaries
    assert {p: r["pam_score"] for p, r in result.items()} == {p: float(p) for p in boundaries}


def test_latest_pam_and_i_statement_win(backend: Any) -> None:
    people = population(measured="British", never="British", later="British")
    records = scores(
        ("measured", 400, "pam", 80.0),
        ("measured", 30, "pam", 45.5),  # the latest on or before the index date
        ("measured", -1, "pam", 90.0),  # after the index date: ignored
        ("measured", 200, "i_statement", 70.0),
        ("measured", 0, "i_statement", 62.5),  # on the index date: counts
        ("measured", 30, "phq9", 20.0),  # another instrument
        ("later", -10, "pam", 50.0),  # only after the index date
    )

    result = by_person(rows(backend, activation(people, records, INDEX), "person_id"))

    assert result == {
        "measured": {
            "person_id": "measured",
            "pam_score": 45.5,
            "pam_date": ago(30),
            "pam_level": 1,
            "i_statement_score": 62.5,
        },
        "never": {
            "person_id": "never",
            "pam_score": None,
            "pam_date": None,
            "pam_level": None,
            "i_statement_score": None,
        },
        "later": {
            "person_id": "later",
            "pam_score": None,
            "pam_date": None,
            "pam_level": None,
            "i_statement_score": None,
        },
    }


def test_pam_cut_points_come_from_config(backend: Any) -> None:
    # The original PAM-13 bands (Hibbard 2005) put 70.0 in level 3, not 4.
    hibbard_2005 = PamCutPoints(level1_max=47.0, level2_max=55.1, level3_max=72.4)
    people = population(p="British")
    result = rows(
        backend, activation(people, scores(("p", 5, "pam", 70.0)), INDEX, hibbard_2005), "person_id"
    )
    assert result[0]["pam_level"] == 3


# --- vital5: blood pressure --------------------------------------------------------


def test_blood_pressure_latest_reading_and_threshold(backend: Any) -> None:
    people = population(
        high_systolic="British",
        high_diastolic="British",
        just_below="British",
        improved="British",
        same_day="British",
        too_old="British",
        after_index="British",
    )
    readings = events(
        ("high_systolic", 20, SYSTOLIC, 140.0),  # exactly 140: high
        ("high_systolic", 20, DIASTOLIC, 80.0),
        ("high_diastolic", 20, SYSTOLIC, 120.0),
        ("high_diastolic", 20, DIASTOLIC, 90.0),  # exactly 90: high
        ("just_below", 20, SYSTOLIC, 139.0),
        ("just_below", 20, DIASTOLIC, 89.0),
        ("improved", 300, SYSTOLIC, 170.0),  # older high reading
        ("improved", 300, DIASTOLIC, 100.0),
        ("improved", 10, OE_SYSTOLIC, 128.0),  # latest, from another code in the list
        ("improved", 10, DIASTOLIC, 78.0),
        ("same_day", 5, SYSTOLIC, 152.0),  # QOF: lowest of the latest day
        ("same_day", 5, SYSTOLIC, 136.0),
        ("same_day", 5, DIASTOLIC, 84.0),
        ("same_day", 5, DIASTOLIC, 92.0),
        ("too_old", FIVE_YEARS, SYSTOLIC, 180.0),  # index - 5 years: outside
        ("after_index", -1, SYSTOLIC, 180.0),
        ("after_index", -1, DIASTOLIC, 110.0),
    )

    result = by_person(rows(backend, vital5(people, readings, NO_SCORES, INDEX), "person_id"))

    got = {
        p: (r["systolic_bp"], r["diastolic_bp"], r["bp_recorded"], r["bp_high"])
        for p, r in result.items()
    }
    assert got == {
        "high_systolic": (140.0, 80.0, True, True),
        "high_diastolic": (120.0, 90.0, True, True),
        "just_below": (139.0, 89.0, True, False),
        "improved": (128.0, 78.0, True, False),
        "same_day": (136.0, 84.0, True, False),
        "too_old": (None, None, False, False),
        "after_index": (None, None, False, False),
    }


def test_look_back_includes_its_last_day_and_the_index_date(backend: Any) -> None:
    people = population(first_day="British", index_day="British")
    readings = events(
        ("first_day", FIVE_YEARS - 1, SYSTOLIC, 150.0),
        ("index_day", 0, BMI, 31.0),
    )
    result = by_person(rows(backend, vital5(people, readings, NO_SCORES, INDEX), "person_id"))
    assert result["first_day"]["systolic_bp"] == 150.0
    assert result["index_day"]["bmi"] == 31.0


# --- vital5: BMI and ethnicity -----------------------------------------------------


def test_obesity_threshold_depends_on_ethnicity(backend: Any) -> None:
    people = population(
        indian_28="Indian",
        indian_27_4="Indian",
        african_27_5="African",
        mixed_caribbean_28="White and Black Caribbean",
        chinese_29="Chinese",
        arab_28="Arab",
        british_28="British",
        british_30="British",
        not_stated_29="Not stated",
        other_mixed_29="Other Mixed",
    )
    bmi = {
        "indian_28": 28.0,
        "indian_27_4": 27.4,
        "african_27_5": 27.5,
        "mixed_caribbean_28": 28.0,
        "chinese_29": 29.0,
        "arab_28": 28.0,
        "british_28": 28.0,
        "british_30": 30.0,
        "not_stated_29": 29.0,
        "other_mixed_29": 29.0,
    }
    readings = events(*((p, 40, BMI, v) for p, v in bmi.items()))

    result = by_person(rows(backend, vital5(people, readings, NO_SCORES, INDEX), "person_id"))

    assert {p: r["obese"] for p, r in result.items()} == {
        "indian_28": True,
        "indian_27_4": False,
        "african_27_5": True,
        "mixed_caribbean_28": True,
        "chinese_29": True,
        "arab_28": True,
        "british_28": False,
        "british_30": True,
        "not_stated_29": False,
        "other_mixed_29": False,
    }
    assert all(r["bmi_recorded"] for r in result.values())


def test_latest_bmi_wins_and_a_code_without_a_value_is_no_reading(backend: Any) -> None:
    people = population(lost_weight="British", no_value="British")
    readings = events(
        ("lost_weight", 900, BMI, 34.0),
        ("lost_weight", 100, BMI, 26.0),
        ("no_value", 10, BMI, None),
    )
    result = by_person(rows(backend, vital5(people, readings, NO_SCORES, INDEX), "person_id"))
    assert (result["lost_weight"]["bmi"], result["lost_weight"]["obese"]) == (26.0, False)
    assert (result["no_value"]["bmi"], result["no_value"]["bmi_recorded"]) == (None, False)


# --- vital5: smoking ---------------------------------------------------------------


def test_smoking_status_from_the_latest_code(backend: Any) -> None:
    people = population(
        quit="British",
        relapsed="British",
        never="British",
        never_after_smoking="British",
        same_day="British",
        only_old_code="British",
        unknown="British",
    )
    codes = events(
        ("quit", 800, SMOKER, None),
        ("quit", 100, EX_SMOKER, None),
        ("relapsed", 800, EX_SMOKER, None),
        ("relapsed", 100, SMOKER, None),
        ("never", 100, NEVER_SMOKED, None),
        # A never-smoked code after an old smoker code (even one before the look-back)
        # is read as ex-smoker.
        ("never_after_smoking", FIVE_YEARS + 200, SMOKER, None),
        ("never_after_smoking", 50, NEVER_SMOKED, None),
        ("same_day", 30, EX_SMOKER, None),  # current wins a same-day tie
        ("same_day", 30, SMOKER, None),
        ("only_old_code", FIVE_YEARS + 1, SMOKER, None),  # outside the look-back
        ("unknown", 10, HYPERTENSION, None),
    )

    result = by_person(rows(backend, vital5(people, codes, NO_SCORES, INDEX), "person_id"))

    assert {p: (r["smoking_status"], r["smoker"]) for p, r in result.items()} == {
        "quit": ("ex", False),
        "relapsed": ("current", True),
        "never": ("never", False),
        "never_after_smoking": ("ex", False),
        "same_day": ("current", True),
        "only_old_code": (None, False),
        "unknown": (None, False),
    }


# --- vital5: alcohol and mental health ---------------------------------------------


def test_alcohol_and_mental_health_thresholds(backend: Any) -> None:
    people = population(
        drinks_5="British",
        drinks_4="British",
        cut_down="British",
        phq9_10="British",
        phq9_9="British",
        gad7_10="British",
        gad7_9="British",
    )
    records = scores(
        ("drinks_5", 20, "audit_c", 5.0),
        ("drinks_4", 20, "audit_c", 4.0),
        ("cut_down", 500, "audit_c", 9.0),
        ("cut_down", 50, "audit_c", 2.0),  # latest
        ("phq9_10", 20, "phq9", 10.0),
        ("phq9_9", 20, "phq9", 9.0),
        ("gad7_10", 20, "gad7", 10.0),
        ("gad7_9", 20, "gad7", 9.0),
        ("gad7_9", -1, "gad7", 21.0),  # after the index date
        ("phq9_9", FIVE_YEARS, "phq9", 27.0),  # outside the look-back
    )

    result = by_person(rows(backend, vital5(people, NO_EVENTS, records, INDEX), "person_id"))

    got = {
        p: (r["audit_c"], r["alcohol_risk"], r["phq9"], r["gad7"], r["mental_health_risk"])
        for p, r in result.items()
    }
    assert got == {
        "drinks_5": (5.0, True, None, None, False),
        "drinks_4": (4.0, False, None, None, False),
        "cut_down": (2.0, False, None, None, False),
        "phq9_10": (None, False, 10.0, None, True),
        "phq9_9": (None, False, 9.0, None, False),
        "gad7_10": (None, False, None, 10.0, True),
        "gad7_9": (None, False, None, 9.0, False),
    }


# --- vital5: the whole row ----------------------------------------------------------


def test_vital5_counts_recorded_and_out_of_range_factors(backend: Any) -> None:
    people = population(all_five="Pakistani", nothing="British")
    readings = events(
        ("all_five", 100, SYSTOLIC, 146.0),
        ("all_five", 100, DIASTOLIC, 88.0),
        ("all_five", 100, BMI, 28.0),
        ("all_five", 100, SMOKER, None),
    )
    records = scores(
        ("all_five", 100, "audit_c", 6.0),
        ("all_five", 100, "gad7", 12.0),
    )

    result = by_person(rows(backend, vital5(people, readings, records, INDEX), "person_id"))

    assert result["all_five"] == {
        "person_id": "all_five",
        "systolic_bp": 146.0,
        "diastolic_bp": 88.0,
        "bp_recorded": True,
        "bp_high": True,
        "bmi": 28.0,
        "bmi_recorded": True,
        "obese": True,
        "smoking_status": "current",
        "smoker": True,
        "audit_c": 6.0,
        "alcohol_risk": True,
        "phq9": None,
        "gad7": 12.0,
        "mental_health_risk": True,
        "vital5_recorded": 5,
        "vital5_out_of_range": 5,
    }
    assert result["nothing"] == {
        "person_id": "nothing",
        "systolic_bp": None,
        "diastolic_bp": None,
        "bp_recorded": False,
        "bp_high": False,
        "bmi": None,
        "bmi_recorded": False,
        "obese": False,
        "smoking_status": None,
        "smoker": False,
        "audit_c": None,
        "alcohol_risk": False,
        "phq9": None,
        "gad7": None,
        "mental_health_risk": False,
        "vital5_recorded": 0,
        "vital5_out_of_range": 0,
    }


def test_vital5_thresholds_come_from_the_rule(backend: Any) -> None:
    shipped = load_thresholds().vital5
    stricter = Vital5Rule.model_validate(
        {**shipped.model_dump(), "systolic_high": 130, "lookback_days": 365}
    )
    people = population(p="British")
    readings = events(("p", 100, SYSTOLIC, 135.0), ("p", 400, BMI, 35.0))

    result = rows(backend, vital5(people, readings, NO_SCORES, INDEX, stricter), "person_id")

    assert (result[0]["bp_high"], result[0]["bmi"], result[0]["vital5_recorded"]) == (True, None, 1)


def test_lower_bmi_ethnicities_must_be_ons_categories(backend: Any) -> None:
    shipped = load_thresholds().vital5.model_dump()
    with pytest.raises(ValueError, match="lower_bmi_ethnicities"):
        Vital5Rule.model_validate({**shipped, "lower_bmi_ethnicities": ["South Asian"]})
    # The shipped list is valid and applied on this backend.
    people = population(p="Bangladeshi")
    result = rows(
        backend, vital5(people, events(("p", 1, BMI, 27.5)), NO_SCORES, INDEX), "person_id"
    )
    assert result[0]["obese"] is True


# --- housing_need ------------------------------------------------------------------


def test_housing_need_within_two_years(backend: Any) -> None:
    people = population(
        homeless="British",
        unsatisfactory="British",
        last_day="British",
        too_old="British",
        after_index="British",
        other_code="British",
        no_records="British",
    )
    records = events(
        ("homeless", 100, HOMELESS, None),
        ("unsatisfactory", 0, HOUSING_UNSATISFACTORY, None),  # the index date counts
        ("last_day", 729, HOMELESS, None),  # first day of (index - 730, index]
        ("too_old", 730, HOMELESS, None),  # index - 730: outside
        ("after_index", -1, HOMELESS, None),
        ("other_code", 10, HYPERTENSION, None),
    )

    result = by_person(rows(backend, housing_need(people, records, INDEX), "person_id"))

    assert {p: r["housing_need"] for p, r in result.items()} == {
        "homeless": True,
        "unsatisfactory": True,
        "last_day": True,
        "too_old": False,
        "after_index": False,
        "other_code": False,
        "no_records": False,
    }
