"""Training: a temporal design, deterministic for a seed, saved with its model card."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from phm.engine import opened
from phm.risk.model import CARD_FILE, MODEL_FILE, PLOT_FILE, load
from phm.risk.score import score
from phm.risk.train import train
from tests.risk.conftest import INDEX, PERSONS, Trained, copy_home


def _scores(home: Path) -> pd.DataFrame:
    with opened(home) as store:
        return score(store).to_pandas()


def test_training_is_deterministic_for_a_seed(trained: Trained, tmp_path: Path) -> None:
    home = copy_home(trained.home, tmp_path / "home")
    first = _scores(home)
    with opened(home) as store:
        again = train(store, index_date=INDEX, truth=trained.truth, seed=0)
        assert again.version == trained.model.version
        second = score(store).to_pandas()
        other = train(store, index_date=INDEX, truth=trained.truth, seed=1)
    pd.testing.assert_frame_equal(first, second)
    assert other.version != trained.model.version
    assert (home / "models" / "latest" / "VERSION").read_text().strip() == other.version


def test_the_design_is_temporal_and_evaluated_on_later_rows(trained: Trained) -> None:
    model, evaluation = trained.model, trained.model.evaluation
    assert evaluation is not None
    assert model.feature_date == INDEX - dt.timedelta(days=365)
    assert model.index_date == INDEX
    assert evaluation.design == "truth"
    assert evaluation.feature_date == INDEX > model.feature_date
    assert evaluation.rows == PERSONS
    assert evaluation.true_risk_auc is not None
    assert evaluation.model_auc.auc > evaluation.baseline_auc.auc
    assert [y.fraction for y in evaluation.model_yield] == [0.005, 0.01, 0.05]
    assert {s.dimension for s in evaluation.subgroups} == {
        "sex",
        "age band",
        "ethnic group",
        "IMD quintile",
    }


def test_the_model_card_and_plot_are_saved_beside_the_model(trained: Trained) -> None:
    folder = trained.home / "models" / trained.model.version
    assert (folder / MODEL_FILE).is_file() and (folder / PLOT_FILE).stat().st_size > 10_000
    card = (folder / CARD_FILE).read_text()
    for text in (
        "## Data window and design",
        "true risk (the ceiling",
        "baseline (prior emergency admissions and age)",
        f"![Reliability plot]({PLOT_FILE})",
        "| model | top 0.5% |",
        "| baseline | top 5% |",
        "| IMD quintile | 1 (most deprived) |",
        "Subgroup differences",
    ):
        assert text in card
    assert load(trained.home).version == trained.model.version


def test_without_truth_the_card_reports_a_backtest(trained: Trained, tmp_path: Path) -> None:
    home = copy_home(trained.home, tmp_path / "home")
    with opened(home) as store:
        model = train(store, index_date=INDEX, seed=0)
    evaluation = model.evaluation
    assert evaluation is not None and evaluation.design == "backtest"
    assert evaluation.true_risk_auc is None
    assert evaluation.feature_date == model.feature_date
    assert evaluation.fitted_on.startswith(f"features at {INDEX - dt.timedelta(days=730)}")
    assert "fitted one year earlier" in (model.path / CARD_FILE).read_text()


def test_a_truth_file_from_another_extract_is_refused(trained: Trained, tmp_path: Path) -> None:
    other = tmp_path / "emergency_admission.parquet"
    pd.DataFrame({"person_id": ["X1"], "true_risk": [0.1], "outcome": [True]}).to_parquet(other)
    home = copy_home(trained.home, tmp_path / "home")
    with opened(home) as store, pytest.raises(Exception, match="is it from this extract"):
        train(store, index_date=INDEX, truth=other, seed=0)
