"""How much each person uses services, and when: rates per year over time segments.

A person's history is cut into yearly segments plus a final "recent" segment of
3-6 months before the end of their record. In each segment the rates of GP,
outpatient, A&E, emergency admission and other contacts follow age, the
conditions active at the segment's midpoint, the latent need factor,
deprivation and a person-level gamma frailty (over-dispersion, shared by
emergency care and, more weakly, by GP and A&E use, so that prior use predicts
future admissions as in real data). People whose need escalates (and decedents
near the end of life) have the recent segment's rates multiplied.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from phm.synth.conditions import ConditionHistory, ConditionModel
from phm.synth.population import SEX_F, People
from phm.synth.profile import Profile
from phm.synth.timeline import DAYS_PER_YEAR, NO_DATE, Window

DAYS_PER_MONTH = DAYS_PER_YEAR / 12


@dataclass
class Traits:
    """Person-level traits that shape service use."""

    frailty: np.ndarray  # gamma, mean 1: unobserved propensity to emergency care
    escalates: np.ndarray  # bool: use rises sharply before the end of the record
    escalation_start: np.ndarray  # int32 day the recent segment starts
    acute: np.ndarray  # int8: the person's usual acute trust (index into providers.acute)
    in_mh: np.ndarray  # bool (n, C): under secondary mental health care for a condition
    in_community: np.ndarray  # bool (n, C): under community services for a condition
    social_care: np.ndarray  # bool: receives adult social care

    def take(self, index: np.ndarray) -> Traits:
        return Traits(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


@dataclass
class Segments:
    """Each person's record cut into time segments [lo, hi) of days."""

    lo: np.ndarray  # (n, S) float64
    hi: np.ndarray  # (n, S) float64
    escalated: np.ndarray  # (n, S) bool
    age: np.ndarray  # (n, S) years at the midpoint
    active: np.ndarray  # (n, S, C) bool: conditions active at the midpoint
    admission_log_hr: np.ndarray  # (n, S): log of the active conditions' combined hazard ratio

    @property
    def years(self) -> np.ndarray:
        return np.maximum(self.hi - self.lo, 0.0) / DAYS_PER_YEAR

    @property
    def n_active(self) -> np.ndarray:
        return np.asarray(self.active.sum(axis=2))


def draw_traits(
    rng: np.random.Generator,
    profile: Profile,
    model: ConditionModel,
    people: People,
    conditions: ConditionHistory,
    acute_trusts: int,
) -> Traits:
    """Draw frailty, escalation, usual trust, services per condition and social care receipt.

    Escalation is more likely with more active conditions and more need; most
    decedents escalate before death (end of life); leavers never do.
    """
    n = people.n
    active_end = conditions.active_at(people.record_end)
    esc = profile.escalation
    logit = (
        np.log(esc.base_share / (1 - esc.base_share))
        + esc.per_condition_log_odds * active_end.sum(axis=1)
        + esc.need_log_odds * people.need
    )
    u = rng.random((n, 4))
    decedent = people.death != NO_DATE
    escalates = np.where(
        decedent,
        u[:, 0] < profile.mortality.end_of_life_escalation,
        people.listed & (u[:, 0] < 1 / (1 + np.exp(-logit))),
    )
    low, high = esc.months_before_index
    months = low + u[:, 1] * (high - low)
    start = people.record_end + 1 - np.floor(months * DAYS_PER_MONTH).astype(np.int64)
    shape = profile.emergency.frailty_shape
    frailty = rng.gamma(shape, 1.0 / shape, n)
    acute = np.floor(u[:, 2] * acute_trusts).astype(np.int8)
    mh_share = np.array([c.mh.share if c.mh else 0.0 for c in model.conditions])
    community_share = np.array(
        [c.community.share if c.community else 0.0 for c in model.conditions]
    )
    shares = rng.random((n, model.count, 2))
    sc = profile.social_care
    age_end = people.age_at(people.record_end)
    social_logit = (
        sc.age_log_odds(age_end)
        + sc.need_log_odds * people.need
        + active_end @ np.array([c.social_care_log_or for c in model.conditions])
    )
    social_care = u[:, 3] < 1 / (1 + np.exp(-social_logit))
    return Traits(
        frailty=frailty,
        escalates=escalates,
        escalation_start=np.maximum(start, people.record_start).astype(np.int32),
        acute=acute,
        in_mh=conditions.has & (shares[:, :, 0] < mh_share),
        in_community=conditions.has & (shares[:, :, 1] < community_share),
        social_care=social_care,
    )


