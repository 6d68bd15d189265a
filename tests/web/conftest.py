"""A small synthetic place, built once, and logged-in clients for each role."""

from __future__ import annotations

from collections.abc import Iterator
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

PASSWORD = "a-long-test-password"
PRACTICE = "Y99001"
OTHER_PRACTICE = "Y99002"


@pytest.fixture(scope="package")
def web_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("web")
    generate(root / "extract", place=load_place(), persons=2500, seed=11)
    ingest_canonical(root / "extract", root / "home", b"k")
    with opened(root / "home") as store:
        run(store)
    return root / "home"


@pytest.fixture(scope="package")
def app(web_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PHM_WEB_DB", raising=False)
        application = create_app(web_home)
    with application.state.web.sessions() as session:
        create_user(session, "ana", PASSWORD, "analyst")
        create_user(session, "com", PASSWORD, "commissioner")
        create_user(session, "gp", PASSWORD, "clinician", [PRACTICE])
        create_user(session, "cc", PASSWORD, "care_coordinator", [PRACTICE])
    yield application


def login(app: object, username: str) -> TestClient:
    client = TestClient(app)  # type: ignore[arg-type]
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303
    return client
