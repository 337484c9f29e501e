"""The decision table: rules in words, sort, filter, CSV, inline edits through the validator."""

from __future__ import annotations

import csv
import io

from quart import Quart

from tests.admin.conftest import Browser
from tests.admin.formparse import form_fields
from tests.admin.test_drafts import draft_bundle


async def test_rows_in_words_sorted_and_filtered(editor: Browser) -> None:
    page = await editor.text("/admin/draft/rules/table")
    assert "dataUsage is Over 20 GB" in page  # the option's label, not its value
    assert "keep only plans where dataGb is at least 20" in page
    assert "monthlyPrice is at most the answer to budget" in page
    assert "+20 points to roaming is yes (“Includes EU roaming”)" in page
    assert "segment = traveller" in page
    filtered = await editor.text("/admin/draft/rules/table?fact=segment")
    assert 'id="rule-traveller"' in filtered and 'id="rule-family"' in filtered
    assert 'id="rule-heavy-data"' not in filtered
    by_priority = await editor.text("/admin/draft/rules/table?sort=priority&dir=desc")
    assert by_priority.index('id="rule-heavy-data"') < by_priority.index('id="rule-family"')
    listing = await editor.text("/admin/draft/rules")
    assert "dataUsage is Over 20 GB" in listing  # the list shows conditions and points too


async def test_csv_export(editor: Browser) -> None:
    response = await editor.get("/admin/draft/rules/table?question=travel&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(await response.get_data(as_text=True))))
    assert rows[0] == ["id", "name", "enabled", "priority", "conditions", "effects", "points"]
    assert [r[0] for r in rows[1:]] == ["traveller"] and rows[1][6] == "20"


async def test_inline_edit_goes_through_the_validator(app: Quart, editor: Browser) -> None:
    page = await editor.text("/admin/draft/rules/table")
    form = dict(form_fields(page, '<form method="post" novalidate id="table-form"'))
    form.update({"priority-2": "5", "points-2-1": "25"})
    form.pop("enabled-3")  # disable the family rule
    saved = await editor.post("/admin/draft/rules/table", form)
    assert saved.status_code == 302, await saved.get_data(as_text=True)
    bundle = await draft_bundle(app)
    assert bundle is not None
    traveller, family = bundle["rules"][2], bundle["rules"][3]
    assert traveller["priority"] == 5 and traveller["then"][1]["score"] == 25
    assert family["enabled"] is False
    assert bundle["rules"][0] == {**bundle["rules"][0]}  # untouched rows are unchanged

    bad = await editor.post("/admin/draft/rules/table", {**form, "points-2-1": "lots"})
    assert bad.status_code == 422
    body = await bad.get_data(as_text=True)
    assert "“lots” is not a number" in body and 'value="lots"' in body
    stale = await editor.post("/admin/draft/rules/table", {**form, "priority-2": "6"})
    assert stale.status_code == 422  # the row's version is the one before the first save
    assert "Someone else changed this rule" in await stale.get_data(as_text=True)
