"""Scoring: score, tier and explanation for everyone; refused when the columns do not match."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from phm.engine import opened
from phm.risk.explain import NONE_RAISED
from phm.risk.model import MODEL_FILE, RiskError, load
from phm.risk.score import risk_tiers, score
from tests.risk.conftest import PERSONS, Trained, copy_home


@pytest.fixture(scope="module")
def scored(trained: Trained) -> pd.DataFrame:
    with opened(trained.home) as store:
        return score(store).to_pandas()


def test_everyone_gets_a_score_a_tier_and_an_explanation(
    trained: Trained, scored: pd.DataFrame
) -> None:
    assert list(scored.columns) == [
        "person_id",
        "risk_score",
        "risk_tier",
        "risk_explanation",
        "model_version",
    ]
    assert len(scored) == PERSONS and scored["person_id"].is_unique
    assert scored["person_id"].is_monotonic_increasing
    assert scored["risk_score"].between(0, 1).all()
    assert (scored["model_version"] == trained.model.version).all()
    assert scored["risk_explanation"].str.len().gt(0).all()


def test_tiers_have_the_stated_shares(scored: pd.DataFrame) -> None:
    counts = scored["risk_tier"].value_counts().to_dict()
    assert counts == {"very high": 20, "high": 180, "moderate": 600, "low": 3200}
    by_tier = scored.groupby("risk_tier")["risk_score"]
    assert by_tier.min()["very high"] >= by_tier.max()["high"]
    assert by_tier.min()["high"] >= by_tier.max()["moderate"]
    assert by_tier.min()["moderate"] >= by_tier.max()["low"]


def test_tiers_by_rank_even_when_scores_tie() -> None:
    tiers = risk_tiers(np.full(1000, 0.1))
    assert (tiers[:5] == "very high").all() and (tiers[5:50] == "high").all()
    assert (tiers[50:200] == "moderate").all() and (tiers[200:] == "low").all()


def test_the_highest_risk_are_explained_in_plain_words(scored: pd.DataFrame) -> None:
    top = scored[scored["risk_tier"] == "very high"]["risk_explanation"]
    assert (top != NONE_RAISED).all()
    assert all(1 <= len(text.split("; ")) <= 3 for text in top)
    words = " ".join(scored["risk_explanation"])
    assert "emergency admission" in words and "in the last year" in words


def test_rescoring_gives_identical_rows(trained: Trained, scored: pd.DataFrame) -> None:
    with opened(trained.home) as store:
        again = score(store).to_pandas()
    pd.testing.assert_frame_equal(scored, again)


def _with_person_table(trained: Trained, tmp_path: Path, change: str) -> Path:
    home = copy_home(trained.home, tmp_path / "home")
    with opened(home) as store:
        table = store.table("person_table")
        if change == "drop":
            table = table.drop("heart_failure")
        elif change == "text":
            table = table.mutate(heart_failure=table.heart_failure.cast("string"))
        store.write("person_table", table.execute())
    return home


def test_a_missing_feature_column_is_refused(trained: Trained, tmp_path: Path) -> None:
    home = _with_person_table(trained, tmp_path, "drop")
    with (
        opened(home) as store,
        pytest.raises(RiskError, match=r"missing 1 the model needs: heart_failure\)"),
    ):
        score(store)


def test_a_feature_column_that_changed_type_is_refused(trained: Trained, tmp_path: Path) -> None:
    home = _with_person_table(trained, tmp_path, "text")
    with opened(home) as store, pytest.raises(RiskError, match="no longer numbers or flags"):
        score(store)


def test_a_feature_column_the_model_was_not_trained_with_is_refused(
    trained: Trained, tmp_path: Path
) -> None:
    older = dataclasses.replace(
        load(trained.home), features=tuple(f for f in trained.model.features if f != "dementia")
    )
    folder = tmp_path / "older"
    folder.mkdir()
    joblib.dump(older, folder / MODEL_FILE)
    with (
        opened(trained.home) as store,
        pytest.raises(RiskError, match=r"1 feature column\(s\) .*not trained with: dementia"),
    ):
        score(store, folder)


def test_scoring_without_a_model_says_to_train_one(tmp_path: Path) -> None:
    with opened(tmp_path) as store, pytest.raises(RiskError, match="train one first"):
        score(store)
