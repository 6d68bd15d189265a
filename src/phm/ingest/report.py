"""What an ingest did: rows read per source file, loaded per table, rejected per reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Mode = Literal["replace", "append"]
Format = Literal["canonical", "synthea", "fhir", "omop"]
FORMATS: tuple[Format, ...] = ("canonical", "synthea", "fhir", "omop")


class IngestError(ValueError):
    """The ingest as a whole cannot go ahead (nothing to load, or no mode chosen)."""


class SourceError(ValueError):
    """One source file cannot be read; the rest of the folder still loads."""


@dataclass
class FileReport:
    """One canonical table loaded from one source file."""

    table: str
    source_file: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    status: str = "loaded"  # loaded | skipped (already ingested) | failed
    message: str = ""


@dataclass
class SourceReport:
    """One file of a Synthea, FHIR or OMOP source, as its adapter read it.

    `records_read` counts the source's own records (CSV rows, FHIR resources,
    OMOP rows); `records_rejected` those the adapter could not turn into
    canonical rows (unparseable, unmapped code, no date, ...), each kept in
    the rejects table with its reason.
    """

    source_file: str
    kind: str
    records_read: int = 0
    records_rejected: int = 0
    status: str = "read"  # read | skipped (already ingested) | failed
    message: str = ""


@dataclass
class IngestReport:
    source: Path
    mode: Mode
    format: Format = "canonical"
    files: list[FileReport] = field(default_factory=list)
    sources: list[SourceReport] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    reasons: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    unmapped: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[FileReport | SourceReport]:
        """Files that could not be read at all, each with its one-line message."""
        failed: list[FileReport | SourceReport] = [s for s in self.sources if s.status == "failed"]
        return failed + [f for f in self.files if f.status == "failed"]

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files) + sum(
            s.records_rejected for s in self.sources
        )

    @property
    def rows_loaded(self) -> dict[str, int]:
        """Rows loaded per canonical table."""
        loaded: Counter[str] = Counter()
        for f in self.files:
            loaded[f.table] += f.rows_loaded
        return dict(loaded)

    def lines(self, top_unmapped: int = 20) -> list[str]:
        """The report as plain lines, for logs and for a CLI to print after its tables."""
        out = [f"Ingest of {self.source} ({self.format}, {self.mode}) in {self.seconds:.1f}s"]
        for s in self.sources:
            note = f": {s.message}" if s.message else ""
            out.append(
                f"  read {s.source_file} ({s.kind}): {s.records_read:,} records, "
                f"{s.records_rejected:,} not loadable, {s.status}{note}"
            )
        for table, n in self.rows_loaded.items():
            out.append(f"  loaded {table}: {n:,} rows")
        for (table, fld, why), n in sorted(self.reasons.items()):
            out.append(f"  rejected {table}.{fld or '-'}: {why}: {n:,}")
        if self.unmapped:
            total = sum(self.unmapped.values())
            out.append(f"  codes unmapped: {len(self.unmapped):,} codes in {total:,} records")
            for (system, code, display), n in self.unmapped.most_common(top_unmapped):
                out.append(f"    {system} {code} {display}: {n:,}")
        out.extend(f"  note: {note}" for note in self.notes)
        return out
