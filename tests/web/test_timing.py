"""Page render times at 20,000 persons: reported, not asserted (budget 300 ms at place level)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from phm.config import load_place
from phm.engine import opened
from phm.ingest.canonical import ingest_canonical
from phm.pipeline import run
from phm.synth import generate
from phm.web.app import create_app
from phm.web.auth import create_user
from tests.web.conftest import PASSWORD


@pytest.mark.slow
def test_place_level_render_times_at_20000_persons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHM_WEB_DB", raising=False)
    generate(tmp_path / "extract", place=load_place(), persons=20_000, seed=3)
    ingest_canonical(tmp_path / "extract", tmp_path / "home", b"k")
    with opened(tmp_path / "home") as store:
        run(store)
    started = time.perf_counter()
    app = create_app(tmp_path / "home")
    print(f"start-up (aggregates): {1000 * (time.perf_counter() - started):.0f} ms")
    with app.state.web.sessions() as session:
        create_user(session, "ana", PASSWORD, "analyst")
    client = TestClient(app)
    client.post("/login", data={"username": "ana", "password": PASSWORD})
    for page in (
        "/overview",
        "/segments",
        "/cohorts",
        "/risk",
        "/api/overview",
        "/worklist?practice=Y99001&cohort=ltc_3plus",
    ):
        client.get(page)
        started = time.perf_counter()
        assert client.get(page).status_code == 200
        print(f"{page}: {1000 * (time.perf_counter() - started):.0f} ms")
