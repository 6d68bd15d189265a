"""Scored instruments (the assessment table).

- pam: Patient Activation Measure, 0-100, for a share of adults with a long-term
  condition; lower with more need and deprivation (profile: mean 60, sd 13).
- i_statement: a patient-reported "I statement" score, 0-100, for some of them.
- phq9 (0-27) and gad7 (0-21): at diagnosis and follow-up of depression and
  anxiety, and as occasional screening.
- audit_c (0-12): alcohol screening of adults, high with alcohol problems.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from phm.synth.population import ADULT_AGE
from phm.synth.profile import ETHNICITIES
from phm.synth.timeline import DAYS_PER_YEAR

if TYPE_CHECKING:
    from phm.synth.chunk import Chunk

_PAM_YEARS = 3.0
_PAM_WITHIN_SD = 5.0
_NON_DRINKING = {"Bangladeshi", "Pakistani", "Indian", "Other Asian", "African", "Arab"}


def emit(rng: np.random.Generator, chunk: Chunk) -> None:
    """Write the chunk's PAM, I-statement, PHQ-9, GAD-7 and AUDIT-C scores."""
    _activation(rng, chunk)
    _mood(rng, chunk)
    _alcohol(rng, chunk)


def _add(
    chunk: Chunk, person: np.ndarray, day: np.ndarray, instrument: str, score: np.ndarray
) -> None:
    chunk.tables["assessment"].add(
        person_id=person,
        assessment_date=day,
        instrument=chunk.vocab.instruments[instrument],
        score=score,
    )


def _activation(rng: np.random.Generator, chunk: Chunk) -> None:
    people = chunk.people
    pam = chunk.profile.assessments.pam
    adult = people.age_at(people.record_end) >= 18
    with_ltc = chunk.conditions.active_at(people.record_end).any(axis=1)
    chosen = np.flatnonzero(adult & with_ltc & (rng.random(people.n) < pam.share_with_ltc))
    person = np.repeat(chosen, 1 + rng.poisson(0.8, len(chosen)))
    end = people.record_end[person].astype(np.int64)
    start = np.maximum(people.record_start[person], end - int(_PAM_YEARS * DAYS_PER_YEAR))
    day = start + np.floor(rng.random(len(person)) * (end - start + 1)).astype(np.int64)
    between = np.sqrt(max(pam.sd**2 - _PAM_WITHIN_SD**2, 1.0))
    usual = (
        pam.mean
        + pam.need_effect * people.need
        + pam.deprivation_effect_per_decile * (people.deprivation - 4.5)
        + between * rng.standard_normal(people.n)
    )
    score = np.round(usual[person] + rng.normal(0, _PAM_WITHIN_SD, len(person)), 1).clip(0, 100)
    _add(chunk, person, day, "pam", score)
    statement = rng.random(len(person)) < chunk.profile.assessments.i_statement_share_of_pam
    i_score = np.round(65 + 0.6 * (score - 60) + rng.normal(0, 10, len(person)), 1).clip(0, 100)
    _add(chunk, person[statement], day[statement], "i_statement", i_score[statement])


def _episodes(
    rng: np.random.Generator,
    chunk: Chunk,
    name: str,
    first: tuple[float, float],
    later: tuple[float, float],
    top: int,
    instrument: str,
) -> None:
    """Scores at a condition's first coding in the window and at follow-ups within a year."""
    history, people = chunk.conditions, chunk.people
    k = chunk.model.index(name)
    person = np.flatnonzero(history.has[:, k])
    coded = history.coded[person, k].astype(np.int64)
    _add(chunk, person, coded, instrument, np.round(rng.normal(*first, len(person))).clip(0, top))
    follow = np.repeat(person, rng.poisson(1.2, len(person)))
    day = history.coded[follow, k] + np.floor(30 + rng.random(len(follow)) * 335).astype(np.int64)
    seen = day <= people.record_end[follow]
    _add(
        chunk,
        follow[seen],
        day[seen],
        instrument,
        np.round(rng.normal(*later, int(seen.sum()))).clip(0, top),
    )


def _mood(rng: np.random.Generator, chunk: Chunk) -> None:
    _episodes(rng, chunk, "depression", (16, 4.5), (10, 5), 27, "phq9")
    _episodes(rng, chunk, "anxiety", (13, 4), (8, 4), 21, "gad7")
    rate = chunk.profile.assessments.phq9_screening_per_year * (chunk.segments.age >= 18)
    person, day = chunk.events(rng, rate)
    _add(chunk, person, day, "phq9", np.round(rng.gamma(1.5, 2.5, len(person))).clip(0, 27))


def _alcohol(rng: np.random.Generator, chunk: Chunk) -> None:
    people = chunk.people
    rate = chunk.profile.assessments.audit_c_per_year * (chunk.segments.age >= ADULT_AGE)
    person, day = chunk.events(rng, rate)
    n = len(person)
    k = chunk.model.index("alcohol_problems")
    problem = chunk.conditions.has[person, k] & (chunk.conditions.onset[person, k] <= day)
    abstaining = np.isin(people.ethnicity[person], [ETHNICITIES.index(e) for e in _NON_DRINKING])
    none = rng.random(n) < np.where(abstaining, 0.5, 0.18)
    drinker = np.round(rng.normal(3.5, 2.0, n)).clip(1, 12)
    score = np.where(problem, np.round(rng.normal(9, 2, n)).clip(5, 12), np.where(none, 0, drinker))
    _add(chunk, person, day, "audit_c", score.astype(np.float64))
