"""The plan listing page in headless Chromium against the real server (PROTOCOL.md end to end)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, ViewportSize, WebSocketRoute, expect

from ..servers import ROOT, ServerProcess
from .support import browser_server

pytestmark = pytest.mark.browser

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 375, "height": 740}
NARROW: ViewportSize = {"width": 360, "height": 740}
DEMO = ROOT / "data" / "demo-mobile.json"

FLOW_ANSWERS: dict[str, Any] = {
    "dataUsage": "heavy",
    "budget": 30,
    "travel": True,
    "travelRegion": "worldwide",
    "extras": ["music", "hotspot"],
    "notes": "Call me after 6pm",
}

# Replaces window.WebSocket with one that never opens (a proxy that blocks the upgrade).
BLOCK_WEBSOCKETS = """
(() => {
  class BlockedWebSocket extends EventTarget {
    constructor(url) {
      super();
      this.url = String(url);
      this.readyState = 0;
      window.__blockedSockets = (window.__blockedSockets || 0) + 1;
      setTimeout(() => {
        this.readyState = 3;
        const error = new Event("error");
        if (this.onerror) this.onerror(error);
        this.dispatchEvent(error);
        const close = new CloseEvent("close", { code: 1006, wasClean: false });
        if (this.onclose) this.onclose(close);
        this.dispatchEvent(close);
      }, 5);
    }
    send() { throw new DOMException("WebSocket is not open", "InvalidStateError"); }
    close() {}
  }
  Object.assign(BlockedWebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = BlockedWebSocket;
})();
"""

expect.set_options(timeout=20_000)


class PageErrors:
    """Collects uncaught page errors so a test can assert there were none."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))


def new_page(
    browser: Browser, viewport: ViewportSize = DESKTOP, block_ws: bool = False
) -> tuple[BrowserContext, Page, PageErrors]:
    context = browser.new_context(viewport=viewport)
    if block_ws:
        context.add_init_script(BLOCK_WEBSOCKETS)
    page = context.new_page()
    return context, page, PageErrors(page)


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def open_page(
    browser: Browser,
    contexts: list[BrowserContext],
    server: ServerProcess,
    viewport: ViewportSize = DESKTOP,
    block_ws: bool = False,
) -> tuple[Page, PageErrors]:
    context, page, errors = new_page(browser, viewport, block_ws)
    contexts.append(context)
    page.goto(server.url + "/")
    return page, errors


def wait_status(page: Page, *statuses: str, timeout: float = 30_000) -> None:
    page.wait_for_function(
        "(s) => s.includes(document.getElementById('connection').dataset.status)",
        arg=list(statuses),
        timeout=timeout,
    )


def wait_answers(page: Page, expected: dict[str, Any], timeout: float = 20_000) -> None:
    """Wait until the newest update shown echoes exactly these answers."""
    page.wait_for_function(
        """(expected) => {
          const u = window.planwiseClient && window.planwiseClient.update;
          if (!u) return false;
          const keys = Object.keys(u.answers);
          return keys.length === Object.keys(expected).length
            && keys.every((k) => JSON.stringify(u.answers[k]) === JSON.stringify(expected[k]));
        }""",
        arg=expected,
        timeout=timeout,
    )


def wait_settled(page: Page) -> None:
    """Wait for the enriched update of the newest revision, shown in its order."""
    page.mouse.move(2, 2)  # off the list: an update under the pointer keeps the old order
    page.wait_for_function(
        """() => {
          const u = window.planwiseClient && window.planwiseClient.update;
          if (!u || u.stage !== 'enriched') return false;
          const ids = [...document.querySelectorAll('#plans > li')].map((li) => li.dataset.planId);
          return JSON.stringify(ids) === JSON.stringify(u.plans.map((p) => p.id));
        }"""
    )


def data_question(page: Page) -> Locator:
    return page.get_by_role("group", name="How much mobile data do you use in a month?")


def reason(page: Page, text: str) -> Locator:
    """The first "why this plan" reason with ``text`` in the list."""
    return page.locator("#plans .reasons li", has_text=text).first


def shown_ids(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all("#plans > li", "(els) => els.map((el) => el.dataset.planId)")
    return ids


def snapshot(page: Page) -> dict[str, Any]:
    """What the page shows: plans in order with their reasons and estimates, excluded plans, answers."""
    result: dict[str, Any] = page.evaluate(
        """() => ({
          plans: [...document.querySelectorAll('#plans > li')].map((li) => ({
            id: li.dataset.planId,
            name: li.querySelector('.plan-name').textContent,
            reasons: [...li.querySelectorAll('.reasons li')].map((r) => r.textContent),
            estimate: (li.querySelector('.estimate-amount') || {}).textContent || '',
          })),
          excluded: [...document.querySelectorAll('#excluded .excluded-list > li')].map((li) => ({
            id: li.dataset.planId,
            reasons: [...li.querySelectorAll('.reasons li')].map((r) => r.textContent),
          })),
          summary: document.getElementById('summary').textContent,
          answers: window.planwiseClient.update.answers,
        })"""
    )
    return result


def answer_questions(page: Page) -> None:
    """Answer questions of every type; checks the list, reasons and a conditional question on the way."""
    wait_status(page, "live", "fallback")
    expect(page.locator("#plans > li").first).to_be_visible()
    before = shown_ids(page)

    data_question(page).get_by_label("20 to 60 GB").check()
    wait_answers(page, {"dataUsage": "heavy"})
    expect(reason(page, "At least 20 GB a month for heavy data use")).to_be_visible()
    assert shown_ids(page) != before, "the list changed after the first answer"

    budget = page.get_by_label("What is the most you want to pay per month?", exact=True)
    budget.fill("30")
    budget.press("Tab")
    wait_answers(page, {"dataUsage": "heavy", "budget": 30})
    expect(reason(page, "Within your budget of 30 EUR a month")).to_be_visible()

    region = page.locator("#q-travelRegion")
    expect(region).to_be_hidden()
    page.get_by_role("group", name="Do you travel abroad?").get_by_label("Yes").check()
    expect(region).to_be_visible()
    region.get_by_label("Outside the EU too").check()

    extras = page.get_by_role("group", name="Which extras would you like?")
    extras.get_by_label("Use my phone as a hotspot").check()
    extras.get_by_label("Music streaming subscription").check()

    notes = page.get_by_label("Anything else we should know?", exact=True)
    notes.fill("Call me after 6pm")
    notes.press("Tab")
    wait_answers(page, FLOW_ANSWERS)
    wait_settled(page)


def choose_plan(page: Page, index: int = 1) -> tuple[str, str]:
    """Choose the plan at ``index``: cancel once, then confirm. Returns (plan id, plan name)."""
    card = page.locator("#plans > li").nth(index)
    plan_id = card.get_attribute("data-plan-id") or ""
    name = card.locator(".plan-name").text_content() or ""
    dialog = page.locator("#confirm")

    card.get_by_role("button", name="Choose this plan").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(name)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#selection")).to_be_hidden()

    page.locator(f'#plans > li[data-plan-id="{plan_id}"] button.choose').click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Yes, choose this plan").click()
    expect(dialog).to_be_hidden()
    selection = page.locator("#selection")
    expect(selection).to_have_attribute("data-state", "saved")
    expect(selection).to_have_attribute("data-plan-id", plan_id)
    expect(selection).to_contain_text(name)
    expect(page.locator(f'#plans > li[data-plan-id="{plan_id}"]')).to_have_class(re.compile(r"\bchosen\b"))
    return plan_id, name


def screenshots(page: Page, artifacts: Path, name: str) -> None:
    """The top of the page and the plan list, at desktop and phone width, plus full pages."""
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(artifacts / f"{name}-{label}.png"))
        page.evaluate("document.getElementById('plans-title').scrollIntoView()")
        page.screenshot(path=str(artifacts / f"{name}-{label}-plans.png"))
        page.screenshot(path=str(artifacts / f"{name}-{label}-full.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
    page.evaluate("window.scrollTo(0, 0)")


def check_answers_shown(page: Page) -> None:
    """The controls show FLOW_ANSWERS (after a reload or a reconnection)."""
    expect(data_question(page).get_by_label("20 to 60 GB")).to_be_checked()
    expect(page.get_by_label("What is the most you want to pay per month?", exact=True)).to_have_value("30")
    expect(page.get_by_role("group", name="Do you travel abroad?").get_by_label("Yes")).to_be_checked()
    region = page.locator("#q-travelRegion")
    expect(region).to_be_visible()
    expect(region.get_by_label("Outside the EU too")).to_be_checked()
    extras = page.get_by_role("group", name="Which extras would you like?")
    expect(extras.get_by_label("Use my phone as a hotspot")).to_be_checked()
    expect(extras.get_by_label("Music streaming subscription")).to_be_checked()
    expect(extras.get_by_label("Cloud storage")).not_to_be_checked()
    expect(page.get_by_label("Anything else we should know?", exact=True)).to_have_value("Call me after 6pm")


def test_whole_flow(
    browser: Browser, contexts: list[BrowserContext], server: ServerProcess, artifacts: Path
) -> None:
    page, errors = open_page(browser, contexts, server)
    wait_status(page, "live")
    expect(page.locator("#connection")).to_contain_text("Live")
    expect(page.locator("#version-number")).to_have_text("1")
    answer_questions(page)
    shown = snapshot(page)
    assert all(plan["reasons"] for plan in shown["plans"]), "every plan says why it is shown"

    excluded = page.locator("#excluded")
    expect(excluded).to_be_visible()
    excluded.locator("summary").click()
    expect(excluded.locator(".excluded-list > li").first).to_be_visible()
    assert "At least 20 GB a month for heavy data use" in (excluded.text_content() or "")

    plan_id, name = choose_plan(page)
    page.mouse.move(2, 2)
    screenshots(page, artifacts, "page")
    page.set_viewport_size(NARROW)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scrolling"
    page.set_viewport_size(DESKTOP)

    page.reload()
    wait_status(page, "live")
    wait_answers(page, FLOW_ANSWERS)
    check_answers_shown(page)
    selection = page.locator("#selection")
    expect(selection).to_have_attribute("data-plan-id", plan_id)
    expect(selection).to_contain_text(name)
    expect(page.locator(f'#plans > li[data-plan-id="{plan_id}"]')).to_have_class(re.compile(r"\bchosen\b"))

    page.get_by_role("button", name="Start over").click()
    wait_answers(page, {})
    expect(page.locator("#q-travelRegion")).to_be_hidden()
    expect(page.get_by_label("What is the most you want to pay per month?", exact=True)).to_have_value("")
    assert errors.errors == []


def test_fallback_when_websockets_are_blocked(
    browser: Browser, contexts: list[BrowserContext], server: ServerProcess, artifacts: Path
) -> None:
    live_page, _ = open_page(browser, contexts, server)
    answer_questions(live_page)
    expected = snapshot(live_page)

    page, errors = open_page(browser, contexts, server, block_ws=True)
    wait_status(page, "fallback")
    expect(page.locator("#connection")).to_contain_text("fallback")
    answer_questions(page)
    assert page.evaluate("window.planwiseClient.mode") == "http"
    assert page.evaluate("window.__blockedSockets") >= 2
    assert snapshot(page) == expected, "the same answers give the same list over HTTP"

    plan_id, name = choose_plan(page)
    page.mouse.move(2, 2)
    screenshots(page, artifacts, "page-fallback")
    page.reload()
    wait_status(page, "fallback")
    wait_answers(page, FLOW_ANSWERS)
    check_answers_shown(page)
    expect(page.locator("#selection")).to_have_attribute("data-plan-id", plan_id)
    expect(page.locator("#selection")).to_contain_text(name)
    assert errors.errors == []


def test_fallback_when_websocket_keeps_closing(
    browser: Browser, contexts: list[BrowserContext], server: ServerProcess
) -> None:
    """The upgrade succeeds but the connection dies at once (a proxy): the page falls back too."""
    context = browser.new_context(viewport=DESKTOP)
    contexts.append(context)
    closed: list[str] = []

    def refuse(ws: WebSocketRoute) -> None:
        # Not connected to the server: Playwright opens the page's socket itself; the first
        # frame (hello) gets it closed, so every connection dies right after opening.
        closed.append(ws.url)
        ws.on_message(lambda message: ws.close(code=1011, reason="proxy says no"))

    context.route_web_socket(re.compile(r"/ws$"), refuse)
    page = context.new_page()
    errors = PageErrors(page)
    page.goto(server.url + "/")
    wait_status(page, "fallback")
    assert len(closed) >= 3
    data_question(page).get_by_label("Under 5 GB").check()
    wait_answers(page, {"dataUsage": "light"})
    expect(page.locator("#plans .reasons li").first).to_be_visible()
    assert errors.errors == []


def test_server_restart_mid_session(
    browser: Browser, contexts: list[BrowserContext], server: ServerProcess
) -> None:
    page, errors = open_page(browser, contexts, server)
    answer_questions(page)
    before = snapshot(page)

    server.kill()
    wait_status(page, "reconnecting", "offline")
    expect(page.locator("#connection")).not_to_contain_text("Live")
    server.start()
    wait_status(page, "live", timeout=60_000)
    wait_answers(page, FLOW_ANSWERS)
    check_answers_shown(page)
    wait_settled(page)
    assert snapshot(page) == before

    page.get_by_role("group", name="Is 5G important to you?").get_by_label("Yes").check()
    wait_answers(page, {**FLOW_ANSWERS, "network5g": True})
    assert errors.errors == []


def test_publish_while_the_page_is_open(
    browser: Browser, contexts: list[BrowserContext], server: ServerProcess, tmp_path: Path
) -> None:
    page, errors = open_page(browser, contexts, server)
    wait_status(page, "live")
    data_question(page).get_by_label("20 to 60 GB").check()
    wait_answers(page, {"dataUsage": "heavy"})
    wait_settled(page)
    top = shown_ids(page)[0]

    bundle = json.loads(DEMO.read_text(encoding="utf-8"))
    for plan in bundle["plans"]:
        if plan["id"] == top:
            plan["name"] = "Renamed by the publish test"
    for question in bundle["questions"]:
        if question["id"] == "budget":
            question["text"] = "What is your monthly budget, at most?"
    path = tmp_path / "bundle-v2.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    result = server.run_cli("import", str(path), "--publish", "--message", "browser test")
    assert result.returncode == 0, result.stdout + result.stderr

    expect(page.locator("#version-number")).to_have_text("2")
    renamed = page.locator(f'#plans > li[data-plan-id="{top}"] .plan-name')
    expect(renamed).to_have_text("Renamed by the publish test")
    expect(page.get_by_label("What is your monthly budget, at most?", exact=True)).to_be_visible()
    expect(page.locator("#notice")).to_contain_text("version 2")
    expect(data_question(page).get_by_label("20 to 60 GB")).to_be_checked()
    assert page.evaluate("window.planwiseClient.update.version") == 2
    assert errors.errors == []


def test_keyboard_and_accessibility(
    browser: Browser, contexts: list[BrowserContext], server: ServerProcess
) -> None:
    page, errors = open_page(browser, contexts, server)
    wait_status(page, "live")
    expect(page.locator("#plans > li").first).to_be_visible()
    assert page.get_attribute("#plans", "aria-live") == "polite"
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('#questions input, #questions textarea')]
                 .filter((i) => !i.labels || i.labels.length === 0).map((i) => i.id)"""
    )
    assert unlabelled == []
    assert page.locator("#questions fieldset").count() == page.locator("#questions legend").count() > 0

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Tab")
    first = page.evaluate("document.activeElement.name")
    assert first == "q-dataUsage", "the questions come first in the focus order"
    page.keyboard.press("ArrowDown")  # radio groups: arrows move and select
    wait_answers(page, {"dataUsage": "medium"})

    choose = page.locator("#plans > li").first.locator("button.choose")
    choose.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    assert page.evaluate("document.activeElement.value") == "confirm"
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate("document.activeElement.classList.contains('choose')"), "focus returns to the button"
    assert errors.errors == []


def test_flow_with_the_durable_engine(
    browser: Browser, contexts: list[BrowserContext], tmp_path: Path
) -> None:
    server = browser_server(tmp_path, engine="durable")
    server.start()
    try:
        page, errors = open_page(browser, contexts, server)
        wait_status(page, "live")
        data_question(page).get_by_label("20 to 60 GB").check()
        wait_answers(page, {"dataUsage": "heavy"})
        expect(reason(page, "At least 20 GB a month for heavy data use")).to_be_visible()
        page.get_by_role("group", name="Do you travel abroad?").get_by_label("Yes").check()
        expect(page.locator("#q-travelRegion")).to_be_visible()
        wait_answers(page, {"dataUsage": "heavy", "travel": True})
        assert errors.errors == []
    finally:
        server.stop()


def test_list_holds_still_under_the_pointer(
    browser: Browser, contexts: list[BrowserContext], server: ServerProcess, tmp_path: Path
) -> None:
    """An update of the same revision (here a publish) does not reorder the cards under the pointer."""
    page, errors = open_page(browser, contexts, server)
    wait_status(page, "live")
    data_question(page).get_by_label("20 to 60 GB").check()
    wait_answers(page, {"dataUsage": "heavy"})
    wait_settled(page)
    before = shown_ids(page)
    gone = before[0]

    page.locator("#plans > li").nth(1).hover()
    bundle = json.loads(DEMO.read_text(encoding="utf-8"))
    for plan in bundle["plans"]:
        if plan["id"] == gone:
            plan["active"] = False
    path = tmp_path / "bundle-v2.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    result = server.run_cli("import", str(path), "--publish")
    assert result.returncode == 0, result.stdout + result.stderr

    # A function, not an expression: Playwright eval()s expressions when it polls, which the CSP forbids.
    page.wait_for_function("() => window.planwiseClient.update.version === 2")
    expect(page.locator("#reorder")).to_be_visible()
    assert shown_ids(page) == before, "nothing moved under the pointer"
    expect(page.locator(f'#plans > li[data-plan-id="{gone}"]')).to_have_class(re.compile(r"\bstale\b"))

    page.mouse.move(2, 2)
    expect(page.locator(f'#plans > li[data-plan-id="{gone}"]')).to_have_count(0)
    expect(page.locator("#reorder")).to_be_hidden()
    wait_settled(page)
    assert gone not in shown_ids(page)
    assert errors.errors == []
