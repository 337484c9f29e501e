"""Session events (issue 13): written with the answers in one group commit, never with text answers,
dropped with a lost conditional write, purged after the retention period; the SQL aggregates on
SQLite and PostgreSQL match a scenario worked out by hand.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select, text, update

from planwise.app import create_app
from service import sqlite_writer
from service.db.models import PlanSession, SessionEvent, utcnow
from service.event_names import VERSION_NAMES, named_data
from service.event_stats import Period, stats
from service.runtime import get_runtime

from .conftest import EXAMPLE, WS, settings_for

# The known sessions of `drive_known_sessions`, worked out by hand from tests/fixtures/example.json
# (ranking: score, then monthlyPrice; nodata 4 < basic-5 9.99 < mid-20 19.5 < max-50 29; heavy-data
# keeps dataGb >= 20; traveller (+20 to roaming plans: mid-20, max-50) needs travel and not light;
# family (extras has streaming) derives segment=family, which shows `lines`).
EXPECTED: dict[str, Any] = {
    "sessions": 4,
    "answerChanges": 9,  # A 2, B 2, C 4, D 1
    "zeroResultChanges": 2,  # A budget 10, C budget 3
    "questions": [
        {"id": "dataUsage", "shown": 4, "answered": 3, "lastAnswered": 0},
        {"id": "budget", "shown": 4, "answered": 2, "lastAnswered": 2},
        {"id": "travel", "shown": 4, "answered": 2, "lastAnswered": 1},
        {"id": "extras", "shown": 4, "answered": 1, "lastAnswered": 1},
        {"id": "lines", "shown": 1, "answered": 0, "lastAnswered": 0},
    ],
    "rules": [
        {"id": "heavy-data", "fired": 1},
        {"id": "budget-cap", "fired": 2},
        {"id": "traveller", "fired": 1},
        {"id": "family", "fired": 1},
    ],
    "plans": [
        {"id": "basic-5", "top3": 3, "selected": 1},
        {"id": "max-50", "top3": 2, "selected": 0},
        {"id": "mid-20", "top3": 4, "selected": 1},
        {"id": "nodata", "top3": 3, "selected": 0},
        {"id": "retired", "top3": 0, "selected": 0},
    ],
}
#: The answer combinations that left no plan, most frequent first (then by their JSON text).
EXPECTED_ZERO = [
    ({"budget": 10, "dataUsage": "heavy"}, 1),
    ({"budget": 3, "dataUsage": "medium", "travel": True}, 1),
]
#: Selections by rank: B chose basic-5 at 2; C chose nodata at 3, then mid-20 at 1.
EXPECTED_RANKS = {1: 1, 2: 1, 3: 1}


async def _answer(ws: WS, answers: dict[str, Any]) -> dict[str, Any]:
    await ws.send("userResponse", {"answers": answers}, id="a")
    return await ws.expect("recommendationUpdates")


async def _select(ws: WS, plan: str) -> dict[str, Any]:
    await ws.send("selectPlan", {"planId": plan}, id="s")
    return await ws.expect("selectionSaved")


async def drive_known_sessions(app: Quart) -> dict[str, str]:
    """Four people through the real WebSocket protocol; returns their session ids by letter."""
    client = app.test_client()
    ids: dict[str, str] = {}
    async with client.websocket("/ws") as raw:  # A: heavy data, then a budget nothing fits
        ws = WS(raw)
        ids["A"] = (await ws.opening({}))["sessionId"]
        assert (await _answer(ws, {"dataUsage": "heavy"}))["matchedPlans"] == 2
        assert (await _answer(ws, {"budget": 10}))["matchedPlans"] == 0
    async with client.websocket("/ws") as raw:  # B: light, travels (no traveller), chooses basic-5
        ws = WS(raw)
        ids["B"] = (await ws.opening({}))["sessionId"]
        await _answer(ws, {"dataUsage": "light"})
        update = await _answer(ws, {"travel": True})
        assert [p["id"] for p in update["plans"]][:3] == ["nodata", "basic-5", "mid-20"]
        await _select(ws, "basic-5")
    async with client.websocket("/ws") as raw:  # C: traveller; budget 3 (none), 100; nodata, then mid-20
        ws = WS(raw)
        ids["C"] = (await ws.opening({}))["sessionId"]
        await _answer(ws, {"dataUsage": "medium"})
        await _answer(ws, {"travel": True})
        assert (await _answer(ws, {"budget": 3}))["matchedPlans"] == 0
        update = await _answer(ws, {"budget": 100})
        assert [p["id"] for p in update["plans"]][:3] == ["mid-20", "max-50", "nodata"]
        await _select(ws, "nodata")
        await _select(ws, "mid-20")
    async with client.websocket("/ws") as raw:  # D: starts, leaves, resumes, streaming (family)
        ws = WS(raw)
        session = await ws.opening({})
        ids["D"] = session["sessionId"]
    async with client.websocket("/ws") as raw:
        ws = WS(raw)
        assert (await ws.opening({"token": session["token"]}))["resumed"] is True
        update = await _answer(ws, {"extras": ["streaming"]})
        assert "lines" in {q["id"] for q in update["questions"] if q["visible"]}
    await get_runtime(app).planwise.store.writer.write()  # the resume's event is committed too
    return ids


async def _stored(app: Quart) -> list[SessionEvent]:
    """The events as stored, oldest first."""
    async with get_runtime(app).sessions() as db:
        return list((await db.execute(select(SessionEvent).order_by(SessionEvent.id))).scalars())


async def _events(app: Quart) -> list[SimpleNamespace]:
    """The events, oldest first, their id lists read back as ids with each version's names."""
    stored = await _stored(app)
    async with get_runtime(app).sessions() as db:
        names = await VERSION_NAMES.load(await db.connection(), {e.version for e in stored})
    columns = [c.name for c in SessionEvent.__table__.columns]
    return [
        SimpleNamespace(**{c: getattr(e, c) for c in columns}, named=named_data(e.data, names[e.version]))
        for e in stored
    ]


