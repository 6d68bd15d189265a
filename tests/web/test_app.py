"""The web application through FastAPI's test client: roles, audit, disclosure, downloads."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from phm.engine import opened
from phm.segments import load_segments
from phm.web import views
from phm.web.accounts import AuditEvent
from phm.web.aggregates import compute
from tests.web.conftest import OTHER_PRACTICE, PRACTICE, login

PAGES = ["/overview", "/segments", "/cohorts", "/risk"]


def audit(app: Any) -> list[AuditEvent]:
    with app.state.web.sessions() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def counts_of(payload: dict[str, Any]) -> list[int | None]:
    """Every count cell (the figures' integer cells) of an API answer."""
    return [
        v
        for f in payload["figures"]
        for row in f["rows"]
        for v in row[1:]
        if v is None or (isinstance(v, int) and not isinstance(v, bool))
    ]


def test_the_first_start_creates_an_admin_and_prints_its_password(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from phm.web.app import create_app

    monkeypatch.delenv("PHM_WEB_DB", raising=False)
    create_app(tmp_path)
    first = capsys.readouterr().out
    assert "user 'admin', password " in first
    password = first.split("password ")[1].split()[0]
    create_app(tmp_path)
    assert "password" not in capsys.readouterr().out
    client = TestClient(create_app(tmp_path))
    response = client.post(
        "/login", data={"username": "admin", "password": password}, follow_redirects=False
    )
    assert response.status_code == 303
    assert client.get("/overview").status_code == 503  # logged in; no data in this folder


def test_a_wrong_password_is_refused_and_audited(app: Any) -> None:
    client = TestClient(app)
    response = client.post("/login", data={"username": "ana", "password": "wrong-password!"})
    assert response.status_code == 401
    assert audit(app)[-1].action == "refused_login"


def test_pages_and_api_need_a_login(app: Any) -> None:
    client = TestClient(app)
    response = client.get("/overview", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert client.get("/api/overview").status_code == 401
    assert audit(app)[-1].status == 401


@pytest.mark.parametrize("user", ["ana", "com", "gp", "cc"])
def test_every_page_opens_for_every_role(app: Any, user: str) -> None:
    client = login(app, user)
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 200, page
        assert "<main" in response.text
    assert "No model trained yet" in client.get("/risk").text
    level = client.get("/overview", params={"level": "pcn", "code": "U90001"})
    assert level.status_code == 200


def test_the_api_answers_what_the_pages_show(app: Any) -> None:
    client = login(app, "ana")
    overview = client.get("/api/overview", params={"level": "practice", "code": PRACTICE}).json()
    assert overview["area"]["code"] == PRACTICE
    assert {f["id"] for f in overview["figures"]} == {"pyramid", "deprivation", "ltc", "prevalence"}
    assert client.get("/api/segments").json()["figures"][0]["id"] == "segments"
    assert client.get("/api/cohorts").json()["figures"][1]["id"] == "cooccurrence"
    assert len(client.get("/api/areas").json()) > 44
    assert client.get("/api/overview", params={"level": "pcn", "code": "nope"}).status_code == 404
    spec = client.get("/openapi.json").json()
    assert {"/api/overview", "/api/segments", "/api/cohorts", "/api/worklist"} <= set(spec["paths"])


@pytest.mark.parametrize("path", ["/api/overview", "/api/segments", "/api/cohorts"])
def test_commissioners_see_only_disclosure_controlled_counts(app: Any, path: str) -> None:
    client = login(app, "com")
    for params in ({}, {"level": "practice", "code": PRACTICE, "disclosure": "off"}):
        payload = client.get(path, params=params).json()
        assert payload["disclosure_controlled"]
        values = counts_of(payload)
        assert values
        assert all(v is None or (v % 5 == 0 and not 1 <= v <= 7) for v in values)


def test_analysts_get_exact_counts_only_when_asked_and_audited(app: Any) -> None:
    client = login(app, "ana")
    assert client.get("/api/overview").json()["disclosure_controlled"]
    exact = client.get("/api/overview", params={"disclosure": "off"}).json()
    assert not exact["disclosure_controlled"]
    assert audit(app)[-1].action == "view_unsuppressed"


def test_clinicians_see_their_own_practice_exactly_and_the_place_controlled(app: Any) -> None:
    client = login(app, "gp")
    own = client.get("/api/overview", params={"level": "practice", "code": PRACTICE}).json()
    assert not own["disclosure_controlled"]
    assert client.get("/api/overview").json()["disclosure_controlled"]


def test_commissioners_see_no_identifiable_rows(app: Any) -> None:
    client = login(app, "com")
    for path in (
        "/worklist",
        f"/api/worklist?practice={PRACTICE}&cohort=ltc_3plus",
        f"/worklist/download?practice={PRACTICE}&cohort=ltc_3plus",
    ):
        assert client.get(path).status_code == 403
        event = audit(app)[-1]
        assert (event.action, event.username, event.status) == ("refused", "com", 403)
    assert "Worklist</a>" not in client.get("/overview").text


@pytest.mark.parametrize("user", ["gp", "cc"])
def test_a_care_role_gets_its_own_worklist_and_is_refused_another(app: Any, user: str) -> None:
    client = login(app, user)
    page = client.get("/worklist", params={"practice": PRACTICE, "cohort": "ltc_3plus"})
    assert page.status_code == 200
    answer = client.get("/api/worklist", params={"practice": PRACTICE, "cohort": "ltc_3plus"})
    rows = answer.json()["rows"]
    assert rows and all(
        r[answer.json()["columns"].index("practice_code")] == PRACTICE for r in rows
    )
    event = audit(app)[-1]
    assert (event.action, event.username, event.rows) == ("view_worklist", user, len(rows))

    refused = client.get("/worklist", params={"practice": OTHER_PRACTICE, "cohort": "ltc_3plus"})
    assert refused.status_code == 403
    assert "may not see" in refused.text
    event = audit(app)[-1]
    assert (event.action, event.username, event.status) == ("refused", user, 403)
    assert OTHER_PRACTICE in event.detail
    assert (
        client.get("/api/worklist", params={"pcn": "U90001", "cohort": "ltc_3plus"}).status_code
        == 403
    )


def test_worklists_download_as_csv_and_xlsx_and_are_audited(app: Any) -> None:
    client = login(app, "cc")
    params = {"practice": PRACTICE, "cohort": "ltc_3plus"}
    csv = client.get("/worklist/download", params=params | {"format": "csv"})
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("Priority,Person ID")
    assert audit(app)[-1].action == "download_worklist"
    assert audit(app)[-1].rows == len(lines) - 1
    xlsx = client.get("/worklist/download", params=params | {"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.max_row == len(lines)


def test_the_audit_log_is_for_analysts(app: Any) -> None:
    assert login(app, "ana").get("/audit").status_code == 200
    assert login(app, "gp").get("/audit").status_code == 403


def test_the_risk_view_works_when_the_person_table_has_risk_columns(web_home: Path) -> None:
    with opened(web_home) as store:
        table = store.table("person_table")
        scored = table.mutate(
            risk_score=(table.ltc_count.cast("float64") / 15.0).clip(0.0, 1.0),
            risk_tier=(table.ltc_count >= 3).ifelse("high", "low"),
        )
        agg = compute(
            scored,
            None,
            place_name="Test",
            segmentation=load_segments(columns=table.columns),
            cohorts=None,
        )
    assert agg.has_risk
    view = views.risk(agg, agg.area("place", None), control=True)
    assert [f.id for f in view.figures] == ["distribution", "tiers", "top"]


def test_page_times_are_reported(app: Any) -> None:
    """Reports (does not assert) render times; see test_timing for 20,000 persons."""
    client = login(app, "ana")
    for page in PAGES:
        started = time.perf_counter()
        client.get(page)
        print(f"{page}: {1000 * (time.perf_counter() - started):.0f} ms")
