"""The Insights rollup (service/event_rollup.py): the figures read from it equal those of the events
themselves, for sessions spanning two days or two ranges, for events arriving after a catch-up,
with two processes folding at once; rows go with their events (retention purge, erasure, idle
purge). Erasure without an index by session (service/event_erasure.py): every event goes, however
it is found, and event ids never come back. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import delete, func, select, text, update

from planwise.app import create_app
from planwise.migrate import upgrade
from service.db.engine import create_db_engine
from service.db.models import EventRollup, EventRollupState, PlanSession, Selection, SessionEvent, utcnow
from service.event_erasure import erase_events, erase_later_events, locate
from service.event_rollup import EventRollup as Rollup
from service.event_rollup_fold import event_query, fold_events
from service.event_stats import Period, Stats, stats
from service.retention import forget, purge_idle_sessions
from service.runtime import get_runtime

from .conftest import EXAMPLE, WS, settings_for
from .test_events import EXPECTED, EXPECTED_RANKS, EXPECTED_ZERO, _export, drive_known_sessions


@pytest.fixture(params=["sqlite", "postgresql"])
async def app(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Quart]:
    overrides = {"database_url": request.getfixturevalue("pg_url")} if request.param == "postgresql" else {}
    app = create_app(settings_for(tmp_path, **overrides))
    async with app.test_app():
        rollup = get_runtime(app).planwise.events.rollup
        await rollup.stop()  # the tests fold when they say so
        rollup.lag = 0  # even the newest events (the test's)
        yield app


def _today() -> datetime:
    return datetime.combine(utcnow().date(), datetime.min.time())


def _days(first: int, last: int, version: int | None = None) -> Period:
    """Whole UTC days, ``first`` to ``last`` days from today, both included."""
    return Period(_today() + timedelta(days=first), _today() + timedelta(days=last + 1), version)


async def _stats(app: Quart, period: Period) -> Stats:
    async with get_runtime(app).sessions() as db:
        return await stats(db, period)


async def _rows(app: Quart) -> list[tuple[Any, ...]]:
    async with get_runtime(app).sessions() as db:
        query = select(EventRollup.day, EventRollup.version, EventRollup.session_id)
        return [tuple(r) for r in await db.execute(query)]


async def _watermark(app: Quart) -> int:
    async with get_runtime(app).sessions() as db:
        return int((await db.execute(select(EventRollupState.watermark))).scalar_one())


async def _newest(app: Quart) -> int:
    async with get_runtime(app).sessions() as db:
        return int((await db.execute(select(func.max(SessionEvent.id)))).scalar_one())


def _bundle() -> dict[str, Any]:
    return dict(json.loads(EXAMPLE.read_text()))


async def test_the_rollup_gives_the_numbers_worked_out_by_hand(app: Quart) -> None:
    await drive_known_sessions(app)
    rollup = get_runtime(app).planwise.events.rollup
    await rollup.catch_up()
    assert await _watermark(app) == await _newest(app)  # every event folded
    found = await _stats(app, _days(0, 0, 1))
    assert _export(found, _bundle()) == EXPECTED
    assert found.zero_answers == EXPECTED_ZERO and dict(found.by_rank) == EXPECTED_RANKS
    assert len(await _rows(app)) == 4  # one row per session (one day, one version)
    assert await rollup.catch_up() == 0


async def test_events_after_a_catch_up_are_counted_once(app: Quart) -> None:
    """Read before the next catch-up (rows + newer events of the same sessions), then after it."""
    await drive_known_sessions(app)
    rollup = get_runtime(app).planwise.events.rollup
    await rollup.catch_up()
    async with app.test_client().websocket("/ws") as raw:  # E: a new person, the first three of D's
        ws = WS(raw)
        await ws.opening({})
        await ws.send("userResponse", {"answers": {"dataUsage": "heavy"}}, id=1)
        assert (await ws.expect("recommendationUpdates"))["matchedPlans"] == 2
    expected = json.loads(json.dumps(EXPECTED))
    expected["sessions"] += 1
    expected["answerChanges"] += 1
    by_id = {q["id"]: q for q in expected["questions"]}
    for q in ("dataUsage", "budget", "travel", "extras"):
        by_id[q]["shown"] += 1
    by_id["dataUsage"]["answered"] += 1
    by_id["dataUsage"]["lastAnswered"] += 1
    next(r for r in expected["rules"] if r["id"] == "heavy-data")["fired"] += 1
    for plan in expected["plans"]:
        plan["top3"] += plan["id"] in ("mid-20", "max-50")
    before = await _stats(app, _days(0, 0))  # the new events are not folded yet
    assert _export(before, _bundle()) == expected
    await rollup.catch_up()
    after = await _stats(app, _days(0, 0))
    assert _export(after, _bundle()) == expected and after.zero_answers == EXPECTED_ZERO
    assert len(await _rows(app)) == 5


async def _add_events(app: Quart, session_id: str, at: datetime, *events: dict[str, Any]) -> None:
    async with get_runtime(app).sessions() as db, db.begin():
        for n, event in enumerate(events):
            db.add(
                SessionEvent(
                    session_id=session_id,
                    at=at + timedelta(minutes=n),
                    version=1,
                    revision=n,
                    matched=event.get("matched"),
                    plan_id=event.get("plan_id"),
                    rank=event.get("rank"),
                    kind=event["kind"],
                    data=event.get("data", {}),
                )
            )


def _answer(question: str, shown: list[str], fired: list[str], visible: list[str]) -> dict[str, Any]:
    data = {"answered": [question], "cleared": [], "visible": visible, "fired": fired, "shown": shown}
    return {"kind": "answer", "matched": len(shown), "data": data}


async def test_a_session_spanning_two_days_counts_once_over_both(app: Quart) -> None:
    """S answers late yesterday and early today; T only today. Per day and over both days, from the
    rollup, from the events alone, and over a range that starts in the middle of yesterday."""
    visible = ["dataUsage", "budget", "travel", "extras"]
    yesterday_late = _today() - timedelta(minutes=30)
    await _add_events(
        app,
        "S",
        yesterday_late,
        {"kind": "start", "data": {"visible": visible}},
        _answer("dataUsage", ["mid-20", "max-50"], ["heavy-data"], visible),
        {"kind": "select", "plan_id": "mid-20", "rank": 1},
    )
    await _add_events(
        app,
        "S",
        _today() + timedelta(hours=1),
        {"kind": "resume", "data": {"visible": visible}},
        _answer("travel", ["max-50", "mid-20", "nodata"], ["heavy-data", "traveller"], visible),
        {"kind": "select", "plan_id": "max-50", "rank": 1},
    )
    await _add_events(
        app,
        "T",
        _today() + timedelta(hours=2),
        _answer("budget", ["nodata", "basic-5", "mid-20"], ["budget-cap"], visible),
    )

    async def check() -> None:
        both = await _stats(app, _days(-1, 0))
        assert (both.sessions, both.answer_changes, both.selections) == (2, 3, 2)
        assert both.shown["dataUsage"] == 2 and both.fired == {
            "heavy-data": 1,
            "traveller": 1,
            "budget-cap": 1,
        }
        assert both.top3 == {"mid-20": 2, "max-50": 1, "nodata": 2, "basic-5": 1}
        assert both.last_answered == {"travel": 1, "budget": 1}  # S's last change is today's
        assert both.selected == {"max-50": 1}  # S's last choice
        yesterday, today = await _stats(app, _days(-1, -1)), await _stats(app, _days(0, 0))
        assert (yesterday.sessions, today.sessions) == (1, 2)  # a sum of days would say 3
        assert yesterday.selected == {"mid-20": 1} and yesterday.last_answered == {"dataUsage": 1}
        assert today.answered == {"travel": 1, "budget": 1} and today.selected == {"max-50": 1}
        middle = await _stats(
            app, Period(yesterday_late + timedelta(minutes=1), _today() + timedelta(days=1))
        )
        assert middle.sessions == 2 and middle.answered == {"dataUsage": 1, "travel": 1, "budget": 1}
        assert middle.selections == 2  # yesterday's start (before the range) left out, the rest in
        late = await _stats(app, Period(yesterday_late + timedelta(minutes=2), _today() + timedelta(hours=1)))
        assert (late.sessions, late.answer_changes, late.selections) == (1, 0, 1)

    await check()  # from the events alone
    await get_runtime(app).planwise.events.rollup.catch_up()
    assert len(await _rows(app)) == 3  # S yesterday, S today, T today
    await check()  # from the rollup (and the partly covered days from the events)


async def test_two_processes_folding_at_once_fold_each_event_once(app: Quart) -> None:
    await drive_known_sessions(app)
    engine = get_runtime(app).db
    first, second = Rollup(engine, 90, chunk=3, lag=0), Rollup(engine, 90, chunk=4, lag=0)
    await asyncio.gather(first.catch_up(), second.catch_up(), first.catch_up())
    await second.catch_up()  # the one that lost a race left the rest to the other, which may have stopped
    found = await _stats(app, _days(0, 0, 1))
    assert _export(found, _bundle()) == EXPECTED and found.zero_answers == EXPECTED_ZERO
    assert await _watermark(app) == await _newest(app)


async def test_chunks_cut_by_rows_fold_each_event_once(app: Quart) -> None:
    """A chunk ends before an event of a row beyond ``rows``: small bounds, the same figures."""
    await drive_known_sessions(app)
    engine = get_runtime(app).db
    for chunk, rows in ((1000, 1), (2, 2), (5, 3)):
        async with engine.begin() as conn:  # start afresh
            await conn.execute(delete(EventRollup))
            await conn.execute(update(EventRollupState).values(watermark=0))
        rollup = Rollup(engine, 90, chunk=chunk, lag=0, rows=rows)
        chunks = []
        while (done := (await rollup._chunk())[0]) > 0:
            chunks.append(done)
        assert len(chunks) > 1
        found = await _stats(app, _days(0, 0, 1))
        assert _export(found, _bundle()) == EXPECTED and found.zero_answers == EXPECTED_ZERO
        assert await _watermark(app) == await _newest(app)


async def test_rollup_rows_go_with_their_events(app: Quart) -> None:
    """The retention purge (whole days), an erasure, the idle-session purge."""
    ids = await drive_known_sessions(app)
    runtime = get_runtime(app)
    events = runtime.planwise.events
    await _add_events(
        app, "old", _today() - timedelta(days=91), {"kind": "start", "data": {"visible": ["budget"]}}
    )
    await _add_events(
        app, "kept", _today() - timedelta(days=89), {"kind": "start", "data": {"visible": ["budget"]}}
    )
    await Rollup(runtime.db, 0, lag=0).catch_up()  # no retention: the 91-day-old event folded too
    assert len(await _rows(app)) == 6
    assert await events.purge() == 1
    assert {s for _, _, s in await _rows(app)} == {*ids.values(), "kept"}

    async with runtime.sessions() as db, db.begin():
        await forget(await db.connection(), session_id=ids["A"])
    assert {s for _, _, s in await _rows(app)} == {ids["B"], ids["C"], ids["D"], "kept"}

    async with runtime.sessions() as db, db.begin():  # D is idle for long, without a selection
        await db.execute(
            update(PlanSession)
            .where(PlanSession.id == ids["D"])
            .values(updated_at=utcnow() - timedelta(days=40))
        )
    assert (await purge_idle_sessions(runtime.db, 30)).sessions == 1
    assert {s for _, _, s in await _rows(app)} == {ids["B"], ids["C"], "kept"}
    assert (await _stats(app, _days(0, 0))).sessions == 2


async def test_a_session_erased_while_its_events_are_folded_leaves_no_row(app: Quart) -> None:
    """The events are read, the session is erased, then the chunk would be written: it is not, and
    the next catch-up folds the events without the erased session's."""
    ids = await drive_known_sessions(app)
    runtime = get_runtime(app)
    rollup = runtime.planwise.events.rollup
    async with runtime.db.connect() as conn:
        mark = await rollup._mark(conn)
        chunk = (await conn.execute(event_query())).all()
        merged = await rollup._merge(conn, fold_events(chunk))
    async with runtime.sessions() as db, db.begin():
        await forget(await db.connection(), session_id=ids["B"])
    assert not await rollup.apply(mark, chunk[-1].id, merged)
    assert await _rows(app) == [] and await _watermark(app) == 0  # nothing written
    await rollup.catch_up()
    assert {s for _, _, s in await _rows(app)} == {ids["A"], ids["C"], ids["D"]}
    assert (await _stats(app, _days(0, 0))).sessions == 3


