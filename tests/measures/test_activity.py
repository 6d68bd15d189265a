"""Service use, escalating need and recent discharge at the index date (spec tests).

Each test is a few people, their encounters, and the row each should get.
Dates are written as days before the index date: `ago(365)` is the first day
outside the 12-month window (index - 365, index]; `ago(0)` is the index date;
`ago(-1)` is the day after it, and must be ignored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import pytest
import yaml

from phm.codelists.thresholds import DischargeRule, EscalationRule, load_thresholds
from phm.measures.activity import escalation, recent_discharge, service_use
from tests.conftest import rows

INDEX = dt.date(2026, 3, 31)

ENCOUNTER_SCHEMA = {
    "encounter_id": "string",
    "person_id": "string",
    "setting": "string",
    "admission_method": "string",
    "start_datetime": "timestamp",
    "end_datetime": "timestamp",
    "provider_code": "string",
    "primary_diagnosis": "string",
    "cost_gbp": "float64",
}


def ago(days: int) -> dt.date:
    return INDEX - dt.timedelta(days=days)


def at(days: int, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(ago(days), dt.time(hour))


def population(*people: str) -> ibis.Table:
    return ibis.memtable(
        {"person_id": list(people), "ethnicity": ["Not stated"] * len(people)},
        schema={"person_id": "string", "ethnicity": "string"},
    )


def contact(person: str, setting: str, days_ago: int, cost: float | None = None) -> dict[str, Any]:
    """A contact that starts and ends on one day."""
    return _encounter(person, setting, None, at(days_ago), at(days_ago, 11), cost)


def admission(
    person: str,
    method: str,
    admitted_days_ago: int,
    discharged_days_ago: int | None,
    cost: float | None = None,
) -> dict[str, Any]:
    """An apc spell; `discharged_days_ago=None` is still in hospital."""
    end = None if discharged_days_ago is None else at(discharged_days_ago, 15)
    return _encounter(person, "apc", method, at(admitted_days_ago), end, cost)


def _encounter(
    person: str,
    setting: str,
    method: str | None,
    start: dt.datetime,
    end: dt.datetime | None,
    cost: float | None,
) -> dict[str, Any]:
    return {
        "person_id": person,
        "setting": setting,
        "admission_method": method,
        "start_datetime": start,
        "end_datetime": end,
        "provider_code": None,
        "primary_diagnosis": None,
        "cost_gbp": cost,
    }


def encounters(*items: dict[str, Any]) -> ibis.Table:
    numbered = [{**e, "encounter_id": f"e{n}"} for n, e in enumerate(items)]
    return ibis.memtable(numbered, schema=ENCOUNTER_SCHEMA)


def by_person(result: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["person_id"]: r for r in result}


# --- service_use -------------------------------------------------------------------

COUNTED = [
    "gp_consultations",
    "hub_appointments",
    "outpatient_appointments",
    "ae_attendances",
    "emergency_admissions",
    "elective_admissions",
    "mh_contacts",
    "community_contacts",
    "social_care_contacts",
]


def test_every_kind_of_contact_is_counted_in_its_window(backend: Any) -> None:
    # One of each in the last 12 months, two of each in the 12 months before.
    settings = ["gp", "hub", "op", "ae", "mh", "community", "social_care"]
    events = [contact("busy", s, 100) for s in settings]
    events += [contact("busy", s, d) for s in settings for d in (400, 500)]
    events += [admission("busy", "emergency", 50, 50), admission("busy", "elective", 60, 60)]
    events += [admission("busy", m, d, d) for m in ("emergency", "elective") for d in (400, 500)]
    events += [admission("busy", "maternity", 70, 68)]  # an admission of neither kind

    result = by_person(
        rows(backend, service_use(population("busy"), encounters(*events), INDEX), "person_id")
    )["busy"]

    assert {c: result[f"{c}_12m"] for c in COUNTED} == dict.fromkeys(COUNTED, 1)
    assert {c: result[f"{c}_prior_12m"] for c in COUNTED} == dict.fromkeys(COUNTED, 2)
    assert result["social_care_12m"] is True
    assert result["social_care_prior_12m"] is True


def test_window_boundaries_and_events_after_the_index_date(backend: Any) -> None:
    events = [
        contact("edges", "gp", 0),  # the index date: in
        contact("edges", "gp", 364),  # first day of the window: in
        contact("edges", "gp", 365),  # index - 365: out of _12m, first day of _prior_12m
        contact("edges", "gp", 729),  # last day of _prior_12m
        contact("edges", "gp", 730),  # out of both
        contact("edges", "gp", -1),  # after the index date: ignored
        contact("edges", "social_care", -1),  # ignored, so no social care
    ]
    result = rows(
        backend, service_use(population("edges"), encounters(*events), INDEX), "person_id"
    )

    assert result[0]["gp_consultations_12m"] == 2
    assert result[0]["gp_consultations_prior_12m"] == 2
    assert result[0]["social_care_contacts_12m"] == 0
    assert result[0]["social_care_12m"] is False


def test_acute_episodes_in_the_last_90_days(backend: Any) -> None:
    enc = encounters(
        contact("recent", "ae", 89),
        admission("recent", "emergency", 10, 5),
        admission("recent", "elective", 10, 10),
        contact("edge", "ae", 90),  # 90 days before: outside (index - 90, index]
        admission("edge", "emergency", 120, 100),
        contact("after", "ae", -1),  # the day after the index date
    )
    result = by_person(
        rows(backend, service_use(population("recent", "edge", "after"), enc, INDEX), "person_id")
    )
    got = {p: (r["ae_attendances_90d"], r["emergency_admissions_90d"]) for p, r in result.items()}
    assert got == {"recent": (1, 1), "edge": (0, 0), "after": (0, 0)}


def test_emergency_bed_days_count_admissions_that_started_in_the_window(backend: Any) -> None:
    events = [
        admission("five nights", "emergency", 20, 15),
        admission("day case", "emergency", 10, 10),  # an admission, but 0 bed days
        admission("still in", "emergency", 3, None),  # runs to the index date: 3
        admission("out after index", "emergency", 2, -4),  # capped at the index date: 2
        admission("elective", "elective", 20, 10),  # not an emergency
        # Started before the window, discharged inside it: all 10 days are bed days of
        # the prior 12 months, where it started, and none of the last 12 months.
        admission("spans start", "emergency", 370, 360),
        admission("admitted after index", "emergency", -1, None),
    ]
    people = population(
        "five nights",
        "day case",
        "still in",
        "out after index",
        "elective",
        "spans start",
        "admitted after index",
    )
    result = by_person(rows(backend, service_use(people, encounters(*events), INDEX), "person_id"))

    got = {
        p: (
            r["emergency_admissions_12m"],
            r["emergency_bed_days_12m"],
            r["emergency_bed_days_prior_12m"],
        )
        for p, r in result.items()
    }
    assert got == {
        "five nights": (1, 5, 0),
        "day case": (1, 0, 0),
        "still in": (1, 3, 0),
        "out after index": (1, 2, 0),
        "elective": (0, 0, 0),
        "spans start": (0, 0, 10),
        "admitted after index": (0, 0, 0),
    }


def test_days_at_home_clip_every_stay_to_the_window(backend: Any) -> None:
    events = [
        admission("five nights", "emergency", 20, 15),  # 365 - 5
        admission("day case", "elective", 30, 30),  # 0 nights
        # Admitted 370 days ago, home 360 days ago: only the nights from index - 365
        # count, 5 of the 10.
        admission("spans start", "emergency", 370, 360),
        admission("still in", "elective", 10, None),  # 10 nights to the index date
        admission("out after index", "emergency", 2, -4),  # 2 nights to the index date
        admission("whole year", "other", 800, None),  # every night of the window: 0
        # Overlapping records are summed as recorded, but never below 0 days.
        admission("overlapping", "emergency", 400, None),
        admission("overlapping", "other", 380, None),
        admission("stay before window", "emergency", 500, 400),
        contact("outpatient", "op", 10),
    ]
    people = population(
        "five nights",
        "day case",
        "spans start",
        "still in",
        "out after index",
        "whole year",
        "overlapping",
        "stay before window",
        "outpatient",
    )
    result = by_person(rows(backend, service_use(people, encounters(*events), INDEX), "person_id"))

    assert {p: r["days_at_home_12m"] for p, r in result.items()} == {
        "five nights": 360,
        "day case": 365,
        "spans start": 360,
        "still in": 355,
        "out after index": 363,
        "whole year": 0,
        "overlapping": 0,
        "stay before window": 365,
        "outpatient": 365,
    }


def test_total_cost_sums_every_encounter_in_the_window(backend: Any) -> None:
    events = [
        contact("costly", "gp", 10, cost=35.5),
        contact("costly", "op", 20, cost=150.0),
        contact("costly", "social_care", 30, cost=None),  # no cost recorded: 0
        admission("costly", "emergency", 40, 35, cost=2500.0),
        contact("costly", "ae", 400, cost=200.0),  # prior 12 months
        contact("costly", "ae", -1, cost=999.0),  # after the index date
    ]
    result = rows(
        backend, service_use(population("costly"), encounters(*events), INDEX), "person_id"
    )

    assert result[0]["total_cost_gbp_12m"] == pytest.approx(2685.5)
    assert result[0]["total_cost_gbp_prior_12m"] == pytest.approx(200.0)


def test_a_person_without_encounters_gets_zeros(backend: Any) -> None:
    people = population("nobody", "someone")
    result = by_person(
        rows(
            backend,
            service_use(people, encounters(contact("someone", "gp", 5)), INDEX),
            "person_id",
        )
    )

    nobody = result["nobody"]
    counts = {k: v for k, v in nobody.items() if k.endswith("12m") and k != "person_id"}
    assert counts == {
        **{f"{c}_12m": 0 for c in COUNTED},
        **{f"{c}_prior_12m": 0 for c in COUNTED},
        "emergency_bed_days_12m": 0,
        "emergency_bed_days_prior_12m": 0,
        "social_care_12m": False,
        "social_care_prior_12m": False,
        "total_cost_gbp_12m": 0.0,
        "total_cost_gbp_prior_12m": 0.0,
        "days_at_home_12m": 365,
    }
    assert set(result) == {"nobody", "someone"}


# --- escalation --------------------------------------------------------------------

# Eight contacts in the baseline year (index - 455, index - 90] are 8 x 90 / 365 = 1.97
# a quarter, so the default rule (recent ≥ 4 and ≥ 2.0 x 1.97 + 1 = 4.95) needs 5.
BASELINE_8 = [100, 150, 200, 250, 300, 350, 400, 450]


def gp_visits(person: str, *days_ago: int) -> list[dict[str, Any]]:
    return [contact(person, "gp", d) for d in days_ago]


def test_escalating_just_above_and_just_below_the_threshold(backend: Any) -> None:
    events = [
        *gp_visits("steady", *BASELINE_8, 10, 20, 30, 40),  # 4 recent: below 4.95
        *gp_visits("rising", *BASELINE_8, 10, 20, 30, 40, 50),  # 5 recent: above
        *gp_visits("new, three", 10, 20, 30),  # baseline 0, but under the minimum of 4
        *gp_visits("new, four", 10, 20, 30, 40),  # baseline 0: 4 ≥ 4 and ≥ 1
    ]
    people = population("steady", "rising", "new, three", "new, four", "no contacts")
    result = by_person(rows(backend, escalation(people, encounters(*events), INDEX), "person_id"))

    assert {p: (r["recent_contacts_90d"], r["escalating"]) for p, r in result.items()} == {
        "steady": (4, False),
        "rising": (5, True),
        "new, three": (3, False),
        "new, four": (4, True),
        "no contacts": (0, False),
    }
    assert result["rising"]["baseline_contacts_per_90d"] == pytest.approx(8 * 90 / 365)
    assert result["no contacts"]["baseline_contacts_per_90d"] == 0.0


def test_escalation_counts_gp_outpatient_ae_and_emergency_admissions_only(backend: Any) -> None:
    events = [
        contact("mixed", "gp", 5),
        contact("mixed", "op", 6),
        contact("mixed", "ae", 7),
        admission("mixed", "emergency", 8, 4),
        contact("mixed", "hub", 9),  # not counted
        contact("mixed", "mh", 9),  # not counted
        contact("mixed", "community", 9),  # not counted
        contact("mixed", "social_care", 9),  # not counted
        admission("mixed", "elective", 9, 9),  # not counted
        contact("mixed", "gp", 0),  # the index date: recent
        contact("mixed", "gp", 90),  # index - 90: baseline, not recent
        contact("mixed", "gp", 454),  # last day of the baseline
        contact("mixed", "gp", 455),  # before the baseline: ignored
        contact("mixed", "gp", -1),  # after the index date: ignored
    ]
    result = rows(backend, escalation(population("mixed"), encounters(*events), INDEX), "person_id")

    assert result[0]["recent_contacts_90d"] == 5
    assert result[0]["baseline_contacts_per_90d"] == pytest.approx(2 * 90 / 365)
    assert result[0]["escalating"] is True


def test_escalation_thresholds_come_from_the_rule(backend: Any) -> None:
    events = gp_visits("rising", *BASELINE_8, 10, 20, 30, 40, 50)
    strict = EscalationRule(min_recent_contacts=6, ratio=2.0, margin=1)
    result = rows(
        backend, escalation(population("rising"), encounters(*events), INDEX, strict), "person_id"
    )
    assert result[0]["escalating"] is False


def test_a_thresholds_file_is_checked_then_applied(backend: Any, tmp_path: Any) -> None:
    shipped = load_thresholds().model_dump(mode="json")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump({**shipped, "escalation": {**shipped["escalation"], "ratio": -1}})
    )
    with pytest.raises(ValueError, match=r"escalation\.ratio"):
        load_thresholds(bad)

    lenient = tmp_path / "lenient.yaml"
    lenient.write_text(
        yaml.safe_dump({**shipped, "escalation": {**shipped["escalation"], "ratio": 1.0}})
    )
    rule = load_thresholds(lenient).escalation
    events = gp_visits("steady", *BASELINE_8, 10, 20, 30, 40)  # 4 ≥ 1.0 x 1.97 + 1
    result = rows(
        backend, escalation(population("steady"), encounters(*events), INDEX, rule), "person_id"
    )
    assert result[0]["escalating"] is True


# --- recent_discharge --------------------------------------------------------------


def test_recent_emergency_discharge(backend: Any) -> None:
    events = [
        admission("last week", "emergency", 12, 7),
        admission("29 days ago", "emergency", 35, 29),
        admission("30 days ago", "emergency", 35, 30),  # index - 30: outside
        admission("on the index date", "emergency", 3, 0),
        admission("elective", "elective", 10, 5),
        admission("still in", "emergency", 5, None),
        admission("out after index", "emergency", 5, -1),
        admission("twice", "emergency", 200, 190),
        admission("twice", "emergency", 60, 55),
    ]
    people = population(
        "last week",
        "29 days ago",
        "30 days ago",
        "on the index date",
        "elective",
        "still in",
        "out after index",
        "twice",
        "no admissions",
    )
    result = by_person(
        rows(backend, recent_discharge(people, encounters(*events), INDEX), "person_id")
    )

    assert {
        p: (r["recent_discharge"], r["last_emergency_discharge"]) for p, r in result.items()
    } == {
        "last week": (True, ago(7)),
        "29 days ago": (True, ago(29)),
        "30 days ago": (False, ago(30)),
        "on the index date": (True, ago(0)),
        "elective": (False, None),
        "still in": (False, None),
        "out after index": (False, None),
        "twice": (False, ago(55)),
        "no admissions": (False, None),
    }


def test_reablement_is_support_after_a_recent_emergency_discharge(backend: Any) -> None:
    events = [
        # community contact ten days after discharge: supported at home
        admission("community after", "emergency", 25, 20),
        contact("community after", "community", 10),
        # social care on the discharge day itself counts
        admission("same day", "emergency", 10, 5),
        contact("same day", "social_care", 5),
        # support before the discharge is not re-ablement
        admission("before", "emergency", 30, 20),
        contact("before", "social_care", 25),
        # discharged 41 days ago (inside the 42 days), supported the day after
        admission("41 days", "emergency", 45, 41),
        contact("41 days", "community", 40),
        # discharged 42 days ago (outside), even though supported since
        admission("42 days", "emergency", 45, 42),
        contact("42 days", "community", 10),
        # a GP visit is not re-ablement support
        admission("gp only", "emergency", 20, 15),
        contact("gp only", "gp", 10),
        # elective stays do not count
        admission("elective", "elective", 20, 15),
        contact("elective", "community", 10),
        # support after the index date is not yet known
        admission("support later", "emergency", 20, 15),
        contact("support later", "community", -1),
    ]
    people = population(
        "community after",
        "same day",
        "before",
        "41 days",
        "42 days",
        "gp only",
        "elective",
        "support later",
        "no admissions",
    )
    result = by_person(
        rows(backend, recent_discharge(people, encounters(*events), INDEX), "person_id")
    )

    assert {p: r["in_reablement"] for p, r in result.items()} == {
        "community after": True,
        "same day": True,
        "before": False,
        "41 days": True,
        "42 days": False,
        "gp only": False,
        "elective": False,
        "support later": False,
        "no admissions": False,
    }


def test_discharge_windows_come_from_the_rule(backend: Any) -> None:
    events = [admission("a fortnight", "emergency", 20, 14), contact("a fortnight", "community", 2)]
    short = DischargeRule(discharge_days=7, reablement_days=7)
    result = rows(
        backend,
        recent_discharge(population("a fortnight"), encounters(*events), INDEX, short),
        "person_id",
    )
    assert result == [
        {
            "person_id": "a fortnight",
            "recent_discharge": False,
            "last_emergency_discharge": ago(14),
            "in_reablement": False,
        }
    ]
