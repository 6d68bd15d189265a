"""The loader's row checks, computed once per value and typed where the source is typed.

These are the checks of `phm.schema.validate` (the same reasons in the same
order: a value's first problem, then the table's cross-field rules) in a form
the loader can run in one pass. A column that arrives with its canonical type
(a Parquet DATE for a date column, a DOUBLE for a float) is checked as it is,
not written out as text and parsed back; a text column (CSV, or Parquet of
another type) is parsed exactly as `phm.schema.validate` parses it.
tests/ingest/test_validation.py holds the two to the same answers.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from phm.schema.canonical import Column, Table

_CAST = {"date": "date", "datetime": "timestamp", "int": "int64", "float": "float64"}
_NOUN = {
    "date": "a date (YYYY-MM-DD)",
    "datetime": "a date-time (YYYY-MM-DDTHH:MM:SS)",
    "int": "a whole number",
    "float": "a number",
}


def typed_value(column: Column, value: ir.Value, typed: bool) -> ir.Value:
    """The value in its canonical type: as it is when typed, else parsed from text."""
    if column.type == "string":
        return value
    if typed:
        return value.cast(_CAST[column.type])
    text = value
    assert isinstance(text, ir.StringValue)
    if column.type == "int":
        # "12.0" is a whole number written as a float by many exporters.
        as_float = text.try_cast("float64")
        return ibis.ifelse(
            as_float == as_float.round(0), as_float.cast("int64"), ibis.null("int64")
        )
    return text.try_cast(_CAST[column.type])


def column_error(column: Column, value: ir.Value, typed: bool) -> ir.StringValue:
    """The first problem with one value, or NULL when it is acceptable."""
    parsed = typed_value(column, value, typed)
    cases: list[tuple[ir.BooleanValue, str]] = []
    if column.required:
        cases.append((value.isnull(), "missing required value"))
    if column.type != "string" and not typed:
        cases.append((value.notnull() & parsed.isnull(), f"not {_NOUN[column.type]}"))
    if column.allowed is not None:
        listed = ", ".join(column.allowed) if len(column.allowed) <= 8 else "the allowed values"
        cases.append((value.notnull() & ~value.isin(column.allowed), f"not one of {listed}"))
    if column.pattern is not None:
        assert isinstance(value, ir.StringValue)
        cases.append(
            (value.notnull() & ~value.re_search(column.pattern), "not in the expected format")
        )
    if column.minimum is not None:
        cases.append((parsed < column.minimum, f"below the minimum {column.minimum:g}"))
    if column.maximum is not None:
        cases.append((parsed > column.maximum, f"above the maximum {column.maximum:g}"))
    if not cases:
        return ibis.null("string")
    return ibis.cases(*cases, else_=ibis.null("string"))


def row_errors(table: Table, source: ir.Table, typed: frozenset[str]) -> dict[str, ir.StringValue]:
    """One error expression per column (`_err_<column>`), NULL where the value passes.

    `typed` names the columns of `source` that already hold their canonical type.
    """
    errors: dict[str, ir.StringValue] = {
        f"_err_{c.name}": column_error(c, source[c.name], c.name in typed) for c in table.columns
    }
    for rule in table.rules:
        if rule.kind == "not_before":
            col, other = table.column(rule.field), table.column(rule.other)
            violated = typed_value(col, source[col.name], col.name in typed) < typed_value(
                other, source[other.name], other.name in typed
            )
        else:
            violated = (source[rule.other] == rule.when_value) & source[rule.field].isnull()
        name = f"_err_{rule.field}"
        errors[name] = errors[name].fill_null(
            ibis.ifelse(violated, rule.reason, ibis.null("string"))
        )
    return errors
