"""Draft editing through the forms: plans, questions, rules, attributes, settings; problems with links."""

from __future__ import annotations

from typing import Any

from quart import Quart
from sqlalchemy import select

from admin.models import AuditEntry
from service.catalogues import live_version
from service.db.models import CatalogueVersion, Draft
from service.runtime import get_runtime
from tests.admin.conftest import Browser


async def draft_bundle(app: Quart) -> dict[str, Any] | None:
    async with get_runtime(app).sessions() as db:
        row = await db.get(Draft, 1)
        return row.bundle if row is not None else None


async def live_bundle(app: Quart) -> dict[str, Any]:
    async with get_runtime(app).sessions() as db:
        number = await live_version(db)
        row = await db.get(CatalogueVersion, number)
        assert row is not None
        return row.bundle


def plan_form(**changes: Any) -> dict[str, Any]:
    form = {
        "original": "basic-5",
        "id": "basic-5",
        "name": "Basic 5",
        "provider": "Acme",
        "description": "",
        "active": "y",
        "attr_monthlyPrice": "9.99",
        "attr_dataGb": "5",
        "attr_roaming": "false",
        "attr_network": "4g",
        "attr_perks": "",
    }
    form.update(changes)
    return form


async def test_plan_form_has_typed_inputs(editor: Browser) -> None:
    page = await editor.text("/admin/draft/plans/0")
    assert 'name="attr_monthlyPrice"' in page and 'inputmode="decimal"' in page
    assert '<select id="attr_roaming"' in page and '<option selected value="false">No</option>' in page
    assert '<option value="5g">5g</option>' in page  # enum options offered
    assert 'type="checkbox" value="streaming"' in page and 'name="attr_perks__new"' in page
    assert "You are looking at the live version" in page


async def test_changing_a_price_starts_a_draft_and_leaves_live_alone(app: Quart, editor: Browser) -> None:
    response = await editor.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="7.49"))
    assert response.status_code == 302, await response.get_data(as_text=True)
    draft = await draft_bundle(app)
    assert draft is not None and draft["plans"][0]["attributes"]["monthlyPrice"] == 7.49
    assert (await live_bundle(app))["plans"][0]["attributes"]["monthlyPrice"] == 9.99
    page = await editor.text("/admin/draft/plans/0")
    assert "Plan basic-5 saved." in page and 'value="7.49"' in page
    async with get_runtime(app).sessions() as db:
        entries = list((await db.execute(select(AuditEntry).where(AuditEntry.action != "login"))).scalars())
    assert [e.action for e in entries] == ["draft_start", "draft_change"]
    assert entries[1].target == "plans/basic-5" and entries[1].actor == "editor@example.com"
    assert entries[1].before["attributes"]["monthlyPrice"] == 9.99
    assert entries[1].after["attributes"]["monthlyPrice"] == 7.49


async def test_unreadable_number_is_shown_next_to_the_field_and_nothing_is_lost(
    app: Quart, editor: Browser
) -> None:
    response = await editor.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="cheap", name="Renamed"))
    assert response.status_code == 400
    page = await response.get_data(as_text=True)
    field = page[page.index('id="field-attr_monthlyPrice"') :]
    assert "is not a number" in field[: field.index("</div>")]
    assert 'value="cheap"' in page and 'value="Renamed"' in page
    assert await draft_bundle(app) is None


async def test_plan_problems_block_saving_unless_forced(app: Quart, editor: Browser) -> None:
    response = await editor.post("/admin/draft/plans/0", plan_form(id="max-50"))  # duplicate id
    assert response.status_code == 422
    page = await response.get_data(as_text=True)
    assert "Not saved" in page and "Save anyway" in page
    assert '<a href="/admin/draft/plans/1#field-id">plan max-50</a>' in page  # the clash, linked
    assert await draft_bundle(app) is None
    forced = await editor.post("/admin/draft/plans/0", plan_form(id="max-50", force="1"))
    assert forced.status_code == 302
    draft = await editor.text("/admin/draft")
    assert "problem(s)" in draft and "/admin/draft/plans/1#field-id" in draft


async def test_add_and_delete_a_plan_with_confirmation(app: Quart, editor: Browser) -> None:
    await editor.get("/admin/draft/plans/new")
    response = await editor.post(
        "/admin/draft/plans/new",
        plan_form(
            original="", id="mega-100", name="Mega 100", attr_dataGb="100", attr_perks="streaming\nesim"
        ),
    )
    assert response.status_code == 302
    draft = await draft_bundle(app)
    assert draft is not None
    assert draft["plans"][-1]["attributes"]["perks"] == ["streaming", "esim"]
    index = len(draft["plans"]) - 1
    confirm = await editor.text(f"/admin/draft/plans/{index}/delete")
    assert "Delete plan mega-100?" in confirm
    gone = await editor.post(f"/admin/draft/plans/{index}/delete", {"original": "mega-100"})
    assert gone.status_code == 302
    draft = await draft_bundle(app)
    assert draft is not None and all(p["id"] != "mega-100" for p in draft["plans"])


