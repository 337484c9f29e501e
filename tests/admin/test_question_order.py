"""Questions: insert after, reorder (drag and drop posts), warnings when a question comes too early;
the simulator shows reasons once and the ranking's limit, as the customer card does."""

from __future__ import annotations

import json

from quart import Quart

from tests.admin.conftest import Browser
from tests.admin.test_drafts import draft_bundle


def ids(bundle: dict | None) -> list[str]:
    assert bundle is not None
    return [q["id"] for q in bundle["questions"]]


async def test_insert_a_question_after_another(app: Quart, editor: Browser) -> None:
    listing = await editor.text("/admin/draft/questions")
    assert "/admin/draft/questions/new?after=1" in listing and "Insert after" in listing
    page = await editor.text("/admin/draft/questions/new?after=1")
    assert "The new question goes after question 2." in page
    form = {"original": "", "id": "note", "text": "Anything else?", "type": "text", "maxLength": "200"}
    saved = await editor.post("/admin/draft/questions/new?after=1", form)
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/admin/draft/questions/2")
    assert ids(await draft_bundle(app)) == ["dataUsage", "budget", "note", "travel", "extras", "lines"]


async def test_reorder_and_the_too_early_warning(app: Quart, editor: Browser) -> None:
    listing = await editor.text("/admin/draft/questions")
    assert "data-reorder" in listing and 'id="reorder-form"' in listing
    assert "Order warnings" not in listing
    seen = "dataUsage,budget,travel,extras,lines"
    moved = await editor.post("/admin/draft/questions/order", {"seen": seen, "order": "lines," + seen[:-6]})
    assert moved.status_code == 302
    assert ids(await draft_bundle(app)) == ["lines", "dataUsage", "budget", "travel", "extras"]
    listing = await editor.text("/admin/draft/questions")
    assert (
        "Question lines comes before extras, but whether lines is asked depends on the answer to extras"
        in listing
    )
    page = await editor.text("/admin/draft/questions/0")
    assert "move lines after extras" in page
    stale = await editor.post("/admin/draft/questions/order", {"seen": seen, "order": seen})
    assert stale.status_code == 302
    assert ids(await draft_bundle(app))[0] == "lines"  # refused: the order changed meanwhile


async def test_simulator_shows_each_reason_once_and_the_limit(app: Quart, editor: Browser) -> None:
    page = await editor.text("/admin/draft/rules/2")  # traveller: +20 for roaming, "Includes EU roaming"
    from tests.admin.formparse import form_fields

    fields = dict(form_fields(page))
    await editor.post("/admin/draft/rules/2", {**fields, "builder": "add-effect-score:then"})
    fields.update(
        {
            "then-2-kind": "score",
            "then-2-score": "5",
            "then-2-because": "Includes EU roaming",
            "then-2-c-kind": "none",
        }
    )
    saved = await editor.post("/admin/draft/rules/2", fields)
    assert saved.status_code == 302, await saved.get_data(as_text=True)
    answers = {"travel": "true", "dataUsage": "heavy"}
    sim = await editor.text("/admin/simulator?run=1&" + "&".join(f"q_{k}={v}" for k, v in answers.items()))
    assert "the same reason 2 times, shown once" in sim, json.dumps(answers)


async def test_ask_when_in_the_condition_builder(app: Quart, editor: Browser) -> None:
    from tests.admin.formparse import form_fields

    page = await editor.text("/admin/draft/questions/4")  # lines: ask when segment is family
    assert 'id="field-askWhen"' in page and 'id="askWhen"' not in page
    fields = dict(form_fields(page))
    assert fields["editor"] == "builder" and fields["when-kind"] == "fact"
    assert fields["when-subject"] == "segment" and fields["when-value"] == "family"
    # Make it "all of" with a second test on an answer, through the builder's buttons (no JavaScript).
    fields["when-kind"] = "all"
    grouped = await editor.post("/admin/draft/questions/4", {**fields, "builder": "refresh"})
    fields = dict(form_fields(await grouped.get_data(as_text=True)))
    added = await editor.post("/admin/draft/questions/4", {**fields, "builder": "add-answer:when"})
    fields = dict(form_fields(await added.get_data(as_text=True)))
    fields.update({"when-0-subject": "travel", "when-0-op": "==", "when-0-value": "true"})
    saved = await editor.post("/admin/draft/questions/4", fields)
    assert saved.status_code == 302, await saved.get_data(as_text=True)
    bundle = await draft_bundle(app)
    assert bundle is not None
    assert bundle["questions"][4]["askWhen"] == {"all": [{"answer": "travel", "op": "==", "value": True}]}
    # An empty "all of" means always asked: no askWhen is saved.
    page = await editor.text("/admin/draft/questions/4")
    fields = dict(form_fields(page))
    removed = await editor.post("/admin/draft/questions/4", {**fields, "builder": "remove:when-0"})
    fields = dict(form_fields(await removed.get_data(as_text=True)))
    assert (await editor.post("/admin/draft/questions/4", fields)).status_code == 302
    bundle = await draft_bundle(app)
    assert bundle is not None and "askWhen" not in bundle["questions"][4]
    json_view = await editor.text("/admin/draft/questions/4?view=json")
    assert 'id="askWhen"' in json_view and 'name="editor"' not in json_view
