"""Use of services before the index date: counts, bed days, time at home, escalation, discharge.

These feed the case-finding markers of seed 001 (escalating need: "a sudden
increase in GP consultations, outpatient appointments, A&E attendances or
inpatient admissions"; needing follow-up "after hospital discharge or
re-ablement care"; "in receipt of social care services") and the outcome
measures of the shared incentive (time spent at home, emergency bed days,
outpatient appointments).

Every function takes Ibis tables and returns one row per person of
`population`, keyed by person_id. An encounter belongs to a window by the date
it started; windows are half-open, `(index - N days, index]`, so the index date
counts and the day N days before it does not. Anything after the index date is
ignored: a discharge after the index date is not yet known, so such a stay runs
to the index date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import ibis
import ibis.expr.types as ir

from phm.codelists.thresholds import DischargeRule, EscalationRule, shipped_thresholds

YEAR_DAYS = 365
RECENT_DAYS = 90
BASELINE_DAYS = 365

# The columns of service_use, each with suffix _12m and _prior_12m, in output order.
SERVICE_USE_COLUMNS = (
    "gp_consultations",
    "hub_appointments",
    "outpatient_appointments",
    "ae_attendances",
    "emergency_admissions",
    "elective_admissions",
    "emergency_bed_days",
    "mh_contacts",
    "community_contacts",
    "social_care_contacts",
    "social_care",
    "total_cost_gbp",
)

# Counted columns of service_use: name -> the encounters it counts.
_COUNTS: dict[str, tuple[str, str | None]] = {
    "gp_consultations": ("gp", None),
    "hub_appointments": ("hub", None),
    "outpatient_appointments": ("op", None),
    "ae_attendances": ("ae", None),
    "emergency_admissions": ("apc", "emergency"),
    "elective_admissions": ("apc", "elective"),
    "mh_contacts": ("mh", None),
    "community_contacts": ("community", None),
    "social_care_contacts": ("social_care", None),
}


def _day(index_date: dt.date, days_before: int = 0) -> ir.DateScalar:
    return ibis.date(index_date - dt.timedelta(days=days_before))


def _in_window(day: ir.DateValue, index_date: dt.date, start: int, end: int = 0) -> ir.BooleanValue:
    """`day` in the half-open window (index - start days, index - end days]."""
    return (day > _day(index_date, start)) & (day <= _day(index_date, end))


def _dated(encounter: ir.Table, index_date: dt.date) -> ir.Table:
    """Encounters started on or before the index date, with start and end dates.

    `end_date` is the discharge date, capped at the index date; a stay with no
    discharge, or one discharged after the index date, runs to the index date.
    """
    index = _day(index_date)
    start = encounter.start_datetime.date()
    known_end = encounter.end_datetime.date()
    return encounter.filter(start <= index).mutate(
        start_date=start,
        end_date=ibis.least(known_end.fill_null(index), index),
        is_emergency_admission=(encounter.setting == "apc")
        & (encounter.admission_method == "emergency").fill_null(False),
    )


def _kind(t: ir.Table, setting: str, method: str | None) -> ir.BooleanValue:
    if method is None:
        return t.setting == setting
    return (t.setting == setting) & (t.admission_method == method).fill_null(False)


def _keyed(population: ir.Table, measures: ir.Table, fills: Mapping[str, object]) -> ir.Table:
    """One row per person of the population with the named measures.

    A person without a row gets the fill value (None: stays null).
    """
    people = population.select("person_id")
    joined = people.left_join(measures, people.person_id == measures.person_id)
    return joined.select(
        people.person_id,
        **{
            name: joined[name] if value is None else joined[name].fill_null(value)
            for name, value in fills.items()
        },
    )


def service_use(population: ir.Table, encounter: ir.Table, index_date: dt.date) -> ir.Table:
    """Contacts, admissions, bed days and cost in the last 12 months and the 12 before.

    Windows: `_12m` is (index - 365, index], `_prior_12m` is (index - 730, index - 365];
    an encounter counts in the window its start date falls in.

    - gp_consultations (gp), hub_appointments (hub), outpatient_appointments (op),
      ae_attendances (ae), emergency_admissions and elective_admissions (apc by
      admission method), mh_contacts (mh), community_contacts (community),
      social_care_contacts (social_care): counts, 0 when none.
    - emergency_bed_days: over emergency admissions that started in the window,
      discharge date - admission date in days (a same-day stay is 0), the whole
      stay counted in the window it started in; no discharge (or a discharge after
      the index date) counts up to the index date.
    - social_care: any social_care contact in the window (in receipt of social care).
    - total_cost_gbp: cost_gbp summed over every encounter in the window (missing
      costs count 0).
    - emergency_admissions_90d, ae_attendances_90d: the same counts over the last
      90 days, (index - 90, index], for the acute-illness segment.
    - days_at_home_12m: 365 minus the nights spent in hospital in the last 12
      months. Nights of a stay are its discharge date - admission date (a day
      case: 0 nights), counted over any apc stay, whenever it started, clipped to
      the window: min(discharge, index) - max(admission, index - 365). A day is a
      day in hospital when the night before it was spent there. Overlapping
      stays are summed as recorded, and the result is never below 0.
    """
    t = _dated(encounter, index_date)
    apc = t.setting == "apc"
    window_start = _day(index_date, YEAR_DAYS)
    t = t.filter(
        _in_window(t.start_date, index_date, 2 * YEAR_DAYS) | (apc & (t.end_date > window_start))
    )
    t = t.mutate(
        stay_days=t.end_date.delta(t.start_date, unit="day"),
        nights_in_year=ibis.greatest(
            t.end_date.delta(ibis.greatest(t.start_date, window_start), unit="day"), 0
        ),
    )
    windows = {
        "_12m": _in_window(t.start_date, index_date, YEAR_DAYS),
        "_prior_12m": _in_window(t.start_date, index_date, 2 * YEAR_DAYS, YEAR_DAYS),
    }
    metrics: dict[str, ir.Value] = {}
    fills: dict[str, object] = {}
    recent = _in_window(t.start_date, index_date, RECENT_DAYS)
    metrics["emergency_admissions_90d"] = t.encounter_id.count(
        where=recent & _kind(t, "apc", "emergency")
    )
    metrics["ae_attendances_90d"] = t.encounter_id.count(where=recent & _kind(t, "ae", None))
    fills |= {"emergency_admissions_90d": 0, "ae_attendances_90d": 0}
    for suffix, in_window in windows.items():
        for name, (setting, method) in _COUNTS.items():
            metrics[name + suffix] = t.encounter_id.count(
                where=in_window & _kind(t, setting, method)
            )
            fills[name + suffix] = 0
        metrics["emergency_bed_days" + suffix] = t.stay_days.sum(
            where=in_window & t.is_emergency_admission
        ).cast("int64")
        fills["emergency_bed_days" + suffix] = 0
        metrics["total_cost_gbp" + suffix] = (
            t.cost_gbp.fill_null(0.0).sum(where=in_window).cast("float64")
        )
        fills["total_cost_gbp" + suffix] = 0.0
    metrics["nights_in_hospital_12m"] = t.nights_in_year.sum(where=apc).cast("int64")
    per_person = t.group_by("person_id").aggregate(**metrics)
    out = _keyed(population, per_person, {**fills, "nights_in_hospital_12m": 0})
    out = out.mutate(
        social_care_12m=out.social_care_contacts_12m > 0,
        social_care_prior_12m=out.social_care_contacts_prior_12m > 0,
        days_at_home_12m=ibis.greatest(YEAR_DAYS - out.nights_in_hospital_12m, 0).cast("int64"),
    )
    order = [f"{name}{suffix}" for suffix in windows for name in SERVICE_USE_COLUMNS]
    return out.select(
        "person_id", *order, "emergency_admissions_90d", "ae_attendances_90d", "days_at_home_12m"
    )


def escalation(
    population: ir.Table,
    encounter: ir.Table,
    index_date: dt.date,
    rule: EscalationRule | None = None,
) -> ir.Table:
    """Escalating need: recent contacts well above the person's own usual rate.

    Contacts are GP consultations, outpatient appointments, A&E attendances and
    emergency admissions. `recent_contacts_90d` counts those started in
    (index - 90, index]; `baseline_contacts_per_90d` counts those in the 365 days
    before that, (index - 455, index - 90], scaled to 90 days (x 90 / 365).
    `escalating` when recent ≥ rule.min_recent_contacts AND
    recent ≥ rule.ratio x baseline + rule.margin (defaults in measures.yaml:
    4, 2.0 and 1 — local defaults, as no national threshold exists).
    """
    rule = rule or shipped_thresholds().escalation
    t = _dated(encounter, index_date)
    contact = t.setting.isin(("gp", "op", "ae")) | t.is_emergency_admission
    t = t.filter(contact & _in_window(t.start_date, index_date, RECENT_DAYS + BASELINE_DAYS))
    recent = _in_window(t.start_date, index_date, RECENT_DAYS)
    per_person = t.group_by("person_id").aggregate(
        recent_contacts_90d=t.encounter_id.count(where=recent),
        baseline_contacts=t.encounter_id.count(where=~recent),
    )
    out = _keyed(population, per_person, {"recent_contacts_90d": 0, "baseline_contacts": 0})
    baseline = out.baseline_contacts.cast("float64") * RECENT_DAYS / BASELINE_DAYS
    out = out.mutate(baseline_contacts_per_90d=baseline)
    escalating = (out.recent_contacts_90d >= rule.min_recent_contacts) & (
        out.recent_contacts_90d >= out.baseline_contacts_per_90d * rule.ratio + rule.margin
    )
    return out.select(
        "person_id",
        escalating=escalating,
        recent_contacts_90d=out.recent_contacts_90d.cast("int64"),
        baseline_contacts_per_90d=out.baseline_contacts_per_90d,
    )


def recent_discharge(
    population: ir.Table,
    encounter: ir.Table,
    index_date: dt.date,
    rule: DischargeRule | None = None,
) -> ir.Table:
    """Needing follow-up after an emergency admission, or in (a proxy for) re-ablement.

    - recent_discharge: discharged (the date of end_datetime) from an emergency
      admission within (index - rule.discharge_days, index] (default 30 days).
    - last_emergency_discharge: the latest such discharge date on or before the
      index date, at any time; null when none.
    - in_reablement: a social_care or community contact on or after the discharge
      date and within rule.reablement_days of it (default 42, six weeks), following
      an emergency discharge itself within (index - rule.reablement_days, index].
      The canonical extract has no re-ablement flag, so this is a proxy for
      re-ablement: short-term support at home after discharge.
    """
    rule = rule or shipped_thresholds().discharge
    index = _day(index_date)
    t = encounter.mutate(discharge=encounter.end_datetime.date())
    discharges = t.filter(
        t.setting == "apc",
        (t.admission_method == "emergency").fill_null(False),
        t.discharge.notnull(),
        t.discharge <= index,
    )
    per_person = discharges.group_by("person_id").aggregate(
        last_emergency_discharge=discharges.discharge.max(),
    )
    out = _keyed(population, per_person, {"last_emergency_discharge": None})

    recent = discharges.filter(_in_window(discharges.discharge, index_date, rule.reablement_days))
    recent = recent.select(discharged_id=recent.person_id, discharged_on=recent.discharge)
    c = encounter.mutate(contact_date=encounter.start_datetime.date())
    contacts = c.filter(c.setting.isin(("social_care", "community")), c.contact_date <= index)
    support = recent.inner_join(
        contacts,
        [
            recent.discharged_id == contacts.person_id,
            contacts.contact_date >= recent.discharged_on,
            contacts.contact_date
            <= recent.discharged_on + ibis.interval(days=rule.reablement_days),
        ],
    )
    supported = (
        support.select(person_id=support.discharged_id)
        .distinct()
        .mutate(in_reablement=ibis.literal(True))
    )
    joined = out.left_join(supported, out.person_id == supported.person_id)
    last = joined.last_emergency_discharge
    return joined.select(
        out.person_id,
        recent_discharge=_in_window(last, index_date, rule.discharge_days).fill_null(False),
        last_emergency_discharge=last,
        in_reablement=joined.in_reablement.fill_null(False),
    )
