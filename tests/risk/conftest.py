"""A small synthetic Southwark, ingested, run and with a risk model trained: built once."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from phm.config import load_place
from phm.engine import opened
from phm.ingest.canonical import ingest_canonical
from phm.pipeline import run
from phm.risk.model import TrainedModel
from phm.risk.train import train
from phm.synth import generate

INDEX = dt.date(2026, 3, 31)
PERSONS = 4000
SEED = 11


@dataclass(frozen=True)
class Trained:
    """A store with its person table at INDEX, the truth beside it, and a model trained on it."""

    home: Path
    truth: Path
    model: TrainedModel


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    root = tmp_path_factory.mktemp("risk")
    extract = root / "extract"
    generate(extract, place=load_place(), persons=PERSONS, seed=SEED, index_date=INDEX)
    ingest_canonical(extract, root / "home", b"k")
    with opened(root / "home") as store:
        run(store, INDEX)
        model = train(store, index_date=INDEX, truth=extract / "truth", seed=0)
    return Trained(root / "home", extract / "truth", model)


def copy_home(source: Path, target: Path) -> Path:
    """A copy of a data folder, to change without touching the shared one."""
    shutil.copytree(source, target)
    return target
