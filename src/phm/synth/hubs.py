"""Extended-access hub capacity (the hub_capacity table).

Each of the place's hubs offers its daily slots (fewer at weekends) with some
day-to-day noise; the share booked starts where the profile says (in hub order)
and rises over the years, as extended access became known.
"""

from __future__ import annotations

import numpy as np

from phm.config.place import Place
from phm.synth.profile import Hubs
from phm.synth.timeline import DAYS_PER_YEAR, Window

_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


def hub_capacity(
    rng: np.random.Generator, place: Place, hubs: Hubs, window: Window
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Rows (hub, day, offered, booked) for each hub and day up to the index date."""
    days = np.arange(window.index - int(hubs.history_days) + 1, window.index + 1)
    weekend = (days + _EPOCH_WEEKDAY) % 7 >= 5
    years_in = (days - days[0]) / DAYS_PER_YEAR
    names: list[str] = []
    day_parts, offered_parts, booked_parts = [], [], []
    for i, hub in enumerate(place.hubs):
        start = hubs.start_utilisation[i % len(hubs.start_utilisation)]
        capacity = hub.daily_slots * np.where(weekend, hubs.weekend_capacity, 1.0)
        offered = np.maximum(np.round(capacity * (1 + 0.05 * rng.standard_normal(len(days)))), 0)
        offered = offered.astype(np.int64)
        rate = np.clip(
            start + hubs.rise_per_year * years_in + 0.03 * rng.standard_normal(len(days)), 0, 1
        )
        names += [hub.name] * len(days)
        day_parts.append(days)
        offered_parts.append(offered)
        booked_parts.append(rng.binomial(offered, rate))
    if not names:
        empty = np.empty(0, dtype=np.int64)
        return [], empty, empty, empty
    return (
        names,
        np.concatenate(day_parts),
        np.concatenate(offered_parts),
        np.concatenate(booked_parts),
    )
