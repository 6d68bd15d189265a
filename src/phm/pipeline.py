"""The pipeline: the stages that turn the canonical store into derived tables.

Each stage is a pure function over Ibis tables; this module only feeds it the
store's tables and materialises what it returns, on whichever engine the store
was opened with. Every run is recorded in the `run_log` table.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir

from phm import __version__
from phm.codelists.registry import shipped_registry
from phm.codelists.thresholds import shipped_thresholds
from phm.cohorts import cohort_members, load_cohorts
from phm.engine import Store, canonical_table
from phm.measures.person_table import CANONICAL_INPUTS, person_table
from phm.risk.model import RiskError
from phm.risk.score import score
from phm.segments import load_segments, segment_columns, segment_summary

EVENT_DATES = (
    ("clinical_event", "event_date"),
    ("medication", "issue_date"),
    ("encounter", "start_datetime"),
)


@dataclass(frozen=True)
class RunSummary:
    index_date: dt.date
    engine: str
    rows: dict[str, int] = field(default_factory=dict)
    segments: list[dict[str, object]] = field(default_factory=list)
    unavailable_cohorts: dict[str, str] = field(default_factory=dict)
    risk: str = ""
    seconds: float = 0.0


def latest_date(store: Store) -> dt.date:
    """The last day with activity in the store: the default index date."""
    latest: dt.date | None = None
    for table, column in EVENT_DATES:
        if not store.has(table):
            continue
        value = store.table(table)[column].max().execute()
        if value is not None and str(value) != "NaT":
            day = value.date() if isinstance(value, dt.datetime) else value
            latest = day if latest is None else max(latest, day)
    if latest is None:
        raise ValueError("the store has no events to take an index date from: give --index-date")
    return latest


def run(store: Store, index_date: dt.date | None = None) -> RunSummary:
    """Build the derived tables as of `index_date` (default: the latest date in the data)."""
    started = time.perf_counter()
    day = index_date or latest_date(store)
    registry, thresholds = shipped_registry(), shipped_thresholds()
    tables = {name: canonical_table(store, name) for name in CANONICAL_INPUTS}
    # Ibis 12 cannot cache PySpark expressions that hold in-memory tables;
    # Spark plans the single query well enough on its own.
    cache_parts = store.engine == "duckdb"
    measured = person_table(tables, registry, thresholds, day, cache_parts=cache_parts)
    segmentation = load_segments(columns=measured.columns)
    measures = store.write(
        "person_measures", measured.mutate(**segment_columns(measured, segmentation))
    )
    built, risk_note = _with_risk(store, measures)
    cohorts = load_cohorts(columns=built.columns)
    members = store.write("cohort_members", cohort_members(built, cohorts))
    rows = {
        "person_table": int(built.count().execute()),
        "cohort_members": int(members.count().execute()),
    }
    segments = segment_summary(built, segmentation).execute().to_dict("records")
    seconds = time.perf_counter() - started
    record = {
        "run_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "index_date": day.isoformat(),
        "engine": store.engine,
        "phm_version": __version__,
        "definitions_version": f"{registry.version}+{registry.digest}",
        "thresholds_version": thresholds.version,
        "segmentation_version": segmentation.full_version,
        "rows": json.dumps(rows),
        "seconds": round(seconds, 2),
    }
    previous = store.table("run_log").execute().to_dict("records") if store.has("run_log") else []
    store.write("run_log", ibis.memtable([*previous, record]))
    return RunSummary(
        index_date=day,
        engine=store.engine,
        rows=rows,
        segments=segments,
        unavailable_cohorts=dict(cohorts.unavailable),
        risk=risk_note,
        seconds=seconds,
    )


def _with_risk(store: Store, measures: ir.Table) -> tuple[ir.Table, str]:
    """The person table: the measures, with each person's risk once a model is trained."""
    if not (store.home / "models" / "latest").is_dir():
        return store.write("person_table", measures), "no risk model yet: `phm risk train`"
    try:
        scores = score(store, table=measures)
    except RiskError as e:
        return store.write("person_table", measures), f"risk not scored: {e}"
    joined = measures.left_join(scores, "person_id").select(
        measures,
        "risk_score",
        "risk_tier",
        "risk_explanation",
        risk_model_version=scores.model_version,
    )
    version = (store.home / "models" / "latest" / "VERSION").read_text().strip()
    return store.write("person_table", joined), f"risk scored with model {version}"
