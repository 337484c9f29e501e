"""Publishing, version history, rollback, import and export through the admin."""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any

from quart import Quart
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from admin.models import AuditEntry
from service.db.models import CatalogueVersion, Draft
from service.runtime import get_runtime
from tests.admin.conftest import EXAMPLE, Browser, signed_in
from tests.admin.test_drafts import draft_bundle, plan_form, rule_form


async def versions(app: Quart) -> list[CatalogueVersion]:
    async with get_runtime(app).sessions() as db:
        return list((await db.execute(select(CatalogueVersion).order_by(CatalogueVersion.id))).scalars())


async def audit_actions(app: Quart) -> list[str]:
    async with get_runtime(app).sessions() as db:
        return [e.action for e in (await db.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()]


async def test_publish_switches_live_at_once(app: Quart, publisher: Browser) -> None:
    await publisher.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="7.49"))
    page = await publisher.text("/admin/publish")
    assert "No problems." in page and "Publish now" in page
    response = await publisher.post("/admin/publish", {"message": "Cheaper Basic 5"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/versions/2"
    rows = await versions(app)
    assert [r.id for r in rows] == [1, 2]
    assert rows[1].message == "Cheaper Basic 5" and rows[1].created_by == "publisher@example.com"
    assert rows[1].bundle["plans"][0]["attributes"]["monthlyPrice"] == 7.49
    assert get_runtime(app).planwise.live.current.version == 2  # no waiting for the watcher
    assert await draft_bundle(app) is None
    history = await publisher.text("/admin/versions")
    assert "Cheaper Basic 5" in history and "publisher@example.com" in history
    assert "publish" in await audit_actions(app)


async def test_publish_pushes_an_update_to_connected_people(app: Quart, publisher: Browser) -> None:
    client = app.test_client()
    async with client.websocket("/ws") as ws:
        await ws.send(json.dumps({"event": "hello", "data": {}}))
        seen: list[dict[str, Any]] = []
        while len(seen) < 3:
            seen.append(json.loads(await ws.receive()))
        assert seen[0]["data"]["version"] == 1
        await publisher.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="7.49"))
        assert (await publisher.post("/admin/publish", {"message": "Cheaper"})).status_code == 302
        while True:
            frame = json.loads(await ws.receive())
            if frame["event"] == "recommendationUpdates" and frame["data"]["version"] == 2:
                break
        prices = {p["id"]: p["attributes"]["monthlyPrice"] for p in frame["data"]["plans"]}
        assert prices["basic-5"] == 7.49


async def test_publish_refused_while_the_draft_has_problems(app: Quart, publisher: Browser) -> None:
    broken = rule_form(when='{"answer": "nope", "op": "exists"}', force="1")
    assert (await publisher.post("/admin/draft/rules/0", broken)).status_code == 302
    response = await publisher.post("/admin/publish", {"message": "Try"})
    assert response.status_code == 422
    page = await response.get_data(as_text=True)
    assert "publishing is refused" in page and "/admin/draft/rules/0#field-when" in page
    assert len(await versions(app)) == 1


async def test_publish_needs_a_message_and_keeps_nothing_lost(app: Quart, publisher: Browser) -> None:
    await publisher.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="7.49"))
    response = await publisher.post("/admin/publish", {"message": ""})
    assert response.status_code == 400
    assert len(await versions(app)) == 1 and await draft_bundle(app) is not None


async def test_editor_cannot_publish(app: Quart, editor: Browser) -> None:
    await editor.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="7.49"))
    assert (await editor.post("/admin/publish", {"message": "Sneaky"})).status_code == 403
    assert len(await versions(app)) == 1


