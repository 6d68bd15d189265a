"""Scores as tiny tables: hand-computed CMS, Charlson, HFRS and eFI for a few people."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis

from phm.codelists.codelist import Codelist
from phm.codelists.registry import Scores, WeightedCode, WeightedCondition
from phm.measures.scores import (
    charlson,
    cms_score,
    efi_category,
    efi_deficits,
    hfrs,
    hfrs_category,
    hospital_diagnoses,
)
from tests.conftest import rows

INDEX = dt.date(2026, 3, 31)
D = dt.date


def codelist(name: str, *codes: tuple[str, str]) -> Codelist:
    return Codelist(name, name, "test", "1", tuple((s, c, "") for s, c in codes))


LISTS = {
    "charlson_cancer": codelist("charlson_cancer", ("icd10", "C50")),
    "charlson_metastatic": codelist("charlson_metastatic", ("icd10", "C78")),
    "charlson_hiv": codelist("charlson_hiv", ("icd10", "B20")),
    "charlson_chf": codelist("charlson_chf", ("icd10", "I50")),
    "efi_falls": codelist("efi_falls", ("snomed", "161898004")),
    "efi_housebound": codelist("efi_housebound", ("snomed", "160689007")),
}
SCORES = Scores(
    cms=(
        WeightedCondition(condition="dementia", weight=2.50),
        WeightedCondition(condition="hypertension", weight=0.08),
    ),
    cms_source="test",
    charlson=(
        WeightedCode(codelist="charlson_cancer", weight=2),
        WeightedCode(codelist="charlson_metastatic", weight=6),
        WeightedCode(codelist="charlson_hiv", weight=4),
        WeightedCode(codelist="charlson_chf", weight=2),
    ),
    charlson_source="test",
    charlson_lookback_days=1826,
    hfrs={"F00": 7.1, "W19": 3.2, "N39": 3.2, "R29": 3.6},
    hfrs_source="test",
    hfrs_lookback_days=730,
    efi_deficits=("efi_falls", "efi_housebound"),
    efi_polypharmacy_min_drugs=3,
    efi_polypharmacy_within_days=365,
    efi_source="test",
)

EVENT_SCHEMA = {
    "person_id": "string",
    "event_date": "date",
    "code_system": "string",
    "code": "string",
    "source": "string",
}
ENCOUNTER_SCHEMA = {
    "person_id": "string",
    "setting": "string",
    "start_datetime": "timestamp",
    "primary_diagnosis": "string",
}
MED_SCHEMA = {
    "person_id": "string",
    "issue_date": "date",
    "code_system": "string",
    "code": "string",
}


def table(schema: dict[str, str], data: list[tuple[Any, ...]]) -> ibis.Table:
    return ibis.memtable([dict(zip(schema, r, strict=True)) for r in data], schema=schema)


EVENTS = table(
    EVENT_SCHEMA,
    [
        # A: breast cancer and metastases (only metastatic counts: 6), HIV (4), HF in A&E (not apc)
        ("A", D(2024, 1, 1), "icd10", "C509", "apc"),
        ("A", D(2024, 1, 1), "icd10", "C787", "apc"),
        ("A", D(2025, 1, 1), "icd10", "B20", "apc"),
        ("A", D(2025, 1, 1), "icd10", "I50", "ae"),
        # B: HFRS codes: dementia F00 twice (once), fall W19, UTI N39.0 in 2 years; R29 3 years ago
        ("B", D(2025, 1, 1), "icd10", "F001", "apc"),
        ("B", D(2025, 6, 1), "icd10", "F009", "apc"),
        ("B", D(2025, 6, 1), "icd10", "W19", "apc"),
        ("B", D(2023, 3, 1), "icd10", "R296", "apc"),
        ("B", D(2025, 9, 1), "snomed", "161898004", "gp"),  # a fall: eFI deficit
        ("B", D(2026, 4, 1), "snomed", "160689007", "gp"),  # housebound after the index date
        (
            "C",
            D(2020, 1, 1),
            "icd10",
            "C509",
            "apc",
        ),  # cancer 6 years ago: outside Charlson look-back
    ],
)
ENCOUNTERS = table(
    ENCOUNTER_SCHEMA,
    [
        ("B", "apc", dt.datetime(2025, 7, 1, 10), "N390"),  # primary diagnosis: UTI
        ("B", "op", dt.datetime(2025, 7, 1, 10), "R296"),  # outpatient: not admitted care
    ],
)
MEDICATIONS = table(
    MED_SCHEMA,
    [
        ("B", D(2025, 5, 1), "bnf", "0206020A0AAAAAA"),
        ("B", D(2025, 6, 1), "bnf", "0206020A0AAABAB"),  # same substance, another presentation
        ("B", D(2025, 7, 1), "bnf", "0601022B0AAABAB"),
        ("B", D(2025, 8, 1), "dmd", "39113611000001102"),
        ("C", D(2025, 8, 1), "bnf", "0206020A0AAAAAA"),
    ],
)


def test_cms_score_sums_the_weights_present(backend: Any) -> None:
    flags = ibis.memtable(
        {
            "person_id": ["A", "B", "C"],
            "dementia": [True, False, False],
            "hypertension": [True, True, False],
        }
    )
    expr = flags.select("person_id", cms=cms_score(flags, SCORES.cms))
    assert {r["person_id"]: r["cms"] for r in rows(backend, expr, "person_id")} == {
        "A": 2.58,
        "B": 0.08,
        "C": 0.0,
    }


def test_charlson_takes_the_severe_form_and_counts_hiv_as_4(backend: Any) -> None:
    dx = hospital_diagnoses(EVENTS, ENCOUNTERS, INDEX, SCORES.charlson_lookback_days)
    expr = charlson(dx, SCORES, LISTS)
    assert {r["person_id"]: r["charlson"] for r in rows(backend, expr, "person_id")} == {"A": 10}


def test_hfrs_counts_each_code_once_over_two_years_of_admissions(backend: Any) -> None:
    dx = hospital_diagnoses(EVENTS, ENCOUNTERS, INDEX, SCORES.hfrs_lookback_days)
    expr = hfrs(dx, SCORES)
    result = {r["person_id"]: r["hfrs"] for r in rows(backend, expr, "person_id")}
    assert result == {"B": 13.5}  # F00 7.1 + W19 3.2 + N39 3.2


def test_hfrs_bands(backend: Any) -> None:
    t = ibis.memtable({"s": [0.0, 4.9, 5.0, 15.0, 15.1]})
    expr = t.select("s", band=hfrs_category(t.s))
    assert [r["band"] for r in rows(backend, expr, "s")] == [
        "low",
        "low",
        "intermediate",
        "intermediate",
        "high",
    ]


def test_efi_counts_deficits_and_polypharmacy(backend: Any) -> None:
    expr = efi_deficits(EVENTS, MEDICATIONS, SCORES, LISTS, INDEX)
    # B: a fall (housebound is after the index date) + 3 distinct drugs = polypharmacy
    assert {r["person_id"]: r["efi_deficits"] for r in rows(backend, expr, "person_id")} == {
        "B": 2,
    }


def test_efi_bands_on_the_integer_count(backend: Any) -> None:
    t = ibis.memtable({"n": [0, 4, 5, 8, 9, 12, 13, 36]})
    expr = t.select("n", band=efi_category(t.n))
    assert [r["band"] for r in rows(backend, expr, "n")] == [
        "fit",
        "fit",
        "mild",
        "mild",
        "moderate",
        "moderate",
        "severe",
        "severe",
    ]
