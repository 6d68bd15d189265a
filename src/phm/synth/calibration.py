"""Run-start calibration on a reference sample drawn with the seed.

The reference sample is a fixed-size draw of list members (registered and
alive at the index date). On it we solve each condition's logistic intercept
(target register prevalence), the scale of each service's rate (target mean
per person-year) and the emergency admission base hazard (target share with an
admission in the year after the index date). Because the sample's size does
not depend on the requested population, the same seed gives the same model at
any size, and prevalence holds at any size and profile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phm.config.place import Place
from phm.synth.conditions import ConditionModel, solve_intercepts
from phm.synth.population import Demography
from phm.synth.profile import Profile
from phm.synth.timeline import Window
from phm.synth.utilisation import (
    ae_rate,
    build_segments,
    draw_traits,
    elective_rate,
    emergency_rate,
    gp_rate,
    op_rate,
    truth_hazard,
)

REFERENCE_SIZE = 60_000


@dataclass(frozen=True)
class Calibration:
    intercepts: np.ndarray  # per condition
    emergency_base: float  # emergency admissions a year at relative hazard 1
    gp_scale: float
    op_scale: float
    ae_scale: float
    elective_scale: float


def calibrate(
    profile: Profile, place: Place, window: Window, seed: np.random.SeedSequence
) -> Calibration:
    """Solve intercepts, service scales and the emergency base hazard on the reference sample."""
    rng = np.random.default_rng(seed)
    demography = Demography(profile, place, window)
    model = ConditionModel(profile)
    practices = demography.random_practices(rng, REFERENCE_SIZE)
    people = demography.list_members(rng, practices, stratified=True)
    intercepts, has = solve_intercepts(rng, model, people, window)
    history = model.history(rng, people, has, window)
    traits = draw_traits(rng, profile, model, people, history, len(place.providers.acute))
    segments = build_segments(people, history, traits, model, window, profile.history_years)
    years = segments.years
    person_years = years.sum()

    hazard = truth_hazard(profile, people, history, traits, model, window, 1.0)
    share = profile.emergency.share_with_admission
    low, high = 1e-6, 10.0
    for _ in range(60):
        mid = (low + high) / 2
        if np.mean(1 - np.exp(-mid * hazard)) < share:
            low = mid
        else:
            high = mid
    base = (low + high) / 2

    def per_person_year(rate: np.ndarray) -> float:
        return float((rate * years).sum() / person_years)

    emergency_mean = per_person_year(emergency_rate(profile, people, segments, traits, base))
    ae_target = max(
        profile.ae.mean_per_year - profile.emergency.via_ae_share * emergency_mean, 0.01
    )
    return Calibration(
        intercepts=intercepts,
        emergency_base=base,
        gp_scale=profile.gp.mean_per_year
        / per_person_year(gp_rate(profile, people, segments, traits)),
        op_scale=profile.op.mean_per_year / per_person_year(op_rate(profile, people, segments)),
        ae_scale=ae_target / per_person_year(ae_rate(profile, people, segments, traits)),
        elective_scale=profile.elective.mean_per_year
        / per_person_year(elective_rate(profile, segments)),
    )
