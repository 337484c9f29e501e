"""Two app instances on one SQLite file with ``session_sync=poll`` (what ``--workers N`` sets up).

The same guarantees as on PostgreSQL (test_multiprocess.py), through the poll instead of NOTIFY:
a change through one instance reaches the other's connections, and concurrent answers through
both are each applied once, on top of the latest answers (the conditional revision update).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from planwise.app import create_app

from .conftest import WS, settings_for


async def test_poll_carries_changes_and_conditional_revisions_between_instances(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, session_sync="poll", session_poll_interval=0.05, enrichers=())
    first, second = create_app(settings), create_app({**settings, "load_demo": False})
    async with first.test_app(), second.test_app():
        async with (
            first.test_client().websocket("/ws") as raw_a,
            second.test_client().websocket("/ws") as raw_b,
        ):
            on_a, on_b = WS(raw_a), WS(raw_b)
            await on_a.send("hello", {})
            session = await on_a.opening()
            await on_b.opening({"token": session["token"]})

            await on_a.send("userResponse", {"answers": {"dataUsage": "heavy"}}, id="a1")
            assert (await on_a.expect("recommendationUpdates"))["revision"] == 1
            pushed = await on_b.expect("recommendationUpdates")
            assert (pushed["revision"], pushed["answers"]) == (1, {"dataUsage": "heavy"})

            count = 8
            for i in range(1, count + 1):
                await on_a.send("userResponse", {"answers": {"budget": i}}, id=f"a{i}")
                await on_b.send("userResponse", {"answers": {"lines": i}}, id=f"b{i}")

            async def newest(ws: WS, tag: str) -> tuple[list[int], dict[str, Any]]:
                mine: list[int] = []
                last: dict[str, Any] = {"revision": -1}
                while len(mine) < count or last["revision"] < 1 + 2 * count:
                    update = await ws.expect("recommendationUpdates")
                    if str(update.get("replyTo", "")).startswith(tag):
                        mine.append(update["revision"])
                    last = max(last, update, key=lambda u: u["revision"])
                return mine, last

            (mine_a, last_a), (mine_b, last_b) = await asyncio.wait_for(
                asyncio.gather(newest(on_a, "a"), newest(on_b, "b")), 20
            )
    assert sorted(mine_a + mine_b) == list(range(2, 2 + 2 * count))
    for last in (last_a, last_b):
        assert last["answers"] == {"dataUsage": "heavy", "budget": count, "lines": count}
