"""Long-term conditions as of the index date: a flag and a first date for each.

Register-style rules from the definitions registry (codelists/conditions.yaml),
following QOF business-rules logic: a condition is present when a diagnosis
code is recorded (ever, or within its look-back), the latest diagnosis is on
or after any "resolved" code (a later resolved code takes the person off the
register), the person is old enough, and its treatment rule holds. Events
after the index date are ignored. "3+ LTCs" counts distinct conditions, not
codes (shared/DOMAIN.md).

The rules are applied as data: one small table of rules joined to the coded
events, so forty conditions cost one pass over the events, not forty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import ibis
import ibis.expr.types as ir

from phm.codelists.codelist import Codelist
from phm.codelists.registry import Condition
from phm.engine import rows_table
from phm.measures.events import coded, days_before

_RULE_SCHEMA = {
    "condition": "string",
    "diag_list": "string",
    "resolved_list": "string",
    "lookback_days": "int64",
    "first_within_days": "int64",
    "min_age": "int64",
    "med_list": "string",
    "med_within_days": "int64",
    "med_min_issues": "int64",
    "med_combine": "string",
}

_TREATED_SCHEMA = {
    "person_id": "string",
    "condition": "string",
    "issues": "int64",
    "first_issue": "date",
}


def _rules(conditions: Sequence[Condition]) -> ir.Table:
    rows = [
        {
            "condition": c.name,
            "diag_list": c.codelist,
            "resolved_list": c.resolved,
            "lookback_days": c.lookback_days,
            "first_within_days": c.first_within_days,
            "min_age": c.min_age,
            "med_list": c.medication.codelist if c.medication else None,
            "med_within_days": c.medication.within_days if c.medication else None,
            "med_min_issues": c.medication.min_issues if c.medication else None,
            "med_combine": c.medication.combine if c.medication else None,
        }
        for c in conditions
    ]
    return rows_table(rows, _RULE_SCHEMA)


def _diagnoses(
    rules: ir.Table, clinical_event: ir.Table, lists: Mapping[str, Codelist], day: dt.date
) -> ir.Table:
    """Per person and condition: first and last diagnosis, and the last resolved code."""
    events = clinical_event.filter(clinical_event.event_date <= day).select(
        "person_id", "event_date", "code_system", "code"
    )
    matched = coded(events, lists)
    per_list = matched.group_by("person_id", "codelist").agg(
        first_date=matched.event_date.min(), last_date=matched.event_date.max()
    )
    diag = rules.inner_join(per_list, rules.diag_list == per_list.codelist).select(
        "person_id",
        "condition",
        "resolved_list",
        first_diag=per_list.first_date,
        last_diag=per_list.last_date,
    )
    resolved = per_list.select(
        resolved_person=per_list.person_id,
        resolved_codelist=per_list.codelist,
        last_resolved=per_list.last_date,
    )
    return diag.left_join(
        resolved,
        [
            diag.person_id == resolved.resolved_person,
            diag.resolved_list == resolved.resolved_codelist,
        ],
    ).select("person_id", "condition", "first_diag", "last_diag", "last_resolved")


def _treatment(
    rules: ir.Table, medication: ir.Table, lists: Mapping[str, Codelist], day: dt.date
) -> ir.Table:
    """Per person and condition: qualifying prescriptions issued within the rule's window."""
    issues = medication.filter(medication.issue_date <= day).select(
        "person_id", "issue_date", "code_system", "code"
    )
    matched = coded(issues, lists)
    joined = rules.inner_join(matched, rules.med_list == matched.codelist)
    recent = joined.filter(days_before(day, joined.issue_date) < joined.med_within_days)
    return recent.group_by("person_id", "condition").agg(
        issues=recent.count(), first_issue=recent.issue_date.min()
    )


def condition_flags(
    population: ir.Table,
    clinical_event: ir.Table,
    medication: ir.Table,
    conditions: Sequence[Condition],
    lists: Mapping[str, Codelist],
    index_date: dt.date,
) -> ir.Table:
    """One row per person of `population`: `<condition>` (bool) and `<condition>_first_date`."""
    rules = _rules(conditions)
    diag_lists = {n: lists[n] for c in conditions for n in (c.codelist, c.resolved) if n}
    med_lists = {
        c.medication.codelist: lists[c.medication.codelist] for c in conditions if c.medication
    }
    diag = _diagnoses(rules, clinical_event, diag_lists, index_date)
    keys = diag.select("person_id", "condition")
    if med_lists:
        treated = _treatment(rules, medication, med_lists, index_date)
        keys = keys.union(treated.select("person_id", "condition"))
    else:
        treated = rows_table(
            [],
            {
                "person_id": "string",
                "condition": "string",
                "issues": "int64",
                "first_issue": "date",
            },
        )
    keys = keys.distinct()
    candidates = keys.left_join(diag, ["person_id", "condition"]).select(
        keys, "first_diag", "last_diag", "last_resolved"
    )
    candidates = candidates.left_join(treated, ["person_id", "condition"]).select(
        candidates, "issues", "first_issue"
    )
    candidates = candidates.inner_join(rules, "condition").inner_join(
        population.select("person_id", "age"), "person_id"
    )

    c = candidates
    since_last = days_before(index_date, c.last_diag)
    since_first = days_before(index_date, c.first_diag)
    diagnosed = (
        c.last_diag.notnull()
        & (c.lookback_days.isnull() | (since_last < c.lookback_days))
        & (c.first_within_days.isnull() | (since_first < c.first_within_days))
        & (c.last_resolved.isnull() | (c.last_resolved <= c.last_diag))
    )
    treated_enough = c.issues.fill_null(0) >= c.med_min_issues
    present = ibis.cases(
        (c.med_combine.isnull(), diagnosed),
        (c.med_combine == "and", diagnosed & treated_enough),
        else_=diagnosed | treated_enough,
    ) & (c.age >= c.min_age)
    flagged = c.select(
        "person_id",
        "condition",
        present=present,
        first_date=ibis.ifelse(diagnosed, c.first_diag, c.first_issue),
    ).filter(lambda t: t.present)

    wide = flagged.group_by("person_id").agg(
        **{name: (flagged.condition == name).any() for name in (cond.name for cond in conditions)},
        **{
            f"{name}_first_date": flagged.first_date.min(where=flagged.condition == name)
            for name in (cond.name for cond in conditions)
        },
    )
    people = population.select("person_id")
    joined = people.left_join(wide, "person_id").select(people, *wide.columns[1:])
    return joined.mutate(**{cond.name: joined[cond.name].fill_null(False) for cond in conditions})


def ltc_counts(flags: ir.Table, conditions: Sequence[Condition]) -> ir.Table:
    """`ltc_count`, `ltc_3plus`, `ltc_5plus` and `physical_mental` from the condition flags.

    Physical–mental comorbidity: at least one physical and one mental health
    condition (Barnett et al. Lancet 2012), over the conditions that count as LTCs.
    """
    counted = [c for c in conditions if c.counts_as_ltc]
    count = sum((flags[c.name].cast("int64") for c in counted), ibis.literal(0, type="int64"))
    physical = [flags[c.name] for c in counted if c.group == "physical"]
    mental = [flags[c.name] for c in counted if c.group == "mental"]
    return flags.mutate(
        ltc_count=count,
        ltc_3plus=count >= 3,
        ltc_5plus=count >= 5,
        physical_mental=_any(physical) & _any(mental),
    )


def _any(values: list[ir.BooleanValue]) -> ir.BooleanValue:
    return ibis.or_(*values) if values else ibis.literal(False)