def _export(found: Any, bundle: dict[str, Any]) -> dict[str, Any]:
    return {
        "sessions": found.sessions,
        "answerChanges": found.answer_changes,
        "zeroResultChanges": found.zero_changes,
        "questions": [
            {
                "id": q["id"],
                "shown": found.shown.get(q["id"], 0),
                "answered": found.answered.get(q["id"], 0),
                "lastAnswered": found.last_answered.get(q["id"], 0),
            }
            for q in bundle["questions"]
        ],
        "rules": [{"id": r["id"], "fired": found.fired.get(r["id"], 0)} for r in bundle["rules"]],
        "plans": [
            {"id": p["id"], "top3": found.top3.get(p["id"], 0), "selected": found.selected.get(p["id"], 0)}
            for p in bundle["plans"]
        ],
    }


async def test_the_known_sessions_give_the_numbers_worked_out_by_hand(app: Quart) -> None:
    """SQLite and PostgreSQL (the settings fixture), both rules engines: the SQL aggregates."""
    ids = await drive_known_sessions(app)
    now = utcnow()
    async with get_runtime(app).sessions() as db:
        found = await stats(db, Period(now - timedelta(days=1), now + timedelta(days=1), 1))
        other_version = await stats(db, Period(now - timedelta(days=1), now + timedelta(days=1), 2))
        tomorrow = await stats(db, Period(now + timedelta(days=1), now + timedelta(days=2)))
    bundle = json.loads(EXAMPLE.read_text())
    assert _export(found, bundle) == EXPECTED
    assert found.zero_answers == EXPECTED_ZERO
    assert dict(found.by_rank) == EXPECTED_RANKS and found.selections == 3
    assert other_version.sessions == 0 and tomorrow.sessions == 0
    kinds = [(e.session_id, e.kind) for e in await _events(app)]
    assert kinds.count((ids["D"], "resume")) == 1
    assert [k for s, k in kinds if s == ids["C"]] == ["start", *["answer"] * 4, "select", "select"]


@pytest.fixture
async def one_app(tmp_path: Path) -> AsyncIterator[Quart]:
    """The rest of this module: SQLite, reference engine."""
    app = create_app(settings_for(tmp_path))
    async with app.test_app():
        yield app


