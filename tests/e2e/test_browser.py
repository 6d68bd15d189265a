"""End-to-end: log in, open each page, download a worklist, be refused another practice's."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import OTHER_PRACTICE, PASSWORD, PRACTICE

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).parent / "screenshots"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"no chromium at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def server(app: Any) -> Iterator[str]:
    uvicorn = pytest.importorskip("uvicorn")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    while not instance.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(5)


def test_a_care_coordinator_works_through_the_site(server: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    SHOTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(accept_downloads=True, viewport={"width": 1280, "height": 900})
        page.goto(f"{server}/overview")
        page.fill("#username", "cc")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/overview")
        for name in ("overview", "segments", "cohorts", "risk"):
            page.goto(f"{server}/{name}")
            assert page.locator("h1").first.is_visible()
            if name != "risk":
                page.wait_for_selector(".chart svg", timeout=10_000)
            page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        page.goto(f"{server}/worklist?practice={PRACTICE}&cohort=ltc_3plus")
        page.screenshot(path=str(SHOTS / "worklist.png"))
        with page.expect_download() as download:
            page.click("text=CSV")
        saved = tmp_path / "worklist.csv"
        download.value.save_as(saved)
        assert saved.read_text().startswith("Priority,")
        response = page.goto(f"{server}/worklist?practice={OTHER_PRACTICE}&cohort=ltc_3plus")
        assert response is not None and response.status == 403
        page.screenshot(path=str(SHOTS / "refused.png"))
        browser.close()
