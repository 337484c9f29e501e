"""``planwise serve`` as a real process on loopback: what Quart's test client cannot show.

Frame limit, flood, slow reader, Origin on the real upgrade, keepalive pings, graceful restart and
kill -9 (PROTOCOL.md "Limits", ARCHITECTURE.md "WebSocket and server"). Each test asserts only what
a client observes. Servers are started by tests/servers.py and always stopped.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from ..servers import ROOT, ServerProcess
from .server_helpers import (
    JsonWs,
    RawFrame,
    RawWs,
    StartServer,
    close_code_after,
    http_client,
    server_holds,
    service_server,
    small_window_socket,
    ws_connect,
)

pytestmark = pytest.mark.slow

MAX_FRAME = 64 * 1024


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with default limits for the tests that need nothing special."""
    server = service_server(tmp_path_factory.mktemp("shared"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


async def started(start: StartServer, name: str, **env: str) -> ServerProcess:
    """Start a server without blocking the event loop."""
    return await asyncio.to_thread(start, name, **env)


# -- 1. frame size -------------------------------------------------------------------------------


def _padded_ping(size: int, ident: str) -> str:
    """A ``ping`` frame of exactly ``size`` bytes (the padding is an ignored top-level field)."""
    bare = json.dumps({"event": "ping", "data": {}, "id": ident, "pad": ""})
    text = json.dumps({"event": "ping", "data": {}, "id": ident, "pad": "x" * (size - len(bare))})
    assert len(text.encode()) == size
    return text


async def test_frame_over_the_size_limit_is_closed_with_1009(shared_server: ServerProcess) -> None:
    async with ws_connect(shared_server) as conn:
        ws = JsonWs(conn)
        await ws.opening({})
        await conn.send(_padded_ping(MAX_FRAME, "at-limit"))
        assert await ws.expect("pong") == {"replyTo": "at-limit"}
        await conn.send(_padded_ping(MAX_FRAME + 1, "over-limit"))
        code, frames = await close_code_after(conn, 5)
    assert code == 1009
    assert all(f["event"] != "pong" for f in frames)


# -- 2. flood ------------------------------------------------------------------------------------


async def test_flood_is_rate_limited_then_closed_with_1008_while_others_are_served(
    shared_server: ServerProcess,
) -> None:
    async with ws_connect(shared_server) as flood_conn, ws_connect(shared_server) as good_conn:
        flood, good = JsonWs(flood_conn), JsonWs(good_conn)
        await flood.opening({})
        await good.opening({})
        flood_over = asyncio.Event()

        async def flooder() -> int:
            sent = 0
            try:
                for i in range(500):
                    await flood.send("ping", {}, id=f"f{i}")
                    sent += 1
            except ConnectionClosed:
                pass  # the server closed it mid-flood: what we want
            finally:
                flood_over.set()
            return sent

        async def well_behaved() -> list[dict[str, Any]]:
            replies = []
            for i in range(15):  # within the default burst (40) even if the flood ends at once
                await good.send("userResponse", {"answers": {"budget": i}}, id=f"g{i}")
                replies.append(await good.expect("recommendationUpdates"))
                await asyncio.sleep(0.03)
            return replies

        sent, replies = await asyncio.gather(flooder(), well_behaved())
        code, frames = await close_code_after(flood_conn, 5)
        assert flood_over.is_set() and sent > 40
        errors = [f["data"] for f in frames if f["event"] == "error"]
        assert errors and all(e["code"] == "rate_limited" for e in errors), errors[:3]
        assert code == 1008
        pongs = [f for f in frames if f["event"] == "pong"]
        assert len(pongs) < 100  # the flood was cut short, not served
        assert [r["replyTo"] for r in replies] == [f"g{i}" for i in range(15)]
        assert [r["revision"] for r in replies] == list(range(1, 16))
        await good.send("ping", {}, id="after")
        assert await good.expect("pong") == {"replyTo": "after"}


# -- 3. slow reader ------------------------------------------------------------------------------


async def test_slow_reader_is_closed_with_1013_and_the_server_stays_healthy(
    start_server: StartServer,
) -> None:
    server = await started(
        start_server,
        "slow",
        PLANWISE_OUTGOING_QUEUE="4",
        PLANWISE_RATE_PER_SECOND="10000",
        PLANWISE_RATE_BURST="5000",
    )
    # A tiny receive buffer and websockets' own read queue of 1: once we stop calling recv(),
    # the kernel buffers fill, the server's writes block and its outgoing queue fills up.
    sock = await small_window_socket(server)
    async with (
        ws_connect(server, sock=sock, max_queue=1, ping_interval=None) as slow_conn,
        http_client(server) as http,
    ):
        slow = JsonWs(slow_conn)
        session = await slow.opening({})
        auth = {"Authorization": f"Bearer {session['token']}"}

        async def server_revision() -> int:
            reply = await http.get(f"/api/sessions/{session['sessionId']}", headers=auth)
            assert reply.status_code == 200
            revision: int = reply.json()["revision"]
            return revision

        async def settled_revision() -> int:
            """The session's revision once it has stopped moving (the server idle or done with us)."""
            last, stable_since = -1, time.monotonic()
            for _ in range(100):
                revision = await server_revision()
                if revision != last:
                    last, stable_since = revision, time.monotonic()
                elif time.monotonic() - stable_since > 0.5:
                    break
                await asyncio.sleep(0.1)
            return last

        # Send in batches (never reading) until the server stops working for us before the end
        # of what we sent: that is the overflow closing the connection.
        sent, stalled = 0, False
        for _ in range(8):
            for _ in range(500):
                await asyncio.wait_for(slow.send("userResponse", {"answers": {"budget": sent % 500}}), 2)
                sent += 1
            stalled_at = await settled_revision()
            if stalled_at < sent:
                stalled = True
                break
        assert stalled, f"all {sent} messages were answered: the outgoing queue never filled"

        # Meanwhile the server serves everyone else.
        assert (await http.get("/healthz")).status_code == 200
        async with ws_connect(server) as other_conn:
            other = JsonWs(other_conn)
            await other.opening({})
            await other.send("ping", {}, id="still-here")
            assert await other.expect("pong") == {"replyTo": "still-here"}

        code, frames = await close_code_after(slow_conn, 15)
        assert code == 1013, (code, slow_conn.close_reason)
        revisions = [f["data"]["revision"] for f in frames if f["event"] == "recommendationUpdates"]
        assert revisions and revisions == sorted(revisions) and revisions[-1] <= stalled_at

    # The slow reader reconnects and resumes where the server stopped.
    async with ws_connect(server) as conn:
        resumed = await JsonWs(conn).opening({"token": session["token"]})
        assert resumed["resumed"] is True and resumed["revision"] == stalled_at


async def test_a_peer_that_never_reads_again_is_dropped(start_server: StartServer) -> None:
    # PROTOCOL.md: "a peer that stops answering is dropped"; "a slow reader ... is closed".
    server = await started(
        start_server,
        "stuck",
        PLANWISE_OUTGOING_QUEUE="4",
        PLANWISE_RATE_PER_SECOND="10000",
        PLANWISE_RATE_BURST="5000",
        PLANWISE_PING_INTERVAL="3",
        PLANWISE_PING_TIMEOUT="1",
    )
    sock = await small_window_socket(server)
    async with ws_connect(server, sock=sock, max_queue=1, ping_interval=None) as conn:
        ws = JsonWs(conn)
        await ws.opening({})
        connected = time.monotonic()
        for i in range(1500):  # enough to fill every buffer on the way (about 1,000 on this machine)
            await asyncio.wait_for(ws.send("userResponse", {"answers": {"budget": i % 500}}), 2)
        # Never read again. The server's queue overflows (1013) and it stops getting pongs (ping at
        # 3 s, timeout 1 s): by 6 s it must have let go of the connection (closed its socket).
        for _ in range(100):
            if not server_holds(server, sock) or time.monotonic() - connected > 6.5:
                break
            await asyncio.sleep(0.1)
        held = server_holds(server, sock)
        conn.transport.abort()  # don't wait for a close handshake that cannot happen
    assert not held, "the server still holds the connection of a peer that stopped reading"


# -- 4. Origin -----------------------------------------------------------------------------------


async def _upgrade_status(server: ServerProcess, origin: str | None) -> int:
    """101 (after checking the session frame arrives) or the HTTP status the upgrade got."""
    try:
        async with ws_connect(server, origin=Origin(origin) if origin else None) as conn:
            session = await JsonWs(conn).expect("session")
            assert session["sessionId"].startswith("s_")
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def test_origin_is_checked_exactly_on_the_upgrade(
    shared_server: ServerProcess, start_server: StartServer
) -> None:
    same = shared_server.origin
    assert await _upgrade_status(shared_server, None) == 101
    assert await _upgrade_status(shared_server, same) == 101
    assert await _upgrade_status(shared_server, "https://evil.example") == 403
    assert await _upgrade_status(shared_server, same + ".evil.net") == 403
    assert await _upgrade_status(shared_server, "null") == 403

    listed = await started(start_server, "origins", PLANWISE_ALLOWED_ORIGINS="https://shop.example")
    assert await _upgrade_status(listed, "https://shop.example") == 101
    assert await _upgrade_status(listed, "https://shop.example.evil.net") == 403
    assert await _upgrade_status(listed, "http://shop.example") == 403
    assert await _upgrade_status(listed, "https://evil.example") == 403
    assert await _upgrade_status(listed, listed.origin) == 101
    assert await _upgrade_status(listed, None) == 101


# -- 5. keepalive ping ---------------------------------------------------------------------------


async def test_a_peer_that_stops_answering_pings_is_dropped(start_server: StartServer) -> None:
    server = await started(start_server, "ping", PLANWISE_PING_INTERVAL="0.5", PLANWISE_PING_TIMEOUT="0.5")
    async with ws_connect(server, ping_interval=None) as good_conn:  # the library answers pings
        good = JsonWs(good_conn)
        await good.opening({})
        silent = await RawWs.open(server)
        try:
            assert silent.status == 101
            opened = time.monotonic()
            frames: list[RawFrame] = []
            for _ in range(1000):
                remaining = opened + 6 - time.monotonic()
                assert remaining > 0, f"not dropped within 6 s; got {[f.opcode for f in frames]}"
                got = await silent.read_frame(remaining)
                if got is None:
                    break
                frames.append(got)
            dropped_after = time.monotonic() - opened
        finally:
            await silent.close()
        opcodes = [f.opcode for f in frames]
        assert 0x9 in opcodes, opcodes  # the server pinged us
        closes = [f.close_code for f in frames if f.opcode == 0x8]
        assert closes in ([], [1011]), closes
        assert 0.5 < dropped_after < 4.0, dropped_after
        # A client that answers pings was kept all along.
        await good.send("ping", {}, id="alive")
        assert await good.expect("pong") == {"replyTo": "alive"}


# -- 6. graceful restart and resume --------------------------------------------------------------


async def test_restart_and_resume_keeps_session_answers_and_selection(start_server: StartServer) -> None:
    server = await started(start_server, "restart")
    async with ws_connect(server) as conn:
        ws = JsonWs(conn)
        session = await ws.opening({})
        await ws.send("userResponse", {"answers": {"dataUsage": "heavy", "travel": True}}, id=1)
        await ws.expect("recommendationUpdates")
        await ws.send("userResponse", {"questionId": "budget", "value": 30}, id=2)
        before = await ws.expect("recommendationUpdates")
        await ws.send("selectPlan", {"planId": "max-50", "idempotencyKey": "pick-1"}, id="s")
        saved = await ws.expect("selectionSaved")
        assert before["revision"] == 2 and saved["revision"] == 2
        # SIGTERM while this client is still connected: it is closed, the server exits cleanly.
        status = await asyncio.to_thread(server.terminate, 10.0)
        code, _ = await close_code_after(conn, 5)
    # uvicorn re-raises the signal after a complete graceful shutdown, hence -SIGTERM.
    assert status in (0, -signal.SIGTERM), server.log_tail()
    assert "Application shutdown complete" in server.log_tail(), server.log_tail()
    assert code in (1001, 1012), code  # "going away" / "restarting": clients reconnect

    await asyncio.to_thread(server.start)
    async with ws_connect(server) as conn:
        ws = JsonWs(conn)
        await ws.send("hello", {"token": session["token"]}, id="again")
        resumed = await ws.expect("session")
        assert resumed["sessionId"] == session["sessionId"] and resumed["resumed"] is True
        assert resumed["revision"] == 2 and resumed["replyTo"] == "again"
        await ws.expect("questionnaire")
        update = await ws.expect("recommendationUpdates", any_stage=True)
        assert update["revision"] == 2
        assert update["answers"] == before["answers"] == {"dataUsage": "heavy", "travel": True, "budget": 30}
        assert [p["id"] for p in update["plans"]] == [p["id"] for p in before["plans"]]
        await ws.send("selectPlan", {"planId": "max-50", "idempotencyKey": "pick-1"}, id="s2")
        assert (await ws.expect("selectionSaved"))["selectionId"] == saved["selectionId"]
    async with http_client(server) as http:
        reply = await http.get(
            f"/api/sessions/{session['sessionId']}", headers={"Authorization": f"Bearer {session['token']}"}
        )
    assert reply.status_code == 200
    body = reply.json()
    assert body["revision"] == 2 and body["answers"] == before["answers"]
    assert body["selection"]["selectionId"] == saved["selectionId"]
    assert body["selection"]["planId"] == "max-50"


# -- 7. kill -9 while answering ------------------------------------------------------------------


async def test_kill_9_loses_nothing_that_was_acknowledged(start_server: StartServer) -> None:
    server = await started(
        start_server, "crash", PLANWISE_RATE_PER_SECOND="10000", PLANWISE_RATE_BURST="1000"
    )
    usages = ["light", "medium", "heavy"]
    plans = ["max-50", "mid-20"]
    total = 200
    messages: list[tuple[str, str, dict[str, Any]]] = []  # (id, event, data) in sending order
    for i in range(total):
        answers: dict[str, Any] = {"budget": i, "dataUsage": usages[i % 3]}
        if i == 0:
            answers["travel"] = True
        messages.append((f"u{i}", "userResponse", {"answers": answers}))
        if i % 20 == 10:
            messages.append(
                (f"s{i}", "selectPlan", {"planId": plans[i % 40 // 20], "idempotencyKey": f"k{i}"})
            )
    # The answers after the n-th accepted userResponse (every one is valid: revision n).
    expected: list[dict[str, Any]] = [{}]
    for _, event, data in messages:
        if event == "userResponse":
            expected.append({**expected[-1], **data["answers"]})

    acks: dict[int, dict[str, Any]] = {}  # revision -> acknowledged update
    selections: list[tuple[str, dict[str, Any]]] = []  # (id, selectionSaved) in ack order
    midway = asyncio.Event()
    async with ws_connect(server) as conn:
        ws = JsonWs(conn)
        session = await ws.opening({})

        async def reader() -> None:
            for _ in range(10_000):
                try:
                    event, data = await ws.recv(10)
                except ConnectionClosed:
                    return
                if event == "recommendationUpdates" and "replyTo" in data:
                    acks[data["revision"]] = data
                elif event == "selectionSaved":
                    selections.append((data["replyTo"], data))
                elif event == "error":
                    raise AssertionError(data)
                if len(acks) >= 60 and len(selections) >= 2 and not midway.is_set():
                    midway.set()
                    await asyncio.sleep(0)  # let the killer run now

        async def sender() -> int:
            sent = 0
            try:
                for ident, event, data in messages:
                    await ws.send(event, data, id=ident)
                    sent += 1
                    if sent % 20 == 0:
                        await asyncio.sleep(0)
            except ConnectionClosed:
                pass
            return sent

        async def killer() -> None:
            try:
                await asyncio.wait_for(midway.wait(), 15)
            except TimeoutError:
                raise AssertionError("too few acknowledgements to kill mid-way") from None
            server.kill()

        reading = asyncio.create_task(reader())
        try:
            _, sent = await asyncio.gather(killer(), sender())
            await asyncio.wait_for(reading, 10)
        finally:
            reading.cancel()
    status = await asyncio.to_thread(server.wait_exit, 10.0)
    assert status == -9
    assert 60 <= len(acks) < total, len(acks)  # killed mid-way

    top = max(acks)
    for revision, update in acks.items():
        assert update["answers"] == expected[revision]  # the server applied them in order
    await asyncio.to_thread(server.start)
    auth = {"Authorization": f"Bearer {session['token']}"}
    async with http_client(server) as http:
        reply = await http.get(f"/api/sessions/{session['sessionId']}", headers=auth)
        assert reply.status_code == 200, reply.text
        stored = reply.json()
        answered = sum(1 for m in messages[:sent] if m[1] == "userResponse")
        assert top <= stored["revision"] <= answered, (top, stored["revision"], answered)
        assert stored["answers"] == expected[stored["revision"]]
        assert stored["update"]["revision"] == stored["revision"]

        last_id, last_saved = selections[-1]
        selection = stored["selection"]
        assert selection is not None
        if selection["selectionId"] != last_saved["selectionId"]:  # a later one committed unacknowledged
            after = next(n for n, m in enumerate(messages) if m[0] == last_id) + 1
            later = [data["planId"] for _, event, data in messages[after:sent] if event == "selectPlan"]
            assert selection["revision"] >= last_saved["revision"] and selection["planId"] in later
        for ident, saved in selections:
            key = f"k{ident[1:]}"
            replay = await http.post(
                f"/api/sessions/{session['sessionId']}/selection",
                json={"planId": saved["planId"], "idempotencyKey": key},
                headers=auth,
            )
            assert replay.status_code == 200, replay.text
            assert replay.json()["selectionId"] == saved["selectionId"]


# -- 8. the whole protocol with a plain client ---------------------------------------------------


def _answers_for(questions: list[dict[str, Any]]) -> tuple[dict[str, Any], tuple[str, Any]]:
    """Valid answers picked from the questionnaire: a choice and a boolean; a number on its own."""
    choice = next(q for q in questions if q["type"] == "choice")
    boolean = next(q for q in questions if q["type"] == "boolean")
    number = next(q for q in questions if q["type"] == "number")
    answers = {choice["id"]: choice["options"][0]["value"], boolean["id"]: True}
    return answers, (number["id"], number.get("max", 10))


async def _run_full_flow(server: ServerProcess) -> None:
    async with ws_connect(server) as conn, ws_connect(server) as tab_conn:
        ws, tab = JsonWs(conn), JsonWs(tab_conn)
        await ws.send("hello", {}, id="h1")
        session = await ws.expect("session")
        assert session["replyTo"] == "h1" and session["resumed"] is False and session["revision"] == 0
        assert session["sessionId"].startswith("s_") and session["version"] >= 1
        questionnaire = await ws.expect("questionnaire")
        assert questionnaire["version"] == session["version"] and questionnaire["questions"]
        assert all("askWhen" not in q for q in questionnaire["questions"])
        first = await ws.expect("recommendationUpdates", any_stage=True)
        assert first["revision"] == 0 and first["answers"] == {} and first["plans"]

        # A second tab resumes the same session.
        tab_session = await tab.opening({"token": session["token"]})
        assert tab_session["sessionId"] == session["sessionId"] and tab_session["resumed"] is True

        answers, (number_id, number_value) = _answers_for(questionnaire["questions"])
        await ws.send("userResponse", {"answers": answers}, id="a1")
        update = await ws.expect("recommendationUpdates")
        assert update["replyTo"] == "a1" and update["revision"] == 1 and update["stage"] == "rules"
        assert update["answers"] == answers
        await ws.send("userResponse", {"questionId": number_id, "value": number_value}, id=2)
        update = await ws.expect("recommendationUpdates")
        assert update["replyTo"] == 2 and update["revision"] == 2
        assert update["answers"] == {**answers, number_id: number_value}
        plans = update["plans"]
        assert plans and [p["rank"] for p in plans] == list(range(1, len(plans) + 1))
        pushed = [await tab.expect("recommendationUpdates") for _ in range(2)]  # the other tab too
        assert [u["revision"] for u in pushed] == [1, 2] and all("replyTo" not in u for u in pushed)
        assert pushed[1]["answers"] == update["answers"]

        await ws.send("userResponse", {"answers": {number_id: "lots", "noSuchQuestion": 1}}, id="bad")
        error = await ws.expect("error")
        assert error["code"] == "invalid_answer" and error["replyTo"] == "bad"
        assert sorted(d["questionId"] for d in error["details"]) == sorted([number_id, "noSuchQuestion"])

        await ws.send("ping", {}, id="p")
        assert await ws.expect("pong") == {"replyTo": "p"}

        await ws.send("selectPlan", {"planId": plans[0]["id"], "idempotencyKey": "key-1"}, id="s1")
        saved = await ws.expect("selectionSaved")
        assert saved["replyTo"] == "s1" and saved["planId"] == plans[0]["id"] and saved["revision"] == 2
        await ws.send("selectPlan", {"planId": plans[0]["id"], "idempotencyKey": "key-1"}, id="s2")
        assert (await ws.expect("selectionSaved"))["selectionId"] == saved["selectionId"]
        await ws.send("selectPlan", {"planId": "no-such-plan"}, id="s3")
        assert (await ws.expect("error"))["code"] == "unknown_plan"

        await ws.send("reset", {}, id="r")
        update = await ws.expect("recommendationUpdates")
        assert update["replyTo"] == "r" and update["revision"] == 3 and update["answers"] == {}

        # The enriched stage of the newest revision follows its rules stage.
        deadline = time.monotonic() + 5
        for _ in range(100):
            event, data = await ws.recv(max(0.01, deadline - time.monotonic()))
            if event == "recommendationUpdates" and data["stage"] == "enriched":
                assert data["revision"] == 3 and data["answers"] == {}
                break
        else:
            raise AssertionError("no enriched update after the reset")

    async with http_client(server) as http:
        reply = await http.get(
            f"/api/sessions/{session['sessionId']}", headers={"Authorization": f"Bearer {session['token']}"}
        )
    assert reply.status_code == 200
    body = reply.json()
    assert body["revision"] == 3 and body["answers"] == {}
    assert body["selection"]["selectionId"] == saved["selectionId"]


async def test_plain_websockets_client_runs_the_whole_protocol(shared_server: ServerProcess) -> None:
    await _run_full_flow(shared_server)


async def test_whole_protocol_on_the_demo_catalogue_with_the_durable_engine(
    start_server: StartServer,
) -> None:
    server = await started(
        start_server,
        "durable",
        PLANWISE_RULES_ENGINE="durable",
        PLANWISE_DEMO_BUNDLE=str(ROOT / "data" / "demo-mobile.json"),
    )
    assert "(engine: durable)" in server.log_tail(100)
    await _run_full_flow(server)
