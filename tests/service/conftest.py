"""Fixtures for service tests: the real app on a real SQLite file in tmp_path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol

from service.app import create_app

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


class WS:
    """A thin JSON wrapper over the test client's WebSocket."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    async def send(self, event: str, data: Any = None, id: Any = None) -> None:
        message: dict[str, Any] = {"event": event}
        if data is not None:
            message["data"] = data
        if id is not None:
            message["id"] = id
        await self.raw.send(json.dumps(message))

    async def recv(self) -> tuple[str, dict[str, Any]]:
        frame = json.loads(await self.raw.receive())
        return frame["event"], frame["data"]

    async def expect(self, event: str, any_stage: bool = False) -> dict[str, Any]:
        """The next frame of ``event``, skipping enriched updates that may interleave."""
        while True:
            got, data = await asyncio.wait_for(self.recv(), 10)
            if got == "recommendationUpdates" and data["stage"] == "enriched":
                if not (any_stage and event == got):
                    continue
            assert got == event, (got, data)
            return data

    async def opening(self, hello: dict[str, Any] | None = None, id: Any = None) -> dict[str, Any]:
        if hello is not None:
            await self.send("hello", hello, id)
        session = await self.expect("session")
        await self.expect("questionnaire")
        await self.expect("recommendationUpdates", any_stage=True)
        return session
