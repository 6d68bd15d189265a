"""Aggregates the pages show, computed once per app start at practice level.

Every count the web shows is a sum over practices, so one pass over the
person table (a handful of GROUP BYs, keyed by practice) gives every level of
the place's hierarchy — place, LCN, neighbourhood, PCN, practice — by summing
the practices within it. Per request only these small frames are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from phm.codelists.registry import shipped_registry
from phm.cohorts import Cohorts
from phm.segments import Segmentation

LEVELS: tuple[str, ...] = ("place", "lcn", "neighbourhood", "pcn", "practice")
LEVEL_LABELS = {
    "place": "Place",
    "lcn": "Local care network",
    "neighbourhood": "Neighbourhood",
    "pcn": "Primary care network",
    "practice": "Practice",
}
LEVEL_COLUMNS = {
    "lcn": "lcn",
    "neighbourhood": "neighbourhood",
    "pcn": "pcn_code",
    "practice": "practice_code",
}
CHILD_LEVEL = {"place": "lcn", "lcn": "neighbourhood", "neighbourhood": "pcn", "pcn": "practice"}
PYRAMID_BANDS = 19  # 0-4 ... 85-89, 90+
LTC_BANDS = 10  # 0-9 ... 80-89, 90+
LTC_GROUPS = 9  # 0 ... 7, 8+
RISK_BINS = 20
RISK_COLUMNS = ("risk_score", "risk_tier", "risk_explanation")


class GeographyError(LookupError):
    """A level or code that is not part of the place."""


def pyramid_band_label(band: int) -> str:
    return "90+" if band >= PYRAMID_BANDS - 1 else f"{band * 5}-{band * 5 + 4}"


def ltc_band_label(band: int) -> str:
    return "90+" if band >= LTC_BANDS - 1 else f"{band * 10}-{band * 10 + 9}"


def ltc_group_label(group: int) -> str:
    return "8+" if group >= LTC_GROUPS - 1 else str(group)


@dataclass(frozen=True)
class Area:
    """One geography: its level, code, readable name and the practices within it."""

    level: str
    code: str
    name: str
    practices: frozenset[str]


@dataclass
class Aggregates:
    """Practice-level aggregate frames, and the geography they roll up through."""

    place_name: str
    practices: pd.DataFrame  # practice_code, practice_name, pcn_code, pcn_name, neighbourhood, lcn
    age_sex: pd.DataFrame
    imd: pd.DataFrame
    ltc: pd.DataFrame
    conditions: pd.DataFrame  # practice_code, persons, <condition>...
    condition_labels: dict[str, str]
    segments: pd.DataFrame
    segment_labels: dict[str, str]
    priority: pd.DataFrame
    priority_labels: dict[str, str]
    cohorts: pd.DataFrame  # practice_code, <cohort>...
    cohort_labels: dict[str, str]
    cohort_combos: pd.DataFrame  # practice_code, reasons, n
    markers: tuple[str, ...]
    risk: pd.DataFrame | None = None  # practice_code, bin, tier, top_05, top_5, n
    risk_tiers: tuple[str, ...] = ()
    _cache: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    @property
    def has_risk(self) -> bool:
        return self.risk is not None

    def area(self, level: str, code: str | None) -> Area:
        """The geography `level`/`code`; the whole place when level is 'place'."""
        p = self.practices
        if level == "place":
            return Area("place", "", self.place_name, frozenset(p.practice_code))
        if level not in LEVEL_COLUMNS:
            raise GeographyError(f"unknown level {level!r}: choose one of {', '.join(LEVELS)}")
        within = p[p[LEVEL_COLUMNS[level]] == code]
        if within.empty:
            raise GeographyError(f"no {LEVEL_LABELS[level].lower()} {code!r} in this place")
        name = str(code)
        if level == "practice":
            name = f"{within.practice_name.iloc[0]} ({code})"
        elif level == "pcn":
            name = f"{within.pcn_name.iloc[0]} ({code})"
        return Area(level, str(code), name, frozenset(within.practice_code))

    def children(self, area: Area) -> list[Area]:
        """The areas one level down (none below a practice)."""
        child = CHILD_LEVEL.get(area.level)
        if child is None:
            return []
        p = self.practices[self.practices.practice_code.isin(area.practices)]
        codes = sorted(p[LEVEL_COLUMNS[child]].dropna().unique())
        return [self.area(child, str(c)) for c in codes]

    def choices(self) -> list[Area]:
        """Every geography of the place, for the selector."""
        areas = [self.area("place", None)]
        for level in LEVELS[1:]:
            codes = sorted(self.practices[LEVEL_COLUMNS[level]].dropna().unique())
            areas += [self.area(level, str(c)) for c in codes]
        return areas


def _frame(expr: ir.Table) -> pd.DataFrame:
    return expr.to_pandas()


def _band(age: ir.IntegerValue, width: int, last: int) -> ir.IntegerValue:
    return ibis.least((age.fill_null(0) // width).cast("int64"), last)


def compute(
    person_table: ir.Table,
    cohort_members: ir.Table | None,
    *,
    place_name: str,
    segmentation: Segmentation | None,
    cohorts: Cohorts | None,
) -> Aggregates:
    """Every aggregate the pages need, keyed by practice (one pass per frame)."""
    t = person_table
    practices = _frame(
        t.select("practice_code", "practice_name", "pcn_code", "pcn_name", "neighbourhood", "lcn")
        .distinct(on="practice_code", keep="first")
        .order_by("practice_code")
    )
    age_sex = _frame(
        t.group_by(
            "practice_code",
            band=_band(t.age, 5, PYRAMID_BANDS - 1),
            sex=t.sex.fill_null("U"),
        ).aggregate(n=t.count())
    )
    imd = _frame(
        t.group_by("practice_code", quintile=t.imd_quintile.fill_null(0)).aggregate(n=t.count())
    )
    ltc = _frame(
        t.group_by(
            "practice_code",
            band=_band(t.age, 10, LTC_BANDS - 1),
            group=ibis.least(t.ltc_count.fill_null(0), LTC_GROUPS - 1).cast("int64"),
        ).aggregate(n=t.count())
    )
    registry = shipped_registry()
    condition_labels = {
        c.name: c.label for c in registry.conditions if c.counts_as_ltc and c.name in t.columns
    }
    conditions = _frame(
        t.group_by("practice_code").aggregate(
            persons=t.count(),
            **{name: t[name].fill_null(False).cast("int64").sum() for name in condition_labels},
        )
    )
    segment_labels = (
        {s.name: s.label for s in segmentation.segments} if segmentation is not None else {}
    )
    priority_labels = (
        {f"priority_{g.name}": g.label for g in segmentation.priority_groupings}
        if segmentation is not None
        else {}
    )
    priority_labels = {k: v for k, v in priority_labels.items() if k in t.columns}
    if "bridges_segment" in t.columns:
        segments = _frame(
            t.group_by("practice_code", segment=t.bridges_segment).aggregate(
                n=t.count(), cost=t.total_cost_gbp_12m.fill_null(0.0).sum()
            )
        )
        for name in segments.segment.unique():
            segment_labels.setdefault(str(name), str(name))
    else:
        segments = pd.DataFrame(columns=["practice_code", "segment", "n", "cost"])
    priority = _frame(
        t.group_by("practice_code").aggregate(
            **{c: t[c].fill_null(False).cast("int64").sum() for c in priority_labels},
            persons=t.count(),
        )
    )

    cohort_labels: dict[str, str] = {}
    markers: tuple[str, ...] = ()
    cohort_frame = pd.DataFrame(columns=["practice_code"])
    combos = pd.DataFrame(columns=["practice_code", "reasons", "n"])
    if cohort_members is not None and cohorts is not None:
        available = [d for d in cohorts.available if d.column in cohort_members.columns]
        cohort_labels = {d.name: d.description for d in available}
        markers = tuple(d.name for d in available if d.is_marker)
        m = cohort_members.inner_join(t.select("person_id", "practice_code"), "person_id")
        cohort_frame = _frame(
            m.group_by("practice_code").aggregate(
                **{d.name: m[d.column].fill_null(False).cast("int64").sum() for d in available}
            )
        )
        if "reasons" in m.columns:
            combos = _frame(
                m.group_by("practice_code", reasons=m.reasons.fill_null("")).aggregate(n=m.count())
            )

    risk = None
    tiers: tuple[str, ...] = ()
    if all(c in t.columns for c in RISK_COLUMNS[:2]):
        score = t.risk_score
        top_05 = score.quantile(0.995)
        top_5 = score.quantile(0.95)
        thresholds = t.aggregate(top_05=top_05, top_5=top_5).to_pandas().iloc[0]
        r = t.mutate(
            bin=ibis.least(
                (score.fill_null(0.0).clip(0.0, 1.0) * RISK_BINS).floor(), RISK_BINS - 1
            ).cast("int64"),
            tier=t.risk_tier.cast("string").fill_null("unknown"),
            top_05=(score >= float(thresholds.top_05)).fill_null(False).cast("int64"),
            top_5=(score >= float(thresholds.top_5)).fill_null(False).cast("int64"),
        )
        risk = _frame(
            r.group_by("practice_code", "bin", "tier", "top_05", "top_5").aggregate(n=r.count())
        )
        tiers = tuple(sorted(str(x) for x in risk.tier.unique()))

    return Aggregates(
        place_name=place_name,
        practices=practices,
        age_sex=age_sex,
        imd=imd,
        ltc=ltc,
        conditions=conditions,
        condition_labels=condition_labels,
        segments=segments,
        segment_labels=segment_labels,
        priority=priority,
        priority_labels=priority_labels,
        cohorts=cohort_frame,
        cohort_labels=cohort_labels,
        cohort_combos=combos,
        markers=markers,
        risk=risk,
        risk_tiers=tiers,
    )


def within(frame: pd.DataFrame, area: Area) -> pd.DataFrame:
    """The rows of a practice-keyed frame that lie in `area`."""
    return frame[frame.practice_code.isin(area.practices)]