def build_segments(
    people: People,
    conditions: ConditionHistory,
    traits: Traits,
    model: ConditionModel,
    window: Window,
    years: int,
) -> Segments:
    """Cut each record into `years` yearly segments and the recent (escalation) segment."""
    n = people.n
    bounds = window.start + np.arange(years + 1) * (window.days / years)
    start = people.record_start.astype(np.float64)
    end = people.record_end.astype(np.float64) + 1.0
    recent = traits.escalation_start.astype(np.float64)
    lo = np.empty((n, years + 1))
    hi = np.empty((n, years + 1))
    for k in range(years):
        lo[:, k] = np.maximum(bounds[k], start)
        hi[:, k] = np.minimum(np.minimum(bounds[k + 1], recent), end)
    lo[:, years] = np.maximum(recent, start)
    hi[:, years] = end
    escalated = np.zeros((n, years + 1), dtype=bool)
    escalated[:, years] = traits.escalates
    mid = np.floor((lo + np.maximum(hi, lo)) / 2).astype(np.int64)
    active = np.stack([conditions.active_at(mid[:, k]) for k in range(years + 1)], axis=1)
    excess = _condition_excess(
        model, conditions, active, mid[:, :, None] - conditions.onset[:, None, :]
    )
    age = (mid - people.birth[:, None]) / DAYS_PER_YEAR
    return Segments(lo, hi, escalated, age, active, np.log1p(excess))


def _condition_excess(
    model: ConditionModel, conditions: ConditionHistory, active: np.ndarray, since: np.ndarray
) -> np.ndarray:
    """Combined excess hazard of active conditions: excess hazards (HR - 1) add up.

    Adding excess hazards rather than multiplying ratios keeps the multimorbid
    from reaching implausible rates. A condition with `recent_years` (cancer)
    counts half once it is older than that. `since` is days since onset,
    broadcastable to `active`.
    """
    excess = np.broadcast_to(np.expm1(model.admission_log_hr), active.shape) * active
    for k, c in enumerate(model.conditions):
        if c.recent_years is not None:
            old = since[..., k] > c.recent_years * DAYS_PER_YEAR
            excess[..., k] = np.where(old, excess[..., k] / 2, excess[..., k])
    return np.asarray(excess.sum(axis=-1))


def _escalation(segments: Segments, multiplier: float) -> np.ndarray:
    return np.where(segments.escalated, multiplier, 1.0)


def gp_rate(profile: Profile, people: People, seg: Segments, traits: Traits) -> np.ndarray:
    """GP consultations a year, before scaling to the profile's mean."""
    gp = profile.gp
    female = np.where(people.sex == SEX_F, np.log(gp.female_rate_ratio), 0.0)[:, None]
    log_rate = (
        gp.age_log_rate(seg.age)
        + female
        + gp.per_condition_log_rate * seg.n_active
        + gp.need_log_rate * people.need[:, None]
    )
    frailty = (traits.frailty**gp.frailty_power)[:, None]
    return np.exp(log_rate) * frailty * _escalation(seg, profile.escalation.multipliers["gp"])


