"""Issue 14 in a real browser: each screen driven as a person would.

Two browser contexts (two people, each signed in) for the lost edit; the rest with one person.
Runs the real server (``planwise serve --demo``) and Debian's Chromium like test_browser_admin.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.admin.test_browser_admin import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, WAIT_MS, _require_browser
from tests.browser.support import browser_server
from tests.servers import ServerProcess

PASSWORD = "a long browser-test password"
PEOPLE = ("ann@example.com", "ben@example.com")

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    _require_browser()
    srv = browser_server(tmp_path)
    try:
        for email in PEOPLE:
            made = srv.run_cli(
                "create-user", email, "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n"
            )
            assert made.returncode == 0, made.stdout + made.stderr
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def person(browser: Any, url: str, email: str, width: int = 1280) -> Any:
    """A new browser context (its own cookies: another person) signed in as ``email``."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{url}/admin/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button:has-text('Sign in')")
    assert "/admin/login" not in page.url
    return page


def save(page: Any, button: str = "Save to draft") -> None:
    with page.expect_navigation():
        page.click(f"button:has-text('{button}')")


def test_lost_edit_two_people(server: ServerProcess, chromium: Any) -> None:
    ann = person(chromium, server.url, PEOPLE[0])
    ben = person(chromium, server.url, PEOPLE[1])
    plan = f"{server.url}/admin/draft/plans/0"
    ann.goto(plan)
    ben.goto(plan)
    price = ann.input_value("input[name=attr_monthlyPrice]")
    ann.fill("input[name=attr_monthlyPrice]", "4.44")
    save(ann)
    ann.wait_for_selector("text=saved.")

    ben.fill("input[name=name]", "Renamed by Ben")
    save(ben)
    ben.wait_for_selector("text=someone else saved this item after you opened it")
    assert ben.is_visible(f"text=Last saved by {PEOPLE[0]}")
    table = ben.locator("table.conflict-table").inner_text()
    assert "4.44" in table and price in table and "Renamed by Ben" in table
    assert ben.input_value("input[name=name]") == "Renamed by Ben"  # nothing typed is lost
    ben.screenshot(path=str(ARTIFACTS / "admin-lost-edit.png"))

    save(ben, "Apply my changes on top of theirs")
    assert ben.input_value("input[name=name]") == "Renamed by Ben"
    assert ben.input_value("input[name=attr_monthlyPrice]") == "4.44"
    save(ben)
    ben.wait_for_selector("text=saved.")
    ann.goto(plan)
    assert ann.input_value("input[name=name]") == "Renamed by Ben"
    assert ann.input_value("input[name=attr_monthlyPrice]") == "4.44"

    # Discarding the draft says whose changes are lost.
    ann.goto(f"{server.url}/admin/draft/discard")
    text = ann.locator("main").inner_text()
    assert f"{PEOPLE[0]}: " in text and f"{PEOPLE[1]}: 1 change(s)" in text
