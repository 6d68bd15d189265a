"""A folder with broken rows loads its good rows and reports every bad one."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest

from phm.ingest.canonical import IngestError, ingest_canonical

PRACTICE = """practice_code,name,pcn_code,pcn_name,neighbourhood,lcn,place
Y99001,North Practice,U90001,North PCN,Borough,North,Testplace
Y99002,South Practice,U90002,South PCN,Dulwich,South,Testplace
"""
PERSON_HEADER = (
    "person_id,nhs_number,sex,birth_date,death_date,ethnicity,lsoa_code,imd_decile,"
    "practice_code,registration_start,registration_end"
)
PERSON = (
    PERSON_HEADER
    + """
P1,943 476 5919,F,1950-01-01,,British,E01000001,3,Y99001,2000-01-01,
P2,9434765918,M,1960-01-01,,African,E01000002,1,Y99002,2010-05-01,
P3,,X,1970-01-01,,,,,Y99001,2000-01-01,
P4,,F,1980-01-01,,Irish,,,Y99009,2000-01-01,
P1,,F,1950-01-01,,British,,,Y99001,2000-01-01,
"""
)
EVENTS = """person_id,event_date,code_system,code,value,unit,source
P1,2025-01-01,snomed,38341003,,,gp
P1,2025-02-01,snomed,271649006,150,mmHg
P2,2025-03-01,snomed,271649006,abc,mmHg,gp
P9,2025-03-01,snomed,38341003,,,gp
P2,2025-04-01,icd10,I10,,,apc
"""


def write(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("__", ".")).write_text(text)
    return folder


def stored(home: Path, table: str, where: str = "true") -> list[tuple]:
    return duckdb.sql(
        f"SELECT * FROM read_parquet('{home}/store/tables/{table}/*.parquet') WHERE {where} "
        "ORDER BY ALL"
    ).fetchall()


@pytest.fixture
def loaded(tmp_path: Path) -> tuple[Path, object]:
    source = write(
        tmp_path / "extract",
        practice__csv=PRACTICE,
        person__csv=PERSON,
        clinical_event__csv=EVENTS,
        readme__txt="not data",
    )
    home = tmp_path / "home"
    return home, ingest_canonical(source, home, b"test-key")


def test_good_rows_load_and_each_bad_row_is_reported(loaded: tuple[Path, object]) -> None:
    home, report = loaded
    counts = {f.table: (f.rows_read, f.rows_loaded, f.rows_rejected) for f in report.files}
    assert counts == {"practice": (2, 2, 0), "person": (5, 2, 3), "clinical_event": (5, 2, 3)}
    assert report.ignored == ["readme.txt"]
    rejects = {
        (r[0], r[1], r[2], r[3], r[4])
        for r in duckdb.sql(
            f'SELECT "table", source_file, line, field, reason FROM '
            f"read_parquet('{home}/store/tables/rejects/*.parquet')"
        ).fetchall()
    }
    assert rejects == {
        (
            "person",
            "person.csv",
            3,
            "nhs_number",
            "fails the NHS number check digit; value dropped, row kept",
        ),
        ("person", "person.csv", 4, "sex", "not one of F, M, U"),
        (
            "person",
            "person.csv",
            5,
            "practice_code",
            "practice_code not found in the practice table",
        ),
        ("person", "person.csv", 6, "person_id", "duplicate key, first seen at line 2"),
        (
            "clinical_event",
            "clinical_event.csv",
            3,
            "",
            "malformed line: Expected Number of Columns: 7 Found: 6",
        ),
        ("clinical_event", "clinical_event.csv", 4, "value", "not a number"),
        (
            "clinical_event",
            "clinical_event.csv",
            5,
            "person_id",
            "person_id not found in the person table",
        ),
    }


def test_nhs_numbers_are_stored_only_as_keyed_hashes(loaded: tuple[Path, object]) -> None:
    home, _ = loaded
    people = dict(
        duckdb.sql(
            "SELECT person_id, nhs_number_hash FROM "
            f"read_parquet('{home}/store/tables/person/*.parquet')"
        ).fetchall()
    )
    assert people["P2"] is None  # failed its check digit: dropped, row kept
    assert len(people["P1"]) == 64
    for path in (home / "store").rglob("*.parquet"):
        assert b"9434765919" not in path.read_bytes() and b"943 476 5919" not in path.read_bytes()


def test_the_same_folder_twice_asks_for_a_mode_and_append_is_idempotent(
    loaded: tuple[Path, object], tmp_path: Path
) -> None:
    home, _ = loaded
    with pytest.raises(IngestError, match=r"--replace .* --append"):
        ingest_canonical(tmp_path / "extract", home, b"test-key")
    again = ingest_canonical(tmp_path / "extract", home, b"test-key", "append")
    assert {f.status for f in again.files} == {"skipped"}
    assert len(stored(home, "person")) == 2
    replaced = ingest_canonical(tmp_path / "extract", home, b"test-key", "replace")
    assert {f.status for f in replaced.files} == {"loaded"}
    assert len(stored(home, "person")) == 2 and len(stored(home, "clinical_event")) == 2


def test_append_rejects_keys_already_in_the_store(
    loaded: tuple[Path, object], tmp_path: Path
) -> None:
    home, _ = loaded
    more = write(
        tmp_path / "more",
        person__csv=PERSON_HEADER + "\nP1,,F,1950-01-01,,,,,Y99001,2001-01-01,\n"
        "P5,,M,1990-01-01,,,,,Y99002,2020-01-01,\n",
    )
    report = ingest_canonical(more, home, b"test-key", "append")
    assert [(f.rows_loaded, f.rows_rejected) for f in report.files] == [(1, 1)]
    assert (
        "person",
        "person_id",
        "key already in the store from an earlier file",
    ) in report.reasons


def test_a_broken_file_is_named_and_the_rest_still_loads(tmp_path: Path) -> None:
    source = write(
        tmp_path / "extract",
        practice__csv=PRACTICE,
        person__csv=PERSON.replace(",", ";"),
        medication__parquet="PAR1 truncated",
    )
    events = (
        "person_id,event_date,code_system,code,value,unit,source\nP1,2025-01-01,snomed,1,,,gp\n"
    )
    (source / "clinical_event.csv.gz").write_bytes(gzip.compress(events.encode()))
    report = ingest_canonical(source, tmp_path / "home", b"k")
    by_table = {f.table: f for f in report.files}
    assert by_table["practice"].rows_loaded == 2
    assert by_table["person"].status == "failed"
    assert "person.csv: missing required column(s) person_id" in by_table["person"].message
    assert "is the file comma-separated?" in by_table["person"].message
    assert by_table["medication"].status == "failed"
    assert "medication.parquet: not a readable Parquet file" in by_table["medication"].message
    # No person table loaded, so the event is kept as a reject, not lost.
    assert by_table["clinical_event"].rows_rejected == 1


def test_parquet_sources_are_typed_and_located_by_record(tmp_path: Path) -> None:
    source = write(tmp_path / "extract", practice__csv=PRACTICE, person__csv=PERSON)
    duckdb.sql(
        "COPY (SELECT * FROM (VALUES ('P1', DATE '2025-01-01', 'snomed', '1', 5.0, 'mmHg', 'gp'), "
        "('P2', DATE '2025-01-02', 'snomed', '1', NULL, NULL, 'nowhere')) "
        "t(person_id, event_date, code_system, code, value, unit, source)) "
        f"TO '{source}/clinical_event.parquet' (FORMAT parquet)"
    )
    report = ingest_canonical(source, tmp_path / "home", b"k")
    assert (
        "clinical_event",
        "source",
        "not one of gp, apc, op, ae, mh, community, social_care",
    ) in (report.reasons)
    [event] = stored(tmp_path / "home", "clinical_event")
    assert str(event[1]) == "2025-01-01" and event[4] == 5.0


def test_nothing_to_load_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no canonical files found"):
        ingest_canonical(write(tmp_path / "x", notes__txt="hello"), tmp_path / "home", b"k")
    with pytest.raises(IngestError, match="no such file or folder"):
        ingest_canonical(tmp_path / "missing", tmp_path / "home", b"k")
