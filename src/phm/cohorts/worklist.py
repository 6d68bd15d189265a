"""Worklists: one cohort for one practice, PCN or neighbourhood, ordered by need.

What a care coordinator or MDT works down (C1 → C2 of the care-coordination
pathway). Ordered by need, most first:

1. predicted risk (`risk_score`, highest first), when the person table has it;
2. number of reasons (markers met), most first;
3. number of long-term conditions, most first;
4. emergency admissions in the last 12 months, most first;
5. person_id, so that ties always come out in the same order.

`priority` numbers the rows 1, 2, 3... in that order. The columns are those a
coordinator needs and no more: priority, person, age, sex, practice, the
conditions as short text, the reasons, the risk score, tier and explanation
(where the person table has them), the last emergency discharge, the PAM level
and the Bridges to Health segment (where present). Written to CSV or XLSX.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from phm.codelists.registry import shipped_registry
from phm.cohorts.casefinding import CohortError, Cohorts, cohort_members, joined_text

# (column, header, always) in output order; always=False: kept only when present.
WORKLIST_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("priority", "Priority", True),
    ("person_id", "Person ID", True),
    ("age", "Age", True),
    ("sex", "Sex", True),
    ("practice_code", "Practice", True),
    ("conditions", "Long-term conditions", True),
    ("reasons", "Reasons", True),
    ("risk_score", "Risk score", False),
    ("risk_tier", "Risk tier", False),
    ("risk_explanation", "Risk explanation", False),
    ("last_emergency_discharge", "Last emergency discharge", True),
    ("pam_level", "PAM level", True),
    ("bridges_segment", "Segment", False),
)
HEADERS = {column: header for column, header, _ in WORKLIST_COLUMNS}
MAX_WIDTH = 60

# Geography filters: argument -> person-table column.
PLACES = {"practice": "practice_code", "pcn": "pcn_code", "neighbourhood": "neighbourhood"}


def condition_names() -> tuple[str, ...]:
    """The conditions a worklist lists: the registry's LTCs, plus palliative care."""
    return tuple(
        c.name
        for c in shipped_registry().conditions
        if c.counts_as_ltc or c.name == "palliative_care"
    )


def conditions_text(person_table: ir.Table, names: Sequence[str]) -> ir.StringValue:
    """The person's conditions as short text, e.g. 'diabetes; copd; depression'."""
    present = [n for n in names if n in person_table.columns]
    return joined_text([(person_table[n].fill_null(False), n.replace("_", " ")) for n in present])


def _check_place(person_table: ir.Table, argument: str, value: str) -> None:
    """Refuse a practice, PCN or neighbourhood no registered person belongs to."""
    column = PLACES[argument]
    known = sorted(
        v for v in person_table.select(column).distinct().to_pyarrow()[column].to_pylist() if v
    )
    if value not in known:
        shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        raise CohortError(f"unknown {argument} {value!r}: no registered person has it ({shown})")


def worklist(
    person_table: ir.Table,
    cohorts: Cohorts,
    *,
    cohort: str,
    practice: str | None = None,
    pcn: str | None = None,
    neighbourhood: str | None = None,
    conditions: Sequence[str] | None = None,
) -> ir.Table:
    """The members of `cohort` in the given practice / PCN / neighbourhood, ordered by need.

    Raises `CohortError` for an unknown or unavailable cohort, or a practice,
    PCN or neighbourhood no registered person belongs to (checked against the
    data now; the worklist itself is returned unexecuted). `conditions` are
    the condition columns to list (default: the registry's LTCs).
    """
    chosen = cohorts.get(cohort)
    places = {"practice": practice, "pcn": pcn, "neighbourhood": neighbourhood}
    for argument, value in places.items():
        if value is not None:
            _check_place(person_table, argument, value)

    members = cohort_members(person_table, cohorts)
    members = members.filter(members[chosen.column]).select("person_id", "reasons", "reason_count")
    t = person_table
    for argument, value in places.items():
        if value is not None:
            t = t.filter(t[PLACES[argument]] == value)
    t = t.mutate(conditions=conditions_text(t, conditions or condition_names()))
    t = t.inner_join(members, "person_id")

    order = [ibis.desc(t.risk_score, nulls_first=False)] if "risk_score" in t.columns else []
    order += [
        ibis.desc(t.reason_count),
        ibis.desc(t.ltc_count.fill_null(0)),
        ibis.desc(t.emergency_admissions_12m.fill_null(0)),
        ibis.asc(t.person_id),
    ]
    t = t.mutate(priority=(ibis.row_number().over(order_by=order) + 1).cast("int64"))
    if "risk_score" in t.columns:
        t = t.mutate(risk_score=t.risk_score.round(3))
    keep = [c for c, _, always in WORKLIST_COLUMNS if always or c in t.columns]
    return t.select(*keep).order_by("priority")


def _rows(table: ir.Table | pa.Table) -> tuple[list[str], list[list[Any]]]:
    data = table.to_pyarrow() if isinstance(table, ir.Table) else table
    columns = data.column_names
    values = [data[c].to_pylist() for c in columns]
    return columns, [list(row) for row in zip(*values, strict=True)]


def header(column: str) -> str:
    """A readable column name: the worklist's own, else 'Words like this'."""
    return HEADERS.get(column, column.replace("_", " ").capitalize())


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date()
    return value


def write_worklist(table: ir.Table | pa.Table, path: Path) -> int:
    """Write a worklist to .csv or .xlsx (by extension); returns the rows written.

    Both have one header row of readable column names. The XLSX has a bold,
    frozen header, a filter on it, dates as dates and columns sized to fit
    (at most 60 characters wide).
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise CohortError(f"{path}: give a .csv or .xlsx file name")
    columns, rows = _rows(table)
    headers = [header(c) for c in columns]
    rows = [[_cell(v) for v in row] for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(headers)
            for row in rows:
                writer.writerow(["" if v is None else v for v in row])
        return len(rows)

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Worklist"
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
    for index, name in enumerate(headers, start=1):
        letter = get_column_letter(index)
        values = [name, *(row[index - 1] for row in rows)]
        width = max(len(_shown(v)) for v in values) + 2
        sheet.column_dimensions[letter].width = min(width, MAX_WIDTH)
        for row_cells in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            for cell in row_cells:
                if isinstance(cell.value, dt.date):
                    cell.number_format = "yyyy-mm-dd"
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    book.save(path)
    return len(rows)


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()[:10]
    return str(value)
