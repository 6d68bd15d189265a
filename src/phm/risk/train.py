"""Train the emergency admission risk model with a temporal design, and judge it.

Design (as QAdmissions and the Combined Predictive Model are derived: features
at one date, outcome in the 12 months after; Hippisley-Cox & Coupland, BMJ
Open 2013;3:e003482; King's Fund 2006):

- Training rows: everyone registered at F = index_date - 365 days, with the
  person table built at F from records up to F only, and the outcome (an
  emergency admission in (F, index_date]) from the store's encounter table.
  People who left the list before the end of that window (not by death) are
  dropped: their year of follow-up is incomplete.
- The main model is scikit-learn's HistGradientBoostingClassifier, fitted on
  80% of the training rows (stratified, seeded) and calibrated by Platt
  scaling on the other 20%. The baseline is a logistic regression on prior
  emergency admissions and age only.
- Evaluation is never on rows the model was fitted on: with `truth` (the
  synthetic generator's truth file), the model is scored on the person table
  at index_date and judged against the true outcome of the 12 months after
  it, beside the AUC of the true risk itself (the ceiling); without truth, the
  same recipe is trained one year earlier (features at index_date - 730) and
  judged on the rows at F against the outcome in (F, index_date] (a backtest).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from phm import __version__
from phm.codelists.registry import shipped_registry
from phm.codelists.thresholds import shipped_thresholds
from phm.engine import Store, canonical_table
from phm.measures.person_table import CANONICAL_INPUTS, person_table
from phm.risk import card, metrics
from phm.risk.explain import typical_values
from phm.risk.features import FEATURES, feature_frame
from phm.risk.history import with_history
from phm.risk.model import (
    Evaluation,
    RiskError,
    Subgroup,
    TrainedModel,
    baseline_design,
    models_dir,
    one_thread,
    publish,
    save,
)
from phm.risk.outcome import OUTCOME_DAYS, emergency_admission_within

YEAR = dt.timedelta(days=OUTCOME_DAYS)
CALIBRATION_SHARE = 0.2
TOP_FRACTIONS = (0.005, 0.01, 0.05)
MIN_SUBGROUP_EVENTS = 10
TRUTH_FILE = "emergency_admission.parquet"

# Gradient boosting settings: shallow trees, early stopping on a seeded 10% of the fit rows.
BOOSTING = {
    "learning_rate": 0.1,
    "max_iter": 400,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 200,
    "l2_regularization": 1.0,
    "early_stopping": True,
    "validation_fraction": 0.1,
    "n_iter_no_change": 20,
}

AGE_BANDS = ((0, "0–17"), (18, "18–44"), (45, "45–64"), (65, "65–74"), (75, "75–84"), (85, "85+"))
DESCRIBE = ("sex", "age", "ethnic_group", "imd_quintile")


@dataclass(frozen=True)
class Design:
    """The rows of one index date: features, who the people are, and the outcome if known."""

    feature_date: dt.date
    features: pd.DataFrame  # indexed by person_id, sorted
    people: pd.DataFrame  # the same index: sex, age, ethnic_group, imd_quintile
    outcome: pd.Series | None  # bool, the same index


def canonical_tables(store: Store) -> dict[str, ir.Table]:
    """The store's canonical tables that the person table is built from."""
    return {name: canonical_table(store, name) for name in CANONICAL_INPUTS}


def design_at(
    tables: Mapping[str, ir.Table],
    feature_date: dt.date,
    *,
    follow_up: bool,
    cache_parts: bool = False,
) -> Design:
    """Build the person table at `feature_date` (records up to that date only) and its features.

    With `follow_up`, the outcome is an emergency admission in the 365 days
    after `feature_date`, and people who left the list before those days were
    over (not by death) are dropped. `cache_parts` is passed to `person_table`
    (DuckDB builds it faster so).
    """
    registry, thresholds = shipped_registry(), shipped_thresholds()
    built = person_table(tables, registry, thresholds, feature_date, cache_parts=cache_parts)
    built = with_history(built, tables["encounter"], feature_date)
    table = ibis.memtable(built.to_pyarrow())
    frame = feature_frame(table)
    people = (
        table.select("person_id", *DESCRIBE)
        .order_by("person_id")
        .to_pandas()
        .set_index("person_id")
    )
    outcome = None
    if follow_up:
        end = feature_date + YEAR
        person = tables["person"]
        left = person.filter(
            person.registration_end.notnull(),
            person.registration_end <= ibis.date(end),
            person.death_date.isnull(),
        ).select("person_id")
        gone = set(left.to_pandas()["person_id"])
        keep = ~frame.index.isin(list(gone))
        frame, people = frame[keep], people[keep]
        events = emergency_admission_within(tables["encounter"], feature_date).to_pandas()
        had = events.set_index("person_id")["outcome"].astype(bool)
        outcome = had.reindex(frame.index, fill_value=False).astype(bool)
    return Design(feature_date, frame, people, outcome)


