"""The page shows a catalogue's own labels, headline and estimate: a home-energy catalogue, not the demo.

CATALOGUE.md "Estimate and display": nothing in the page may know the demo's mobile attributes;
every label, unit, format and the estimate come from the questionnaire's schema.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from ..servers import ServerProcess

pytestmark = pytest.mark.browser

expect.set_options(timeout=20_000)

ESTIMATE = {
    "label": "Estimated monthly cost",
    "currency": "GBP",
    "unit": "a month",
    "decimals": 2,
    "inputs": [{"name": "kwh", "answer": "annualUsage", "default": 2700}],
    "formula": "(plan.standingCharge * 365 + kwh * plan.unitRate) / 100 / 12",
    "explanation": "{plan.standingCharge}p a day and {kwh} kWh a year at {plan.unitRate}p",
}

ENERGY: dict[str, Any] = {
    "format": "plan-catalogue/1",
    "name": "Home energy tariffs",
    "description": "Electricity tariffs for a browser test.",
    "attributes": [
        {"key": "standingCharge", "type": "number", "label": "Standing charge", "unit": "p/day"},
        {"key": "unitRate", "type": "number", "label": "Unit rate", "unit": "p/kWh"},
        {"key": "exitFee", "type": "number", "label": "Exit fee", "unit": "GBP"},
        {"key": "contractMonths", "type": "number", "label": "Contract length", "unit": "months"},
        {"key": "greenPercent", "type": "number", "label": "Renewable electricity", "unit": "%"},
        {"key": "fixed", "type": "boolean", "label": "Fixed price"},
        {"key": "fuels", "type": "set", "label": "Fuels"},
    ],
    "plans": [
        {
            "id": "green-fix-12",
            "name": "Green Fix 12",
            "provider": "Brightwatt",
            "description": "Fixed for a year, all renewable.",
            "attributes": {
                "standingCharge": 53.35,
                "unitRate": 24.5,
                "exitFee": 75,
                "contractMonths": 12,
                "greenPercent": 100,
                "fixed": True,
                "fuels": ["electricity"],
            },
        },
        {
            "id": "flex-variable",
            "name": "Flex Variable",
            "provider": "Gridco",
            "attributes": {
                "standingCharge": 60.1,
                "unitRate": 22.36,
                "contractMonths": 0,
                "greenPercent": 40,
                "fixed": False,
                "fuels": ["electricity", "gas"],
            },
        },
        {
            "id": "tracker-24",
            "name": "Tracker 24",
            "provider": "Voltaic",
            "attributes": {
                "standingCharge": 47.0,
                "unitRate": 26.0,
                "exitFee": 30,
                "contractMonths": 24,
                "greenPercent": 60,
                "fixed": True,
                "fuels": ["electricity"],
            },
        },
    ],
    "questions": [
        {
            "id": "annualUsage",
            "text": "How much electricity do you use in a year?",
            "type": "number",
            "min": 0,
            "max": 20000,
            "step": 1,
            "unit": "kWh",
            "help": "Your bill or meter shows it; a typical home uses 2,700 kWh.",
        },
        {"id": "wantFixed", "text": "Do you want a fixed price?", "type": "boolean"},
    ],
    "rules": [
        {
            "id": "fixed-price",
            "name": "People who want a fixed price get one",
            "when": {"answer": "wantFixed", "op": "==", "value": True},
            "then": [
                {
                    "require": {"attribute": "fixed", "op": "==", "value": True},
                    "because": "The price is fixed for the contract",
                }
            ],
        },
        {
            "id": "mostly-green",
            "name": "Prefer renewable electricity",
            "when": {"all": []},
            "then": [
                {
                    "score": 10,
                    "where": {"attribute": "greenPercent", "op": ">=", "value": 50},
                    "because": "At least half of the electricity is renewable",
                }
            ],
        },
    ],
    "ranking": {"order": [{"by": "score", "dir": "desc"}, {"by": "unitRate", "dir": "asc"}], "limit": 20},
    "estimate": ESTIMATE,
    "display": {"headline": ["unitRate", "standingCharge", "contractMonths", "greenPercent"]},
}

# Labels of the demo's mobile catalogue that must never show up for this catalogue.
DEMO_LABELS = ["Monthly price", "Data allowance", "Minimum term", "Call minutes", "EU roaming"]

# Every estimate line the page ever shows, to check the pending text too (it may flash briefly).
RECORD_ESTIMATES = """
window.__estimateTexts = [];
new MutationObserver(() => {
  for (const node of document.querySelectorAll('.estimate-amount')) {
    const text = node.textContent;
    if (!window.__estimateTexts.includes(text)) window.__estimateTexts.push(text);
  }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


def publish(server: ServerProcess, tmp_path: Path, bundle: dict[str, Any], name: str) -> None:
    path = tmp_path / name
    path.write_text(json.dumps(bundle), encoding="utf-8")
    result = server.run_cli("import", str(path), "--publish", "--message", "browser test: energy")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    ctx.add_init_script(RECORD_ESTIMATES)
    yield ctx
    ctx.close()


def settled(page: Page) -> None:
    """The enriched update of the newest revision is shown, in its order."""
    page.mouse.move(2, 2)
    page.wait_for_function(
        """() => {
          const u = window.planwiseClient && window.planwiseClient.update;
          if (!u || u.stage !== 'enriched') return false;
          const ids = [...document.querySelectorAll('#plans > li')].map((li) => li.dataset.planId);
          return JSON.stringify(ids) === JSON.stringify(u.plans.map((p) => p.id));
        }"""
    )


def facts(page: Page, plan_id: str, selector: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = page.eval_on_selector(
        f'#plans > li[data-plan-id="{plan_id}"] {selector}',
        """(dl) => [...dl.querySelectorAll('dt')]
                  .map((dt) => [dt.textContent, dt.nextElementSibling.textContent])""",
    )
    return [tuple(pair) for pair in pairs]  # type: ignore[misc]


def test_energy_catalogue_labels_headline_and_estimate(
    browser: Browser, context: BrowserContext, server: ServerProcess, tmp_path: Path, artifacts: Path
) -> None:
    publish(server, tmp_path, ENERGY, "energy.json")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")
    expect(page.locator("#version-number")).to_have_text("2")
    settled(page)

    card = page.locator('#plans > li[data-plan-id="green-fix-12"]')
    expect(card).to_be_visible()
    # The headline attributes first, in display.headline's order, with the catalogue's labels and units.
    assert facts(page, "green-fix-12", ".facts") == [
        ("Unit rate", "24.5 p/kWh"),
        ("Standing charge", "53.35 p/day"),
        ("Contract length", "12 months"),
        ("Renewable electricity", "100%"),
    ]
    # The rest under "More details", in schema order: a GBP unit is money, booleans yes/no, sets a list.
    assert facts(page, "green-fix-12", ".all-facts") == [
        ("Exit fee", "£75.00"),
        ("Fixed price", "Yes"),
        ("Fuels", "electricity"),
    ]
    assert facts(page, "flex-variable", ".all-facts") == [
        ("Fixed price", "No"),
        ("Fuels", "electricity, gas"),
    ], "a plan without an exit fee shows none (and no made-up £0.00)"

    # The estimate with the default input kwh = 2700:
    # (53.35 p/day * 365 + 2700 kWh * 24.5 p/kWh) / 100 / 12
    #   = (19472.75 + 66150) / 1200 = 85622.75 / 1200 = 71.35229... -> £71.35 (2 decimals)
    estimate = card.locator(".estimate")
    expect(estimate).to_have_attribute("data-state", "ready")
    expect(card.locator(".estimate-amount")).to_have_text("Estimated monthly cost: £71.35 a month")
    expect(card.locator(".estimate-explanation")).to_have_text("53.35p a day and 2700 kWh a year at 24.5p")
    # Flex Variable: (60.1 * 365 + 2700 * 22.36) / 100 / 12 = (21936.5 + 60372) / 1200
    #   = 82308.5 / 1200 = 68.590416... -> £68.59
    expect(page.locator('#plans > li[data-plan-id="flex-variable"] .estimate-amount')).to_have_text(
        "Estimated monthly cost: £68.59 a month"
    )

    # An answer feeds the formula: kwh = 3100 for the same plan:
    # (19472.75 + 3100 * 24.5) / 1200 = (19472.75 + 75950) / 1200 = 95422.75 / 1200 = 79.518958... -> £79.52
    usage = page.get_by_label("How much electricity do you use in a year?", exact=True)
    usage.fill("3100")
    usage.press("Tab")
    page.wait_for_function(
        """() => {
          const u = window.planwiseClient.update;
          return u.answers.annualUsage === 3100 && u.stage === 'enriched';
        }"""
    )
    settled(page)
    expect(card.locator(".estimate-amount")).to_have_text("Estimated monthly cost: £79.52 a month")
    expect(card.locator(".estimate-explanation")).to_have_text("53.35p a day and 3100 kWh a year at 24.5p")

    # The confirmation repeats the estimate in the catalogue's words.
    card.get_by_role("button", name="Choose this plan").click()
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".confirm-price")).to_have_text("Estimated monthly cost: £79.52 a month")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    body = page.locator("body").inner_text() + (page.text_content("body") or "")
    for label in DEMO_LABELS:
        assert label not in body, f"the demo's label {label!r} is on the page"
    seen: list[str] = page.evaluate("window.__estimateTexts")
    pending = [text for text in seen if not text.startswith("Estimated monthly cost: £")]
    assert set(pending) <= {"Working out estimated monthly cost…"}, seen
    page.screenshot(path=str(artifacts / "page-energy-desktop.png"), full_page=True)
    assert errors == []


def test_catalogue_without_estimate_or_headline(
    browser: Browser, context: BrowserContext, server: ServerProcess, tmp_path: Path
) -> None:
    """No estimate in the catalogue: no estimate UI at all; no headline: the schema order leads."""
    bundle = copy.deepcopy(ENERGY)
    del bundle["estimate"]
    del bundle["display"]
    publish(server, tmp_path, bundle, "energy-plain.json")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")
    expect(page.locator("#version-number")).to_have_text("2")
    card = page.locator('#plans > li[data-plan-id="green-fix-12"]')
    expect(card).to_be_visible()
    page.wait_for_timeout(1500)  # time for an enriched update, if any came
    expect(card.locator(".estimate")).to_be_hidden()
    assert page.evaluate("window.__estimateTexts") == [], "never a pending or estimate line"
    assert [label for label, _ in facts(page, "green-fix-12", ".facts")] == [
        "Standing charge",
        "Unit rate",
        "Exit fee",
        "Contract length",
        "Renewable electricity",
    ]
    assert errors == []
