"""The population profile: the YAML data that shapes the synthetic population.

A profile is two files in one folder: `<name>.yaml` (age-sex structure,
ethnicity, registration, mortality, service use, observations, pathways, hubs)
and the conditions file it names (long-term conditions with their models and
codes). Everything place-specific comes from the Place; everything about the
people comes from here, so a different population is a different profile, not
different code.
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from phm.schema.canonical import ETHNIC_GROUPS

PROFILES_DIR = Path(__file__).parent / "profiles"

# Names the generator looks up: conditions with observations, services or
# pathways of their own, and the keys of code and multiplier tables.
REQUIRED = {
    "conditions": {
        "hypertension",
        "diabetes_type2",
        "diabetes_type1",
        "ckd",
        "heart_failure",
        "depression",
        "anxiety",
        "smi",
        "cancer",
        "learning_disability",
        "alcohol_problems",
    },
    "observations": {"systolic_bp", "diastolic_bp", "bmi", "hba1c", "egfr"},
    "smoking_status": {"never", "ex", "current"},
    "housing": {"homeless", "unsatisfactory"},
    "maternity": {"vaginal", "caesarean", "outcome"},
    "escalation": {"gp", "ae", "op", "emergency", "community", "after_index"},
}
ETHNICITIES: tuple[str, ...] = tuple(ETHNIC_GROUPS)
SMOKING_STATUSES = ("never", "ex", "current")


class ProfileError(ValueError):
    """A profile file that cannot be read or is inconsistent."""


@dataclass(frozen=True)
class Curve:
    """A piecewise-linear function of age, flat beyond its first and last knots."""

    knots: tuple[float, ...]
    values: tuple[float, ...]

    def __call__(self, age: np.ndarray) -> np.ndarray:
        return np.interp(age, self.knots, self.values)

    @classmethod
    def from_pairs(cls, pairs: Any, where: str) -> Curve:
        try:
            knots = tuple(float(p[0]) for p in pairs)
            values = tuple(float(p[1]) for p in pairs)
        except (TypeError, IndexError, ValueError) as e:
            raise ProfileError(f"{where}: expected a list of [age, value] pairs") from e
        if not knots or list(knots) != sorted(knots):
            raise ProfileError(f"{where}: ages must be given in increasing order")
        return cls(knots, values)


# ---------------------------------------------------------------- demographics


@dataclass(frozen=True)
class AgeBand:
    low: float
    high: float
    percent: float
    male: float


@dataclass(frozen=True)
class AgeWeights:
    """Multipliers of the ethnicity weights for people aged low to high."""

    low: float
    high: float
    weights: tuple[float, ...]


@dataclass(frozen=True)
class Ethnicity:
    weights: tuple[float, ...]  # per category of ETHNICITIES
    age_multipliers: tuple[AgeWeights, ...]
    deprivation_tilt: tuple[float, ...]  # log-multiplier per decile more deprived than 5.5


@dataclass(frozen=True)
class LatentNeed:
    per_deprivation_decile: float
    per_decade_over_40: float


@dataclass(frozen=True)
class Smoking:
    current: float
    current_per_deprivation_decile: float
    current_male_odds_ratio: float
    ex_at_age_70: float
    ex_at_age_25: float


@dataclass(frozen=True)
class Registration:
    recent_joiner_share: float
    mean_years_registered: float
    leaver_share: float
    newborn_delay_days: tuple[float, ...]


@dataclass(frozen=True)
class Mortality:
    annual_rate: float
    per_year_of_age: float
    need_log_hazard: float
    end_of_life_escalation: float


@dataclass(frozen=True)
class Escalation:
    base_share: float
    per_condition_log_odds: float
    need_log_odds: float
    months_before_index: tuple[float, ...]
    multipliers: dict[str, float]


# ---------------------------------------------------------------- services


@dataclass(frozen=True)
class Emergency:
    share_with_admission: float
    age_log_hazard: Curve
    need_log_hazard: float
    deprivation_log_hazard_per_decile: float
    frailty_shape: float
    via_ae_share: float
    los_median_days: Curve
    los_sigma: float
    cost_base: float
    cost_per_day: float
    cost_max_days: float


@dataclass(frozen=True)
class Gp:
    mean_per_year: float
    age_log_rate: Curve
    female_rate_ratio: float
    per_condition_log_rate: float
    need_log_rate: float
    frailty_power: float
    cost: float
    coded_share: float
    hub_share: float


@dataclass(frozen=True)
class Outpatients:
    mean_per_year: float
    age_log_rate: Curve
    per_condition_log_rate: float
    need_log_rate: float
    cost_first: float
    cost_follow_up: float


@dataclass(frozen=True)
class AccidentEmergency:
    mean_per_year: float
    age_log_rate: Curve
    per_condition_log_rate: float
    need_log_rate: float
    deprivation_log_rate_per_decile: float
    frailty_power: float
    hours_median: float
    hours_sigma: float
    hours_admitted_median: float
    hours_per_decade_over_60: float
    cost: float
    cost_admitted: float


@dataclass(frozen=True)
class Elective:
    mean_per_year: float
    age_log_rate: Curve
    per_condition_log_rate: float
    day_case_share: float
    cost_day_case: float
    cost_per_night: float
    cost_overnight_base: float


@dataclass(frozen=True)
class Maternity:
    births_per_woman_year: float
    age_range: tuple[float, ...]
    caesarean_share: float
    cost: float


@dataclass(frozen=True)
class MentalHealth:
    cost: float


@dataclass(frozen=True)
class Community:
    age_log_rate: Curve
    need_log_rate: float
    cost: float


@dataclass(frozen=True)
class SocialCare:
    age_log_odds: Curve
    need_log_odds: float
    contact_interval_days: tuple[float, ...]
    cost: float
    cost_learning_disability: float


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class BloodPressure:
    base_per_year: float
    per_condition: float
    hypertension: float


@dataclass(frozen=True)
class BodyMass:
    base_per_year: float
    per_condition: float
    mean: float
    sd: float


@dataclass(frozen=True)
class SmokingRecording:
    base_per_year: float
    per_condition: float


@dataclass(frozen=True)
class Hba1c:
    diabetes_per_year: float
    screening_per_year: float


@dataclass(frozen=True)
class Egfr:
    base_per_year: float
    at_risk_per_year: float


@dataclass(frozen=True)
class Housing:
    homeless_share: float
    unsatisfactory_share: float
    per_deprivation_decile_log_odds: float


@dataclass(frozen=True)
class FrailtyFindings:
    age_log_odds: Curve
    need_log_odds: float


@dataclass(frozen=True)
class Observations:
    blood_pressure: BloodPressure
    bmi: BodyMass
    smoking_status: SmokingRecording
    hba1c: Hba1c
    egfr: Egfr
    housing: Housing
    frailty_findings: FrailtyFindings


@dataclass(frozen=True)
class Pam:
    share_with_ltc: float
    mean: float
    sd: float
    need_effect: float
    deprivation_effect_per_decile: float


@dataclass(frozen=True)
class Assessments:
    pam: Pam
    i_statement_share_of_pam: float
    audit_c_per_year: float
    phq9_screening_per_year: float


@dataclass(frozen=True)
class Wait:
    """One lognormal component of a waiting-time distribution."""

    share: float
    median_days: float
    sigma: float


@dataclass(frozen=True)
class Pathways:
    rtt_per_year: float
    rtt_wait: tuple[Wait, ...]
    cancer_wait: tuple[Wait, ...]
    eip_wait: tuple[Wait, ...]
    iapt_share: float
    iapt_wait: tuple[Wait, ...]


@dataclass(frozen=True)
class Hubs:
    start_utilisation: tuple[float, ...]
    rise_per_year: float
    weekend_capacity: float
    history_days: float


# ---------------------------------------------------------------- conditions


@dataclass(frozen=True)
class Variant:
    """One way a condition is recorded: a SNOMED CT concept and its ICD-10 code."""

    snomed: str
    term: str
    icd10: str
    weight: float
    sex: str | None = None


@dataclass(frozen=True)
class Drug:
    bnf: str
    name: str
    share: float


@dataclass(frozen=True)
class Resolution:
    snomed: str
    term: str
    share: float
    mean_years: float


@dataclass(frozen=True)
class ServiceShare:
    """The share of people with a condition under a service, and their contacts a year."""

    share: float
    per_year: float


@dataclass(frozen=True)
class Condition:
    """A long-term condition: its logistic model, course, codes and effects on services."""

    name: str
    label: str
    qof: bool
    prevalence: float
    min_age: float
    source: str
    sex: str | None
    age_logodds: Curve
    log_or_male: float
    log_or_deprivation: float
    log_or_need: float
    log_or_ethnicity: tuple[float, ...]  # per category of ETHNICITIES
    log_or_smoking: tuple[float, ...]  # per SMOKING_STATUSES
    log_or_parents: tuple[tuple[int, float], ...]  # (index of an earlier condition, log OR)
    onset_mean_years: float | None
    onset_min_age: float
    onset_age_range: tuple[float, ...] | None
    variants: tuple[Variant, ...]
    resolution: Resolution | None
    treated: float
    drugs: tuple[Drug, ...]
    admission_log_hr: float
    mortality_log_hr: float
    recent_years: float | None
    acute_icd10: tuple[str, ...]
    mh: ServiceShare | None
    community: ServiceShare | None
    social_care_log_or: float


@dataclass(frozen=True)
class Coded:
    """A SNOMED CT concept with its term, optional unit and weight among alternatives."""

    snomed: str
    term: str
    unit: str | None = None
    weight: float = 1.0


@dataclass(frozen=True)
class WeightedIcd:
    icd10: str
    weight: float


@dataclass(frozen=True)
class HospitalCodes:
    emergency_general: tuple[WeightedIcd, ...]
    emergency_old: tuple[WeightedIcd, ...]
    frailty_secondary: tuple[WeightedIcd, ...]
    elective: tuple[WeightedIcd, ...]
    ae_minor: tuple[WeightedIcd, ...]
    op_follow_up: str
    maternity: dict[str, str]


@dataclass(frozen=True)
class RecordCodes:
    observations: dict[str, Coded]
    smoking_status: dict[str, Coded]
    housing: dict[str, Coded]
    frailty_findings: tuple[Coded, ...]
    pregnancy: Coded
    minor_illness: tuple[Coded, ...]
    hospital: HospitalCodes


@dataclass(frozen=True)
class Profile:
    """Everything about the people of a synthetic place that is not the place itself."""

    name: str
    age_sex: tuple[AgeBand, ...]
    ethnicity: Ethnicity
    home_neighbourhood_share: float
    latent_need: LatentNeed
    smoking: Smoking
    registration: Registration
    mortality: Mortality
    history_years: int
    escalation: Escalation
    emergency: Emergency
    gp: Gp
    op: Outpatients
    ae: AccidentEmergency
    elective: Elective
    maternity: Maternity
    mh: MentalHealth
    community: Community
    social_care: SocialCare
    observations: Observations
    assessments: Assessments
    pathways: Pathways
    hubs: Hubs
    conditions: tuple[Condition, ...]
    codes: RecordCodes


# ---------------------------------------------------------------- loading


def _convert(value: Any, hint: Any, where: str) -> Any:
    """Convert a YAML value to the type a dataclass field declares."""
    if hint is Curve:
        return Curve.from_pairs(value, where)
    if isinstance(hint, type) and is_dataclass(hint):
        return _build(hint, value, where)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return None
        return _convert(value, next(a for a in args if a is not type(None)), where)
    try:
        if origin is tuple:
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if origin is dict:
            return {str(k): _convert(v, args[1], f"{where}.{k}") for k, v in value.items()}
        if hint is float:
            return float(value)
        if hint is int:
            return int(value)
        if hint is bool:
            return bool(value)
        if hint is str:
            return str(value)
    except (TypeError, ValueError, AttributeError) as e:
        raise ProfileError(f"{where}: {value!r} is not a valid {hint}") from e
    raise ProfileError(f"{where}: unsupported field type {hint}")


def _build(cls: Any, data: Any, where: str) -> Any:
    """Build a dataclass from a mapping, rejecting missing and unknown keys."""
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: expected a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ProfileError(f"{where}: unknown keys {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in data:
            values[f.name] = _convert(data[f.name], hints[f.name], f"{where}.{f.name}")
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ProfileError(f"{where}: missing key {f.name}")
    return cls(**values)


def _ethnicity_vector(
    effects: dict[str, float],
    aliases: dict[str, tuple[str, ...]],
    where: str,
    *,
    default: float,
    log: bool,
) -> tuple[float, ...]:
    """Per-category values from keys naming a category, an alias or a high-level group.

    The most specific key wins: a category's own entry, then an alias containing
    it, then its high-level group; categories no key names get `default`.
    """
    groups = set(ETHNIC_GROUPS.values())
    for key in effects:
        if key not in ETHNIC_GROUPS and key not in aliases and key not in groups:
            raise ProfileError(f"{where}: unknown ethnicity {key!r}")
    out = []
    for category in ETHNICITIES:
        value: float | None = effects.get(category)
        if value is None:
            value = next(
                (effects[a] for a, cs in aliases.items() if category in cs and a in effects), None
            )
        if value is None:
            value = effects.get(ETHNIC_GROUPS[category])
        if value is None:
            out.append(default)
        else:
            out.append(float(np.log(value)) if log else float(value))
    return tuple(out)


def _load_condition(
    raw: dict[str, Any], known: list[str], aliases: dict[str, tuple[str, ...]]
) -> Condition:
    where = f"conditions.{raw.get('name', '?')}"
    allowed = {
        "name",
        "label",
        "qof",
        "prevalence",
        "min_age",
        "source",
        "sex",
        "age_logodds",
        "odds_ratios",
        "onset",
        "variants",
        "resolved",
        "treated",
        "drugs",
        "admission_hr",
        "mortality_hr",
        "recent_years",
        "acute_icd10",
        "mh",
        "community",
        "social_care_or",
    }
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ProfileError(f"{where}: unknown keys {', '.join(unknown)}")
    for key in ("name", "label", "prevalence", "age_logodds", "onset", "variants"):
        if key not in raw:
            raise ProfileError(f"{where}: missing key {key}")
    odds = dict(raw.get("odds_ratios") or {})
    bad = sorted(set(odds) - {"male", "deprivation", "need", "ethnicity", "smoking", "conditions"})
    if bad:
        raise ProfileError(f"{where}.odds_ratios: unknown keys {', '.join(bad)}")
    parents = []
    for parent, ratio in (odds.get("conditions") or {}).items():
        if parent not in known:
            raise ProfileError(f"{where}: condition {parent!r} must be declared before it")
        parents.append((known.index(parent), float(np.log(ratio))))
    smoking = odds.get("smoking") or {}
    if set(smoking) - set(SMOKING_STATUSES):
        raise ProfileError(f"{where}.odds_ratios.smoking: use {', '.join(SMOKING_STATUSES)}")
    onset = raw["onset"]
    if not isinstance(onset, dict) or not ({"mean_years", "age_range"} & set(onset)):
        raise ProfileError(f"{where}.onset: give mean_years or age_range")
    variants = tuple(_build(Variant, v, f"{where}.variants") for v in raw["variants"])
    if not variants:
        raise ProfileError(f"{where}: at least one variant is needed")
    sex = raw.get("sex")
    if sex not in (None, "F", "M"):
        raise ProfileError(f"{where}.sex: F or M")
    prevalence = float(raw["prevalence"])
    if not 0 < prevalence < 0.5:
        raise ProfileError(f"{where}.prevalence: must be between 0 and 0.5")
    return Condition(
        name=str(raw["name"]),
        label=str(raw["label"]),
        qof=bool(raw.get("qof", False)),
        prevalence=prevalence,
        min_age=float(raw.get("min_age", 0)),
        source=str(raw.get("source", "")),
        sex=sex,
        age_logodds=Curve.from_pairs(raw["age_logodds"], f"{where}.age_logodds"),
        log_or_male=float(np.log(odds.get("male", 1.0))),
        log_or_deprivation=float(np.log(odds.get("deprivation", 1.0))),
        log_or_need=float(np.log(odds.get("need", 1.0))),
        log_or_ethnicity=_ethnicity_vector(
            odds.get("ethnicity") or {},
            aliases,
            f"{where}.odds_ratios.ethnicity",
            default=0.0,
            log=True,
        ),
        log_or_smoking=tuple(float(np.log(smoking.get(s, 1.0))) for s in SMOKING_STATUSES),
        log_or_parents=tuple(parents),
        onset_mean_years=float(onset["mean_years"]) if "mean_years" in onset else None,
        onset_min_age=float(onset.get("min_age", 0)),
        onset_age_range=(
            tuple(float(a) for a in onset["age_range"]) if "age_range" in onset else None
        ),
        variants=variants,
        resolution=(
            _build(Resolution, raw["resolved"], f"{where}.resolved")
            if raw.get("resolved")
            else None
        ),
        treated=float(raw.get("treated", 0.0)),
        drugs=tuple(_build(Drug, d, f"{where}.drugs") for d in raw.get("drugs") or ()),
        admission_log_hr=float(np.log(raw.get("admission_hr", 1.0))),
        mortality_log_hr=float(np.log(raw.get("mortality_hr", 1.0))),
        recent_years=float(raw["recent_years"]) if "recent_years" in raw else None,
        acute_icd10=tuple(str(c) for c in raw.get("acute_icd10") or ()),
        mh=_build(ServiceShare, raw["mh"], f"{where}.mh") if raw.get("mh") else None,
        community=(
            _build(ServiceShare, raw["community"], f"{where}.community")
            if raw.get("community")
            else None
        ),
        social_care_log_or=float(np.log(raw.get("social_care_or", 1.0))),
    )


def _load_conditions(data: Any, where: str) -> tuple[tuple[Condition, ...], RecordCodes]:
    if not isinstance(data, dict) or "conditions" not in data:
        raise ProfileError(f"{where}: expected a mapping with a conditions list")
    if data.get("icd10_format") != "no_dot":
        raise ProfileError(f"{where}: icd10_format must be no_dot")
    aliases = {
        str(k): tuple(str(c) for c in v) for k, v in (data.get("ethnic_aliases") or {}).items()
    }
    for alias, members in aliases.items():
        unknown = [m for m in members if m not in ETHNIC_GROUPS]
        if unknown:
            raise ProfileError(f"{where}: alias {alias} names unknown categories {unknown}")
    conditions: list[Condition] = []
    for raw in data["conditions"]:
        condition = _load_condition(raw, [c.name for c in conditions], aliases)
        if condition.name in {c.name for c in conditions}:
            raise ProfileError(f"{where}: condition {condition.name} declared twice")
        conditions.append(condition)
    sections = {"conditions", "icd10_format", "ethnic_aliases"}
    codes = _build(RecordCodes, {k: v for k, v in data.items() if k not in sections}, where)
    return tuple(conditions), codes


def _load_ethnicity(data: Any, where: str) -> Ethnicity:
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: expected a mapping")
    percent = data.get("percent") or {}
    if set(percent) != set(ETHNICITIES):
        missing = sorted(set(ETHNICITIES) - set(percent))
        extra = sorted(set(percent) - set(ETHNICITIES))
        raise ProfileError(f"{where}.percent: missing {missing}, unknown {extra}")
    multipliers = tuple(
        AgeWeights(
            float(m["low"]),
            float(m["high"]),
            _ethnicity_vector(m["weights"], {}, f"{where}.age_multipliers", default=1.0, log=False),
        )
        for m in data.get("age_multipliers") or ()
    )
    tilt = _ethnicity_vector(
        data.get("deprivation_tilt") or {}, {}, f"{where}.deprivation_tilt", default=0.0, log=False
    )
    return Ethnicity(tuple(float(percent[e]) for e in ETHNICITIES), multipliers, tilt)


def load_profile(name_or_path: str | Path = "default") -> Profile:
    """Load a shipped profile by name or any profile file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ProfileError(f"no profile file {path}")
    try:
        data = yaml.safe_load(path.read_text())
        conditions_path = path.parent / str(data.pop("conditions_file", "conditions.yaml"))
        condition_data = yaml.safe_load(conditions_path.read_text())
    except (OSError, yaml.YAMLError, AttributeError) as e:
        raise ProfileError(f"{path}: cannot read profile: {e}") from e
    conditions, codes = _load_conditions(condition_data, str(conditions_path))
    where = str(path)
    data = dict(data)
    ethnicity = _load_ethnicity(data.pop("ethnicity", None), f"{where}.ethnicity")
    bands = tuple(_build(AgeBand, b, f"{where}.age_sex") for b in data.pop("age_sex", ()))
    if not bands:
        raise ProfileError(f"{where}: age_sex is empty")
    return _assemble(data, path.stem, bands, ethnicity, conditions, codes, where)


