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


BANDS = [
    ("band-light", "<", 5, "light"),
    ("band-medium", "between", [5, 20], "medium"),
    ("band-heavy", ">=", 18, "heavy"),
]


def add_rule_in_json(page: Any, url: str, rule_id: str, when: dict[str, Any], then: list[Any]) -> None:
    """Add a rule as a power user would: New rule, switch to the JSON view, type, save."""
    import json

    page.goto(f"{url}/admin/draft/rules/new")
    save(page, "Switch to the JSON view")
    page.fill("input[name=id]", rule_id)
    page.fill("input[name=name]", rule_id.replace("-", " ").capitalize())
    page.fill("textarea[name=when]", json.dumps(when))
    page.fill("textarea[name=then]", json.dumps(then))
    save(page)
    page.wait_for_selector(f"text=Rule {rule_id} saved.")


def test_warnings_table_history_and_small_screens(server: ServerProcess, chromium: Any) -> None:
    url = server.url
    ann = person(chromium, url, PEOPLE[0])
    # Usage bands on a number question where medium and heavy overlap: a warning, never a refusal.
    for rule_id, op, value, band in BANDS:
        when = {"answer": "dataGbPerMonth", "op": op, "value": value}
        add_rule_in_json(ann, url, rule_id, when, [{"derive": {"fact": "band", "value": band}}])
    ann.goto(f"{url}/admin/draft")
    warnings = ann.locator("ul.warnings").first.inner_text()
    assert "Overlapping ranges" in warnings and "when dataGbPerMonth is 18 to 20, band is both" in warnings
    ann.locator("#rule-warnings").scroll_into_view_if_needed()
    ann.screenshot(path=str(ARTIFACTS / "admin-rule-warnings.png"))
    ann.click("ul.warnings >> text=band-heavy")
    assert ann.is_visible("text=Warnings about this rule")

    # The decision table: filter by the question, change a priority inline, export CSV.
    ann.goto(f"{url}/admin/draft/rules/table")
    ann.select_option("select[name=question]", "dataGbPerMonth")
    with ann.expect_navigation():
        ann.click("button:has-text('Filter')")
    assert ann.locator("table.decision-table tbody tr").count() == 3
    assert "dataGbPerMonth is between 5 GB and 20 GB" in ann.locator("#rule-band-medium").inner_text()
    ann.fill("#rule-band-medium input[name^=priority]", "7")
    save(ann, "Save changes")
    ann.wait_for_selector("text=Saved band-medium.")
    assert ann.input_value("#rule-band-medium input[name^=priority]") == "7"
    ann.screenshot(path=str(ARTIFACTS / "admin-decision-table.png"))
    with ann.expect_download() as download:
        ann.click("text=Export CSV")
    assert "band-medium" in Path(download.value.path()).read_text()

    # Publish, then compare versions in words and restore the first one as the draft.
    ann.goto(f"{url}/admin/publish")
    assert "Overlapping ranges" in ann.locator("main").inner_text()  # warned, not blocked
    ann.fill("textarea[name=message]", "Usage bands")
    save(ann, "Publish now")
    ann.wait_for_selector("text=It is live now.")
    ann.goto(f"{url}/admin/versions/compare?a=1&b=2")
    text = ann.locator("main").inner_text()
    assert "dataGbPerMonth is between 5 GB and 20 GB" in text and "added" in text
    ann.screenshot(path=str(ARTIFACTS / "admin-compare-versions.png"))
    ann.goto(f"{url}/admin/versions/1")
    ann.click("text=Restore as the draft…")
    save(ann, "Restore version 1 as the draft")
    ann.wait_for_selector("text=Version 1 is the draft now.")

    # 360 px: menus never overlap, and only tables scroll sideways.
    small = person(chromium, url, PEOPLE[1], width=360)
    for path in ("/admin/draft/rules", "/admin/draft/rules/table", "/admin/draft/plans"):
        small.goto(url + path)
        wide = small.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert wide <= 0, (path, wide)
    small.click("summary:has-text('Draft')")
    small.click("summary:has-text('Check')")
    assert small.evaluate("document.querySelectorAll('details.menu[open]').length") == 1
    small.screenshot(path=str(ARTIFACTS / "admin-360.png"))


