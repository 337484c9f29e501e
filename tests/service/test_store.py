"""The group writer against each kind of database it meets: a SQLite file (the raw connection and
the store's Core statements compiled for it), PostgreSQL and an in-memory SQLite (the engine).

What it writes reads back through SQLAlchemy exactly as written, several writes share one
transaction, and a conditional answers update that lost to another writer is reported alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from service.db.engine import SQLITE_PRAGMAS, create_db_engine
from service.db.models import Base, PlanSession, Selection
from service.store import Conflict, SessionState, SessionStore


@pytest.fixture(params=["sqlite-file", "sqlite-memory", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStore]:
    url = {
        "sqlite-file": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
        "sqlite-memory": "sqlite+aiosqlite:///:memory:",
        "postgresql": request.getfixturevalue("pg_url") if request.param == "postgresql" else "",
    }[request.param]
    engine = create_db_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    store = SessionStore(engine)
    store.start()
    try:
        yield store
    finally:
        await store.stop()
        await engine.dispose()


async def test_writes_read_back_as_written(store: SessionStore) -> None:
    state = await store.create("user-1")
    answers = {"dataUsage": "heavy", "budget": 30.5, "features": ["esim", "5g"], "travel": None}
    async with state.lock:
        await store.save_answers(state, answers, 1)
        saved = await store.save_selection(state, "max-50", 3, 2, "key-1")

    async with store.engine.connect() as conn:
        row = (await conn.execute(select(PlanSession).where(PlanSession.id == state.id))).one()
        choice = (await conn.execute(select(Selection).where(Selection.session_id == state.id))).one()
    assert (row.user_sub, row.answers, row.revision, row.selection_id) == ("user-1", answers, 1, choice.id)
    assert isinstance(row.created_at, datetime) and row.updated_at >= row.created_at
    assert (choice.plan_id, choice.revision, choice.version, choice.rank, choice.idempotency_key) == (
        "max-50",
        1,
        3,
        2,
        "key-1",
    )
    assert choice.created_at == row.updated_at  # both written with the same timestamp, to the µs
    assert saved["selectionId"] == choice.id
    assert await store.find_selection(state, "key-1") == saved

    copy = SessionState(state.id, None, {}, 0)
    assert await store.reload(copy)
    assert (copy.user_sub, copy.answers, copy.revision, copy.selection) == ("user-1", answers, 1, saved)


async def test_a_stale_conditional_update_fails_alone_in_its_batch(store: SessionStore) -> None:
    one, other = await store.create(), await store.create()
    stale = SessionState(one.id, None, {}, 0)  # what another process would still hold
    async with one.lock:
        await store.save_answers(one, {"a": 1}, 1)
    results = await asyncio.gather(  # queued together: one batch, one transaction
        store.save_answers(other, {"b": 1}, 1),
        store.save_answers(stale, {"a": 2}, 1),
        store.save_answers(SessionState(other.id, None, {}, 1), {"b": 2}, 2),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == ["NoneType", "Conflict", "NoneType"]
    assert isinstance(results[1], Conflict)
    async with store.engine.connect() as conn:
        rows = dict((row.id, (row.answers, row.revision)) for row in await conn.execute(select(PlanSession)))
    assert rows == {one.id: ({"a": 1}, 1), other.id: ({"b": 2}, 2)}


async def test_every_sqlite_connection_gets_the_pragmas(tmp_path: Path) -> None:
    assert "PRAGMA journal_mode=WAL" in SQLITE_PRAGMAS
    engine = create_db_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    store = SessionStore(engine)
    store.start()
    try:
        await store.create()  # opens the group writer's raw connection
        async with engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
            sync = (await conn.execute(text("PRAGMA synchronous"))).scalar()
            keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar()
        assert (mode, sync, keys) == ("wal", 1, 1)  # 1 = NORMAL
        raw = store.writer._sqlite  # the group writer's own connection, idle between batches
        assert raw is not None and raw._conn is not None
        own = raw._conn
        pragmas = [own.execute(f"PRAGMA {name}").fetchone()[0] for name in ("synchronous", "busy_timeout")]
        assert pragmas == [1, 5000]
    finally:
        await store.stop()
        await engine.dispose()
