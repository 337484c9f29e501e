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
