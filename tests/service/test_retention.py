"""Sessions are not kept forever: idle ones are purged, and a person's are erased on request."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from quart import Quart
from sqlalchemy import func, select, update

from admin.models import AuditEntry
from planwise.app import create_app
from service.db.models import PlanSession, Selection, SessionEvent, utcnow
from service.runtime import get_runtime

from .conftest import WS, settings_for
from .test_cli import planwise


async def _open_and_answer(app: Quart, select_plan: bool) -> str:
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        session = await ws.opening({})
        await ws.send("userResponse", {"answers": {"dataUsage": "heavy"}}, id="a")
        update = await ws.expect("recommendationUpdates")
        if select_plan:
            await ws.send("selectPlan", {"planId": update["plans"][0]["id"]}, id="s")
            await ws.expect("selectionSaved")
    sid: str = session["sessionId"]
    return sid


async def test_purge_deletes_only_idle_sessions_without_a_selection(tmp_path: Path) -> None:
    from service.retention import purge_idle_sessions

    app = create_app(settings_for(tmp_path))
    async with app.test_app():
        idle = await _open_and_answer(app, select_plan=False)
        chosen = await _open_and_answer(app, select_plan=True)
        recent = await _open_and_answer(app, select_plan=False)
        runtime = get_runtime(app)  # every answer and selection was committed before its reply
        long_ago = utcnow() - timedelta(days=31)
        async with runtime.sessions() as db, db.begin():
            await db.execute(
                update(PlanSession).where(PlanSession.id.in_([idle, chosen])).values(updated_at=long_ago)
            )
        erased = await purge_idle_sessions(runtime.db, 30)
        assert erased.sessions == 1 and erased.selections == 0
        async with runtime.sessions() as db:
            left = set((await db.execute(select(PlanSession.id))).scalars())
            events_of_idle = (
                await db.execute(select(func.count()).where(SessionEvent.session_id == idle))
            ).scalar_one()
        # The idle one is gone with its events; a chosen plan and a recent session are kept.
        assert left == {chosen, recent} and events_of_idle == 0
        assert (await purge_idle_sessions(runtime.db, 30)).sessions == 0
        assert (await purge_idle_sessions(runtime.db, 0)).sessions == 0  # 0 keeps everything


async def test_planwise_purge_and_forget_from_the_command_line(tmp_path: Path) -> None:
    import asyncio

    app = create_app(settings_for(tmp_path))
    async with app.test_app():
        kept = await _open_and_answer(app, select_plan=True)
        gone = await _open_and_answer(app, select_plan=True)
        result = await asyncio.to_thread(planwise, tmp_path, "purge")
        assert result.returncode == 0 and "purged 0 idle sessions" in result.stdout, result.stderr
        result = await asyncio.to_thread(
            planwise, tmp_path, "forget", "--session", gone, "--by", "dpo@example.com"
        )
        assert result.returncode == 0, result.stderr
        assert "erased 1 session(s) and 1 selection(s)" in result.stdout
        assert (await asyncio.to_thread(planwise, tmp_path, "forget")).returncode == 2  # who?
        async with get_runtime(app).sessions() as db:
            ids = set((await db.execute(select(PlanSession.id))).scalars())
            selections = set((await db.execute(select(Selection.session_id))).scalars())
            audit = (
                (await db.execute(select(AuditEntry).where(AuditEntry.action == "forget"))).scalars().all()
            )
    assert ids == {kept} and selections == {kept}
    assert [(a.actor, a.after) for a in audit] == [("dpo@example.com", {"sessions": 1, "selections": 1})]
    assert gone not in (audit[0].target + audit[0].summary)  # the audit log names no person


async def test_new_sessions_per_address_are_limited_over_every_transport(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path, new_sessions_per_minute=3))
    stranger = {"client": ("203.0.113.7", 40000)}
    async with app.test_app():
        client = app.test_client()
        created = [await client.post("/api/sessions", json={}, scope_base=stranger) for _ in range(2)]
        assert [r.status_code for r in created] == [201, 201]
        async with client.websocket("/ws", scope_base=stranger) as raw:  # the third, over the WebSocket
            assert (await WS(raw).opening({}))["resumed"] is False
        async with client.websocket("/ws", scope_base=stranger) as raw:  # the fourth is refused
            ws = WS(raw)
            await ws.send("hello", {}, id="h")
            error = await ws.expect("error")
            assert error["code"] == "rate_limited" and error["replyTo"] == "h"
        refused = await client.post("/api/sessions", json={}, scope_base=stranger)
        assert refused.status_code == 429
        assert (await refused.get_json())["error"]["code"] == "rate_limited"
        # Another address, and this host itself, are not affected.
        other = await client.post("/api/sessions", json={}, scope_base={"client": ("198.51.100.9", 1)})
        local = [
            await client.post("/api/sessions", json={}, scope_base={"client": ("127.0.0.1", 1)})
            for _ in range(5)
        ]
        assert other.status_code == 201 and {r.status_code for r in local} == {201}
        # Resuming an existing session is never limited.
        token = (await created[0].get_json())["token"]
        async with client.websocket("/ws", scope_base=stranger) as raw:
            assert (await WS(raw).opening({"token": token}))["resumed"] is True
