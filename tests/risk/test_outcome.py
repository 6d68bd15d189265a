"""The outcome window: an emergency admission starting in (index, index + 365 days]."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis

from phm.risk.outcome import emergency_admission_within
from tests.conftest import rows
from tests.measures.test_activity import ENCOUNTER_SCHEMA

INDEX = dt.date(2025, 3, 31)


def _encounter(person: str, setting: str, method: str | None, day: dt.date) -> dict[str, Any]:
    start = dt.datetime.combine(day, dt.time(23, 30))
    return {
        "encounter_id": f"{person}-{setting}-{day}",
        "person_id": person,
        "setting": setting,
        "admission_method": method,
        "start_datetime": start,
        "end_datetime": start + dt.timedelta(days=3),
        "provider_code": None,
        "primary_diagnosis": None,
        "cost_gbp": None,
    }


def after(days: int) -> dt.date:
    return INDEX + dt.timedelta(days=days)


ENCOUNTERS = [
    _encounter("on-index", "apc", "emergency", after(0)),  # history, not outcome
    _encounter("next-day", "apc", "emergency", after(1)),
    _encounter("last-day", "apc", "emergency", after(365)),
    _encounter("too-late", "apc", "emergency", after(366)),
    _encounter("elective", "apc", "elective", after(30)),
    _encounter("ae-only", "ae", None, after(30)),
    _encounter("no-method", "apc", None, after(30)),
    _encounter("two", "apc", "emergency", after(-10)),
    _encounter("two", "apc", "emergency", after(100)),
]


def test_window_is_after_the_index_date_up_to_and_including_day_365(backend: Any) -> None:
    encounter = ibis.memtable(ENCOUNTERS, schema=ENCOUNTER_SCHEMA)
    got = rows(backend, emergency_admission_within(encounter, INDEX), "person_id")
    assert got == [
        {"person_id": "last-day", "outcome": True},
        {"person_id": "next-day", "outcome": True},
        {"person_id": "on-index", "outcome": False},
        {"person_id": "too-late", "outcome": False},
        {"person_id": "two", "outcome": True},
    ]


def test_a_shorter_window(backend: Any) -> None:
    encounter = ibis.memtable(ENCOUNTERS, schema=ENCOUNTER_SCHEMA)
    got = rows(backend, emergency_admission_within(encounter, INDEX, 90), "person_id")
    assert {r["person_id"] for r in got if r["outcome"]} == {"next-day"}
