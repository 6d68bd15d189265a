"""Load a canonical extract (a folder of <table>.csv / <table>.parquet) into the store.

Every row is validated against the canonical schema. Good rows load; each bad
row is kept in the `rejects` table with its file, line, field and reason, and
a file that cannot be read at all is reported in one line while the rest of
the folder still loads. NHS numbers are checked and stored only as keyed
hashes. Each source file becomes one Parquet part named by its content hash,
so ingesting the same file again adds nothing.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb
import ibis
import ibis.expr.types as ir

from phm.engine import rows_table, tables_dir
from phm.ingest.pseudonymise import is_valid_nhs_number, keyed_hash
from phm.schema.canonical import TABLES, Table, load_order, stored_name
from phm.schema.validate import (
    REJECTS_SCHEMA,
    Checked,
    duplicate_keys,
    unknown_references,
    validate,
)

Mode = Literal["replace", "append"]
SUFFIXES = (".parquet", ".csv", ".csv.gz")
BOOKKEEPING = ("rejects",)


class IngestError(ValueError):
    """The ingest as a whole cannot go ahead (nothing to load, or no mode chosen)."""


class SourceError(ValueError):
    """One source file cannot be read; the rest of the folder still loads."""


@dataclass
class FileReport:
    table: str
    source_file: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    status: str = "loaded"  # loaded | skipped (already ingested) | failed
    message: str = ""


@dataclass
class IngestReport:
    source: Path
    mode: Mode
    files: list[FileReport] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    reasons: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)


def _table_and_suffix(path: Path) -> tuple[str, str] | None:
    for suffix in SUFFIXES:
        if path.name.endswith(suffix):
            return path.name.removesuffix(suffix), suffix
    return None


def discover(source: Path) -> tuple[dict[str, list[Path]], list[str]]:
    """The canonical files in a folder (or one file), and the names it ignores."""
    paths = sorted(source.iterdir()) if source.is_dir() else [source]
    found: dict[str, list[Path]] = {}
    ignored: list[str] = []
    for path in paths:
        parsed = _table_and_suffix(path) if path.is_file() else None
        if parsed and parsed[0] in TABLES:
            found.setdefault(parsed[0], []).append(path)
        elif not path.name.startswith(".") and path.is_file():
            ignored.append(path.name)
    return found, ignored


def _content_id(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _check_header(table: Table, columns: list[str], path: Path) -> None:
    missing = [c.name for c in table.columns if c.required and c.name not in columns]
    if missing:
        hint = ""
        if len(columns) == 1 and any(sep in columns[0] for sep in ";|\t"):
            hint = " (one column found: is the file comma-separated?)"
        raise SourceError(f"{path.name}: missing required column(s) {', '.join(missing)}{hint}")


def _select_list(table: Table, columns: list[str]) -> str:
    parts = []
    for c in table.columns:
        if c.name in columns:
            parts.append(f'NULLIF(TRIM(CAST("{c.name}" AS VARCHAR)), \'\') AS "{c.name}"')
        else:
            parts.append(f'CAST(NULL AS VARCHAR) AS "{c.name}"')
    return ", ".join(parts)


def _csv_header(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
            return next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise SourceError(f"{path.name}: cannot be read as CSV: {e}") from e


def _read_csv(con: duckdb.DuckDBPyConnection, table: Table, path: Path, name: str) -> int:
    """Load a CSV's rows as strings into temp table `name`; return malformed-line count."""
    columns = [c.strip() for c in _csv_header(path)]
    _check_header(table, columns, path)
    if len(set(columns)) != len(columns):
        raise SourceError(f"{path.name}: the header repeats a column name")
    types = "{" + ", ".join(f"{_sql_string(c)}: 'VARCHAR'" for c in columns) + "}"
    options = f"header=true, auto_detect=false, delim=',', quote='\"', escape='\"', columns={types}"
    con.execute(f"DROP TABLE IF EXISTS {name}_bad")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name}_scan AS SELECT *, row_number() OVER () AS _n "
        f"FROM read_csv({_sql_string(str(path))}, {options}, store_rejects=true, "
        f"rejects_table='{name}_bad', rejects_scan='{name}_bad_scan')"
    )
    bad = con.execute(f"SELECT count(DISTINCT line) FROM {name}_bad").fetchone()
    n_bad = int(bad[0]) if bad else 0
    # Rows skipped as malformed shift the line numbers of the rows after them.
    line = "_n + 1"
    if n_bad:
        line = (
            "_n + 1 + (SELECT count(*) FROM (SELECT line, row_number() OVER (ORDER BY line) AS j "
            f"FROM (SELECT DISTINCT line FROM {name}_bad)) b WHERE b.line - b.j - 1 < _n)"
        )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {_select_list(table, columns)}, "
        f"CAST({line} AS BIGINT) AS _line FROM {name}_scan"
    )
    con.execute(f"DROP TABLE {name}_scan")
    return n_bad


