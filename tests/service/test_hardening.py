"""Issue 15, driven from outside against a real ``planwise serve`` on loopback.

1. connections abandoned at every step of the opening leave nothing behind (hub, queues, memory);
2. every frame a peer can send gets a protocol answer or a clean close, never a traceback or a
   stuck handler (a fuzz over frame kinds, empty binary included).
The sign-in and body-size items are in tests/admin/test_hardening.py; headers, origins, proxies and
JWTs in tests/service/test_hardening_http.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import struct
import time
from typing import Any

import psutil
import pytest

from ..servers import ROOT, ServerProcess
from .server_helpers import RawFrame, RawWs, StartServer, http_client

pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "tests" / "fixtures" / "example.json"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


async def send_frame(ws: RawWs, opcode: int, payload: bytes, fin: bool = True) -> None:
    """One masked client frame of any kind (the client library would refuse to send some of these)."""
    mask = os.urandom(4)
    length = len(payload)
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    ws.writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    await ws.writer.drain()


async def next_data_frame(ws: RawWs, timeout: float = 5.0) -> RawFrame | None:
    """The next text or close frame (pings are skipped), None at end of stream."""
    while True:
        got = await ws.read_frame(timeout)
        if got is None or got.opcode in (OP_TEXT, OP_CLOSE):
            return got


def event_of(got: RawFrame | None) -> dict[str, Any]:
    assert got is not None and got.opcode == OP_TEXT, got
    message: dict[str, Any] = json.loads(got.payload)
    return message


def tracebacks(server: ServerProcess) -> int:
    return server.log_tail(1_000_000).count("Traceback")


# -- 1. abandoned openings ---------------------------------------------------------------------


async def _abandon(server: ServerProcess, step: int, abrupt: bool) -> None:
    """Open /ws and go away after ``step`` steps of the opening.

    0: right after the upgrade; 1: after sending hello; 2: after the ``session`` frame;
    3: after ``questionnaire``; 4: after the first ``recommendationUpdates``. ``abrupt``: a TCP
    reset (no close frame), else a close frame and then the socket closed without waiting.
    """
    ws = await RawWs.open(server)
    assert ws.status == 101
    try:
        if step >= 1:
            await ws.send_text(json.dumps({"event": "hello", "data": {}}))
        for _ in range(step - 1):
            await next_data_frame(ws)
        if not abrupt:
            await send_frame(ws, OP_CLOSE, struct.pack("!H", 1001))
    finally:
        ws.writer.transport.abort()


async def _abandon_many(server: ServerProcess, count: int, steps: tuple[int, ...] = (0, 1, 2, 3, 4)) -> None:
    kinds = [(step, abrupt) for step in steps for abrupt in (True, False)]
    for start in range(0, count, 50):
        await asyncio.gather(
            *(_abandon(server, *kinds[i % len(kinds)]) for i in range(start, min(count, start + 50)))
        )


async def _publish_and_settle(server: ServerProcess) -> None:
    result = await asyncio.to_thread(server.run_cli, "import", str(EXAMPLE), "--publish")
    assert result.returncode == 0, result.stderr
    await asyncio.sleep(2.0)  # the poll (0.5 s) picks it up, re-evaluates live sessions, enriches


def _rss(server: ServerProcess) -> int:
    return int(psutil.Process(server.pid).memory_info().rss)


async def _gauges(server: ServerProcess) -> dict[str, float]:
    """The server's own gauges from /metrics (loopback may read it)."""
    async with http_client(server) as client:
        text = (await client.get("/metrics")).text
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("planwise_") and " " in line:
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


async def _settled_rss(server: ServerProcess, seconds: float) -> int:
    """RSS once the kept updates of idle sessions have aged out (one window and a margin)."""
    await asyncio.sleep(seconds)
    return _rss(server)


# PLANWISE_UPDATE_CACHE_SECONDS of this test (60 by default): longer than the burst and the two
# publishes after it, so that the publishes run while the abandoned sessions' updates are kept.
KEEP = 10.0