async def test_with_a_lag_the_newest_events_wait_but_a_future_stamp_does_not_hold_them_back(
    app: Quart,
) -> None:
    """PostgreSQL's rule (events younger than the lag wait: lower ids may still be committing), here
    on both databases; an event stamped days ahead (a clock out of step) is folded all the same."""
    rollup = Rollup(get_runtime(app).db, 90, lag=30)
    opened = {"kind": "start", "data": {"visible": ["budget"]}}
    await _add_events(app, "ahead", utcnow() + timedelta(days=2), opened)
    await _add_events(app, "earlier", utcnow() - timedelta(hours=1), opened)
    await rollup.catch_up()
    assert {s for _, _, s in await _rows(app)} == {"ahead", "earlier"}
    await _add_events(app, "now", utcnow(), opened)
    await _add_events(app, "after", utcnow() - timedelta(hours=1), opened)  # a higher id, older stamp
    await rollup.catch_up()
    assert {s for _, _, s in await _rows(app)} == {"ahead", "earlier"}  # both wait behind "now"
    assert (await _stats(app, _days(-1, 2))).sessions == 4  # read from the events meanwhile


# -- erasure without an index by session (service/event_erasure.py) ---------------------------------

OPENED = {"kind": "start", "data": {"visible": ["budget"]}}


