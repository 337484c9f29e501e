"""A push from another service (POST /api/enrichments) reaches the page after its enriched update.

The pushed update is a second ``stage: "enriched"`` update of the same revision with a higher
``step``; the page's client must show it, over the WebSocket and over the long-poll fallback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from ..servers import ServerProcess
from .support import browser_server
from .test_page import new_page

pytestmark = pytest.mark.browser

TOKEN = "pricing-token-for-the-browser-test"


@pytest.fixture
def pushing_server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = browser_server(tmp_path)
    srv.env["PLANWISE_SERVICE_TOKENS"] = f"pricing={TOKEN}"
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.mark.parametrize("transport", ["websocket", "long-poll"])
def test_a_push_after_the_enriched_update_reaches_the_page(
    browser: Browser, pushing_server: ServerProcess, transport: str
) -> None:
    context, page, errors = new_page(browser, block_ws=transport == "long-poll")
    try:
        page.goto(pushing_server.url + "/")
        page.wait_for_function(
            "() => window.planwiseClient && window.planwiseClient.update"
            " && window.planwiseClient.update.stage === 'enriched'"
        )
        assert page.evaluate("window.planwiseClient.mode") == ("http" if transport == "long-poll" else "ws")
        session_id = page.evaluate("window.planwiseClient.sessionId")
        enriched = page.evaluate("window.planwiseClient.update")
        first = enriched["plans"][0]["id"]
        reply = httpx.post(
            pushing_server.url + "/api/enrichments",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={
                "sessionId": session_id,
                "revision": enriched["revision"],
                "plans": {first: {"installPrice": 0}},
                "source": "pricing",
            },
            timeout=10,
        )
        assert reply.status_code == 202, reply.text
        page.wait_for_function(
            """(id) => {
              const u = window.planwiseClient.update;
              const plan = u.plans.find((p) => p.id === id);
              return u.stage === 'enriched' && u.step >= 1 && plan && plan.installPrice === 0;
            }""",
            arg=first,
            timeout=20_000,
        )
        shown = page.evaluate("window.planwiseClient.update")
        assert shown["revision"] == enriched["revision"] and shown["version"] == enriched["version"]
        estimated = [p for p in enriched["plans"] if "estimate" in p]
        if estimated:  # the enrichment's fields are kept beside the pushed one
            pushed = {p["id"]: p for p in shown["plans"]}
            assert all(pushed[p["id"]].get("estimate") == p["estimate"] for p in estimated)
        assert errors.errors == []
    finally:
        context.close()