def _fit(design: Design, seed: int) -> TrainedModel:
    """Fit the calibrated gradient boosting model and the baseline on one design's rows."""
    if design.outcome is None:
        raise RiskError("training rows need an outcome")
    y = design.outcome.to_numpy(bool)
    if y.sum() < 2 or (~y).sum() < 2:
        raise RiskError(
            f"too few people with and without an emergency admission after "
            f"{design.feature_date} to train on ({int(y.sum())} of {len(y)})"
        )
    x = design.features[list(FEATURES)].to_numpy(np.float64)
    fit_rows, calibration_rows = train_test_split(
        np.arange(len(y)), test_size=CALIBRATION_SHARE, random_state=seed, stratify=y
    )
    booster = HistGradientBoostingClassifier(random_state=seed, **BOOSTING)
    calibrated = CalibratedClassifierCV(FrozenEstimator(booster), method="sigmoid")
    with one_thread():
        booster.fit(x[fit_rows], y[fit_rows])
        calibrated.fit(x[calibration_rows], y[calibration_rows])
    baseline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    baseline.fit(baseline_design(design.features), y)
    return TrainedModel(
        version="",
        features=FEATURES,
        typical=typical_values(design.features),
        estimator=calibrated,
        baseline=baseline,
        feature_date=design.feature_date,
        index_date=design.feature_date + YEAR,
        seed=seed,
        training_rows=len(fit_rows),
        training_events=int(y[fit_rows].sum()),
        calibration_rows=len(calibration_rows),
        iterations=int(booster.n_iter_),
    )


def code_digest() -> str:
    """A digest of the risk model's source code: part of every model version."""
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def model_version(model: TrainedModel, design: Design) -> str:
    """A short hash of the training window and data, features, seed, settings and code."""
    outcome = design.outcome if design.outcome is not None else pd.Series(dtype=bool)
    ids = hashlib.sha256("\n".join(design.features.index).encode()).hexdigest()
    inputs = {
        "feature_date": model.feature_date.isoformat(),
        "index_date": model.index_date.isoformat(),
        "people": ids,
        "rows": len(outcome),
        "events": int(outcome.sum()),
        "features": list(model.features),
        "seed": model.seed,
        "boosting": BOOSTING,
        "code": code_digest(),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]


def read_truth(truth: Path) -> pd.DataFrame:
    """The generator's truth (person_id, true_risk, outcome), from its file or a folder with it."""
    path = Path(truth)
    for candidate in (path, path / TRUTH_FILE, path / "truth" / TRUTH_FILE):
        if candidate.is_file():
            frame = pd.read_parquet(candidate, columns=["person_id", "true_risk", "outcome"])
            return frame.set_index("person_id")
    raise RiskError(f"no truth file at {path} (expected {TRUTH_FILE})")


def _age_band(age: pd.Series) -> pd.Series:
    bands = pd.Series("", index=age.index)
    for lower, name in AGE_BANDS:
        bands[age >= lower] = name
    return bands


def _subgroups(
    people: pd.DataFrame, y: npt.NDArray[np.bool_], p: npt.NDArray[np.float64]
) -> tuple[Subgroup, ...]:
    dimensions = {
        "sex": people["sex"].fillna("unknown").astype(str),
        "age band": _age_band(people["age"]),
        "ethnic group": people["ethnic_group"].fillna("Not stated").astype(str),
        "IMD quintile": people["imd_quintile"].map(
            lambda q: (
                "unknown" if pd.isna(q) else f"{int(q)}" + (" (most deprived)" if q == 1 else "")
            )
        ),
    }
    out = []
    for dimension, labels in dimensions.items():
        values = labels.to_numpy(str)
        for group in sorted({str(v) for v in values}, key=_group_order(dimension)):
            rows = values == group
            events = int(y[rows].sum())
            enough = events >= MIN_SUBGROUP_EVENTS and rows.sum() - events >= MIN_SUBGROUP_EVENTS
            out.append(
                Subgroup(
                    dimension=dimension,
                    group=str(group),
                    people=int(rows.sum()),
                    events=events,
                    observed=float(y[rows].mean()),
                    predicted=float(p[rows].mean()),
                    auc=metrics.auc(y[rows], p[rows]).auc if enough else None,
                )
            )
    return tuple(out)


def _group_order(dimension: str) -> Callable[[str], tuple[int, str]]:
    """Age bands youngest first; other groups alphabetically."""
    names = [name for _, name in AGE_BANDS] if dimension == "age band" else []
    return lambda g: (names.index(g) if g in names else len(names), g)


