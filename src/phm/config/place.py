"""The place: its Local Care Networks, neighbourhoods, PCNs, practices and LSOAs.

A place is a YAML file (see places/southwark.yaml, the shipped default); code
never names a place. `load_place` checks that the hierarchy is whole and
consistent before anything reads it.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PLACES_DIR = Path(__file__).parent / "places"


class PlaceError(ValueError):
    """A place file that cannot be read or is inconsistent."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Lcn(_Frozen):
    name: str
    federation: str = ""
    neighbourhoods: tuple[str, ...]


class Hub(_Frozen):
    name: str
    lcn: str
    daily_slots: int = Field(gt=0)


class Pcn(_Frozen):
    code: str
    name: str
    neighbourhood: str


class Practice(_Frozen):
    code: str = Field(pattern=r"^[A-Z][0-9]{5}$")
    name: str
    pcn: str
    list_size: int = Field(gt=0)


class Lsoa(_Frozen):
    code: str = Field(pattern=r"^[EW]0[0-9]{7}$")
    neighbourhood: str
    imd_decile: int = Field(ge=1, le=10)


class Providers(_Frozen):
    acute: tuple[str, ...]
    community: str
    mental_health: str
    social_care: str


class Place(_Frozen):
    name: str
    code: str
    system: str = ""
    providers: Providers
    lcns: tuple[Lcn, ...]
    hubs: tuple[Hub, ...] = ()
    pcns: tuple[Pcn, ...]
    practices: tuple[Practice, ...]
    lsoas: tuple[Lsoa, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Place:
        problems: list[str] = []
        neighbourhoods = [n for lcn in self.lcns for n in lcn.neighbourhoods]
        for label, values in (
            ("neighbourhood", neighbourhoods),
            ("LCN", [x.name for x in self.lcns]),
            ("PCN code", [x.code for x in self.pcns]),
            ("practice code", [x.code for x in self.practices]),
            ("LSOA code", [x.code for x in self.lsoas]),
        ):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                problems.append(f"duplicate {label}: {', '.join(dupes)}")
        known_nb = set(neighbourhoods)
        lcn_names = {x.name for x in self.lcns}
        pcn_codes = {x.code for x in self.pcns}
        problems += [
            f"PCN {p.code} names unknown neighbourhood {p.neighbourhood!r}"
            for p in self.pcns
            if p.neighbourhood not in known_nb
        ]
        problems += [
            f"practice {p.code} names unknown PCN {p.pcn!r}"
            for p in self.practices
            if p.pcn not in pcn_codes
        ]
        problems += [
            f"LSOA {x.code} names unknown neighbourhood {x.neighbourhood!r}"
            for x in self.lsoas
            if x.neighbourhood not in known_nb
        ]
        problems += [
            f"hub {h.name} names unknown LCN {h.lcn!r}" for h in self.hubs if h.lcn not in lcn_names
        ]
        for n in sorted(known_nb):
            if not any(p.neighbourhood == n for p in self.pcns):
                problems.append(f"neighbourhood {n!r} has no PCN")
            if not any(x.neighbourhood == n for x in self.lsoas):
                problems.append(f"neighbourhood {n!r} has no LSOA")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @cached_property
    def lcn_of_neighbourhood(self) -> dict[str, str]:
        return {n: lcn.name for lcn in self.lcns for n in lcn.neighbourhoods}

    @cached_property
    def pcn_by_code(self) -> dict[str, Pcn]:
        return {p.code: p for p in self.pcns}

    @property
    def list_size(self) -> int:
        return sum(p.list_size for p in self.practices)

    def practice_rows(self) -> list[dict[str, str]]:
        """The canonical `practice` table of this place."""
        rows = []
        for p in self.practices:
            pcn = self.pcn_by_code[p.pcn]
            rows.append(
                {
                    "practice_code": p.code,
                    "name": p.name,
                    "pcn_code": pcn.code,
                    "pcn_name": pcn.name,
                    "neighbourhood": pcn.neighbourhood,
                    "lcn": self.lcn_of_neighbourhood[pcn.neighbourhood],
                    "place": self.name,
                }
            )
        return rows


def load_place(name_or_path: str | Path = "southwark") -> Place:
    """Load a shipped place by name or any place file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PLACES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in PLACES_DIR.glob("*.yaml")))
        raise PlaceError(f"no place file {path} (shipped places: {shipped})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise PlaceError(f"{path}: not valid YAML: {e}") from e
    try:
        return Place.model_validate(data)
    except ValidationError as e:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'place'}: {err['msg']}" for err in e.errors()
        )
        raise PlaceError(f"{path}: {details}") from e
