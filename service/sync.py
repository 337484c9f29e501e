"""Changes made by other processes: how this process hears that a session it holds has changed.

- PostgreSQL: ``LISTEN planwise_sessions`` on a dedicated asyncpg connection; a trigger (migration
  0003) notifies ``[sessionId, revision, selectionId, origin]`` at every commit that changes a
  session's revision or selection. If the connection drops, it reconnects and tells the service
  to resync (every session in memory may have missed a change).
- SQLite (several workers on one host): a poll of ``sessions.updated_at`` (indexed) every
  ``session_poll_interval`` seconds, with a look-back window that covers commits in flight.
- Otherwise (one process on SQLite, the default): nothing runs; there is nobody else to hear.

The callback is ``Planwise.session_changed(session_id, revision, selection_id)``; it ignores
sessions this process does not hold and changes it already has, so no filtering is needed here
beyond skipping this process's own notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from .background import Background
from .db.engine import asyncpg_dsn, is_postgresql, origin_of
from .db.models import PlanSession, utcnow

log = logging.getLogger(__name__)

CHANNEL = "planwise_sessions"
Changed = Callable[[str, int | None, str | None], None]
Resync = Callable[[], None]


class ChangeFeed(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def make_feed(
    mode: str, url: str, db: AsyncEngine, changed: Changed, resync: Resync, poll_interval: float
) -> ChangeFeed | None:
    """The feed for ``PLANWISE_SESSION_SYNC`` (auto: notify on PostgreSQL, nothing on SQLite)."""
    if mode == "auto":
        mode = "notify" if is_postgresql(url) else "off"
    if mode == "notify":
        return PgNotifyFeed(asyncpg_dsn(url), origin_of(db), changed, resync)
    if mode == "poll":
        return PollFeed(db, changed, poll_interval)
    return None


class PgNotifyFeed:
    """LISTEN on a dedicated connection; reconnects (and resyncs) when it is lost."""

    channel = CHANNEL  # service/push.py listens on its own channel with a subclass

    def __init__(
        self, dsn: str, origin: str, changed: Changed, resync: Resync, check_every: float = 5.0
    ) -> None:
        self._dsn = dsn
        self._origin = origin
        self._changed = changed
        self._resync = resync
        self._check_every = check_every
        self._listening = Background("planwise-session-listen")

    async def start(self) -> None:
        """Listen before serving: fails start-up if the database cannot be reached."""
        conn = await self._listen()
        self._listening.start(self._keep(conn))

    async def stop(self) -> None:
        await self._listening.stop()

    async def _listen(self) -> Any:
        import asyncpg  # the ``postgres`` extra

        conn = await asyncpg.connect(
            self._dsn, timeout=10, server_settings={"application_name": "planwise-listen"}
        )
        try:
            await conn.add_listener(self.channel, self._on_notify)
        except BaseException:
            await conn.close(timeout=2)
            raise
        return conn

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            session_id, revision, selection_id, origin = json.loads(payload)
        except (ValueError, TypeError):
            log.warning("ignored a malformed session notification: %.200s", payload)
            return
        if origin != self._origin:
            self._changed(session_id, int(revision), selection_id)

    async def _keep(self, conn: Any) -> None:
        while True:
            try:
                while True:  # a dead connection delivers nothing: check it now and then
                    await asyncio.sleep(self._check_every)
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), self._check_every)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2)
                raise
            except Exception:
                log.warning("lost the session-change channel; reconnecting", exc_info=True)
                conn.terminate()
            conn = await self._reconnect()
            self._resync()  # changes made while we were not listening were missed

    async def _reconnect(self) -> Any:
        delay = 0.5
        while True:
            try:
                return await self._listen()
            except Exception as exc:
                log.warning("session-change channel: %s; retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)


class PollFeed:
    """Poll recently updated sessions (several processes on one SQLite file)."""

    # A change is visible once committed, but carries the time it was made: look back far enough
    # to see commits that were in flight at the previous poll.
    LOOK_BACK = timedelta(seconds=2)

    def __init__(self, db: AsyncEngine, changed: Changed, interval: float) -> None:
        self._db = db
        self._changed = changed
        self._interval = interval
        self._polling = Background("planwise-session-poll")

    async def start(self) -> None:
        self._polling.start(self._run())

    async def stop(self) -> None:
        await self._polling.stop()

    async def _run(self) -> None:
        query = select(PlanSession.id, PlanSession.revision, PlanSession.selection_id)
        while True:
            since = utcnow() - self.LOOK_BACK
            await asyncio.sleep(self._interval)
            try:
                async with self._db.connect() as conn:
                    rows = (await conn.execute(query.where(PlanSession.updated_at >= since))).all()
            except Exception:
                log.exception("could not poll for session changes")
                continue
            for session_id, revision, selection_id in rows:
                self._changed(session_id, revision, selection_id)