def _assemble(
    data: dict[str, Any],
    name: str,
    bands: tuple[AgeBand, ...],
    ethnicity: Ethnicity,
    conditions: tuple[Condition, ...],
    codes: RecordCodes,
    where: str,
) -> Profile:
    """Build the Profile from the remaining top-level sections of the profile file."""
    hints = typing.get_type_hints(Profile)
    special = {"name", "age_sex", "ethnicity", "conditions", "codes"}
    expected = {f.name for f in fields(Profile)} - special
    unknown = sorted(set(data) - expected)
    missing = sorted(expected - set(data))
    if unknown or missing:
        raise ProfileError(f"{where}: unknown sections {unknown}, missing sections {missing}")
    sections = {k: _convert(data[k], hints[k], f"{where}.{k}") for k in expected}
    found = {
        "conditions": {c.name for c in conditions},
        "observations": set(codes.observations),
        "smoking_status": set(codes.smoking_status),
        "housing": set(codes.housing),
        "maternity": set(codes.hospital.maternity),
        "escalation": set(sections["escalation"].multipliers),
    }
    for part, names in REQUIRED.items():
        if names - found[part]:
            raise ProfileError(f"{where}: {part} lacks {', '.join(sorted(names - found[part]))}")
    return Profile(
        name=name,
        age_sex=bands,
        ethnicity=ethnicity,
        conditions=conditions,
        codes=codes,
        **sections,
    )
