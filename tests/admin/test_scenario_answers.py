"""A test scenario's answers picked from lists (issue 14): question rows, the answer input of each
question type, add/remove/update without JavaScript, and refusals in plain words through the
service's own answer validator (unknown questions, options and plans)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from quart import Quart
from sqlalchemy import select

from admin.models import Scenario
from service.runtime import get_runtime
from tests.admin.conftest import Browser
from tests.admin.formparse import form_fields


def answer_rows(answers: dict[str, Any]) -> dict[str, str]:
    """Single-valued answers as the scenario form posts them (one row per question)."""
    form: dict[str, str] = {}
    for i, (qid, value) in enumerate(answers.items()):
        shown = ("true" if value else "false") if isinstance(value, bool) else str(value)
        form.update({f"answers-{i}-question": qid, f"answers-{i}-for": qid, f"answers-{i}-value": shown})
    return form


async def post_pairs(b: Browser, path: str, pairs: list[tuple[str, str]]) -> Any:
    """Post repeated fields (a multi question's ticked boxes) as a browser does."""
    if not b.token:
        await b.get("/admin/login")
    body = urlencode([("csrf_token", b.token), *pairs]).encode()
    return await b.client.post(path, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})


async def stored(app: Quart) -> list[Scenario]:
    async with get_runtime(app).sessions() as db:
        return list((await db.execute(select(Scenario).order_by(Scenario.id))).scalars())


async def test_every_question_type_is_picked_from_lists_and_saved(app: Quart, editor: Browser) -> None:
    page = await editor.text("/admin/scenarios/new")
    assert 'name="answers-0-question"' in page and "— pick a question —" in page
    assert "How much data" in page or "dataUsage" in page
    assert 'name="answers"' not in page  # no JSON box
    pairs = [
        ("name", "Every type"),
        *[
            (f"answers-0-{k}", v)
            for k, v in (("question", "dataUsage"), ("for", "dataUsage"), ("value", "heavy"))
        ],
        *[(f"answers-1-{k}", v) for k, v in (("question", "budget"), ("for", "budget"), ("value", "30"))],
        *[(f"answers-2-{k}", v) for k, v in (("question", "travel"), ("for", "travel"), ("value", "true"))],
        ("answers-5-question", "extras"),  # a gap in the numbering (a row removed in the page)
        ("answers-5-for", "extras"),
        ("answers-5-value", "streaming"),
        ("answers-5-value", "esim"),
        ("answers-6-question", ""),  # an empty row is ignored
        ("expectations-0-plan", "max-50"),
        ("expectations-0-kind", "shown"),
    ]
    saved = await post_pairs(editor, "/admin/scenarios/new", pairs)
    assert saved.status_code == 302, await saved.get_data(as_text=True)
    (row,) = await stored(app)
    assert row.answers == {
        "dataUsage": "heavy",
        "budget": 30,
        "travel": True,
        "extras": ["streaming", "esim"],
    }
    assert row.expectations == [{"kind": "shown", "plan": "max-50"}]
    # Opened again: each answer in its row, with the inputs of its question.
    fields = form_fields(await editor.text(f"/admin/scenarios/{row.id}"))
    assert ("answers-0-question", "dataUsage") in fields and ("answers-0-value", "heavy") in fields
    assert ("answers-1-value", "30") in fields and ("answers-2-value", "true") in fields
    assert ("answers-3-value", "streaming") in fields and ("answers-3-value", "esim") in fields
    assert ("expectations-0-plan", "max-50") in fields


