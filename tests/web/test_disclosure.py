"""Disclosure control: no small counts, multiples of 5, no cell recoverable from totals."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from phm.web.disclosure import Disclosed, protect, protect_column, round_count

counts = st.integers(min_value=0, max_value=60)


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[list[int]], bool, bool]:
    n_rows = draw(st.integers(min_value=1, max_value=6))
    n_cols = draw(st.integers(min_value=1, max_value=6))
    cells = [[draw(counts) for _ in range(n_cols)] for _ in range(n_rows)]
    return cells, draw(st.booleans()), draw(st.booleans())


def _all_shown(result: Disclosed) -> list[int | None]:
    values: list[int | None] = [v for row in result.cells for v in row]
    values += list(result.row_totals or ()) + list(result.column_totals or ())
    if result.total is not None or result.row_totals or result.column_totals:
        values.append(result.total)
    return values


@settings(max_examples=400)
@given(tables())
def test_no_count_of_1_to_7_and_every_count_a_multiple_of_5(
    table: tuple[list[list[int]], bool, bool],
) -> None:
    cells, rows, cols = table
    result = protect(cells, row_totals=rows, column_totals=cols)
    for value in _all_shown(result):
        assert value is None or (value % 5 == 0 and not 1 <= value <= 7)


@settings(max_examples=400)
@given(tables())
def test_no_line_with_a_total_has_a_single_suppressed_entry(
    table: tuple[list[list[int]], bool, bool],
) -> None:
    cells, rows, cols = table
    result = protect(cells, row_totals=rows, column_totals=cols)
    if rows:
        assert result.row_totals is not None
        for row, total in zip(result.cells, result.row_totals, strict=True):
            assert [*row, total].count(None) != 1
    if cols:
        assert result.column_totals is not None
        for c, total in enumerate(result.column_totals):
            assert [*(row[c] for row in result.cells), total].count(None) != 1
    if rows and cols:
        assert result.row_totals is not None and result.column_totals is not None
        assert [*result.row_totals, result.total].count(None) != 1
        assert [*result.column_totals, result.total].count(None) != 1


@given(st.lists(counts, min_size=1, max_size=10))
def test_totals_come_from_unrounded_counts(values: list[int]) -> None:
    shown, total = protect_column(values)
    assert len(shown) == len(values)
    if total is not None:
        assert total == round_count(sum(values))


def test_a_small_count_and_its_companion_are_suppressed() -> None:
    shown, total = protect_column([3, 40, 12, 100])
    assert shown == (None, 40, None, 100)
    assert total == 155


def test_zeros_are_shown_and_rounding_is_to_the_nearest_5() -> None:
    shown, total = protect_column([0, 8, 12, 13])
    assert shown == (0, 10, 10, 15)
    assert total == 35