def _read_parquet(con: duckdb.DuckDBPyConnection, table: Table, path: Path, name: str) -> None:
    try:
        columns = con.sql(f"SELECT * FROM read_parquet({_sql_string(str(path))}) LIMIT 0").columns
    except duckdb.Error as e:
        raise SourceError(
            f"{path.name}: not a readable Parquet file: {str(e).splitlines()[0]}"
        ) from e
    _check_header(table, columns, path)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {_select_list(table, columns)}, "
        f"CAST(file_row_number + 1 AS BIGINT) AS _line "
        f"FROM read_parquet({_sql_string(str(path))}, file_row_number=true)"
    )
    try:
        con.execute(f"SELECT count(*) FROM {name}").fetchone()
    except duckdb.Error as e:
        raise SourceError(
            f"{path.name}: not a readable Parquet file: {str(e).splitlines()[0]}"
        ) from e


def _malformed_rejects(
    con: duckdb.DuckDBPyConnection, table: Table, path: Path, name: str
) -> ir.Table:
    """One reject per malformed CSV line, with the first error DuckDB found on it."""
    return ibis.duckdb.from_connection(con).sql(
        f'SELECT {_sql_string(table.name)} AS "table", {_sql_string(path.name)} AS source_file, '
        "CAST(line AS BIGINT) AS line, '' AS field, "
        "'malformed line: ' || arg_min(error_message, column_idx) AS reason, "
        "'row rejected' AS outcome, any_value(csv_line) AS raw "
        f"FROM {name}_bad GROUP BY line"
    )


def _pseudonymise(checked: Checked, key: bytes, table: Table, path: Path) -> Checked:
    """Replace each identifier by its keyed hash; drop (and report) ones that fail their check."""

    @ibis.udf.scalar.python
    def nhs_valid(value: str) -> bool:
        return value is None or is_valid_nhs_number(value)

    @ibis.udf.scalar.python
    def pseudonym(value: str) -> str:
        return None if value is None else keyed_hash(value, key)

    accepted, rejects = checked.accepted, [checked.rejects]
    for column in (c for c in table.columns if c.identifier):
        value = accepted[column.name]
        valid = nhs_valid(value)
        bad = accepted.filter(~valid)
        rejects.append(
            bad.select(
                table=ibis.literal(table.name),
                source_file=ibis.literal(path.name),
                line=bad._line,
                field=ibis.literal(column.name),
                reason=ibis.literal("fails the NHS number check digit; value dropped, row kept"),
                outcome=ibis.literal("value dropped"),
                raw=ibis.literal(""),
            )
        )
        accepted = accepted.mutate(
            **{stored_name(column): ibis.ifelse(valid, pseudonym(value), ibis.null("string"))}
        ).drop(column.name)
    return Checked(accepted, ibis.union(*rejects))


