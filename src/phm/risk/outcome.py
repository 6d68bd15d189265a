"""The outcome the risk model predicts: an emergency admission in the next 12 months.

An emergency admission is an admitted patient care spell (setting `apc`) with
admission method `emergency`, as counted by PARR (Billings et al., BMJ
2006;333:327), the Combined Predictive Model (King's Fund, 2006) and — over 2
years — QAdmissions (Hippisley-Cox & Coupland, BMJ Open 2013;3:e003482). The
window is half-open, `(index, index + days]`: an admission on the index date
is history (it feeds the features), one on the last day of the window counts.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

OUTCOME_DAYS = 365


def emergency_admission_within(
    encounter: ir.Table, index_date: dt.date, days: int = OUTCOME_DAYS
) -> ir.Table:
    """Whether each person has an emergency admission starting in (index, index + days].

    Returns (person_id, outcome bool), one row per person with any emergency
    admission on record; everyone else has no row and no admission in the
    window, so join to the population with `outcome.fill_null(False)`.
    """
    start = ibis.date(index_date)
    end = ibis.date(index_date + dt.timedelta(days=days))
    emergency = encounter.filter(
        encounter.setting == "apc", (encounter.admission_method == "emergency").fill_null(False)
    )
    day = emergency.start_datetime.date()
    return emergency.group_by("person_id").aggregate(outcome=((day > start) & (day <= end)).any())
