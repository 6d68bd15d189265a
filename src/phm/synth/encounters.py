"""Contacts with services (the encounter table) and the hospital diagnoses they record.

Every setting's contacts are Poisson events at the person's per-segment rates
(utilisation.py). Emergency admissions mostly arrive through A&E; each
admission (emergency, elective, maternity) writes its primary and secondary
ICD-10 diagnoses as clinical events from the hospital (source apc), dated at
admission, with frailty-type codes for frail older people so that a Hospital
Frailty Risk Score can be computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from phm.schema.canonical import ADMISSION_METHODS, SETTINGS
from phm.synth.extract import NO_TIME
from phm.synth.gp_record import consultation_codes
from phm.synth.population import SEX_F
from phm.synth.timeline import DAYS_PER_YEAR, MICROSECONDS_PER_DAY, at_time, hours
from phm.synth.utilisation import (
    ae_rate,
    community_rate,
    elective_rate,
    emergency_rate,
    gp_rate,
    mh_rate,
    op_rate,
)

if TYPE_CHECKING:
    from phm.synth.chunk import Chunk

_USUAL_TRUST_SHARE = 0.9
_MAX_SECONDARY = 4
_GENERAL_REASON_WEIGHT = 1.0  # against the summed hazard ratios of active conditions


def emit(rng: np.random.Generator, chunk: Chunk) -> None:
    """Write the chunk's encounters of every setting, and the hospital diagnoses."""
    _gp_and_hub(rng, chunk)
    _outpatients(rng, chunk)
    _emergency_admissions(rng, chunk)
    _ae_attendances(rng, chunk)
    _elective_admissions(rng, chunk)
    _maternity_admissions(rng, chunk)
    _mental_health(rng, chunk)
    _community(rng, chunk)
    _social_care(rng, chunk)


def _add(
    chunk: Chunk,
    person: np.ndarray,
    setting: str,
    start: np.ndarray,
    end: np.ndarray,
    provider: np.ndarray | int,
    cost: np.ndarray | float,
    *,
    method: str | None = None,
    diagnosis: np.ndarray | int = -1,
    unknown_end: np.ndarray | None = None,
) -> None:
    if unknown_end is not None:
        end = np.where(unknown_end, NO_TIME, end)
    chunk.tables["encounter"].add(
        person_id=person,
        setting=SETTINGS.index(setting),
        admission_method=ADMISSION_METHODS.index(method) if method else -1,
        start_datetime=start,
        end_datetime=end,
        provider_code=provider,
        primary_diagnosis=diagnosis,
        cost_gbp=np.round(cost, 2) if isinstance(cost, np.ndarray) else cost,
    )


def _acute_provider(rng: np.random.Generator, chunk: Chunk, person: np.ndarray) -> np.ndarray:
    trusts = chunk.vocab.providers.indices(chunk.run.place.providers.acute)
    usual = chunk.traits.acute[person].astype(np.int64)
    other = np.floor(rng.random(len(person)) * len(trusts)).astype(np.int64)
    chosen = np.where(rng.random(len(person)) < _USUAL_TRUST_SHARE, usual, other)
    return trusts[chosen]


def _hub_of_practice(chunk: Chunk) -> np.ndarray:
    """The provider index of the hub serving each practice's Local Care Network."""
    place = chunk.run.place
    providers = chunk.vocab.providers
    out = []
    for p in place.practices:
        lcn = place.lcn_of_neighbourhood[place.pcn_by_code[p.pcn].neighbourhood]
        hub = next((h for h in place.hubs if h.lcn == lcn), place.hubs[0] if place.hubs else None)
        out.append(providers[hub.name] if hub else -1)
    return np.array(out, dtype=np.int32)


def _gp_and_hub(rng: np.random.Generator, chunk: Chunk) -> None:
    """GP consultations at the practice or, for some, at an extended-access hub (8am-8pm)."""
    profile, people, place = chunk.profile, chunk.people, chunk.run.place
    gp = profile.gp
    rate = chunk.run.calibration.gp_scale * gp_rate(profile, people, chunk.segments, chunk.traits)
    person, day = chunk.events(rng, rate)
    n = len(person)
    practice = people.practice[person]
    at_hub = rng.random(n) < (gp.hub_share if place.hubs else 0.0)
    practice_codes = chunk.vocab.providers.indices(p.code for p in place.practices)
    provider = np.where(at_hub, _hub_of_practice(chunk)[practice], practice_codes[practice])
    start = at_time(day, 8.0 + rng.random(n) * np.where(at_hub, 11.5, 10.0))
    minutes = np.where(at_hub, 15, np.where(rng.random(n) < 0.8, 10, 20))
    end = start + hours(minutes / 60.0)
    for setting, rows in (("gp", ~at_hub), ("hub", at_hub)):
        _add(chunk, person[rows], setting, start[rows], end[rows], provider[rows], gp.cost)
    coded = rng.random(n) < gp.coded_share
    code = consultation_codes(rng, chunk, person[coded], day[coded])
    chunk.emit_events(person[coded], day[coded], code, source="gp", code_system="snomed")


