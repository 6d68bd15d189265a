"""Case-finding cohorts: declared rules over the person table, each member with their reasons.

C1 of the care-coordination pathway (shared/DOMAIN.md, seed 001): the list of
everyone with 3+ long-term conditions, and within it the markers of risk
(physical + mental comorbidity and named combinations, 5+ LTCs, social care or
housing need, low activation, escalating use, recent discharge or re-ablement,
high predicted risk). `cohorts.yaml` declares them in the rule language of
phm.segments.rules; this module checks the file against the person table's
column names before any data is read, and computes membership.

A cohort declared `within` another is a marker; a member's reasons are every
marker they meet, in file order. A cohort that needs an optional column the
person table lacks (risk_tier before risk scoring lands) is unavailable: it is
reported and left out, and the others still run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import ibis
import ibis.expr.types as ir
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from phm.segments.rules import (
    Rule,
    RuleError,
    check_rules,
    close_to,
    column_names,
    compile_rules,
    parse_rule,
    references,
)

COHORTS_PATH = Path(__file__).parent / "cohorts.yaml"
REASON_SEPARATOR = "; "


class CohortError(ValueError):
    """Cohort definitions or a worklist request that cannot be used."""


class CohortDefinition(BaseModel):
    """One declared cohort."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    when: str
    within: str | None = None
    source: str

    @field_validator("when", mode="before")
    @classmethod
    def _yaml_bool(cls, value: object) -> object:
        return str(value) if isinstance(value, bool) else value

    @property
    def is_marker(self) -> bool:
        return self.within is not None

    @property
    def column(self) -> str:
        """Its yes/no column in `cohort_members`."""
        return f"cohort_{self.name}"


class _CohortFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    optional_columns: tuple[str, ...] = ()
    cohorts: tuple[CohortDefinition, ...]


@dataclass(frozen=True)
class Cohorts:
    """Checked cohorts: all declared, in file order, and those unavailable with why."""

    version: str
    definitions: tuple[CohortDefinition, ...]
    rules: Mapping[str, Rule]
    unavailable: Mapping[str, str] = field(default_factory=dict)

    @property
    def available(self) -> tuple[CohortDefinition, ...]:
        return tuple(d for d in self.definitions if d.name not in self.unavailable)

    @property
    def markers(self) -> tuple[CohortDefinition, ...]:
        """The available markers: the reasons a member can carry, in order."""
        return tuple(d for d in self.available if d.is_marker)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.definitions)

    def get(self, name: str) -> CohortDefinition:
        """An available cohort by name; a clear `CohortError` otherwise."""
        if name in self.unavailable:
            raise CohortError(f"cohort {name} is unavailable: {self.unavailable[name]}")
        for d in self.definitions:
            if d.name == name:
                return d
        raise CohortError(
            f"unknown cohort {name!r}{close_to(name, self.names)}; "
            f"cohorts: {', '.join(d.name for d in self.available)}"
        )


def _membership_rule(d: CohortDefinition) -> Rule:
    """The rule for being a member: `within` (a cohort) and the cohort's own rule."""
    own = parse_rule(d.when)
    if d.within is None:
        return own
    return parse_rule(f"{d.within} and ({own.text})")


def _problems(spec: _CohortFile, columns: Collection[str]) -> tuple[list[str], dict[str, Rule]]:
    problems = []
    if not spec.cohorts:
        problems.append("no cohorts declared")
    names = [d.name for d in spec.cohorts]
    for n in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"cohort {n} is declared twice")
    for d in spec.cohorts:
        if d.within is not None and d.within not in names:
            hint = close_to(d.within, names)
            problems.append(f"cohort {d.name}: within unknown cohort {d.within!r}{hint}")
        elif d.within == d.name:
            problems.append(f"cohort {d.name}: cannot be within itself")
    rules: dict[str, Rule] = {}
    for d in spec.cohorts:
        try:
            rules.setdefault(d.name, _membership_rule(d))
        except RuleError as e:
            problems.append(f"cohort {d.name}: {e}")
    if problems:
        return problems, rules
    kinds = {n: "cohort" for n in names}
    problems += check_rules(
        rules, columns, kinds=kinds, declared="cohort", optional=spec.optional_columns
    )
    return problems, rules


def _unavailable(
    definitions: tuple[CohortDefinition, ...], rules: Mapping[str, Rule], columns: Collection[str]
) -> dict[str, str]:
    """Cohorts that need an absent optional column, directly or through another cohort."""
    why: dict[str, str] = {}
    for d in definitions:
        missing = sorted(c for c in column_names(d.name, rules[d.name], rules) if c not in columns)
        if missing:
            why[d.name] = f"the person table has no {', '.join(missing)} column"
    changed = True
    while changed:
        changed = False
        for d in definitions:
            if d.name in why:
                continue
            needs = sorted(n for n in references(d.name, rules[d.name], rules) if n in why)
            if needs:
                why[d.name] = f"it needs cohort {needs[0]}, which is unavailable ({why[needs[0]]})"
                changed = True
    return why


def load_cohorts(path: Path = COHORTS_PATH, *, columns: Collection[str]) -> Cohorts:
    """Load and check cohorts against the person table's column names; reads no data.

    Refuses (`CohortError`, listing every problem) syntax errors, unknown
    names, unknown `within` cohorts, duplicates and cycles of references. A
    cohort that needs an absent optional column is kept as unavailable.
    """
    try:
        raw = yaml.safe_load(path.read_text())
        spec = _CohortFile.model_validate(raw)
    except (OSError, yaml.YAMLError) as e:
        raise CohortError(f"cohorts {path}: {e}") from e
    except ValidationError as e:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise CohortError(f"cohorts {path}: {details}") from e
    problems, rules = _problems(spec, columns)
    if problems:
        raise CohortError(f"cohorts {path}: " + "; ".join(problems))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return Cohorts(
        version=f"{spec.version}+{digest}",
        definitions=spec.cohorts,
        rules=rules,
        unavailable=_unavailable(spec.cohorts, rules, set(columns)),
    )


def joined_text(flags: list[tuple[ir.BooleanValue, str]]) -> ir.StringValue:
    """The labels whose flag holds, '; '-joined in the given order ('' when none)."""
    text: ir.StringValue = ibis.literal("")
    for flag, label in flags:
        text = text + ibis.ifelse(flag, REASON_SEPARATOR + label, "")
    return text.substr(len(REASON_SEPARATOR))


def cohort_members(person_table: ir.Table, cohorts: Cohorts) -> ir.Table:
    """One row per person in at least one available cohort (a wide table).

    Columns: person_id; cohort_<name> (yes/no) for every available cohort, in
    file order; reasons, the markers the person meets '; '-joined in file
    order ('' for a member of a base list with no marker); reason_count.
    Unavailable cohorts have no column.
    """
    available = cohorts.available
    try:
        tests = compile_rules(person_table, cohorts.rules, [d.name for d in available])
    except RuleError as e:
        raise CohortError(f"cohorts: {e}") from e
    wide = person_table.select("person_id", **{d.column: tests[d.name] for d in available})
    wide = wide.filter(ibis.or_(*(wide[d.column] for d in available)))
    markers = cohorts.markers
    count = sum((wide[d.column].cast("int64") for d in markers), ibis.literal(0, type="int64"))
    return wide.mutate(
        reasons=joined_text([(wide[d.column], d.name) for d in markers]),
        reason_count=count,
    )
