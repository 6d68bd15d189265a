"""Events matched to code lists: the one place where codes meet definitions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import ibis
import ibis.expr.types as ir

from phm.codelists.codelist import PREFIX_SYSTEMS, Codelist, codes_table


def coded(events: ir.Table, lists: Mapping[str, Codelist]) -> ir.Table:
    """The rows of `events` whose (code_system, code) is in a list, with the list's name.

    An event in several lists appears once per list, in column `codelist`.
    Prefix-matched systems (ICD-10, OPCS-4, BNF) join on the leading characters
    of the event's code, one equality join per code length, so no join is a
    scan of every pair.
    """
    codes = codes_table(lists.items())
    exact = codes.filter(~codes.prefix)
    parts = [
        events.inner_join(
            exact, [events.code_system == exact.code_system, events.code == exact.code]
        ).select(events, codelist=exact.label)
    ]
    lengths = sorted(
        {len(c) for cl in lists.values() for s, c, _ in cl.codes if s in PREFIX_SYSTEMS}
    )
    for length in lengths:
        same = codes.filter(codes.prefix & (codes.length == length))
        parts.append(
            events.inner_join(
                same,
                [
                    events.code_system == same.code_system,
                    events.code.substr(0, length) == same.code,
                ],
            ).select(events, codelist=same.label)
        )
    return ibis.union(*parts)


def days_before(index_date: dt.date, day: ir.DateValue) -> ir.IntegerValue:
    """Whole days from `day` to the index date (0 on the index date itself)."""
    return ibis.date(index_date).delta(day, unit="day")
