"""The loader's one-pass checks say what phm.schema.validate says; typed Parquet loads like text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import ibis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phm.ingest import ingest
from phm.schema import TABLES, validate
from phm.schema.validate import row_errors
from tests.ingest.conftest import KEY, rejects, table_rows
from tests.ingest.test_canonical import PRACTICE, write

VALUES = {
    "person_id": st.sampled_from(["P1", "P2", " ", None]),
    "event_date": st.sampled_from(["2025-01-31", "2025-02-30", "31/01/2025", None, "2025-1-5"]),
    "code_system": st.sampled_from(["snomed", "icd10", "icd9", None]),
    "code": st.sampled_from(["38341003", "I10", None]),
    "value": st.sampled_from(["7.5", "high", "1e3", None, "-0"]),
    "unit": st.sampled_from(["mmHg", None]),
    "source": st.sampled_from(["gp", "GP", "apc", None]),
    "encounter_id": st.sampled_from(["E1", None]),
    "setting": st.sampled_from(["apc", "gp", "ward", None]),
    "admission_method": st.sampled_from(["emergency", "elective", "urgent", None]),
    "start_datetime": st.sampled_from(["2025-01-01T10:00:00", "2025-01-01", "noon", None]),
    "end_datetime": st.sampled_from(["2025-01-02T10:00:00", "2024-12-31T00:00:00", None]),
    "provider_code": st.sampled_from(["RJ1", None]),
    "primary_diagnosis": st.sampled_from(["I10", "i10", "X", None]),
    "cost_gbp": st.sampled_from(["12.5", "-1", "£3", None]),
}


def _source(table: Any, records: list[dict[str, Any]]) -> Any:
    data = {c: [r.get(c) for r in records] for c in table.column_names}
    data["_line"] = list(range(2, len(records) + 2))
    return ibis.memtable(
        data, schema={**{c: "string" for c in table.column_names}, "_line": "int64"}
    )


def _row(table: Any) -> Any:
    return st.fixed_dictionaries({c: VALUES[c] for c in table.column_names})


@settings(max_examples=25, deadline=None)
@given(
    events=st.lists(_row(TABLES["clinical_event"]), min_size=1, max_size=6),
    encounters=st.lists(_row(TABLES["encounter"]), min_size=1, max_size=6),
)
def test_one_pass_checks_give_the_rejects_of_the_schema_validator(
    events: list[dict[str, Any]], encounters: list[dict[str, Any]]
) -> None:
    con = ibis.duckdb.connect()
    for table, records in ((TABLES["clinical_event"], events), (TABLES["encounter"], encounters)):
        source = _source(table, records)
        expected = con.to_pyarrow(validate(table, source, "f").rejects).to_pylist()
        expected_set = {(r["line"], r["field"], r["reason"]) for r in expected}
        errors = row_errors(table, source, frozenset())
        checked = con.to_pyarrow(source.mutate(**errors)).to_pylist()
        found = {
            (row["_line"], name.removeprefix("_err_"), row[name])
            for row in checked
            for name in errors
            if row[name] is not None
        }
        assert found == expected_set


def test_typed_parquet_and_text_csv_load_the_same_store_and_rejects(tmp_path: Path) -> None:
    rows = [
        ("P1", "2025-01-01", "snomed", "1", 5.0, "mmHg", "gp"),
        ("P1", "2025-01-02", "icd9", "1", None, None, "gp"),
        ("P9", "2025-01-03", "snomed", "1", None, None, "gp"),
        ("P1", "2025-01-04", "snomed", " 2 ", -1.5, None, "nowhere"),
    ]
    person = (
        "person_id,sex,birth_date,practice_code,registration_start\n"
        "P1,F,1950-01-01,Y99001,2000-01-01\n"
    )
    values = ", ".join(
        "(" + ", ".join("NULL" if v is None else repr(v) for v in row) + ")" for row in rows
    )
    for kind in ("csv", "parquet"):
        folder = write(tmp_path / kind, practice__csv=PRACTICE, person__csv=person)
        query = (
            f"SELECT person_id, CAST(d AS DATE) AS event_date, code_system, code, value, unit, "
            f"source FROM (VALUES {values}) t(person_id, d, code_system, code, value, unit, source)"
        )
        target = folder / f"clinical_event.{kind}"
        options = "(FORMAT parquet)" if kind == "parquet" else "(HEADER, DELIMITER ',')"
        duckdb.sql(f"COPY ({query}) TO '{target}' {options}")
        ingest(folder, tmp_path / f"home-{kind}", KEY)
    assert table_rows(tmp_path / "home-csv", "clinical_event") == table_rows(
        tmp_path / "home-parquet", "clinical_event"
    )
    # A CSV row is located by its line (the header is line 1), a Parquet row by its record.
    assert [(r[2] - 1, *r[3:]) for r in rejects(tmp_path / "home-csv")] == [
        r[2:] for r in rejects(tmp_path / "home-parquet")
    ]
    assert len(table_rows(tmp_path / "home-csv", "clinical_event")) == 1


FIELD = st.text(alphabet=st.sampled_from(list('aP1,"; 9-\t')), max_size=6)
GOOD_EVENTS = [f"P1,2025-01-{d:02d},snomed,38341003,{d},mmHg,gp" for d in range(1, 6)]


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bad=st.lists(st.lists(FIELD, min_size=1, max_size=9), max_size=6), seed=st.integers(0, 9))
def test_random_bad_rows_never_crash_the_ingest_nor_drop_a_good_row(
    tmp_path_factory: Any, bad: list[list[str]], seed: int
) -> None:
    folder = tmp_path_factory.mktemp("rows")
    lines = GOOD_EVENTS[:]
    for i, fields in enumerate(bad):
        line = ",".join(fields).replace('"', "")
        lines.insert((seed + 2 * i) % (len(lines) + 1), line)
    person = (
        "person_id,sex,birth_date,practice_code,registration_start\n"
        "P1,F,1950-01-01,Y99001,2000-01-01\n"
    )
    source = write(
        folder / "x",
        practice__csv=PRACTICE,
        person__csv=person,
        clinical_event__csv="person_id,event_date,code_system,code,value,unit,source\n"
        + "\n".join(lines)
        + "\n",
    )
    report = ingest(source, folder / "home", KEY)
    stored = table_rows(folder / "home", "clinical_event", "value")
    assert {1.0, 2.0, 3.0, 4.0, 5.0} <= {row[0] for row in stored}
    [events] = [f for f in report.files if f.table == "clinical_event"]
    lines_rejected = {r[2] for r in rejects(folder / "home") if r[0] == "clinical_event"}
    assert events.rows_loaded + len(lines_rejected) == events.rows_read
