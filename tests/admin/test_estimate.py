"""The "Estimate and display" page, live validation, preview, and the estimate in the checks."""

from __future__ import annotations

import html
import json
from typing import Any

from quart import Quart
from sqlalchemy import select

from admin.models import AuditEntry
from service.db.models import PlanSession
from service.runtime import get_runtime
from tests.admin.conftest import Browser
from tests.admin.formparse import form_fields
from tests.admin.test_checks import sim_url
from tests.admin.test_drafts import draft_bundle
from tests.admin.test_scenario_answers import answer_rows

PAGE = "/admin/draft/estimate"
FORMULA = "plan.monthlyPrice * 12 + usage * 2"
ESTIMATE = {
    "label": "Yearly cost",
    "currency": "EUR",
    "unit": "a year",
    "decimals": 2,
    "explanation": "{plan.monthlyPrice} EUR a month and {usage} extra",
    "formula": FORMULA,
    "inputs": [
        {"name": "usage", "answer": "dataUsage", "map": {"light": 1, "medium": 2, "heavy": 5}, "default": 1}
    ],
}


async def estimate_form(b: Browser, **changes: str) -> dict[str, str]:
    """The page's form as a browser would submit it, with the demo estimate filled in."""
    page = await b.text(PAGE)
    form = dict(form_fields(page))
    form.update(
        {
            "label": "Yearly cost",
            "currency": "EUR",
            "unit": "a year",
            "decimals": "2",
            "explanation": "{plan.monthlyPrice} EUR a month and {usage} extra",
            "formula": FORMULA,
            "inputs-0-name": "usage",
            "inputs-0-answer": "dataUsage",
            "inputs-0-mapfor": "dataUsage",
            "inputs-0-map-0": "1",
            "inputs-0-map-1": "2",
            "inputs-0-map-2": "5",
            "inputs-0-default": "1",
            "headline-0": "monthlyPrice",
            "headline-1": "dataGb",
        }
    )
    form.update(changes)
    return form


async def save_estimate(b: Browser, **changes: str) -> Any:
    return await b.post(PAGE, await estimate_form(b, **changes))


async def test_editing_and_saving_an_estimate(app: Quart, editor: Browser) -> None:
    page = await editor.text(PAGE)
    assert "Estimate &amp; display" in page and 'value="Monthly cost for all lines"' in page
    # The question picker offers number, choice and yes/no questions only.
    assert 'value="dataUsage"' in page and 'value="budget"' in page and 'value="travel"' in page
    assert 'value="extras"' not in page
    response = await save_estimate(editor)
    assert response.status_code == 302, await response.get_data(as_text=True)
    draft = await draft_bundle(app)
    assert draft is not None
    assert draft["estimate"] == ESTIMATE
    assert draft["display"] == {"headline": ["monthlyPrice", "dataGb"]}
    async with get_runtime(app).sessions() as db:
        entry = (await db.execute(select(AuditEntry).where(AuditEntry.target == "estimate"))).scalar_one()
    assert entry.after["estimate"]["formula"] == FORMULA
    assert entry.before["estimate"]["formula"] == "plan.monthlyPrice * lines"
    again = await editor.text(PAGE)
    assert 'value="Yearly cost"' in again and FORMULA in again
    assert "No problems found." in await editor.text("/admin/draft")
    # Loading and saving without changes keeps the same JSON.
    assert (await editor.post(PAGE, dict(form_fields(again)))).status_code == 302
    assert (await draft_bundle(app) or {})["estimate"] == ESTIMATE


async def test_choice_question_gets_one_field_per_option_without_js(app: Quart, editor: Browser) -> None:
    form = await estimate_form(editor, **{"action": "add"})
    page = await (await editor.post(PAGE, form)).get_data(as_text=True)
    assert 'name="inputs-1-name"' in page
    form = dict(form_fields(page))
    form.update({"inputs-1-name": "often", "inputs-1-answer": "dataUsage", "action": "update"})
    page = await (await editor.post(PAGE, form)).get_data(as_text=True)
    assert 'name="inputs-1-map-2"' in page and "Over 20 GB" in page
    form = dict(form_fields(page))
    form["action"] = "remove-inputs-1"
    page = await (await editor.post(PAGE, form)).get_data(as_text=True)
    assert 'name="inputs-1-name"' not in page


