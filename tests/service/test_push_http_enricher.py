"""The ``http`` enricher against a real local HTTP service that is slow, fails and recovers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from planwise.app import create_app
from service.config import Settings
from service.enrich import EnrichContext
from service.enrichers.http import EnrichUnavailable, HttpEnricher
from service.live import LiveCatalogue
from service.runtime import get_runtime

from .conftest import WS, settings_for


class Neighbour:
    """A pricing service on loopback: ``mode`` is ok, slow, fail or down (refusing connections)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if self.mode == "slow":
            await asyncio.sleep(2)
        if self.mode == "fail":
            return web.Response(status=500, text="boom")
        plans = {pid: {"installPrice": len(pid), "rank": 99} for pid in body["plans"]}
        plans["not-asked"] = {"installPrice": 1}
        return web.json_response({"plans": plans})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/enrich", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        if not self.port:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.port = sock.getsockname()[1]
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/enrich"


@pytest.fixture
async def neighbour() -> AsyncIterator[Neighbour]:
    service = Neighbour()
    await service.start()
    yield service
    await service.stop()


async def test_through_the_app_the_enriched_update_carries_the_services_fields(
    tmp_path: Path, neighbour: Neighbour
) -> None:
    app = create_app(settings_for(tmp_path, enrichers="http", enrich_url=neighbour.url))
    async with app.test_app(), app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening()
        await ws.send("userResponse", {"answers": {"dataUsage": "heavy", "travel": True}})
        rules = await ws.expect("recommendationUpdates")
        enriched = await ws.expect("recommendationUpdates", any_stage=True)
        while enriched["revision"] != rules["revision"]:
            enriched = await ws.expect("recommendationUpdates", any_stage=True)
        assert enriched["stage"] == "enriched"
        for plan in enriched["plans"]:
            assert plan["installPrice"] == len(plan["id"])
            assert plan["rank"] != 99, "a field that clashes with the protocol's is dropped"
            assert "estimate" in plan, "the catalogue's estimate is still there"
        sent = neighbour.requests[-1]
        assert sent["answers"] == {"dataUsage": "heavy", "travel": True}
        assert sent["plans"] == [p["id"] for p in rules["plans"]]
        assert get_runtime(app).planwise.enrichment.failed == 0


async def enricher_and_ctx(tmp_path: Path, url: str, **overrides: Any) -> tuple[HttpEnricher, Any]:
    settings = Settings.from_env(
        {**settings_for(tmp_path), "enrich_url": url, "enrich_timeout": 1.0, **overrides}
    )
    app = create_app(settings_for(tmp_path))
    async with app.test_app():
        live: LiveCatalogue = get_runtime(app).planwise.live
        catalogue = live.require().catalogue

    def ctx(answers: dict[str, Any]) -> EnrichContext:
        update = {"version": 1, "plans": [{"id": "max-50"}, {"id": "mid-20"}]}
        return EnrichContext(catalogue, answers, frozenset(answers), update)

    return HttpEnricher(settings), ctx


async def test_slow_failing_recovering_service_timeout_retry_breaker_cache(
    tmp_path: Path, neighbour: Neighbour
) -> None:
    enricher, ctx = await enricher_and_ctx(
        tmp_path, neighbour.url, enrich_breaker_failures=3, enrich_breaker_seconds=0.5
    )
    try:
        first = await enricher.enrich(ctx({"budget": 10}))
        assert first == {"max-50": {"installPrice": 6}, "mid-20": {"installPrice": 6}}
        assert await enricher.enrich(ctx({"budget": 10})) == first
        assert enricher.calls == 1, "the same (version, answers) is served from the cache"

        neighbour.mode = "slow"  # slower than the per-attempt timeout (0.5 s): no retry
        with pytest.raises(Exception) as slow:
            await enricher.enrich(ctx({"budget": 11}))
        assert "Timeout" in type(slow.value).__name__
        assert enricher.calls == 2

        neighbour.mode = "fail"
        with pytest.raises(Exception, match="500"):
            await enricher.enrich(ctx({"budget": 12}))
        assert enricher.calls == 3, "an error status is not retried"
        with pytest.raises(Exception, match="500"):
            await enricher.enrich(ctx({"budget": 13}))
        # Three failures in a row: the breaker is open, nothing is sent.
        with pytest.raises(EnrichUnavailable):
            await enricher.enrich(ctx({"budget": 14}))
        assert enricher.calls == 4
        assert await enricher.enrich(ctx({"budget": 10})) == first, "cached results still serve"

        neighbour.mode = "ok"
        await asyncio.sleep(0.6)  # the pause is over: one probe goes through and closes it
        assert await enricher.enrich(ctx({"budget": 15})) == first
        assert enricher.calls == 5

        await neighbour.stop()  # down: a connection error is retried once, then fails
        with pytest.raises(httpx.ConnectError):
            await enricher.enrich(ctx({"budget": 16}))
        assert enricher.calls == 7
        await neighbour.start()  # back on the same port: recovers at once (the breaker is closed)
        assert await enricher.enrich(ctx({"budget": 17})) == first
    finally:
        await enricher.aclose()
