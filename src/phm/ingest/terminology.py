"""Source codes and categories to the canonical ones, for every adapter alike.

Each mapping names its source; the larger ones are CSV files in maps/ (the
same "# title / # source / # version" header as the code lists). A code is
mapped only where the vocabulary allows: SNOMED CT, ICD-10, OPCS-4, Read v2
and CTV3 go straight to clinical_event; dm+d and BNF to medication; LOINC
through maps/loinc.csv (observables to SNOMED CT, questionnaire totals to
assessment); drug names through maps/ingredients.csv. Anything else is an
unmapped code: counted in the report and kept in the rejects, never dropped.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MAPS = Path(__file__).parent / "maps"

# Canonical code systems a source vocabulary can be loaded as without a map.
EVENT_SYSTEMS = {
    "snomed": "snomed",
    "icd10": "icd10",
    # ICD-10-CM (US) keeps the WHO ICD-10 categories and adds detail after
    # them; codes are loaded as ICD-10, which code lists match by prefix.
    "icd10cm": "icd10",
    "opcs4": "opcs4",
    "read2": "read2",
    "ctv3": "ctv3",
}
# dm+d codes are SNOMED CT UK drug extension concepts: UK Core codes medicines
# with the SNOMED CT system (FHIR UK Core, MedicationRequest.medication).
MEDICATION_SYSTEMS = {"dmd": "dmd", "snomed": "dmd", "bnf": "bnf"}

# Preference when a source gives several codings for one thing.
EVENT_PREFERENCE = ("snomed", "icd10", "opcs4", "read2", "ctv3", "icd10cm", "loinc")
MEDICATION_PREFERENCE = ("dmd", "snomed", "bnf", "rxnorm")

_SYSTEMS = {
    "http://snomed.info/sct": "snomed",
    "snomed": "snomed",
    "snomed-ct": "snomed",
    "snomed ct": "snomed",
    "sct": "snomed",
    "http://hl7.org/fhir/sid/icd-10": "icd10",
    "http://hl7.org/fhir/sid/icd-10-uk": "icd10",
    "https://fhir.hl7.org.uk/id/icd-10": "icd10",
    "icd10": "icd10",
    "icd-10": "icd10",
    "http://hl7.org/fhir/sid/icd-10-cm": "icd10cm",
    "icd10cm": "icd10cm",
    "icd-10-cm": "icd10cm",
    "http://loinc.org": "loinc",
    "loinc": "loinc",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "rxnorm",
    "rxnorm": "rxnorm",
    "rxnorm extension": "rxnorm",
    "https://dmd.nhs.uk": "dmd",
    "http://dmd.nhs.uk": "dmd",
    "dm+d": "dmd",
    "dmd": "dmd",
    "http://read.info/readv2": "read2",
    "read": "read2",
    "read2": "read2",
    "http://read.info/ctv3": "ctv3",
    "ctv3": "ctv3",
    "http://hl7.org/fhir/sid/cvx": "cvx",
    "cvx": "cvx",
    "http://hl7.org/fhir/sid/ndc": "ndc",
    "ndc": "ndc",
}


def vocabulary(system: str | None) -> str:
    """A source's code system (FHIR URI, OMOP vocabulary_id or name) as a short name.

    OPCS-4 and BNF have no single published FHIR URI; any system naming them
    is read as them. An unknown system is kept as it is, to be reported.
    """
    if not system:
        return "unknown"
    key = system.strip().lower().rstrip("/")
    if key in _SYSTEMS:
        return _SYSTEMS[key]
    if "opcs" in key:
        return "opcs4"
    if "bnf" in key:
        return "bnf"
    return system.strip()


def canonical_code(system: str, code: str) -> str:
    """A code as the canonical tables hold it: ICD-10 and OPCS-4 without their dot."""
    code = code.strip()
    if system in ("icd10", "opcs4"):
        return code.replace(".", "").upper()
    return code


@dataclass(frozen=True)
class Mapped:
    """Where one source code goes: a canonical table with its code, or nowhere."""

    table: str  # clinical_event | medication | assessment | "" (unmapped)
    code_system: str = ""
    code: str = ""


UNMAPPED = Mapped("")


def _rows(name: str) -> list[dict[str, str]]:
    with (MAPS / name).open(encoding="utf-8") as f:
        lines = [line for line in f if not line.startswith("#")]
    return list(csv.DictReader(lines))


@cache
def loinc_map() -> dict[str, Mapped]:
    """LOINC codes with a canonical equivalent (maps/loinc.csv)."""
    out = {}
    for row in _rows("loinc.csv"):
        if row["target"] == "assessment":
            out[row["loinc"]] = Mapped("assessment", "", row["code"])
        else:
            out[row["loinc"]] = Mapped("clinical_event", row["target"], row["code"])
    return out


@cache
def _ingredients() -> tuple[re.Pattern[str], dict[str, str]]:
    rows = _rows("ingredients.csv")
    codes = {row["ingredient"]: row["bnf"] for row in rows}
    names = sorted(codes, key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b")
    return pattern, codes


def bnf_from_name(name: str) -> str | None:
    """The BNF chemical substance of a single-ingredient drug named in free text.

    RxNorm writes combinations with " / " between ingredients; those, and
    names with no listed ingredient, are not mapped.
    """
    text = name.lower()
    if " / " in text:
        return None
    pattern, codes = _ingredients()
    found = {codes[m] for m in pattern.findall(text)}
    return found.pop() if len(found) == 1 else None


def map_code(domain: str, system: str, code: str, display: str = "") -> Mapped:
    """Map one source code (its short vocabulary name) in a domain (event or medication)."""
    if not code:
        return UNMAPPED
    if domain == "medication":
        if system in MEDICATION_SYSTEMS:
            target = MEDICATION_SYSTEMS[system]
            return Mapped("medication", target, canonical_code(target, code))
        bnf = bnf_from_name(display) if display else None
        return Mapped("medication", "bnf", bnf) if bnf else UNMAPPED
    if system in EVENT_SYSTEMS:
        target = EVENT_SYSTEMS[system]
        return Mapped("clinical_event", target, canonical_code(target, code))
    if system == "loinc":
        return loinc_map().get(code.strip(), UNMAPPED)
    return UNMAPPED


def best_coding(domain: str, codings: list[tuple[str, str, str]]) -> tuple[str, str, str] | None:
    """Of (vocabulary, code, display) codings, the one most directly loadable."""
    if not codings:
        return None
    order = MEDICATION_PREFERENCE if domain == "medication" else EVENT_PREFERENCE
    for system in order:
        for coding in codings:
            if coding[0] == system and coding[1]:
                if system == "loinc" and coding[1] not in loinc_map():
                    continue
                return coding
    return codings[0]


@dataclass(frozen=True)
class SettingRule:
    setting: str
    admission_method: str
    note: str


@cache
def setting_rules() -> dict[tuple[str, str], SettingRule]:
    """Encounter kinds of each source system to settings (maps/settings.csv)."""
    return {
        (row["system"], row["value"]): SettingRule(
            row["setting"], row["admission_method"], row["note"]
        )
        for row in _rows("settings.csv")
    }


def setting_of(system: str, value: str) -> SettingRule | None:
    return setting_rules().get((system, value.strip()))


# NHS Data Dictionary "Admission method" codes (HES / SUS): 11-13 elective,
# 21-28 emergency, 31-32 maternity, 81-83 other.
def admission_method_of_nhs_code(code: str) -> str | None:
    code = code.strip().upper()
    if not code:
        return None
    return {"1": "elective", "2": "emergency", "3": "maternity", "8": "other"}.get(code[0])


# HL7 v3 ActPriority (Encounter.priority): emergency and urgent admissions are
# emergency admissions; elective, routine and pre-op are elective.
ACT_PRIORITY = {
    "EM": "emergency",
    "UR": "emergency",
    "A": "emergency",
    "S": "emergency",
    "EL": "elective",
    "R": "elective",
    "PRN": "elective",
    "P": "elective",
}

# Ethnicity. NHS Data Dictionary ethnic category (2001 census codes, as in UK
# Core Extension-UKCore-EthnicCategory) to the ONS 2021 category.
NHS_ETHNIC_CATEGORY = {
    "A": "British",
    "B": "Irish",
    "C": "Other White",
    "D": "White and Black Caribbean",
    "E": "White and Black African",
    "F": "White and Asian",
    "G": "Other Mixed",
    "H": "Indian",
    "J": "Pakistani",
    "K": "Bangladeshi",
    "L": "Other Asian",
    "M": "Caribbean",
    "N": "African",
    "P": "Other Black",
    "R": "Chinese",
    "S": "Any other ethnic group",
    "Z": "Not stated",
}
# The reverse, for exporters: ONS 2021 categories the 2001 codes cannot tell
# apart (Roma and Gypsy or Irish Traveller are C, Arab is S) lose detail.
ETHNIC_CATEGORY_CODE = {
    **{v: k for k, v in NHS_ETHNIC_CATEGORY.items()},
    "Gypsy or Irish Traveller": "C",
    "Roma": "C",
    "Arab": "S",
}
# US sources (Synthea RACE, US Core OMB race, OMOP race concepts) name only a
# broad group: it goes to that group's "Other" ONS 2021 category.
US_RACE = {
    "white": "Other White",
    "black": "Other Black",
    "asian": "Other Asian",
    "native": "Any other ethnic group",
    "hawaiian": "Any other ethnic group",
    "other": "Any other ethnic group",
    # US Core OMB race categories (urn:oid:2.16.840.1.113883.6.238)
    "2106-3": "Other White",
    "2054-5": "Other Black",
    "2028-9": "Other Asian",
    "1002-5": "Any other ethnic group",
    "2076-8": "Any other ethnic group",
    "2131-1": "Any other ethnic group",
    # OMOP CDM Race vocabulary concept ids
    "8527": "Other White",
    "8516": "Other Black",
    "8515": "Other Asian",
    "8657": "Any other ethnic group",
    "8557": "Any other ethnic group",
}

# Questionnaires whose total is an assessment: the canonical instrument by the
# questionnaire's name (the last part of its canonical URL, lower case).
INSTRUMENTS = {
    "pam": "pam",
    "pam13": "pam",
    "pam-13": "pam",
    "patient-activation-measure": "pam",
    "patientactivationmeasure": "pam",
    "i-statement": "i_statement",
    "i-statements": "i_statement",
    "i_statement": "i_statement",
    "istatements": "i_statement",
    "phq9": "phq9",
    "phq-9": "phq9",
    "gad7": "gad7",
    "gad-7": "gad7",
    "audit-c": "audit_c",
    "audit_c": "audit_c",
    "auditc": "audit_c",
}
SCORE_ITEMS = ("score", "total", "total-score", "total_score", "totalscore")


def instrument_of(questionnaire: str) -> str | None:
    """The canonical instrument a questionnaire URL (or name) stands for."""
    name = questionnaire.split("|")[0].rstrip("/").rsplit("/", 1)[-1].strip().lower()
    return INSTRUMENTS.get(name)