def test_questions_sets_and_builder_as_a_person(server: ServerProcess, chromium: Any) -> None:
    url = server.url
    ann = person(chromium, url, PEOPLE[0])
    # Insert a question after the first one.
    ann.goto(f"{url}/admin/draft/questions")
    ann.click("a[aria-label='Insert a question after dataUsage']")
    ann.fill("input[name=id]", "postcode")
    ann.fill("input[name=text]", "Your postcode?")
    ann.select_option("select[name=type]", "text")
    save(ann)
    ann.wait_for_selector("text=Question postcode saved.")
    ann.goto(f"{url}/admin/draft/questions")
    order = ann.eval_on_selector_all("#question-list tbody tr", "rows => rows.map(r => r.dataset.id)")
    assert order[:3] == ["dataUsage", "postcode", "dataGbPerMonth"]
    # Drag the last question to the top: it depends on a later question, so a warning appears.
    ann.set_viewport_size({"width": 1280, "height": 2400})  # the whole list on screen: no scrolling mid-drag
    with ann.expect_navigation():
        ann.locator("#question-list tr[data-id=lines]").drag_to(
            ann.locator("#question-list tr[data-id=dataUsage]")
        )
    ann.wait_for_selector("text=The new order is saved.")
    order = ann.eval_on_selector_all("#question-list tbody tr", "rows => rows.map(r => r.dataset.id)")
    assert order.index("lines") < order.index("householdSize"), order
    assert ann.is_visible("text=Order warnings"), ann.locator("main").inner_text()[:600]
    assert "move lines after householdSize" in ann.locator("main").inner_text()

    # A set attribute: tick a known value, and a near miss asks "did you mean".
    ann.goto(f"{url}/admin/draft/plans/0")
    ann.fill("input[name=attr_perks__new]", "Music")
    save(ann)
    assert ann.is_visible("text=did you mean “music”?")
    ann.fill("input[name=attr_perks__new]", "")
    ann.check("input[name=attr_perks][value=music]")
    save(ann)
    ann.wait_for_selector("text=saved.")
    assert ann.is_checked("input[name=attr_perks][value=music]")

    # The builder: switching a test to a multi question offers "contains" at once.
    ann.goto(f"{url}/admin/draft/rules/2")  # contract-flexible: contractPreference is flexible
    assert ann.input_value("select[name=when-op]") == "=="
    with ann.expect_navigation():
        ann.select_option("select[name=when-subject]", "extras")
    assert ann.input_value("select[name=when-op]") == "contains"


def test_ask_when_builder_in_the_browser(server: ServerProcess, chromium: Any) -> None:
    url = server.url
    ann = person(chromium, url, PEOPLE[0])
    ann.goto(f"{url}/admin/draft/questions")
    ann.click("#question-list a:text-is('intlMinutes')")  # asked when intlCalls is yes
    assert ann.is_visible("#field-askWhen") and ann.input_value("select[name=when-subject]") == "intlCalls"
    with ann.expect_navigation():  # the script updates the builder at once
        ann.select_option("select[name=when-kind]", "all")
    with ann.expect_navigation():
        ann.click("#field-askWhen button:has-text('answer test')")
    with ann.expect_navigation():
        ann.select_option("select[name=when-0-subject]", "travel")
    ann.select_option("select[name=when-0-value]", "true")
    ann.screenshot(path=str(ARTIFACTS / "admin-ask-when.png"))
    save(ann)
    ann.wait_for_selector("text=Question intlMinutes saved.")
    assert ann.input_value("select[name=when-kind]") == "all"
    assert ann.input_value("select[name=when-0-subject]") == "travel"
