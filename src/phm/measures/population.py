"""Who is in the registered population at an index date, and where they belong.

A person counts when registered on the index date (registration started on or
before it and has not ended by it) and alive (no death on or before it). This
is the denominator of every measure: QOF registers, prevalence and segment
sizes are all counted over the registered list.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from phm.schema.canonical import ETHNIC_GROUPS


def age_on(birth_date: ir.DateValue, day: dt.date) -> ir.IntegerValue:
    """Completed years of age on `day` (birthday not yet reached counts the year before)."""
    years = day.year - birth_date.year()
    before_birthday = (birth_date.month() > day.month) | (
        (birth_date.month() == day.month) & (birth_date.day() > day.day)
    )
    return (years - before_birthday.cast("int64")).cast("int64")


def ethnic_group(ethnicity: ir.StringValue) -> ir.StringValue:
    """The ONS 2021 high-level group of a detailed ethnic category."""
    return ethnicity.cases(*ETHNIC_GROUPS.items(), else_=ibis.null("string")).fill_null(
        "Not stated"
    )


def registered_population(person: ir.Table, practice: ir.Table, index_date: dt.date) -> ir.Table:
    """One row per person registered and alive at `index_date`, with their geography."""
    day = ibis.date(index_date)
    registered = person.filter(
        person.registration_start <= day,
        person.registration_end.isnull() | (person.registration_end > day),
        person.death_date.isnull() | (person.death_date > day),
        person.birth_date <= day,
    )
    joined = registered.inner_join(practice, "practice_code")
    return joined.select(
        "person_id",
        "nhs_number_hash",
        "sex",
        "birth_date",
        age=age_on(joined.birth_date, index_date),
        ethnicity=joined.ethnicity.fill_null("Not stated"),
        ethnic_group=ethnic_group(joined.ethnicity),
        lsoa_code=joined.lsoa_code,
        imd_decile=joined.imd_decile,
        imd_quintile=((joined.imd_decile + 1) // 2).cast("int64"),
        practice_code=joined.practice_code,
        practice_name=joined.name,
        pcn_code=joined.pcn_code,
        pcn_name=joined.pcn_name,
        neighbourhood=joined.neighbourhood,
        lcn=joined.lcn,
        registration_start=joined.registration_start,
        index_date=day,
    )
