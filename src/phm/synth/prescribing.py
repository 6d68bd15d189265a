"""Repeat prescriptions (the medication table): BNF chemical substances issued every
28 or 56 days (the two commonest repeat durations for long-term conditions in
England) to people treated for a condition, from soon after it is first coded
until it resolves or the record ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from phm.schema.canonical import MEDICATION_CODE_SYSTEMS
from phm.synth.timeline import NO_DATE

if TYPE_CHECKING:
    from phm.synth.chunk import Chunk

_MONTHLY_SHARE = 0.6  # streams issued every 28 days; the rest every 56
_START_DELAY_DAYS = 21
_JITTER_DAYS = 3


def emit(rng: np.random.Generator, chunk: Chunk) -> None:
    """Write the chunk's repeat prescriptions: one stream per person and drug."""
    people, history = chunk.people, chunk.conditions
    drugs = chunk.vocab.drugs
    person_parts, drug_parts, start_parts, end_parts = [], [], [], []
    for k, condition in enumerate(chunk.model.conditions):
        if not condition.drugs or condition.treated <= 0:
            continue
        treated = np.flatnonzero(history.has[:, k] & (rng.random(people.n) < condition.treated))
        if len(treated) == 0:
            continue
        start = np.maximum(history.coded[treated, k], people.record_start[treated]).astype(np.int64)
        start += np.floor(rng.random(len(treated)) * _START_DELAY_DAYS).astype(np.int64)
        resolved = history.resolved[treated, k]
        end = np.where(resolved != NO_DATE, resolved - 1, people.record_end[treated])
        end = np.minimum(end, people.record_end[treated]).astype(np.int64)
        taking = rng.random((len(treated), len(condition.drugs))) < np.array(
            [d.share for d in condition.drugs]
        )
        taking[~taking.any(axis=1), int(np.argmax([d.share for d in condition.drugs]))] = True
        rows, cols = np.nonzero(taking)
        person_parts.append(treated[rows])
        drug_parts.append(drugs.indices(d.bnf for d in condition.drugs)[cols])
        start_parts.append(start[rows])
        end_parts.append(end[rows])
    if not person_parts:
        return
    person = np.concatenate(person_parts)
    drug = np.concatenate(drug_parts).astype(np.int64)
    key = person.astype(np.int64) * len(drugs) + drug
    streams, inverse = np.unique(key, return_inverse=True)
    first = np.full(len(streams), np.iinfo(np.int64).max)
    last = np.full(len(streams), np.iinfo(np.int64).min)
    np.minimum.at(first, inverse, np.concatenate(start_parts))
    np.maximum.at(last, inverse, np.concatenate(end_parts))
    interval = np.where(rng.random(len(streams)) < _MONTHLY_SHARE, 28, 56)
    count = np.where(last >= first, (last - first) // interval + 1, 0)
    row = np.repeat(np.arange(len(streams)), count)
    step = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
    jitter = rng.integers(-_JITTER_DAYS, _JITTER_DAYS + 1, len(row))
    day = first[row] + step * interval[row] + np.where(step > 0, jitter, 0)
    stream_person = streams // len(drugs)
    who = stream_person[row]
    day = np.minimum(day, chunk.people.record_end[who])
    chunk.tables["medication"].add(
        person_id=who,
        issue_date=day,
        code_system=MEDICATION_CODE_SYSTEMS.index("bnf"),
        code=(streams % len(drugs))[row],
    )
