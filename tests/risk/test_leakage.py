"""No leakage: nothing from the outcome window can reach the features the model learns from.

The training rows are built at F = index - 365 days from records up to F
only. The tests change the records after F — remove them, or plant an
emergency admission and a heart failure diagnosis after F for everyone — and
show that the features do not move while the outcome does; and they plant an
outcome-derived column in the store's person table and show that training
never sees it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pytest

from phm.engine import opened
from phm.risk.features import FEATURES
from phm.risk.metrics import auc
from phm.risk.train import canonical_tables, design_at, read_truth, train
from tests.risk.conftest import INDEX, Trained, copy_home

F = INDEX - dt.timedelta(days=365)
DATED = {
    "clinical_event": "event_date",
    "medication": "issue_date",
    "encounter": "start_datetime",
    "assessment": "assessment_date",
}


def _up_to(tables: Mapping[str, ir.Table], day: dt.date) -> dict[str, ir.Table]:
    """The tables without any record dated after `day`."""
    out = dict(tables)
    for name, column in DATED.items():
        out[name] = tables[name].filter(tables[name][column].cast("date") <= ibis.date(day))
    return out


def _planted(tables: Mapping[str, ir.Table]) -> dict[str, ir.Table]:
    """Everyone gets an emergency admission and a heart failure diagnosis the day after F."""
    out = dict(tables)
    people = tables["person"].select("person_id")
    encounter, event = tables["encounter"], tables["clinical_event"]
    admitted = dt.datetime.combine(F + dt.timedelta(days=1), dt.time(0, 30))  # the first day after
    admissions = people.select(
        encounter_id=people.person_id + "-planted",
        person_id=people.person_id,
        setting=ibis.literal("apc"),
        admission_method=ibis.literal("emergency"),
        start_datetime=ibis.timestamp(admitted),
        end_datetime=ibis.timestamp(admitted + dt.timedelta(days=6)),
        provider_code=ibis.null("string"),
        primary_diagnosis=ibis.literal("I50"),
        cost_gbp=ibis.literal(5000.0),
    ).cast(encounter.schema())
    diagnoses = people.select(
        person_id=people.person_id,
        event_date=ibis.date(F + dt.timedelta(days=1)),
        code_system=ibis.literal("snomed"),
        code=ibis.literal("84114007"),  # heart failure
        value=ibis.null("string"),
        unit=ibis.null("string"),
        source=ibis.literal("gp"),
    )
    out["encounter"] = encounter.union(admissions)
    out["clinical_event"] = event.union(diagnoses.cast(event.schema()).select(*event.columns))
    return out


def test_records_after_the_feature_date_do_not_change_the_features(trained: Trained) -> None:
    with opened(trained.home) as store:
        tables = canonical_tables(store)
        clean = design_at(tables, F, follow_up=True)
        truncated = design_at(_up_to(tables, F), F, follow_up=False)
        planted = design_at(_planted(tables), F, follow_up=True)
    assert clean.outcome is not None and planted.outcome is not None
    assert list(clean.features.columns) == list(FEATURES)
    pd.testing.assert_frame_equal(clean.features, truncated.features.loc[clean.features.index])
    pd.testing.assert_frame_equal(clean.features, planted.features)
    # ... while the planted records do reach the outcome, so the test can tell.
    assert planted.outcome.all() and clean.outcome.mean() < 0.2


def test_the_planted_records_would_change_features_at_a_later_date(trained: Trained) -> None:
    later = F + dt.timedelta(days=30)
    with opened(trained.home) as store:
        tables = canonical_tables(store)
        clean = design_at(tables, later, follow_up=False).features
        planted = design_at(_planted(tables), later, follow_up=False).features
    assert (planted["emergency_admissions_12m"] >= clean["emergency_admissions_12m"] + 1).all()
    assert planted["heart_failure"].all() and not clean["heart_failure"].all()


def test_an_outcome_column_in_the_person_table_is_never_seen(
    trained: Trained, tmp_path: Path
) -> None:
    home = copy_home(trained.home, tmp_path / "home")
    truth = read_truth(trained.truth)
    with opened(home) as store:
        table = store.table("person_table").execute()
        leak = truth["outcome"].reindex(table["person_id"]).fillna(False).to_numpy()
        table["emergency_admission_next_12m"] = leak.astype(np.int64)
        assert auc(leak, table["emergency_admission_next_12m"]).auc == 1.0  # a perfect leak
        store.write("person_table", ibis.memtable(table))
        model = train(store, index_date=INDEX, truth=trained.truth, seed=0)
    assert "emergency_admission_next_12m" not in model.features
    assert model.version == trained.model.version  # trained on exactly the same rows
    assert model.evaluation is not None
    assert model.evaluation.model_auc.auc == pytest.approx(trained.model.evaluation.model_auc.auc)
    assert model.evaluation.model_auc.auc < 0.95
