"""The coded GP record: diagnoses, resolved codes, consultation reasons, observations,
smoking status, housing need and frailty-related findings (clinical_event, source gp).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from phm.synth.population import ADULT_AGE
from phm.synth.timeline import DAYS_PER_YEAR, NO_DATE

if TYPE_CHECKING:
    from phm.synth.chunk import Chunk

_REVIEW_SHARE = 0.6  # coded consultations of people with an active condition that review it
_FINDINGS_YEARS = 3.0


def emit(rng: np.random.Generator, chunk: Chunk) -> None:
    """Write the chunk's coded GP record."""
    _diagnoses(chunk)
    _blood_pressure(rng, chunk)
    _body_mass(rng, chunk)
    _smoking_status(rng, chunk)
    _hba1c(rng, chunk)
    _egfr(rng, chunk)
    _housing(rng, chunk)
    _frailty_findings(rng, chunk)


def consultation_codes(
    rng: np.random.Generator, chunk: Chunk, person: np.ndarray, day: np.ndarray
) -> np.ndarray:
    """The coded reason of GP consultations: a review of an active condition, or an acute one."""
    condition = chunk.random_active_condition(rng, person, day)
    k = np.maximum(condition, 0)
    review = (condition >= 0) & (rng.random(len(person)) < _REVIEW_SHARE)
    snomed = chunk.coding.condition_snomed(k, chunk.conditions.variant[person, k])
    return np.where(review, snomed, chunk.coding.minor_illness.draw(rng, len(person)))


def _diagnoses(chunk: Chunk) -> None:
    h = chunk.conditions
    person, condition = np.nonzero(h.has)
    day = h.coded[person, condition]
    code = chunk.coding.condition_snomed(condition, h.variant[person, condition])
    chunk.emit_events(person, day, code, source="gp", code_system="snomed")
    person, condition = np.nonzero(h.resolved != NO_DATE)
    chunk.emit_events(
        person,
        h.resolved[person, condition],
        chunk.coding.resolved[condition],
        source="gp",
        code_system="snomed",
    )


def _active(
    chunk: Chunk, names: tuple[str, ...], person: np.ndarray, day: np.ndarray
) -> np.ndarray:
    """Whether any of the named conditions is active for each (person, day) row."""
    h = chunk.conditions
    out = np.zeros(len(person), dtype=bool)
    for name in names:
        k = chunk.model.index(name)
        resolved = h.resolved[person, k]
        out |= (
            h.has[person, k]
            & (h.onset[person, k] <= day)
            & ((resolved == NO_DATE) | (resolved > day))
        )
    return out


def _segment_active(chunk: Chunk, names: tuple[str, ...]) -> np.ndarray:
    return np.asarray(
        chunk.segments.active[:, :, [chunk.model.index(n) for n in names]].any(axis=2)
    )


def _adult(chunk: Chunk, age: float = 18.0) -> np.ndarray:
    return np.asarray(chunk.segments.age >= age)


def _observation(
    chunk: Chunk, name: str, person: np.ndarray, day: np.ndarray, value: np.ndarray
) -> None:
    coding = chunk.coding
    chunk.emit_events(
        person,
        day,
        np.full(len(person), coding.observation[name]),
        source="gp",
        code_system="snomed",
        value=value,
        unit=np.full(len(person), coding.unit[name]),
    )


def _blood_pressure(rng: np.random.Generator, chunk: Chunk) -> None:
    bp = chunk.profile.observations.blood_pressure
    seg = chunk.segments
    hypertension = _segment_active(chunk, ("hypertension",))
    rate = bp.base_per_year + bp.per_condition * seg.n_active + bp.hypertension * hypertension
    person, day = chunk.events(rng, rate * _adult(chunk))
    n = len(person)
    offset = rng.normal(0.0, 8.0, chunk.people.n)
    age = (day - chunk.people.birth[person]) / DAYS_PER_YEAR
    high = _active(chunk, ("hypertension",), person, day)
    systolic = np.round(
        117 + 0.4 * np.maximum(age - 30, 0) + 12 * high + offset[person] + rng.normal(0, 9, n)
    ).clip(80, 230)
    diastolic = np.round(0.45 * systolic + 18 + rng.normal(0, 6, n)).clip(40, 130)
    _observation(chunk, "systolic_bp", person, day, systolic)
    _observation(chunk, "diastolic_bp", person, day, diastolic)


def _body_mass(rng: np.random.Generator, chunk: Chunk) -> None:
    bmi = chunk.profile.observations.bmi
    people, seg = chunk.people, chunk.segments
    rate = (bmi.base_per_year + bmi.per_condition * seg.n_active) * _adult(chunk)
    person, day = chunk.events(rng, rate)
    diabetes = chunk.conditions.has[:, chunk.model.index("diabetes_type2")]
    usual = (
        bmi.mean
        + bmi.sd * rng.standard_normal(people.n)
        + 0.35 * (people.deprivation - 4.5)
        + 0.8 * people.need
        + 4.0 * diabetes
    ).clip(15, 60)
    value = np.round(usual[person] + rng.normal(0, 0.6, len(person)), 1).clip(13, 70)
    _observation(chunk, "bmi", person, day, value)


