"""The page's "plans that do not fit" and "Why not this plan?" on a generated 5,000-plan catalogue.

PROTOCOL.md v1.1: an update lists at most ``ranking.excludedLimit`` excluded plans, in ranking
order; ``totalPlans - matchedPlans`` are excluded in all; ``explainPlan`` says why any one plan is
shown, cut, excluded or inactive. The page lists what the update carries, says how many more do
not fit, and explains any plan by name (the plans it has seen) or by a typed plan id. Every
expectation is computed here from the generated catalogue, and the page's explanation is compared
with ``GET /api/sessions/{id}/plans/{planId}``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from ..servers import ServerProcess
from .support import browser_server
from .test_page import BLOCK_WEBSOCKETS

pytestmark = pytest.mark.browser

expect.set_options(timeout=20_000)

SEED = 20261205
PLAN_COUNT = 5000
LIMIT = 20
EXCLUDED_LIMIT = 30
BUDGET = 30
SERIES = ["Orbit", "Nova", "Pulse", "Summit", "Harbor", "Lumen", "Vista", "Echo"]
PROVIDERS = ["Acme", "Bluejay", "Cobalt", "Dune", "Ember", "Fjord"]
DATA_QUESTION = "How much mobile data do you use in a month?"
BUDGET_QUESTION = "What is the most you want to pay per month?"
TRAVEL_QUESTION = "Do you travel abroad?"
HEAVY = "At least 40 GB of data a month"
WITHIN_BUDGET = f"Costs at most {BUDGET} EUR a month"
ROAMING = "Roaming included for your travels"


def generate(seed: int = SEED, count: int = PLAN_COUNT) -> dict[str, Any]:
    """A seeded catalogue of ``count`` plans; about one in seven has 40 GB or more; 5 are retired."""
    rng = random.Random(seed)
    plans = []
    for i in range(count):
        data_gb = rng.choices([2, 5, 10, 20, 30, 50, 80, 120], weights=[14, 16, 18, 18, 20, 6, 5, 3])[0]
        plan: dict[str, Any] = {
            "id": f"plan-{i:04d}",
            "name": f"{rng.choice(SERIES)} {i:04d}",
            "provider": rng.choice(PROVIDERS),
            "attributes": {
                "monthlyPrice": round(rng.uniform(5, 60), 2),
                "dataGb": data_gb,
                "roaming": rng.random() < 0.5,
                "network": rng.choice(["4g", "5g"]),
                "contractMonths": rng.choice([0, 12, 24]),
            },
        }
        if i % 1000 == 999:
            plan["active"] = False
        plans.append(plan)
    choice = "choice"
    return {
        "format": "plan-catalogue/1",
        "name": "Generated mobile plans",
        "description": "5,000 generated plans for the browser test of 'why not this plan?'.",
        "attributes": [
            {"key": "monthlyPrice", "type": "number", "label": "Monthly price", "unit": "EUR"},
            {"key": "dataGb", "type": "number", "label": "Data", "unit": "GB"},
            {"key": "roaming", "type": "boolean", "label": "Roaming"},
            {"key": "network", "type": "enum", "label": "Network", "options": ["4g", "5g"]},
            {"key": "contractMonths", "type": "number", "label": "Minimum term", "unit": "months"},
        ],
        "plans": plans,
        "questions": [
            {
                "id": "dataUsage",
                "text": DATA_QUESTION,
                "type": choice,
                "options": [
                    {"value": "light", "label": "Under 10 GB"},
                    {"value": "medium", "label": "10 to 40 GB"},
                    {"value": "heavy", "label": "More than 40 GB"},
                ],
            },
            {"id": "budget", "text": BUDGET_QUESTION, "type": "number", "min": 0, "max": 200, "step": 1},
            {"id": "travel", "text": TRAVEL_QUESTION, "type": "boolean"},
            {
                "id": "network",
                "text": "Which network do you need?",
                "type": choice,
                "options": [{"value": "fiveG", "label": "5G only"}, {"value": "any", "label": "Any"}],
            },
            {
                "id": "contract",
                "text": "How long a contract would you sign?",
                "type": choice,
                "options": [
                    {"value": "none", "label": "No contract"},
                    {"value": "any", "label": "Any length"},
                ],
            },
        ],
        "rules": [
            rule(
                "heavy-data",
                20,
                {"answer": "dataUsage", "op": "==", "value": "heavy"},
                "require",
                {"attribute": "dataGb", "op": ">=", "value": 40},
                HEAVY,
            ),
            rule(
                "medium-data",
                20,
                {"answer": "dataUsage", "op": "==", "value": "medium"},
                "require",
                {"attribute": "dataGb", "op": ">=", "value": 10},
                "At least 10 GB of data a month",
            ),
            rule(
                "budget-cap",
                10,
                {"answer": "budget", "op": "exists"},
                "require",
                {"attribute": "monthlyPrice", "op": "<=", "valueFrom": {"answer": "budget"}},
                "Costs at most {answers.budget} EUR a month",
            ),
            rule(
                "five-g",
                5,
                {"answer": "network", "op": "==", "value": "fiveG"},
                "require",
                {"attribute": "network", "op": "==", "value": "5g"},
                "Runs on 5G",
            ),
            rule(
                "no-contract",
                5,
                {"answer": "contract", "op": "==", "value": "none"},
                "exclude",
                {"attribute": "contractMonths", "op": ">", "value": 0},
                "Has a minimum term",
            ),
            {
                "id": "roaming-bonus",
                "name": "Travellers like roaming",
                "when": {"answer": "travel", "op": "==", "value": True},
                "then": [
                    {
                        "score": 10,
                        "where": {"attribute": "roaming", "op": "==", "value": True},
                        "because": ROAMING,
                    }
                ],
            },
        ],
        "ranking": {
            "order": [{"by": "score", "dir": "desc"}, {"by": "monthlyPrice", "dir": "asc"}],
            "limit": LIMIT,
            "excludedLimit": EXCLUDED_LIMIT,
        },
    }


def rule(
    rule_id: str, priority: int, when: dict[str, Any], kind: str, test: dict[str, Any], because: str
) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": rule_id,
        "priority": priority,
        "when": when,
        "then": [{kind: test, "because": because}],
    }


class Expected:
    """What the rules give for answers to data (heavy), budget and travel, computed independently."""

    def __init__(self, bundle: dict[str, Any], travel: bool) -> None:
        active = [p for p in bundle["plans"] if p.get("active", True)]
        self.plans = {p["id"]: p for p in bundle["plans"]}
        self.travel = travel
        self.total = len(active)
        self.matched = [p for p in active if not self.reasons_against(p)]
        self.excluded = [p for p in active if self.reasons_against(p)]
        self.matched.sort(key=self.order)
        self.excluded.sort(key=self.order)
        self.shown = [p["id"] for p in self.matched[:LIMIT]]
        self.cut = {p["id"] for p in self.matched[LIMIT:]}

    def score(self, plan: dict[str, Any]) -> int:
        return 10 if self.travel and plan["attributes"]["roaming"] else 0

    def order(self, plan: dict[str, Any]) -> tuple[int, float, str]:
        return (-self.score(plan), plan["attributes"]["monthlyPrice"], plan["id"])

    @staticmethod
    def reasons_against(plan: dict[str, Any]) -> list[str]:
        """Priority order: the data rule (20) before the budget (10)."""
        attrs = plan["attributes"]
        return [
            text
            for text, lost in ((HEAVY, attrs["dataGb"] < 40), (WITHIN_BUDGET, attrs["monthlyPrice"] > BUDGET))
            if lost
        ]


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return generate()


@pytest.fixture
def big_server(tmp_path: Path, bundle: dict[str, Any]) -> Iterator[ServerProcess]:
    path = tmp_path / "generated-5000.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    server = browser_server(tmp_path / "server")
    server.env["PLANWISE_DEMO_BUNDLE"] = str(path)  # loaded as version 1 into the empty database
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    try:
        yield context.new_page()
    finally:
        context.close()


def wait_answers(page: Page, expected: dict[str, Any]) -> None:
    """The newest update echoes exactly these answers and the list shows it, in its order."""
    page.mouse.move(2, 2)  # off the list: an update under the pointer keeps the old order
    page.wait_for_function(
        """(expected) => {
          const u = window.planwiseClient && window.planwiseClient.update;
          if (!u || JSON.stringify(u.answers) !== JSON.stringify(expected)) return false;
          const ids = [...document.querySelectorAll('#plans > li')].map((li) => li.dataset.planId);
          return JSON.stringify(ids) === JSON.stringify(u.plans.map((p) => p.id));
        }""",
        arg=expected,
    )


def answer_heavy_within_budget(page: Page) -> None:
    """More than 40 GB of data and the test's budget, as a person would answer them."""
    page.get_by_role("group", name=DATA_QUESTION).get_by_label("More than 40 GB").check()
    budget = page.get_by_label(BUDGET_QUESTION, exact=True)
    budget.fill(str(BUDGET))
    budget.press("Tab")
    wait_answers(page, {"dataUsage": "heavy", "budget": BUDGET})


