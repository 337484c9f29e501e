"""The admin in a real browser: sign in, edit a rule in the builder, see a validation message, fix it,
run the simulator, publish, and check that a WebSocket client connected before the publish gets an
update with the new version.

The real server (``planwise serve --demo``) runs as a subprocess on a free loopback port; Debian's
headless Chromium is driven through Playwright's Python package (never ``playwright install``).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.support import browser_server
from tests.servers import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EMAIL = "admin@example.com"
PASSWORD = "a long browser-test password"
WAIT_MS = 20_000

pytestmark = pytest.mark.browser


def _require_browser() -> None:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install playwright)")
    try:
        import websockets  # noqa: F401
    except ImportError:
        missing.append("the websockets package")
    if missing:
        message = "missing: " + ", ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)  # on CI the browser test must run, not be skipped
        pytest.skip(message)


class Listener:
    """A WebSocket client on ``/ws`` in a background thread (its own event loop) collecting frames."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.frames: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, timeout: float = 20.0) -> None:
        self._thread.start()
        assert self._ready.wait(timeout), f"no WebSocket opening sequence in {timeout}s: {self.error!r}"

    def _run(self) -> None:
        try:
            asyncio.run(self._read())
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            self._ready.set()

    async def _read(self) -> None:
        import websockets

        async with websockets.connect(self.url, open_timeout=10) as ws:
            await ws.send(json.dumps({"event": "hello", "data": {}}))
            while not self._stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                except TimeoutError:
                    continue
                frame = json.loads(raw)
                self.frames.append(frame)
                if frame.get("event") == "recommendationUpdates":
                    self._ready.set()

    def versions(self) -> list[int]:
        return [
            int(f["data"]["version"])
            for f in list(self.frames)
            if f.get("event") == "recommendationUpdates" and isinstance(f.get("data"), dict)
        ]

    def wait_for_version(self, version: int, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if version in self.versions():
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    _require_browser()
    srv = browser_server(tmp_path, engine="durable")
    try:
        created = srv.run_cli(
            "create-user", EMAIL, "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n"
        )
        assert created.returncode == 0, created.stdout + created.stderr
        srv.start()
        yield srv
    finally:
        srv.stop()


def test_edit_rule_check_simulator_publish_and_live_update(server: ServerProcess) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    listener = Listener(f"ws://127.0.0.1:{server.port}/ws")
    listener.start()
    before = listener.versions()
    assert before, listener.frames
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                page.set_default_timeout(WAIT_MS)
                _admin_flow(page, server.url)
            finally:
                browser.close()
        new_version = max(before) + 1
        assert listener.wait_for_version(new_version), (listener.versions(), server.log_tail())
        update = next(
            f["data"]
            for f in listener.frames
            if f.get("event") == "recommendationUpdates" and f["data"].get("version") == new_version
        )
        assert update["revision"] == 0  # the same session, re-evaluated by the publish
    finally:
        listener.stop()
    assert listener.error is None, listener.error


def _admin_flow(page: Any, url: str) -> None:
    # Sign in.
    page.goto(f"{url}/admin/login")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button:has-text('Sign in')")
    assert "/admin/login" not in page.url, page.content()[:2000]

    # Edit the budget rule in the builder: a typo in a placeholder is refused next to the field.
    page.goto(f"{url}/admin/draft/rules/0")
    assert page.input_value("input[name=id]") == "budget-cap"
    assert page.is_hidden("button.nojs >> nth=0")  # the script enhances the builder
    with page.expect_navigation():  # changing an operator updates the form (kept input included)
        page.select_option("select[name=then-0-c-op]", "<")
    assert page.input_value("select[name=then-0-c-op]") == "<"
    assert page.input_value("select[name=then-0-c-source]") == "answer"
    page.fill("input[name=then-0-because]", "Below {answers.budgt} EUR a month")
    with page.expect_navigation():
        page.click("button:has-text('Save to draft')")
    because = page.locator(".field.because")
    assert "has-error" in (because.get_attribute("class") or "")
    message = because.locator("ul.errors").inner_text()
    assert "budgt" in message, message
    assert page.input_value("input[name=then-0-because]") == "Below {answers.budgt} EUR a month"
    assert page.is_visible("text=Not saved: this change causes problems")
    page.screenshot(path=str(ARTIFACTS / "admin-rule-builder-problem.png"), full_page=True)

    # Fix it and save.
    page.fill("input[name=then-0-because]", "Below your budget of {answers.budget} EUR a month")
    with page.expect_navigation():
        page.click("button:has-text('Save to draft')")
    page.wait_for_selector("text=Rule budget-cap saved.")
    assert page.input_value("select[name=then-0-c-op]") == "<"
    page.locator("#field-then").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "admin-rule-builder.png"), full_page=True)

    # The simulator shows the draft's reason next to the live one.
    page.goto(f"{url}/admin/simulator")
    page.fill("#q-budget input", "20")
    with page.expect_navigation():
        page.click("button:has-text('Show results')")
    page.wait_for_selector("text=Below your budget of 20 EUR a month")
    assert page.is_visible("text=Within your budget of 20 EUR a month")  # live, unchanged
    page.screenshot(path=str(ARTIFACTS / "admin-simulator.png"), full_page=True)

    # Publish.
    page.goto(f"{url}/admin/publish")
    page.fill("textarea[name=message]", "Budget rule: strictly below the budget")
    with page.expect_navigation():
        page.click("button:has-text('Publish now')")
    page.wait_for_selector("text=It is live now.")
