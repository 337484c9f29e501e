"""``POST /api/enrichments``: pushes from other services (PROTOCOL.md, "Enrichment from other services").

In-process (the app's test client, a real SQLite file) for the API's answers and delivery to a
WebSocket and a long poll; two real processes on PostgreSQL for a Socket.IO client and a WebSocket
client of one session held by different processes.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from quart import Quart

from planwise.app import create_app

from ..servers import ServerProcess
from .conftest import WS, settings_for
from .server_helpers import JsonWs, http_client, service_server, ws_connect

TOKEN = "pricing-service-token-" + "p" * 30
OTHER = "crm-service-token-" + "c" * 30
TOKENS = f"pricing={TOKEN},crm=sha256:{hashlib.sha256(OTHER.encode()).hexdigest()}"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Quart]:
    app = create_app(settings_for(tmp_path, service_tokens=TOKENS))
    async with app.test_app():
        yield app


async def new_session(app: Quart) -> dict[str, Any]:
    session: dict[str, Any] = await (await app.test_client().post("/api/sessions", json={})).get_json()
    return session


async def push(app: Quart, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, Any]:
    response = await app.test_client().post(
        "/api/enrichments", json=body, headers=AUTH if headers is None else headers
    )
    return response.status_code, await response.get_json()


async def test_service_tokens_plain_or_hashed_and_wrong_ones_401(app: Quart) -> None:
    session = await new_session(app)
    body = {"sessionId": session["sessionId"], "plans": {"max-50": {"installPrice": 10}}, "source": "t"}
    assert (await push(app, body))[0] == 202
    assert (await push(app, body, {"Authorization": f"Bearer {OTHER}"}))[0] == 202  # the sha256 entry
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {TOKEN}x"}):
        status, reply = await push(app, body, headers)
        assert status == 401 and reply["error"]["code"] == "unauthorized"
    # A session token is not a service token.
    status, _ = await push(app, body, {"Authorization": f"Bearer {session['token']}"})
    assert status == 401


async def test_unknown_session_or_user_404_stale_409_clash_422(app: Quart) -> None:
    session = await new_session(app)
    sid = session["sessionId"]
    plans = {"max-50": {"installPrice": 10}}
    status, reply = await push(app, {"sessionId": "s_nope", "plans": plans, "source": "t"})
    assert status == 404 and reply["error"]["code"] == "not_found"
    assert (await push(app, {"userId": "nobody", "plans": plans, "source": "t"}))[0] == 404

    auth = {"Authorization": f"Bearer {session['token']}"}
    await app.test_client().post(
        f"/api/sessions/{sid}/responses", json={"answers": {"budget": 30}}, headers=auth
    )
    status, reply = await push(app, {"sessionId": sid, "revision": 0, "plans": plans, "source": "t"})
    assert status == 409 and reply["error"]["code"] == "stale"
    status, reply = await push(app, {"sessionId": sid, "version": 99, "plans": plans, "source": "t"})
    assert status == 409 and reply["error"]["code"] == "stale"
    assert (await push(app, {"sessionId": sid, "revision": 1, "version": 1, "plans": plans, "source": "t"}))[
        0
    ] == 202

    for field in ("rank", "score", "reasons", "estimate", "id", "name", "attributes"):
        status, reply = await push(app, {"sessionId": sid, "plans": {"max-50": {field: 1}}, "source": "t"})
        assert status == 422 and reply["error"]["code"] == "reserved_field", field
        assert reply["error"]["details"][0] == {
            "planId": "max-50",
            "field": field,
            "message": "a reserved plan field",
        }
    status, reply = await push(app, {"sessionId": sid, "plans": {"no-such-plan": {"x": 1}}, "source": "t"})
    assert status == 422 and reply["error"]["code"] == "unknown_plan"
    status, reply = await push(app, {"sessionId": sid, "userId": "u", "plans": plans, "source": "t"})
    assert status == 400 and reply["error"]["code"] == "invalid_message"


async def test_delivered_to_websocket_and_long_poll_and_kept_for_a_later_resume(
    app: Quart, tmp_path: Path
) -> None:
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        session = await ws.opening()
        sid, token = session["sessionId"], session["token"]
        await ws.send("userResponse", {"answers": {"dataUsage": "heavy"}})
        await ws.expect("recommendationUpdates")
        enriched = await ws.expect("recommendationUpdates", any_stage=True)  # the catalogue's estimate
        assert enriched["stage"] == "enriched" and "step" not in enriched

        body = {
            "sessionId": sid,
            "revision": 1,
            "plans": {"max-50": {"installPrice": 0, "note": "free"}},
            "source": "t",
        }
        status, reply = await push(app, body)
        assert (status, reply) == (202, {"sessions": 1})
        pushed = await ws.expect("recommendationUpdates", any_stage=True)
        assert pushed["stage"] == "enriched" and pushed["revision"] == 1 and pushed["step"] == 1
        by_id = {p["id"]: p for p in pushed["plans"]}
        assert by_id["max-50"]["installPrice"] == 0 and by_id["max-50"]["note"] == "free"
        assert "estimate" in by_id["max-50"], "the estimate stays: fields are merged into the newest update"
        assert [p["id"] for p in pushed["plans"]] == [p["id"] for p in enriched["plans"]]

        # A long poll that has seen the enriched update (no step given) waits for the next push ...
        auth = {"Authorization": f"Bearer {token}"}
        client = app.test_client()
        query = f"/api/sessions/{sid}/updates?after=1&version=1&stage=enriched&wait=5"
        poll = asyncio.ensure_future(client.get(query, headers=auth))
        await asyncio.sleep(0.3)
        assert not poll.done()
        await push(app, {"sessionId": sid, "plans": {"mid-20": {"installPrice": 5}}, "source": "t"})
        got = await (await poll).get_json()
        assert got["step"] == 2 and {p["id"]: p for p in got["plans"]}["mid-20"]["installPrice"] == 5
        assert {p["id"]: p for p in got["plans"]}["max-50"]["note"] == "free", "earlier pushes stay"
        second = await ws.expect("recommendationUpdates", any_stage=True)
        assert second["step"] == 2
        # ... and one naming an older step gets the newest at once.
        stepped = await client.get(query + "&step=1", headers=auth)
        assert (await stepped.get_json())["step"] == 2

        # The next answer starts without the pushed fields (they were for revision 1).
        await ws.send("userResponse", {"answers": {"budget": 40}})
        fresh = await ws.expect("recommendationUpdates")
        assert all("installPrice" not in p for p in fresh["plans"])

    # Another process (a second app on the same database) resuming revision 2 sees nothing pushed,
    # and a push for revision 2 is stored: a client that connects later sees it.
    await push(
        app, {"sessionId": sid, "revision": 2, "plans": {"max-50": {"installPrice": 1}}, "source": "t"}
    )
    other = create_app({**settings_for(tmp_path, service_tokens=TOKENS), "load_demo": False})
    async with other.test_app(), other.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.send("hello", {"token": token})
        assert (await ws.expect("session"))["resumed"]
        await ws.expect("questionnaire")
        seen = []
        for _ in range(5):
            update = await ws.expect("recommendationUpdates", any_stage=True)
            seen.append(update)
            if any(p.get("installPrice") == 1 for p in update["plans"]):
                break
        assert seen[-1]["revision"] == 2 and seen[-1]["stage"] == "enriched", seen


async def test_a_user_push_reaches_every_session_of_the_verified_user(tmp_path: Path) -> None:
    import jwt

    secret = "host-site-jwt-secret-" + "j" * 32
    app = create_app(settings_for(tmp_path, service_tokens=TOKENS, jwt_secret=secret))
    async with app.test_app():
        auth_token = jwt.encode({"sub": "user-7", "exp": int(time.time()) + 300}, secret, algorithm="HS256")
        first = await (
            await app.test_client().post("/api/sessions", json={"authToken": auth_token})
        ).get_json()
        # A second device: a new session of the same user (the first is resumed unless it is new).
        async with app.test_client().websocket("/ws") as raw:
            ws = WS(raw)
            session = await ws.opening({"authToken": auth_token})
            assert session["sessionId"] == first["sessionId"]
            status, reply = await push(
                app, {"userId": "user-7", "plans": {"basic-5": {"credit": "ok"}}, "source": "crm"}
            )
            assert (status, reply) == (202, {"sessions": 1})
            update = await ws.expect("recommendationUpdates", any_stage=True)
            while not any(p.get("credit") == "ok" for p in update["plans"]):
                update = await ws.expect("recommendationUpdates", any_stage=True)
        # The unverified label of a Socket.IO connection is not a user: nothing to push to.
        status, _ = await push(
            app, {"userId": "u-42", "plans": {"basic-5": {"credit": "ok"}}, "source": "crm"}
        )
        assert status == 404


# -- two processes -------------------------------------------------------------------------------


@pytest.fixture
def servers(tmp_path: Path, pg_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    a = service_server(tmp_path / "a", PLANWISE_DATABASE_URL=pg_url, PLANWISE_SERVICE_TOKENS=TOKENS)
    b = service_server(tmp_path / "b", PLANWISE_DATABASE_URL=pg_url, PLANWISE_SERVICE_TOKENS=TOKENS)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.mark.slow
async def test_a_push_reaches_socketio_and_websocket_clients_on_two_processes(
    servers: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = servers
    sio = socketio.AsyncClient(reconnection=False)
    updates: asyncio.Queue[tuple[list[Any], dict[str, Any]]] = asyncio.Queue()
    sessions: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sio.on("recommendationUpdates", lambda plans, update: updates.put_nowait((plans, update)))
    sio.on("session", lambda data: sessions.put_nowait(data))
    await sio.connect(a.url, transports=["websocket"], wait_timeout=10)
    try:
        session = await asyncio.wait_for(sessions.get(), 10)
        async with ws_connect(b) as raw:
            on_b = JsonWs(raw)
            assert (await on_b.opening({"token": session["token"]}))["sessionId"] == session["sessionId"]
            async with http_client(b) as http:  # pushed through B, delivered by A too
                reply = await http.post(
                    "/api/enrichments",
                    json={
                        "sessionId": session["sessionId"],
                        "plans": {"max-50": {"offer": "B"}},
                        "source": "t",
                    },
                    headers=AUTH,
                )
                assert reply.status_code == 202, reply.text
            for _ in range(10):
                update = await on_b.expect("recommendationUpdates", any_stage=True)
                if any(p.get("offer") == "B" for p in update["plans"]):
                    break
            assert (
                update["stage"] == "enriched"
                and {p["id"]: p for p in update["plans"]}["max-50"]["offer"] == "B"
            )
            for _ in range(10):
                plans, sio_update = await asyncio.wait_for(updates.get(), 10)
                if any(p.get("offer") == "B" for p in plans):
                    break
            assert sio_update["stage"] == "enriched" and plans == sio_update["plans"]
            assert {p["id"]: p for p in plans}["max-50"]["offer"] == "B"
    finally:
        await sio.disconnect()
