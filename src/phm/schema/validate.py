"""Row validation against the canonical schema, written once in Ibis.

Input: a table of the file's values (empty strings already NULL) plus a
`_line` column locating each row in its source. Output: the typed rows that
pass every check, and one reject row per failed check, each naming the line,
the field and the reason, with the raw row as JSON. `row_errors` is the check
itself: the loader runs it in one pass, checking a column that arrives in its
canonical type (a Parquet DATE for a date) as it is rather than as text.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from phm.engine import rows_table
from phm.schema.canonical import Column, Reference, Table


@dataclass(frozen=True)
class Checked:
    """The outcome of validating one source: typed good rows and the rejects."""

    accepted: ir.Table
    rejects: ir.Table


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


def _json_string(value: ir.StringValue) -> ir.StringValue:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return (ibis.literal('"') + escaped + ibis.literal('"')).fill_null("null")


def raw_json(source: ir.Table, columns: list[str]) -> ir.StringValue:
    """The row as a JSON object of strings (for the rejects table)."""
    parts = [
        ibis.literal(f'"{name}": ') + _json_string(source[name].cast("string")) for name in columns
    ]
    body = parts[0]
    for part in parts[1:]:
        body = body + ibis.literal(", ") + part
    return ibis.literal("{") + body + ibis.literal("}")


def validate(
    table: Table, source: ir.Table, source_file: str, raw_columns: list[str] | None = None
) -> Checked:
    """Check every row of `source` (string columns named as in `table`, plus `_line`).

    `raw_columns` are the columns shown in a reject's raw row (default: the
    table's columns); pass a list without identifiers to keep them out of it.
    """
    raw_columns = raw_columns if raw_columns is not None else list(table.column_names)
    errors = row_errors(table, source, frozenset())
    checked = source.mutate(**errors)

    any_error = ibis.literal(False)
    for name in errors:
        any_error = any_error | checked[name].notnull()
    accepted = checked.filter(~any_error).select(
        "_line", **{c.name: typed_value(c, checked[c.name], False) for c in table.columns}
    )
    bad = checked.filter(any_error)
    bad = bad.mutate(_raw=raw_json(bad, raw_columns))
    rejects = [
        bad.filter(bad[name].notnull()).select(
            table=ibis.literal(table.name),
            source_file=ibis.literal(source_file),
            line=bad._line,
            field=ibis.literal(name.removeprefix("_err_")),
            reason=bad[name],
            outcome=ibis.literal("row rejected"),
            raw=bad._raw,
        )
        for name in errors
    ]
    return Checked(accepted, ibis.union(*rejects))


def duplicate_keys(
    table: Table, accepted: ir.Table, source_file: str, raw_columns: list[str]
) -> Checked:
    """Keep the first row of each key; reject later repeats, naming the first line.

    Only keys that occur more than once are ranked, so a large clean file costs
    one aggregation rather than a sort of every row.
    """
    if not table.key:
        return Checked(accepted, empty_rejects())
    key = list(table.key)
    counts = accepted.group_by(key).agg(_n=accepted.count())
    repeated = accepted.semi_join(counts.filter(counts._n > 1), key)
    window = ibis.window(group_by=[repeated[k] for k in key], order_by=repeated._line)
    ranked = repeated.mutate(
        _n=ibis.row_number().over(window), _first=repeated._line.min().over(window)
    )
    repeats = ranked.filter(ranked._n > 0)
    keep = accepted.anti_join(repeats.select("_line"), "_line")
    rejects = repeats.select(
        table=ibis.literal(table.name),
        source_file=ibis.literal(source_file),
        line=repeats._line,
        field=ibis.literal(",".join(table.key)),
        reason=ibis.literal("duplicate key, first seen at line ") + repeats._first.cast("string"),
        outcome=ibis.literal("row rejected"),
        raw=raw_json(repeats, raw_columns),
    )
    return Checked(keep, rejects)


def unknown_references(
    table: Table,
    reference: Reference,
    accepted: ir.Table,
    keys: ir.Table,
    source_file: str,
    raw_columns: list[str],
) -> Checked:
    """Reject rows whose reference is not among the referenced table's keys."""
    known = accepted[reference.column].isin(keys[reference.key])
    orphans = accepted.filter(~known)
    rejects = orphans.select(
        table=ibis.literal(table.name),
        source_file=ibis.literal(source_file),
        line=orphans._line,
        field=ibis.literal(reference.column),
        reason=ibis.literal(f"{reference.column} not found in the {reference.table} table"),
        outcome=ibis.literal("row rejected"),
        raw=raw_json(orphans, raw_columns),
    )
    return Checked(accepted.filter(known), rejects)


REJECTS_SCHEMA = ibis.schema(
    {
        "table": "string",
        "source_file": "string",
        "line": "int64",
        "field": "string",
        "reason": "string",
        "outcome": "string",
        "raw": "string",
    }
)


def empty_rejects() -> ir.Table:
    return rows_table([], {name: str(t) for name, t in REJECTS_SCHEMA.items()})
