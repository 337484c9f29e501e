"""Fixtures for service tests: the real app on a real SQLite file in tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol

from planwise.app import create_app

from ..servers import ServerProcess
from .server_helpers import StartServer, service_server
from .wsjson import WS

__all__ = ["EXAMPLE", "WS", "settings_for"]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXAMPLE = FIXTURES / "example.json"


def settings_for(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'planwise.db'}",
        "secret_key": "test-secret-key-" + "x" * 32,
        "rules_engine": "reference",
        "load_demo": True,
        "demo_bundle": str(EXAMPLE),
        "hello_timeout": 0.2,
        "publish_poll_interval": 0.1,
        **overrides,
    }


@pytest.fixture(params=["reference", "durable", "reference-postgresql"])
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Protocol tests run once per rules engine on SQLite, and with the reference engine on PostgreSQL.

    The service must behave the same on both engines and both databases (the third dimension runs
    only with one engine to keep the run short).
    """
    engine, _, database = request.param.partition("-")
    if database == "postgresql":
        return settings_for(tmp_path, rules_engine=engine, database_url=request.getfixturevalue("pg_url"))
    return settings_for(tmp_path, rules_engine=engine)


@pytest.fixture
async def app(settings: dict[str, Any]) -> AsyncIterator[Quart]:
    app = create_app(settings)
    async with app.test_app():
        yield app


@pytest.fixture
def client(app: Quart) -> TestClientProtocol:
    return app.test_client()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """``start_server(name, **env)``: a real server with its own database and settings, stopped afterwards."""
    servers: list[ServerProcess] = []

    def start(name: str = "server", **env: str) -> ServerProcess:
        server = service_server(tmp_path / name, **env)
        servers.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
