"""Each kind of bad value, as tiny tables; every case runs on DuckDB and PySpark."""

from __future__ import annotations

from typing import Any

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phm.schema import TABLES, validate
from phm.schema.validate import duplicate_keys
from tests.conftest import rows

EVENT = TABLES["clinical_event"]
ENCOUNTER = TABLES["encounter"]
GOOD_EVENT = {
    "person_id": "P1",
    "event_date": "2025-01-31",
    "code_system": "snomed",
    "code": "38341003",
    "value": None,
    "unit": None,
    "source": "gp",
}


def source(table: Any, records: list[dict[str, Any]]) -> Any:
    data = {c: [r.get(c) for r in records] for c in table.column_names}
    data["_line"] = list(range(2, len(records) + 2))
    return ibis.memtable(
        data, schema={**{c: "string" for c in table.column_names}, "_line": "int64"}
    )


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"person_id": None}, "person_id", "missing required value"),
        ({"event_date": "31/01/2025"}, "event_date", "not a date (YYYY-MM-DD)"),
        ({"event_date": "2025-02-30"}, "event_date", "not a date (YYYY-MM-DD)"),
        ({"code_system": "icd9"}, "code_system", "not one of snomed, icd10, opcs4, ctv3, read2"),
        ({"value": "high"}, "value", "not a number"),
        ({"source": "GP"}, "source", "not one of"),
    ],
)
def test_each_kind_of_bad_value_is_rejected_with_its_reason(
    backend: Any, change: dict[str, str | None], field: str, reason: str
) -> None:
    checked = validate(EVENT, source(EVENT, [GOOD_EVENT, {**GOOD_EVENT, **change}]), "e.csv")
    assert [r["_line"] for r in rows(backend, checked.accepted, "_line")] == [2]
    [reject] = rows(backend, checked.rejects, "line")
    assert reject["line"] == 3 and reject["field"] == field and reject["source_file"] == "e.csv"
    assert reject["reason"].startswith(reason)
    assert reject["outcome"] == "row rejected"


def test_good_values_are_typed(backend: Any) -> None:
    checked = validate(EVENT, source(EVENT, [{**GOOD_EVENT, "value": "7.5"}]), "e.csv")
    [row] = rows(backend, checked.accepted, "_line")
    assert str(row["event_date"]) == "2025-01-31" and row["value"] == 7.5


def test_one_reject_row_per_failed_field(backend: Any) -> None:
    bad = {**GOOD_EVENT, "event_date": "yesterday", "source": "pharmacy"}
    checked = validate(EVENT, source(EVENT, [bad]), "e.csv")
    assert sorted(r["field"] for r in rows(backend, checked.rejects, "field")) == [
        "event_date",
        "source",
    ]


def test_int_and_range_checks(backend: Any) -> None:
    table = TABLES["hub_capacity"]
    good = {"hub": "North hub", "date": "2025-01-01", "offered": "180", "booked": "81.0"}
    checked = validate(
        table,
        source(table, [good, {**good, "offered": "-1"}, {**good, "booked": "80.5"}]),
        "hub.csv",
    )
    [row] = rows(backend, checked.accepted, "_line")
    assert row["booked"] == 81
    assert [(r["field"], r["reason"]) for r in rows(backend, checked.rejects, "line")] == [
        ("offered", "below the minimum 0"),
        ("booked", "not a whole number"),
    ]


ADMISSION = {
    "encounter_id": "E1",
    "person_id": "P1",
    "setting": "apc",
    "admission_method": "emergency",
    "start_datetime": "2025-01-01T10:00:00",
    "end_datetime": "2025-01-04 09:30:00",
    "provider_code": "RJ1",
    "primary_diagnosis": "J441",
    "cost_gbp": "2500",
}


def test_rules_across_fields(backend: Any) -> None:
    records = [
        ADMISSION,
        {**ADMISSION, "encounter_id": "E2", "end_datetime": "2024-12-31T00:00:00"},
        {**ADMISSION, "encounter_id": "E3", "admission_method": None},
        {**ADMISSION, "encounter_id": "E4", "setting": "gp", "admission_method": None},
    ]
    checked = validate(ENCOUNTER, source(ENCOUNTER, records), "enc.csv")
    assert [r["encounter_id"] for r in rows(backend, checked.accepted, "_line")] == ["E1", "E4"]
    assert [r["reason"] for r in rows(backend, checked.rejects, "line")] == [
        "end_datetime is before start_datetime",
        "admission_method is required for apc encounters",
    ]


def test_later_duplicates_of_a_key_are_rejected_naming_the_first(backend: Any) -> None:
    records = [ADMISSION, {**ADMISSION, "cost_gbp": "1"}, {**ADMISSION, "encounter_id": "E2"}]
    checked = validate(ENCOUNTER, source(ENCOUNTER, records), "enc.csv")
    deduped = duplicate_keys(ENCOUNTER, checked.accepted, "enc.csv", list(ENCOUNTER.column_names))
    assert [r["_line"] for r in rows(backend, deduped.accepted, "_line")] == [2, 4]
    [reject] = rows(backend, deduped.rejects, "line")
    assert reject["line"] == 3 and reject["reason"] == "duplicate key, first seen at line 2"
    assert '"cost_gbp": "1.0"' in reject["raw"]


def test_raw_row_is_json_with_quotes_escaped(backend: Any) -> None:
    import json

    bad = {**GOOD_EVENT, "code": 'he said "no" \\ twice', "source": "??"}
    [reject] = rows(backend, validate(EVENT, source(EVENT, [bad]), "e.csv").rejects, "line")
    assert json.loads(reject["raw"])["code"] == bad["code"]


text = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["2025-01-01", "gp", "1.5", ""]))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.fixed_dictionaries({c: text for c in EVENT.column_names}), max_size=8))
def test_any_input_partitions_into_accepted_and_rejected(records: list[dict[str, Any]]) -> None:
    """No input crashes validation, and every row is either loaded or rejected, never both."""
    con = ibis.duckdb.connect()
    cleaned = [
        {k: (v.strip() or None) if isinstance(v, str) else v for k, v in r.items()} for r in records
    ]
    checked = validate(EVENT, source(EVENT, cleaned), "e.csv")
    accepted = {r["_line"] for r in rows(con, checked.accepted, "_line")} if records else set()
    rejected = {r["line"] for r in rows(con, checked.rejects, "line")} if records else set()
    assert accepted.isdisjoint(rejected)
    assert accepted | rejected == set(range(2, len(records) + 2))