def op_rate(profile: Profile, people: People, seg: Segments) -> np.ndarray:
    """Outpatient appointments a year, before scaling to the profile's mean."""
    op = profile.op
    log_rate = (
        op.age_log_rate(seg.age)
        + op.per_condition_log_rate * seg.n_active
        + op.need_log_rate * people.need[:, None]
    )
    return np.exp(log_rate) * _escalation(seg, profile.escalation.multipliers["op"])


def ae_rate(profile: Profile, people: People, seg: Segments, traits: Traits) -> np.ndarray:
    """A&E attendances a year that do not lead to admission, before scaling."""
    ae = profile.ae
    log_rate = (
        ae.age_log_rate(seg.age)
        + ae.per_condition_log_rate * seg.n_active
        + ae.need_log_rate * people.need[:, None]
        + ae.deprivation_log_rate_per_decile * people.deprivation[:, None]
    )
    frailty = (traits.frailty**ae.frailty_power)[:, None]
    return np.exp(log_rate) * frailty * _escalation(seg, profile.escalation.multipliers["ae"])


def emergency_relative_hazard(
    profile: Profile, people: People, age: np.ndarray, log_hr: np.ndarray, traits: Traits
) -> np.ndarray:
    """Emergency admission hazard relative to the base, without escalation."""
    em = profile.emergency
    need = people.need.reshape((-1,) + (1,) * (np.ndim(age) - 1))
    deprivation = people.deprivation.reshape(need.shape)
    frailty = traits.frailty.reshape(need.shape)
    return np.asarray(
        np.exp(
            em.age_log_hazard(age)
            + log_hr
            + em.need_log_hazard * need
            + em.deprivation_log_hazard_per_decile * deprivation
        )
        * frailty
    )


def emergency_rate(
    profile: Profile, people: People, seg: Segments, traits: Traits, base: float
) -> np.ndarray:
    """Emergency admissions a year in each segment, escalation included."""
    relative = emergency_relative_hazard(profile, people, seg.age, seg.admission_log_hr, traits)
    return base * relative * _escalation(seg, profile.escalation.multipliers["emergency"])


def elective_rate(profile: Profile, seg: Segments) -> np.ndarray:
    """Elective admissions a year, before scaling to the profile's mean."""
    el = profile.elective
    return np.exp(el.age_log_rate(seg.age) + el.per_condition_log_rate * seg.n_active)


def community_rate(
    profile: Profile, people: People, seg: Segments, traits: Traits, model: ConditionModel
) -> np.ndarray:
    """Community contacts a year: frail older people plus those under care for a condition."""
    cm = profile.community
    per_year = np.array([c.community.per_year if c.community else 0.0 for c in model.conditions])
    condition_rate = (seg.active & traits.in_community[:, None, :]) @ per_year
    rate = np.exp(cm.age_log_rate(seg.age) + cm.need_log_rate * people.need[:, None])
    return (rate + condition_rate) * _escalation(seg, profile.escalation.multipliers["community"])


def mh_rate(seg: Segments, traits: Traits, model: ConditionModel) -> np.ndarray:
    """Secondary mental health contacts a year, for conditions the person is under care for."""
    per_year = np.array([c.mh.per_year if c.mh else 0.0 for c in model.conditions])
    return np.asarray((seg.active & traits.in_mh[:, None, :]) @ per_year)


def truth_hazard(
    profile: Profile,
    people: People,
    conditions: ConditionHistory,
    traits: Traits,
    model: ConditionModel,
    window: Window,
    base: float,
) -> np.ndarray:
    """Yearly emergency admission hazard over the 12 months after the index date.

    Conditions active at the index date, age half a year on, escalation persisting.
    """
    active = conditions.active_at(np.full(people.n, window.index))
    excess = _condition_excess(model, conditions, active, window.index - conditions.onset)
    age = people.age_at(window.index) + 0.5
    relative = emergency_relative_hazard(profile, people, age, np.log1p(excess), traits)
    after = np.where(traits.escalates, profile.escalation.multipliers["after_index"], 1.0)
    return np.asarray(base * relative * after)
