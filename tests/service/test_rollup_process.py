"""The rollup's background catch-ups in a low-priority child process (service/rollup_process.py).

The child folds the same events into the same figures as the serving process does, at a lower CPU
priority, and every chunk is written by the service (``apply``), never by the child; a chunk the
service does not apply stops the catch-up and is folded again later; a child that dies is replaced
at the next catch-up; stopping the service ends it. A real app on a SQLite file, and the real child.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import psutil
import pytest
from quart import Quart
from sqlalchemy import func, select

from planwise.app import create_app
from service.db.models import EventRollup as RollupRow
from service.db.models import EventRollupState, SessionEvent, utcnow
from service.event_rollup import EventRollup, Mark, Merged
from service.event_stats import Period, stats
from service.retention import forget
from service.rollup_process import NICE, RollupProcess
from service.runtime import get_runtime

from .conftest import settings_for
from .test_event_rollup import _bundle
from .test_events import EXPECTED, _export, drive_known_sessions


@pytest.fixture(params=["sqlite", "postgresql"])
async def app(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Quart]:
    overrides = {"database_url": request.getfixturevalue("pg_url")} if request.param == "postgresql" else {}
    # A long interval: the test asks for each catch-up itself.
    settings = settings_for(tmp_path, event_rollup="process", event_rollup_interval=3600, **overrides)
    app = create_app(settings)
    async with app.test_app():
        _rollup(app).lag = 0  # PostgreSQL's lag: even the test's newest events (the child takes it too)
        yield app


def _child(app: Quart) -> RollupProcess:
    child = get_runtime(app).planwise.events.rollup.background
    assert isinstance(child, RollupProcess)
    return child


def _rollup(app: Quart) -> EventRollup:
    return get_runtime(app).planwise.events.rollup


async def _watermark_and_newest(app: Quart) -> tuple[int, int]:
    async with get_runtime(app).sessions() as db:
        watermark = (await db.execute(select(EventRollupState.watermark))).scalar_one()
        newest = (await db.execute(select(func.max(SessionEvent.id)))).scalar_one()
    return int(watermark), int(newest)


async def test_the_child_folds_the_events_into_the_same_figures(app: Quart) -> None:
    await drive_known_sessions(app)
    child = _child(app)
    assert child.pid is None  # not started with the service
    chunks: list[tuple[int, int]] = []

    async def apply(mark: Mark, moved_to: int, merged: Merged) -> bool:
        chunks.append((mark.watermark, moved_to))
        return await _rollup(app).apply(mark, moved_to, merged)

    folded = await child.catch_up(apply, 0)
    watermark, newest = await _watermark_and_newest(app)
    assert folded > 0 and watermark == newest
    assert chunks == [(0, newest)]  # written here, by the service
    today = datetime.combine(utcnow().date(), datetime.min.time())
    async with get_runtime(app).sessions() as db:
        found = await stats(db, Period(today, today + timedelta(days=1), 1))
    assert _export(found, _bundle()) == EXPECTED
    # Lower priority than the service; nothing more to fold.
    assert child.pid is not None and child.pid != os.getpid()
    assert psutil.Process(child.pid).nice() == min(19, psutil.Process().nice() + NICE)
    assert await child.catch_up(_rollup(app).apply, 0) == 0


async def test_a_chunk_the_service_does_not_apply_is_folded_again(app: Quart) -> None:
    """Another fold moved the watermark first (``apply`` says False): the child stops; later folds
    take the chunk from the watermark, so every event is counted once."""
    await drive_known_sessions(app)
    child, refused = _child(app), []

    async def moved_first(mark: Mark, moved_to: int, merged: Merged) -> bool:
        refused.append(moved_to)
        return False

    await child.catch_up(moved_first, 0)
    assert len(refused) == 1 and (await _watermark_and_newest(app))[0] == 0
    await child.catch_up(_rollup(app).apply, 0)
    watermark, newest = await _watermark_and_newest(app)
    assert watermark == newest
    today = datetime.combine(utcnow().date(), datetime.min.time())
    async with get_runtime(app).sessions() as db:
        found = await stats(db, Period(today, today + timedelta(days=1), 1))
    assert _export(found, _bundle()) == EXPECTED


async def test_a_chunk_read_before_an_erasure_is_not_written_but_folded_again(app: Quart) -> None:
    """The child read the chunk; a session is erased before the service writes it: the service
    refuses it (the erasure count the child read is stale), and the next catch-up folds the rest."""
    ids = await drive_known_sessions(app)
    child, refused = _child(app), []

    async def erased_meanwhile(mark: Mark, moved_to: int, merged: Merged) -> bool:
        async with get_runtime(app).sessions() as db, db.begin():
            await forget(await db.connection(), session_id=ids["C"])
        applied = await _rollup(app).apply(mark, moved_to, merged)
        refused.append(not applied)
        return applied

    await child.catch_up(erased_meanwhile, 0)
    assert refused == [True] and (await _watermark_and_newest(app))[0] == 0
    assert await child.catch_up(_rollup(app).apply, 0) > 0
    async with get_runtime(app).sessions() as db:
        sessions = set((await db.execute(select(RollupRow.session_id))).scalars())
    assert sessions == {ids["A"], ids["B"], ids["D"]}


async def test_a_failed_write_ends_the_child_and_the_next_catch_up_starts_another(app: Quart) -> None:
    await drive_known_sessions(app)
    child = _child(app)

    async def broken(mark: Mark, moved_to: int, merged: Merged) -> bool:
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        await child.catch_up(broken, 0)
    assert child.pid is None
    assert await child.catch_up(_rollup(app).apply, 0) > 0


async def test_a_child_that_died_is_replaced_and_the_service_ends_it(app: Quart) -> None:
    child = _child(app)
    await child.catch_up(_rollup(app).apply, 0)
    first = child.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    for _ in range(200):  # reaped by asyncio's child watcher
        if not psutil.pid_exists(first):
            break
        await asyncio.sleep(0.05)
    await drive_known_sessions(app)
    assert await child.catch_up(_rollup(app).apply, 0) > 0  # a new child
    second = child.pid
    assert second is not None and second != first
    await get_runtime(app).planwise.events.rollup.stop()
    assert child.pid is None
    assert not psutil.pid_exists(second) or psutil.Process(second).status() == psutil.STATUS_ZOMBIE


async def test_the_background_loop_uses_the_child(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path, event_rollup="process", event_rollup_interval=0.3))
    async with app.test_app():
        await drive_known_sessions(app)
        for _ in range(100):  # spawning the child takes about a second
            watermark, newest = await _watermark_and_newest(app)
            if watermark == newest:
                break
            await asyncio.sleep(0.1)
        assert watermark == newest
        assert _child(app).pid is not None