async def test_problems_block_saving_unless_saved_anyway(app: Quart, editor: Browser) -> None:
    response = await save_estimate(editor, formula="plan.monthlyPrice * 12 + usage * (2")
    assert response.status_code == 422
    page = await response.get_data(as_text=True)
    assert "Formula error at character" in page and '<pre class="formula-mark"' in page
    assert "Save anyway" in page and 'value="plan.monthlyPrice' not in page  # the textarea keeps it
    assert await draft_bundle(app) is None
    forced = await save_estimate(editor, formula="plan.monthlyPrice * usge", force="1")
    assert forced.status_code == 302
    overview = await editor.text("/admin/draft")
    assert "/admin/draft/estimate#field-formula" in overview and "unknown name" in overview


async def test_live_validation_returns_the_formula_error_with_its_position(
    app: Quart, editor: Browser, viewer: Browser
) -> None:
    form = await estimate_form(editor, formula="plan.monthlyPrice * usge")
    response = await editor.post(PAGE + "/check", form)
    assert response.status_code == 200
    problems = (await response.get_json())["problems"]
    formula = [p for p in problems if p["field"] == "formula"]
    assert formula[0]["path"] == "estimate.formula" and formula[0]["position"] == 20
    assert "unknown name 'usge'" in formula[0]["message"] and "usage" in formula[0]["message"]
    # The same validator: an unused input is reported at its row.
    assert any(p["field"] == "inputs-0-name" for p in problems)
    ok = await editor.post(PAGE + "/check", await estimate_form(editor))
    assert (await ok.get_json())["problems"] == []
    form.pop("csrf_token")
    no_token = await editor.post(PAGE + "/check", form, csrf=False)
    assert no_token.status_code == 400
    assert (await viewer.post(PAGE + "/check", await estimate_form(viewer))).status_code == 403


async def test_preview_values_equal_hand_computed_ones(app: Quart, editor: Browser) -> None:
    form = await estimate_form(editor, action="preview", q_dataUsage="heavy")
    page = await (await editor.post(PAGE, form)).get_data(as_text=True)
    row = page[page.index('data-plan="basic-5"') :]
    row = row[: row.index("</tr>")]
    assert "129.88 EUR a year" in row  # 9.99 * 12 + 5 * 2
    assert "9.99 EUR a month and 5 extra" in row
    assert 'data-plan="retired"' not in page  # active plans only
    light = await (await editor.post(PAGE, {**form, "q_dataUsage": ""})).get_data(as_text=True)
    assert "121.88 EUR a year" in light  # unanswered: the default 1


async def test_scenario_estimate_range_passes_fails_and_unknown_plan(app: Quart, editor: Browser) -> None:
    assert (await save_estimate(editor)).status_code == 302
    heavy = {"dataUsage": "heavy"}
    base = {**answer_rows(heavy), "expectations-0-kind": "estimate_between"}
    in_range = {**base, "name": "In range", "expectations-0-plan": "basic-5"}
    in_range.update({"expectations-0-low": "129.88", "expectations-0-high": "130"})
    assert (await editor.post("/admin/scenarios/new", in_range)).status_code == 302
    form = {
        "name": "Too cheap",
        **answer_rows(heavy),
        "expectations-0-plan": "basic-5",
        "expectations-0-kind": "estimate_between",
        "expectations-0-low": "0",
        "expectations-0-high": "100",
    }
    assert (await editor.post("/admin/scenarios/new", form)).status_code == 302
    form.update({"name": "Unknown plan", "expectations-0-plan": "nope", "expectations-0-kind": "shown"})
    refused = await editor.post("/admin/scenarios/new", form)  # a plan id the draft does not have
    assert refused.status_code == 400
    assert "There is no plan with the id “nope” in the draft" in await refused.get_data(as_text=True)
    page = await editor.text("/admin/scenarios")
    assert "plan basic-5 has an estimate between 129.88 and 130" in page
    assert page.count(">pass<") == 1 and page.count(">FAIL<") == 1
    assert "basic-5: estimate 129.88" in page


async def test_scenario_form_needs_both_bounds(app: Quart, editor: Browser) -> None:
    form = {
        "name": "No bounds",
        "expectations-0-plan": "basic-5",
        "expectations-0-kind": "estimate_between",
        "expectations-0-low": "10",
    }
    response = await editor.post("/admin/scenarios/new", form)
    assert response.status_code == 400
    assert "Give both bounds" in await response.get_data(as_text=True)


