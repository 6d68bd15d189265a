"""Ingest: extracts in, canonical store out, nothing lost.

`ingest(source, home, key, format=..., mode=..., place=...)` is the one entry
point: the canonical loader for canonical extracts, and for Synthea CSV, FHIR
R4 and OMOP CDM sources an adapter that stages canonical tables the same
loader then checks (phm.ingest.staging). See docs/ingest.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from phm.config.place import Place
from phm.engine import tables_dir
from phm.ingest.canonical import (
    Loader,
    LoadSource,
    clear_store,
    content_id,
    ingest_canonical,
    resolve_mode,
)
from phm.ingest.practices import PracticeRule
from phm.ingest.report import (
    FORMATS,
    FileReport,
    Format,
    IngestError,
    IngestReport,
    Mode,
    SourceError,
    SourceReport,
)
from phm.ingest.staging import SourceFile, Stage
from phm.schema.canonical import load_order

__all__ = [
    "FORMATS",
    "FileReport",
    "Format",
    "IngestError",
    "IngestReport",
    "Mode",
    "SourceError",
    "SourceReport",
    "ingest",
]

# Bump when a mapping changes, so --append re-reads sources under the new mapping.
MAPPING_VERSION = "1"
LOG = "ingest_log"


class Adapter(Protocol):
    """A source format: finds its files, then stages their rows."""

    label: str

    def discover(self, source: Path) -> tuple[list[SourceFile], list[str]]:
        """The files it reads (with content ids) and the names it ignores, with why."""
        ...

    def stage(self, files: list[SourceFile], stage: Stage) -> None:
        """Read the files into the stage; a file that cannot be read is reported, not raised."""
        ...


def _adapter(fmt: Format) -> Adapter:
    if fmt == "synthea":
        from phm.ingest.synthea import SyntheaAdapter

        return SyntheaAdapter()
    if fmt == "fhir":
        from phm.ingest.fhir import FhirAdapter

        return FhirAdapter()
    from phm.ingest.omop import OmopAdapter

    return OmopAdapter()


def ingested(home: Path) -> set[str]:
    """Content ids of the source files already in the store (for --append)."""
    parts = sorted((tables_dir(home) / LOG).glob("*.parquet"))
    ids: set[str] = set()
    for part in parts:
        table = pq.read_table(part, columns=["content_id"])
        ids.update(str(v) for v in table.column("content_id").to_pylist())
    return ids


def _write_log(home: Path, batch: str, fmt: str, files: list[SourceFile], stage: Stage) -> None:
    rows = [
        {
            "format": fmt,
            "source_file": f.name,
            "content_id": f.content_id,
            "records_read": stage.sources[f.name].records_read if f.name in stage.sources else 0,
        }
        for f in files
    ]
    target = tables_dir(home) / LOG / f"{batch}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [
            ("format", pa.string()),
            ("source_file", pa.string()),
            ("content_id", pa.string()),
            ("records_read", pa.int64()),
        ]
    )
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), target)


def ingest(
    source: Path,
    home: Path,
    key: bytes,
    *,
    format: Format = "canonical",
    mode: Mode | None = None,
    place: Place | None = None,
) -> IngestReport:
    """Validate and load `source` (in `format`) into the store at `home`.

    `mode` None asks for a choice when the store already holds data. `place`
    (needed for synthea, fhir and omop) gives the practices people are
    assigned to where the source names none.
    """
    if format not in FORMATS:
        raise IngestError(f"--format {format!r}: choose one of {', '.join(FORMATS)}")
    if format == "canonical":
        return ingest_canonical(source, home, key, mode)
    if place is None:
        raise IngestError(f"--format {format} needs a place: its practices receive the people")
    started = time.perf_counter()
    if not source.exists():
        raise IngestError(f"{source}: no such file or folder")
    adapter = _adapter(format)
    files, ignored = adapter.discover(source)
    if not files:
        raise IngestError(f"{source}: no {adapter.label} files found")
    mode = resolve_mode(home, mode)
    if mode == "replace":
        clear_store(home)
    done = ingested(home)
    report = IngestReport(source=source, mode=mode, format=format, ignored=ignored)
    rule = PracticeRule(place, key)
    stage = Stage(home)
    loader = Loader(home, key)
    try:
        adapter.stage(files, stage)
        skip = {f.name for f in files if f.content_id in done}
        for f in files:
            report_of = stage.source(f)
            if f.name in skip:
                report_of.status, report_of.message = "skipped", "already ingested (same content)"
        read = [f for f in files if f.name not in skip and stage.source(f).status != "failed"]
        staged = stage.finish(place, rule, skip) if read else []
        salt = f"{format}:{MAPPING_VERSION}:{place.name}:" + ",".join(
            f"{p.code}={p.list_size}" for p in place.practices
        )
        batch = content_id(salt=salt + ":" + ",".join(sorted(f.content_id for f in read)))
        by_table = {s.table: s for s in staged}
        for table in load_order():
            item = by_table.get(table.name)
            if item is None:
                continue
            part = content_id(salt=salt) if table.name == "practice" else batch
            try:
                report.files.append(loader.load(table, LoadSource(item.path, item.display, part)))
            except SourceError as e:
                report.files.append(
                    FileReport(table.name, item.display, status="failed", message=str(e))
                )
        if read:
            if stage.rejects is not None:
                loader.write_rejects(stage.rejects, f"{batch}-{format}")
            _write_log(home, batch, format, read, stage)
        report.reasons = loader.reasons()
        report.sources = list(stage.sources.values())
        report.unmapped = stage.unmapped
        report.notes = stage.notes
    finally:
        loader.close()
        stage.close()
    report.seconds = time.perf_counter() - started
    return report
