"""Bridges to Health segmentation: declared, ordered rules that place every person once.

`segments.yaml` declares the eight segments of Lynn et al. (Milbank Q 2007),
the ordered rules that place people in them (the first rule that holds wins,
so the order is the hierarchy), named conditions the rules share, and the
Southwark phase-1 priority groupings (a person may be in several or none).
The file is checked whole at load time, against the person table's column
names and before any data is read: an unknown column or reference, a cycle of
references, a syntax error, an empty or duplicated name, or a last rule that
is not a catch-all is refused with a message naming the rule.
See docs/segmentation.md for the rules, their sources and the mapping to NHS
England's national segmentation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from functools import cached_property
from pathlib import Path

import ibis
import ibis.expr.types as ir
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from phm.engine import rows_table
from phm.segments.rules import Rule, RuleError, check_rules, close_to, compile_rules, parse_rule

SEGMENTS_PATH = Path(__file__).parent / "segments.yaml"
NAME = r"^[a-z][a-z0-9_]*$"


class SegmentError(ValueError):
    """A segmentation that cannot be used; nothing has been read from the data."""


class _Declared(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Segment(_Declared):
    """One of the eight Bridges to Health segments."""

    name: str = Field(pattern=NAME)
    label: str
    lynn: int = Field(ge=1, le=8, description="Lynn et al. 2007 table 2 number")
    national: str = Field(description="the NHS England national segment it corresponds to")


class Condition(_Declared):
    """A named rule the segment rules and groupings share."""

    name: str = Field(pattern=NAME)
    label: str
    when: str
    source: str

    @field_validator("when", mode="before")
    @classmethod
    def _yaml_bool(cls, value: object) -> object:
        return str(value) if isinstance(value, bool) else value


class SegmentRule(Condition):
    """A rule that places a person in `segment` when it is the first to hold."""

    segment: str


class PriorityGrouping(Condition):
    """A phase-1 priority grouping: output as a `priority_<name>` yes/no column."""


class Segmentation(_Declared):
    """A checked segmentation: segments, shared conditions, ordered rules, groupings."""

    version: str
    digest: str = ""
    segments: tuple[Segment, ...]
    conditions: tuple[Condition, ...] = ()
    rules: tuple[SegmentRule, ...]
    priority_groupings: tuple[PriorityGrouping, ...] = ()

    @property
    def full_version(self) -> str:
        """What every assigned row records: the file's version and its content digest."""
        return f"{self.version}+{self.digest}" if self.digest else self.version

    @cached_property
    def parsed(self) -> dict[str, Rule]:
        """Every named rule (conditions, rules, groupings), parsed, in file order."""
        named = [*self.conditions, *self.rules, *self.priority_groupings]
        return {d.name: parse_rule(d.when) for d in named}


def _problems(seg: Segmentation, columns: Collection[str]) -> list[str]:
    """Everything wrong with a segmentation, each naming the rule; [] when usable."""
    problems = []
    if not seg.rules:
        problems.append("no rules: at least one rule, ending with a catch-all `true`, is needed")
    kinds = {
        **{c.name: "condition" for c in seg.conditions},
        **{r.name: "rule" for r in seg.rules},
        **{g.name: "priority grouping" for g in seg.priority_groupings},
    }
    named = [*seg.conditions, *seg.rules, *seg.priority_groupings]
    seen: set[str] = set()
    for d in named:
        if d.name in seen:
            problems.append(
                f"{d.name} is declared twice (names of conditions, rules and "
                "groupings must be unique)"
            )
        seen.add(d.name)
    segment_names = [s.name for s in seg.segments]
    for s in sorted({n for n in segment_names if segment_names.count(n) > 1}):
        problems.append(f"segment {s} is declared twice")
    for r in seg.rules:
        if r.segment not in segment_names:
            hint = close_to(r.segment, segment_names)
            problems.append(f"rule {r.name}: unknown segment {r.segment!r}{hint}")

    parsed: dict[str, Rule] = {}
    for d in named:
        try:
            parsed.setdefault(d.name, parse_rule(d.when))
        except RuleError as e:
            problems.append(f"{kinds[d.name]} {d.name}: {e}")
    if problems:
        return problems

    if seg.rules:
        last = seg.rules[-1]
        if not parsed[last.name].always:
            problems.append(
                f"rule {last.name}: the last rule must be the catch-all `true`, so that "
                "everyone is placed in a segment"
            )
        for r in seg.rules[:-1]:
            if parsed[r.name].always:
                later = ", ".join(x.name for x in seg.rules[seg.rules.index(r) + 1 :])
                problems.append(
                    f"rule {r.name} always holds, so later rules never place anyone: {later}"
                )
    problems += check_rules(
        parsed, columns, kinds=kinds, declared="condition, rule or priority grouping"
    )
    return problems


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def load_segments(path: Path = SEGMENTS_PATH, *, columns: Collection[str]) -> Segmentation:
    """Load and check a segmentation against the person table's column names.

    Raises `SegmentError` listing every problem; reads no data.
    """
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise SegmentError(f"segmentation {path}: {e}") from e
    if not isinstance(raw, dict):
        raise SegmentError(f"segmentation {path}: expected a mapping with segments and rules")
    try:
        seg = Segmentation.model_validate({**raw, "digest": _digest(path)})
    except ValidationError as e:
        details = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise SegmentError(f"segmentation {path}: {details}") from e
    problems = _problems(seg, columns)
    if problems:
        raise SegmentError(f"segmentation {path}: " + "; ".join(problems))
    return seg


