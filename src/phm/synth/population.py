"""Who the people are: age, sex, ethnicity, where they live, registration, death.

People come in three kinds. List members are registered and alive at the index
date and follow the profile's age-sex structure exactly (in expectation).
Leavers registered and left during the history window. Decedents died during
it: their age at death follows the list's age structure tilted by a Gompertz
mortality hazard, and their latent need is shifted up the same way, so that
deaths are driven by age and need (and, by selection after conditions are
drawn, by conditions).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from phm.config.place import Place
from phm.synth.profile import ETHNICITIES, Profile
from phm.synth.timeline import DAYS_PER_YEAR, NO_DATE, Window

SEX_F, SEX_M = 0, 1  # indices into canonical SEXES ("F", "M", "U")
SMOKING_NEVER, SMOKING_EX, SMOKING_CURRENT = 0, 1, 2
ADULT_AGE = 16.0
NHS_STREAM = 2  # spawn key of the random stream that orders NHS numbers


@dataclass
class People:
    """One chunk's people as parallel arrays; day columns are day numbers."""

    sex: np.ndarray  # int8 index into SEXES
    birth: np.ndarray  # int32
    death: np.ndarray  # int32, NO_DATE when alive
    ethnicity: np.ndarray  # int8 index into ETHNICITIES
    lsoa: np.ndarray  # int16 index into place.lsoas
    imd: np.ndarray  # int8, 1 = most deprived
    practice: np.ndarray  # int16 index into place.practices
    reg_start: np.ndarray  # int32
    reg_end: np.ndarray  # int32, NO_DATE while registered
    need: np.ndarray  # float64, the latent need factor
    smoking: np.ndarray  # int8 index into SMOKING_STATUSES
    record_start: np.ndarray  # int32: first day events may fall on
    record_end: np.ndarray  # int32: last day events may fall on
    listed: np.ndarray  # bool: registered and alive at the index date

    @property
    def n(self) -> int:
        return len(self.sex)

    def age_at(self, day: np.ndarray | int) -> np.ndarray:
        """Age in years on a day (or per-person days)."""
        return (np.asarray(day, dtype=np.float64) - self.birth) / DAYS_PER_YEAR

    @property
    def deprivation(self) -> np.ndarray:
        """Deciles more deprived than the least deprived decile (0-9)."""
        return (10 - self.imd).astype(np.float64)

    def take(self, index: np.ndarray) -> People:
        return People(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(parts: list[People]) -> People:
        return People(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(People)}
        )