class _Loader:
    """One ingest run: a DuckDB session that validates files into the store's tables."""

    def __init__(self, home: Path, key: bytes) -> None:
        self.home, self.key = home, key
        self.reject_parts: list[Path] = []
        scratch = home / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect()
        self.con.execute(f"SET temp_directory = {_sql_string(str(scratch))}")
        self.con.execute("SET TimeZone = 'UTC'")
        # Spill to disk rather than grow: an ingest must fit beside other work.
        self.con.execute("SET memory_limit = '2GB'")
        self.ib = ibis.duckdb.from_connection(self.con)

    def part_dir(self, table: str) -> Path:
        return tables_dir(self.home) / table

    def stored(self, table: str) -> ir.Table | None:
        parts = sorted(self.part_dir(table).glob("*.parquet"))
        if not parts:
            return None
        return self.ib.read_parquet([str(p) for p in parts])

    def load(self, table: Table, path: Path) -> FileReport:
        report = FileReport(table.name, path.name)
        part = _content_id(path)
        target = self.part_dir(table.name) / f"{part}.parquet"
        if target.exists():
            report.status, report.message = "skipped", "already ingested (same content)"
            return report
        name = f"src_{table.name}"
        n_bad = 0
        if path.name.endswith(".parquet"):
            _read_parquet(self.con, table, path, name)
        else:
            n_bad = _read_csv(self.con, table, path, name)
        source = self.ib.table(name)
        report.rows_read = int(source.count().execute()) + n_bad

        raw_columns = [c for c in table.stored_names if c in table.column_names]
        step = validate(table, source, path.name, raw_columns)
        rejects: list[ir.Table] = []
        if n_bad:
            rejects.append(_malformed_rejects(self.con, table, path, name))
        step = _pseudonymise(step, self.key, table, path)
        rejects.append(step.rejects)
        step = duplicate_keys(table, step.accepted, path.name, raw_columns)
        rejects.append(step.rejects)
        accepted = step.accepted
        existing = self.stored(table.name) if table.key else None
        if existing is not None:
            step = _already_stored(table, accepted, existing, path.name)
            rejects.append(step.rejects)
            accepted = step.accepted
        for reference in table.references:
            keys = self.stored(reference.table)
            if keys is None:
                keys = rows_table([], {reference.key: "string"})
            step = unknown_references(table, reference, accepted, keys, path.name, raw_columns)
            rejects.append(step.rejects)
            accepted = step.accepted

        self._write_rejects(rejects, part, table.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.ib.to_parquet(accepted.select(*table.stored_names), str(target))
        report.rows_loaded = int(self.ib.read_parquet(str(target)).count().execute())
        report.rows_rejected = report.rows_read - report.rows_loaded
        return report

    def _write_rejects(self, rejects: list[ir.Table], part: str, table: str) -> None:
        combined = ibis.union(
            *(r.select(*REJECTS_SCHEMA.names).cast(REJECTS_SCHEMA) for r in rejects)
        )
        self.con.execute("DROP TABLE IF EXISTS _rejects")
        self.ib.create_table("_rejects", combined, temp=True)
        if self.ib.table("_rejects").count().execute():
            target = self.part_dir("rejects") / f"{part}-{table}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            self.con.execute(
                f"COPY (SELECT * FROM _rejects ORDER BY line, field) TO {_sql_string(str(target))} "
                "(FORMAT parquet)"
            )
            self.reject_parts.append(target)

    def reasons(self) -> Counter[tuple[str, str, str]]:
        """Rejected values of this run by table, field and reason."""
        counts: Counter[tuple[str, str, str]] = Counter()
        if not self.reject_parts:
            return counts
        stored = self.ib.read_parquet([str(p) for p in self.reject_parts])
        grouped = stored.group_by("table", "field", "reason").agg(n=stored.count()).execute()
        for row in grouped.itertuples(index=False):
            counts[(str(row.table), str(row.field), str(row.reason))] = int(row.n)
        return counts

    def close(self) -> None:
        self.con.close()


def _already_stored(
    table: Table, accepted: ir.Table, existing: ir.Table, source_file: str
) -> Checked:
    keys = existing.select(*table.key).distinct()
    marked = accepted.left_join(keys.mutate(_seen=ibis.literal(True)), list(table.key)).select(
        accepted, "_seen"
    )
    repeats = marked.filter(marked._seen.notnull())
    rejects = repeats.select(
        table=ibis.literal(table.name),
        source_file=ibis.literal(source_file),
        line=repeats._line,
        field=ibis.literal(",".join(table.key)),
        reason=ibis.literal("key already in the store from an earlier file"),
        outcome=ibis.literal("row rejected"),
        raw=ibis.literal(""),
    )
    return Checked(marked.filter(marked._seen.isnull()).drop("_seen"), rejects)


def store_has_data(home: Path) -> bool:
    return any(tables_dir(home).glob("*/*.parquet"))


def ingest_canonical(
    source: Path, home: Path, key: bytes, mode: Mode | None = None
) -> IngestReport:
    """Validate and load every canonical file in `source` into the store at `home`."""
    started = time.perf_counter()
    if not source.exists():
        raise IngestError(f"{source}: no such file or folder")
    found, ignored = discover(source)
    if not found:
        expected = ", ".join(f"{t}.csv" for t in TABLES)
        raise IngestError(
            f"{source}: no canonical files found (expected some of {expected}, or .parquet)"
        )
    if mode is None:
        if store_has_data(home):
            raise IngestError(
                f"{home} already holds data: add --replace to start again or --append to add to it"
            )
        mode = "replace"
    if mode == "replace":
        for name in (*TABLES, *BOOKKEEPING):
            shutil.rmtree(tables_dir(home) / name, ignore_errors=True)

    report = IngestReport(source=source, mode=mode, ignored=ignored)
    loader = _Loader(home, key)
    try:
        for table in load_order():
            for path in found.get(table.name, []):
                try:
                    report.files.append(loader.load(table, path))
                except SourceError as e:
                    report.files.append(
                        FileReport(table.name, path.name, status="failed", message=str(e))
                    )
        report.reasons = loader.reasons()
    finally:
        loader.close()
    report.seconds = time.perf_counter() - started
    return report
