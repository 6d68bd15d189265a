"""Shared fixtures: every spec test runs on DuckDB and on PySpark."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import ibis
import ibis.expr.types as ir
import pytest


def _java() -> bool:
    return shutil.which("java") is not None


@pytest.fixture(scope="session")
def spark_backend() -> Iterator[Any]:
    if not _java():
        pytest.skip("PySpark needs Java 17+, and no `java` is on PATH")
    pytest.importorskip("pyspark", reason="PySpark is not installed: pip install 'phm[spark]'")
    from phm.engine import spark_session

    session = spark_session(partitions=2)
    yield ibis.pyspark.connect(session)


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def backend(request: pytest.FixtureRequest) -> Any:
    """An Ibis backend: DuckDB in memory, or the session's local Spark."""
    if request.param == "duckdb":
        return ibis.duckdb.connect()
    return request.getfixturevalue("spark_backend")


def rows(backend: Any, expr: ir.Table, order_by: str | list[str]) -> list[dict[str, Any]]:
    """Execute on the backend and return plain dicts in a stable order."""
    frame = backend.execute(expr.order_by(order_by))
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{k: _plain(v) for k, v in r.items()} for r in records]


def _plain(value: Any) -> Any:
    if hasattr(value, "date") and hasattr(value, "hour") and value.hour == 0 and value.minute == 0:
        return value.date()
    if hasattr(value, "item"):
        return value.item()
    return value
