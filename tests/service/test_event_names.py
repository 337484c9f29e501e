"""Events name questions, rules and plans by number in their version (service/event_names.py):
each version's events read back with that version's ids, and events written with ids as text
(before numbers) still count, once, beside numbered ones. SQLite and PostgreSQL, real app."""

from __future__ import annotations

import copy

from quart import Quart
from sqlalchemy import select

from service.catalogues import publish
from service.db.models import SessionEvent
from service.event_names import EventNames, named, named_data
from service.runtime import get_runtime

from . import test_event_rollup
from .conftest import WS
from .test_event_rollup import _add_events, _answer, _bundle, _days, _stats

app = test_event_rollup.app  # the same fixture: SQLite and PostgreSQL

VISIBLE = ["dataUsage", "budget", "travel", "extras"]


async def _answer_once(app: Quart, answers: dict[str, object]) -> str:
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        session = await ws.opening({})
        await ws.send("userResponse", {"answers": answers}, id="a")
        await ws.expect("recommendationUpdates")
    return str(session["sessionId"])


async def test_events_with_ids_as_text_and_as_numbers_fold_together(app: Quart) -> None:
    """One session's event from before numbers and one since, the same day and version: each id
    counts once, from the events alone and from the rollup."""
    session_id = await _answer_once(app, {"dataUsage": "heavy"})
    async with get_runtime(app).sessions() as db:
        at = (await db.execute(select(SessionEvent.at).where(SessionEvent.kind == "answer"))).scalar_one()
    await _add_events(
        app, session_id, at, _answer("dataUsage", ["mid-20", "max-50"], ["heavy-data"], VISIBLE)
    )

    for folded in (False, True):
        if folded:
            await get_runtime(app).planwise.events.rollup.catch_up()
        found = await _stats(app, _days(-1, 0))
        assert (found.sessions, found.answer_changes) == (1, 2), folded
        assert found.shown == {q: 1 for q in VISIBLE}
        assert found.answered == found.last_answered == {"dataUsage": 1}
        assert found.fired == {"heavy-data": 1}
        assert found.top3 == {"mid-20": 1, "max-50": 1}


async def test_each_version_reads_its_own_numbers(app: Quart) -> None:
    """Version 2 lists its questions, rules and plans in the reverse order: the same answers give
    the same ids in both versions' figures, though their numbers differ."""
    await _answer_once(app, {"dataUsage": "heavy"})
    v2 = copy.deepcopy(_bundle())
    for kind in ("questions", "rules", "plans"):
        v2[kind].reverse()
    async with get_runtime(app).sessions() as db, db.begin():
        version = await publish(db, v2, "v2")
    await get_runtime(app).planwise.live.refresh()
    await _answer_once(app, {"dataUsage": "heavy"})

    async with get_runtime(app).sessions() as db:
        stored = {
            e.version: e.data
            for e in (await db.execute(select(SessionEvent))).scalars()
            if e.kind == "answer"
        }
    assert stored[1]["fired"] != stored[version]["fired"]  # different numbers...
    names = {1: EventNames.of_bundle(_bundle()), version: EventNames.of_bundle(v2)}
    one, two = named_data(stored[1], names[1]), named_data(stored[version], names[version])
    assert sorted(one.pop("visible")) == sorted(two.pop("visible")) == sorted(VISIBLE)  # in catalogue order
    assert one == two  # ...the same ids

    for folded in (False, True):
        if folded:
            await get_runtime(app).planwise.events.rollup.catch_up()
        for found in [await _stats(app, _days(0, 0, v)) for v in (1, version)]:
            assert found.sessions == 1 and found.fired == {"heavy-data": 1}, folded
            assert found.shown == {q: 1 for q in VISIBLE}
            assert found.top3 == {"mid-20": 1, "max-50": 1}


def test_a_number_no_version_has_is_counted_as_such() -> None:
    assert named([1, "budget", 7], ("a", "b")) == ["b", "budget", "#7"]
    assert named([0], None) == ["#0"]  # the version is gone
    assert named([True], ("a", "b")) == ["True"]  # only numbers are numbers


def test_ids_get_their_place_in_the_bundle_inactive_plans_and_disabled_rules_included() -> None:
    bundle = copy.deepcopy(_bundle())
    bundle["rules"][0]["enabled"] = False
    bundle["plans"][0]["active"] = False
    names = EventNames.of_bundle(bundle)
    assert names.rules == tuple(r["id"] for r in bundle["rules"])
    assert names.plans == tuple(p["id"] for p in bundle["plans"])
    assert [names.question_numbers[q["id"]] for q in bundle["questions"]] == list(
        range(len(bundle["questions"]))
    )
