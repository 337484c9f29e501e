"""Editing functions outside any request (session and actor passed in), and the request's session."""

from __future__ import annotations

from quart import Quart
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from admin import drafts, editing
from admin.audit import Actor
from admin.models import AuditEntry
from admin.web import ADMIN_KEY, AdminState, get_admin
from service.runtime import get_runtime
from tests.admin.conftest import Browser

ACTOR = Actor("script@example.com", "127.0.0.9")


async def test_editing_works_outside_a_request(app: Quart) -> None:
    """No request, no Quart globals: a script can edit the draft with a session and an actor."""
    maker = get_runtime(app).sessions
    async with maker() as session, session.begin():
        state = await drafts.current(session)
        plan = dict(state.items("plans")[0], name="Renamed by a script")
        key = drafts.item_key(plan, "plans")
        outcome = await editing.save_item(session, ACTOR, "plans", 0, key, plan)
        assert outcome.saved, outcome
    async with maker() as session:
        state = await drafts.current(session)
        assert state.is_draft and state.updated_by == ACTOR.email
        assert state.items("plans")[0]["name"] == "Renamed by a script"
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert [(e.action, e.actor, e.address) for e in entries[-2:]] == [
        ("draft_start", ACTOR.email, ACTOR.address),
        ("draft_change", ACTOR.email, ACTOR.address),
    ]
    assert entries[-1].target == f"plans/{key}"


async def test_editing_refuses_a_lost_edit_and_writes_nothing(app: Quart) -> None:
    maker = get_runtime(app).sessions
    async with maker() as session, session.begin():
        state = await drafts.current(session)
        plan = dict(state.items("plans")[0])
        outcome = await editing.save_item(session, ACTOR, "plans", 0, "someone-else", plan)
        assert not outcome.saved and outcome.conflict == editing.CONFLICT
        moved = await editing.move_item(session, ACTOR, "questions", 0, "someone-else", 1)
        assert not moved.saved and moved.conflict
    async with maker() as session:
        assert not (await drafts.current(session)).is_draft
        assert (await session.scalars(select(AuditEntry))).all() == []


async def test_one_database_session_per_request(app: Quart, editor: Browser) -> None:
    """Views share the request's session; it is closed when the request ends."""
    from admin.web import db

    seen: list[AsyncSession] = []
    held: list[bool] = []

    @app.after_request
    async def remember(response: object) -> object:
        from quart import g

        if "admin_db" in g:
            seen.append(db())
            assert db() is g.admin_db
            held.append(db().in_transaction())  # the views used it: it holds a connection now
        return response

    page = await editor.text("/admin/draft/plans/0")
    assert "Plan " in page
    assert len(seen) == 1 and held == [True]
    # Closed at teardown: no transaction, so no connection of the pool. (Not pool.checkedout() == 0:
    # the Insights rollup's background job may hold a connection of the same pool at that moment.)
    assert not seen[0].in_transaction(), "the request's session was closed"
    assert seen[0].get_transaction() is None


async def test_admin_state_has_one_key(app: Quart) -> None:
    assert isinstance(get_admin(app), AdminState)
    assert app.extensions[ADMIN_KEY] is get_admin(app)