def _outpatients(rng: np.random.Generator, chunk: Chunk) -> None:
    """Outpatient appointments, coded with an active condition of the person if any."""
    op = chunk.profile.op
    rate = chunk.run.calibration.op_scale * op_rate(chunk.profile, chunk.people, chunk.segments)
    person, day = chunk.events(rng, rate)
    n = len(person)
    start = at_time(day, 8.5 + rng.random(n) * 8.5)
    end = start + hours(0.25 + rng.random(n) * 0.5)
    condition = chunk.random_active_condition(rng, person, day)
    k = np.maximum(condition, 0)
    variant = chunk.conditions.variant[person, k]
    diagnosis = np.where(
        condition >= 0, chunk.coding.condition_icd(k, variant), chunk.coding.op_follow_up
    )
    first = rng.random(n) < 0.3
    cost = np.where(first, op.cost_first, op.cost_follow_up)
    _add(
        chunk,
        person,
        "op",
        start,
        end,
        _acute_provider(rng, chunk, person),
        cost,
        diagnosis=diagnosis,
    )


def _emergency_admissions(rng: np.random.Generator, chunk: Chunk) -> None:
    """Emergency admissions, most through A&E; stays lengthen with age (lognormal)."""
    profile, people = chunk.profile, chunk.people
    em, ae = profile.emergency, profile.ae
    rate = emergency_rate(
        profile, people, chunk.segments, chunk.traits, chunk.run.calibration.emergency_base
    )
    person, day = chunk.events(rng, rate)
    n = len(person)
    if n == 0:
        return
    age = (day - people.birth[person]) / DAYS_PER_YEAR
    via_ae = rng.random(n) < em.via_ae_share
    arrival_hour = np.where(via_ae, rng.random(n) * 23.9, 9.0 + rng.random(n) * 9.0)
    median = ae.hours_admitted_median * (
        1 + ae.hours_per_decade_over_60 * np.maximum(age - 60, 0) / 10
    )
    in_ae = hours(np.where(via_ae, median * np.exp(ae.hours_sigma * rng.standard_normal(n)), 0.0))
    admitted = at_time(day, arrival_hour) + in_ae
    overflow = np.maximum(admitted - chunk.record_end_time(person), 0)
    admitted -= overflow
    arrival = admitted - in_ae
    los = np.floor(em.los_median_days(age) * np.exp(em.los_sigma * rng.standard_normal(n))).astype(
        np.int64
    )
    stay = np.where(los == 0, 2.0 + rng.random(n) * 10.0, los * 24.0 + rng.random(n) * 8.0 - 4.0)
    discharge, ongoing = chunk.limit_end(person, admitted, admitted + hours(np.maximum(stay, 1.0)))
    cost = (em.cost_base + em.cost_per_day * np.minimum(los, em.cost_max_days)) * np.exp(
        0.15 * rng.standard_normal(n)
    )
    provider = _acute_provider(rng, chunk, person)
    admitted_day = admitted // MICROSECONDS_PER_DAY
    primary = _hospital_diagnoses(rng, chunk, person, admitted_day, age, general="emergency")
    _add(
        chunk,
        person,
        "apc",
        admitted,
        discharge,
        provider,
        cost,
        method="emergency",
        diagnosis=primary,
        unknown_end=ongoing,
    )
    rows = np.flatnonzero(via_ae)
    _add(
        chunk,
        person[rows],
        "ae",
        arrival[rows],
        admitted[rows],
        provider[rows],
        ae.cost_admitted,
        diagnosis=primary[rows],
    )


