"""The rollup's background catch-ups in a child process, at a lower CPU priority than the service.

Folding events into ``event_rollup`` (service/event_rollup.py) is Python work: reading each event,
parsing its ids, merging rows. In the serving process it shared the event loop's core (and its GIL)
with the answers. Here the reading and folding run in one child process (``python -m
service.rollup_process``: it imports only what folding needs and inherits nothing of the service's
state) whose ``nice`` value is raised by :data:`NICE`: when the machine is busy with answers the
kernel gives the fold what is left, and when it is idle the fold catches up at full speed.

The child never writes. Each chunk's writes (the rows merged, ``Merged``) come back to the service,
which applies them in one short transaction (``EventRollup.apply``: the watermark's conditional
move, then the rows): a low-priority process holding SQLite's write lock would make the group
writer, and every answer, wait for it whenever the machine is busy (priority inversion). So, over
the child's standard input and output, JSON lines: the service sends ``{"lag": seconds}`` (its
rollup's setting: on PostgreSQL only events that old are folded); the child answers
``{"apply": chunk}`` for each chunk (the watermark and erasure count it read, the id it moves
to, the rows; the service replies ``{"applied": true|false}``: false when another fold moved the
watermark first or an erasure ran, and the child stops there), then ``{"folded": n}`` or
``{"error": text}``. Two folders never fold the same events, so it is safe beside on-demand
catch-ups in the serving process (a report folds first) and beside other processes' children.

The child is started at the first background catch-up, not at start-up (a short-lived process,
a test or a CLI command, never pays for it), and again after it dies (the next interval's catch-up
starts a new one; the error is logged by the caller's loop). It ends at the end of its input: when
the service stops (or is gone).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

import orjson

from rules.child_process import start_module

from .db.engine import create_db_engine
from .event_rollup import Apply, EventRollup, Mark, Merged

log = logging.getLogger(__name__)

#: How much lower the child's CPU priority is than the service's (``nice`` increment, 0-19), and
#: how long a stopping service waits for a catch-up in progress before it ends the child (the
#: chunks applied so far stay; the rest is folded by the next catch-up).
NICE = 10
STOP_SECONDS = 2.0
#: The longest line the service reads from the child: one chunk's writes (at most ``ROWS`` rows).
MAX_LINE = 64 * 1024 * 1024


class RollupFailed(Exception):
    """A catch-up in the child failed (the child's error, as text) or the child is gone."""


def _send(message: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(message) + b"\n")
    sys.stdout.buffer.flush()


async def _applied_by_the_service(mark: Mark, moved_to: int, merged: Merged) -> bool:
    """The child's ``apply``: the chunk goes to the service, which writes it and says whether it did."""
    chunk = {"watermark": mark.watermark, "erasures": mark.erasures, "movedTo": moved_to}
    _send({"apply": {**chunk, "merged": merged.to_json()}})
    line = await asyncio.to_thread(sys.stdin.buffer.readline)
    if not line:
        raise EOFError("the service is gone")
    return bool(orjson.loads(line)["applied"])


async def _catch_up(url: str, retention_days: int, lag: float) -> int:
    """One catch-up: every event above the watermark (older than ``lag`` seconds) folded; how many
    were read."""
    engine = create_db_engine(url)
    try:
        return await EventRollup(engine, retention_days, lag=lag).catch_up(_applied_by_the_service)
    finally:
        await engine.dispose()


def main() -> int:
    """The child: its settings on the first input line, then one catch-up per line until the end."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    first = sys.stdin.buffer.readline()
    if not first:
        return 0
    given: dict[str, Any] = orjson.loads(first)
    logging.getLogger().setLevel(int(given["level"]))
    try:
        os.nice(int(given["nice"]))
    except OSError:  # pragma: no cover - not allowed here: it still works, at the same priority
        log.warning("could not lower the event rollup process's priority")
    while request := sys.stdin.buffer.readline():
        try:
            lag = float(orjson.loads(request)["lag"])
            reply: dict[str, Any] = {
                "folded": asyncio.run(_catch_up(given["url"], given["retention_days"], lag))
            }
        except EOFError:
            return 0
        except Exception as exc:  # reported to the service, which logs it; the child goes on
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        _send(reply)
    return 0


class RollupProcess:
    """Folds in a low-priority child process (started when first used); the writes happen here."""

    def __init__(self, url: str, retention_days: int, nice: int = NICE) -> None:
        self.url = url
        self.retention_days = retention_days
        self.nice = nice
        self._process: asyncio.subprocess.Process | None = None
        self._talking = asyncio.Lock()  # one catch-up at a time

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    async def _start(self) -> asyncio.subprocess.Process:
        process = await start_module("service.rollup_process", limit=MAX_LINE)
        assert process.stdin is not None
        level = logging.getLogger().getEffectiveLevel()
        given = {"url": self.url, "retention_days": self.retention_days, "nice": self.nice, "level": level}
        process.stdin.write(orjson.dumps(given) + b"\n")  # the URL never on a command line
        self._process = process
        log.info("event rollup process %s started", process.pid)
        return process

    async def catch_up(self, apply: Apply, lag: float) -> int:
        """One catch-up: the child folds the events older than ``lag`` seconds (the service's rollup's
        setting), ``apply`` writes each chunk here; how many events it read."""
        async with self._talking:
            process = self._process
            if process is None or process.returncode is not None:
                process = await self._start()
            try:
                return await self._converse(process, apply, lag)
            except RollupFailed:  # the child's own report of a failed catch-up: it goes on
                raise
            except BaseException as exc:  # the child is gone, or out of step: a new one next time
                self._process = None
                if process.returncode is None:
                    process.kill()
                await process.wait()
                if isinstance(exc, (EOFError, OSError, ValueError)):
                    raise RollupFailed(f"the event rollup process ended ({exc})") from exc
                raise  # cancelled (the service stops), or ``apply`` failed

    async def _converse(self, process: asyncio.subprocess.Process, apply: Apply, lag: float) -> int:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(orjson.dumps({"lag": lag}) + b"\n")
        await process.stdin.drain()
        while True:
            line = await process.stdout.readline()
            if not line:
                raise EOFError("no reply")
            message = orjson.loads(line)
            if "apply" in message:
                chunk = message["apply"]
                merged = Merged.from_json(chunk["merged"])
                mark = Mark(int(chunk["watermark"]), int(chunk["erasures"]))
                applied = await apply(mark, int(chunk["movedTo"]), merged)
                process.stdin.write(orjson.dumps({"applied": applied}) + b"\n")
                await process.stdin.drain()
            elif "error" in message:
                raise RollupFailed(str(message["error"]))
            else:
                return int(message["folded"])

    async def close(self) -> None:
        """Stop the child (a catch-up in progress gets :data:`STOP_SECONDS` to finish)."""
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()  # end of input: the child returns
            await _ended(process)


async def _ended(process: asyncio.subprocess.Process) -> None:
    """Wait for the child to end (:data:`STOP_SECONDS`), else kill it; reaped either way."""
    try:
        await asyncio.wait_for(process.wait(), STOP_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()


if __name__ == "__main__":
    sys.exit(main())
