"""Maternity and infancy at the index date (spec tests).

Dates are days before the index date: the maternal window is
(index - 308 days, index], so `ago(307)` is inside and `ago(308)` is not.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from phm.engine import rows_table
from phm.measures.maternity import maternity
from tests.conftest import rows

INDEX = dt.date(2026, 3, 31)

EVENT_SCHEMA = {
    "person_id": "string",
    "event_date": "date",
    "code_system": "string",
    "code": "string",
}
ENCOUNTER_SCHEMA = {
    "encounter_id": "string",
    "person_id": "string",
    "setting": "string",
    "admission_method": "string",
    "start_datetime": "timestamp",
    "end_datetime": "timestamp",
}


def ago(days: int) -> dt.date:
    return INDEX - dt.timedelta(days=days)


def event(person: str, days_ago: int, system: str, code: str) -> dict[str, Any]:
    return {"person_id": person, "event_date": ago(days_ago), "code_system": system, "code": code}


def admission(person: str, method: str, days_ago: int) -> dict[str, Any]:
    start = dt.datetime.combine(ago(days_ago), dt.time(10))
    return {
        "encounter_id": f"{person}-{method}-{days_ago}",
        "person_id": person,
        "setting": "apc",
        "admission_method": method,
        "start_datetime": start,
        "end_datetime": start + dt.timedelta(days=2),
    }


# person: (age, expected maternity, expected infant)
EXPECTED = {
    "booked": (30, True, False),  # SNOMED 77386006 100 days ago
    "window_edge_in": (30, True, False),  # 77386006 307 days ago
    "window_edge_out": (30, False, False),  # 77386006 308 days ago
    "future_code": (30, False, False),  # coded after the index date
    "urine_test": (25, True, False),  # 169560008, a subtype
    "delivered": (32, True, False),  # maternity admission 200 days ago
    "delivered_long_ago": (33, False, False),  # maternity admission 400 days ago
    "emergency_only": (34, False, False),  # an emergency admission is not maternity
    "hospital_coded": (28, True, False),  # ICD-10 O80.9 (prefix O)
    "outcome_of_delivery": (29, True, False),  # ICD-10 Z37.0
    "pregnancy_test": (27, False, False),  # ICD-10 Z32.1: a test, not a pregnancy
    "other_system": (27, False, False),  # the SNOMED code under another system
    "newborn": (0, False, True),
    "one_year_old": (1, False, False),
}
EVENTS = [
    event("booked", 100, "snomed", "77386006"),
    event("window_edge_in", 307, "snomed", "77386006"),
    event("window_edge_out", 308, "snomed", "77386006"),
    event("future_code", -1, "snomed", "77386006"),
    event("urine_test", 20, "snomed", "169560008"),
    event("hospital_coded", 10, "icd10", "O809"),
    event("outcome_of_delivery", 10, "icd10", "Z370"),
    event("pregnancy_test", 10, "icd10", "Z321"),
    event("other_system", 10, "ctv3", "77386006"),
]
ENCOUNTERS = [
    admission("delivered", "maternity", 200),
    admission("delivered_long_ago", "maternity", 400),
    admission("emergency_only", "emergency", 50),
]


def test_maternity_and_infant(backend: Any) -> None:
    population = rows_table(
        [{"person_id": p, "age": age} for p, (age, _, _) in EXPECTED.items()],
        {"person_id": "string", "age": "int64"},
    )
    expr = maternity(
        population,
        rows_table(ENCOUNTERS, ENCOUNTER_SCHEMA),
        rows_table(EVENTS, EVENT_SCHEMA),
        INDEX,
    )
    result = {
        r["person_id"]: (r["maternity"], r["infant"]) for r in rows(backend, expr, "person_id")
    }
    assert result == {p: (m, i) for p, (_, m, i) in EXPECTED.items()}


def test_no_events_no_one_maternal(backend: Any) -> None:
    population = rows_table(
        [{"person_id": "x", "age": 30}], {"person_id": "string", "age": "int64"}
    )
    expr = maternity(
        population, rows_table([], ENCOUNTER_SCHEMA), rows_table([], EVENT_SCHEMA), INDEX
    )
    assert rows(backend, expr, "person_id") == [
        {"person_id": "x", "maternity": False, "infant": False}
    ]
