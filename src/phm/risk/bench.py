"""Time training and scoring of the risk model on a store (for benchmarks/RESULTS.md)."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

from phm.engine import Store
from phm.risk.score import score
from phm.risk.train import train


def _truth_beside(store: Store) -> Path | None:
    """The synthetic truth that `phm demo` leaves in the data folder, if any."""
    folder = store.home / "synthetic-extract" / "truth"
    return folder if (folder / "emergency_admission.parquet").exists() else None


def benchmark(
    store: Store,
    *,
    index_date: dt.date | None = None,
    truth: Path | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train and score once on the store; return the timings and the model's figures.

    The index date defaults to that of the store's person table, and the truth
    to the one `phm demo` wrote beside the store.
    """
    if index_date is None:
        day = store.table("person_table").index_date.max().execute()
        index_date = day.date() if isinstance(day, dt.datetime) else day
    assert index_date is not None
    truth = truth or _truth_beside(store)
    started = time.perf_counter()
    model = train(store, index_date=index_date, truth=truth, seed=seed)
    trained = time.perf_counter()
    scored = score(store).to_pyarrow()
    finished = time.perf_counter()
    e = model.evaluation
    assert e is not None
    return {
        "engine": store.engine,
        "cores": os.cpu_count(),
        "index_date": index_date.isoformat(),
        "version": model.version,
        "training_rows": model.training_rows + model.calibration_rows,
        "evaluation": e.design,
        "evaluation_rows": e.rows,
        "scored_rows": scored.num_rows,
        "train_seconds": round(trained - started, 1),
        "score_seconds": round(finished - trained, 1),
        "auc_model": round(e.model_auc.auc, 4),
        "auc_baseline": round(e.baseline_auc.auc, 4),
        "auc_true_risk": round(e.true_risk_auc.auc, 4) if e.true_risk_auc else None,
        "calibration_slope": round(e.calibration.slope, 3),
        "calibration_intercept": round(e.calibration.intercept, 3),
    }
