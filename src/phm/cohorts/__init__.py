"""Case-finding cohorts and the worklists made from them (C1 of the care-coordination pathway)."""

from phm.cohorts.casefinding import (
    COHORTS_PATH,
    CohortDefinition,
    CohortError,
    Cohorts,
    cohort_members,
    load_cohorts,
)
from phm.cohorts.worklist import WORKLIST_COLUMNS, worklist, write_worklist

__all__ = [
    "COHORTS_PATH",
    "WORKLIST_COLUMNS",
    "CohortDefinition",
    "CohortError",
    "Cohorts",
    "cohort_members",
    "load_cohorts",
    "worklist",
    "write_worklist",
]