async def test_unknown_questions_options_and_plans_are_refused_in_plain_words(
    app: Quart, editor: Browser
) -> None:
    pairs = [
        ("name", "Tampered"),
        ("answers-0-question", "dataUsge"),
        ("answers-0-for", "dataUsge"),
        ("answers-0-value", "heavy"),
        ("answers-1-question", "travel"),
        ("answers-1-for", "travel"),
        ("answers-1-value", "true"),
        ("answers-2-question", "extras"),
        ("answers-2-for", "extras"),
        ("answers-2-value", "karaoke"),
        ("answers-3-question", "budget"),
        ("answers-3-for", "budget"),
        ("answers-3-value", "900"),
        ("expectations-0-plan", "no-such-plan"),
        ("expectations-0-kind", "shown"),
    ]
    refused = await post_pairs(editor, "/admin/scenarios/new", pairs)
    assert refused.status_code == 400
    page = await refused.get_data(as_text=True)
    assert "Unknown question &#39;dataUsge&#39; (did you mean &#39;dataUsage&#39;?)" in page
    assert "Answer for &#39;extras&#39; must be a list of different values from: streaming, esim" in page
    assert "Answer for &#39;budget&#39; must be a number between 0 and 500" in page
    assert "There is no plan with the id “no-such-plan” in the draft" in page
    assert "karaoke (not an option)" in page and "dataUsge (not in the questionnaire)" in page
    assert await stored(app) == []  # nothing saved


async def test_rows_are_added_removed_and_updated_without_javascript(app: Quart, editor: Browser) -> None:
    fields = form_fields(await editor.text("/admin/scenarios/new"))
    assert [k for k, _ in fields if k.endswith("-question")] == ["answers-0-question"]
    # Add a row; pick a question in it and press "Update the answer inputs".
    form = dict(fields) | {"name": "Rows", "rows": "add"}
    added = await editor.post("/admin/scenarios/new", form)
    fields = form_fields(await added.get_data(as_text=True))
    assert [k for k, _ in fields if k.endswith("-question")] == ["answers-0-question", "answers-1-question"]
    form = dict(fields) | {
        "answers-0-question": "dataUsage",
        "answers-1-question": "budget",
        "rows": "refresh",
    }
    updated = await editor.post("/admin/scenarios/new", form)
    page = await updated.get_data(as_text=True)
    assert '<option value="heavy">' in page  # the options of dataUsage
    assert "a number between 0 and 500" in page  # what budget accepts
    fields = dict(form_fields(page))
    # Saving with a question changed but not updated asks for its answer instead of saving.
    changed = fields | {"answers-0-value": "heavy", "answers-1-value": "20", "answers-1-question": "lines"}
    stale = await editor.post("/admin/scenarios/new", changed)
    assert stale.status_code == 400
    assert "Pick the answer to" in await stale.get_data(as_text=True)
    # Remove the second row, save.
    removed = await editor.post(
        "/admin/scenarios/new", fields | {"answers-0-value": "heavy", "rows": "remove-1"}
    )
    fields = dict(form_fields(await removed.get_data(as_text=True)))
    assert "answers-1-question" not in fields and fields["answers-0-value"] == "heavy"
    saved = await editor.post("/admin/scenarios/new", fields)
    assert saved.status_code == 302, await saved.get_data(as_text=True)
    assert [s.answers for s in await stored(app)] == [{"dataUsage": "heavy"}]


async def test_the_simulator_hands_its_answers_over_as_rows(app: Quart, editor: Browser) -> None:
    page = await editor.text('/admin/scenarios/new?answers={"budget":25,"extras":["esim"],"nope":1}')
    fields = form_fields(page)
    assert ("answers-0-question", "budget") in fields and ("answers-0-value", "25") in fields
    assert ("answers-1-question", "extras") in fields and ("answers-1-value", "esim") in fields
    assert ("answers-2-question", "nope") in fields  # kept, shown as not in the questionnaire


async def test_a_stored_plan_that_is_gone_fails_the_run(app: Quart, editor: Browser) -> None:
    async with get_runtime(app).sessions() as db, db.begin():
        db.add(Scenario(name="Old", answers={}, expectations=[{"kind": "shown", "plan": "gone"}]))
    page = await editor.text("/admin/scenarios")
    assert "there is no plan with the id &#39;gone&#39;" in page and ">FAIL<" in page
    edit = await editor.text("/admin/scenarios/1")
    assert "gone (not in the draft)" in edit
