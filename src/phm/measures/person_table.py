"""The person table: one row per registered person as of an index date.

What segmentation, risk, cohorts and every dashboard read. Each family of
columns comes from its own pure function; this module only joins them on
person_id and derives the scores that combine them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import ibis
import ibis.expr.types as ir

from phm.codelists.registry import Registry
from phm.codelists.thresholds import Thresholds
from phm.measures.activity import escalation, recent_discharge, service_use
from phm.measures.conditions import condition_flags, ltc_counts
from phm.measures.maternity import maternity
from phm.measures.population import registered_population
from phm.measures.scores import (
    EFI_DEFICITS,
    EFI_MIN_AGE,
    charlson,
    cms_score,
    efi_category,
    efi_deficits,
    hfrs,
    hfrs_category,
    hospital_diagnoses,
)
from phm.measures.wellbeing import activation, housing_need, vital5

CANONICAL_INPUTS = (
    "person",
    "practice",
    "clinical_event",
    "medication",
    "encounter",
    "assessment",
)


def _attach(base: ir.Table, part: ir.Table) -> ir.Table:
    joined = base.left_join(part, "person_id")
    return joined.select(base, *(c for c in part.columns if c != "person_id"))


def person_table(
    tables: Mapping[str, ir.Table],
    registry: Registry,
    thresholds: Thresholds,
    index_date: dt.date,
    *,
    cache_parts: bool = False,
) -> ir.Table:
    """Build the person table from the canonical tables as of `index_date`.

    With `cache_parts` each family of columns is computed once into a
    temporary table before the join (the engine plans ten small queries far
    better than one query with ten branches over the same event tables).
    """
    event, medication = tables["clinical_event"], tables["medication"]
    encounter, assessment = tables["encounter"], tables["assessment"]
    population = registered_population(tables["person"], tables["practice"], index_date)
    lists = registry.codelists()
    scores = registry.scores

    flags = ltc_counts(
        condition_flags(population, event, medication, registry.conditions, lists, index_date),
        registry.conditions,
    )
    parts = [
        flags.mutate(cms_score=cms_score(flags, scores.cms)),
        charlson(
            hospital_diagnoses(event, encounter, index_date, scores.charlson_lookback_days),
            scores,
            lists,
        ),
        hfrs(hospital_diagnoses(event, encounter, index_date, scores.hfrs_lookback_days), scores),
        efi_deficits(event, medication, scores, lists, index_date),
        service_use(population, encounter, index_date),
        escalation(population, encounter, index_date, thresholds.escalation),
        recent_discharge(population, encounter, index_date, thresholds.discharge),
        activation(population, assessment, index_date, thresholds.pam),
        vital5(population, event, assessment, index_date, thresholds.vital5),
        housing_need(population, event, index_date, thresholds.housing),
        maternity(population, encounter, event, index_date),
    ]
    table = population.cache() if cache_parts else population
    for part in parts:
        table = _attach(table, part.cache() if cache_parts else part)

    older = table.age >= EFI_MIN_AGE
    deficits = table.efi_deficits.fill_null(0)
    return table.mutate(
        charlson=table.charlson.fill_null(0),
        hfrs=table.hfrs.fill_null(0.0),
        hfrs_category=hfrs_category(table.hfrs.fill_null(0.0)),
        efi_deficits=ibis.ifelse(older, deficits, ibis.null("int64")),
        efi=ibis.ifelse(older, (deficits / EFI_DEFICITS).round(3), ibis.null("float64")),
        efi_category=ibis.ifelse(older, efi_category(deficits), ibis.null("string")),
        deceased=ibis.literal(False),
        definitions_version=ibis.literal(f"{registry.version}+{registry.digest}"),
    )