async def _events_of(app: Quart) -> dict[str, int]:
    """Events per session."""
    async with get_runtime(app).sessions() as db:
        query = select(SessionEvent.session_id, func.count()).group_by(SessionEvent.session_id)
        return {s: int(n) for s, n in await db.execute(query)}


async def test_forget_deletes_the_events_folded_on_every_day_and_those_not_folded_yet(app: Quart) -> None:
    ids = await drive_known_sessions(app)
    await _add_events(app, ids["A"], _today() - timedelta(days=2, hours=-3), OPENED)  # another day
    rollup = get_runtime(app).planwise.events.rollup
    await rollup.catch_up()
    await _add_events(app, ids["A"], utcnow(), OPENED, OPENED)  # not folded yet
    before = await _events_of(app)
    assert before[ids["A"]] >= 4

    async with get_runtime(app).sessions() as db, db.begin():
        await forget(await db.connection(), session_id=ids["A"])

    assert await _events_of(app) == {s: n for s, n in before.items() if s != ids["A"]}
    assert ids["A"] not in {s for _, _, s in await _rows(app)}
    await rollup.catch_up()
    assert ids["A"] not in {s for _, _, s in await _rows(app)}
    assert (await _stats(app, _days(-3, 0))).sessions == 3


async def test_events_written_after_the_erasure_read_go_too(app: Quart) -> None:
    """An answer committed between the erasure's read (no lock) and its writes is deleted with it."""
    ids = await drive_known_sessions(app)
    runtime = get_runtime(app)
    await runtime.planwise.events.rollup.catch_up()
    async with runtime.db.begin() as conn:
        located = await locate(conn, [ids["B"]])
        await _add_events(app, ids["B"], utcnow(), OPENED)  # another connection, committed now
        await erase_events(conn, located)
        await conn.execute(delete(Selection).where(Selection.session_id == ids["B"]))  # as forget does
        await conn.execute(delete(PlanSession).where(PlanSession.id == ids["B"]))
        await erase_later_events(conn, located)
    assert ids["B"] not in await _events_of(app)
    assert set(await _events_of(app)) == {ids["A"], ids["C"], ids["D"]}


