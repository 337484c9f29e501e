"""An excluded plan listed with only its first reasons (``ranking.excludedReasonsLimit``, a Planwise
extension for catalogues with many rules): the update says how many there are (``reasonsTotal``)
and the page's "All N reasons" button explains it in full through "Why not this plan?".

The catalogue and the independent expectation are those of test_why_not.py, on 400 plans.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .support import browser_server
from .test_why_not import (
    HEAVY,
    WITHIN_BUDGET,
    Expected,
    answer_heavy_within_budget,
    excluded_on_page,
    generate,
    page,
    shown_explanation,
)

pytestmark = pytest.mark.browser

__all__ = ["page"]  # the fixture, shared with test_why_not.py


def test_an_excluded_plan_listed_with_its_first_reason_offers_all_of_them(tmp_path: Path, page: Page) -> None:
    """ranking.excludedReasonsLimit 1: each excluded plan lists its first reason by priority; one
    with more says how many and explains them all on request ("Why not this plan?")."""
    bundle = generate(count=400)
    bundle["ranking"]["excludedReasonsLimit"] = 1
    bundle["ranking"]["excludedLimit"] = 400  # all of them: the cheapest lose on data alone
    path = tmp_path / "generated-400.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    server = browser_server(tmp_path / "server")
    server.env["PLANWISE_DEMO_BUNDLE"] = str(path)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        server.start()
        page.goto(server.url + "/")
        expect(page.locator("#connection")).to_have_attribute("data-status", "live", timeout=30_000)
        answer_heavy_within_budget(page)
        page.locator("#excluded summary").click()
        expected = Expected(bundle, travel=False)
        listed = excluded_on_page(page)
        assert [item["id"] for item in listed] == [p["id"] for p in expected.excluded]
        both = [item for item in listed if len(Expected.reasons_against(expected.plans[item["id"]])) == 2]
        assert both and len(both) < len(listed), "some listed plans lose on both rules, some on one"
        for item in listed:
            against = Expected.reasons_against(expected.plans[item["id"]])
            assert item["reasons"] == against[:1], item  # the data rule (priority 20) first
            button = page.locator(f'#excluded li[data-plan-id="{item["id"]}"] button.excluded-all-reasons')
            expect(button).to_have_count(1 if len(against) == 2 else 0)
        update = page.evaluate("window.planwiseClient.update")
        totals = {e["id"]: e.get("reasonsTotal") for e in update["excluded"]}
        assert {pid for pid, total in totals.items() if total == 2} == {item["id"] for item in both}

        target = both[0]
        button = page.locator(f'#excluded li[data-plan-id="{target["id"]}"] button.excluded-all-reasons')
        expect(button).to_have_text("All 2 reasons (1 more)")
        button.click()
        shown = shown_explanation(page, target["id"], "excluded")
        assert (
            shown["reasons"]
            == Expected.reasons_against(expected.plans[target["id"]])
            == [HEAVY, WITHIN_BUDGET]
        )
        expect(page.get_by_label("Plan name or plan id")).to_have_value(target["name"])
        assert errors == []
    finally:
        server.stop()
