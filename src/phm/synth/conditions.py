"""Long-term conditions: who has which, since when, and whether it resolved.

Each condition is a logistic model on age, sex, deprivation, ethnicity, smoking,
the latent need factor and earlier conditions (profiles/conditions.yaml). The
shared latent factor and the condition-on-condition effects make conditions
cluster as in real populations, and multimorbidity rise steeply with age.
Intercepts are solved on a reference sample at run start (`solve_intercepts`),
so each register's prevalence holds at any population size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phm.synth.population import SEX_F, SEX_M, People
from phm.synth.profile import Condition, Profile
from phm.synth.timeline import DAYS_PER_YEAR, NO_DATE, Window

_MIN_RESOLVED_DAYS = 90


@dataclass
class ConditionHistory:
    """Conditions of a chunk's people: (person, condition) matrices."""

    has: np.ndarray  # bool: ever had it (by the end of their record)
    onset: np.ndarray  # int32 day of diagnosis, NO_DATE if absent (may precede the window)
    coded: np.ndarray  # int32 day of the first diagnosis code in the extract, NO_DATE if absent
    resolved: np.ndarray  # int32 day of the resolved code, NO_DATE if none
    variant: np.ndarray  # int8 index into the condition's variants

    def active_at(self, day: np.ndarray) -> np.ndarray:
        """Which conditions each person has, unresolved, on a per-person day."""
        d = np.asarray(day)[:, None]
        return self.has & (self.onset <= d) & ((self.resolved == NO_DATE) | (self.resolved > d))

    def take(self, index: np.ndarray) -> ConditionHistory:
        return ConditionHistory(
            self.has[index],
            self.onset[index],
            self.coded[index],
            self.resolved[index],
            self.variant[index],
        )


class ConditionModel:
    """The conditions of a profile as arrays, ready to score people."""

    def __init__(self, profile: Profile) -> None:
        self.conditions: tuple[Condition, ...] = profile.conditions
        c = self.conditions
        self.names = tuple(x.name for x in c)
        self.log_or_ethnicity = np.array([x.log_or_ethnicity for x in c])  # (C, E)
        self.log_or_smoking = np.array([x.log_or_smoking for x in c])  # (C, 3)
        self.admission_log_hr = np.array([x.admission_log_hr for x in c])
        self.mortality_log_hr = np.array([x.mortality_log_hr for x in c])
        self.qof = np.array([x.qof for x in c])
        self.variant_cumulative: list[tuple[np.ndarray, np.ndarray]] = []
        for x in c:
            per_sex = []
            for sex in ("F", "M"):
                w = np.array([v.weight if v.sex in (None, sex) else 0.0 for v in x.variants])
                if w.sum() == 0:
                    w = np.array([v.weight for v in x.variants])
                per_sex.append(np.cumsum(w) / w.sum())
            self.variant_cumulative.append((per_sex[0], per_sex[1]))

    @property
    def count(self) -> int:
        return len(self.conditions)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def demographic_logit(self, k: int, people: People, age: np.ndarray) -> np.ndarray:
        """The log-odds of condition k without its intercept and parent conditions."""
        x = self.conditions[k]
        logit = (
            x.age_logodds(age)
            + x.log_or_male * (people.sex == SEX_M)
            + x.log_or_deprivation * people.deprivation
            + x.log_or_need * people.need
            + self.log_or_ethnicity[k][people.ethnicity]
            + self.log_or_smoking[k][people.smoking]
        )
        if x.sex == "M":
            logit = np.where(people.sex == SEX_M, logit, -np.inf)
        elif x.sex == "F":
            logit = np.where(people.sex == SEX_F, logit, -np.inf)
        return np.asarray(logit)

    def parent_logit(self, k: int, has: np.ndarray) -> np.ndarray:
        out = np.zeros(has.shape[0])
        for parent, log_or in self.conditions[k].log_or_parents:
            out += log_or * has[:, parent]
        return out

    def draw(self, rng: np.random.Generator, people: People, intercepts: np.ndarray) -> np.ndarray:
        """Who has each condition by the end of their record (bool matrix)."""
        age = people.age_at(people.record_end)
        has = np.zeros((people.n, self.count), dtype=bool)
        u = rng.random((people.n, self.count))
        for k in range(self.count):
            logit = (
                intercepts[k] + self.demographic_logit(k, people, age) + self.parent_logit(k, has)
            )
            has[:, k] = u[:, k] < _sigmoid(logit)
        return has

    def history(
        self, rng: np.random.Generator, people: People, has: np.ndarray, window: Window
    ) -> ConditionHistory:
        """Onset, first coding, resolution and recorded variant of each condition."""
        n, count = has.shape
        onset = np.full((n, count), NO_DATE, dtype=np.int32)
        coded = np.full((n, count), NO_DATE, dtype=np.int32)
        resolved = np.full((n, count), NO_DATE, dtype=np.int32)
        variant = np.zeros((n, count), dtype=np.int8)
        age_end = people.age_at(people.record_end)
        first_year = np.minimum(365, people.record_end - window.start)
        for k, x in enumerate(self.conditions):
            rows = np.flatnonzero(has[:, k])
            if len(rows) == 0:
                continue
            age = age_end[rows]
            u = rng.random((len(rows), 5))
            if x.onset_age_range is not None:
                low, high = x.onset_age_range
                onset_age = low + u[:, 0] * (high - low)
                onset_age = np.where(onset_age > age, age * u[:, 1], onset_age)
                years = age - onset_age
            else:
                mean = float(x.onset_mean_years or 1.0)
                longest = np.maximum(age - x.onset_min_age, 0.02)
                longest = np.minimum(longest, age)
                years = -mean * np.log1p(-u[:, 0] * (1 - np.exp(-longest / mean)))
            end = people.record_end[rows].astype(np.int64)
            day = end - np.floor(years * DAYS_PER_YEAR).astype(np.int64)
            day = np.maximum(day, people.birth[rows])
            onset[rows, k] = day
            first = window.start + np.floor(u[:, 2] * first_year[rows]).astype(np.int64)
            code_day = np.where(day >= window.start, day, first)
            coded[rows, k] = np.minimum(code_day, end)
            if x.resolution is not None:
                after = _MIN_RESOLVED_DAYS + np.floor(
                    -np.log1p(-u[:, 3]) * x.resolution.mean_years * DAYS_PER_YEAR
                ).astype(np.int64)
                day_resolved = coded[rows, k] + after
                keep = (u[:, 4] < x.resolution.share) & (day_resolved <= end)
                resolved[rows[keep], k] = day_resolved[keep]
            female, male = self.variant_cumulative[k]
            pick = rng.random(len(rows))
            cumulative = np.where(people.sex[rows, None] == SEX_M, male, female)
            variant[rows, k] = (cumulative < pick[:, None]).sum(axis=1).clip(0, len(x.variants) - 1)
        return ConditionHistory(has, onset, coded, resolved, variant)