async def test_edit_conflict_is_detected(app: Quart, editor: Browser) -> None:
    response = await editor.post("/admin/draft/plans/0", plan_form(original="mid-20"))
    assert response.status_code == 409
    assert "changed or moved by someone else" in await response.get_data(as_text=True)


async def test_viewer_cannot_change_the_draft(app: Quart, viewer: Browser) -> None:
    page = await viewer.text("/admin/draft/plans/0")
    assert "Save to draft" not in page
    response = await viewer.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="1"))
    assert response.status_code == 403
    assert await draft_bundle(app) is None


def question_form(**changes: Any) -> dict[str, Any]:
    form = {
        "original": "dataUsage",
        "id": "dataUsage",
        "text": "How much mobile data do you use?",
        "type": "choice",
        "help": "",
        "askWhen": "",
        "options-0-value": "light",
        "options-0-label": "Under 5 GB",
        "options-1-value": "medium",
        "options-1-label": "5 to 20 GB",
        "options-2-value": "heavy",
        "options-2-label": "Over 20 GB",
    }
    form.update(changes)
    return form


async def test_question_option_buttons_change_the_form_only(app: Quart, editor: Browser) -> None:
    added = await editor.post("/admin/draft/questions/0", question_form(option="add", text="Changed text"))
    page = await added.get_data(as_text=True)
    assert added.status_code == 200 and 'name="options-3-value"' in page and 'value="Changed text"' in page
    moved = await editor.post("/admin/draft/questions/0", question_form(option="up:2"))
    page = await moved.get_data(as_text=True)
    assert page.index('value="heavy"') < page.index('value="medium"')
    removed = await editor.post("/admin/draft/questions/0", question_form(option="remove:0"))
    assert 'value="light"' not in await removed.get_data(as_text=True)
    assert await draft_bundle(app) is None  # nothing saved by the option buttons


async def test_save_question_with_reordered_options_and_ask_when(app: Quart, editor: Browser) -> None:
    form = question_form(
        **{"options-0-value": "heavy", "options-0-label": "Over 20 GB", "options-2-value": "light"},
        **{"options-2-label": "Under 5 GB", "options-3-value": "", "options-3-label": ""},
    )
    response = await editor.post("/admin/draft/questions/0", form)
    assert response.status_code == 302
    draft = await draft_bundle(app)
    assert draft is not None
    assert [o["value"] for o in draft["questions"][0]["options"]] == ["heavy", "medium", "light"]
    bad = await editor.post("/admin/draft/questions/0", question_form(askWhen='{"fact": '))
    assert bad.status_code == 400 and "Not valid JSON" in await bad.get_data(as_text=True)


async def test_number_and_text_questions(app: Quart, editor: Browser) -> None:
    number = {
        "original": "",
        "id": "age",
        "text": "How old are you?",
        "type": "number",
        "min": "18",
        "max": "120",
        "step": "1",
        "unit": "years",
        "options-0-value": "ignored",
        "options-0-label": "Ignored",
    }
    assert (await editor.post("/admin/draft/questions/new", number)).status_code == 302
    text = {"original": "", "id": "note", "text": "Anything else?", "type": "text", "maxLength": "200"}
    assert (await editor.post("/admin/draft/questions/new", text)).status_code == 302
    draft = await draft_bundle(app)
    assert draft is not None
    assert draft["questions"][-2] == {
        "id": "age",
        "text": "How old are you?",
        "type": "number",
        "min": 18,
        "max": 120,
        "step": 1,
        "unit": "years",
    }
    assert draft["questions"][-1] == {
        "id": "note",
        "text": "Anything else?",
        "type": "text",
        "maxLength": 200,
    }


async def test_reorder_questions(app: Quart, editor: Browser) -> None:
    response = await editor.post("/admin/draft/questions/1/move", {"original": "budget", "direction": "up"})
    assert response.status_code == 302
    draft = await draft_bundle(app)
    assert draft is not None and [q["id"] for q in draft["questions"][:2]] == ["budget", "dataUsage"]


def rule_form(**changes: Any) -> dict[str, Any]:
    form = {
        "original": "heavy-data",
        "id": "heavy-data",
        "name": "Heavy users need 20 GB or more",
        "priority": "10",
        "enabled": "y",
        "when": '{"answer": "dataUsage", "op": "==", "value": "heavy"}',
        "then": '[{"require": {"attribute": "dataGb", "op": ">=", "value": 20}, "because": "Lots of data"}]',
    }
    form.update(changes)
    return form


