"""Thresholds of the person-level measures, declared in `measures.yaml` beside the code lists.

Every cut-point a measure applies (escalating contacts, the post-discharge and
re-ablement windows, the Vital 5 thresholds, the PAM levels, the housing
look-back) is read from the YAML, each with its source, so a place can change
one without touching code. The file is checked whole at load time: a missing,
unknown or out-of-range field is refused with a `ValueError` naming it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from phm.schema.canonical import ETHNIC_GROUPS

THRESHOLDS_PATH = Path(__file__).parent / "measures.yaml"


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EscalationRule(_Rule):
    """Escalating need: recent contacts well above the person's own usual rate.

    Escalating when recent ≥ `min_recent_contacts` and
    recent ≥ `ratio` x baseline-per-90-days + `margin`.
    """

    min_recent_contacts: int = Field(ge=1)
    ratio: float = Field(gt=0)
    margin: float = Field(ge=0)


class DischargeRule(_Rule):
    """Windows after an emergency discharge, in days."""

    discharge_days: int = Field(gt=0)
    reablement_days: int = Field(gt=0)


class Vital5Rule(_Rule):
    """Look-back and out-of-range thresholds of the five Vital 5 factors."""

    lookback_days: int = Field(gt=0)
    systolic_high: float = Field(gt=0)
    diastolic_high: float = Field(gt=0)
    bmi_obese: float = Field(gt=0)
    bmi_obese_lower: float = Field(gt=0)
    lower_bmi_ethnicities: tuple[str, ...]
    audit_c_risk: float = Field(ge=0)
    phq9_risk: float = Field(ge=0)
    gad7_risk: float = Field(ge=0)

    @field_validator("lower_bmi_ethnicities")
    @classmethod
    def _known_ethnicities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(ETHNIC_GROUPS))
        if unknown:
            raise ValueError(f"not ONS 2021 ethnic categories: {', '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _lower_is_lower(self) -> Vital5Rule:
        if self.bmi_obese_lower > self.bmi_obese:
            raise ValueError("bmi_obese_lower is above bmi_obese")
        return self


class PamCutPoints(_Rule):
    """Upper ends of PAM levels 1-3 (scores to one decimal); level 4 is above level3_max."""

    level1_max: float = Field(ge=0, le=100)
    level2_max: float = Field(ge=0, le=100)
    level3_max: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ascending(self) -> PamCutPoints:
        if not self.level1_max < self.level2_max < self.level3_max:
            raise ValueError("level1_max < level2_max < level3_max must hold")
        return self


class HousingRule(_Rule):
    """How far back a housing-need code counts, in days."""

    lookback_days: int = Field(gt=0)


class Thresholds(_Rule):
    version: str
    escalation: EscalationRule
    discharge: DischargeRule
    vital5: Vital5Rule
    pam: PamCutPoints
    housing: HousingRule


class ThresholdsError(ValueError):
    """A thresholds file that cannot be used; the message names the file and field."""


def load_thresholds(path: Path = THRESHOLDS_PATH) -> Thresholds:
    """Read and check a thresholds YAML file (the shipped `measures.yaml` by default)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ThresholdsError(f"thresholds in {path}: {e}") from e
    if not isinstance(data, dict):
        raise ThresholdsError(f"thresholds in {path}: expected a mapping at the top level")
    try:
        return Thresholds.model_validate(data)
    except ValidationError as e:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in e.errors()
        )
        raise ThresholdsError(f"thresholds in {path}: {details}") from e


@cache
def shipped_thresholds() -> Thresholds:
    """The thresholds shipped with phm, loaded once."""
    return load_thresholds()
