"""Insights in a real browser (marker ``browser``): people answer over the real WebSocket, then staff
open the Insights page on a 360 px phone and a desktop, filter by version, and follow a zero-result
link into the simulator, which shows those answers and no plan.

The real server (``planwise serve``, the demo catalogue) runs as a subprocess; Debian's headless
Chromium is driven through Playwright's Python package (never ``playwright install``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.admin.test_browser_admin import _require_browser
from tests.browser.support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, browser_server
from tests.servers import ServerProcess

pytestmark = pytest.mark.browser

EMAIL = "viewer@example.com"
PASSWORD = "a long browser-test password"
WAIT_MS = 20_000
#: The elements sticking out of the viewport (for the failure message).
WIDE = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .filter(e => !e.closest('.menu-items') && !e.closest('.table-wrap table'))
  .slice(0, 8)
  .map(e => `${e.tagName}.${e.className}#${e.id} ${Math.round(e.getBoundingClientRect().right)}`)"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    _require_browser()
    srv = browser_server(tmp_path)
    try:
        created = srv.run_cli(
            "create-user", EMAIL, "--role", "viewer", "--password-stdin", stdin=PASSWORD + "\n"
        )
        assert created.returncode == 0, created.stdout + created.stderr
        srv.start()
        yield srv
    finally:
        srv.stop()


async def _person(url: str, steps: list[dict[str, Any]]) -> list[int]:
    """One person over /ws: each step's answers; returns matchedPlans after each."""
    import websockets

    matched = []
    async with websockets.connect(url, open_timeout=10) as ws:
        await ws.send(json.dumps({"event": "hello", "data": {}}))
        for n, answers in enumerate(steps):
            await ws.send(json.dumps({"event": "userResponse", "data": {"answers": answers}, "id": n}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                data = frame.get("data") or {}
                if frame["event"] == "recommendationUpdates" and data.get("replyTo") == n:
                    matched.append(data["matchedPlans"])
                    break
    return matched


def test_insights_page_on_a_phone_and_a_desktop(server: ServerProcess) -> None:
    from playwright.sync_api import sync_playwright

    ws_url = f"ws://127.0.0.1:{server.port}/ws"
    first = asyncio.run(_person(ws_url, [{"budget": 5}, {"budget": 50}]))
    second = asyncio.run(_person(ws_url, [{"dataUsage": "heavy"}, {"budget": 5}]))
    assert first[0] == 0 and first[1] > 0 and second[1] == 0, (first, second)

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 360, "height": 780})
            page.set_default_timeout(WAIT_MS)
            _sign_in(page, server.url)
            page.goto(f"{server.url}/admin/insights")
            assert page.locator("[data-figure=sessions]").inner_text() == "2"
            # Filter by version: pick version 1 and show.
            page.select_option("select[name=version]", "1")
            with page.expect_navigation():
                page.click("button:has-text('Show')")
            assert "version=1" in page.url
            assert page.locator("h3", has_text="Version 1").count() >= 1
            assert page.locator("[data-figure=answerChanges]").inner_text() == "4"
            assert page.locator("[data-figure=zeroResultChanges]").inner_text() == "2 (50%)"
            budget = page.locator("#table-funnel-a tr[data-question=budget]")
            assert budget.locator("[data-col=answered]").inner_text() == "2"
            assert budget.locator("[data-col=lastAnswered]").inner_text() == "2"
            # Readable at 360 px: nothing wider than the screen; the charts fit and keep their text size.
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, page.evaluate(WIDE)
            wide_tables = page.evaluate(
                "() => [...document.querySelectorAll('.table-wrap, .table-wrap table')]"
                ".filter(w => w.scrollWidth > w.clientWidth + 1).map(w => w.id || w.firstElementChild.id)"
            )
            assert wide_tables == [], wide_tables  # every table fits without scrolling sideways
            chart = page.locator("#chart-funnel-a")
            box = chart.bounding_box()
            assert box is not None and 0 < box["width"] <= 360
            label_px = page.evaluate(
                "() => document.querySelector('#chart-funnel-a text.label').getBoundingClientRect().height"
            )
            assert label_px >= 10, label_px
            assert chart.get_attribute("aria-describedby") == "table-funnel-a"
            page.screenshot(path=str(ARTIFACTS / "admin-insights-360.png"), full_page=True)
            page.locator(".report", has=chart).screenshot(
                path=str(ARTIFACTS / "admin-insights-360-funnel.png")
            )

            # The same page on a desktop: the chart sits beside its table.
            page.set_viewport_size({"width": 1280, "height": 900})
            chart_box, table_box = chart.bounding_box(), page.locator("#table-funnel-a").bounding_box()
            assert chart_box is not None and table_box is not None
            assert table_box["x"] > chart_box["x"] + chart_box["width"] - 1, (chart_box, table_box)
            page.screenshot(path=str(ARTIFACTS / "admin-insights.png"), full_page=True)

            # Each zero-result combination happened once; the first (by its answers) opens the simulator.
            link = page.locator("#table-zero-a a.zero-link").first
            row = page.locator("#table-zero-a tbody tr").first
            assert "budget" in row.inner_text() and row.locator("td").first.inner_text() == "1"
            with page.expect_navigation():
                link.click()
            assert "/admin/simulator" in page.url and "q_budget=" in page.url
            assert page.input_value("#q-budget input") in ("5", "5.0")
            page.wait_for_selector("text=No plan matches.")
            page.screenshot(path=str(ARTIFACTS / "admin-insights-simulator.png"), full_page=True)
        finally:
            browser.close()


def _sign_in(page: Any, url: str) -> None:
    page.goto(f"{url}/admin/login")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button:has-text('Sign in')")
    assert "/admin/login" not in page.url, page.content()[:2000]
