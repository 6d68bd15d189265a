"""The store and the engine that reads it.

The data folder (PHM_HOME) holds the canonical tables, the rejects and the
ingest log as Parquet (store/tables/<table>/<part>.parquet, one part per
source file), and the derived tables the pipeline makes. DuckDB, the embedded
default, keeps derived tables in one file (phm.duckdb); PySpark
(`--engine spark`) reads the same Parquet and writes derived tables as Parquet
under store/spark/. Every transform is an
Ibis expression over `Store.table(...)`, so it runs unchanged on either.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from phm.config.settings import Engine


class StoreError(RuntimeError):
    """The store is missing something a command needs."""


def rows_table(rows: list[dict[str, Any]], schema: Mapping[str, str]) -> ir.Table:
    """A small in-memory table with an exact schema, empty or not, on any engine."""
    arrow = pa.Table.from_pylist(rows, schema=ibis.schema(schema).to_pyarrow())
    return ibis.memtable(arrow)


def tables_dir(home: Path) -> Path:
    """Where ingest writes the canonical tables (one folder of Parquet parts each)."""
    return home / "store" / "tables"


@dataclass
class Store:
    """A data folder opened by one engine."""

    home: Path
    engine: Engine
    con: Any  # ibis.backends.duckdb.Backend | ibis.backends.pyspark.Backend

    @property
    def derived_dir(self) -> Path:
        return self.home / "store" / "spark"

    def _parts(self, name: str) -> list[Path]:
        return sorted((tables_dir(self.home) / name).glob("*.parquet"))

    def _derived(self, name: str) -> bool:
        if self.engine == "spark":
            return (self.derived_dir / name).is_dir()
        return name in self.con.list_tables()

    def has(self, name: str) -> bool:
        return bool(self._parts(name)) or self._derived(name)

    def table(self, name: str) -> ir.Table:
        """A canonical or derived table, as an Ibis table on this engine."""
        parts = self._parts(name)
        if parts:
            return self._read_parquet(name, parts, tables_dir(self.home) / name)
        if self._derived(name):
            if self.engine == "spark":
                return self._read_parquet(name, [], self.derived_dir / name)
            return self.con.table(name)
        known = ", ".join(self.names()) or "none yet: run `phm ingest` or `phm demo`"
        raise StoreError(f"no table {name!r} in {self.home} (tables: {known})")

    def names(self) -> list[str]:
        names = {p.name for p in tables_dir(self.home).glob("*") if self._parts(p.name)}
        if self.engine == "spark":
            names |= {p.name for p in self.derived_dir.glob("*") if p.is_dir()}
        else:
            names |= set(self.con.list_tables())
        return sorted(names)

    def write(self, name: str, data: ir.Table | pa.Table) -> ir.Table:
        """Materialise a derived table (replacing any earlier one) and return it."""
        if self.engine == "duckdb":
            self.con.create_table(name, data, overwrite=True)
            return self.con.table(name)
        target = self.derived_dir / name
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        expr = data if isinstance(data, ir.Table) else ibis.memtable(data)
        self.con.to_parquet(expr, str(target))
        return self._read_parquet(name, [], target)

    def _read_parquet(self, name: str, parts: list[Path], folder: Path) -> ir.Table:
        """DuckDB reads the list of parts; Spark reads the folder that holds them."""
        if self.engine == "duckdb":
            return self.con.read_parquet([str(p) for p in parts], table_name=f"_{name}_parquet")
        return self.con.read_parquet(str(folder), table_name=f"_{name}_parquet")

    def close(self) -> None:
        if self.engine == "duckdb":
            self.con.disconnect()


def canonical_table(store: Store, name: str) -> ir.Table:
    """A canonical table, or an empty one of the same shape where the extract had none."""
    from phm.schema.canonical import TABLES, stored_schema

    if store.has(name) or name in ("person", "practice"):
        return store.table(name)
    return rows_table([], stored_schema(TABLES[name]))


def spark_session(partitions: int = 4) -> Any:
    """A local Spark session for this machine: loopback only, Arrow on, few partitions."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(f"local[{os.cpu_count() or 2}]")
        .appName("phm")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.shuffle.partitions", str(partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )


def connect(home: Path, engine: Engine = "duckdb") -> Store:
    """Open the data folder with the chosen engine."""
    home.mkdir(parents=True, exist_ok=True)
    if engine == "duckdb":
        con = ibis.duckdb.connect(str(home / "phm.duckdb"))
        con.raw_sql("SET TimeZone = 'UTC'")
    elif engine == "spark":
        try:
            import pyspark  # noqa: F401
        except ImportError as e:
            raise StoreError(
                "the spark engine needs PySpark: pip install 'phm[spark]' (and Java 17+)"
            ) from e
        con = ibis.pyspark.connect(spark_session())
    else:
        raise StoreError(f"unknown engine {engine!r}: choose duckdb or spark")
    return Store(home=home, engine=engine, con=con)


@contextmanager
def opened(home: Path, engine: Engine = "duckdb") -> Iterator[Store]:
    store = connect(home, engine)
    try:
        yield store
    finally:
        store.close()
