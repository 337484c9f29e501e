"""The deployment as an operator runs it: PostgreSQL, three ``planwise serve``, nginx with
deploy/nginx.conf in front (TLS, round robin), clients only through nginx.

Which server answered each request comes from nginx's access log (``upstream=``), so each test
shows that consecutive requests of one client really reached different servers.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from sqlalchemy import select

from service.catalogues import publish
from service.db.engine import create_db_engine, sessionmaker
from service.db.models import PlanSession

from ..servers import ROOT
from .clients import Answerer, http, stop_all, wait_until, ws_connect
from .conftest import Cluster

pytestmark = [pytest.mark.system, pytest.mark.slow]

CLIENTS = 30


async def new_session(client: Any) -> tuple[str, dict[str, str]]:
    created = await client.post("/api/sessions", json={})
    assert created.status_code == 201, created.text
    return created.json()["sessionId"], {"Authorization": f"Bearer {created.json()['token']}"}


async def test_requests_through_nginx_read_every_write_whichever_server_took_it(cluster: Cluster) -> None:
    async with http(cluster.nginx) as client:
        assert (await client.get("/metrics")).status_code == 404  # never exposed through nginx
        sid, auth = await new_session(client)
        for i in range(1, 13):
            wrote = await client.post(
                f"/api/sessions/{sid}/responses", json={"answers": {"budget": i}}, headers=auth
            )
            assert wrote.status_code == 200 and wrote.json()["revision"] == i, wrote.text
            got = (await client.get(f"/api/sessions/{sid}", headers=auth)).json()
            assert (got["revision"], got["answers"], got["update"]["revision"]) == (i, {"budget": i}, i)
    path = f"/api/sessions/{sid}"
    await wait_until(lambda: len(cluster.nginx.upstreams_of(path)) >= 24, 5, "every request logged")
    served = cluster.nginx.upstreams_of(path)
    pairs = list(zip(served[0::2], served[1::2], strict=True))
    assert len(pairs) == 12 and all(w != r for w, r in pairs), served  # write and read: two servers
    assert len(set(served)) == 3


async def test_a_long_poll_is_woken_by_a_change_made_on_another_server(cluster: Cluster) -> None:
    async with http(cluster.nginx) as client, http(cluster.nginx) as other:
        sid, auth = await new_session(client)
        first = (await client.get(f"/api/sessions/{sid}", headers=auth)).json()["update"]
        poll = asyncio.create_task(
            client.get(
                f"/api/sessions/{sid}/updates",
                params={"after": 0, "version": first["version"], "stage": "enriched", "wait": 10},
                headers=auth,
            )
        )
        await asyncio.sleep(0.5)
        wrote = await other.post(
            f"/api/sessions/{sid}/responses", json={"answers": {"lines": 2}}, headers=auth
        )
        changed = time.monotonic()
        polled = await asyncio.wait_for(poll, 10)
        woken_after = time.monotonic() - changed
    assert polled.status_code == 200 and polled.json()["revision"] == wrote.json()["revision"] == 1
    assert woken_after < 1.0, woken_after
    # nginx logs a request just after its response: wait for both lines.
    logged = [f"/api/sessions/{sid}/updates", f"/api/sessions/{sid}/responses"]
    await wait_until(lambda: all(cluster.nginx.upstreams_of(p) for p in logged), 5, "both logged")
    (poller,) = cluster.nginx.upstreams_of(logged[0])
    (writer,) = cluster.nginx.upstreams_of(logged[1])
    assert poller != writer


async def test_a_websocket_resumes_on_another_server(cluster: Cluster) -> None:
    before = len(cluster.nginx.upstreams_of("/ws"))
    async with ws_connect(cluster.nginx) as conn:
        from ..service.server_helpers import JsonWs

        ws = JsonWs(conn)
        session = await ws.opening({})
        await ws.send("userResponse", {"answers": {"dataUsage": "heavy", "budget": 40}}, id="a1")
        ack = await ws.expect("recommendationUpdates")
        assert (ack["replyTo"], ack["revision"]) == ("a1", 1)
    async with ws_connect(cluster.nginx) as conn:
        ws = JsonWs(conn)
        await ws.send("hello", {"token": session["token"]})
        resumed = await ws.expect("session")
        assert resumed["resumed"] and (resumed["sessionId"], resumed["revision"]) == (session["sessionId"], 1)
        await ws.expect("questionnaire")
        update = await ws.expect("recommendationUpdates", any_stage=True)
        assert update["answers"] == {"dataUsage": "heavy", "budget": 40}
        assert [p["id"] for p in update["plans"]] == [p["id"] for p in ack["plans"]]
    await wait_until(lambda: len(cluster.nginx.upstreams_of("/ws")) >= before + 2, 5, "both logged")
    first, second = cluster.nginx.upstreams_of("/ws")[before : before + 2]
    assert first != second


async def test_a_publish_reaches_the_clients_of_every_server_within_a_second(cluster: Cluster) -> None:
    before = len(cluster.nginx.upstreams_of("/ws"))
    bundle = json.loads((ROOT / "tests" / "fixtures" / "example.json").read_text())
    bundle["plans"][0]["name"] += " (new)"
    async with asyncio.timeout(60):
        conns = [await ws_connect(cluster.nginx).__aenter__() for _ in range(9)]
        try:
            from ..service.server_helpers import JsonWs

            sockets = [JsonWs(c) for c in conns]
            versions = {(await ws.opening({}))["version"] for ws in sockets}
            db = create_db_engine(cluster.database_url)
            try:
                started = time.monotonic()
                async with sessionmaker(db)() as s, s.begin():
                    version = await publish(s, bundle, "system test", "test")
            finally:
                await db.dispose()
            assert versions == {version - 1}

            async def arrival(ws: JsonWs) -> float:
                while True:
                    event, data = await ws.recv(timeout=5)
                    if event == "recommendationUpdates" and data["version"] == version:
                        return time.monotonic() - started

            delays = await asyncio.gather(*(arrival(ws) for ws in sockets))
        finally:
            for c in conns:
                await c.close()
    assert max(delays) < 1.0, delays
    await wait_until(lambda: len(cluster.nginx.upstreams_of("/ws")) >= before + 9, 5, "all logged")
    assert len(set(cluster.nginx.upstreams_of("/ws")[before:])) == 3  # clients on every server


async def stored(cluster: Cluster) -> dict[str, tuple[int, dict[str, Any]]]:
    db = create_db_engine(cluster.database_url)
    try:
        async with db.connect() as conn:
            rows = (
                await conn.execute(select(PlanSession.id, PlanSession.revision, PlanSession.answers))
            ).all()
    finally:
        await db.dispose()
    return {sid: (revision, answers) for sid, revision, answers in rows}


async def answering(cluster: Cluster) -> tuple[list[Answerer], asyncio.Event, list[asyncio.Task[None]]]:
    clients = [Answerer(i) for i in range(CLIENTS)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(cluster.nginx, stop)) for c in clients]
    await wait_until(lambda: all(len(c.acked) >= 3 for c in clients), 30, "every client answering")
    return clients, stop, tasks


async def check_nothing_lost(cluster: Cluster, clients: list[Answerer]) -> int:
    """Every acknowledged answer is in the database; returns how many there were."""
    rows = await stored(cluster)
    for c in clients:
        assert c.session_id is not None and not c.stale_resumes, (c.index, c.stale_resumes)
        assert len({sid for _, _, sid, _ in c.opens}) == 1, "resumed its own session every time"
        revisions = [r for _, r in c.acked]
        assert revisions == sorted(set(revisions)), "acknowledged revisions only grow"
        revision, answers = rows[c.session_id]
        assert revision >= c.last_acked_revision, (c.index, revision, c.last_acked_revision)
        expected = {c.acked[-1][0]} if revision == c.last_acked_revision else {c.last_sent}
        assert answers["budget"] in expected, (c.index, answers, c.acked[-3:], revision)
    return sum(len(c.acked) for c in clients)


async def test_kill_9_of_one_server_loses_no_acknowledged_answer(cluster: Cluster) -> None:
    victim = cluster.servers[0]
    clients, stop, tasks = await answering(cluster)
    try:
        killed = time.monotonic()
        victim.kill()
        await wait_until(
            lambda: all(c.acks_since(killed + 1.0) >= 3 for c in clients), 30, "every client answering again"
        )
    finally:
        await stop_all(stop, tasks)
    await asyncio.to_thread(victim.start)  # back for the next test
    cut = [c for c in clients if any(t > killed for t, _ in c.closes)]
    assert 3 <= len(cut) < CLIENTS, len(cut)  # about a third were on the killed server
    gaps = []
    for c in cut:
        closed = min(t for t, _ in c.closes if t > killed)
        reopened = min(t for t, resumed, _, _ in c.opens if t > closed)
        assert all(resumed for t, resumed, _, _ in c.opens if t > closed)
        gaps.append(reopened - closed)
    assert max(gaps) < 2.0, gaps
    total = await check_nothing_lost(cluster, clients)
    print(f"kill -9: {len(cut)} clients resumed in {min(gaps):.2f}-{max(gaps):.2f} s; {total} acks, 0 lost")


async def test_sigterm_closes_with_1012_and_clients_resume_elsewhere(cluster: Cluster) -> None:
    victim = cluster.servers[1]
    clients, stop, tasks = await answering(cluster)
    try:
        stopping = time.monotonic()
        status = await asyncio.to_thread(victim.terminate, 15.0)
        # uvicorn re-raises the signal after its graceful shutdown (systemd counts that as clean).
        assert status in (0, -15), victim.log_tail()
        await wait_until(
            lambda: all(c.acks_since(time.monotonic() - 0.5) >= 1 for c in clients), 10, "everyone answering"
        )
    finally:
        await stop_all(stop, tasks)
    await asyncio.to_thread(victim.start)
    cut = [c for c in clients if any(t > stopping for t, _ in c.closes)]
    assert 3 <= len(cut) < CLIENTS, len(cut)
    gaps = []
    for c in cut:
        closed, code = min((t, code) for t, code in c.closes if t > stopping)
        assert code == 1012, (c.index, c.closes)
        gaps.append(min(t for t, _, _, _ in c.opens if t > closed) - closed)
    assert max(gaps) < 2.0, gaps
    assert not [c.errors for c in clients if c.errors]  # no error shown to anyone
    total = await check_nothing_lost(cluster, clients)
    assert "Traceback" not in victim.log_tail(100_000)
    print(f"SIGTERM: {len(cut)} clients closed with 1012, resumed in <= {max(gaps):.2f} s; {total} acks")