def shown_ids(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all("#plans > li", "(els) => els.map((el) => el.dataset.planId)")
    return ids


def excluded_on_page(page: Page) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = page.eval_on_selector_all(
        "#excluded .excluded-list > li",
        """(els) => els.map((li) => ({
             id: li.dataset.planId,
             name: li.querySelector('.excluded-name').textContent,
             reasons: [...li.querySelectorAll('.reasons li')].map((r) => r.textContent),
           }))""",
    )
    return items


def check_excluded(page: Page, expected: Expected) -> None:
    """At most excludedLimit plans, in ranking order, with their reasons; the count of the others."""
    listed = excluded_on_page(page)
    assert len(listed) == EXCLUDED_LIMIT
    assert [item["id"] for item in listed] == [p["id"] for p in expected.excluded[:EXCLUDED_LIMIT]]
    for item in listed:
        plan = expected.plans[item["id"]]
        assert item["name"] == plan["name"]
        assert item["reasons"] == Expected.reasons_against(plan), item
    server_update = page.evaluate("window.planwiseClient.update")
    assert [e["id"] for e in server_update["excluded"]] == [item["id"] for item in listed]
    assert server_update["totalPlans"] == expected.total
    assert server_update["matchedPlans"] == len(expected.matched)
    excluded = page.locator("#excluded")
    more = expected.total - len(expected.matched) - EXCLUDED_LIMIT
    expect(excluded.locator("summary .count")).to_have_text(f"{len(expected.excluded):,}")
    note = excluded.locator(".excluded-more")
    expect(note).to_have_attribute("data-count", str(more))
    expect(note).to_contain_text(f"And {more:,} more plans do not fit")
    expect(page.locator("#summary")).to_contain_text(f"{len(expected.matched)} of {expected.total} plans fit")


def server_explanation(server: ServerProcess, page: Page, plan_id: str) -> dict[str, Any]:
    session = page.evaluate("window.planwiseClient.session")
    response = httpx.get(
        f"{server.url}/api/sessions/{session['sessionId']}/plans/{plan_id}",
        headers={"Authorization": f"Bearer {session['token']}"},
        timeout=10,
        trust_env=False,
    )
    assert response.status_code == 200, response.text
    explained: dict[str, Any] = response.json()
    return explained


def shown_explanation(page: Page, plan_id: str, status: str) -> dict[str, Any]:
    result = page.locator("#why-not-result")
    expect(result).to_have_attribute("data-plan-id", plan_id)
    expect(result).to_have_attribute("data-status", status)
    shown: dict[str, Any] = page.eval_on_selector(
        "#why-not-result",
        """(el) => ({
             plan: el.querySelector('.why-not-plan').textContent,
             status: el.querySelector('.why-not-status').textContent,
             reasons: [...el.querySelectorAll('.reasons li')].map((r) => r.textContent),
             busy: el.getAttribute('aria-busy'),
           })""",
    )
    return shown


def ask(page: Page, text: str) -> None:
    """Type into "Why not this plan?" and press Enter."""
    box = page.get_by_label("Plan name or plan id")
    box.fill(text)
    box.press("Enter")


def test_why_not_on_a_generated_5000_plan_catalogue(
    big_server: ServerProcess, page: Page, bundle: dict[str, Any], artifacts: Path
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(big_server.url + "/")
    expect(page.locator("#connection")).to_have_attribute("data-status", "live", timeout=30_000)
    expect(page.locator("#plans > li")).to_have_count(LIMIT)
    initially_seen = set(shown_ids(page))

    # Heavy data and a budget: most plans are excluded (about six in seven by data alone).
    answer_heavy_within_budget(page)
    before_travel = Expected(bundle, travel=False)
    assert len(before_travel.excluded) > 4000 and len(before_travel.matched) > 3 * LIMIT
    assert shown_ids(page) == before_travel.shown
    page.locator("#excluded summary").click()
    check_excluded(page, before_travel)

    # Travel: roaming plans score 10 and move up, in the list and among the excluded plans.
    page.get_by_role("group", name=TRAVEL_QUESTION).get_by_label("Yes").check()
    wait_answers(page, {"dataUsage": "heavy", "budget": BUDGET, "travel": True})
    expected = Expected(bundle, travel=True)
    assert shown_ids(page) == expected.shown
    check_excluded(page, expected)
    assert [p["id"] for p in expected.excluded[:EXCLUDED_LIMIT]] != [
        p["id"] for p in before_travel.excluded[:EXCLUDED_LIMIT]
    ], "the score changed the order of the excluded plans"

    section = page.locator("#why-not")
    expect(section).to_be_visible()
    assert page.get_attribute("#why-not-result", "aria-live") == "polite"
    box = page.get_by_label("Plan name or plan id")
    expect(box).to_have_attribute("role", "combobox")

    # A cut plan, found by name: shown before the travel answer, now ranked below the top 20.
    cut_id = next(pid for pid in before_travel.shown if pid in expected.cut)
    cut_plan = expected.plans[cut_id]
    box.fill(cut_plan["name"][:-1])  # part of the name: the listbox offers the plans seen so far
    option = page.locator(f'#why-not-options [role="option"][data-plan-id="{cut_id}"]')
    expect(option).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    options = page.locator('#why-not-options [role="option"]')
    for _ in range(options.count()):  # keyboard only: arrows to the plan, Enter
        box.press("ArrowDown")
        if option.get_attribute("aria-selected") == "true":
            break
    assert box.get_attribute("aria-activedescendant") == option.get_attribute("id")
    box.press("Enter")
    expect(box).to_have_value(cut_plan["name"])
    expect(box).to_have_attribute("aria-expanded", "false")
    shown = shown_explanation(page, cut_id, "cut")
    server = server_explanation(big_server, page, cut_id)
    assert server["status"] == "cut" and "rank" not in server
    assert shown["status"] == f"Matches your answers, but ranked below the top {LIMIT}."
    assert shown["plan"] == f"{cut_plan['name']} · {cut_plan['provider']}"
    assert shown["reasons"] == [r["text"] for r in server["reasons"]]
    assert set(shown["reasons"]) == {HEAVY, WITHIN_BUDGET} | (
        {ROAMING} if cut_plan["attributes"]["roaming"] else set()
    )

    # An excluded plan the update does not list and the page never saw: asked for by its plan id.
    far = expected.excluded[-1]
    listed_ever = {p["id"] for e in (before_travel, expected) for p in e.excluded[:EXCLUDED_LIMIT]}
    assert far["id"] not in initially_seen | listed_ever | set(before_travel.shown) | set(expected.shown)
    ask(page, far["id"])
    shown = shown_explanation(page, far["id"], "excluded")
    server = server_explanation(big_server, page, far["id"])
    assert server["status"] == "excluded"
    assert shown["status"] == "Excluded because:"
    assert shown["reasons"] == [r["text"] for r in server["reasons"]] == Expected.reasons_against(far)
    assert shown["plan"] == far["id"], "a plan the page never saw is named by its id"

    # A listed excluded plan, by name with the mouse.
    listed = excluded_on_page(page)[3]
    box.fill(listed["name"])
    page.locator(f'#why-not-options [role="option"][data-plan-id="{listed["id"]}"]').click()
    shown = shown_explanation(page, listed["id"], "excluded")
    assert (
        shown["reasons"]
        == listed["reasons"]
        == [r["text"] for r in server_explanation(big_server, page, listed["id"])["reasons"]]
    )

    # A retired plan, and a plan id no catalogue has.
    ask(page, "plan-0999")
    assert shown_explanation(page, "plan-0999", "inactive")["status"] == "No longer offered."
    assert server_explanation(big_server, page, "plan-0999")["status"] == "inactive"
    ask(page, "plan-9999")
    result = page.locator("#why-not-result")
    expect(result).to_have_attribute("data-state", "error")
    expect(result).to_contain_text("no plan has that id")
    ask(page, "Not a plan at all")
    expect(result).to_contain_text("cannot be a plan id")

    # The explanation follows the answers: without travel the cut plan is shown again.
    ask(page, cut_plan["name"])
    shown_explanation(page, cut_id, "cut")
    page.get_by_role("group", name=TRAVEL_QUESTION).get_by_label("No").check()
    wait_answers(page, {"dataUsage": "heavy", "budget": BUDGET, "travel": False})
    rank = before_travel.shown.index(cut_id) + 1
    expect(result).to_have_attribute("data-status", "shown")
    expect(result.locator(".why-not-status")).to_have_text(f"Shown at rank {rank}.")
    server = server_explanation(big_server, page, cut_id)
    assert server["status"] == "shown" and server["rank"] == rank
    assert shown_explanation(page, cut_id, "shown")["reasons"] == [r["text"] for r in server["reasons"]]

    page.evaluate("document.getElementById('why-not').scrollIntoView()")
    page.screenshot(path=str(artifacts / "page-why-not.png"))
    assert errors == []


def test_why_not_over_the_http_fallback(
    big_server: ServerProcess, browser: Browser, bundle: dict[str, Any]
) -> None:
    """WebSockets blocked: the same explanations come from GET /api/sessions/{id}/plans/{planId}."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(BLOCK_WEBSOCKETS)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(big_server.url + "/")
        expect(page.locator("#connection")).to_have_attribute("data-status", "fallback", timeout=30_000)
        answer_heavy_within_budget(page)
        expected = Expected(bundle, travel=False)
        check_excluded(page, expected)

        far = expected.excluded[-1]
        ask(page, far["id"])
        shown = shown_explanation(page, far["id"], "excluded")
        assert shown["reasons"] == Expected.reasons_against(far)
        assert shown["reasons"] == [
            r["text"] for r in server_explanation(big_server, page, far["id"])["reasons"]
        ]

        cut = expected.matched[LIMIT]  # the first plan below the limit
        ask(page, cut["id"])
        shown = shown_explanation(page, cut["id"], "cut")
        assert shown["reasons"] == [
            r["text"] for r in server_explanation(big_server, page, cut["id"])["reasons"]
        ]
        ask(page, "plan-9999")
        expect(page.locator("#why-not-result")).to_contain_text("no plan has that id")
        expect(page.locator("#connection")).to_have_attribute("data-status", "fallback")
        assert page.evaluate("window.__blockedSockets") >= 2
        assert errors == []
    finally:
        context.close()
