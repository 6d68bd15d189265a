"""Canonical rows to FHIR R4 resources (bulk NDJSON), for round-trip tests.

Each resource is checked with `fhir.resources` (R4B models) before it is
written, so the round trip also shows the adapter reading valid FHIR. What
FHIR R4 carries without loss: a person's id, NHS number, sex, birth and death
dates, ethnicity (NHS ethnic category), practice (generalPractitioner ODS
code); an encounter's setting among gp, op, ae and apc (Encounter.class and
the serviceProvider's ODS code), admission method (UK Core AdmissionMethod),
times, provider and ICD-10 reason; gp events (Condition, Observation with a
value, Procedure for OPCS-4); prescriptions (dm+d or BNF); scored
questionnaires. Registration dates, LSOA, IMD, cost and the source of
non-gp events have no place in these resources.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from phm.ingest.terminology import ETHNIC_CATEGORY_CODE

SYSTEMS = {
    "snomed": "http://snomed.info/sct",
    "icd10": "http://hl7.org/fhir/sid/icd-10",
    "opcs4": "https://fhir.nhs.uk/Id/opcs-4",
    "read2": "http://read.info/readv2",
    "ctv3": "http://read.info/ctv3",
    "dmd": "https://dmd.nhs.uk",
    "bnf": "https://www.nhsbsa.nhs.uk/bnf",
}
CLASSES = {"gp": "AMB", "op": "AMB", "ae": "EMER", "apc": "IMP"}
ADMISSION_CODES = {"elective": "11", "emergency": "21", "maternity": "31", "other": "81"}
MODELS: dict[str, Any] = {
    "Patient": Patient,
    "Encounter": Encounter,
    "Condition": Condition,
    "Observation": Observation,
    "Procedure": Procedure,
    "MedicationRequest": MedicationRequest,
    "QuestionnaireResponse": QuestionnaireResponse,
}


def _ods(code: str) -> dict[str, Any]:
    return {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": code}}


def patient(row: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": row["person_id"],
        "gender": {"F": "female", "M": "male"}.get(row["sex"], "unknown"),
        "birthDate": row["birth_date"],
        "generalPractitioner": [_ods(row["practice_code"])],
    }
    if row.get("nhs_number"):
        resource["identifier"] = [
            {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": row["nhs_number"]}
        ]
    if row.get("death_date"):
        resource["deceasedDateTime"] = row["death_date"]
    if row.get("ethnicity"):
        resource["extension"] = [
            {
                "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory",
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategory",
                            "code": ETHNIC_CATEGORY_CODE[row["ethnicity"]],
                        }
                    ]
                },
            }
        ]
    return resource


def encounter(row: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": row["encounter_id"],
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": CLASSES[row["setting"]],
        },
        "subject": {"reference": f"Patient/{row['person_id']}"},
        "period": {"start": row["start_datetime"] + "Z"},
    }
    if row.get("end_datetime"):
        resource["period"]["end"] = row["end_datetime"] + "Z"
    if row.get("provider_code"):
        resource["serviceProvider"] = _ods(row["provider_code"])
    if row.get("admission_method"):
        resource["extension"] = [
            {
                "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AdmissionMethod",
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-AdmissionMethodEngland",
                            "code": ADMISSION_CODES[row["admission_method"]],
                        }
                    ]
                },
            }
        ]
    if row.get("primary_diagnosis"):
        resource["reasonCode"] = [
            {"coding": [{"system": SYSTEMS["icd10"], "code": row["primary_diagnosis"]}]}
        ]
    return resource


def event(row: dict[str, Any], number: int) -> dict[str, Any]:
    code = {"coding": [{"system": SYSTEMS[row["code_system"]], "code": row["code"]}]}
    subject = {"reference": f"Patient/{row['person_id']}"}
    if row["code_system"] == "opcs4":
        return {
            "resourceType": "Procedure",
            "id": f"proc-{number}",
            "status": "completed",
            "code": code,
            "subject": subject,
            "performedDateTime": row["event_date"],
        }
    if row.get("value") is not None:
        quantity = {"value": row["value"]}
        if row.get("unit"):
            quantity["unit"] = row["unit"]
        return {
            "resourceType": "Observation",
            "id": f"obs-{number}",
            "status": "final",
            "code": code,
            "subject": subject,
            "effectiveDateTime": row["event_date"],
            "valueQuantity": quantity,
        }
    return {
        "resourceType": "Condition",
        "id": f"cond-{number}",
        "code": code,
        "subject": subject,
        "onsetDateTime": row["event_date"],
    }


def prescription(row: dict[str, Any], number: int) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": f"med-{number}",
        "status": "completed",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": SYSTEMS[row["code_system"]], "code": row["code"]}]
        },
        "subject": {"reference": f"Patient/{row['person_id']}"},
        "authoredOn": row["issue_date"],
    }


def questionnaire_response(row: dict[str, Any], number: int) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"qr-{number}",
        "status": "completed",
        "questionnaire": f"https://phm.example.org/fhir/Questionnaire/{row['instrument']}",
        "subject": {"reference": f"Patient/{row['person_id']}"},
        "authored": row["assessment_date"],
        "item": [{"linkId": "score", "answer": [{"valueDecimal": row["score"]}]}],
    }


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource, once fhir.resources (R4B) has accepted it."""
    MODELS[resource["resourceType"]].model_validate(resource)
    return resource


def export_ndjson(tables: dict[str, list[dict[str, Any]]], folder: Path) -> Path:
    """Write canonical rows as one NDJSON file per resource type (a bulk export)."""
    folder.mkdir(parents=True, exist_ok=True)
    resources: dict[str, list[dict[str, Any]]] = {}

    def add(resource: dict[str, Any]) -> None:
        resources.setdefault(resource["resourceType"], []).append(valid(resource))

    for row in tables.get("person", []):
        add(patient(row))
    for row in tables.get("encounter", []):
        add(encounter(row))
    for number, row in enumerate(tables.get("clinical_event", []), 1):
        add(event(row, number))
    for number, row in enumerate(tables.get("medication", []), 1):
        add(prescription(row, number))
    for number, row in enumerate(tables.get("assessment", []), 1):
        add(questionnaire_response(row, number))
    for kind, items in resources.items():
        (folder / f"{kind}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in items))
    return folder
