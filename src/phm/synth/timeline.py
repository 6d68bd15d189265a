"""Dates as integer day numbers, and the history window of the extract.

All generation works on days since 1970-01-01 (the Arrow date32 encoding) and
microseconds since 1970 for datetimes, so dates are plain numpy integers.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np

DAYS_PER_YEAR = 365.25
MICROSECONDS_PER_DAY = 86_400_000_000
MICROSECONDS_PER_HOUR = 3_600_000_000
NO_DATE = -(2**31)  # marks "no date" in int32 day columns (written as null)
_EPOCH = datetime.date(1970, 1, 1)


def day_number(d: datetime.date) -> int:
    return (d - _EPOCH).days


def years_before(d: datetime.date, years: int) -> datetime.date:
    """The same calendar day `years` earlier (29 February becomes 28 February)."""
    try:
        return d.replace(year=d.year - years)
    except ValueError:
        return d.replace(year=d.year - years, day=28)


@dataclass(frozen=True)
class Window:
    """The history window: events fall in [start, index], both day numbers."""

    start: int
    index: int
    index_date: datetime.date

    @classmethod
    def ending(cls, index_date: datetime.date, years: int) -> Window:
        return cls(day_number(years_before(index_date, years)), day_number(index_date), index_date)

    @property
    def days(self) -> int:
        return self.index - self.start


MINUTE = 60_000_000  # microseconds


def at_time(day: np.ndarray, hours: np.ndarray | float) -> np.ndarray:
    """Microseconds since 1970 of a day number plus hours, rounded to the minute."""
    minutes = np.round(np.asarray(hours) * 60).astype(np.int64)
    return np.asarray(day).astype(np.int64) * MICROSECONDS_PER_DAY + minutes * MINUTE


def hours(value: np.ndarray) -> np.ndarray:
    """A duration in hours as whole minutes of microseconds."""
    return np.round(np.asarray(value) * 60).astype(np.int64) * MINUTE
