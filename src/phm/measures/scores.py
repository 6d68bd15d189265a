"""Multimorbidity and frailty scores: CMS, Charlson, HFRS and the eFI.

Weights and code lists are definitions (codelists/scores.yaml); this module
applies them. Sources:
- Cambridge Multimorbidity Score, general-outcome weights of the 20-condition
  model: Payne et al. CMAJ 2020;192:E107. Sum of the weights of the conditions present.
- Charlson: Quan et al. Med Care 2005;43:1130 (ICD-10 coding) with the updated
  weights of Quan et al. Am J Epidemiol 2011;173:676, from hospital diagnoses
  in the look-back; where a milder and a more severe form of one disease are
  both coded only the severe one counts (Quan's hierarchy).
- Hospital Frailty Risk Score: Gilbert et al. Lancet 2018;391:1775. Each of
  109 three-character ICD-10 codes counted once per person over the last two
  years of hospital records; low < 5, intermediate 5–15, high > 15.
- Electronic Frailty Index: Clegg et al. Age Ageing 2016;45:353. 36 deficits
  (35 coded, plus polypharmacy), banded on the integer count: fit 0–4, mild
  5–8, moderate 9–12, severe ≥ 13 (shared/DOMAIN.md). Validated in people aged
  65–95, so given for people aged 65 and over only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import ibis
import ibis.expr.types as ir

from phm.codelists.codelist import Codelist
from phm.codelists.registry import Scores, WeightedCondition
from phm.engine import rows_table
from phm.measures.events import coded, days_before

EFI_DEFICITS = 36
EFI_MIN_AGE = 65
# Quan 2005: the milder form does not count when the severe form is coded.
CHARLSON_HIERARCHY = {
    "charlson_diabetes_uncomplicated": "charlson_diabetes_complicated",
    "charlson_mild_liver": "charlson_severe_liver",
    "charlson_cancer": "charlson_metastatic",
}


def cms_score(flags: ir.Table, weights: Sequence[WeightedCondition]) -> ir.FloatingValue:
    """The Cambridge Multimorbidity Score of each row of the condition flags."""
    total = ibis.literal(0.0)
    for w in weights:
        total = total + ibis.ifelse(flags[w.condition], w.weight, 0.0)
    return total.round(2)


def hospital_diagnoses(
    clinical_event: ir.Table, encounter: ir.Table, index_date: dt.date, lookback_days: int
) -> ir.Table:
    """ICD-10 diagnoses from admitted patient care in the look-back: (person_id, code).

    Secondary diagnoses come as clinical events from source `apc`; the primary
    diagnosis of each admission from the encounter table.
    """
    events = clinical_event.filter(
        (clinical_event.source == "apc")
        & (clinical_event.code_system == "icd10")
        & (clinical_event.event_date <= index_date)
        & (days_before(index_date, clinical_event.event_date) < lookback_days)
    ).select("person_id", "code")
    admitted = encounter.start_datetime.date()
    primary = encounter.filter(
        (encounter.setting == "apc")
        & encounter.primary_diagnosis.notnull()
        & (admitted <= index_date)
        & (days_before(index_date, admitted) < lookback_days)
    ).select("person_id", code=encounter.primary_diagnosis)
    return events.union(primary).mutate(
        code=lambda t: t.code.replace(".", "").upper(), code_system=ibis.literal("icd10")
    )


def charlson(diagnoses: ir.Table, scores: Scores, lists: Mapping[str, Codelist]) -> ir.Table:
    """(person_id, charlson) for people with any Charlson condition in `diagnoses`."""
    charlson_lists = {w.codelist: lists[w.codelist] for w in scores.charlson}
    present = coded(diagnoses, charlson_lists).select("person_id", "codelist").distinct()
    for milder, severe in CHARLSON_HIERARCHY.items():
        has_severe = present.filter(present.codelist == severe).select("person_id")
        present = present.filter(
            (present.codelist != milder) | ~present.person_id.isin(has_severe.person_id)
        )
    weights = rows_table(
        [{"codelist": w.codelist, "weight": w.weight} for w in scores.charlson],
        {"codelist": "string", "weight": "float64"},
    )
    scored = present.inner_join(weights, "codelist")
    return scored.group_by("person_id").agg(charlson=scored.weight.sum().cast("int64"))


def hfrs(diagnoses: ir.Table, scores: Scores) -> ir.Table:
    """(person_id, hfrs) for people with any HFRS code in `diagnoses`."""
    weights = rows_table(
        [{"code3": code, "weight": weight} for code, weight in scores.hfrs.items()],
        {"code3": "string", "weight": "float64"},
    )
    codes = diagnoses.select("person_id", code3=diagnoses.code.substr(0, 3)).distinct()
    scored = codes.inner_join(weights, "code3")
    return scored.group_by("person_id").agg(hfrs=scored.weight.sum().round(1))


def hfrs_category(score: ir.FloatingValue) -> ir.StringValue:
    return ibis.cases((score < 5, "low"), (score <= 15, "intermediate"), else_="high")


def efi_deficits(
    clinical_event: ir.Table,
    medication: ir.Table,
    scores: Scores,
    lists: Mapping[str, Codelist],
    index_date: dt.date,
) -> ir.Table:
    """(person_id, efi_deficits): coded deficits ever recorded, plus polypharmacy.

    Polypharmacy: at least `efi_polypharmacy_min_drugs` distinct medicines
    (BNF chemical substance, the first nine characters of a BNF code; dm+d
    codes as they are) issued within the window.
    """
    events = clinical_event.filter(clinical_event.event_date <= index_date).select(
        "person_id", "code_system", "code"
    )
    deficit_lists = {name: lists[name] for name in scores.efi_deficits}
    coded_deficits = coded(events, deficit_lists).select("person_id", "codelist").distinct()
    issued = medication.filter(
        (medication.issue_date <= index_date)
        & (days_before(index_date, medication.issue_date) < scores.efi_polypharmacy_within_days)
    )
    substance = ibis.ifelse(issued.code_system == "bnf", issued.code.substr(0, 9), issued.code)
    drugs = issued.select("person_id", substance=substance).distinct()
    polypharmacy = (
        drugs.group_by("person_id")
        .agg(n=drugs.count())
        .filter(lambda t: t.n >= scores.efi_polypharmacy_min_drugs)
        .select("person_id", codelist=ibis.literal("efi_polypharmacy"))
    )
    deficits = coded_deficits.union(polypharmacy)
    return deficits.group_by("person_id").agg(efi_deficits=deficits.count().cast("int64"))


def efi_category(deficits: ir.IntegerValue) -> ir.StringValue:
    return ibis.cases(
        (deficits <= 4, "fit"),
        (deficits <= 8, "mild"),
        (deficits <= 12, "moderate"),
        else_="severe",
    )