def _smoking_status(rng: np.random.Generator, chunk: Chunk) -> None:
    recording = chunk.profile.observations.smoking_status
    seg = chunk.segments
    rate = (recording.base_per_year + recording.per_condition * seg.n_active) * _adult(
        chunk, ADULT_AGE
    )
    person, day = chunk.events(rng, rate)
    code = chunk.coding.smoking[chunk.people.smoking[person]]
    chunk.emit_events(person, day, code, source="gp", code_system="snomed")


def _hba1c(rng: np.random.Generator, chunk: Chunk) -> None:
    hb = chunk.profile.observations.hba1c
    diabetes = ("diabetes_type2", "diabetes_type1")
    rate = hb.diabetes_per_year * _segment_active(chunk, diabetes) + hb.screening_per_year * _adult(
        chunk, 40.0
    )
    person, day = chunk.events(rng, rate)
    n = len(person)
    type1 = chunk.conditions.has[:, chunk.model.index("diabetes_type1")]
    usual = np.where(type1, 66.0, 58.0) + 12.0 * rng.standard_normal(chunk.people.n)
    diabetic = _active(chunk, diabetes, person, day)
    value = np.where(diabetic, usual[person] + rng.normal(0, 5, n), rng.normal(37, 3.5, n))
    _observation(chunk, "hba1c", person, day, np.round(value).clip(20, 150))


def _egfr(rng: np.random.Generator, chunk: Chunk) -> None:
    eg = chunk.profile.observations.egfr
    seg = chunk.segments
    at_risk = _segment_active(
        chunk, ("ckd", "diabetes_type2", "diabetes_type1", "hypertension", "heart_failure")
    ) | (seg.age >= 75)
    rate = np.where(at_risk, eg.at_risk_per_year, eg.base_per_year) * _adult(chunk)
    person, day = chunk.events(rng, rate)
    n = len(person)
    ckd = chunk.model.index("ckd")
    stage = chunk.conditions.variant[person, ckd]  # 0, 1, 2: stages 3, 4, 5
    in_ckd = _active(chunk, ("ckd",), person, day)
    age = (day - chunk.people.birth[person]) / DAYS_PER_YEAR
    kidney = np.choose(
        stage.clip(0, 2),
        [
            rng.normal(46, 8, n).clip(30, 59),
            rng.normal(22, 4, n).clip(15, 29),
            rng.normal(10, 3, n).clip(4, 14),
        ],
    )
    healthy = (100 - 0.6 * np.maximum(age - 30, 0) + rng.normal(0, 10, n)).clip(60, 130)
    _observation(chunk, "egfr", person, day, np.round(np.where(in_ckd, kidney, healthy)))


def _housing(rng: np.random.Generator, chunk: Chunk) -> None:
    people = chunk.people
    housing = chunk.profile.observations.housing
    adult = people.age_at(people.record_end) >= ADULT_AGE
    for name, share in (
        ("homeless", housing.homeless_share),
        ("unsatisfactory", housing.unsatisfactory_share),
    ):
        logit = np.log(share / (1 - share)) + housing.per_deprivation_decile_log_odds * (
            people.deprivation - 4.5
        )
        person = np.flatnonzero(adult & (rng.random(people.n) < 1 / (1 + np.exp(-logit))))
        person = np.repeat(person, 1 + rng.poisson(0.5, len(person)))
        day = _day_in_record(rng, chunk, person, years=None)
        chunk.emit_events(
            person,
            day,
            np.full(len(person), chunk.coding.housing[name]),
            source="gp",
            code_system="snomed",
        )


def _frailty_findings(rng: np.random.Generator, chunk: Chunk) -> None:
    people = chunk.people
    ff = chunk.profile.observations.frailty_findings
    age = people.age_at(people.record_end)
    logit = ff.age_log_odds(age) + ff.need_log_odds * people.need
    frail = rng.random(people.n) < 1 / (1 + np.exp(-logit))
    count = np.where(frail, 1 + rng.binomial(4, 0.35, people.n), 0)
    rows, code = chunk.coding.frailty_findings.draw_distinct(rng, count)
    day = _day_in_record(rng, chunk, rows, years=_FINDINGS_YEARS)
    chunk.emit_events(rows, day, code, source="gp", code_system="snomed")


def _day_in_record(
    rng: np.random.Generator, chunk: Chunk, person: np.ndarray, *, years: float | None
) -> np.ndarray:
    """A random day in each person's record, or in its last `years` years."""
    end = chunk.people.record_end[person].astype(np.int64)
    start = chunk.people.record_start[person].astype(np.int64)
    if years is not None:
        start = np.maximum(start, end - int(years * DAYS_PER_YEAR))
    return start + np.floor(rng.random(len(person)) * (end - start + 1)).astype(np.int64)
