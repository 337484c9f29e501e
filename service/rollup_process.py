"""The rollup's background catch-ups in a child process, at a lower CPU priority than the service.

Folding events into ``event_rollup`` (service/event_rollup.py) is Python work: reading each event,
parsing its ids, merging rows. In the serving process it shared the event loop's core (and its GIL)
with the answers. Here it runs in one child process (``python -m service.rollup_process``: it
imports only what folding needs and inherits nothing of the service's state; one request at a
time, JSON lines over its standard input and output) whose ``nice`` value is raised by
:data:`NICE`: when the machine is busy with answers the kernel gives the fold what is left, and
when it is idle the fold catches up at full speed. Nothing is shared but the database: the child
opens its own engine for each catch-up, and the watermark's conditional move (two folders never
fold the same events) makes it safe beside on-demand catch-ups in the serving process (a report
folds first) and beside other processes' children.

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

from .config import ROOT
from .db.engine import create_db_engine
from .event_rollup import EventRollup

log = logging.getLogger(__name__)

#: How much lower the child's CPU priority is than the service's (``nice`` increment, 0-19), and
#: how long a stopping service waits for a catch-up in progress before it ends the child (a chunk
#: cut short is rolled back: its events are folded again by the next catch-up).
NICE = 10
STOP_SECONDS = 2.0


class RollupFailed(Exception):
    """A catch-up in the child failed (the child's error, as text) or the child is gone."""


async def _catch_up(url: str, retention_days: int) -> int:
    """One catch-up: every event above the watermark folded; how many were read."""
    engine = create_db_engine(url)
    try:
        return await EventRollup(engine, retention_days).catch_up()
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
    for _ in sys.stdin.buffer:
        try:
            reply: dict[str, Any] = {"folded": asyncio.run(_catch_up(given["url"], given["retention_days"]))}
        except Exception as exc:  # reported to the service, which logs it; the child goes on
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.buffer.write(orjson.dumps(reply) + b"\n")
        sys.stdout.buffer.flush()
    return 0


class RollupProcess:
    """Runs :meth:`EventRollup.catch_up` in a low-priority child process (started when first used)."""

    def __init__(self, url: str, retention_days: int, nice: int = NICE) -> None:
        self.url = url
        self.retention_days = retention_days
        self.nice = nice
        self._process: asyncio.subprocess.Process | None = None
        self._talking = asyncio.Lock()  # one request at a time

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    async def _start(self) -> asyncio.subprocess.Process:
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "service.rollup_process",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        assert process.stdin is not None
        level = logging.getLogger().getEffectiveLevel()
        given = {"url": self.url, "retention_days": self.retention_days, "nice": self.nice, "level": level}
        process.stdin.write(orjson.dumps(given) + b"\n")  # the URL never on a command line
        self._process = process
        log.info("event rollup process %s started", process.pid)
        return process

    async def catch_up(self) -> int:
        """One catch-up in the child; how many events it read."""
        async with self._talking:
            process = self._process
            if process is None or process.returncode is not None:
                process = await self._start()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(b"catch up\n")
                await process.stdin.drain()
                line = await process.stdout.readline()
            except (ConnectionError, OSError):
                line = b""
            if not line:
                self._process = None  # the next catch-up starts a new child
                await _ended(process)
                raise RollupFailed("the event rollup process ended")
        reply = orjson.loads(line)
        if "error" in reply:
            raise RollupFailed(str(reply["error"]))
        return int(reply["folded"])

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
