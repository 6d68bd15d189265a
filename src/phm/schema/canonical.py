"""The canonical extract: the contract every adapter writes and every stage reads.

One declaration per table. docs/data-model.md is generated from it
(`phm schema --markdown`), so the documentation cannot drift from the code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["string", "date", "datetime", "int", "float"]

SOURCES = ("gp", "apc", "op", "ae", "mh", "community", "social_care")
SETTINGS = ("gp", "op", "ae", "apc", "mh", "community", "social_care", "hub")
ADMISSION_METHODS = ("emergency", "elective", "maternity", "other")
CODE_SYSTEMS = ("snomed", "icd10", "opcs4", "ctv3", "read2")
MEDICATION_CODE_SYSTEMS = ("dmd", "bnf")
PATHWAY_KINDS = ("rtt", "cancer_62d", "eip", "iapt")
SEXES = ("F", "M", "U")

# ONS 2021 Census ethnic group, 19 categories, with their five high-level groups.
ETHNIC_GROUPS: dict[str, str] = {
    "Bangladeshi": "Asian",
    "Chinese": "Asian",
    "Indian": "Asian",
    "Pakistani": "Asian",
    "Other Asian": "Asian",
    "African": "Black",
    "Caribbean": "Black",
    "Other Black": "Black",
    "White and Asian": "Mixed",
    "White and Black African": "Mixed",
    "White and Black Caribbean": "Mixed",
    "Other Mixed": "Mixed",
    "British": "White",
    "Irish": "White",
    "Gypsy or Irish Traveller": "White",
    "Roma": "White",
    "Other White": "White",
    "Arab": "Other",
    "Any other ethnic group": "Other",
    "Not stated": "Not stated",
}


@dataclass(frozen=True)
class Column:
    """One column of a canonical table and the values it may hold."""

    name: str
    type: ColumnType
    required: bool = False
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""
    identifier: bool = False  # pseudonymised at ingest, never stored raw


@dataclass(frozen=True)
class Rule:
    """A check across columns of one row: rows where `violated` holds are rejected."""

    field: str
    reason: str
    kind: Literal["not_before", "required_when"]
    other: str
    when_value: str = ""


@dataclass(frozen=True)
class Reference:
    """A column whose values must exist in another table's key."""

    column: str
    table: str
    key: str


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    references: tuple[Reference, ...] = field(default=())

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} has no column {name}")

    @property
    def stored_names(self) -> tuple[str, ...]:
        """Column names as stored: identifiers become their keyed hash."""
        return tuple(stored_name(c) for c in self.columns)


def stored_name(column: Column) -> str:
    return f"{column.name}_hash" if column.identifier else column.name


_IBIS_TYPES = {
    "string": "string",
    "date": "date",
    "datetime": "timestamp",
    "int": "int64",
    "float": "float64",
}


def stored_schema(table: Table) -> dict[str, str]:
    """The Ibis types of a canonical table as stored (identifiers as their hash)."""
    return {
        stored_name(c): "string" if c.identifier else _IBIS_TYPES[c.type] for c in table.columns
    }


ODS_PRACTICE = r"^[A-Z][0-9]{5}$"
LSOA = r"^[EW]0[0-9]{7}$"

PRACTICE = Table(
    "practice",
    "GP practices of the place with their PCN, neighbourhood and Local Care Network.",
    (
        Column("practice_code", "string", True, pattern=ODS_PRACTICE, description="ODS code"),
        Column("name", "string", True),
        Column("pcn_code", "string", True),
        Column("pcn_name", "string", True),
        Column("neighbourhood", "string", True),
        Column("lcn", "string", True, description="Local Care Network"),
        Column("place", "string", True),
    ),
    key=("practice_code",),
)

PERSON = Table(
    "person",
    "One row per person ever registered at a practice of the place in the extract.",
    (
        Column("person_id", "string", True, description="the source system's person key"),
        Column(
            "nhs_number",
            "string",
            identifier=True,
            description="optional; checked with the NHS number checksum, then stored only "
            "as a keyed hash (nhs_number_hash)",
        ),
        Column("sex", "string", True, allowed=SEXES),
        Column("birth_date", "date", True),
        Column("death_date", "date"),
        Column("ethnicity", "string", allowed=tuple(ETHNIC_GROUPS), description="ONS 2021"),
        Column("lsoa_code", "string", pattern=LSOA, description="LSOA 2011 of residence"),
        Column("imd_decile", "int", minimum=1, maximum=10, description="1 = most deprived"),
        Column("practice_code", "string", True, pattern=ODS_PRACTICE),
        Column("registration_start", "date", True),
        Column("registration_end", "date", description="empty while registered"),
    ),
    key=("person_id",),
    rules=(
        Rule("death_date", "death_date is before birth_date", "not_before", "birth_date"),
        Rule(
            "registration_end",
            "registration_end is before registration_start",
            "not_before",
            "registration_start",
        ),
    ),
    references=(Reference("practice_code", "practice", "practice_code"),),
)

