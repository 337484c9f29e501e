"""Issue 14: the customer card shows each reason text once, as the admin simulator does.

Two rules of the published catalogue give travellers the same reason ("Roam like at home in the
EU"). The update carries both reasons (PROTOCOL.md: reasons come from the rules that fired); the
card shows the text once, and the simulator shows the same texts for the same plan.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from ..servers import ROOT, ServerProcess

pytestmark = pytest.mark.browser

DEMO = ROOT / "data" / "demo-mobile.json"
TEXT = "Roam like at home in the EU"
PASSWORD = "a long browser-test password"
STAFF = "sam@example.com"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    bundle = json.loads(DEMO.read_text())
    rule = next(r for r in bundle["rules"] if r["id"] == "traveller-roaming")
    again = copy.deepcopy(rule)
    again.update(id="traveller-roaming-again", name="Travellers need EU roaming (again)")
    bundle["rules"].append(again)
    demo = tmp_path / "demo.json"
    demo.write_text(json.dumps(bundle))
    env = {"PLANWISE_DEMO_BUNDLE": str(demo), "PLANWISE_PUBLISH_POLL_INTERVAL": "0.2"}
    srv = ServerProcess(tmp_path / "server", env)
    try:
        made = srv.run_cli(
            "create-user", STAFF, "--role", "viewer", "--password-stdin", stdin=PASSWORD + "\n"
        )
        assert made.returncode == 0, made.stdout + made.stderr
        srv.start()
        yield srv
    finally:
        srv.stop()


def card_reasons(page: Page) -> dict[str, list[dict[str, str]]]:
    result: dict[str, list[dict[str, str]]] = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#plans > li')].map((li) => [
             li.dataset.planId,
             [...li.querySelectorAll('.reasons li:not(.no-reason)')].map((r) => ({
               text: r.textContent, rules: r.dataset.rule })),
           ]))"""
    )
    return result


def test_card_shows_each_reason_once_like_the_simulator(server: ServerProcess, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(server.url + "/")
        page.get_by_role("group", name="Do you travel abroad?").get_by_label("Yes").check()
        expect(page.locator("#plans .reasons li", has_text=TEXT).first).to_be_visible(timeout=20_000)
        page.wait_for_function(
            "() => { const u = window.planwiseClient && window.planwiseClient.update;"
            " return u && u.answers.travel === true && u.stage === 'enriched'; }",
            timeout=20_000,
        )
        update: dict[str, Any] = page.evaluate("() => window.planwiseClient.update")
        twice = [p["id"] for p in update["plans"] if [r["text"] for r in p["reasons"]].count(TEXT) == 2]
        assert twice, "the payload carries both rules' reasons (PROTOCOL.md)"
        page.mouse.move(2, 2)
        page.wait_for_function(
            "(ids) => JSON.stringify([...document.querySelectorAll('#plans > li')]"
            ".map((li) => li.dataset.planId)) === JSON.stringify(ids)",
            arg=[p["id"] for p in update["plans"]],
        )
        cards = card_reasons(page)
        for plan in twice:
            texts = [r["text"] for r in cards[plan]]
            assert texts.count(TEXT) == 1, (plan, texts)
            shown = next(r for r in cards[plan] if r["text"] == TEXT)
            assert shown["rules"] == "traveller-roaming traveller-roaming-again"
        page.locator(f'#plans > li[data-plan-id="{twice[0]}"]').scroll_into_view_if_needed()
        page.screenshot(path=str(ROOT / "test-artifacts" / "card-reasons-once.png"))

        # The simulator (the live side, the same version) shows the same texts for each plan.
        staff = context.new_page()
        staff.goto(server.url + "/admin/login")
        staff.fill("input[name=email]", STAFF)
        staff.fill("input[name=password]", PASSWORD)
        with staff.expect_navigation():
            staff.click("button:has-text('Sign in')")
        staff.goto(server.url + "/admin/simulator?run=1&q_travel=true")
        simulated: dict[str, list[str]] = staff.evaluate(
            """() => Object.fromEntries(
                 [...document.querySelectorAll('ol.ranked > li[data-plan]')].map((li) => [
                 li.dataset.plan,
                 [...li.querySelectorAll('.reasons .reason-text')].map((r) => r.textContent)]))
            """
        )
        assert simulated[twice[0]].count(TEXT) == 1
        for plan, reasons in cards.items():
            if plan in simulated:
                assert [r["text"] for r in reasons] == simulated[plan], plan
        expect(staff.get_by_text("the same reason 2 times, shown once").first).to_be_visible()
    finally:
        context.close()
