"""What each page and its API twin show: figures (a table and a chart) for one area.

`control` applies disclosure control (phm.web.disclosure) to every count; the
caller decides it from the viewer (phm.web.app.controlled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations_with_replacement
from typing import Any

from phm.web import charts
from phm.web.aggregates import (
    LTC_BANDS,
    LTC_GROUPS,
    PYRAMID_BANDS,
    RISK_BINS,
    Aggregates,
    Area,
    ltc_band_label,
    ltc_group_label,
    pyramid_band_label,
    within,
)
from phm.web.disclosure import Disclosed, protect, round_count

Cell = int | float | str | None
QUINTILE_NAMES = {
    1: "1 (most deprived)",
    2: "2",
    3: "3",
    4: "4",
    5: "5 (least deprived)",
    0: "Unknown",
}


@dataclass
class Figure:
    """One table, with the chart drawn from the same (controlled) numbers."""

    id: str
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    spec: dict[str, Any] | None = None
    note: str = ""


@dataclass
class View:
    """A page's content for one area."""

    area: Area
    controlled: bool
    figures: list[Figure] = field(default_factory=list)
    headline: dict[str, Cell] = field(default_factory=dict)


def counts(
    matrix: Sequence[Sequence[int]],
    control: bool,
    *,
    row_totals: bool = False,
    column_totals: bool = False,
) -> Disclosed:
    """The matrix disclosure-controlled, or exact with the same margins."""
    if control:
        return protect(matrix, row_totals=row_totals, column_totals=column_totals)
    cells = tuple(tuple(int(v) for v in row) for row in matrix)
    n_cols = len(cells[0]) if cells else 0
    return Disclosed(
        cells=cells,
        row_totals=tuple(sum(r) for r in cells) if row_totals else None,
        column_totals=(
            tuple(sum(r[c] for r in cells) for c in range(n_cols)) if column_totals else None
        ),
        total=sum(map(sum, cells)) if (row_totals or column_totals) else None,
    )


def single(value: int, control: bool) -> int | None:
    """One count that sums with nothing else shown beside it."""
    if not control:
        return int(value)
    return None if 0 < value < 8 else round_count(int(value))


def share(part: int | None, whole: int | None, digits: int = 1) -> float | None:
    if part is None or not whole:
        return None
    return round(100 * part / whole, digits)


def _pivot(
    frame: Any, index: str, columns: str, keys: Sequence[Any], cols: Sequence[Any]
) -> list[list[int]]:
    summed = frame.groupby([index, columns])["n"].sum() if len(frame) else {}
    return [[int(summed.get((k, c), 0)) for c in cols] for k in keys]


def overview(agg: Aggregates, area: Area, control: bool) -> View:
    """Population, age-sex pyramid, deprivation, LTCs by age band, condition prevalence."""
    view = View(area, control)
    bands = list(range(PYRAMID_BANDS))
    sexes = ["F", "M", *sorted(set(agg.age_sex.sex) - {"F", "M"})]
    pyramid = counts(
        _pivot(within(agg.age_sex, area), "band", "sex", bands, sexes),
        control,
        row_totals=True,
        column_totals=True,
    )
    view.headline["registered_population"] = pyramid.total
    labels = [pyramid_band_label(b) for b in bands]
    assert pyramid.row_totals is not None and pyramid.column_totals is not None
    rows: list[list[Cell]] = [
        [labels[i], *pyramid.cells[i], pyramid.row_totals[i]] for i in range(len(bands))
    ]
    rows.append(["All ages", *pyramid.column_totals, pyramid.total])
    values = [
        {"band": labels[i], "sex": s, "persons": pyramid.cells[i][j]}
        for i in range(len(bands))
        for j, s in enumerate(sexes)
        if pyramid.cells[i][j] is not None and s in ("F", "M")
    ]
    view.figures.append(
        Figure(
            "pyramid",
            "Age and sex",
            ["Age band", *[f"Sex {s}" for s in sexes], "Total"],
            rows,
            charts.pyramid(values, labels),
        )
    )

    quintiles = [1, 2, 3, 4, 5, 0]
    imd_frame = within(agg.imd, area).assign(one=1)
    imd = counts(_pivot(imd_frame, "quintile", "one", quintiles, [1]), control, column_totals=True)
    names = [QUINTILE_NAMES[q] for q in quintiles]
    rows = [
        [names[i], imd.cells[i][0], share(imd.cells[i][0], imd.total)]
        for i in range(len(quintiles))
    ]
    view.figures.append(
        Figure(
            "deprivation",
            "Deprivation (IMD quintile of home address)",
            ["IMD quintile", "Persons", "Share %"],
            rows,
            charts.bars(
                "People by deprivation quintile",
                [{"quintile": r[0], "persons": r[1]} for r in rows if r[1] is not None],
                "quintile",
                "persons",
                category_title="IMD quintile",
                measure_title="Persons",
                sort=names,
                horizontal=False,
            ),
            note="Quintile 1 is the most deprived fifth of areas in England (IMD 2019).",
        )
    )

    ltc_bands = list(range(LTC_BANDS))
    groups = list(range(LTC_GROUPS))
    ltc = counts(
        _pivot(within(agg.ltc, area), "band", "group", ltc_bands, groups),
        control,
        row_totals=True,
        column_totals=True,
    )
    assert ltc.row_totals is not None
    band_names = [ltc_band_label(b) for b in ltc_bands]
    group_names = [ltc_group_label(g) for g in groups]
    rows = [
        [band_names[i], *(share(v, ltc.row_totals[i]) for v in ltc.cells[i]), ltc.row_totals[i]]
        for i in range(len(ltc_bands))
    ]
    values = [
        {"band": band_names[i], "conditions": group_names[j], "order": j, "persons": v}
        for i in range(len(ltc_bands))
        for j, v in enumerate(ltc.cells[i])
        if v
    ]
    view.figures.append(
        Figure(
            "ltc",
            "Number of long-term conditions by age band",
            ["Age band", *[f"{g} LTCs %" for g in group_names], "Persons"],
            rows,
            charts.stacked_shares(
                "Share of people with 0, 1, 2 ... 8+ long-term conditions",
                values,
                "band",
                "conditions",
                group_names,
                category_title="Age band",
                stack_title="Conditions",
            ),
            note="Each row: the share of the age band with that many conditions.",
        )
    )

    view.figures.append(_prevalence(agg, area, control))
    return view


