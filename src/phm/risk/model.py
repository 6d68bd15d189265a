"""A trained emergency admission risk model: what is saved, loaded and scored with.

Saved under `PHM_HOME/models/<version>/` (model.joblib, model_card.md,
reliability.png). `PHM_HOME/models/latest/` holds a copy of the model trained
last, with its version in the file VERSION, so that `models/latest/model_card.md`
is always the current card.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
import pandas as pd
from threadpoolctl import threadpool_limits

from phm.risk.features import source_columns
from phm.risk.metrics import Auc, Calibration, TopYield

MODEL_FILE = "model.joblib"
CARD_FILE = "model_card.md"
PLOT_FILE = "reliability.png"
LATEST = "latest"
VERSION_FILE = "VERSION"

# The baseline: prior emergency admissions and age only (as PARR's strongest predictors).
BASELINE_FEATURES = ("emergency_admissions_12m", "emergency_admissions_prior_12m", "age")


class RiskError(RuntimeError):
    """The risk model cannot be trained or cannot score this data."""


@dataclass(frozen=True)
class Subgroup:
    """Performance in one group of people of the evaluation rows."""

    dimension: str
    group: str
    people: int
    events: int
    observed: float
    predicted: float
    auc: float | None


@dataclass(frozen=True)
class Evaluation:
    """How the model did on rows it was not fitted on."""

    design: str  # "truth" or "backtest"
    description: str
    fitted_on: str  # the training window of the model that was evaluated
    feature_date: dt.date
    outcome_window: str
    rows: int
    events: int
    model_auc: Auc
    baseline_auc: Auc
    true_risk_auc: Auc | None
    calibration: Calibration
    baseline_calibration: Calibration
    observed_rate: float
    predicted_rate: float
    model_yield: tuple[TopYield, ...]
    baseline_yield: tuple[TopYield, ...]
    true_risk_yield: tuple[TopYield, ...]
    subgroups: tuple[Subgroup, ...]
    reliability: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class TrainedModel:
    """The calibrated gradient boosting model, its baseline and what they were fitted on."""

    version: str
    features: tuple[str, ...]
    typical: dict[str, float]
    estimator: Any  # sklearn CalibratedClassifierCV over a HistGradientBoostingClassifier
    baseline: Any  # sklearn Pipeline: StandardScaler + LogisticRegression
    feature_date: dt.date
    index_date: dt.date
    seed: int
    training_rows: int
    training_events: int
    calibration_rows: int
    iterations: int
    evaluation: Evaluation | None = None
    path: Path | None = None

    @property
    def source_columns(self) -> tuple[str, ...]:
        return source_columns(self.features)

    def predict(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Probability of an emergency admission in 12 months for each row of a feature frame."""
        return self.predict_matrix(frame[list(self.features)].to_numpy(np.float64))

    def predict_matrix(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The same for a matrix whose columns are the model's features, in order."""
        with one_thread():
            return np.asarray(self.estimator.predict_proba(values)[:, 1], dtype=np.float64)

    def predict_baseline(self, frame: pd.DataFrame) -> npt.NDArray[np.float64]:
        """The baseline's probability for each row of a feature frame."""
        return np.asarray(self.baseline.predict_proba(baseline_design(frame))[:, 1])


def one_thread() -> threadpool_limits:
    """Run the gradient boosting model on one OpenMP thread.

    The same results on any number of cores, and steady times: with two threads
    OpenMP's spin-waiting made fits up to 5 times slower whenever another
    process (or DuckDB) was busy, and cost more than it saved on small data.
    """
    return threadpool_limits(limits=1, user_api="openmp")


def baseline_design(frame: pd.DataFrame) -> npt.NDArray[np.float64]:
    """The baseline's inputs: log(1 + prior emergency admissions) in each year, age and age²."""
    age = frame["age"].to_numpy(np.float64) / 10
    return np.column_stack(
        [
            np.log1p(frame["emergency_admissions_12m"].to_numpy(np.float64)),
            np.log1p(frame["emergency_admissions_prior_12m"].to_numpy(np.float64)),
            age,
            age**2,
        ]
    )


def models_dir(home: Path) -> Path:
    return home / "models"


def save(model: TrainedModel, folder: Path) -> Path:
    """Write model.joblib to `folder` (the model's own folder under models/)."""
    folder.mkdir(parents=True, exist_ok=True)
    model.path = folder
    joblib.dump(model, folder / MODEL_FILE)
    return folder


def publish(folder: Path) -> Path:
    """Make the model in `folder` the latest: copy its files to models/latest/ with VERSION."""
    latest = folder.parent / LATEST
    staging = folder.parent / f".{LATEST}-{folder.name}"
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(folder, staging)
    (staging / VERSION_FILE).write_text(folder.name + "\n")
    if latest.is_symlink() or latest.is_file():
        latest.unlink()
    elif latest.exists():
        shutil.rmtree(latest)
    staging.rename(latest)
    return latest


def load(home: Path, model_dir: Path | None = None) -> TrainedModel:
    """The model in `model_dir`, or the latest one trained in this data folder."""
    if model_dir is None:
        model_dir = models_dir(home) / LATEST
        if not (model_dir / MODEL_FILE).exists():
            raise RiskError(
                f"no risk model in {models_dir(home)}: train one first (phm risk train)"
            )
    path = Path(model_dir) / MODEL_FILE
    if not path.exists():
        raise RiskError(f"no risk model at {path}")
    model = joblib.load(path)
    if not isinstance(model, TrainedModel):
        raise RiskError(f"{path} does not hold a phm risk model")
    model.path = Path(model_dir)
    return model
