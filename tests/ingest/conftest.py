"""Shared pieces of the ingest tests: the place, and reading what the store holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from phm.config.place import Place, load_place

KEY = b"test-key"


@pytest.fixture(scope="session")
def place() -> Place:
    return load_place("southwark")


def table_rows(
    home: Path, table: str, columns: str = "*", where: str = "true"
) -> list[tuple[Any, ...]]:
    """Rows of one stored table, sorted (empty when the table has no parts)."""
    parts = sorted((home / "store" / "tables" / table).glob("*.parquet"))
    if not parts:
        return []
    files = ", ".join(f"'{p}'" for p in parts)
    return duckdb.sql(
        f"SELECT {columns} FROM read_parquet([{files}]) WHERE {where} ORDER BY ALL"
    ).fetchall()


def rejects(home: Path) -> list[tuple[Any, ...]]:
    """(table, source_file, line, field, reason) of every stored reject."""
    return table_rows(home, "rejects", '"table", source_file, line, field, reason')