async def test_simulator_shows_estimates_and_ranks_by_them(app: Quart, editor: Browser) -> None:
    assert (await save_estimate(editor)).status_code == 302
    page = await editor.text(sim_url(dataUsage="heavy"))
    draft_col = page[page.index("<h2>Draft</h2>") : page.index("<h2>Live (version 1)</h2>")]
    assert "Yearly cost: <strong>358.00 EUR a year</strong>" in draft_col  # max-50: 29 * 12 + 10
    assert "29 EUR a month and 5 extra" in draft_col
    ranking = json.dumps({"order": [{"by": "estimate", "dir": "desc"}], "limit": 1})
    saved = await editor.post(
        "/admin/draft/settings", {"name": "Mobile plans", "description": "", "ranking": ranking}
    )
    assert saved.status_code == 302, await saved.get_data(as_text=True)
    page = await editor.text(sim_url(dataUsage="light"))
    draft_col = page[page.index("<h2>Draft</h2>") : page.index("<h2>Live (version 1)</h2>")]
    ranked = draft_col[draft_col.index('<ol class="ranked">') : draft_col.index("</ol>")]
    assert "plans are ranked by it" in draft_col
    assert ranked.count("<li data-plan=") == 1 and "max-50" in ranked  # the most expensive, then the limit


async def test_diff_and_impact_show_the_estimate(app: Quart, editor: Browser) -> None:
    async with get_runtime(app).sessions() as db, db.begin():
        db.add(PlanSession(id="s1", answers={"dataUsage": "light"}, revision=1))
        db.add(PlanSession(id="s2", answers={"dataUsage": "heavy"}, revision=1))
    assert (await save_estimate(editor)).status_code == 302
    page = await editor.text("/admin/diff")
    assert "Estimate and display" in page and "estimate formula" in page and FORMULA in page
    assert "answer dataUsage; map light → 1, medium → 2, heavy → 5; default 1" in page
    assert "headline attributes" in page and "monthlyPrice, dataGb" in page
    assert "&#34;label&#34;" not in page and '"label"' not in page  # words, not JSON
    order = [{"by": "score", "dir": "desc"}, {"by": "estimate", "dir": "desc"}, {"by": "monthlyPrice"}]
    ranking = json.dumps({"order": order})
    await editor.post(
        "/admin/draft/settings", {"name": "Mobile plans", "description": "", "ranking": ranking}
    )
    impact = await editor.text("/admin/impact?limit=1000&run=1")
    assert "<strong>2</strong> of 2 session(s) would get a different top plan" in impact
    assert "<strong>2</strong> of them because of the estimate" in impact


async def test_staff_text_is_escaped(app: Quart, editor: Browser) -> None:
    evil = "<script>alert(1)</script>"
    response = await save_estimate(editor, label=evil, unit=evil, explanation=evil + " {usage}")
    assert response.status_code == 302, await response.get_data(as_text=True)
    form = await estimate_form(editor, label=evil, unit=evil, explanation=evil, action="preview")
    for page in (
        await (await editor.post(PAGE, form)).get_data(as_text=True),
        await editor.text(sim_url(dataUsage="heavy")),
        await editor.text("/admin/diff"),
    ):
        assert "<script>alert(1)" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_removing_the_estimate(app: Quart, editor: Browser) -> None:
    assert (await save_estimate(editor)).status_code == 302
    assert "Remove the estimate" in await editor.text(PAGE + "/remove")
    assert (await editor.post(PAGE + "/remove", {})).status_code == 302
    draft = await draft_bundle(app)
    assert draft is not None and "estimate" not in draft and draft["display"]["headline"][0] == "monthlyPrice"
    assert "The draft has no estimate yet" in await editor.text(PAGE)


async def test_examples_are_catalogue_neutral(app: Quart, editor: Browser) -> None:
    rule = await editor.text("/admin/draft/rules/0?view=json")
    pages = [rule[rule.index("How to write conditions") :], await editor.text("/admin/draft/settings")]
    pages.append(await editor.text("/admin/scenarios/new"))
    text = html.unescape("".join(pages))
    for old in (
        '"attribute": "dataGb"',
        "{answers.budget}",
        '{"by": "monthlyPrice"}], "limit"',
        '"dataUsage": "heavy"',
    ):
        assert old not in text
    assert '"attribute": "ATTRIBUTE"' in text