def segment_columns(person_table: ir.Table, segmentation: Segmentation) -> dict[str, ir.Value]:
    """The columns `assign_segments` returns (but person_id), as expressions over `person_table`.

    For adding the segments to the person table itself with `mutate`, without a self-join.
    """
    rules = segmentation.rules
    groupings = segmentation.priority_groupings
    try:
        tests = compile_rules(
            person_table,
            segmentation.parsed,
            [*(r.name for r in rules), *(g.name for g in groupings)],
        )
    except RuleError as e:
        raise SegmentError(f"segmentation: {e}") from e
    placed = [(tests[r.name], r) for r in rules[:-1]]
    last = rules[-1]
    segment: ir.Value = ibis.literal(last.segment)
    rule: ir.Value = ibis.literal(last.name)
    if placed:
        segment = ibis.cases(*((t, r.segment) for t, r in placed), else_=last.segment)
        rule = ibis.cases(*((t, r.name) for t, r in placed), else_=last.name)
    return {
        "bridges_segment": segment,
        "bridges_segment_rule": rule,
        "segmentation_version": ibis.literal(segmentation.full_version),
        **{f"priority_{g.name}": tests[g.name] for g in groupings},
    }


def assign_segments(person_table: ir.Table, segmentation: Segmentation) -> ir.Table:
    """One row per person: the segment, the rule that placed them, the version, the groupings.

    Columns: person_id, bridges_segment (a segment name), bridges_segment_rule
    (the first rule that holds), segmentation_version, and one
    priority_<grouping> yes/no column per priority grouping. The last rule is
    the catch-all, so every person is in exactly one segment.
    """
    return person_table.select("person_id", **segment_columns(person_table, segmentation))


def segment_summary(person_table: ir.Table, segmentation: Segmentation | None = None) -> ir.Table:
    """Persons, share and 12-month cost per segment, for reports.

    Reads `bridges_segment` and `total_cost_gbp_12m` of a person table that
    carries the segments. Columns: segment, label, persons, share (of all
    persons, 0-1), total_cost_gbp_12m, cost_per_head_gbp (null for an empty
    segment). Given the segmentation, every segment is listed in cascade
    order, empty ones with 0 persons; without it, the segments present, largest
    first, labelled by name.
    """
    t = person_table
    per = t.group_by(segment=t.bridges_segment).aggregate(
        persons=t.count(), cost=t.total_cost_gbp_12m.fill_null(0.0).sum()
    )
    if segmentation is None:
        table = per.mutate(label=per.segment, order=-per.persons)
    else:
        order = rows_table(
            [
                {"segment_key": s.name, "label": s.label, "order": i}
                for i, s in enumerate(segmentation.segments)
            ],
            {"segment_key": "string", "label": "string", "order": "int64"},
        )
        joined = order.left_join(per, order.segment_key == per.segment)
        table = joined.select(
            segment=joined.segment_key,
            label=joined.label,
            order=joined.order,
            persons=joined.persons.fill_null(0),
            cost=joined.cost.fill_null(0.0),
        )
    total = table.persons.sum().over()
    persons = table.persons.cast("int64")
    cost = table.cost.cast("float64")
    return table.order_by("order", "segment").select(
        "segment",
        "label",
        persons=persons,
        share=ibis.ifelse(total > 0, persons / total, 0.0),
        total_cost_gbp_12m=cost.round(2),
        cost_per_head_gbp=ibis.ifelse(persons > 0, (cost / persons).round(2), ibis.null("float64")),
    )