def _hospital_diagnoses(
    rng: np.random.Generator,
    chunk: Chunk,
    person: np.ndarray,
    day: np.ndarray,
    age: np.ndarray,
    *,
    general: str,
) -> np.ndarray:
    """Choose and record the diagnoses of admissions; return the primary diagnosis codes.

    The primary reason is one of the person's active conditions (weighted by
    its admission hazard ratio) or a general acute reason; secondary diagnoses
    are up to four other active conditions, plus frailty-type codes for frail
    people aged 65 and over (emergency admissions only).
    """
    coding, model = chunk.coding, chunk.model
    n = len(person)
    active = chunk.active_rows(person, day)
    weight = active * np.exp(model.admission_log_hr)
    total = weight.sum(axis=1)
    general_weight = (
        _GENERAL_REASON_WEIGHT if general == "emergency" else 2.0 * _GENERAL_REASON_WEIGHT
    )
    u = rng.random(n) * (total + general_weight)
    from_condition = u < total
    reason = (np.cumsum(weight, axis=1) < u[:, None]).sum(axis=1).clip(0, model.count - 1)
    variant = chunk.conditions.variant[person, reason]
    if general == "emergency":
        fallback = coding.emergency_general.draw(rng, n)
        old = (age >= 75) & (rng.random(n) < 0.35)
        fallback = np.where(old, coding.emergency_old.draw(rng, n), fallback)
        condition_code = coding.acute_icd(rng, reason, variant)
    else:
        fallback = coding.elective.draw(rng, n)
        condition_code = coding.condition_icd(reason, variant)
    primary = np.where(from_condition, condition_code, fallback)
    chunk.emit_events(person, day, primary, source="apc", code_system="icd10")

    others = active.copy()
    others[np.flatnonzero(from_condition), reason[from_condition]] = False
    keys = np.where(others, rng.random(others.shape), -1.0)
    order = np.argsort(-keys, axis=1)[:, :_MAX_SECONDARY]
    chosen = np.take_along_axis(keys, order, axis=1) > 0
    rows, cols = np.nonzero(chosen)
    condition = order[rows, cols]
    code = coding.condition_icd(condition, chunk.conditions.variant[person[rows], condition])
    chunk.emit_events(person[rows], day[rows], code, source="apc", code_system="icd10")

    if general == "emergency":
        need = chunk.people.need[person]
        expected = np.exp(-1.2 + 0.7 * need + 0.05 * (age - 75))
        count = np.where(age >= 65, np.minimum(rng.poisson(expected), 5), 0)
        rows, code = coding.frailty_secondary.draw_distinct(rng, count)
        chunk.emit_events(person[rows], day[rows], code, source="apc", code_system="icd10")
    return np.asarray(primary)


def _ae_attendances(rng: np.random.Generator, chunk: Chunk) -> None:
    """A&E attendances that do not admit: mostly minor injury and illness, a few hours."""
    profile, people = chunk.profile, chunk.people
    ae = profile.ae
    rate = chunk.run.calibration.ae_scale * ae_rate(profile, people, chunk.segments, chunk.traits)
    person, day = chunk.events(rng, rate)
    n = len(person)
    age = (day - people.birth[person]) / DAYS_PER_YEAR
    arrival_hour = np.where(rng.random(n) < 0.75, 8.0 + rng.random(n) * 14.0, rng.random(n) * 23.9)
    median = ae.hours_median * (1 + ae.hours_per_decade_over_60 * np.maximum(age - 60, 0) / 10)
    duration = hours(np.maximum(median * np.exp(ae.hours_sigma * rng.standard_normal(n)), 0.25))
    arrival = at_time(day, arrival_hour)
    overflow = np.maximum(arrival + duration - chunk.record_end_time(person), 0)
    arrival -= overflow
    departure = arrival + duration
    condition = chunk.random_active_condition(rng, person, day)
    k = np.maximum(condition, 0)
    related = (condition >= 0) & (rng.random(n) < 0.3)
    diagnosis = np.where(
        related,
        chunk.coding.acute_icd(rng, k, chunk.conditions.variant[person, k]),
        chunk.coding.ae_minor.draw(rng, n),
    )
    _add(
        chunk,
        person,
        "ae",
        arrival,
        departure,
        _acute_provider(rng, chunk, person),
        ae.cost,
        diagnosis=diagnosis,
    )


def _elective_admissions(rng: np.random.Generator, chunk: Chunk) -> None:
    """Elective admissions: mostly day cases ending the same day, some overnight stays."""
    el = chunk.profile.elective
    rate = chunk.run.calibration.elective_scale * elective_rate(chunk.profile, chunk.segments)
    person, day = chunk.events(rng, rate)
    n = len(person)
    if n == 0:
        return
    age = (day - chunk.people.birth[person]) / DAYS_PER_YEAR
    day_case = rng.random(n) < el.day_case_share
    nights = np.where(day_case, 0, 1 + rng.poisson(2.0, n))
    start = at_time(day, 7.5 + rng.random(n) * 4.5)
    stay = np.where(day_case, 3.0 + rng.random(n) * 5.0, nights * 24.0 + rng.random(n) * 6.0)
    end, ongoing = chunk.limit_end(person, start, start + hours(stay))
    cost = np.where(day_case, el.cost_day_case, el.cost_overnight_base + el.cost_per_night * nights)
    cost = cost * np.exp(0.1 * rng.standard_normal(n))
    primary = _hospital_diagnoses(rng, chunk, person, day, age, general="elective")
    _add(
        chunk,
        person,
        "apc",
        start,
        end,
        _acute_provider(rng, chunk, person),
        cost,
        method="elective",
        diagnosis=primary,
        unknown_end=ongoing,
    )