def _evaluate(
    model: TrainedModel,
    design: Design,
    y: npt.NDArray[np.bool_],
    true_risk: npt.NDArray[np.float64] | None,
    *,
    kind: str,
    description: str,
    outcome_window: str,
) -> Evaluation:
    p = model.predict(design.features)
    b = model.predict_baseline(design.features)
    predicted, observed, _ = metrics.reliability(y, p, bins=20)
    base_predicted, base_observed, _ = metrics.reliability(y, b, bins=20)
    return Evaluation(
        design=kind,
        description=description,
        fitted_on=f"features at {model.feature_date}, outcome in ({model.feature_date}, "
        f"{model.index_date}]",
        feature_date=design.feature_date,
        outcome_window=outcome_window,
        rows=len(y),
        events=int(y.sum()),
        model_auc=metrics.auc(y, p),
        baseline_auc=metrics.auc(y, b),
        true_risk_auc=metrics.auc(y, true_risk) if true_risk is not None else None,
        calibration=metrics.calibration(y, p),
        baseline_calibration=metrics.calibration(y, b),
        observed_rate=float(y.mean()),
        predicted_rate=float(p.mean()),
        model_yield=tuple(metrics.top_yield(y, p, f) for f in TOP_FRACTIONS),
        baseline_yield=tuple(metrics.top_yield(y, b, f) for f in TOP_FRACTIONS),
        true_risk_yield=tuple(metrics.top_yield(y, true_risk, f) for f in TOP_FRACTIONS)
        if true_risk is not None
        else (),
        subgroups=_subgroups(design.people, y, p),
        reliability={
            "model_predicted": predicted.tolist(),
            "model_observed": observed.tolist(),
            "baseline_predicted": base_predicted.tolist(),
            "baseline_observed": base_observed.tolist(),
        },
    )


def evaluate_on_truth(
    model: TrainedModel,
    tables: Mapping[str, ir.Table],
    index_date: dt.date,
    truth: Path,
    *,
    cache_parts: bool = False,
) -> Evaluation:
    """Score the person table at `index_date` and judge it against the generator's truth."""
    design = design_at(tables, index_date, follow_up=False, cache_parts=cache_parts)
    known = read_truth(truth)
    rows = design.features.index.intersection(known.index)
    if len(rows) < 0.9 * len(design.features):
        raise RiskError(
            f"the truth file covers {len(rows)} of the {len(design.features)} people registered "
            f"at {index_date}: is it from this extract and index date?"
        )
    design = Design(index_date, design.features.loc[rows], design.people.loc[rows], None)
    y = known.loc[rows, "outcome"].to_numpy(bool)
    true_risk = known.loc[rows, "true_risk"].to_numpy(np.float64)
    end = index_date + YEAR
    return _evaluate(
        model,
        design,
        y,
        true_risk,
        kind="truth",
        description=(
            f"the model trained above, scored on the person table at {index_date} and judged "
            "against the synthetic generator's truth: whether each person has an emergency "
            f"admission in ({index_date}, {end}] (outside the extract), and their true risk"
        ),
        outcome_window=f"({index_date}, {end}]",
    )


def backtest(
    tables: Mapping[str, ir.Table],
    later: Design,
    index_date: dt.date,
    seed: int,
    *,
    cache_parts: bool = False,
) -> Evaluation:
    """Train the same recipe one year earlier and judge it on the later training rows."""
    earlier_rows = design_at(tables, index_date - 2 * YEAR, follow_up=True, cache_parts=cache_parts)
    earlier = _fit(earlier_rows, seed)
    assert later.outcome is not None
    return _evaluate(
        earlier,
        later,
        later.outcome.to_numpy(bool),
        None,
        kind="backtest",
        description=(
            f"no truth was given: the same recipe was fitted one year earlier (features at "
            f"{earlier.feature_date}, outcome to {earlier.index_date}) and judged on the "
            f"people registered at {later.feature_date}, against their emergency admissions "
            f"in ({later.feature_date}, {index_date}]"
        ),
        outcome_window=f"({later.feature_date}, {index_date}]",
    )


def train(
    store: Store, *, index_date: dt.date, truth: Path | None = None, seed: int = 0
) -> TrainedModel:
    """Train, evaluate and save the risk model; return it (its folder in `.path`).

    Saves model.joblib, model_card.md and reliability.png under
    `store.home/models/<version>/` and copies them to `models/latest/`. The same
    store, index date and seed give the same version and the same model.
    """
    tables = canonical_tables(store)
    cache = store.engine == "duckdb"
    design = design_at(tables, index_date - YEAR, follow_up=True, cache_parts=cache)
    model = _fit(design, seed)
    model.version = model_version(model, design)
    if truth is not None:
        model.evaluation = evaluate_on_truth(model, tables, index_date, truth, cache_parts=cache)
    else:
        model.evaluation = backtest(tables, design, index_date, seed, cache_parts=cache)
    folder = models_dir(store.home) / model.version
    save(model, folder)
    card.write(model, folder)
    publish(folder)
    return model
