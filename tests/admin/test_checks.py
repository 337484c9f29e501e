"""Audit log, simulator, test scenarios, impact preview and the diff with live."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from quart import Quart
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from service.db.models import PlanSession
from service.runtime import get_runtime
from tests.admin.conftest import Browser
from tests.admin.test_drafts import plan_form, rule_form
from tests.admin.test_publish import versions
from tests.admin.test_scenario_answers import answer_rows


async def test_audit_log_lists_filters_and_shows_before_after(app: Quart, editor: Browser) -> None:
    await editor.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="7.49"))
    page = await editor.text("/admin/audit")
    assert "draft_change" in page and "plans/basic-5" in page and "editor@example.com" in page
    only_logins = await editor.text("/admin/audit?action=login")
    assert "<td>plans/basic-5</td>" not in only_logins and "Signed in" in only_logins
    by_target = await editor.text("/admin/audit?target=basic-5&since=2000-01-01&until=2999-12-31")
    assert "plans/basic-5" in by_target
    nobody = await editor.text("/admin/audit?actor=nobody")
    assert "Nothing matches." in nobody
    async with get_runtime(app).sessions() as db:
        last = (await db.execute(text("SELECT max(id) FROM audit_log"))).scalar_one()
    entry = await editor.text(f"/admin/audit/{last}")
    assert "9.99" in entry and "7.49" in entry


async def test_audit_log_cannot_be_changed(app: Quart, editor: Browser) -> None:
    async with get_runtime(app).sessions() as db:
        for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with db.begin():
                    await db.execute(text(statement))
    assert "editor@example.com" in await editor.text("/admin/audit")


def sim_url(**answers: object) -> str:
    query: list[tuple[str, str]] = [("run", "1")]
    for qid, value in answers.items():
        for v in value if isinstance(value, list) else [value]:
            query.append((f"q_{qid}", str(v)))
    return "/admin/simulator?" + urlencode(query)


async def test_simulator_shows_ranking_fired_rules_facts_and_exclusions(app: Quart, viewer: Browser) -> None:
    page = await viewer.text(sim_url(dataUsage="heavy", travel="true", budget="25"))
    assert "Live (version 1)" in page
    ranked = page[page.index('<ol class="ranked">') :]
    assert ranked.index("Mid 20") < ranked.index("</ol>")  # within budget, 20 GB, roaming
    assert "Travellers like roaming" in page and "traveller" in page  # fired rule and derived fact
    assert "basic-5</strong>: You use a lot of data: 20 GB or more" in page  # excluded with its reason
    assert "Within your budget of 25 EUR" in page


async def test_simulator_explains_any_plan_as_the_service_does(app: Quart, viewer: Browser) -> None:
    # PROTOCOL v1.1 planExplanation, in the simulator: why one plan is shown, cut or excluded.
    excluded = await viewer.text(sim_url(dataUsage="heavy", budget="25") + "&explain=max-50")
    block = excluded[excluded.index('class="explanation"') :]
    block = block[: block.index("</div>")]
    assert "Plan max-50" in block and "Excluded because:" in block and "Within your budget of 25 EUR" in block
    shown = await viewer.text(sim_url(dataUsage="heavy", budget="25") + "&explain=mid-20")
    assert "Shown at rank 1" in shown
    unknown = await viewer.text(sim_url() + "&explain=no-such-plan")
    assert "There is no plan with this id in this version." in unknown
    xss = await viewer.text(sim_url() + "&explain=%3Cscript%3E")
    assert "<script>" not in xss.split('id="explain"')[1][:200]


async def test_simulator_conditional_question_and_bad_answer(app: Quart, viewer: Browser) -> None:
    hidden = await viewer.text(sim_url())
    lines = hidden[hidden.index('id="q-lines"') - 80 :]
    assert "not-asked" in lines[:200]
    shown = await viewer.text(sim_url(extras=["streaming"]))
    lines = shown[shown.index('id="q-lines"') - 80 :]
    assert "not-asked" not in lines[:200]
    bad = await viewer.text(sim_url(budget="lots"))
    assert "is not a number" in bad


async def test_simulator_draft_and_live_side_by_side(app: Quart, editor: Browser) -> None:
    await editor.post(
        "/admin/draft/plans/2",
        plan_form(
            original="mid-20",
            id="mid-20",
            name="Mid 20",
            attr_monthlyPrice="35",
            attr_dataGb="20",
            attr_roaming="true",
        ),
    )
    page = await editor.text(sim_url(dataUsage="heavy", budget="30"))
    draft_col = page[page.index("<h2>Draft</h2>") : page.index("<h2>Live (version 1)</h2>")]
    live_col = page[page.index("<h2>Live (version 1)</h2>") :]
    assert "Mid 20" in live_col.split("Excluded plans")[0]
    assert "Mid 20" not in draft_col.split("Excluded plans")[0]
    assert "Save as test scenario" in page


async def add_scenario(
    b: Browser, name: str, answers: dict[str, object], plan: str, kind: str, n: str = ""
) -> int:
    form = {
        "name": name,
        **answer_rows(answers),
        "expectations-0-plan": plan,
        "expectations-0-kind": kind,
        "expectations-0-n": n,
        "expectations-1-plan": "",
        "expectations-1-kind": "shown",
    }
    return int((await b.post("/admin/scenarios/new", form)).status_code)


async def test_scenarios_pass_fail_and_block_publishing(app: Quart, publisher: Browser) -> None:
    assert (
        await add_scenario(
            publisher, "Heavy user on a budget", {"dataUsage": "heavy", "budget": 30}, "mid-20", "top"
        )
        == 302
    )
    assert (
        await add_scenario(
            publisher, "Heavy users never see basic", {"dataUsage": "heavy"}, "basic-5", "not_shown"
        )
        == 302
    )
    assert await add_scenario(publisher, "Cheap ones first", {}, "basic-5", "in_top", "2") == 302
    page = await publisher.text("/admin/scenarios")
    assert page.count(">pass<") == 3
    # Make mid-20 too expensive: the first scenario now fails, with what happened instead.
    await publisher.post(
        "/admin/draft/plans/2",
        plan_form(
            original="mid-20",
            id="mid-20",
            name="Mid 20",
            attr_monthlyPrice="35",
            attr_dataGb="20",
            attr_roaming="true",
        ),
    )
    page = await publisher.text("/admin/scenarios")
    assert page.count(">pass<") == 2 and ">FAIL<" in page
    assert "mid-20: excluded (Within your budget of 30 EUR)" in page
    refused = await publisher.post("/admin/publish", {"message": "Price rise"})
    assert refused.status_code == 422
    assert "scenario(s) fail: publishing is refused" in await refused.get_data(as_text=True)
    assert len(await versions(app)) == 1


async def test_scenario_form_errors_keep_input(app: Quart, editor: Browser) -> None:
    form = {
        "name": "Broken",
        **answer_rows({"budget": "lots"}),
        "expectations-0-plan": "basic-5",
        "expectations-0-kind": "in_top",
    }
    response = await editor.post("/admin/scenarios/new", form)
    assert response.status_code == 400
    page = await response.get_data(as_text=True)
    assert "“lots” is not a number" in page and 'value="lots"' in page and "Say how many top plans" in page


async def test_impact_preview_counts_changed_top_plans(app: Quart, editor: Browser) -> None:
    async with get_runtime(app).sessions() as db, db.begin():
        db.add(PlanSession(id="s1", answers={"dataUsage": "heavy", "budget": 30}, revision=1))
        db.add(PlanSession(id="s2", answers={"dataUsage": "light"}, revision=1))
        db.add(PlanSession(id="s3", answers={}, revision=0))
    await editor.post(
        "/admin/draft/plans/2",
        plan_form(
            original="mid-20",
            id="mid-20",
            name="Mid 20",
            attr_monthlyPrice="35",
            attr_dataGb="20",
            attr_roaming="true",
        ),
    )
    page = await editor.text("/admin/impact?limit=1000&run=1")
    assert "<strong>1</strong> of 2 session(s) would get a different top plan" in page
    assert "mid-20" in page


async def test_diff_shows_changes_against_live(app: Quart, editor: Browser) -> None:
    assert "There is no draft" in await editor.text("/admin/diff")
    await editor.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="7.49"))
    await editor.post("/admin/draft/rules/0", rule_form(name="Heavy users: 20 GB+"))
    await editor.post("/admin/draft/plans/4/delete", {"original": "retired"})
    page = await editor.text("/admin/diff")
    assert "attribute “monthlyPrice”" in page and "7.49 EUR" in page
    assert "(heavy-data)" in page and "Heavy users: 20 GB+" in page
    removed = page[page.index("(retired)") :]
    assert removed.index('<span class="tag">removed</span>') < removed.index("</li>")


async def test_simulator_says_when_excluded_reasons_are_cut(app: Quart, editor: Browser) -> None:
    ranking = '{"order": [{"by": "score", "dir": "desc"}], "excludedReasonsLimit": 1}'
    await editor.post("/admin/draft/settings", {"name": "Mobile", "description": "", "ranking": ranking})
    page = await editor.text(sim_url(dataUsage="heavy", budget="5"))
    draft_col = page[page.index("<h2>Draft</h2>") : page.index("<h2>Live (version 1)</h2>")]
    live_col = page[page.index("<h2>Live (version 1)</h2>") :]
    assert "the first 1 of 2 reasons" in draft_col.split("Excluded plans")[1]
    assert "reasons-cut" not in live_col  # the live version lists every reason
    why = await editor.text(sim_url(dataUsage="heavy", budget="5") + "&explain=basic-5")
    block = why[why.index('class="explanation"') :]
    block = block[: block.index("</div>")]
    assert block.count("<li") >= 2  # the explanation gives both reasons
