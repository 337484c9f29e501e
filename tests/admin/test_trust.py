"""Trusting the shared draft: lost edits are refused with both versions, problems belong to what
caused them, deletes say what they break, discarding says whose work is lost."""

from __future__ import annotations

from quart import Quart

from admin import problems
from tests.admin.conftest import Browser, signed_in
from tests.admin.formparse import form_fields
from tests.admin.test_drafts import draft_bundle, plan_form


def _form(page: str) -> dict[str, str]:
    return dict(form_fields(page))


async def test_lost_edit_is_refused_side_by_side_and_can_be_applied_on_top(app: Quart) -> None:
    a = await signed_in(app, "editor", "a@example.com")
    b = await signed_in(app, "editor", "b@example.com")
    form_a = _form(await a.text("/admin/draft/plans/0"))
    form_b = _form(await b.text("/admin/draft/plans/0"))
    assert form_a["base"] == form_b["base"] and '"monthlyPrice":9.99' in form_a["base"]

    saved = await a.post("/admin/draft/plans/0", {**form_a, "attr_monthlyPrice": "8.49"})
    assert saved.status_code == 302
    refused = await b.post("/admin/draft/plans/0", {**form_b, "name": "Basic five"})
    assert refused.status_code == 409
    page = await refused.get_data(as_text=True)
    assert "someone else saved this item after you opened it" in page
    assert "Last saved by a@example.com" in page
    table = page[page.index("conflict-table") :]
    assert "8.49" in table and "9.99" in table and "Basic five" in table
    assert 'value="Basic five"' in page  # the input is kept
    bundle = await draft_bundle(app)
    assert bundle is not None and bundle["plans"][0]["name"] == "Basic 5"

    merged = await b.post("/admin/draft/plans/0", {**form_b, "name": "Basic five", "merge": "1"})
    assert merged.status_code == 200
    form_m = _form(await merged.get_data(as_text=True))
    assert form_m["name"] == "Basic five" and form_m["attr_monthlyPrice"] == "8.49"
    assert '"monthlyPrice":8.49' in form_m["base"]
    again = await b.post("/admin/draft/plans/0", form_m)
    assert again.status_code == 302
    bundle = await draft_bundle(app)
    assert bundle is not None
    plan = bundle["plans"][0]
    assert plan["name"] == "Basic five" and plan["attributes"]["monthlyPrice"] == 8.49


async def test_existing_problems_do_not_block_new_items(app: Quart, editor: Browser) -> None:
    # Break two rules by renaming the question they test ("Save anyway").
    page = await editor.text("/admin/draft/questions/0")
    form = _form(page)
    refused = await editor.post("/admin/draft/questions/0", {**form, "id": "usage"})
    assert refused.status_code == 422
    body = await refused.get_data(as_text=True)
    assert "It breaks other items" in body and "rule heavy-data" in body
    forced = await editor.post("/admin/draft/questions/0", {**form, "id": "usage", "force": "1"})
    assert forced.status_code == 302
    # A new plan is saved although the draft has problems elsewhere.
    await editor.get("/admin/draft/plans/new")
    added = await editor.post("/admin/draft/plans/new", plan_form(original="", id="fresh-1", name="Fresh"))
    assert added.status_code == 302, await added.get_data(as_text=True)
    overview = await editor.text("/admin/draft")
    assert "condition, question" in overview and '<small class="path"><code>when.answer</code>' in overview
    # The broken rule's page lists its problems in plain words, the code path only as a detail.
    rule = await editor.text("/admin/draft/rules/0")
    assert "This item has" in rule
    assert "condition, question:" in rule and "<code>when.answer</code>" in rule
    # Editing the broken rule's name is allowed: its old problem is not new.
    fields = _form(rule)
    renamed = await editor.post("/admin/draft/rules/0", {**fields, "name": "Heavy users"})
    assert renamed.status_code == 302, await renamed.get_data(as_text=True)