_PERSON_REF = (Reference("person_id", "person", "person_id"),)

CLINICAL_EVENT = Table(
    "clinical_event",
    "Coded clinical events: diagnoses, procedures, observations and findings.",
    (
        Column("person_id", "string", True),
        Column("event_date", "date", True),
        Column("code_system", "string", True, allowed=CODE_SYSTEMS),
        Column("code", "string", True),
        Column("value", "float", description="numeric result, where the code carries one"),
        Column("unit", "string"),
        Column("source", "string", True, allowed=SOURCES),
    ),
    references=_PERSON_REF,
)

MEDICATION = Table(
    "medication",
    "Prescriptions issued.",
    (
        Column("person_id", "string", True),
        Column("issue_date", "date", True),
        Column("code_system", "string", True, allowed=MEDICATION_CODE_SYSTEMS),
        Column("code", "string", True),
    ),
    references=_PERSON_REF,
)

ENCOUNTER = Table(
    "encounter",
    "Contacts with services; apc rows are hospital admissions (spells).",
    (
        Column("encounter_id", "string", True),
        Column("person_id", "string", True),
        Column("setting", "string", True, allowed=SETTINGS),
        Column(
            "admission_method",
            "string",
            allowed=ADMISSION_METHODS,
            description="required for apc, empty otherwise",
        ),
        Column("start_datetime", "datetime", True),
        Column("end_datetime", "datetime", description="discharge for apc"),
        Column("provider_code", "string"),
        Column("primary_diagnosis", "string", pattern=r"^[A-Z][0-9]{2}", description="ICD-10"),
        Column("cost_gbp", "float", minimum=0),
    ),
    key=("encounter_id",),
    rules=(
        Rule(
            "end_datetime",
            "end_datetime is before start_datetime",
            "not_before",
            "start_datetime",
        ),
        Rule(
            "admission_method",
            "admission_method is required for apc encounters",
            "required_when",
            "setting",
            "apc",
        ),
    ),
    references=_PERSON_REF,
)

ASSESSMENT = Table(
    "assessment",
    "Scored instruments: PAM, I-statements, PHQ-9, GAD-7, AUDIT-C and others.",
    (
        Column("person_id", "string", True),
        Column("assessment_date", "date", True),
        Column("instrument", "string", True, pattern=r"^[a-z0-9_]+$"),
        Column("score", "float", True),
    ),
    references=_PERSON_REF,
)

PATHWAY = Table(
    "pathway",
    "Waiting-time pathways for the constitutional standards.",
    (
        Column("pathway_id", "string", True),
        Column("person_id", "string", True),
        Column("kind", "string", True, allowed=PATHWAY_KINDS),
        Column("start_date", "date", True, description="clock start (referral)"),
        Column("end_date", "date", description="clock stop; empty while waiting"),
        Column("provider_code", "string"),
    ),
    key=("pathway_id",),
    rules=(Rule("end_date", "end_date is before start_date", "not_before", "start_date"),),
    references=_PERSON_REF,
)

HUB_CAPACITY = Table(
    "hub_capacity",
    "Extended primary care hub appointments offered and booked per day.",
    (
        Column("hub", "string", True),
        Column("date", "date", True),
        Column("offered", "int", True, minimum=0),
        Column("booked", "int", True, minimum=0),
    ),
    key=("hub", "date"),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        PRACTICE,
        PERSON,
        CLINICAL_EVENT,
        MEDICATION,
        ENCOUNTER,
        ASSESSMENT,
        PATHWAY,
        HUB_CAPACITY,
    )
}


def load_order() -> list[Table]:
    """Tables in an order where every referenced table comes first."""
    done: list[Table] = []
    pending = list(TABLES.values())
    while pending:
        for t in pending:
            if all(r.table in {d.name for d in done} for r in t.references):
                done.append(t)
                pending.remove(t)
                break
    return done