async def test_rule_validation_message_next_to_the_field_then_fixed(app: Quart, editor: Browser) -> None:
    broken = rule_form(when='{"answer": "dataUsag", "op": "==", "value": "heavy"}')
    response = await editor.post("/admin/draft/rules/0", broken)
    assert response.status_code == 422
    page = await response.get_data(as_text=True)
    when_field = page[page.index('id="field-when"') :]
    when_field = when_field[: when_field.index("</div>")]
    assert "dataUsag" in when_field and "did you mean" in when_field
    assert "dataUsag&#34;" in page or "dataUsag&quot;" in page or '"dataUsag"' in page  # input kept
    assert await draft_bundle(app) is None
    syntax = await editor.post("/admin/draft/rules/0", rule_form(then="[{"))
    assert syntax.status_code == 400 and "Not valid JSON" in await syntax.get_data(as_text=True)
    fixed = await editor.post(
        "/admin/draft/rules/0", rule_form(then=rule_form()["then"].replace("20}", "25}"))
    )
    assert fixed.status_code == 302
    draft = await draft_bundle(app)
    assert draft is not None and draft["rules"][0]["then"][0]["require"]["value"] == 25
    assert draft["rules"][0]["priority"] == 10 and "enabled" not in draft["rules"][0]


async def test_disable_a_rule(app: Quart, editor: Browser) -> None:
    form = rule_form()
    del form["enabled"]
    assert (await editor.post("/admin/draft/rules/0", form)).status_code == 302
    draft = await draft_bundle(app)
    assert draft is not None and draft["rules"][0]["enabled"] is False


async def test_problems_listed_with_links_to_the_item(app: Quart, editor: Browser) -> None:
    forced = rule_form(when='{"answer": "nope", "op": "exists"}', force="1")
    assert (await editor.post("/admin/draft/rules/0", forced)).status_code == 302
    page = await editor.text("/admin/draft")
    assert '<a href="/admin/draft/rules/0#field-when">rule heavy-data</a>' in page
    assert "1 problem(s)" in page


async def test_rename_attribute_renames_it_in_plans(app: Quart, editor: Browser) -> None:
    form = {"original": "dataGb", "key": "dataVolume", "type": "number", "label": "Data", "unit": "GB"}
    response = await editor.post("/admin/draft/attributes/1", {**form, "force": "1"})
    assert response.status_code == 302
    draft = await draft_bundle(app)
    assert draft is not None
    assert draft["attributes"][1]["key"] == "dataVolume"
    assert (
        draft["plans"][0]["attributes"]["dataVolume"] == 5 and "dataGb" not in draft["plans"][0]["attributes"]
    )


async def test_enum_attribute_options(app: Quart, editor: Browser) -> None:
    form = {
        "original": "network",
        "key": "network",
        "type": "enum",
        "label": "Network",
        "options": "4g\n5g\n6g",
    }
    assert (await editor.post("/admin/draft/attributes/3", form)).status_code == 302
    draft = await draft_bundle(app)
    assert draft is not None and draft["attributes"][3]["options"] == ["4g", "5g", "6g"]
    page = await editor.text("/admin/draft/plans/0")
    assert '<option value="6g">6g</option>' in page


async def test_catalogue_settings_ranking_json(app: Quart, editor: Browser) -> None:
    bad = await editor.post("/admin/draft/settings", {"name": "Mobile", "ranking": '{"order": []}'})
    assert bad.status_code == 422
    assert "Save anyway" in await bad.get_data(as_text=True)
    ok = await editor.post(
        "/admin/draft/settings",
        {"name": "Mobile", "ranking": '{"order": [{"by": "monthlyPrice"}], "limit": 3}'},
    )
    assert ok.status_code == 302
    draft = await draft_bundle(app)
    assert draft is not None and draft["name"] == "Mobile" and draft["ranking"]["limit"] == 3


async def test_discard_draft_needs_confirmation(app: Quart, editor: Browser) -> None:
    await editor.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="7"))
    assert "Discard the draft?" in await editor.text("/admin/draft/discard")
    assert (await editor.post("/admin/draft/discard")).status_code == 302
    assert await draft_bundle(app) is None


async def test_export_draft(app: Quart, editor: Browser) -> None:
    await editor.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="7"))
    response = await editor.client.get("/admin/draft/export")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    assert (await response.get_json())["plans"][0]["attributes"]["monthlyPrice"] == 7


async def test_templates_escape_staff_text(app: Quart, editor: Browser) -> None:
    await editor.post("/admin/draft/plans/0", plan_form(name="<script>alert(1)</script>"))
    page = await editor.text("/admin/draft/plans")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
