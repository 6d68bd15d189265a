"""Load a canonical extract (a folder of <table>.csv / <table>.parquet) into the store.

Every row is validated against the canonical schema. Good rows load; each bad
row is kept in the `rejects` table with its file, line, field and reason, and
a file that cannot be read at all is reported in one line while the rest of
the folder still loads. NHS numbers are checked and stored only as keyed
hashes. Each source file becomes one Parquet part named by its content hash,
so ingesting the same file again adds nothing.

One pass per check: the value checks run once over the file and keep only the
rows that fail (few, in a clean extract); keys, references and the store are
checked with one aggregation or join each; then the good rows are written in
one copy. A Parquet column that already has its canonical type is checked as
it is (`row_errors` in phm.schema.validate).

The Synthea, FHIR and OMOP adapters stage canonical Parquet files that carry
`_source_file` and `_source_line` columns; the loader then names the original
file and record in each reject rather than the staged file.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import ibis
import ibis.expr.types as ir
import pyarrow as pa

from phm.engine import tables_dir
from phm.ingest.pseudonymise import is_valid_nhs_number, keyed_hash
from phm.ingest.report import (
    FileReport,
    IngestError,
    IngestReport,
    Mode,
    SourceError,
)
from phm.schema.canonical import TABLES, Table, load_order, stored_name
from phm.schema.validate import REJECTS_SCHEMA, raw_json, row_errors, typed_value

__all__ = [
    "FileReport",
    "IngestError",
    "IngestReport",
    "LoadSource",
    "Loader",
    "Mode",
    "SourceError",
    "clear_store",
    "discover",
    "ingest_canonical",
    "resolve_mode",
]

SUFFIXES = (".parquet", ".csv", ".csv.gz")
BOOKKEEPING = ("rejects", "ingest_log")
PROVENANCE = ("_source_file", "_source_line")

# DuckDB types that already are a canonical type: checked as they are.
_NATIVE = {
    "string": ("VARCHAR",),
    "date": ("DATE",),
    "datetime": ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"),
    "int": ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"),
    "float": ("DOUBLE", "FLOAT", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "DECIMAL"),
}
_SQL_TYPE = {
    "string": "VARCHAR",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "int": "BIGINT",
    "float": "DOUBLE",
}


@dataclass(frozen=True)
class LoadSource:
    """A file for the loader: where it is, the name reports give it, its stored part.

    `part` names the Parquet part the good rows go to (a content id), so the
    same input is stored once however often it is ingested.
    """

    path: Path
    name: str
    part: str


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


def content_id(*paths: Path, salt: str = "") -> str:
    """A short hash of the files' bytes (and `salt`): the same input, the same id."""
    digest = hashlib.sha256(salt.encode())
    for path in paths:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _check_header(table: Table, columns: list[str], name: str) -> None:
    missing = [c.name for c in table.columns if c.required and c.name not in columns]
    if missing:
        hint = ""
        if len(columns) == 1 and any(sep in columns[0] for sep in ";|\t"):
            hint = " (one column found: is the file comma-separated?)"
        raise SourceError(f"{name}: missing required column(s) {', '.join(missing)}{hint}")


def _text(name: str) -> str:
    return f"NULLIF(TRIM(CAST(\"{name}\" AS VARCHAR)), '')"


def _csv_header(path: Path, name: str) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
            return next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise SourceError(f"{name}: cannot be read as CSV: {e}") from e


@dataclass(frozen=True)
class _Opened:
    """A source as a DuckDB relation of canonical columns plus `_rid`, `_line`, `_file`."""

    relation: str
    typed: frozenset[str]
    malformed: int = 0


@dataclass(frozen=True)
class CsvScan:
    """A CSV read as text into temp table `name` (header names kept, plus `_line`).

    Malformed lines (a wrong number of fields, a broken quote) are left out of
    it and listed in `<name>_bad` (line, error_message, column_idx, csv_line).
    """

    name: str
    columns: list[str]
    malformed: int


