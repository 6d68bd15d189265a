"""Score the store's person table with a trained risk model: score, tier and explanation.

Tiers follow the King's Fund / Combined Predictive Model risk pyramid used in
NHS case finding (shared/reference/clinical-definitions.md §8): very high =
the top 0.5% of scores in this population, high = 0.5–5%, moderate = 5–20%,
low = the rest. Tiers are by rank, ties broken by person_id, so the shares are
exact.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from phm.engine import Store, canonical_table
from phm.risk.explain import contributions, explanations
from phm.risk.features import DERIVED, FEATURES, feature_frame, source_columns
from phm.risk.history import with_history
from phm.risk.metrics import top_count
from phm.risk.model import RiskError, TrainedModel, load

TIERS = (("very high", 0.005), ("high", 0.05), ("moderate", 0.20))
LOW = "low"


def check_columns(model: TrainedModel, table: ir.Table) -> None:
    """Refuse a person table whose columns do not match the model's features.

    Missing: a column the model's features are read from. Extra: a column that
    the current feature definitions read (`phm.risk.features.FEATURES`, e.g. a
    condition added to the registry since) but the model was not trained
    with. Changed: a feature column that is no longer a number or flag. Other
    columns (identifiers, segments, risk scores) are never features.
    """
    schema = table.schema()
    needed = model.source_columns
    missing = [c for c in needed if c not in schema]
    extra = [c for c in source_columns(FEATURES) if c in schema and c not in needed]
    direct = [f for f in model.features if f not in DERIVED and f in schema]
    changed = [f for f in direct if not (schema[f].is_numeric() or schema[f].is_boolean())]
    if missing or extra or changed:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} the model needs: {', '.join(missing)}")
        if extra:
            parts.append(
                f"{len(extra)} feature column(s) the model was not trained with: {', '.join(extra)}"
            )
        if changed:
            parts.append(f"no longer numbers or flags: {', '.join(changed)}")
        raise RiskError(
            f"the person table's columns do not match risk model {model.version} ("
            + "; ".join(parts)
            + "). Rebuild the person table (phm run) or train a new model (phm risk train)."
        )


def risk_tiers(score: npt.NDArray[np.float64]) -> npt.NDArray[np.str_]:
    """The tier of each score by its rank in this population (ties: earlier row ranks higher)."""
    n = len(score)
    order = np.argsort(-score, kind="stable")
    tiers = np.full(n, LOW, dtype=object)
    start = 0
    for name, share in TIERS:
        end = min(n, top_count(n, share)) if n else 0
        tiers[order[start:end]] = name
        start = max(start, end)
    return np.asarray(tiers.astype(str))


def _index_date(table: ir.Table) -> dt.date:
    if "index_date" not in table.columns:
        raise RiskError("the person table has no index_date column: rebuild it (phm run)")
    days = table.select("index_date").distinct().to_pyarrow().column(0).to_pylist()
    if len(days) != 1:
        raise RiskError(f"the person table must have one index date to score, not {len(days)}")
    day = days[0]
    return day.date() if isinstance(day, dt.datetime) else day


def score(store: Store, model_dir: Path | None = None, table: ir.Table | None = None) -> ir.Table:
    """Score every person of the store's person table (or of `table`, a person table).

    Returns (person_id, risk_score, risk_tier, risk_explanation, model_version),
    one row per person, ordered by person_id: an in-memory Ibis table to join to
    the person table on person_id. The same model and data give identical rows.
    """
    model = load(store.home, model_dir)
    table = store.table("person_table") if table is None else table
    index_date = _index_date(table)
    table = with_history(table, canonical_table(store, "encounter"), index_date)
    check_columns(model, table)
    frame = feature_frame(table, model.features)
    predicted = model.predict(frame)
    contribution = contributions(frame, predicted, model.predict_matrix, model.typical)
    result = pa.table(
        {
            "person_id": pa.array(frame.index.to_numpy(str), pa.string()),
            "risk_score": pa.array(predicted, pa.float64()),
            "risk_tier": pa.array(risk_tiers(predicted), pa.string()),
            "risk_explanation": pa.array(explanations(frame, contribution), pa.string()),
            "model_version": pa.array([model.version] * len(frame), pa.string()),
        }
    )
    return ibis.memtable(result)
