"""Maternity and infancy at the index date: the maternal and infant segment's inputs.

`maternity` holds when, within the 308 days up to the index date, the person
has a pregnancy code recorded or a maternity admission started. 308 days is
NHS England's national segmentation rule: a person stays in the Maternal
Health segment at most 308 days (44 weeks; Reference Guide v3.0, OBH
condition-definitions-maternal-health). The window is half-open,
(index - 308 days, index], as in phm.measures.activity; anything after the
index date is ignored.

`infant` holds under 1 year of age (Lynn et al. Milbank Q 2007, segment 2,
"maternal and infant health").

Pregnancy codes (no pregnancy code list exists under codelists/data/, so the
list is declared here):

- SNOMED CT 77386006 |Pregnancy (finding)| ("Patient currently pregnant"; the
  concept the synthetic GP record codes at booking) and ten of its subtypes,
  as listed under it in a public hand-built subtype list of 77386006 (a SMART
  on FHIR target-profile matcher); four of them (72892002, 83074005,
  169560008, 169563005) also appear with their fully specified names in a
  public EHR's recommended pregnancy codes for quality measures. Not checked
  against a SNOMED CT release (no TRUD access here): replace with the PCD
  pregnancy cluster when one is added to codelists/data/. Subtypes left out
  as not clearly a current pregnancy: 102876002 Multigravida, 127363001
  Number of pregnancies, 102875003 Surrogate pregnancy.
- ICD-10 chapter XV, O00-O99 (pregnancy, childbirth and the puerperium), and
  Z33-Z37 and Z39 (pregnant state; supervision of normal and high-risk
  pregnancy; antenatal screening; outcome of delivery; postpartum care),
  matched by prefix: hospital coding of the pregnancy or delivery. Z30-Z32
  (contraception, procreative management, pregnancy test) are not evidence
  of a pregnancy, and Z38 codes the liveborn infant, not the mother.

Maternity admissions: encounters with setting apc and admission_method
maternity (the canonical extract's admission methods).
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from phm.codelists.codelist import Codelist
from phm.measures.events import coded

MATERNAL_SEGMENT_DAYS = 308
INFANT_MAX_AGE = 1

PREGNANCY = Codelist(
    name="pregnancy",
    title="Pregnancy (current pregnancy, childbirth and the puerperium)",
    source="SNOMED CT 77386006 and subtypes; ICD-10 O00-O99, Z33-Z37, Z39 (see module docstring)",
    version="2026-11-26",
    codes=(
        ("snomed", "77386006", "Pregnancy (Patient currently pregnant)"),
        ("snomed", "72892002", "Normal pregnancy"),
        ("snomed", "47200007", "High risk pregnancy"),
        ("snomed", "83074005", "Unplanned pregnancy"),
        ("snomed", "58532003", "Unwanted pregnancy"),
        ("snomed", "65727000", "Intrauterine pregnancy"),
        ("snomed", "169560008", "Pregnant - urine test confirms"),
        ("snomed", "169561007", "Pregnant - blood test confirms"),
        ("snomed", "169562000", "Pregnant - V.E. confirms"),
        ("snomed", "169563005", "Pregnant - on history"),
        ("snomed", "169564004", "Pregnant - on abdominal palpation"),
        ("icd10", "O", "Pregnancy, childbirth and the puerperium (chapter XV)"),
        ("icd10", "Z33", "Pregnant state, incidental"),
        ("icd10", "Z34", "Supervision of normal pregnancy"),
        ("icd10", "Z35", "Supervision of high-risk pregnancy"),
        ("icd10", "Z36", "Antenatal screening"),
        ("icd10", "Z37", "Outcome of delivery"),
        ("icd10", "Z39", "Postpartum care and examination"),
    ),
)


def _window(day: ir.DateValue, index_date: dt.date) -> ir.BooleanValue:
    """`day` in (index - 308 days, index]."""
    start = ibis.date(index_date - dt.timedelta(days=MATERNAL_SEGMENT_DAYS))
    return (day > start) & (day <= ibis.date(index_date))


def maternity(
    population: ir.Table,
    encounter: ir.Table,
    clinical_event: ir.Table,
    index_date: dt.date,
) -> ir.Table:
    """One row per person of `population`: person_id, maternity, infant (never null).

    maternity: a pregnancy code (PREGNANCY) on an event dated, or a maternity
    admission (apc, admission_method maternity) started, in
    (index - 308 days, index]. infant: age under 1 at the index date.
    """
    events = clinical_event.filter(_window(clinical_event.event_date, index_date)).select(
        "person_id", "event_date", "code_system", "code"
    )
    coded_people = coded(events, {PREGNANCY.name: PREGNANCY}).select("person_id")
    started = encounter.start_datetime.date()
    admitted = encounter.filter(
        encounter.setting == "apc",
        (encounter.admission_method == "maternity").fill_null(False),
        _window(started, index_date),
    ).select("person_id")
    maternal = coded_people.union(admitted).distinct().mutate(maternity=ibis.literal(True))
    people = population.select("person_id", "age")
    joined = people.left_join(maternal, people.person_id == maternal.person_id)
    return joined.select(
        people.person_id,
        maternity=joined.maternity.fill_null(False),
        infant=(people.age < INFANT_MAX_AGE).fill_null(False),
    )