def scan_csv(con: duckdb.DuckDBPyConnection, path: Path, display: str, name: str) -> CsvScan:
    """Read every field of a CSV as text, locating each row by its line in the file."""
    columns = [c.strip() for c in _csv_header(path, display)]
    if len(set(c.lower() for c in columns)) != len(columns):
        raise SourceError(f"{display}: the header repeats a column name")
    types = "{" + ", ".join(f"{sql_string(c)}: 'VARCHAR'" for c in columns) + "}"
    options = f"header=true, auto_detect=false, delim=',', quote='\"', escape='\"', columns={types}"
    con.execute(f"DROP TABLE IF EXISTS {name}_bad")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name}_scan AS SELECT *, row_number() OVER () AS _n "
        f"FROM read_csv({sql_string(str(path))}, {options}, store_rejects=true, "
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
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * EXCLUDE (_n), "
        f"CAST({line} AS BIGINT) AS _line FROM {name}_scan"
    )
    con.execute(f"DROP TABLE {name}_scan")
    return CsvScan(name, columns, n_bad)


def _read_csv(con: duckdb.DuckDBPyConnection, table: Table, source: LoadSource) -> _Opened:
    """Load a CSV's rows as strings into a temp table; count its malformed lines."""
    columns = [c.strip() for c in _csv_header(source.path, source.name)]
    _check_header(table, columns, source.name)
    name = f"src_{table.name}"
    scan = scan_csv(con, source.path, source.name, f"{name}_text")
    select = [
        f'{_text(c.name)} AS "{c.name}"' if c.name in columns else f'NULL::VARCHAR AS "{c.name}"'
        for c in table.columns
    ]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {', '.join(select)}, _line, "
        f"_line AS _rid, {sql_string(source.name)} AS _file FROM {scan.name}"
    )
    con.execute(f"DROP TABLE {scan.name}")
    return _Opened(name, frozenset(), scan.malformed)


def _read_parquet(con: duckdb.DuckDBPyConnection, table: Table, source: LoadSource) -> _Opened:
    """A view of a Parquet file: typed columns as they are, others as trimmed text."""
    scan = f"read_parquet({sql_string(str(source.path))}, file_row_number=true)"
    try:
        described = con.execute(
            f"DESCRIBE SELECT * FROM read_parquet({sql_string(str(source.path))})"
        ).fetchall()
    except duckdb.Error as e:
        raise SourceError(
            f"{source.name}: not a readable Parquet file: {str(e).splitlines()[0]}"
        ) from e
    types = {str(row[0]): str(row[1]) for row in described}
    _check_header(table, list(types), source.name)
    select: list[str] = []
    typed: set[str] = set()
    for c in table.columns:
        kind = types.get(c.name)
        if kind is None:
            select.append(f'NULL::{_SQL_TYPE[c.type]} AS "{c.name}"')
            typed.add(c.name)
        elif c.type == "string" and kind == "VARCHAR":
            select.append(f'NULLIF(TRIM("{c.name}"), \'\') AS "{c.name}"')
        elif c.type != "string" and kind.split("(")[0] in _NATIVE[c.type]:
            select.append(f'CAST("{c.name}" AS {_SQL_TYPE[c.type]}) AS "{c.name}"')
            typed.add(c.name)
        else:
            select.append(f'{_text(c.name)} AS "{c.name}"')
    rid = "CAST(file_row_number + 1 AS BIGINT)"
    line = "CAST(_source_line AS BIGINT)" if "_source_line" in types else rid
    file = (
        f"COALESCE(CAST(_source_file AS VARCHAR), {sql_string(source.name)})"
        if "_source_file" in types
        else sql_string(source.name)
    )
    name = f"src_{table.name}"
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {', '.join(select)}, "
        f"{line} AS _line, {rid} AS _rid, {file} AS _file FROM {scan}"
    )
    return _Opened(name, frozenset(typed))


def _malformed_rejects(ib: ibis.BaseBackend, table: Table, source: LoadSource) -> ir.Table:
    """One reject per malformed CSV line, with the first error DuckDB found on it."""
    return ib.sql(
        f'SELECT {sql_string(table.name)} AS "table", {sql_string(source.name)} AS source_file, '
        "CAST(line AS BIGINT) AS line, '' AS field, "
        "'malformed line: ' || arg_min(error_message, column_idx) AS reason, "
        "'row rejected' AS outcome, any_value(csv_line) AS raw "
        f"FROM src_{table.name}_text_bad GROUP BY line"
    )


