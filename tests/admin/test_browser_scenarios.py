"""Issue 14 in a real browser: a test scenario's answers and plans picked from lists, with and
without JavaScript, and the simulator's answers carried over into those rows.

The real server (``planwise serve --demo``) and Debian's Chromium, like test_browser_trust.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.admin.test_browser_admin import ARTIFACTS
from tests.admin.test_browser_trust import PEOPLE, chromium, person, save, server
from tests.servers import ServerProcess

__all__ = ["chromium", "server"]

pytestmark = pytest.mark.browser


def pick_question(page: Any, row: int, question: str, script: bool = True) -> None:
    """Pick a row's question; with the script the row's answer inputs come at once, else "Update"."""
    select = f"select[name=answers-{row}-question]"
    if script:
        with page.expect_navigation():
            page.select_option(select, question)
    else:
        page.select_option(select, question)
        save(page, "Update the answer inputs")


def save_scenario(page: Any) -> None:
    with page.expect_navigation():
        page.click("button.primary:has-text('Save')")


def stored_answers(page: Any, url: str, name: str) -> str:
    page.goto(f"{url}/admin/scenarios")
    page.click(f"a:has-text('{name}')")
    return str(page.locator("#field-answers").inner_text())


def test_scenario_answers_and_plans_from_lists(server: ServerProcess, chromium: Any) -> None:
    url = server.url
    ann = person(chromium, url, PEOPLE[0])
    ann.goto(f"{url}/admin/scenarios/new")
    assert ann.locator("textarea").count() == 0  # no JSON box
    assert not ann.is_visible("text=Update the answer inputs")  # the script picks for us
    ann.fill("input[name=name]", "Heavy streamer on a budget")

    pick_question(ann, 0, "dataUsage")
    ann.select_option("select[name=answers-0-value]", "heavy")
    save(ann, "Add an answer")
    pick_question(ann, 1, "extras")
    extras = ann.get_by_role("group", name="Answer to Which extras would you like?")
    extras.get_by_label("Video streaming subscription").check()
    extras.get_by_label("Music streaming subscription").check()
    save(ann, "Add an answer")
    pick_question(ann, 2, "budget")
    assert ann.is_visible("text=a number between 0 and 200")
    ann.fill("input[name=answers-2-value]", "30")
    save(ann, "Add an answer")
    pick_question(ann, 3, "network5g")
    ann.select_option("select[name=answers-3-value]", "true")
    assert ann.input_value("select[name=answers-0-value]") == "heavy"  # earlier rows kept
    ann.locator("button[data-remove=answer-3]").click()  # removed in the page
    assert ann.locator("select[name=answers-3-question]").count() == 0

    plans = ann.locator("select[name=expectations-0-plan] option").all_inner_texts()
    assert "Max 50 (bluejay-max-50)" in plans
    ann.select_option("select[name=expectations-0-plan]", "bluejay-max-50")
    ann.select_option("select[name=expectations-0-kind]", "shown")
    ann.locator("#field-answers").screenshot(path=str(ARTIFACTS / "admin-scenario-answers.png"))
    save_scenario(ann)
    ann.wait_for_selector("text=Scenario 'Heavy streamer on a budget' saved.")
    text = stored_answers(ann, url, "Heavy streamer on a budget")
    questions = ann.locator("select.question").evaluate_all("(l) => l.map((s) => s.value)")
    assert questions == ["dataUsage", "budget", "extras", ""]  # questionnaire order, then a blank row
    assert ann.input_value("select[name=answers-0-value]") == "heavy"
    assert ann.input_value("input[name=answers-1-value]") == "30"
    assert "Video streaming subscription" in text
    checked = ann.locator("input[name=answers-2-value]:checked").evaluate_all("(l) => l.map((i) => i.value)")
    assert checked == ["streaming-video", "music"]

    # A value the list does not offer (a page changed by hand) is refused by the service's validator.
    ann.evaluate(
        """() => { const s = document.querySelector('select[name=answers-0-value]');
                   s.add(new Option('gigantic', 'gigantic', true, true)); }"""
    )
    save_scenario(ann)
    ann.wait_for_selector("text=Answer for 'dataUsage' must be one of: light, medium, heavy, unlimited")
    kept = ann.locator("select[name=answers-0-value] option:checked").inner_text()
    assert kept == "gigantic (not an option)"  # the input is kept, marked


def test_scenario_without_javascript_and_from_the_simulator(server: ServerProcess, chromium: Any) -> None:
    url = server.url
    ben = person(chromium, url, PEOPLE[1])
    # The simulator's answers are picked from lists too; "Save as test scenario" carries them over.
    ben.goto(f"{url}/admin/simulator")
    with ben.expect_navigation():
        ben.get_by_role("group", name="How much mobile data do you use in a month?").get_by_label(
            "20 to 60 GB"
        ).check()
    ben.click("a:has-text('Save as test scenario')")
    assert ben.input_value("select[name=answers-0-question]") == "dataUsage"
    assert ben.input_value("select[name=answers-0-value]") == "heavy"

    # The same form without JavaScript: "Update the answer inputs" after picking a question.
    context = chromium.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{url}/admin/login")
    page.fill("input[name=email]", PEOPLE[1])
    page.fill("input[name=password]", "a long browser-test password")
    save(page, "Sign in")
    page.goto(f"{url}/admin/scenarios/new")
    page.fill("input[name=name]", "No script")
    pick_question(page, 0, "travel", script=False)
    page.select_option("select[name=answers-0-value]", "true")
    save(page, "Add an answer")
    pick_question(page, 1, "dataUsage", script=False)
    page.select_option("select[name=answers-1-value]", "light")
    save(page, "Add an answer")
    save(page, "Remove")  # the first Remove: the travel row
    assert page.input_value("select[name=answers-0-question]") == "dataUsage"
    page.select_option("select[name=expectations-0-plan]", "bluejay-mini-2")
    save_scenario(page)
    page.wait_for_selector("text=Scenario 'No script' saved.")
    page.goto(f"{url}/admin/scenarios")
    row = page.locator("tr", has_text="No script").inner_text()
    assert "plan bluejay-mini-2 is shown" in row
    context.close()

    # At 360 px the page never scrolls sideways (the rows' table scrolls inside itself if it must).
    narrow = person(chromium, url, PEOPLE[1], width=360)
    narrow.goto(f"{url}/admin/scenarios/1")
    wide = narrow.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    narrow.screenshot(path=str(ARTIFACTS / "admin-scenario-360.png"), full_page=True)
    assert wide <= 0, wide
