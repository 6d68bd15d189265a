"""The same pipeline on DuckDB and on PySpark gives identical results."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from phm.config import load_place
from phm.engine import StoreError, connect, opened
from phm.ingest.canonical import ingest_canonical
from phm.pipeline import latest_date, run
from phm.synth import generate
from tests.ingest.test_canonical import EVENTS, PERSON, PRACTICE, write


@pytest.fixture
def home(tmp_path: Path) -> Path:
    source = write(
        tmp_path / "extract", practice__csv=PRACTICE, person__csv=PERSON, clinical_event__csv=EVENTS
    )
    ingest_canonical(source, tmp_path / "home", b"k")
    return tmp_path / "home"


def person_table(home: Path, engine: str) -> pd.DataFrame:
    store = connect(home, engine)  # type: ignore[arg-type]
    try:
        run(store, dt.date(2026, 3, 31))
        frame = store.table("person_table").execute()
    finally:
        store.close()
    frame = frame.sort_values("person_id").reset_index(drop=True)
    return frame.astype(object).where(frame.notna(), None)


@pytest.fixture(scope="module")
def synthetic_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic Southwark, ingested: every measure has people to count."""
    root = tmp_path_factory.mktemp("synthetic")
    generate(root / "extract", place=load_place(), persons=1500, seed=7)
    ingest_canonical(root / "extract", root / "home", b"k")
    return root / "home"


def test_default_index_date_is_the_latest_date_in_the_data(home: Path) -> None:
    with opened(home) as store:
        assert latest_date(store) == dt.date(2025, 4, 1)
        summary = run(store)
        assert summary.index_date == dt.date(2025, 4, 1)
        assert store.table("run_log").count().execute() == 1


def test_a_missing_table_names_the_tables_there_are(tmp_path: Path) -> None:
    with opened(tmp_path) as store, pytest.raises(StoreError, match="none yet: run `phm ingest`"):
        store.table("person")


@pytest.mark.spark
def test_duckdb_and_spark_agree(home: Path, spark_backend: object) -> None:
    duck = person_table(home, "duckdb")
    spark = person_table(home, "spark")
    assert len(duck) == 2
    pd.testing.assert_frame_equal(duck, spark, check_dtype=False)


@pytest.mark.spark
def test_duckdb_and_spark_agree_on_the_whole_person_table(
    synthetic_home: Path, spark_backend: object
) -> None:
    duck = person_table(synthetic_home, "duckdb")
    spark = person_table(synthetic_home, "spark")
    assert len(duck) == 1500 and duck["ltc_3plus"].any() and duck["recent_discharge"].any()
    pd.testing.assert_frame_equal(duck, spark, check_dtype=False, check_exact=False, rtol=1e-9)