async def test_abandoned_openings_leave_nothing_behind(start_server: StartServer) -> None:
    # Each session a publish re-evaluates is queued for enrichment (1000 places): connections left
    # in the hub show up as "enrichment queue full" in the log (2,111 such lines in the issue).
    # The raw client never answers pings: no ping in this test's minute, so the live one stays.
    server = await asyncio.to_thread(
        start_server, "leaks", PLANWISE_UPDATE_CACHE_SECONDS=str(KEEP), PLANWISE_PING_INTERVAL="600"
    )
    live = await RawWs.open(server)  # one live connection: it must still get the publish
    await live.send_text(json.dumps({"event": "hello", "data": {}}))
    for _ in range(3):
        event_of(await next_data_frame(live))

    # Warm-up: the same burst once, aged out (allocator arenas, SQLite's page caches, the
    # engine's first answers): the baseline is a process that has served such a burst.
    await _abandon_many(server, 3000)
    await _publish_and_settle(server)
    baseline = await _settled_rss(server, KEEP + 2)

    await _abandon_many(server, 3000)
    await asyncio.sleep(3.0)  # the openings' background work (enrichment, pushes) settles
    after_openings = _rss(server)
    log_before = server.log_tail(1_000_000)
    await _publish_and_settle(server)
    await _publish_and_settle(server)
    after_publishes = _rss(server)
    log_after = server.log_tail(1_000_000)[len(log_before) :]

    # The publishes re-evaluated only the live session: with the leak, every abandoned connection
    # was still subscribed, each got the questionnaire and an update per publish, and enrichment
    # overflowed (2,111 "queue full" lines in the issue).
    assert "enrichment queue full" not in log_after, "a publish reached connections that were gone"
    assert "Traceback" not in server.log_tail(1_000_000)
    # Two publishes load two catalogue versions: a few MiB (0-6 measured), where the leak cost
    # ~400 MiB per publish (RSS 770 -> 1,205 -> 1,643 MB in the issue).
    pushed = after_publishes - after_openings
    assert pushed < 16 * 2**20, f"two publishes grew RSS by {pushed / 2**20:.1f} MiB"

    # Once the window has passed the hub keeps only the live connection's session ...
    settled = await _settled_rss(server, KEEP + 2)
    gauges = await _gauges(server)
    assert gauges["planwise_live_sessions"] == 1
    assert gauges["planwise_kept_updates"] == 1, gauges
    assert gauges["planwise_cached_sessions"] == 1, gauges  # the store forgot them with the hub
    # 6,000 ended connections: the cycles they left were collected (service/collector.py).
    assert gauges["planwise_full_collections"] >= 1, gauges
    assert gauges['planwise_connections{transport="ws"}'] == 1
    # ... and memory comes back to the warmed-up baseline within 5 KiB per opening (15 MiB for
    # 3,000). What stays is bounded: SQLite's page caches (2 MiB per pooled connection) filling as
    # the events and sessions tables grow, and the allocator's burst-to-burst noise. Measured over
    # ten bursts of 3,000 (docs/security.md): +1.4 KiB per opening for the first, then a plateau
    # (+13.6 MiB after 27,000 in all, the last four bursts within 3 MiB). Before the store forgot
    # idle sessions with the hub and the collector freed the cycles of ended connections, ~2 MiB
    # more at every burst with no end (+24.7 MiB after 30,000); before the hub dropped unwatched
    # updates and a cancelled connection stopped keeping itself alive through its tasks'
    # tracebacks, +21 MiB per 3,000 (7 KiB).
    print(
        f"RSS baseline {baseline / 2**20:.1f} MiB, after 3000 abandoned {after_openings / 2**20:.1f} MiB, "
        f"after two publishes {after_publishes / 2**20:.1f} MiB, settled {settled / 2**20:.1f} MiB"
    )
    per_opening = (settled - baseline) / 3000
    assert per_opening < 5 * 1024, f"{per_opening / 1024:.1f} KiB per abandoned opening"
    # The live connection got both publishes (questionnaire unchanged: updates only).
    versions = set()
    deadline = time.monotonic() + 5
    while len(versions) < 2 and time.monotonic() < deadline:
        message = event_of(await next_data_frame(live))
        if message["event"] == "recommendationUpdates":
            versions.add(message["data"]["version"])
    assert len(versions) == 2
    await live.close()


# -- 2. every kind of frame --------------------------------------------------------------------


async def test_empty_binary_frame_is_answered_not_a_traceback(start_server: StartServer) -> None:
    server = await asyncio.to_thread(start_server, "binary")
    ws = await RawWs.open(server)
    for payload in (b"", b"\x00", b"x" * 200):
        await send_frame(ws, OP_BINARY, payload)
    await ws.send_text(json.dumps({"event": "ping", "data": {}, "id": "after"}))
    seen: list[dict[str, Any]] = []
    while not any(m["event"] == "pong" for m in seen):
        seen.append(event_of(await next_data_frame(ws)))
    errors = [m["data"] for m in seen if m["event"] == "error"]
    assert [e["code"] for e in errors] == ["invalid_message"] * 3
    assert "Binary frames" in errors[0]["message"]
    await ws.close()
    assert tracebacks(server) == 0


