"""PROTOCOL.md frames over a WebSocket: one wrapper for the test client and for real connections."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any


class WS:
    """JSON events over Quart's test-client WebSocket (``send``/``receive``)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    async def _receive(self) -> str | bytes:
        frame: str | bytes = await self.raw.receive()
        return frame

    async def send(self, event: str, data: Any = None, id: Any = None) -> None:
        message: dict[str, Any] = {"event": event}
        if data is not None:
            message["data"] = data
        if id is not None:
            message["id"] = id
        await self.raw.send(json.dumps(message))

    async def recv(self, timeout: float = 10.0) -> tuple[str, dict[str, Any]]:
        frame = json.loads(await asyncio.wait_for(self._receive(), timeout))
        return frame["event"], frame["data"]

    async def expect(self, event: str, any_stage: bool = False, timeout: float = 10.0) -> dict[str, Any]:
        """The next frame of ``event``, skipping enriched updates that may interleave."""
        deadline = time.monotonic() + timeout
        for _ in range(1000):
            got, data = await self.recv(max(0.01, deadline - time.monotonic()))
            if (
                got == "recommendationUpdates"
                and data["stage"] == "enriched"
                and not (any_stage and event == got)
            ):
                continue
            assert got == event, (got, data)
            return data
        raise AssertionError(f"no {event} frame")

    async def opening(self, hello: dict[str, Any] | None = None, id: Any = None) -> dict[str, Any]:
        """Send ``hello`` (if given), read session + questionnaire + first update; return ``session``."""
        if hello is not None:
            await self.send("hello", hello, id)
        session = await self.expect("session")
        await self.expect("questionnaire")
        await self.expect("recommendationUpdates", any_stage=True)
        return session
