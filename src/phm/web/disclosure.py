"""Statistical disclosure control for aggregate tables (shared/DOMAIN.md).

Counts of 1-7 are suppressed, the rest rounded to the nearest 5 (the
OpenSAFELY convention). A table's margins are computed from the unrounded
counts and then rounded and suppressed like any other cell. So that no
suppressed cell can be recovered by subtraction, every line (a row with its
row total, a column with its column total) that holds exactly one suppressed
entry has the next smallest non-zero cell suppressed too (secondary
suppression), or its total when no cell is left, until no line has exactly
one. Zeros are true zeros and stay shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SMALLEST_SHOWN = 8
ROUND_TO = 5


def round_count(value: int) -> int:
    """A count rounded to the nearest 5 (halves cannot occur for whole numbers)."""
    return (value + ROUND_TO // 2) // ROUND_TO * ROUND_TO


def primary_suppressed(value: int) -> bool:
    return 0 < value < SMALLEST_SHOWN


@dataclass(frozen=True)
class Disclosed:
    """A table after disclosure control; None marks a suppressed count.

    `row_totals` / `column_totals` are None when the table has no such margin;
    `total` is the grand total when both or either margin is kept.
    """

    cells: tuple[tuple[int | None, ...], ...]
    row_totals: tuple[int | None, ...] | None
    column_totals: tuple[int | None, ...] | None
    total: int | None


def _lines(
    n_rows: int, n_cols: int, row_totals: bool, column_totals: bool
) -> list[list[tuple[int, int]]]:
    """Every additive line of the grid whose last position (R or C index) is the margin.

    The grid is (rows + 1) x (cols + 1): index n_cols is a row's total, index
    n_rows a column's total, (n_rows, n_cols) the grand total.
    """
    lines: list[list[tuple[int, int]]] = []
    if row_totals:
        for r in range(n_rows):
            lines.append([(r, c) for c in range(n_cols)] + [(r, n_cols)])
        if column_totals:
            lines.append([(n_rows, c) for c in range(n_cols)] + [(n_rows, n_cols)])
    if column_totals:
        for c in range(n_cols):
            lines.append([(r, c) for r in range(n_rows)] + [(n_rows, c)])
        if row_totals:
            lines.append([(r, n_cols) for r in range(n_rows)] + [(n_rows, n_cols)])
    return lines


def protect(
    counts: Sequence[Sequence[int]],
    *,
    row_totals: bool = False,
    column_totals: bool = False,
) -> Disclosed:
    """Disclosure-control a table of non-negative counts (rows x columns)."""
    n_rows = len(counts)
    n_cols = len(counts[0]) if n_rows else 0
    if any(len(row) != n_cols for row in counts):
        raise ValueError("every row of a table needs the same number of cells")
    if any(v < 0 for row in counts for v in row):
        raise ValueError("counts cannot be negative")
    grid: dict[tuple[int, int], int] = {
        (r, c): int(counts[r][c]) for r in range(n_rows) for c in range(n_cols)
    }
    for r in range(n_rows):
        grid[(r, n_cols)] = sum(counts[r])
    for c in range(n_cols):
        grid[(n_rows, c)] = sum(counts[r][c] for r in range(n_rows))
    grid[(n_rows, n_cols)] = sum(sum(row) for row in counts)

    shown = {(r, c) for r in range(n_rows) for c in range(n_cols)}
    if row_totals:
        shown |= {(r, n_cols) for r in range(n_rows)}
    if column_totals:
        shown |= {(n_rows, c) for c in range(n_cols)}
    if row_totals or column_totals:
        shown.add((n_rows, n_cols))

    suppressed = {p for p in shown if primary_suppressed(grid[p])}
    lines = _lines(n_rows, n_cols, row_totals, column_totals)
    changed = True
    while changed:
        changed = False
        for line in lines:
            hidden = [p for p in line if p in suppressed]
            if len(hidden) != 1:
                continue
            margin = line[-1]
            candidates = [p for p in line[:-1] if p not in suppressed and grid[p] > 0]
            if not candidates:
                candidates = [p for p in line[:-1] if p not in suppressed]
            if candidates:
                suppressed.add(min(candidates, key=lambda p: (grid[p], p)))
            else:
                suppressed.add(margin)
            changed = True

    def shown_value(p: tuple[int, int]) -> int | None:
        return None if p in suppressed else round_count(grid[p])

    cells = tuple(tuple(shown_value((r, c)) for c in range(n_cols)) for r in range(n_rows))
    return Disclosed(
        cells=cells,
        row_totals=tuple(shown_value((r, n_cols)) for r in range(n_rows)) if row_totals else None,
        column_totals=(
            tuple(shown_value((n_rows, c)) for c in range(n_cols)) if column_totals else None
        ),
        total=shown_value((n_rows, n_cols)) if (row_totals or column_totals) else None,
    )


def protect_column(counts: Sequence[int]) -> tuple[tuple[int | None, ...], int | None]:
    """A single list of counts with its total: (shown counts, shown total)."""
    result = protect([[v] for v in counts], column_totals=True)
    return tuple(row[0] for row in result.cells), result.total