async def test_event_ids_do_not_come_back_after_the_newest_events_are_erased(app: Quart) -> None:
    """Otherwise the events written next would get ids at or below the watermark: never folded, and
    left out of every report."""
    ids = await drive_known_sessions(app)
    runtime = get_runtime(app)
    await runtime.planwise.events.rollup.catch_up()
    async with runtime.sessions() as db:
        newest = (
            await db.execute(select(SessionEvent).order_by(SessionEvent.id.desc()).limit(1))
        ).scalar_one()
    assert newest.session_id in ids.values()
    watermark = await _watermark(app)
    async with runtime.sessions() as db, db.begin():
        await forget(await db.connection(), session_id=newest.session_id)

    await _add_events(app, "late", utcnow(), OPENED)
    async with runtime.sessions() as db:
        late = (
            await db.execute(select(SessionEvent.id).where(SessionEvent.session_id == "late"))
        ).scalar_one()
    assert late > watermark
    await runtime.planwise.events.rollup.catch_up()
    assert "late" in {s for _, _, s in await _rows(app)}
    assert (await _stats(app, _days(0, 0))).sessions == 4  # three left of the four, and "late"


async def test_the_migration_keeps_the_events_and_their_ids(tmp_path: Path) -> None:
    """A database with events from before the migration: the table is copied on SQLite (to get
    AUTOINCREMENT); the events, their ids and the order of new ones are kept."""
    db = create_db_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade(db, "0008")
        insert = text(
            "INSERT INTO session_events (id, session_id, at, kind, version, revision, data)"
            " VALUES (:id, 's', :at, 'start', 1, 0, '{}')"
        )
        async with db.begin() as conn:
            for n in (1, 2, 7):
                await conn.execute(insert, {"id": n, "at": utcnow()})
            await conn.execute(text("DELETE FROM session_events WHERE id = 7"))  # the newest erased
        await upgrade(db)
        async with db.begin() as conn:
            await conn.execute(text("DELETE FROM session_events WHERE id = 2"))
            await conn.execute(
                text(
                    "INSERT INTO session_events (session_id, at, kind, version, revision, data)"
                    " VALUES ('t', :at, 'start', 1, 0, '{}')"
                ),
                {"at": utcnow()},
            )
            ids = [r[0] for r in await conn.execute(text("SELECT id FROM session_events ORDER BY id"))]
            indexes = {
                r[0]
                for r in await conn.execute(
                    text(
                        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'session_events'"
                    )
                )
            }
    finally:
        await db.dispose()
    assert ids[0] == 1 and ids[-1] > 2  # not 2 again
    assert indexes == {"ix_session_events_at_session"}  # none by session (0009) nor by version (0010)
