"""Hand-built person tables: a healthy adult by default, with only the columns that differ given."""

from __future__ import annotations

from typing import Any

import ibis.expr.types as ir

from phm.engine import rows_table

PERSON_SCHEMA: dict[str, str] = {
    "person_id": "string",
    "age": "int64",
    "sex": "string",
    "practice_code": "string",
    "pcn_code": "string",
    "neighbourhood": "string",
    "hypertension": "boolean",
    "diabetes": "boolean",
    "copd": "boolean",
    "chd": "boolean",
    "heart_failure": "boolean",
    "ckd": "boolean",
    "depression": "boolean",
    "anxiety": "boolean",
    "smi": "boolean",
    "dementia": "boolean",
    "cancer": "boolean",
    "cms_cancer": "boolean",
    "learning_disability": "boolean",
    "palliative_care": "boolean",
    "parkinsons": "boolean",
    "multiple_sclerosis": "boolean",
    "chronic_liver_disease": "boolean",
    "visual_impairment": "boolean",
    "ltc_count": "int64",
    "ltc_3plus": "boolean",
    "ltc_5plus": "boolean",
    "physical_mental": "boolean",
    "hfrs_category": "string",
    "efi_category": "string",
    "ae_attendances_12m": "int64",
    "emergency_admissions_12m": "int64",
    "ae_attendances_90d": "int64",
    "emergency_admissions_90d": "int64",
    "mh_contacts_12m": "int64",
    "social_care_12m": "boolean",
    "total_cost_gbp_12m": "float64",
    "escalating": "boolean",
    "recent_discharge": "boolean",
    "last_emergency_discharge": "date",
    "in_reablement": "boolean",
    "pam_level": "int64",
    "housing_need": "boolean",
    "maternity": "boolean",
    "infant": "boolean",
}

HEALTHY_ADULT: dict[str, Any] = {
    **{name: False for name, kind in PERSON_SCHEMA.items() if kind == "boolean"},
    "age": 40,
    "sex": "F",
    "practice_code": "A00001",
    "pcn_code": "PCN1",
    "neighbourhood": "Dulwich",
    "ltc_count": 0,
    "hfrs_category": "low",
    "efi_category": None,
    "ae_attendances_12m": 0,
    "emergency_admissions_12m": 0,
    "ae_attendances_90d": 0,
    "emergency_admissions_90d": 0,
    "mh_contacts_12m": 0,
    "total_cost_gbp_12m": 100.0,
    "last_emergency_discharge": None,
    "pam_level": None,
}


def person(person_id: str, **columns: Any) -> dict[str, Any]:
    """A healthy 40-year-old, changed by `columns`; ltc_3plus/5plus follow ltc_count."""
    row = {**HEALTHY_ADULT, "person_id": person_id, **columns}
    if "ltc_3plus" not in columns:
        row["ltc_3plus"] = row["ltc_count"] >= 3
    if "ltc_5plus" not in columns:
        row["ltc_5plus"] = row["ltc_count"] >= 5
    return row


def person_table(*rows: dict[str, Any], extra: dict[str, str] | None = None) -> ir.Table:
    """The rows as a table with PERSON_SCHEMA (plus `extra` columns, e.g. risk)."""
    return rows_table(list(rows), {**PERSON_SCHEMA, **(extra or {})})
