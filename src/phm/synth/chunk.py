"""One chunk of the population: its people, their conditions and all their records.

A chunk is generated from its own random streams (SeedSequence(seed,
spawn_key=(CHUNK_STREAM, index)) and children), so chunks can be built in any
order or process and the output is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from phm.config.place import Place
from phm.schema.canonical import CODE_SYSTEMS, SOURCES
from phm.synth import assessments, encounters, gp_record, pathways, prescribing
from phm.synth.calibration import Calibration
from phm.synth.coding import Coding
from phm.synth.conditions import ConditionHistory, ConditionModel
from phm.synth.extract import TableBuffer, Vocabulary, finish_tables, new_tables
from phm.synth.population import Demography, People
from phm.synth.profile import Profile
from phm.synth.timeline import MICROSECONDS_PER_DAY, MINUTE, NO_DATE, Window
from phm.synth.utilisation import Segments, Traits, build_segments, draw_traits, truth_hazard

CALIBRATION_STREAM, CHUNK_STREAM, HUB_STREAM, ALLOCATION_STREAM = 0, 1, 3, 4  # 2: NHS numbers
_DECEDENT_POOL = 3


@dataclass(frozen=True)
class Run:
    """What every chunk of one run shares."""

    profile: Profile
    place: Place
    window: Window
    calibration: Calibration
    seed: int


@dataclass(frozen=True)
class ChunkPlan:
    index: int
    practices: np.ndarray  # practice index of each list member of the chunk
    leavers: int
    decedents: int


@dataclass
class ChunkResult:
    index: int
    listed: int  # list members planned for the chunk (for progress)
    person: dict[str, np.ndarray]
    tables: dict[str, dict[str, np.ndarray]]
    truth: dict[str, np.ndarray]


@dataclass
class Chunk:
    """A chunk's people and their histories, with the buffers their records go to."""

    run: Run
    vocab: Vocabulary
    coding: Coding
    model: ConditionModel
    people: People
    conditions: ConditionHistory
    traits: Traits
    segments: Segments
    tables: dict[str, TableBuffer]

    @property
    def profile(self) -> Profile:
        return self.run.profile

    @property
    def window(self) -> Window:
        return self.run.window

    def events(self, rng: np.random.Generator, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Poisson events at per-segment yearly rates: (person, day) arrays."""
        seg = self.segments
        counts = rng.poisson(np.maximum(rate, 0.0) * seg.years)
        cell = np.repeat(np.arange(counts.size), counts.ravel())
        lo = seg.lo.ravel()[cell]
        hi = seg.hi.ravel()[cell]
        day = np.floor(lo + rng.random(len(cell)) * (hi - lo)).astype(np.int64)
        person = cell // seg.lo.shape[1]
        return person, np.minimum(day, self.people.record_end[person])

    def active_rows(self, person: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Conditions active for each (person, day) row: bool (rows, C)."""
        h = self.conditions
        d = day[:, None]
        resolved = h.resolved[person]
        return h.has[person] & (h.onset[person] <= d) & ((resolved == NO_DATE) | (resolved > d))

    def random_active_condition(
        self, rng: np.random.Generator, person: np.ndarray, day: np.ndarray
    ) -> np.ndarray:
        """One of the person's conditions at random if active on the day, else -1."""
        h = self.conditions
        cols, count, offset = self._condition_lists
        if len(cols) == 0:
            return np.full(len(person), -1, dtype=np.int64)
        n = count[person]
        pick = offset[person] + np.floor(rng.random(len(person)) * np.maximum(n, 1)).astype(
            np.int64
        )
        condition = np.where(n > 0, cols[np.minimum(pick, len(cols) - 1)], -1)
        k = np.maximum(condition, 0)
        resolved = h.resolved[person, k]
        active = (
            (condition >= 0)
            & (h.onset[person, k] <= day)
            & ((resolved == NO_DATE) | (resolved > day))
        )
        return np.where(active, condition, -1)

    @cached_property
    def _condition_lists(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each person's conditions as one flat list: (conditions, count, offset)."""
        rows, cols = np.nonzero(self.conditions.has)
        count = np.bincount(rows, minlength=self.people.n)
        offset = np.concatenate([[0], np.cumsum(count)])[:-1]
        return cols, count, offset

    def record_end_time(self, person: np.ndarray) -> np.ndarray:
        """The last minute of each person's record, in microseconds."""
        end = self.people.record_end[person].astype(np.int64) + 1
        return end * MICROSECONDS_PER_DAY - MINUTE

    def limit_end(
        self, person: np.ndarray, start: np.ndarray, end: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """End times cut at the end of the record: (end, unknown).

        A spell still going on at the index date has no end yet (unknown); one
        cut by death or leaving ends on that day.
        """
        last = self.record_end_time(person)
        over = end > last
        ongoing = over & self.people.listed[person]
        end = np.where(over, np.maximum(last, start), end)
        return end, ongoing

    def emit_events(
        self,
        person: np.ndarray,
        day: np.ndarray,
        code: np.ndarray,
        *,
        source: str,
        code_system: str,
        value: np.ndarray | float = np.nan,
        unit: np.ndarray | int = -1,
    ) -> None:
        self.tables["clinical_event"].add(
            person_id=person,
            event_date=day,
            code_system=CODE_SYSTEMS.index(code_system),
            code=code,
            value=value,
            unit=unit,
            source=SOURCES.index(source),
        )


def build_chunk(run: Run, plan: ChunkPlan) -> ChunkResult:
    """Generate one chunk: people, conditions, records and the truth of their risk."""
    profile, place, window = run.profile, run.place, run.window
    streams = np.random.SeedSequence(run.seed, spawn_key=(CHUNK_STREAM, plan.index)).spawn(9)
    (
        rng,
        condition_rng,
        trait_rng,
        encounter_rng,
        record_rng,
        prescribing_rng,
        assessment_rng,
        pathway_rng,
        outcome_rng,
    ) = (np.random.default_rng(s) for s in streams)
    demography = Demography(profile, place, window)
    model = ConditionModel(profile)
    vocab = Vocabulary.build(profile, place)
    coding = Coding(profile, vocab)

    pool_size = plan.decedents * _DECEDENT_POOL
    everyone = People.concat(
        [
            demography.list_members(rng, plan.practices),
            demography.leavers(rng, plan.leavers),
            demography.decedents(rng, pool_size),
        ]
    )
    has = model.draw(condition_rng, everyone, run.calibration.intercepts)
    pool = np.arange(everyone.n - pool_size, everyone.n)
    keys = has[pool] @ model.mortality_log_hr + rng.gumbel(size=pool_size)
    chosen = pool[np.argsort(-keys, kind="stable")[: plan.decedents]]
    keep = np.concatenate([np.arange(everyone.n - pool_size), np.sort(chosen)])
    keep = keep[rng.permutation(len(keep))]
    people = everyone.take(keep)
    conditions = model.history(condition_rng, people, has[keep], window)
    traits = draw_traits(trait_rng, profile, model, people, conditions, len(place.providers.acute))
    segments = build_segments(people, conditions, traits, model, window, profile.history_years)
    chunk = Chunk(run, vocab, coding, model, people, conditions, traits, segments, new_tables())

    encounters.emit(encounter_rng, chunk)
    gp_record.emit(record_rng, chunk)
    prescribing.emit(prescribing_rng, chunk)
    assessments.emit(assessment_rng, chunk)
    pathways.emit(pathway_rng, chunk)

    listed = np.flatnonzero(people.listed)
    hazard = truth_hazard(
        profile,
        people.take(listed),
        conditions.take(listed),
        traits.take(listed),
        model,
        window,
        run.calibration.emergency_base,
    )
    risk = 1.0 - np.exp(-hazard)
    outcome = outcome_rng.random(len(listed)) < risk
    return ChunkResult(
        index=plan.index,
        listed=len(plan.practices),
        person={
            "sex": people.sex,
            "birth_date": people.birth,
            "death_date": people.death,
            "ethnicity": people.ethnicity,
            "lsoa_code": people.lsoa,
            "imd_decile": people.imd,
            "practice_code": people.practice,
            "registration_start": people.reg_start,
            "registration_end": people.reg_end,
        },
        tables=finish_tables(chunk.tables),
        truth={"person_id": listed.astype(np.int32), "true_risk": risk, "outcome": outcome},
    )