async def test_rollback_publishes_a_copy(app: Quart, publisher: Browser) -> None:
    await publisher.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="7.49"))
    await publisher.post("/admin/publish", {"message": "Cheaper"})
    confirm = await publisher.text("/admin/versions/1/rollback")
    assert "Roll back to version 1?" in confirm
    assert (await publisher.post("/admin/versions/1/rollback", {"message": ""})).status_code == 400
    response = await publisher.post("/admin/versions/1/rollback", {"message": "Price was wrong"})
    assert response.status_code == 302
    rows = await versions(app)
    assert [r.id for r in rows] == [1, 2, 3]
    assert rows[2].copied_from == 1 and rows[2].bundle == rows[0].bundle
    assert rows[2].message == "Rollback to version 1: Price was wrong"
    assert get_runtime(app).planwise.live.current.version == 3
    assert "rollback" in await audit_actions(app)
    editor = await signed_in(app, "editor", "ed@example.com")
    assert (await editor.post("/admin/versions/1/rollback", {"message": "x"})).status_code == 403


async def test_import_bad_bundle_lists_every_problem_and_changes_nothing(app: Quart, editor: Browser) -> None:
    bundle = json.loads(EXAMPLE.read_text())
    bundle["plans"][0]["attributes"]["monthlyPrice"] = "cheap"
    bundle["rules"][0]["when"]["answer"] = "nope"
    bundle["questions"][0]["askwhen"] = {}
    response = await editor.post("/admin/import", {"text": json.dumps(bundle)})
    assert response.status_code == 422
    page = await response.get_data(as_text=True)
    assert "Not imported: 3 problem(s)" in page
    for path in ("plans[0].attributes.monthlyPrice", "rules[0].when.answer", "questions[0]"):
        assert path in page
    assert await draft_bundle(app) is None
    syntax = await editor.post("/admin/import", {"text": "{nope"})
    assert syntax.status_code == 422 and "Not valid JSON" in await syntax.get_data(as_text=True)


async def test_import_file_creates_the_draft(app: Quart, editor: Browser) -> None:
    bundle = json.loads(EXAMPLE.read_text())
    bundle["name"] = "Imported catalogue"
    upload = FileStorage(BytesIO(json.dumps(bundle).encode()), filename="bundle.json", name="file")
    response = await editor.post("/admin/import", {}, files={"file": upload})
    assert response.status_code == 302, await response.get_data(as_text=True)
    draft = await draft_bundle(app)
    assert draft is not None and draft["name"] == "Imported catalogue"
    assert len(await versions(app)) == 1  # nothing went live
    assert "import" in await audit_actions(app)
    bundle["name"] = "Second import"
    again = await editor.post("/admin/import", {"text": json.dumps(bundle)})
    assert again.status_code == 422 and "replace the current draft" in await again.get_data(as_text=True)
    assert (await draft_bundle(app) or {})["name"] == "Imported catalogue"
    confirmed = await editor.post("/admin/import", {"text": json.dumps(bundle), "replace": "y"})
    assert confirmed.status_code == 302
    assert (await draft_bundle(app) or {})["name"] == "Second import"


async def test_import_a_large_bundle(app: Quart, editor: Browser) -> None:
    """Bundles are larger than the public API's body limit; the admin accepts them."""
    bundle = json.loads(EXAMPLE.read_text())
    template = bundle["plans"][0]
    bundle["plans"] += [{**template, "id": f"extra-{i}", "description": "x" * 900} for i in range(200)]
    assert len(json.dumps(bundle)) > 150_000
    response = await editor.post("/admin/import", {"text": json.dumps(bundle)})
    assert response.status_code == 302


async def test_export_version(app: Quart, viewer: Browser) -> None:
    response = await viewer.client.get("/admin/versions/1/export")
    assert response.status_code == 200
    assert await response.get_json() == json.loads(EXAMPLE.read_text())
    assert (await viewer.client.get("/admin/versions/99/export")).status_code == 404


async def test_draft_changed_meanwhile_is_not_published_blindly(app: Quart, publisher: Browser) -> None:
    await publisher.post("/admin/draft/plans/0", plan_form(attr_monthlyPrice="7.49"))
    async with get_runtime(app).sessions() as db:
        assert await db.get(Draft, 1) is not None
    response = await publisher.post("/admin/publish", {"message": "ok"})
    assert response.status_code == 302