def _maternity_admissions(rng: np.random.Generator, chunk: Chunk) -> None:
    """Births to women of childbearing age, with the pregnancy coded by the GP months before."""
    profile, people, seg = chunk.profile, chunk.people, chunk.segments
    mat = profile.maternity
    low, high = mat.age_range
    woman = (people.sex == SEX_F)[:, None] & (seg.age >= low) & (seg.age < high)
    person, day = chunk.events(rng, np.where(woman, mat.births_per_woman_year, 0.0))
    n = len(person)
    if n == 0:
        return
    caesarean = rng.random(n) < mat.caesarean_share
    start = at_time(day, rng.random(n) * 23.9)
    stay = np.where(caesarean, 60.0 + rng.random(n) * 48.0, 8.0 + rng.random(n) * 40.0)
    end, ongoing = chunk.limit_end(person, start, start + hours(stay))
    codes = chunk.coding.maternity
    primary = np.where(caesarean, codes["caesarean"], codes["vaginal"])
    cost = mat.cost * np.where(caesarean, 1.5, 1.0) * np.exp(0.1 * rng.standard_normal(n))
    _add(
        chunk,
        person,
        "apc",
        start,
        end,
        _acute_provider(rng, chunk, person),
        cost,
        method="maternity",
        diagnosis=primary,
        unknown_end=ongoing,
    )
    chunk.emit_events(person, day, primary, source="apc", code_system="icd10")
    chunk.emit_events(person, day, np.full(n, codes["outcome"]), source="apc", code_system="icd10")
    booked = day - np.floor(180 + rng.random(n) * 70).astype(np.int64)
    seen = booked >= people.record_start[person]
    chunk.emit_events(
        person[seen],
        booked[seen],
        np.full(int(seen.sum()), chunk.coding.pregnancy),
        source="gp",
        code_system="snomed",
    )


def _mental_health(rng: np.random.Generator, chunk: Chunk) -> None:
    person, day = chunk.events(rng, mh_rate(chunk.segments, chunk.traits, chunk.model))
    n = len(person)
    start = at_time(day, 9.0 + rng.random(n) * 8.0)
    provider = chunk.vocab.providers[chunk.run.place.providers.mental_health]
    _add(
        chunk, person, "mh", start, start + hours(np.full(n, 0.75)), provider, chunk.profile.mh.cost
    )


def _community(rng: np.random.Generator, chunk: Chunk) -> None:
    rate = community_rate(chunk.profile, chunk.people, chunk.segments, chunk.traits, chunk.model)
    person, day = chunk.events(rng, rate)
    n = len(person)
    start = at_time(day, 8.0 + rng.random(n) * 10.0)
    provider = chunk.vocab.providers[chunk.run.place.providers.community]
    _add(
        chunk,
        person,
        "community",
        start,
        start + hours(0.5 + rng.random(n) * 0.5),
        provider,
        chunk.profile.community.cost,
    )


def _social_care(rng: np.random.Generator, chunk: Chunk) -> None:
    """Regular contacts for people in receipt of social care, from when their care began."""
    people = chunk.people
    sc = chunk.profile.social_care
    person = np.flatnonzero(chunk.traits.social_care)
    n = len(person)
    if n == 0:
        return
    began = people.record_end[person] - np.floor(rng.exponential(3.0, n) * DAYS_PER_YEAR).astype(
        np.int64
    )
    first = np.maximum(began, people.record_start[person])
    low, high = sc.contact_interval_days
    interval = low + rng.random(n) * (high - low)
    count = np.floor((people.record_end[person] - first) / interval).astype(np.int64) + 1
    count = np.maximum(count, 0)
    row = np.repeat(np.arange(n), count)
    step = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
    day = first[row] + np.floor(step * interval[row]).astype(np.int64)
    who = person[row]
    ld = chunk.model.index("learning_disability")
    cost = np.where(chunk.conditions.has[who, ld], sc.cost_learning_disability, sc.cost)
    start = at_time(day, 8.0 + rng.random(len(row)) * 10.0)
    provider = chunk.vocab.providers[chunk.run.place.providers.social_care]
    _add(chunk, who, "social_care", start, start + hours(np.full(len(row), 1.0)), provider, cost)
