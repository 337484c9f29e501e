"""Plain-language diff and history: changes in words, any two versions, restoring a version as the draft."""

from __future__ import annotations

import json

from quart import Quart

from tests.admin.conftest import EXAMPLE, Browser, signed_in
from tests.admin.formparse import form_fields
from tests.admin.test_drafts import draft_bundle, plan_form


async def test_diff_in_words(editor: Browser) -> None:
    assert (await editor.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="8.5"))).status_code == 302
    page = await editor.text("/admin/draft/rules/0")
    form = dict(form_fields(page))
    form["then-0-c-value"] = "25"
    assert (await editor.post("/admin/draft/rules/0", form)).status_code == 302
    diff = await editor.text("/admin/diff")
    assert "attribute “monthlyPrice”" in diff
    assert '<span class="before">9.99 EUR</span> → <span class="after">8.5 EUR</span>' in diff
    assert "keep only plans where dataGb is at least 20 GB" in diff and "dataGb is at least 25 GB" in diff
    assert 'attribute “perks”: <span class="before">(none)</span> → <span class="after">(not set)' in diff
    assert '"op"' not in diff  # no JSON


async def test_added_and_removed_items_show_their_content(editor: Browser) -> None:
    await editor.get("/admin/draft/plans/new")
    added = await editor.post(
        "/admin/draft/plans/new", plan_form(original="", id="fresh-1", name="Fresh plan")
    )
    assert added.status_code == 302
    diff = await editor.text("/admin/diff")
    assert "Fresh plan" in diff and "added" in diff and "<dd>9.99 EUR</dd>" in diff


async def test_compare_versions_and_restore_one_as_the_draft(app: Quart, editor: Browser) -> None:
    publisher = await signed_in(app, "publisher")
    await publisher.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="7"))
    await publisher.get("/admin/publish")
    assert (await publisher.post("/admin/publish", {"message": "Cheaper"})).status_code == 302
    page = await editor.text("/admin/versions/compare?a=1&b=2")
    assert "Version 1 vs version 2" in page
    assert '<span class="before">9.99 EUR</span> → <span class="after">7 EUR</span>' in page
    # Work in a draft, then restore version 1 as the draft: the confirmation says whose work goes.
    await editor.post("/admin/draft/plans/1", plan_form(original="max-50", id="max-50", name="Max"))
    confirm = await editor.text("/admin/versions/1/restore")
    assert "Restore version 1 as the draft?" in confirm and "editor@example.com: " in confirm
    restored = await editor.post("/admin/versions/1/restore")
    assert restored.status_code == 302
    bundle = await draft_bundle(app)
    assert bundle == json.loads(EXAMPLE.read_text())
    audit = await editor.text("/admin/audit")
    assert "Restored version 1 as the draft" in audit
