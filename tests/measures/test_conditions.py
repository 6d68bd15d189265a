"""Long-term condition rules, as tiny tables: a few people, their codes, the expected flags."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis

from phm.codelists.codelist import Codelist
from phm.codelists.registry import Condition, Medication
from phm.measures.conditions import condition_flags, ltc_counts
from tests.conftest import rows

INDEX = dt.date(2026, 3, 31)
D = dt.date


def codelist(name: str, *codes: tuple[str, str]) -> Codelist:
    return Codelist(name, name, "test", "1", tuple((s, c, "") for s, c in codes))


LISTS = {
    "hyp": codelist("hyp", ("snomed", "38341003"), ("icd10", "I10")),
    "hyp_res": codelist("hyp_res", ("snomed", "162659009")),
    "ast": codelist("ast", ("snomed", "195967001")),
    "ast_drugs": codelist("ast_drugs", ("bnf", "0301")),
    "can": codelist("can", ("icd10", "C50"), ("snomed", "254837009")),
    "dep": codelist("dep", ("snomed", "35489007")),
    "smi": codelist("smi", ("snomed", "58214004")),
    "lithium": codelist("lithium", ("bnf", "0402030K0")),
}
CONDITIONS = [
    Condition(
        name="hypertension",
        label="Hypertension",
        group="physical",
        codelist="hyp",
        resolved="hyp_res",
        source="test",
    ),
    Condition(
        name="asthma",
        label="Asthma",
        group="physical",
        codelist="ast",
        min_age=6,
        medication=Medication(codelist="ast_drugs", within_days=365),
        source="test",
    ),
    Condition(
        name="cancer",
        label="Cancer (last 5 years)",
        group="physical",
        codelist="can",
        first_within_days=1826,
        source="test",
    ),
    Condition(
        name="depression",
        label="Depression",
        group="mental",
        codelist="dep",
        lookback_days=365,
        min_age=18,
        source="test",
    ),
    Condition(
        name="smi",
        label="SMI",
        group="mental",
        codelist="smi",
        medication=Medication(codelist="lithium", within_days=183, combine="or"),
        source="test",
    ),
]

#  person_id, age
PEOPLE = [("A", 70), ("B", 40), ("C", 5), ("D", 30), ("E", 50)]
#  person_id, date, system, code
EVENTS = [
    ("A", D(2010, 1, 1), "snomed", "38341003"),  # hypertension, never resolved
    ("A", D(2024, 6, 1), "icd10", "C509"),  # breast cancer in hospital (prefix C50), in 5 years
    ("A", D(2025, 6, 1), "snomed", "35489007"),  # depression in the last year
    ("B", D(2015, 1, 1), "snomed", "38341003"),
    ("B", D(2020, 1, 1), "snomed", "162659009"),  # resolved after diagnosis: off the register
    ("B", D(2015, 1, 1), "snomed", "195967001"),  # asthma, not treated in the last year
    ("B", D(2019, 1, 1), "snomed", "254837009"),  # cancer first recorded 7 years ago
    ("B", D(2025, 1, 1), "snomed", "254837009"),  # ... recorded again: still not "first in 5 years"
    ("C", D(2024, 1, 1), "snomed", "195967001"),  # asthma at 5: below the register's age
    ("D", D(2020, 1, 1), "snomed", "38341003"),
    ("D", D(2021, 1, 1), "snomed", "162659009"),
    ("D", D(2023, 1, 1), "snomed", "38341003"),  # re-diagnosed after resolution: back on
    ("D", D(2024, 1, 1), "snomed", "195967001"),
    ("D", D(2025, 3, 31), "snomed", "35489007"),  # 365 days before index: outside the year
    ("E", D(2026, 4, 1), "snomed", "38341003"),  # after the index date: ignored
]
#  person_id, issue date, system, code
MEDICATIONS = [
    ("D", D(2025, 11, 1), "bnf", "0301011R0AAAAAA"),  # salbutamol inhaler in the last year
    ("E", D(2026, 1, 1), "bnf", "0402030K0AAABAB"),  # lithium, no SMI code: SMI by treatment
    ("C", D(2026, 1, 1), "bnf", "0301011R0"),
]


def tables() -> tuple[ibis.Table, ibis.Table, ibis.Table]:
    population = ibis.memtable(
        {"person_id": [p for p, _ in PEOPLE], "age": [a for _, a in PEOPLE]},
        schema={"person_id": "string", "age": "int64"},
    )
    event_schema = {
        "person_id": "string",
        "event_date": "date",
        "code_system": "string",
        "code": "string",
    }
    events = ibis.memtable(
        [dict(zip(event_schema, e, strict=True)) for e in EVENTS], schema=event_schema
    )
    med_schema = {
        "person_id": "string",
        "issue_date": "date",
        "code_system": "string",
        "code": "string",
    }
    meds = ibis.memtable(
        [dict(zip(med_schema, m, strict=True)) for m in MEDICATIONS], schema=med_schema
    )
    return population, events, meds


def flags(backend: Any) -> dict[str, dict[str, Any]]:
    population, events, meds = tables()
    expr = ltc_counts(
        condition_flags(population, events, meds, CONDITIONS, LISTS, INDEX), CONDITIONS
    )
    return {r["person_id"]: r for r in rows(backend, expr, "person_id")}


def test_condition_flags(backend: Any) -> None:
    result = flags(backend)
    names = [c.name for c in CONDITIONS]
    present = {p: {n for n in names if result[p][n]} for p in result}
    assert present == {
        "A": {"hypertension", "cancer", "depression"},
        "B": set(),
        "C": set(),
        "D": {"hypertension", "asthma"},
        "E": {"smi"},
    }


def test_first_dates(backend: Any) -> None:
    result = flags(backend)
    assert result["A"]["hypertension_first_date"] == D(2010, 1, 1)
    assert result["A"]["cancer_first_date"] == D(2024, 6, 1)
    assert result["D"]["hypertension_first_date"] == D(2020, 1, 1)
    assert result["E"]["smi_first_date"] == D(2026, 1, 1)  # from the first qualifying issue
    assert result["B"]["hypertension_first_date"] is None


def test_counts_and_physical_mental(backend: Any) -> None:
    result = flags(backend)
    assert {p: r["ltc_count"] for p, r in result.items()} == {
        "A": 3,
        "B": 0,
        "C": 0,
        "D": 2,
        "E": 1,
    }
    assert [p for p, r in result.items() if r["ltc_3plus"]] == ["A"]
    assert not any(r["ltc_5plus"] for r in result.values())
    assert [p for p, r in result.items() if r["physical_mental"]] == ["A"]
