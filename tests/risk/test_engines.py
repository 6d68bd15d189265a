"""The features, history included, are the same on DuckDB and on PySpark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from phm.engine import opened, tables_dir
from phm.risk.features import feature_frame
from phm.risk.history import with_history
from tests.risk.conftest import INDEX, Trained


@pytest.mark.spark
def test_features_agree_on_duckdb_and_spark(
    trained: Trained, spark_backend: Any, tmp_path: Path
) -> None:
    with opened(trained.home) as store:
        table = store.table("person_table")
        duck = feature_frame(with_history(table, store.table("encounter"), INDEX))
        table.to_parquet(tmp_path / "person_table.parquet")
    encounter = spark_backend.read_parquet(str(tables_dir(trained.home) / "encounter"))
    person_table = spark_backend.read_parquet(str(tmp_path / "person_table.parquet"))
    spark = feature_frame(with_history(person_table, encounter, INDEX))
    pd.testing.assert_frame_equal(duck, spark)
