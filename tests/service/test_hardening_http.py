"""Issue 15, item 5, driven from outside against a real ``planwise serve`` on loopback: security
headers and the self-served API docs, forwarded addresses only from trusted proxies, Origin checks
against configured origins (scheme included, no trust in the request's own Host), strict JWTs,
JSON errors on every /api path and an OpenAPI document of the public API with every status.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from ..servers import ServerProcess
from .server_helpers import RawWs, StartServer, service_server

pytestmark = pytest.mark.slow

JWT_SECRET = "host-site-jwt-secret-" + "s" * 32


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = service_server(
        tmp_path_factory.mktemp("http-hardening"),
        PLANWISE_JWT_SECRET=JWT_SECRET,
        PLANWISE_JWT_AUDIENCE="planwise",
        PLANWISE_ALLOWED_ORIGINS="https://shop.example",
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


def http(server: ServerProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, timeout=10, trust_env=False)


# -- headers and docs ----------------------------------------------------------------------------


async def test_every_page_has_the_security_headers(server: ServerProcess) -> None:
    async with http(server) as client:
        for path in (
            "/",
            "/admin/login",
            "/docs",
            "/openapi.json",
            "/api/questionnaire",
            "/healthz",
            "/nope",
        ):
            response = await client.get(path)
            csp = response.headers.get("Content-Security-Policy", "")
            assert "frame-ancestors 'none'" in csp, path
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
            assert response.headers["X-Content-Type-Options"] == "nosniff", path
            assert response.headers["Referrer-Policy"] == "same-origin", path
            assert response.headers["X-Frame-Options"] == "DENY", path
            assert "Strict-Transport-Security" not in response.headers  # plain HTTP here


async def test_swagger_ui_is_served_by_the_service_itself(server: ServerProcess) -> None:
    async with http(server) as client:
        page = (await client.get("/docs")).text
        assert "<script>" not in page and "cdn" not in page.lower() and "https://" not in page
        for asset in (
            "/docs/assets/swagger-ui-bundle.js",
            "/docs/assets/swagger-ui.css",
            "/static/apidocs.js",
        ):
            response = await client.get(asset)
            assert response.status_code == 200 and len(response.content) > 100, asset
        assert (await client.get("/docs/assets/index.html")).status_code == 404


# -- JSON errors and OpenAPI -----------------------------------------------------------------------


async def test_every_api_path_answers_errors_in_json(server: ServerProcess) -> None:
    async with http(server) as client:
        for method, path, status in [
            ("GET", "/api/sessions/..%2f..", 404),
            ("GET", "/api/nothing/here", 404),
            ("GET", "/api", 404),
            ("PUT", "/api/questionnaire", 405),
            ("GET", "/api/sessions/s_x", 401),
        ]:
            response = await client.request(method, path)
            assert response.status_code == status, (method, path)
            assert response.headers["Content-Type"].startswith("application/json"), (method, path)
            assert set(response.json()["error"]) >= {"code", "message"}


async def test_openapi_lists_only_the_public_api_with_every_status(server: ServerProcess) -> None:
    async with http(server) as client:
        document = (await client.get("/openapi.json")).json()
    assert document["paths"] and all(path.startswith("/api/") for path in document["paths"])
    operations = {
        (method, path): op for path, item in document["paths"].items() for method, op in item.items()
    }
    responses = operations[("post", "/api/sessions/{session_id}/responses")]["responses"]
    assert {"200", "400", "401", "403", "404", "413", "422", "429", "500", "503"} <= set(map(str, responses))
    assert {"200", "201", "409", "422"} <= set(
        map(str, operations[("post", "/api/sessions/{session_id}/selection")]["responses"])
    )
    assert "204" in map(str, operations[("get", "/api/sessions/{session_id}/updates")]["responses"])
    for op in operations.values():
        assert {"500", "503"} <= set(map(str, op["responses"]))


# -- trusted proxies --------------------------------------------------------------------------------


async def _new_sessions(server: ServerProcess, count: int) -> list[int]:
    async with http(server) as client:
        statuses = []
        for i in range(count):
            forwarded = {"X-Forwarded-For": f"198.51.100.{i % 250}"}
            statuses.append((await client.post("/api/sessions", headers=forwarded)).status_code)
    return statuses


async def test_forwarded_addresses_count_only_from_trusted_proxies(start_server: StartServer) -> None:
    # 40 new sessions in any 2 s per address: a spoofed X-Forwarded-For must not get around it.
    untrusted = await asyncio.to_thread(start_server, "untrusted")
    statuses = await _new_sessions(untrusted, 60)
    assert statuses.count(429) >= 15, statuses
    # Behind a configured proxy (here: this loopback client), each forwarded client has its limit.
    trusted = await asyncio.to_thread(start_server, "trusted", PLANWISE_TRUSTED_PROXIES="127.0.0.0/8")
    assert (await _new_sessions(trusted, 60)).count(429) == 0


async def test_a_bad_trusted_proxies_value_is_refused_at_start(tmp_path: Path) -> None:
    server = service_server(tmp_path / "bad", PLANWISE_TRUSTED_PROXIES="10.0.0.0/8,not-an-address")
    result = await asyncio.to_thread(server.run_cli, "serve", "--port", "1")
    assert result.returncode == 2
    assert "PLANWISE_TRUSTED_PROXIES" in result.stderr and "not-an-address" in result.stderr


# -- Origin ---------------------------------------------------------------------------------------


async def _upgrade_status(server: ServerProcess, origin: str, host: str | None = None) -> int:
    """The status of a WebSocket upgrade with this Origin (and Host, by default the server's)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        lines = [
            "GET /ws HTTP/1.1",
            f"Host: {host or f'127.0.0.1:{server.port}'}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
            "Sec-WebSocket-Version: 13",
            f"Origin: {origin}",
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        return int(head.split(b" ", 2)[1])
    finally:
        writer.close()


async def test_origin_is_compared_with_configured_origins_scheme_included(server: ServerProcess) -> None:
    port = server.port
    assert await _upgrade_status(server, "https://shop.example") == 101
    assert await _upgrade_status(server, "http://shop.example") == 403  # scheme counts
    assert await _upgrade_status(server, "https://shop.example.evil.net") == 403
    assert await _upgrade_status(server, f"http://127.0.0.1:{port}") == 101  # the page served here
    assert await _upgrade_status(server, f"https://127.0.0.1:{port}") == 403
    # DNS rebinding: the attacker's name resolves to this server; Origin and Host agree.
    assert (
        await _upgrade_status(server, f"http://rebind.example:{port}", host=f"rebind.example:{port}") == 403
    )
    async with http(server) as client:
        refused = await client.post(
            "/api/sessions",
            headers={"Origin": f"http://rebind.example:{port}", "Host": f"rebind.example:{port}"},
        )
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


# -- JWTs -------------------------------------------------------------------------------------------


async def _hello(server: ServerProcess, auth_token: str) -> tuple[str, int | None]:
    """The first event answering a hello with this authToken, and the close code if it closed."""
    ws = await RawWs.open(server)
    try:
        await ws.send_text(json.dumps({"event": "hello", "data": {"authToken": auth_token}}))
        first = await ws.read_frame(5)
        assert first is not None and first.opcode == 0x1
        event = json.loads(first.payload)
        code = None
        if event["event"] == "error":
            closing = await ws.read_frame(5)
            code = closing.close_code if closing else None
        return (event["data"]["code"] if event["event"] == "error" else event["event"]), code
    finally:
        await ws.close()


def _token(**claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "user-1", "aud": "planwise", "iat": now, "exp": now + 300, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, JWT_SECRET, algorithm="HS256")


async def test_bad_host_site_jwts_are_refused(server: ServerProcess) -> None:
    now = int(time.time())
    assert await _hello(server, _token()) == ("session", None)
    bad = {
        "exp as a string": _token(exp=str(now + 300)),
        "expired beyond the 5 s leeway": _token(iat=now - 600, exp=now - 10),
        "lives longer than the maximum": _token(exp=now + 3 * 86400),
        "no iat and a far exp": _token(iat=None, exp=now + 400 * 86400),
        "issued in the future": _token(iat=now + 600, exp=now + 900),
        "no aud though one is configured": _token(aud=None),
        "another aud": _token(aud="someone-else"),
        "iat as a string": _token(iat=str(now)),
        "exp a boolean": _token(exp=True),
    }
    for why, token in bad.items():
        assert await _hello(server, token) == ("unauthorized", 1008), why