class Demography:
    """Sampling tables for a profile on a place, built once per run."""

    def __init__(self, profile: Profile, place: Place, window: Window) -> None:
        self.profile = profile
        self.window = window
        bands = profile.age_sex
        self.band_low = np.array([b.low for b in bands])
        self.band_high = np.array([b.high for b in bands])
        share = np.array([b.percent for b in bands])
        self.band_share = share / share.sum()
        self.band_male = np.array([b.male for b in bands])
        mid = (self.band_low + self.band_high) / 2
        tilt = self.band_share * np.exp(profile.mortality.per_year_of_age * (mid - mid.max()))
        self.death_band_share = tilt / tilt.sum()
        eth = profile.ethnicity
        self.eth_weights = np.array(eth.weights) / sum(eth.weights)
        self.eth_tilt = np.array(eth.deprivation_tilt)
        self.eth_age = [(m.low, m.high, np.array(m.weights)) for m in eth.age_multipliers]
        neighbourhoods = sorted({p.neighbourhood for p in place.pcns})
        nb_index = {n: i for i, n in enumerate(neighbourhoods)}
        self.lsoa_neighbourhood = np.array([nb_index[x.neighbourhood] for x in place.lsoas])
        self.lsoa_imd = np.array([x.imd_decile for x in place.lsoas], dtype=np.int8)
        self.mean_imd = float(self.lsoa_imd.mean())
        self.lsoas_of = [np.flatnonzero(self.lsoa_neighbourhood == i) for i in range(len(nb_index))]
        self.practice_neighbourhood = np.array(
            [nb_index[place.pcn_by_code[p.pcn].neighbourhood] for p in place.practices]
        )
        sizes = np.array([p.list_size for p in place.practices], dtype=np.float64)
        self.practice_share = sizes / sizes.sum()

    # ------------------------------------------------------------ drawing

    def list_members(
        self, rng: np.random.Generator, practice: np.ndarray, *, stratified: bool = False
    ) -> People:
        """People registered and alive at the index date, at the given practices.

        Stratified draws put exactly the profile's share in each age band (for
        the calibration sample, so that rare old-age conditions calibrate well).
        """
        n = len(practice)
        if stratified:
            counts = np.floor(self.band_share * n).astype(np.int64)
            counts[
                np.argsort(-(self.band_share * n - counts), kind="stable")[: n - counts.sum()]
            ] += 1
            band = np.repeat(np.arange(len(counts)), counts)
            width = self.band_high[band] - self.band_low[band]
            age = self.band_low[band] + rng.random(n) * width
        else:
            age = self._ages(rng, n, self.band_share)
        birth = self.window.index - np.floor(age * DAYS_PER_YEAR).astype(np.int64)
        reg_start = self._registration_start(rng, birth, np.full(n, self.window.index))
        return self._people(rng, practice, age, birth, reg_start, NO_DATE, NO_DATE, listed=True)

    def leavers(self, rng: np.random.Generator, n: int) -> People:
        """People who left their practice during the history window."""
        practice = self.random_practices(rng, n)
        age = np.maximum(self._ages(rng, n, self.band_share), 0.5)
        birth = self.window.index - np.floor(age * DAYS_PER_YEAR).astype(np.int64)
        earliest = np.maximum(self.window.start, birth + 30)
        reg_end = earliest + np.floor(rng.random(n) * (self.window.index - 1 - earliest))
        reg_end = reg_end.astype(np.int64)
        reg_start = np.minimum(self._registration_start(rng, birth, reg_end), reg_end)
        return self._people(rng, practice, age, birth, reg_start, reg_end, NO_DATE, listed=False)

    def decedents(self, rng: np.random.Generator, n: int) -> People:
        """People who died during the history window, before any selection on conditions."""
        practice = self.random_practices(rng, n)
        age_at_death = self._ages(rng, n, self.death_band_share)
        death = self.window.start + np.floor(rng.random(n) * self.window.days).astype(np.int64)
        birth = death - np.floor(age_at_death * DAYS_PER_YEAR).astype(np.int64)
        reg_start = np.minimum(self._registration_start(rng, birth, death), death)
        people = self._people(
            rng, practice, age_at_death, birth, reg_start, death, death, listed=False
        )
        people.need += self.profile.mortality.need_log_hazard
        return people

    def random_practices(self, rng: np.random.Generator, n: int) -> np.ndarray:
        cumulative = np.cumsum(self.practice_share)
        return np.minimum(
            np.searchsorted(cumulative, rng.random(n) * cumulative[-1]), len(cumulative) - 1
        ).astype(np.int16)

    def _ages(self, rng: np.random.Generator, n: int, share: np.ndarray) -> np.ndarray:
        band = np.minimum(np.searchsorted(np.cumsum(share), rng.random(n)), len(share) - 1)
        return self.band_low[band] + rng.random(n) * (self.band_high[band] - self.band_low[band])

    def _registration_start(
        self, rng: np.random.Generator, birth: np.ndarray, until: np.ndarray
    ) -> np.ndarray:
        reg = self.profile.registration
        n = len(birth)
        years = 1.0 + rng.exponential(max(reg.mean_years_registered - 1.0, 0.1), n)
        recent = rng.random(n) < reg.recent_joiner_share
        years = np.where(recent, rng.random(n), years)
        start = until - np.floor(years * DAYS_PER_YEAR).astype(np.int64)
        low, high = reg.newborn_delay_days
        earliest = birth + np.floor(low + rng.random(n) * (high - low)).astype(np.int64)
        return np.minimum(np.maximum(start, earliest), until)

    def _people(
        self,
        rng: np.random.Generator,
        practice: np.ndarray,
        age: np.ndarray,
        birth: np.ndarray,
        reg_start: np.ndarray,
        reg_end: np.ndarray | int,
        death: np.ndarray | int,
        *,
        listed: bool,
    ) -> People:
        n = len(practice)
        band = np.minimum(
            np.searchsorted(self.band_high, age, side="right"), len(self.band_high) - 1
        )
        sex = np.where(rng.random(n) < self.band_male[band], 1, 0).astype(np.int8)
        lsoa = self._lsoas(rng, practice)
        imd = self.lsoa_imd[lsoa]
        deprivation = self.mean_imd - imd.astype(np.float64)  # deciles below the place's mean
        ethnicity = self._ethnicities(rng, age, deprivation)
        need_profile = self.profile.latent_need
        need = (
            rng.standard_normal(n)
            + need_profile.per_deprivation_decile * deprivation
            + need_profile.per_decade_over_40 * np.maximum(age - 40.0, 0.0) / 10.0
        )
        smoking = self._smoking(rng, age, sex, deprivation)
        reg_end_arr = np.broadcast_to(np.asarray(reg_end, dtype=np.int64), (n,))
        death_arr = np.broadcast_to(np.asarray(death, dtype=np.int64), (n,))
        end = np.full(n, self.window.index, dtype=np.int64)
        end = np.where(reg_end_arr != NO_DATE, np.minimum(end, reg_end_arr), end)
        end = np.where(death_arr != NO_DATE, np.minimum(end, death_arr), end)
        return People(
            sex=sex,
            birth=birth.astype(np.int32),
            death=death_arr.astype(np.int32),
            ethnicity=ethnicity,
            lsoa=lsoa.astype(np.int16),
            imd=imd.astype(np.int8),
            practice=practice.astype(np.int16),
            reg_start=reg_start.astype(np.int32),
            reg_end=reg_end_arr.astype(np.int32),
            need=need,
            smoking=smoking,
            record_start=np.maximum(self.window.start, birth).astype(np.int32),
            record_end=end.astype(np.int32),
            listed=np.full(n, listed),
        )

    def _lsoas(self, rng: np.random.Generator, practice: np.ndarray) -> np.ndarray:
        n = len(practice)
        anywhere = np.floor(rng.random(n) * len(self.lsoa_imd)).astype(np.int64)
        home_pick = rng.random(n)
        lsoa = anywhere.copy()
        at_home = rng.random(n) < self.profile.home_neighbourhood_share
        neighbourhood = self.practice_neighbourhood[practice]
        for i, members in enumerate(self.lsoas_of):
            chosen = at_home & (neighbourhood == i)
            lsoa[chosen] = members[np.floor(home_pick[chosen] * len(members)).astype(np.int64)]
        return lsoa

    def _ethnicities(
        self, rng: np.random.Generator, age: np.ndarray, deprivation: np.ndarray
    ) -> np.ndarray:
        weights = np.tile(self.eth_weights, (len(age), 1))
        for low, high, multiplier in self.eth_age:
            in_band = (age >= low) & (age < high)
            weights[in_band] *= multiplier
        weights *= np.exp(np.outer(deprivation, self.eth_tilt))
        cumulative = np.cumsum(weights, axis=1)
        u = rng.random(len(age)) * cumulative[:, -1]
        chosen = (cumulative < u[:, None]).sum(axis=1)
        return np.minimum(chosen, len(ETHNICITIES) - 1).astype(np.int8)

    def _smoking(
        self, rng: np.random.Generator, age: np.ndarray, sex: np.ndarray, deprivation: np.ndarray
    ) -> np.ndarray:
        s = self.profile.smoking
        logit = (
            np.log(s.current / (1 - s.current))
            + s.current_per_deprivation_decile * deprivation
            + np.log(s.current_male_odds_ratio) * (sex == SEX_M)
        )
        current = 1 / (1 + np.exp(-logit))
        ex = np.interp(age, [25.0, 70.0], [s.ex_at_age_25, s.ex_at_age_70])
        u = rng.random(len(age))
        status = np.where(
            u < current,
            SMOKING_CURRENT,
            np.where(u < current + ex * (1 - current), SMOKING_EX, SMOKING_NEVER),
        )
        return np.where(age < ADULT_AGE, SMOKING_NEVER, status).astype(np.int8)


def nhs_numbers(count: int, seed: int) -> np.ndarray:
    """Distinct valid NHS numbers in the test range 999 000 0000-999 999 9999 (bytes, S10).

    Numbers are drawn without replacement from the ~909,000 bodies in that range
    whose modulus 11 check digit is valid, so none is a real patient's. Persons
    beyond that many get an empty value (the NHS number is optional).
    """
    body = np.arange(1_000_000, dtype=np.int64)
    digits = np.empty((len(body), 10), dtype=np.int64)
    digits[:, :3] = 9
    for k in range(6):
        digits[:, 3 + k] = (body // 10 ** (5 - k)) % 10
    check = 11 - (digits[:, :9] @ np.arange(10, 1, -1)) % 11
    check[check == 11] = 0
    digits[:, 9] = check
    numbers = digits[check != 10]
    order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(NHS_STREAM,)))
    picked = numbers[order.permutation(len(numbers))[: min(count, len(numbers))]]
    out = np.full(count, b"", dtype="S10")
    out[: len(picked)] = (picked.astype(np.uint8) + ord("0")).view("S10").ravel()
    return out