def _reject_rows(
    rows: ir.Table, table: Table, field: str, reason: ir.Value | str, outcome: str = "row rejected"
) -> ir.Table:
    """Rows (with `_line`, `_file`, `_raw`) as rejects of one field and reason."""
    return rows.select(
        table=ibis.literal(table.name),
        source_file=rows._file,
        line=rows._line,
        field=ibis.literal(field),
        reason=ibis.literal(reason) if isinstance(reason, str) else reason,
        outcome=ibis.literal(outcome),
        raw=rows._raw,
    )


class Loader:
    """One ingest run: a DuckDB session that validates files into the store's tables."""

    def __init__(self, home: Path, key: bytes) -> None:
        self.home, self.key = home, key
        self.reject_parts: list[Path] = []
        scratch = home / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect()
        self.con.execute(f"SET temp_directory = {sql_string(str(scratch))}")
        self.con.execute("SET TimeZone = 'UTC'")
        # Spill to disk rather than grow: an ingest must fit beside other work.
        self.con.execute("SET memory_limit = '2GB'")
        self.con.execute("SET preserve_insertion_order = false")
        self.ib = ibis.duckdb.from_connection(self.con)
        self._temp = 0

    def part_dir(self, table: str) -> Path:
        return tables_dir(self.home) / table

    def stored(self, table: str) -> ir.Table | None:
        parts = sorted(self.part_dir(table).glob("*.parquet"))
        if not parts:
            return None
        return self.ib.read_parquet([str(p) for p in parts])

    def _keep(self, expr: ir.Table) -> ir.Table:
        """Materialise a (small) intermediate result as a temp table."""
        self._temp += 1
        name = f"_step{self._temp}"
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {self.ib.compile(expr)}")
        return self.ib.table(name)

    def _count(self, expr: ir.Table) -> int:
        return int(expr.count().execute())

    def load(self, table: Table, source: LoadSource) -> FileReport:
        """Validate one file into its table's part; a file that cannot be read raises."""
        report = FileReport(table.name, source.name)
        target = self.part_dir(table.name) / f"{source.part}.parquet"
        if target.exists():
            report.status, report.message = "skipped", "already ingested (same content)"
            return report
        reject_target = self.part_dir("rejects") / f"{source.part}-{table.name}.parquet"
        try:
            self._load(table, source, target, reject_target, report)
        except duckdb.Error as e:
            target.unlink(missing_ok=True)
            reject_target.unlink(missing_ok=True)
            raise SourceError(f"{source.name}: cannot be loaded: {str(e).splitlines()[0]}") from e
        finally:
            self._drop_temps()
        return report

    def _drop_temps(self) -> None:
        for i in range(1, self._temp + 1):
            self.con.execute(f"DROP TABLE IF EXISTS _step{i}")
        self._temp = 0

    def _load(
        self,
        table: Table,
        source: LoadSource,
        target: Path,
        reject_target: Path,
        report: FileReport,
    ) -> None:
        if source.path.name.endswith(".parquet"):
            opened = _read_parquet(self.con, table, source)
        else:
            opened = _read_csv(self.con, table, source)
        src = self.ib.table(opened.relation)
        report.rows_read = self._count(src) + opened.malformed
        raw_columns = [c for c in table.stored_names if c in table.column_names]
        rejects: list[ir.Table] = []
        if opened.malformed:
            rejects.append(_malformed_rejects(self.ib, table, source))

        # Values: every check once; keep only the failing rows.
        errors = row_errors(table, src, opened.typed)
        any_error = ibis.literal(False)
        for expr in errors.values():
            any_error = any_error | expr.notnull()
        bad = self._keep(
            src.filter(any_error).select(
                "_rid", "_line", "_file", _raw=raw_json(src, raw_columns), **errors
            )
        )
        for name in errors:
            failed = bad.filter(bad[name].notnull())
            rejects.append(_reject_rows(failed, table, name.removeprefix("_err_"), failed[name]))
        good = src.anti_join(bad, "_rid") if self._count(bad) else src

        pseudonyms = {c.name: self._pseudonyms(good, c.name) for c in table.columns if c.identifier}
        for column, known in pseudonyms.items():
            invalid = known.filter(~known._valid).select(column)
            dropped = good.semi_join(invalid, column).mutate(_raw=ibis.literal(""))
            rejects.append(
                _reject_rows(
                    dropped,
                    table,
                    column,
                    "fails the NHS number check digit; value dropped, row kept",
                    "value dropped",
                )
            )

        excluded: list[ir.Table] = []
        if table.key:
            repeats = self._repeats(table, good, raw_columns)
            excluded.append(repeats.select("_rid"))
            reason = ibis.literal("duplicate key, first seen at line ") + repeats._first.cast(
                "string"
            )
            rejects.append(_reject_rows(repeats, table, ",".join(table.key), reason))
            existing = self.stored(table.name)
            if existing is not None:
                keys = existing.select(*table.key).distinct()
                seen = self._keep(
                    good.semi_join(keys, list(table.key))
                    .anti_join(repeats, "_rid")
                    .select("_rid", "_line", "_file", _raw=ibis.literal(""))
                )
                excluded.append(seen.select("_rid"))
                rejects.append(
                    _reject_rows(
                        seen,
                        table,
                        ",".join(table.key),
                        "key already in the store from an earlier file",
                    )
                )
        for reference in table.references:
            stored_keys = self.stored(reference.table)
            column = good[reference.column]
            unknown = (
                good
                if stored_keys is None
                else good.filter(~column.isin(stored_keys[reference.key]))
            )
            orphans = unknown.select("_rid", "_line", "_file", _raw=raw_json(unknown, raw_columns))
            for earlier in excluded:
                orphans = orphans.anti_join(earlier, "_rid")
            orphans = self._keep(orphans)
            excluded.append(orphans.select("_rid"))
            rejects.append(
                _reject_rows(
                    orphans,
                    table,
                    reference.column,
                    f"{reference.column} not found in the {reference.table} table",
                )
            )

        accepted = good
        for rids in excluded:
            if self._count(rids):
                accepted = accepted.anti_join(rids, "_rid")
        for column, known in pseudonyms.items():
            accepted = accepted.left_join(known, column).select(
                accepted, **{f"_hash_{column}": known._hash}
            )
        values = {
            stored_name(c): accepted[f"_hash_{c.name}"]
            if c.identifier
            else typed_value(c, accepted[c.name], c.name in opened.typed)
            for c in table.columns
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        self.con.execute(
            f"COPY ({self.ib.compile(accepted.select(**values))}) "
            f"TO {sql_string(str(target))} (FORMAT parquet)"
        )
        self._write_rejects(rejects, reject_target)
        report.rows_loaded = int(
            self.con.execute(
                f"SELECT count(*) FROM read_parquet({sql_string(str(target))})"
            ).fetchone()[0]  # type: ignore[index]
        )
        report.rows_rejected = report.rows_read - report.rows_loaded

    def _pseudonyms(self, good: ir.Table, column: str) -> ir.Table:
        """Each distinct identifier with its check-digit result and keyed hash."""
        values = good.filter(good[column].notnull()).select(column).distinct().to_pyarrow()
        raw = values.column(column).to_pylist()
        valid = [is_valid_nhs_number(v) for v in raw]
        hashed = [keyed_hash(v, self.key) if ok else None for v, ok in zip(raw, valid, strict=True)]
        data = pa.table(
            {
                column: pa.array(raw, pa.string()),
                "_valid": pa.array(valid, pa.bool_()),
                "_hash": pa.array(hashed, pa.string()),
            }
        )
        self._temp += 1
        name = f"_step{self._temp}"
        self.con.register(f"{name}_arrow", data)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
        self.con.unregister(f"{name}_arrow")
        return self.ib.table(name)

    def _repeats(self, table: Table, good: ir.Table, raw_columns: list[str]) -> ir.Table:
        """Rows whose key an earlier row of the file already has, with that row's line.

        Only keys that occur more than once are ranked, so a large clean file
        costs one aggregation rather than a sort of every row.
        """
        key = list(table.key)
        counts = good.group_by(key).agg(_n=good.count())
        repeated = good.semi_join(counts.filter(counts._n > 1), key)
        window = ibis.window(
            group_by=[repeated[k] for k in key],
            order_by=[repeated._file, repeated._line, repeated._rid],
        )
        ranked = repeated.mutate(
            _n=ibis.row_number().over(window), _first=repeated._line.first().over(window)
        )
        repeats = ranked.filter(ranked._n > 0)
        return self._keep(
            repeats.select("_rid", "_line", "_file", "_first", _raw=raw_json(repeats, raw_columns))
        )

    def _write_rejects(self, rejects: list[ir.Table], target: Path) -> None:
        combined = ibis.union(
            *(r.select(*REJECTS_SCHEMA.names).cast(REJECTS_SCHEMA) for r in rejects)
        )
        kept = self._keep(combined)
        if self._count(kept):
            target.parent.mkdir(parents=True, exist_ok=True)
            self.con.execute(
                f"COPY (SELECT * FROM ({self.ib.compile(kept)}) ORDER BY line, field) "
                f"TO {sql_string(str(target))} (FORMAT parquet)"
            )
            self.reject_parts.append(target)

    def write_rejects(self, rows: pa.Table, part: str) -> None:
        """Store rejects found before loading (by an adapter) as one rejects part."""
        if not rows.num_rows:
            return
        target = self.part_dir("rejects") / f"{part}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        data = rows.select(REJECTS_SCHEMA.names).cast(REJECTS_SCHEMA.to_pyarrow())
        self.con.register("_adapter_rejects", data)
        self.con.execute(
            "COPY (SELECT * FROM _adapter_rejects ORDER BY source_file, line, field) "
            f"TO {sql_string(str(target))} (FORMAT parquet)"
        )
        self.con.unregister("_adapter_rejects")
        self.reject_parts.append(target)

    def reasons(self) -> Counter[tuple[str, str, str]]:
        """Rejected values of this run by table, field and reason."""
        counts: Counter[tuple[str, str, str]] = Counter()
        if not self.reject_parts:
            return counts
        stored = self.ib.read_parquet([str(p) for p in self.reject_parts])
        grouped = stored.group_by("table", "field", "reason").agg(n=stored.count()).to_pyarrow()
        for row in grouped.to_pylist():
            counts[(str(row["table"]), str(row["field"]), str(row["reason"]))] = int(row["n"])
        return counts

    def close(self) -> None:
        self.con.close()


def store_has_data(home: Path) -> bool:
    return any(tables_dir(home).glob("*/*.parquet"))


def resolve_mode(home: Path, mode: Mode | None) -> Mode:
    """The mode to run in: asks for one when the store already holds data."""
    if mode is None:
        if store_has_data(home):
            raise IngestError(
                f"{home} already holds data: add --replace to start again or --append to add to it"
            )
        return "replace"
    return mode


def clear_store(home: Path) -> None:
    """Empty the canonical tables and the rejects (the start of a --replace ingest)."""
    for name in (*TABLES, *BOOKKEEPING):
        shutil.rmtree(tables_dir(home) / name, ignore_errors=True)


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
    mode = resolve_mode(home, mode)
    if mode == "replace":
        clear_store(home)

    report = IngestReport(source=source, mode=mode, ignored=ignored)
    loader = Loader(home, key)
    try:
        for table in load_order():
            for path in found.get(table.name, []):
                item = LoadSource(path, path.name, content_id(path))
                try:
                    report.files.append(loader.load(table, item))
                except SourceError as e:
                    report.files.append(
                        FileReport(table.name, path.name, status="failed", message=str(e))
                    )
        report.reasons = loader.reasons()
    finally:
        loader.close()
    report.seconds = time.perf_counter() - started
    return report
