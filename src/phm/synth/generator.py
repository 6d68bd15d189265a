"""`generate`: write a synthetic canonical extract for a place, with the truth beside it.

The population is generated in chunks of list members (plus the leavers and
decedents that go with them), each from its own random stream, in up to two
worker processes (PHM_SYNTH_WORKERS overrides how many); chunks are written in
order, so the output depends only on the seed, the size, the index date and the
format, never on the number of workers.
"""

from __future__ import annotations

import datetime
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import current_process, get_context
from pathlib import Path

import numpy as np

from phm.config.place import Place
from phm.synth.calibration import calibrate
from phm.synth.chunk import (
    ALLOCATION_STREAM,
    CALIBRATION_STREAM,
    HUB_STREAM,
    ChunkPlan,
    ChunkResult,
    Run,
    build_chunk,
)
from phm.synth.extract import Vocabulary
from phm.synth.hubs import hub_capacity
from phm.synth.population import nhs_numbers
from phm.synth.profile import Profile, load_profile
from phm.synth.timeline import Window
from phm.synth.writer import ExtractWriter, Format

CHUNK_SIZE = 16_000  # list members per chunk
MAX_WORKERS = 2
_INLINE_BELOW = 3  # runs of fewer chunks than this are built in this process

TRUTH_README = """\
# Truth of the synthetic extract

This folder is NOT part of the canonical extract: no real extract has it, and
nothing in the pipeline may read it except to judge a model.

`emergency_admission.parquet` has one row per person registered and alive at
the index date ({index_date}):

- `person_id`: as in person.parquet / person.csv;
- `true_risk`: the generator's probability that the person has at least one
  emergency admission in the 12 months after the index date,
  1 - exp(-hazard), from the same hazard model that generated their history
  (age, conditions, deprivation, latent need, a person-level frailty and
  escalation), ignoring death;
- `outcome`: whether they would have one, drawn from `true_risk` with a
  separate random stream.

A model's AUC against `outcome` can be compared with the AUC of `true_risk`
itself, the best any model can do. Generated with seed {seed}.
"""


@dataclass(frozen=True)
class SynthSummary:
    """What one `generate` run wrote."""

    out_dir: Path
    persons: int  # list size: people registered and alive at the index date
    rows: dict[str, int]  # rows per canonical table
    seconds: float
    seed: int
    index_date: datetime.date


def generate(
    out_dir: Path,
    *,
    place: Place,
    persons: int | None = None,
    seed: int = 42,
    index_date: datetime.date = datetime.date(2026, 3, 31),
    fmt: Format = "parquet",
    progress: Callable[[int], None] | None = None,
) -> SynthSummary:
    """Write a synthetic canonical extract of `place` to `out_dir`.

    `persons` is the list size at the index date (default: the place's list
    size); practice lists are scaled to it. The extract also holds people who
    died or left during its six years of history. `progress` is called after
    each chunk with the number of list members just written; the calls add up
    to `persons`.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"format must be parquet or csv, not {fmt!r}")
    size = place.list_size if persons is None else int(persons)
    if size <= 0:
        raise ValueError("persons must be positive")
    profile = load_profile()
    window = Window.ending(index_date, profile.history_years)
    calibration = calibrate(
        profile, place, window, np.random.SeedSequence(seed, spawn_key=(CALIBRATION_STREAM,))
    )
    run = Run(profile, place, window, calibration, seed)
    plans = plan_chunks(place, profile, size, seed)
    total = sum(len(p.practices) + p.leavers + p.decedents for p in plans)
    width = max(7, len(str(total)))
    writer = ExtractWriter(out_dir, fmt, place, Vocabulary.build(profile, place), width)
    try:
        writer.practices(place)
        numbers = nhs_numbers(total, seed)
        for result in _results(run, plans):
            writer.chunk(result, numbers)
            if progress is not None:
                progress(result.listed)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(HUB_STREAM,)))
        writer.hub_capacity(*hub_capacity(rng, place, profile.hubs, window))
    finally:
        writer.close()
    (out_dir / "truth" / "README.md").write_text(
        TRUTH_README.format(index_date=index_date.isoformat(), seed=seed)
    )
    return SynthSummary(
        out_dir=out_dir,
        persons=size,
        rows=dict(writer.rows),
        seconds=time.perf_counter() - started,
        seed=seed,
        index_date=index_date,
    )


def plan_chunks(place: Place, profile: Profile, persons: int, seed: int) -> list[ChunkPlan]:
    """Practice of every list member (list sizes scaled by largest remainder), in chunks."""
    sizes = np.array([p.list_size for p in place.practices], dtype=np.float64)
    quota = sizes * persons / sizes.sum()
    counts = np.floor(quota).astype(np.int64)
    short = persons - int(counts.sum())
    counts[np.argsort(-(quota - counts), kind="stable")[:short]] += 1
    practice = np.repeat(np.arange(len(sizes), dtype=np.int16), counts)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(ALLOCATION_STREAM,)))
    practice = practice[rng.permutation(len(practice))]
    leave = profile.registration.leaver_share
    die = profile.mortality.annual_rate * profile.history_years
    plans = []
    for index, start in enumerate(range(0, persons, CHUNK_SIZE)):
        members = practice[start : start + CHUNK_SIZE]
        plans.append(
            ChunkPlan(index, members, round(len(members) * leave), round(len(members) * die))
        )
    return plans


def _workers() -> int:
    """Worker processes to use: PHM_SYNTH_WORKERS if set, else up to two (one per core).

    A daemonic process (such as a multiprocessing pool worker) cannot start
    processes, so it builds chunks itself.
    """
    if current_process().daemon:
        return 1
    configured = os.environ.get("PHM_SYNTH_WORKERS", "")
    if configured.strip():
        return max(1, int(configured))
    return min(MAX_WORKERS, os.cpu_count() or 1)


def _results(run: Run, plans: list[ChunkPlan]) -> Iterator[ChunkResult]:
    """Chunk results in plan order, built inline or by worker processes."""
    workers = _workers()
    if workers < 2 or len(plans) < _INLINE_BELOW:
        for plan in plans:
            yield build_chunk(run, plan)
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    try:
        queue: deque[Future[ChunkResult]] = deque()
        upcoming = iter(plans)
        for plan in upcoming:
            queue.append(pool.submit(build_chunk, run, plan))
            if len(queue) >= workers + 1:
                break
        while queue:
            result = queue.popleft().result()
            following = next(upcoming, None)
            if following is not None:
                queue.append(pool.submit(build_chunk, run, following))
            yield result
    finally:
        pool.shutdown(cancel_futures=True)