def _prevalence(agg: Aggregates, area: Area, control: bool) -> Figure:
    here = within(agg.conditions, area).drop(columns="practice_code").sum()
    place = agg.conditions.drop(columns="practice_code").sum()
    here_persons = single(int(here.get("persons", 0)), control)
    place_persons = single(int(place.get("persons", 0)), control)
    rows: list[list[Cell]] = []
    for name, label in agg.condition_labels.items():
        n = single(int(here[name]), control)
        place_n = single(int(place[name]), control)
        rows.append([label, n, share(n, here_persons, 2), share(place_n, place_persons, 2)])
    rows.sort(key=lambda r: -(r[3] or 0.0))  # type: ignore[operator]
    values = [
        {"condition": r[0], "prevalence": r[2], "place": r[3]} for r in rows if r[2] is not None
    ]
    return Figure(
        "prevalence",
        "Prevalence of each long-term condition, against the place average",
        ["Condition", "People", "Prevalence %", "Place prevalence %"],
        rows,
        charts.bars(
            "Prevalence % (bar) and place average (red tick)",
            values,
            "condition",
            "prevalence",
            category_title="Condition",
            measure_title="Prevalence %",
            reference="place",
        ),
    )


def segments(agg: Aggregates, area: Area, control: bool) -> View:
    """Bridges to Health segments: size, share, cost, cost per head; by sub-area; groupings."""
    view = View(area, control)
    keys = list(agg.segment_labels)
    frame = within(agg.segments, area)
    persons: Any = frame.groupby("segment")["n"].sum() if len(frame) else {}
    cost: Any = frame.groupby("segment")["cost"].sum() if len(frame) else {}
    table = counts([[int(persons.get(k, 0))] for k in keys], control, column_totals=True)
    rows: list[list[Cell]] = []
    for i, k in enumerate(keys):
        n = table.cells[i][0]
        spent = float(cost.get(k, 0.0))
        if control:
            spent_shown: float | None = None if n is None else round(spent, -3)
        else:
            spent_shown = round(spent, 2)
        per_head = None
        if spent_shown is not None and n:
            per_head = round(spent_shown / n, 0)
        rows.append([agg.segment_labels[k], n, share(n, table.total), spent_shown, per_head])
    view.headline["persons"] = table.total
    view.figures.append(
        Figure(
            "segments",
            "Bridges to Health segments",
            ["Segment", "Persons", "Share %", "Cost in 12 months (£)", "Cost per head (£)"],
            rows,
            charts.bars(
                "People in each segment",
                [{"segment": r[0], "persons": r[1]} for r in rows if r[1] is not None],
                "segment",
                "persons",
                category_title="Segment",
                measure_title="Persons",
            ),
            note="Costs are rounded to the nearest £1,000 and cost per head computed from the "
            "shown numbers when disclosure control applies."
            if control
            else "",
        )
    )
    view.figures.append(
        Figure(
            "cost_per_head",
            "Cost per head by segment",
            ["Segment", "Cost per head (£)"],
            [[r[0], r[4]] for r in rows],
            charts.bars(
                "Cost per head in 12 months (£)",
                [{"segment": r[0], "cost": r[4]} for r in rows if r[4] is not None],
                "segment",
                "cost",
                category_title="Segment",
                measure_title="£ per head",
            ),
        )
    )

    children = agg.children(area)
    if children:
        matrix = []
        for child in children:
            f = within(agg.segments, child)
            per: Any = f.groupby("segment")["n"].sum() if len(f) else {}
            matrix.append([int(per.get(k, 0)) for k in keys])
        by = counts(matrix, control, row_totals=True, column_totals=True)
        assert by.row_totals is not None and by.column_totals is not None
        rows = [[c.name, *by.cells[i], by.row_totals[i]] for i, c in enumerate(children)]
        rows.append(["Total", *by.column_totals, by.total])
        view.figures.append(
            Figure(
                "segments_by_area",
                f"Segments by {children[0].level}",
                ["Area", *[agg.segment_labels[k] for k in keys], "Total"],
                rows,
            )
        )

    pri = within(agg.priority, area).drop(columns="practice_code").sum()
    total = single(int(pri.get("persons", 0)), control)
    rows = []
    for column, label in agg.priority_labels.items():
        n = single(int(pri[column]), control)
        rows.append([label, n, share(n, total)])
    view.figures.append(
        Figure(
            "priority",
            "Phase-1 priority groupings",
            ["Grouping", "Persons", "Share %"],
            rows,
            charts.bars(
                "People in each priority grouping",
                [{"grouping": r[0], "persons": r[1]} for r in rows if r[1] is not None],
                "grouping",
                "persons",
                category_title="Grouping",
                measure_title="Persons",
            ),
            note="A person can be in several groupings, or none.",
        )
    )
    return view