def solve_intercepts(
    rng: np.random.Generator, model: ConditionModel, people: People, window: Window
) -> tuple[np.ndarray, np.ndarray]:
    """Intercepts that give each condition its target prevalence on a reference sample.

    `people` are list members (registered and alive at the index date). Each
    condition's intercept is found by bisection so that the mean probability over
    its denominator (age min_age or over) equals the target; for conditions that
    can resolve, the target is raised by the share that resolves by the index
    date, measured on the sample. Returns the intercepts and the sample's
    conditions (drawn with them, condition by condition, as in generation).
    """
    age = people.age_at(people.record_end)
    has = np.zeros((people.n, model.count), dtype=bool)
    intercepts = np.zeros(model.count)
    u = rng.random((people.n, model.count))
    for k, x in enumerate(model.conditions):
        base = model.demographic_logit(k, people, age) + model.parent_logit(k, has)
        denominator = age >= x.min_age
        target = x.prevalence
        for _ in range(2 if x.resolution is not None else 1):
            intercepts[k] = _bisect_intercept(base[denominator], target)
            has[:, k] = u[:, k] < _sigmoid(intercepts[k] + base)
            if x.resolution is None:
                break
            single = np.zeros_like(has)
            single[:, k] = has[:, k]
            history = model.history(rng, people, single, window)
            active = history.active_at(np.full(people.n, window.index))[:, k]
            ever = has[denominator, k].mean()
            still = active[denominator].mean()
            if still <= 0:
                break
            target = x.prevalence * ever / still
    return intercepts, has


def _bisect_intercept(logit: np.ndarray, target: float) -> float:
    low, high = -40.0, 40.0
    for _ in range(40):
        mid = (low + high) / 2
        if _sigmoid(mid + logit).mean() < target:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)))
