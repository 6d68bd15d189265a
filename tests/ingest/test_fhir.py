"""FHIR R4 Bundles and bulk NDJSON: hand-checked rows, broken input, round trip, generators."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phm.config.place import Place
from phm.ingest import ingest
from phm.ingest.fhir import fhir_date, fhir_instant
from phm.ingest.pseudonymise import keyed_hash
from tests.ingest.conftest import KEY, rejects, table_rows
from tests.ingest.fhir_export import export_ndjson, valid

ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"


def entry(uuid: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:{uuid}", "resource": resource}


def patient_ref(uuid: str = "pat-1") -> dict[str, str]:
    return {"reference": f"urn:uuid:{uuid}"}


BUNDLE_ENTRIES = [
    entry(
        "pat-1",
        {
            "resourceType": "Patient",
            "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}],
            "gender": "female",
            "birthDate": "1948-02-29",
            "generalPractitioner": [{"identifier": {"system": ODS, "value": "Y99001"}}],
            "extension": [
                {
                    "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory",
                    "valueCodeableConcept": {"coding": [{"code": "N"}]},
                }
            ],
        },
    ),
    entry(
        "enc-ae",
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"code": "EMER"},
            "subject": patient_ref(),
            "period": {"start": "2024-03-01T23:00:00+01:00", "end": "2024-03-02T02:00:00+01:00"},
            "serviceProvider": {"identifier": {"system": ODS, "value": "RJZ"}},
        },
    ),
    entry(
        "enc-ip",
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"code": "IMP"},
            "subject": patient_ref(),
            "period": {"start": "2024-03-02T03:00:00Z", "end": "2024-03-05T11:00:00Z"},
            "serviceProvider": {"identifier": {"system": ODS, "value": "RJZ"}},
            "reasonCode": [
                {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J18.9"}]}
            ],
        },
    ),
    entry(
        "cond-1",
        {
            "resourceType": "Condition",
            "subject": patient_ref(),
            "encounter": {"reference": "urn:uuid:enc-ip"},
            "code": {"coding": [{"system": SNOMED, "code": "233604007", "display": "Pneumonia"}]},
            "onsetDateTime": "2024-03-02",
        },
    ),
    entry(
        "cond-2",
        {
            "resourceType": "Condition",
            "subject": patient_ref(),
            "verificationStatus": {"coding": [{"code": "refuted"}]},
            "code": {"coding": [{"system": SNOMED, "code": "195967001"}]},
            "onsetDateTime": "2023-01-01",
        },
    ),
    entry(
        "obs-bp",
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
            "subject": patient_ref(),
            "effectiveDateTime": "2024-01-15T10:30:00Z",
            "component": [
                {
                    "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                    "valueQuantity": {"value": 150, "unit": "mmHg"},
                },
                {
                    "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                    "valueQuantity": {"value": 95, "unit": "mmHg"},
                },
            ],
        },
    ),
    entry(
        "obs-smoke",
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "72166-2"}]},
            "subject": patient_ref(),
            "effectiveDateTime": "2024-01-15",
            "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "266919005"}]},
        },
    ),
    entry(
        "med-1",
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "subject": patient_ref(),
            "medicationCodeableConcept": {
                "coding": [{"system": SNOMED, "code": "42109611000001109"}]
            },
            "authoredOn": "2024-01-15",
        },
    ),
    entry(
        "proc-1",
        {
            "resourceType": "Procedure",
            "status": "completed",
            "subject": patient_ref(),
            "encounter": {"reference": "urn:uuid:enc-ip"},
            "code": {"coding": [{"system": "https://fhir.nhs.uk/Id/opcs-4", "code": "E85.1"}]},
            "performedDateTime": "2024-03-03T09:00:00Z",
        },
    ),
    entry(
        "qr-pam",
        {
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "questionnaire": "https://example.org/fhir/Questionnaire/PAM-13|2",
            "subject": patient_ref(),
            "authored": "2024-02-01",
            "item": [{"linkId": "score", "answer": [{"valueDecimal": 62.5}]}],
        },
    ),
    entry("prac-1", {"resourceType": "Practitioner", "name": [{"family": "Who"}]}),
]


def bundle(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, place: Place) -> tuple[Path, Any]:
    base = tmp_path_factory.mktemp("fhir")
    (base / "src").mkdir()
    (base / "src" / "bundle.json").write_text(json.dumps(bundle(BUNDLE_ENTRIES)))
    report = ingest(base / "src", base / "home", KEY, format="fhir", place=place)
    return base / "home", report


def test_every_fixture_resource_is_valid_fhir() -> None:
    for item in BUNDLE_ENTRIES:
        if item["resource"]["resourceType"] != "Practitioner":
            valid(item["resource"])


def test_a_bundle_gives_hand_checked_canonical_rows(loaded: tuple[Path, Any]) -> None:
    home, report = loaded
    assert table_rows(
        home,
        "person",
        "person_id, nhs_number_hash, sex, birth_date::VARCHAR, ethnicity, practice_code",
    ) == [("pat-1", keyed_hash("9434765919", KEY), "F", "1948-02-29", "African", "Y99001")]
    encounters = table_rows(
        home,
        "encounter",
        "encounter_id, setting, admission_method, "
        "start_datetime::VARCHAR, provider_code, primary_diagnosis",
    )
    assert encounters == [
        ("enc-ae", "ae", None, "2024-03-01 22:00:00", "RJZ", None),
        ("enc-ip", "apc", "emergency", "2024-03-02 03:00:00", "RJZ", "J189"),
    ]
    assert table_rows(
        home, "clinical_event", "event_date::VARCHAR, code_system, code, value, source"
    ) == [
        ("2024-01-15", "snomed", "266919005", None, "gp"),
        ("2024-01-15", "snomed", "271649006", 150.0, "gp"),
        ("2024-01-15", "snomed", "271650006", 95.0, "gp"),
        ("2024-03-02", "snomed", "233604007", None, "apc"),
        ("2024-03-03", "opcs4", "E851", None, "apc"),
    ]
    assert table_rows(home, "medication", "issue_date::VARCHAR, code_system, code") == [
        ("2024-01-15", "dmd", "42109611000001109")
    ]
    assert table_rows(home, "assessment", "assessment_date::VARCHAR, instrument, score") == [
        ("2024-02-01", "pam", 62.5)
    ]
    assert (
        "Condition",
        "bundle.json",
        5,
        "verificationStatus",
        "Condition refuted: not loaded",
    ) in (rejects(home))
    assert report.sources[0].records_read == len(BUNDLE_ENTRIES)
    assert any("Practitioner 1" in note for note in report.notes)
    assert any("1 persons at the practice their record names" in n for n in report.notes)


def ndjson(lines: list[Any]) -> str:
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)


def observation(i: int, person: str = "a", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"o{i}",
        "status": "final",
        "code": {"coding": [{"system": SNOMED, "code": "60621009"}]},
        "subject": {"reference": f"Patient/{person}"},
        "effectiveDateTime": "2024-05-01",
        "valueQuantity": {"value": 20.0 + i},
        **extra,
    }


PATIENTS = [
    {"resourceType": "Patient", "id": "a", "gender": "male", "birthDate": "1970"},
    {"resourceType": "Patient", "id": "b", "gender": "other", "birthDate": "1980-05-06"},
]


def test_bulk_ndjson_rejects_bad_lines_by_number_and_loads_the_rest(
    tmp_path: Path, place: Place
) -> None:
    src = tmp_path / "bulk"
    src.mkdir()
    (src / "Patient.ndjson").write_text(ndjson(PATIENTS))
    bad = {k: v for k, v in observation(3).items() if k != "status"}
    (src / "Observation.ndjson").write_text(
        ndjson(
            [
                observation(1),
                '{"resourceType": "Observation", "id": ',
                observation(2),
                "",
                bad,
                observation(4, person="b", effectiveDateTime="2024-13-01"),
            ]
        )
    )
    (src / "AllergyIntolerance.ndjson").write_text(ndjson([{"resourceType": "AllergyIntolerance"}]))
    (src / "notes.txt").write_text("hello")
    report = ingest(src, tmp_path / "home", KEY, format="fhir", place=place)
    home = tmp_path / "home"
    assert table_rows(home, "person", "person_id, sex, birth_date::VARCHAR") == [
        ("a", "M", "1970-01-01"),
        ("b", "U", "1980-05-06"),
    ]
    assert table_rows(home, "clinical_event", "person_id, value") == [("a", 21.0), ("a", 22.0)]
    found = {r[2]: r for r in rejects(home)}
    assert sorted(found) == [2, 5, 6]
    assert found[2][:4] == ("json", "Observation.ndjson", 2, "")
    assert found[2][4].startswith("malformed JSON")
    assert found[5][:4] == ("Observation", "Observation.ndjson", 5, "status")
    assert "missing required field `status`" in found[5][4]
    assert found[6] == (
        "clinical_event",
        "Observation.ndjson",
        6,
        "event_date",
        "not a date (YYYY-MM-DD)",
    )
    read = {s.source_file: s.records_read for s in report.sources}
    assert read == {"Patient.ndjson": 2, "Observation.ndjson": 5}
    assert sorted(report.ignored) == [
        "AllergyIntolerance.ndjson (AllergyIntolerance resources are not loaded)",
        "notes.txt",
    ]


def test_a_truncated_bundle_is_named_in_one_line_and_the_rest_loads(
    tmp_path: Path, place: Place
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    text = json.dumps(bundle(BUNDLE_ENTRIES))
    (src / "a.json").write_text(text)
    (src / "b.json").write_text(text[: len(text) // 2])
    report = ingest(src, tmp_path / "home", KEY, format="fhir", place=place)
    [failed] = report.failed
    assert failed.message.startswith("b.json: not valid JSON") and "\n" not in failed.message
    assert report.rows_loaded["person"] == 1


def test_fhir_dates_keep_the_written_day_and_times_go_to_utc() -> None:
    assert fhir_date("2024-03-01T23:30:00-05:00") == "2024-03-01"
    assert fhir_date("2024-03") == "2024-03-01"
    assert fhir_date("01/03/2024") == "01/03/2024"  # left for the loader to reject
    assert fhir_instant("2024-03-01T23:30:00-05:00") == "2024-03-02T04:30:00"
    assert fhir_instant("2024-03-01") == "2024-03-01T00:00:00"


CANONICAL = {
    "person": [
        {
            "person_id": "P1",
            "nhs_number": "9434765919",
            "sex": "F",
            "birth_date": "1950-01-01",
            "death_date": None,
            "ethnicity": "British",
            "practice_code": "Y99001",
        },
        {
            "person_id": "P2",
            "nhs_number": None,
            "sex": "M",
            "birth_date": "1960-06-30",
            "death_date": "2025-01-02",
            "ethnicity": "Pakistani",
            "practice_code": "Y99002",
        },
    ],
    "encounter": [
        {
            "encounter_id": "E1",
            "person_id": "P1",
            "setting": "gp",
            "admission_method": None,
            "start_datetime": "2025-01-01T09:00:00",
            "end_datetime": "2025-01-01T09:10:00",
            "provider_code": "Y99001",
            "primary_diagnosis": None,
        },
        {
            "encounter_id": "E2",
            "person_id": "P1",
            "setting": "op",
            "admission_method": None,
            "start_datetime": "2025-02-01T09:00:00",
            "end_datetime": None,
            "provider_code": "RJZ",
            "primary_diagnosis": "M17",
        },
        {
            "encounter_id": "E3",
            "person_id": "P2",
            "setting": "apc",
            "admission_method": "maternity",
            "start_datetime": "2024-02-01T09:00:00",
            "end_datetime": "2024-02-03T12:00:00",
            "provider_code": "RJ1",
            "primary_diagnosis": "O80",
        },
        {
            "encounter_id": "E4",
            "person_id": "P2",
            "setting": "ae",
            "admission_method": None,
            "start_datetime": "2024-05-01T09:00:00",
            "end_datetime": "2024-05-01T13:00:00",
            "provider_code": "RJ1",
            "primary_diagnosis": None,
        },
    ],
    "clinical_event": [
        {
            "person_id": "P1",
            "event_date": "2020-01-01",
            "code_system": "snomed",
            "code": "44054006",
            "value": None,
            "unit": None,
            "source": "gp",
        },
        {
            "person_id": "P1",
            "event_date": "2025-01-01",
            "code_system": "snomed",
            "code": "271649006",
            "value": 152.0,
            "unit": "mmHg",
            "source": "gp",
        },
        {
            "person_id": "P2",
            "event_date": "2019-05-05",
            "code_system": "icd10",
            "code": "I10",
            "value": None,
            "unit": None,
            "source": "gp",
        },
        {
            "person_id": "P2",
            "event_date": "2021-05-05",
            "code_system": "opcs4",
            "code": "W401",
            "value": None,
            "unit": None,
            "source": "gp",
        },
    ],
    "medication": [
        {"person_id": "P1", "issue_date": "2025-01-05", "code_system": "bnf", "code": "0601022B0"},
        {
            "person_id": "P2",
            "issue_date": "2024-01-05",
            "code_system": "dmd",
            "code": "39113611000001102",
        },
    ],
    "assessment": [
        {"person_id": "P1", "assessment_date": "2025-01-01", "instrument": "pam", "score": 55.1},
        {
            "person_id": "P2",
            "assessment_date": "2024-01-01",
            "instrument": "i_statement",
            "score": 71.0,
        },
    ],
}
LOSSLESS = {
    "person": "person_id, nhs_number_hash, sex, birth_date, death_date, ethnicity, practice_code",
    "encounter": "encounter_id, person_id, setting, admission_method, start_datetime, "
    "end_datetime, provider_code, primary_diagnosis",
    "clinical_event": "*",
    "medication": "*",
    "assessment": "*",
}


def canonical_csv(folder: Path, place: Place) -> Path:
    folder.mkdir(parents=True)
    practices = place.practice_rows()
    tables: dict[str, list[dict[str, Any]]] = {"practice": practices, **CANONICAL}
    for name, rows in tables.items():
        columns = list(rows[0])
        if name == "person":
            columns += ["registration_start"]
        lines = [",".join(columns)]
        for row in rows:
            values = {**row, "registration_start": row.get("birth_date")}
            lines.append(",".join("" if values[c] is None else str(values[c]) for c in columns))
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_canonical_to_fhir_to_canonical_is_lossless_where_fhir_carries_the_field(
    tmp_path: Path, place: Place
) -> None:
    direct = tmp_path / "direct"
    ingest(canonical_csv(tmp_path / "csv", place), direct, KEY)
    fhir = export_ndjson(CANONICAL, tmp_path / "fhir")
    through = tmp_path / "through"
    report = ingest(fhir, through, KEY, format="fhir", place=place)
    assert not report.failed and not report.reasons
    for table, columns in LOSSLESS.items():
        assert table_rows(through, table, columns) == table_rows(direct, table, columns), table


FHIR_LINES = st.one_of(
    st.text(max_size=40),
    st.builds(
        json.dumps,
        st.dictionaries(
            st.sampled_from(["resourceType", "status", "code", "id", "subject", "valueQuantity"]),
            st.one_of(
                st.text(max_size=8),
                st.integers(),
                st.sampled_from(["Observation", "Patient", "final", None]),
            ),
            max_size=5,
        ),
    ),
    st.builds(
        lambda v, d: json.dumps(observation(0, valueQuantity={"value": v}, effectiveDateTime=d)),
        st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5)),
        st.text(max_size=12),
    ),
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(junk=st.lists(FHIR_LINES, max_size=8), seed=st.integers(0, 10))
def test_random_bad_lines_never_crash_the_ingest_nor_drop_a_good_resource(
    tmp_path_factory: pytest.TempPathFactory, place: Place, junk: list[str], seed: int
) -> None:
    base = tmp_path_factory.mktemp("prop")
    (base / "src").mkdir()
    good = [json.dumps(observation(i)) for i in range(1, 6)]
    lines = good[:]
    for i, bad in enumerate(junk):
        lines.insert((seed + 3 * i) % (len(lines) + 1), bad.replace("\n", " ").replace("\r", " "))
    (base / "src" / "Patient.ndjson").write_text(ndjson(PATIENTS))
    (base / "src" / "Observation.ndjson").write_text("\n".join(lines) + "\n")
    report = ingest(base / "src", base / "home", KEY, format="fhir", place=place)
    values = {row[0] for row in table_rows(base / "home", "clinical_event", "value")}
    assert {21.0, 22.0, 23.0, 24.0, 25.0} <= values
    read = next(s for s in report.sources if s.source_file == "Observation.ndjson")
    assert read.records_read == sum(1 for x in lines if x.strip())


def _loaded_fraction(report: Any) -> dict[str, float]:
    read = sum(s.records_read for s in report.sources)
    rejected = sum(s.records_rejected for s in report.sources)
    return {"read": read, "loadable": (read - rejected) / read if read else 0.0}


def test_carebundle_r4_bundles_load(tmp_path: Path, place: Place) -> None:
    carebundle = pytest.importorskip("carebundle", reason="carebundle is not installed")
    src = tmp_path / "bundles"
    src.mkdir()
    for i, profile in enumerate(("type2_diabetes", "hypertension", "ckd_stage3", "healthy")):
        data = carebundle.to_json(carebundle.generate_bundle(profile=profile, seed=i))
        (src / f"{profile}.json").write_text(data)
    report = ingest(src, tmp_path / "home", KEY, format="fhir", place=place)
    assert not report.failed
    assert report.rows_loaded["person"] == 4
    assert report.rows_loaded["clinical_event"] > 40
    assert _loaded_fraction(report)["loadable"] > 0.3  # lab LOINC codes are unmapped


def test_clinosim_bulk_ndjson_loads(tmp_path: Path, place: Place) -> None:
    pytest.importorskip("clinosim", reason="clinosim is not installed")
    command = Path(sys.executable).parent / "clinosim"
    if not command.exists():
        pytest.skip("the clinosim command is not installed beside this Python")
    subprocess.run(
        [
            str(command),
            "simulate",
            "--country",
            "US",
            "--population",
            "8",
            "--seed",
            "7",
            "--output",
            str(tmp_path / "out"),
            "--format",
            "fhir-r4",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    report = ingest(
        tmp_path / "out" / "fhir_r4", tmp_path / "home", KEY, format="fhir", place=place
    )
    assert not report.failed
    patients = next(s for s in report.sources if s.source_file == "Patient.ndjson")
    assert report.rows_loaded["person"] == patients.records_read > 0
    assert report.rows_loaded["encounter"] > 0 and report.rows_loaded["clinical_event"] > 0
    shutil.rmtree(tmp_path / "out")
