"""The hub keeps a session's newest update only while it is watched or recently active
(PLANWISE_UPDATE_CACHE_SECONDS); a long poll that comes after it was dropped still gets the right
update, re-evaluated from the stored answers (and the stored pushes). The real app on a SQLite file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from planwise.app import create_app
from service.push_hub import PushingHub
from service.runtime import get_runtime

from .conftest import WS, settings_for

KEEP = 0.3  # seconds: PLANWISE_UPDATE_CACHE_SECONDS for these tests
TOKEN = "pricing-service-token-" + "p" * 30


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Quart]:
    app = create_app(settings_for(tmp_path, update_cache_seconds=KEEP, service_tokens=f"pricing={TOKEN}"))
    async with app.test_app():
        yield app


def hub(app: Quart) -> PushingHub:
    found = get_runtime(app).planwise.hub
    assert isinstance(found, PushingHub)
    return found


async def dropped(app: Quart, session_id: str, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if session_id not in hub(app).kept_sessions():
            return True
        await asyncio.sleep(0.05)
    return False


async def poll(app: Quart, sid: str, auth: dict[str, str], query: str) -> tuple[int, Any]:
    response = await app.test_client().get(f"/api/sessions/{sid}/updates?{query}", headers=auth)
    return response.status_code, (await response.get_json() if response.status_code == 200 else None)


async def answered_session(app: Quart) -> tuple[str, dict[str, str]]:
    client = app.test_client()
    session = await (await client.post("/api/sessions", json={})).get_json()
    sid, auth = session["sessionId"], {"Authorization": f"Bearer {session['token']}"}
    response = await client.post(
        f"/api/sessions/{sid}/responses", json={"answers": {"dataUsage": "heavy"}}, headers=auth
    )
    assert response.status_code == 200
    return sid, auth


async def test_a_long_poll_after_the_update_was_dropped_gets_the_same_updates(app: Quart) -> None:
    sid, auth = await answered_session(app)
    status, before = await poll(app, sid, auth, "after=1&version=1&stage=rules&wait=5")
    assert status == 200 and before["stage"] == "enriched"

    assert await dropped(app, sid), "nobody watches the session: its update goes after the window"
    assert hub(app).latest(sid) is None

    # A client that saw nothing of revision 1 gets it at once, from the stored answers ...
    status, first = await poll(app, sid, auth, "after=0&version=1&stage=enriched&wait=5")
    assert status == 200 and first["revision"] == 1 and first["answers"] == {"dataUsage": "heavy"}
    # ... one that saw its rules stage gets the enriched update, the same as before the drop ...
    status, again = await poll(app, sid, auth, "after=1&version=1&stage=rules&wait=5")
    assert status == 200 and again == before
    # ... and one that has everything waits and gets nothing newer.
    assert (await poll(app, sid, auth, "after=1&version=1&stage=enriched&wait=0.2"))[0] == 204


async def test_a_watched_session_is_kept_and_ages_once_nobody_watches_it(app: Quart) -> None:
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        session = await ws.opening()
        sid = session["sessionId"]
        await asyncio.sleep(4 * KEEP)
        assert sid in hub(app).kept_sessions(), "a connected session keeps its update"
        assert hub(app).latest(sid) is not None
    assert await dropped(app, sid)

    # A long poll waiting longer than the window keeps it too (a change wakes it with the update).
    sid, auth = await answered_session(app)
    waiting = asyncio.ensure_future(poll(app, sid, auth, "after=1&version=1&stage=enriched&wait=1.5"))
    await asyncio.sleep(4 * KEEP)
    assert sid in hub(app).kept_sessions()
    assert (await waiting)[0] == 204
    assert await dropped(app, sid)
    assert hub(app).kept_sessions() == []


async def test_pushed_fields_come_back_from_the_store_after_the_drop(app: Quart) -> None:
    sid, auth = await answered_session(app)
    body = {"sessionId": sid, "revision": 1, "plans": {"max-50": {"installPrice": 0}}, "source": "t"}
    response = await app.test_client().post(
        "/api/enrichments", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 202
    assert await dropped(app, sid)

    # Follow the updates as a long-poll client does until the pushed field shows (the pushes are
    # read again from the database: merged into the enriched update, or sent as the next step).
    after, stage, step = 0, "enriched", 0
    for _ in range(4):
        status, update = await poll(
            app, sid, auth, f"after={after}&version=1&stage={stage}&step={step}&wait=5"
        )
        assert status == 200 and update["revision"] == 1
        if {p["id"]: p for p in update["plans"]}["max-50"].get("installPrice") == 0:
            break
        after, stage, step = update["revision"], update["stage"], update.get("step", 0)
    else:
        pytest.fail("the pushed field never came back after the drop")


async def test_a_long_poll_that_has_seen_later_steps_gets_the_next_push_after_the_drop(app: Quart) -> None:
    sid, auth = await answered_session(app)
    client = app.test_client()
    service = {"Authorization": f"Bearer {TOKEN}"}

    async def push(plans: dict[str, Any]) -> None:
        body = {"sessionId": sid, "revision": 1, "plans": plans, "source": "t"}
        assert (await client.post("/api/enrichments", json=body, headers=service)).status_code == 202

    await push({"max-50": {"installPrice": 1}})
    await push({"max-50": {"installPrice": 2}})
    status, seen = await poll(app, sid, auth, "after=1&version=1&stage=rules&wait=5")
    while seen.get("step", 0) < 2:  # follow the steps up to the second push
        status, seen = await poll(
            app, sid, auth, f"after=1&version=1&stage=enriched&step={seen.get('step', 0)}&wait=5"
        )
        assert status == 200
    assert await dropped(app, sid)

    # The client comes back having seen step 2; this process has forgotten it counted that far.
    waiting = asyncio.ensure_future(poll(app, sid, auth, "after=1&version=1&stage=enriched&step=2&wait=5"))
    await asyncio.sleep(0.3)
    await push({"max-50": {"installPrice": 3}})
    step = 2
    for _ in range(3):
        status, update = await waiting
        assert status == 200, "a push after the drop must not reuse a step the client has"
        assert update["step"] > step
        if {p["id"]: p for p in update["plans"]}["max-50"].get("installPrice") == 3:
            break
        step = update["step"]
        waiting = asyncio.ensure_future(
            poll(app, sid, auth, f"after=1&version=1&stage=enriched&step={step}&wait=5")
        )
    else:
        pytest.fail("the third push never reached the long poll")