def cohorts(agg: Aggregates, area: Area, control: bool) -> View:
    """Case-finding cohort sizes and how the markers co-occur."""
    view = View(area, control)
    sums = within(agg.cohorts, area).drop(columns="practice_code").sum()
    rows: list[list[Cell]] = []
    for name, label in agg.cohort_labels.items():
        rows.append([name, label, single(int(sums.get(name, 0)), control)])
    view.figures.append(
        Figure(
            "cohorts",
            "Case-finding cohorts",
            ["Cohort", "Description", "People"],
            rows,
            charts.bars(
                "People in each cohort",
                [{"cohort": r[0], "persons": r[2]} for r in rows if r[2] is not None],
                "cohort",
                "persons",
                category_title="Cohort",
                measure_title="People",
            ),
        )
    )
    markers = list(agg.markers)
    pairs: dict[tuple[str, str], int] = {}
    for reasons, n in within(agg.cohort_combos, area)[["reasons", "n"]].itertuples(index=False):
        have = [m for m in str(reasons).split("; ") if m in markers]
        for a, b in combinations_with_replacement(sorted(have, key=markers.index), 2):
            pairs[(a, b)] = pairs.get((a, b), 0) + int(n)
    shown = {k: single(v, control) for k, v in pairs.items()}
    rows = []
    values = []
    for b in markers:
        row: list[Cell] = [b]
        for a in markers:
            key = (a, b) if markers.index(a) <= markers.index(b) else (b, a)
            v = shown.get(key, 0)
            row.append(v)
            if v:
                values.append({"a": a, "b": b, "persons": v})
        rows.append(row)
    view.figures.append(
        Figure(
            "cooccurrence",
            "How the markers co-occur (people with both)",
            ["Marker", *markers],
            rows,
            charts.heatmap("People with both markers", values, markers),
            note="The diagonal is the number with each marker.",
        )
    )
    return view


def risk(agg: Aggregates, area: Area, control: bool) -> View:
    """Distribution of risk scores, tiers, and the top 0.5% / 5% by sub-area."""
    view = View(area, control)
    assert agg.risk is not None
    frame = within(agg.risk, area)
    bins = list(range(RISK_BINS))
    hist = counts(_pivot(frame.assign(one=1), "bin", "one", bins, [1]), control, column_totals=True)
    labels = [f"{b / RISK_BINS:.2f}-{(b + 1) / RISK_BINS:.2f}" for b in bins]
    rows: list[list[Cell]] = [[labels[i], hist.cells[i][0]] for i in bins]
    view.figures.append(
        Figure(
            "distribution",
            "Distribution of predicted risk",
            ["Risk score", "Persons"],
            rows,
            charts.bars(
                "People by predicted risk of emergency admission",
                [{"score": r[0], "persons": r[1]} for r in rows if r[1] is not None],
                "score",
                "persons",
                category_title="Risk score",
                measure_title="Persons",
                sort=labels,
                horizontal=False,
            ),
        )
    )
    tiers = list(agg.risk_tiers)
    tier = counts(
        _pivot(frame.assign(one=1), "tier", "one", tiers, [1]), control, column_totals=True
    )
    view.figures.append(
        Figure(
            "tiers",
            "Risk tiers",
            ["Tier", "Persons", "Share %"],
            [
                [t, tier.cells[i][0], share(tier.cells[i][0], tier.total)]
                for i, t in enumerate(tiers)
            ],
        )
    )
    areas = agg.children(area) or [area]
    matrix = []
    for a in areas:
        f = within(agg.risk, a)
        matrix.append([int((f.n * f.top_05).sum()), int((f.n * f.top_5).sum())])
    top = counts(matrix, control, column_totals=True)
    assert top.column_totals is not None
    rows = [[a.name, *top.cells[i]] for i, a in enumerate(areas)]
    rows.append(["Total", *top.column_totals])
    view.figures.append(
        Figure(
            "top",
            "People in the place's top 0.5% and top 5% of risk",
            ["Area", "Top 0.5%", "Top 5%"],
            rows,
        )
    )
    return view