def _fuzz_frames(rng: random.Random) -> list[tuple[int, bytes, bool]]:
    """A mixed sequence of frames a hostile or broken peer might send."""
    texts = [
        b"",
        b"null",
        b"[]",
        b"{}",
        b'{"event": 1}',
        b'{"event": "hello", "data": []}',
        b'{"event": "hello", "data": {"token": 5, "authToken": {"a": 1}}}',
        b'{"event": "userResponse", "data": {"answers": {"q": {"deep": [1, 2, 3]}}}}',
        b'{"event": "userResponse", "data": {"questionId": null, "value": 1e400}}',
        b'{"event": "selectPlan", "data": {"planId": "' + b"p" * 500 + b'"}}',
        b'{"event": "explainPlan", "data": {"planId": []}}',
        b'{"event": "\xe2\x80\xae", "id": {"x": 1}}',
        b'{"event": "ping", "id": 9007199254740993}',
        b"[" * 5000 + b"]" * 5000,
        b'{"event": "reset"',
    ]
    frames: list[tuple[int, bytes, bool]] = []
    for _ in range(60):
        kind = rng.randrange(6)
        if kind == 0:
            frames.append((OP_TEXT, rng.choice(texts), True))
        elif kind == 1:
            frames.append((OP_BINARY, os.urandom(rng.choice((0, 0, 1, 7, 300))), True))
        elif kind == 2:
            frames.append((OP_TEXT, bytes(rng.randrange(32, 127) for _ in range(rng.randrange(0, 80))), True))
        elif kind == 3:  # a text message in fragments
            body = b'{"event": "ping", "data": {}}'
            frames += [(OP_TEXT, body[:10], False), (OP_CONT, body[10:20], False), (OP_CONT, body[20:], True)]
        elif kind == 4:
            frames.append((OP_PING, os.urandom(rng.randrange(0, 100)), True))
        else:
            frames.append((OP_PONG, b"", True))
    return frames


async def _fuzz_one(server: ServerProcess, seed: int) -> tuple[int, int | None]:
    """Send the frames, then a ping; return (answers before the pong, close code or None)."""
    rng = random.Random(seed)
    ws = await RawWs.open(server)
    try:
        for opcode, payload, fin in _fuzz_frames(rng):
            await send_frame(ws, opcode, payload, fin)
        if rng.random() < 0.2:  # some end with garbage the server must close on
            await send_frame(ws, OP_TEXT, b"\xff\xfe not utf-8")
        else:
            await ws.send_text(json.dumps({"event": "ping", "data": {}, "id": "end"}))
        answers = 0
        while True:
            got = await next_data_frame(ws, 10.0)
            if got is None or got.opcode == OP_CLOSE:
                return answers, None if got is None else got.close_code
            message = event_of(got)
            answers += 1
            if message["event"] == "pong" and message["data"].get("replyTo") == "end":
                return answers, None
    finally:
        await ws.close()


async def test_fuzzed_frames_get_answers_or_clean_closes_and_no_handler_is_left(
    start_server: StartServer,
) -> None:
    # A generous rate so the fuzz is about frame kinds, not the flood limit (tested elsewhere).
    generous = {"PLANWISE_RATE_PER_SECOND": "1000", "PLANWISE_RATE_BURST": "500"}
    server = await asyncio.to_thread(start_server, "fuzz", **generous)
    results = await asyncio.gather(*(_fuzz_one(server, seed) for seed in range(60)))
    for answers, code in results:
        # Either the closing ping was answered, or the socket was closed with a protocol code
        # (1007: not UTF-8; 1008: a hello with a bad authToken is `unauthorized`, PROTOCOL.md);
        # never dropped without a close frame.
        assert code in (None, 1007, 1008), results
        assert code == 1007 or answers > 0  # on bad UTF-8 uvicorn closes at once, replies unsent
    assert sum(code == 1007 for _, code in results) > 0
    assert tracebacks(server) == 0, server.log_tail(60)
    # No handler is stuck: every connection is gone from the server once the clients have left.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        held = [c for c in psutil.Process(server.pid).net_connections("tcp") if c.raddr]
        if not held:
            break
        await asyncio.sleep(0.2)
    assert not held
    # The server still serves.
    ws = await RawWs.open(server)
    await ws.send_text(json.dumps({"event": "ping", "data": {}, "id": "alive"}))
    messages = [event_of(await next_data_frame(ws)) for _ in range(4)]
    assert any(m["event"] == "pong" for m in messages)
    await ws.close()
