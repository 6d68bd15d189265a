"""Write any table of the store to a CSV or Parquet file, streaming in batches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from phm.engine import Store

# The person table an analyst asks for by its everyday name.
ALIASES = {"person": "person_table"}


class ExportError(ValueError):
    """The export cannot be written as asked."""


@dataclass(frozen=True)
class Exported:
    table: str
    rows: int


def resolve(store: Store, name: str) -> str:
    """`person` means the derived person table once `phm run` has built it."""
    alias = ALIASES.get(name)
    return alias if alias and store.has(alias) else name


def export_table(store: Store, name: str, out_file: Path) -> Exported:
    suffix = out_file.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ExportError(f"{out_file}: give a .csv or .parquet file name")
    table_name = resolve(store, name)
    expr = store.table(table_name)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    batches = expr.to_pyarrow_batches()
    rows = 0
    if suffix == ".parquet":
        with pq.ParquetWriter(out_file, batches.schema) as parquet:
            for batch in batches:
                parquet.write_batch(batch)
                rows += batch.num_rows
    else:
        with pacsv.CSVWriter(out_file, batches.schema) as csv:
            for batch in batches:
                csv.write_batch(batch)
                rows += batch.num_rows
    return Exported(table_name, rows)


__all__ = ["ExportError", "Exported", "export_table"]