async def test_delete_lists_what_it_breaks_first(app: Quart, editor: Browser) -> None:
    page = await editor.text("/admin/draft/questions/0/delete")
    assert "Deleting it breaks" in page and "rule heavy-data" in page and "rule traveller" in page
    plan = await editor.text("/admin/draft/plans/0/delete")
    assert "Nothing else in the draft depends on it" in plan
    # A stale delete (the item changed since the page was shown) is refused.
    version = problems.version({"id": "basic-5"})
    gone = await editor.post("/admin/draft/plans/0/delete", {"original": "basic-5", "version": version})
    assert gone.status_code == 302
    bundle = await draft_bundle(app)
    assert bundle is None or bundle["plans"][0]["id"] == "basic-5"


async def test_discard_says_whose_changes_are_lost(app: Quart) -> None:
    a = await signed_in(app, "editor", "a@example.com")
    b = await signed_in(app, "editor", "b@example.com")
    assert (await a.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="8"))).status_code == 302
    assert (await b.post("/admin/draft/plans/2", plan_form(**_mid()))).status_code == 302
    page = await a.text("/admin/draft/discard")
    assert "a@example.com: 2 change(s)" in page  # the draft start and the change
    assert "b@example.com: 1 change(s)" in page


def _mid() -> dict[str, str]:
    return {
        "original": "mid-20",
        "id": "mid-20",
        "name": "Mid 20 renamed",
        "attr_monthlyPrice": "19.99",
        "attr_dataGb": "20",
        "attr_network": "5g",
    }


def test_paths_in_plain_words() -> None:
    assert problems.in_words("when.all[0].op") == "condition, test 1, operator"
    assert problems.in_words("then[1].because") == "effect 2, reason text"
    assert problems.in_words("attributes.monthlyPrice") == "attribute “monthlyPrice”"
    assert problems.in_words("options[2].value") == "option 3, value"


def test_merge_applies_only_my_fields_on_top() -> None:
    base = {"id": "p", "name": "P", "attributes": {"a": 1, "b": 2}}
    theirs = {"id": "p", "name": "P", "attributes": {"a": 5, "b": 2}}
    mine = {"id": "p", "name": "Q", "attributes": {"a": 1, "b": 3, "c": 4}}
    merged, rows = problems.merge(base, theirs, mine)
    assert merged == {"id": "p", "name": "Q", "attributes": {"a": 5, "b": 3, "c": 4}}
    assert {r.field: r.changed_by for r in rows} == {
        "name": "you",
        "attributes.a": "them",
        "attributes.b": "you",
        "attributes.c": "you",
    }


async def test_set_values_are_picked_and_near_misses_ask_did_you_mean(app: Quart, editor: Browser) -> None:
    fields = form_fields(await editor.text("/admin/draft/plans/0"))
    form = dict(fields)
    assert "attr_perks" not in form  # basic-5 has no perks; "streaming" is offered as a checkbox
    refused = await editor.post("/admin/draft/plans/0", {**form, "attr_perks__new": "Streaming, esim"})
    assert refused.status_code == 400
    page = await refused.get_data(as_text=True)
    assert (
        "“Streaming” is new: did you mean “streaming”?" in page
        and "esim" not in page.split("did you mean")[1][:40]
    )
    again = dict(form_fields(page))
    assert again["attr_perks__new"] == "Streaming, esim" and again["attr_perks__confirmed"]
    saved = await editor.post("/admin/draft/plans/0", again)  # saving again adds them as typed
    assert saved.status_code == 302
    bundle = await draft_bundle(app)
    assert bundle is not None and bundle["plans"][0]["attributes"]["perks"] == ["Streaming", "esim"]
    ticked = await editor.post("/admin/draft/plans/2", {**plan_form(**_mid()), "attr_perks": "streaming"})
    assert ticked.status_code == 302
    bundle = await draft_bundle(app)
    assert bundle is not None and bundle["plans"][2]["attributes"]["perks"] == ["streaming"]
