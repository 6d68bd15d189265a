"""Waiting-time pathways for the constitutional standards (the pathway table).

- rtt: referral-to-treatment clock starts over the last two years, more with
  conditions; a pathway without an end date is still waiting.
- cancer_62d: urgent referral shortly before a cancer's diagnosis, ended by
  first treatment.
- eip: first episode of psychosis (new serious mental illness under 65),
  ended by the start of treatment.
- iapt: talking therapies for new depression or anxiety, ended by the first
  treatment.
Waits are lognormal mixtures from the profile; an end after the end of the
person's record is left empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from phm.schema.canonical import PATHWAY_KINDS
from phm.synth.profile import Wait
from phm.synth.timeline import NO_DATE

if TYPE_CHECKING:
    from phm.synth.chunk import Chunk

_RECENT_DAYS = 730


def emit(rng: np.random.Generator, chunk: Chunk) -> None:
    """Write the chunk's RTT, cancer, EIP and talking-therapy pathways."""
    pw = chunk.profile.pathways
    people, history, window = chunk.people, chunk.conditions, chunk.window
    providers = chunk.vocab.providers
    place = chunk.run.place
    recent = window.index - _RECENT_DAYS

    rate = pw.rtt_per_year * np.exp(0.15 * chunk.segments.n_active)
    person, day = chunk.events(rng, rate)
    keep = day >= recent
    person, day = person[keep], day[keep]
    acute = providers.indices(place.providers.acute)
    _add(rng, chunk, "rtt", person, day, pw.rtt_wait, acute[chunk.traits.acute[person]])

    mental_health = providers[place.providers.mental_health]
    cancer = chunk.model.index("cancer")
    person = np.flatnonzero(_new_since(chunk, cancer, recent))
    referral = history.coded[person, cancer] - np.floor(10 + rng.random(len(person)) * 30)
    referral = np.maximum(referral.astype(np.int64), people.record_start[person])
    _add(
        rng,
        chunk,
        "cancer_62d",
        person,
        referral,
        pw.cancer_wait,
        acute[chunk.traits.acute[person]],
    )

    smi = chunk.model.index("smi")
    age = people.age_at(history.coded[:, smi])
    person = np.flatnonzero(_new_since(chunk, smi, recent) & (age < 65))
    referral = history.coded[person, smi] - np.floor(rng.random(len(person)) * 10)
    referral = np.maximum(referral.astype(np.int64), people.record_start[person])
    _add(rng, chunk, "eip", person, referral, pw.eip_wait, np.full(len(person), mental_health))

    parts = []
    for name in ("depression", "anxiety"):
        k = chunk.model.index(name)
        adult = people.age_at(history.coded[:, k]) >= 18
        chosen = _new_since(chunk, k, recent) & adult & (rng.random(people.n) < pw.iapt_share)
        person = np.flatnonzero(chosen)
        parts.append((person, history.coded[person, k].astype(np.int64)))
    person = np.concatenate([p for p, _ in parts])
    referral = np.concatenate([d for _, d in parts]) + np.floor(rng.random(len(person)) * 30)
    referral = np.minimum(referral.astype(np.int64), people.record_end[person])
    _add(rng, chunk, "iapt", person, referral, pw.iapt_wait, np.full(len(person), mental_health))


def _new_since(chunk: Chunk, k: int, since: int) -> np.ndarray:
    """People whose condition k was diagnosed (and first coded) on or after `since`."""
    h = chunk.conditions
    return np.asarray(
        h.has[:, k] & (h.onset[:, k] >= since) & (h.onset[:, k] >= chunk.window.start)
    )


def _waits(rng: np.random.Generator, mixture: tuple[Wait, ...], n: int) -> np.ndarray:
    shares = np.cumsum([w.share for w in mixture])
    component = np.minimum(
        np.searchsorted(shares / shares[-1], rng.random(n), side="right"), len(mixture) - 1
    )
    median = np.array([w.median_days for w in mixture])[component]
    sigma = np.array([w.sigma for w in mixture])[component]
    return np.floor(median * np.exp(sigma * rng.standard_normal(n))).astype(np.int64)


def _add(
    rng: np.random.Generator,
    chunk: Chunk,
    kind: str,
    person: np.ndarray,
    start: np.ndarray,
    mixture: tuple[Wait, ...],
    provider: np.ndarray,
) -> None:
    end = start + _waits(rng, mixture, len(person))
    end = np.where(end > chunk.people.record_end[person], NO_DATE, end)
    chunk.tables["pathway"].add(
        person_id=person,
        kind=PATHWAY_KINDS.index(kind),
        start_date=start,
        end_date=end,
        provider_code=provider,
    )
