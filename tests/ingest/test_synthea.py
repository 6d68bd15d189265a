"""A small Synthea export: hand-checked canonical rows; broken files named, the rest loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from phm.config.place import Place
from phm.ingest import IngestError, ingest
from phm.ingest.practices import PracticeRule
from tests.ingest.conftest import KEY, rejects, table_rows

PATIENTS = """Id,BIRTHDATE,DEATHDATE,SSN,DRIVERS,PASSPORT,PREFIX,FIRST,MIDDLE,LAST,SUFFIX,MAIDEN,MARITAL,RACE,ETHNICITY,GENDER,BIRTHPLACE,ADDRESS,CITY,STATE,COUNTY,FIPS,ZIP,LAT,LON,HEALTHCARE_EXPENSES,HEALTHCARE_COVERAGE,INCOME
p1,1950-03-01,,999-1,,,Mr.,John,,Smith,,,M,white,nonhispanic,M,Boston,1 Main St,Boston,MA,Suffolk,,02101,42.3,-71.0,1000,100,50000
p2,1962-07-15,2024-02-01,999-2,,,Mrs.,Jane,,Doe,,,M,black,nonhispanic,F,Boston,2 Main St,Boston,MA,Suffolk,,02101,42.3,-71.0,1000,100,50000
"""  # noqa: E501
ENCOUNTERS = """Id,START,STOP,PATIENT,ORGANIZATION,PROVIDER,PAYER,ENCOUNTERCLASS,CODE,DESCRIPTION,BASE_ENCOUNTER_COST,TOTAL_CLAIM_COST,PAYER_COVERAGE,REASONCODE,REASONDESCRIPTION
e1,2020-01-10T09:00:00Z,2020-01-10T09:20:00Z,p1,org1,pr1,pay1,wellness,162673000,General examination,136.8,136.8,0,,
e2,2021-05-01T22:00:00Z,2021-05-02T01:00:00Z,p1,org2,pr2,pay1,emergency,50849002,Emergency room admission,1000,1000,0,,
e3,2021-05-02T02:00:00Z,2021-05-06T10:00:00Z,p1,org2,pr2,pay1,inpatient,32485007,Hospital admission,5000,5000,0,,
e4,2022-03-01T08:00:00Z,2022-03-03T12:00:00Z,p2,org2,pr2,pay1,inpatient,305408004,Admission to surgical department,5000,5000,0,,
e5,2023-04-01T10:00:00Z,2023-04-01T10:30:00Z,p2,org3,pr3,pay1,outpatient,185347001,Encounter for problem,100,100,0,,
e6,2023-06-01T10:00:00Z,2023-06-03T10:30:00Z,p2,org2,pr2,pay1,inpatient,183452005,Emergency hospital admission,100,100,0,,
"""  # noqa: E501
CONDITIONS = """START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION
2020-01-10,,p1,e1,44054006,Diabetes mellitus type 2 (disorder)
2021-05-02,2021-05-06,p1,e3,233604007,Pneumonia (disorder)
2022-03-01,,p2,e4,38341003,Hypertension
"""
OBSERVATIONS = """DATE,PATIENT,ENCOUNTER,CATEGORY,CODE,DESCRIPTION,VALUE,UNITS,TYPE
2020-01-10T09:00:00Z,p1,e1,vital-signs,8480-6,Systolic Blood Pressure,142.0,mm[Hg],numeric
2020-01-10T09:00:00Z,p1,e1,vital-signs,39156-5,Body Mass Index,31.2,kg/m2,numeric
2020-01-10T09:00:00Z,p1,e1,survey,44261-6,PHQ-9 total score [Reported],7.0,{score},numeric
2020-01-10T09:00:00Z,p1,e1,laboratory,4548-4,Hemoglobin A1c/Hemoglobin.total in Blood,7.1,%,numeric
"""
MEDICATIONS = """START,STOP,PATIENT,PAYER,ENCOUNTER,CODE,DESCRIPTION,BASE_COST,PAYER_COVERAGE,DISPENSES,TOTALCOST,REASONCODE,REASONDESCRIPTION
2020-01-10T09:00:00Z,2020-04-09T09:00:00Z,p1,pay1,e1,860975,24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet,1.0,0,3,3,44054006,Diabetes
2022-03-01T08:00:00Z,,p2,pay1,e4,314076,lisinopril 10 MG Oral Tablet,1.0,0,2,2,38341003,Hypertension
2022-03-01T08:00:00Z,,p2,pay1,e4,999999,Hydrochlorothiazide 25 MG / Lisinopril 10 MG Oral Tablet,1.0,0,1,1,,
"""  # noqa: E501
PROCEDURES = """START,STOP,PATIENT,ENCOUNTER,SYSTEM,CODE,DESCRIPTION,BASE_COST,REASONCODE,REASONDESCRIPTION
2022-03-01T09:00:00Z,2022-03-01T10:00:00Z,p2,e4,http://snomed.info/sct,80146002,Appendectomy,100,,
"""  # noqa: E501


def synthea_folder(folder: Path, **changes: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "patients.csv": PATIENTS,
        "encounters.csv": ENCOUNTERS,
        "conditions.csv": CONDITIONS,
        "observations.csv": OBSERVATIONS,
        "medications.csv": MEDICATIONS,
        "procedures.csv": PROCEDURES,
        "allergies.csv": "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION\n",
    }
    files.update({k.replace("__", "."): v for k, v in changes.items()})
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, place: Place) -> tuple[Path, object]:
    base = tmp_path_factory.mktemp("synthea")
    home = base / "home"
    report = ingest(synthea_folder(base / "csv"), home, KEY, format="synthea", place=place)
    return home, report


def test_people_get_sex_dates_ethnicity_and_a_practice_by_the_documented_rule(
    loaded: tuple[Path, object], place: Place
) -> None:
    home, report = loaded
    rule = PracticeRule(place, KEY)
    assert table_rows(
        home,
        "person",
        "person_id, sex, birth_date::VARCHAR, death_date::VARCHAR, ethnicity, practice_code, "
        "registration_start::VARCHAR, registration_end::VARCHAR",
    ) == [
        ("p1", "M", "1950-03-01", None, "Other White", rule.by_hash("p1"), "1950-03-01", None),
        (
            "p2",
            "F",
            "1962-07-15",
            "2024-02-01",
            "Other Black",
            rule.by_hash("p2"),
            "1962-07-15",
            "2024-02-01",
        ),
    ]
    assert any("keyed hash" in note for note in report.notes)  # type: ignore[attr-defined]


def test_encounter_classes_become_settings_and_admissions_are_qualified(
    loaded: tuple[Path, object],
) -> None:
    home, _ = loaded
    assert table_rows(
        home,
        "encounter",
        "encounter_id, setting, admission_method, start_datetime::VARCHAR, provider_code",
    ) == [
        ("e1", "gp", None, "2020-01-10 09:00:00", "org1"),
        ("e2", "ae", None, "2021-05-01 22:00:00", "org2"),
        ("e3", "apc", "emergency", "2021-05-02 02:00:00", "org2"),  # 1 h after A&E
        ("e4", "apc", "elective", "2022-03-01 08:00:00", "org2"),
        ("e5", "op", None, "2023-04-01 10:00:00", "org3"),
        ("e6", "apc", "emergency", "2023-06-01 10:00:00", "org2"),  # coded emergency
    ]


def test_codes_map_to_events_medications_and_assessments(loaded: tuple[Path, object]) -> None:
    home, report = loaded
    assert table_rows(
        home, "clinical_event", "person_id, event_date::VARCHAR, code_system, code, value, source"
    ) == [
        ("p1", "2020-01-10", "snomed", "271649006", 142.0, "gp"),
        ("p1", "2020-01-10", "snomed", "44054006", None, "gp"),
        ("p1", "2020-01-10", "snomed", "60621009", 31.2, "gp"),
        ("p1", "2021-05-02", "snomed", "233604007", None, "apc"),
        ("p2", "2022-03-01", "snomed", "38341003", None, "apc"),
        ("p2", "2022-03-01", "snomed", "80146002", None, "apc"),
    ]
    # One issue per dispense: 3 over START..STOP, 2 four weeks apart while open.
    assert table_rows(home, "medication", "person_id, issue_date::VARCHAR, code_system, code") == [
        ("p1", "2020-01-10", "bnf", "0601022B0"),
        ("p1", "2020-02-09", "bnf", "0601022B0"),
        ("p1", "2020-03-10", "bnf", "0601022B0"),
        ("p2", "2022-03-01", "bnf", "0205051L0"),
        ("p2", "2022-03-29", "bnf", "0205051L0"),
    ]
    assert table_rows(home, "assessment", "person_id, instrument, score") == [("p1", "phq9", 7.0)]
    unmapped = report.unmapped  # type: ignore[attr-defined]
    assert unmapped[("loinc", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood")] == 1
    assert sum(unmapped.values()) == 2  # the HbA1c and the combination product
    assert (
        "observations",
        "observations.csv",
        5,
        "code",
        "code not mapped to a canonical code system",
    ) in rejects(home)


def test_rows_read_per_file_and_files_without_a_table_are_listed(
    loaded: tuple[Path, object],
) -> None:
    _, report = loaded
    read = {s.source_file: s.records_read for s in report.sources}  # type: ignore[attr-defined]
    assert read == {
        "patients.csv": 2,
        "encounters.csv": 6,
        "conditions.csv": 3,
        "observations.csv": 4,
        "medications.csv": 3,
        "procedures.csv": 1,
    }
    assert report.ignored == ["allergies.csv"]  # type: ignore[attr-defined]


def test_broken_files_are_named_in_one_line_and_the_rest_loads(
    tmp_path: Path, place: Place
) -> None:
    folder = synthea_folder(
        tmp_path / "csv",
        conditions__csv=CONDITIONS.replace(",", ";"),
        observations__csv=OBSERVATIONS.replace("PATIENT,", ""),
        procedures__csv=PROCEDURES + '2022-03-01,,p2,e4,"unterminated,1,x\n',
    )
    report = ingest(folder, tmp_path / "home", KEY, format="synthea", place=place)
    failed = {f.source_file: f.message for f in report.failed}
    assert failed == {
        "conditions.csv": "conditions.csv: missing required column(s) START, PATIENT, CODE "
        "(one column found: is the file comma-separated?)",
        "observations.csv": "observations.csv: missing required column(s) PATIENT",
    }
    assert all("\n" not in m for m in failed.values())
    loaded = report.rows_loaded
    assert loaded["person"] == 2 and loaded["encounter"] == 6 and loaded["medication"] == 5
    assert any(
        r[1] == "procedures.csv" and r[4].startswith("malformed line")
        for r in rejects(tmp_path / "home")
    )


def test_the_same_export_twice_gives_the_same_store_and_append_adds_nothing(
    tmp_path: Path, place: Place
) -> None:
    folder = synthea_folder(tmp_path / "csv")
    home = tmp_path / "home"
    ingest(folder, home, KEY, format="synthea", place=place)
    first = {t: table_rows(home, t) for t in ("person", "encounter", "clinical_event", "rejects")}
    with pytest.raises(IngestError, match="--replace"):
        ingest(folder, home, KEY, format="synthea", place=place)
    again = ingest(folder, home, KEY, format="synthea", place=place, mode="append")
    assert {s.status for s in again.sources} == {"skipped"}
    assert {t: table_rows(home, t) for t in first} == first
    ingest(folder, home, KEY, format="synthea", place=place, mode="replace")
    assert {t: table_rows(home, t) for t in first} == first
    # A new file is added on --append; the files already in the store are not.
    (folder / "conditions.csv").write_text(CONDITIONS + "2023-01-01,,p2,e5,195967001,Asthma\n")
    more = ingest(folder, home, KEY, format="synthea", place=place, mode="append")
    assert [s.source_file for s in more.sources if s.status == "read"] == ["conditions.csv"]
    assert len(table_rows(home, "clinical_event")) == len(first["clinical_event"]) + 4
