"""The definitions registry: conditions and scores, declared in YAML beside the code lists.

`conditions.yaml` declares each long-term condition by rules over code lists
(look-back, resolved codes, age, treatment); `scores.yaml` declares the
weights of the Cambridge Multimorbidity Score, Charlson (Quan 2011), the
Hospital Frailty Risk Score and the electronic Frailty Index deficits. The
registry is checked whole at load time — an unknown code list, condition or
field is refused before any data is touched — and carries a version that every
run records.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from phm.codelists.codelist import DATA_DIR, Codelist, CodelistError, load_codelist

REGISTRY_DIR = Path(__file__).parent


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Medication(_Rule):
    """Prescriptions that qualify (or stand in for) a diagnosis."""

    codelist: str
    within_days: int = Field(gt=0)
    min_issues: int = Field(default=1, ge=1)
    combine: Literal["and", "or"] = "and"


class Condition(_Rule):
    """A long-term condition, flagged by register-style rules (QOF business rules logic).

    Present at the index date when a diagnosis code is recorded (ever, or within
    `lookback_days`; or first recorded within `first_within_days`), the latest
    diagnosis is after any resolved code, the person is at least `min_age`,
    and any medication rule holds (`and`: as well; `or`: instead).
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    group: Literal["physical", "mental"]
    codelist: str | None = None
    resolved: str | None = None
    lookback_days: int | None = Field(default=None, gt=0)
    first_within_days: int | None = Field(default=None, gt=0)
    min_age: int = Field(default=0, ge=0)
    medication: Medication | None = None
    counts_as_ltc: bool = True
    source: str

    @model_validator(mode="after")
    def _has_evidence(self) -> Condition:
        if self.codelist is None and (self.medication is None or self.medication.combine != "or"):
            raise ValueError(
                f"{self.name}: needs a codelist, or a medication rule with combine: or"
            )
        if self.lookback_days and self.first_within_days:
            raise ValueError(f"{self.name}: give lookback_days or first_within_days, not both")
        return self

    def codelists(self) -> list[str]:
        named = [
            self.codelist,
            self.resolved,
            self.medication.codelist if self.medication else None,
        ]
        return [n for n in named if n]


class WeightedCondition(_Rule):
    condition: str
    weight: float


class WeightedCode(_Rule):
    codelist: str
    weight: float


class Scores(_Rule):
    cms: tuple[WeightedCondition, ...]
    cms_source: str
    charlson: tuple[WeightedCode, ...]
    charlson_source: str
    charlson_lookback_days: int = Field(gt=0)
    hfrs: dict[str, float]
    hfrs_source: str
    hfrs_lookback_days: int = Field(gt=0)
    efi_deficits: tuple[str, ...]
    efi_polypharmacy_min_drugs: int = Field(ge=1)
    efi_polypharmacy_within_days: int = Field(gt=0)
    efi_source: str


class Registry(_Rule):
    version: str
    conditions: tuple[Condition, ...]
    scores: Scores
    digest: str = ""

    @model_validator(mode="after")
    def _references_resolve(self) -> Registry:
        names = [c.name for c in self.conditions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        problems = [f"condition {n} is declared twice" for n in dupes]
        problems += [
            f"cms names unknown condition {w.condition!r}"
            for w in self.scores.cms
            if w.condition not in names
        ]
        wanted = {n for c in self.conditions for n in c.codelists()}
        wanted |= {w.codelist for w in self.scores.charlson} | set(self.scores.efi_deficits)
        for name in sorted(wanted):
            try:
                load_codelist(name)
            except CodelistError as e:
                problems.append(str(e))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def condition(self, name: str) -> Condition:
        for c in self.conditions:
            if c.name == name:
                return c
        raise KeyError(name)

    def codelists(self) -> dict[str, Codelist]:
        names = {n for c in self.conditions for n in c.codelists()}
        names |= {w.codelist for w in self.scores.charlson} | set(self.scores.efi_deficits)
        return {n: load_codelist(n) for n in sorted(names)}


class RegistryError(ValueError):
    """Definitions that cannot be used; nothing has been read from the data."""


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def load_registry(folder: Path = REGISTRY_DIR) -> Registry:
    """Load and check conditions.yaml and scores.yaml (and every code list they name)."""
    try:
        conditions = yaml.safe_load((folder / "conditions.yaml").read_text())
        scores = yaml.safe_load((folder / "scores.yaml").read_text())
    except (OSError, yaml.YAMLError) as e:
        raise RegistryError(f"definitions in {folder}: {e}") from e
    try:
        registry = Registry.model_validate(
            {
                "version": conditions.get("version", ""),
                "conditions": conditions.get("conditions", []),
                "scores": scores,
                "digest": _digest(
                    [folder / "conditions.yaml", folder / "scores.yaml", *DATA_DIR.glob("*.csv")]
                ),
            }
        )
    except ValidationError as e:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise RegistryError(f"definitions in {folder}: {details}") from e
    return registry


@cache
def shipped_registry() -> Registry:
    return load_registry()