async def test_an_answer_and_its_event_are_one_group_commit(
    one_app: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No extra database round trip: the answer's one commit carries the event row."""
    commits: list[list[str]] = []
    original = sqlite_writer.SqliteBatchCommitter._commit_sync

    def spy(self: Any, batch: Any) -> set[int]:
        commits.append([kind for group in batch for kind, _ in group])
        return original(self, batch)

    monkeypatch.setattr(sqlite_writer.SqliteBatchCommitter, "_commit_sync", spy)
    async with one_app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        assert commits == [["insert_session", "insert_event"]]
        await _answer(ws, {"dataUsage": "heavy"})
        assert commits[1:] == [["update_answers", "insert_event"]]
        await _select(ws, "max-50")
        assert commits[2:] == [["insert_selection", "set_selection", "insert_event"]]
    answer = [e for e in await _events(one_app) if e.kind == "answer"][0]
    assert answer.revision == 1 and answer.version == 1 and answer.matched == 2
    expected = {
        "answered": ["dataUsage"],
        "cleared": [],
        "visible": ["dataUsage", "budget", "travel", "extras"],
        "fired": ["heavy-data"],
        "shown": ["mid-20", "max-50"],
    }
    assert answer.named == expected
    # Stored as numbers: each id's place in the version's bundle (service/event_names.py).
    bundle = json.loads(EXAMPLE.read_text())
    place = {
        kind: {item["id"]: n for n, item in enumerate(bundle[kind])}
        for kind in ("questions", "rules", "plans")
    }
    kinds = {
        "answered": "questions",
        "cleared": "questions",
        "visible": "questions",
        "fired": "rules",
        "shown": "plans",
    }
    assert answer.data == {key: [place[kinds[key]][i] for i in ids] for key, ids in expected.items()}
    chosen = [e for e in await _events(one_app) if e.kind == "select"][0]
    assert (chosen.plan_id, chosen.rank, chosen.revision) == ("max-50", 2, 1)


async def test_a_reset_is_an_answer_change_that_clears(one_app: Quart) -> None:
    async with one_app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        await _answer(ws, {"dataUsage": "heavy", "budget": 40})
        await _answer(ws, {"budget": None})
        await ws.send("reset", id="r")
        await ws.expect("recommendationUpdates")
    answers = [e.named for e in await _events(one_app) if e.kind == "answer"]
    assert [(d["answered"], d["cleared"]) for d in answers] == [
        (["dataUsage", "budget"], []),
        ([], ["budget"]),
        ([], ["dataUsage"]),
    ]


async def test_a_lost_write_takes_its_event_with_it(one_app: Quart) -> None:
    """Another process commits this session's next revision first: one event per committed revision."""
    async with one_app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        session = await ws.opening({})
        await _answer(ws, {"dataUsage": "heavy"})
        async with get_runtime(one_app).sessions() as db, db.begin():  # "another process"
            await db.execute(
                update(PlanSession)
                .where(PlanSession.id == session["sessionId"])
                .values(revision=2, answers={"dataUsage": "light"})
            )
        assert (await _answer(ws, {"budget": 25}))["revision"] == 3
    answers = [e for e in await _events(one_app) if e.kind == "answer"]
    assert [(e.revision, e.named["answered"]) for e in answers] == [(1, ["dataUsage"]), (3, ["budget"])]


async def test_text_answers_never_reach_the_events(tmp_path: Path) -> None:
    bundle = json.loads(EXAMPLE.read_text())
    bundle["questions"].append({"id": "note", "type": "text", "text": "Anything else?", "maxLength": 200})
    bundle["rules"].append(
        {
            "id": "note-nothing",
            "name": "A note leaves nothing",
            "when": {
                "all": [
                    {"answer": "note", "op": "exists"},
                    {"answer": "dataUsage", "op": "==", "value": "heavy"},
                ]
            },
            "then": [
                {"require": {"attribute": "dataGb", "op": ">=", "value": 1000}, "because": "Lots of data"}
            ],
        }
    )
    path = tmp_path / "with-text.json"
    path.write_text(json.dumps(bundle))
    app = create_app(settings_for(tmp_path, demo_bundle=str(path)))
    async with app.test_app():
        async with app.test_client().websocket("/ws") as raw:
            ws = WS(raw)
            await ws.opening({})
            await _answer(ws, {"dataUsage": "heavy", "note": "call me on 0123 456789"})
        zero = [e for e in await _events(app) if e.kind == "answer"][0]
        assert zero.matched == 0 and zero.named["fired"] == ["heavy-data", "note-nothing"]
        assert zero.data["answers"] == {"dataUsage": "heavy"}
        async with get_runtime(app).sessions() as db:
            stored = (await db.execute(text("SELECT group_concat(data) FROM session_events"))).scalar()
    assert "0123" not in stored and "call me" not in stored


async def test_old_events_are_purged_and_zero_days_records_none(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path, event_retention_days=90))
    async with app.test_app():
        async with app.test_client().websocket("/ws") as raw:
            await WS(raw).opening({})
        runtime = get_runtime(app)
        async with runtime.sessions() as db, db.begin():
            row = (await db.execute(select(SessionEvent))).scalar_one()
            for days in (91, 200):
                db.add(SessionEvent(**{**_columns(row), "at": utcnow() - timedelta(days=days)}))
            db.add(SessionEvent(**{**_columns(row), "at": utcnow() - timedelta(days=89)}))
        assert await runtime.planwise.events.purge() == 2
        assert len(await _events(app)) == 2
    (tmp_path / "off").mkdir()
    app = create_app(settings_for(tmp_path / "off", event_retention_days=0))
    async with app.test_app():
        async with app.test_client().websocket("/ws") as raw:
            ws = WS(raw)
            await ws.opening({})
            await _answer(ws, {"dataUsage": "heavy"})
        assert await _events(app) == []


def _columns(row: SessionEvent) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in SessionEvent.__table__.columns if c.name != "id"}
