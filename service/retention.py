"""Sessions that are not kept forever: idle sessions purged after a retention period, and a
person's sessions erased on request (``planwise purge``, ``planwise forget``).

Deletes run in short chunks (one statement deletes at most :data:`CHUNK` sessions), so the group
writer never waits long for the database; several processes may purge at once (a chunk another
process already deleted simply deletes nothing).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .background import Background, every
from .db.models import EnrichmentPush, PlanSession, Selection, utcnow
from .event_erasure import Located, erase_events, erase_later_events, locate

log = logging.getLogger(__name__)

#: Sessions deleted by one statement at most, and how often each process purges.
CHUNK = 500
INTERVAL = 3600.0


@dataclass(frozen=True)
class Erased:
    """What a purge or an erasure deleted."""

    sessions: int = 0
    selections: int = 0

    def __add__(self, other: Erased) -> Erased:
        return Erased(self.sessions + other.sessions, self.selections + other.selections)


async def _erase(conn: AsyncConnection, located: Located) -> Erased:
    """Delete these sessions with everything that belongs to them (the transaction's writes)."""
    ids = located.sessions
    if not ids:
        return Erased()
    await erase_events(conn, located)  # and Insights' rows (service/event_erasure.py)
    await conn.execute(delete(EnrichmentPush).where(EnrichmentPush.session_id.in_(ids)))
    chosen = await conn.execute(delete(Selection).where(Selection.session_id.in_(ids)))
    gone = await conn.execute(delete(PlanSession).where(PlanSession.id.in_(ids)))
    await erase_later_events(conn, located)
    return Erased(gone.rowcount or 0, chosen.rowcount or 0)


async def purge_idle_sessions(engine: AsyncEngine, retention_days: int) -> Erased:
    """Delete sessions without a selection idle for more than ``retention_days`` (0: keep all)."""
    if retention_days <= 0:
        return Erased()
    cutoff = utcnow() - timedelta(days=retention_days)
    idle = (
        select(PlanSession.id)
        .where(PlanSession.selection_id.is_(None), PlanSession.updated_at < cutoff)
        .limit(CHUNK)
    )
    total = Erased()
    while True:
        async with engine.begin() as conn:  # reads first, without a lock; then the writes
            ids = list((await conn.execute(idle)).scalars())
            total += await _erase(conn, await locate(conn, ids))
        if len(ids) < CHUNK:
            break
        await asyncio.sleep(0)  # other work goes in between chunks
    if total.sessions:
        log.info("purged %d sessions idle for more than %d days", total.sessions, retention_days)
    return total


async def forget(
    conn: AsyncConnection, *, subject: str | None = None, session_id: str | None = None
) -> Erased:
    """Erase a person's sessions and selections: every session of a host-site user, or one session.

    Runs in the caller's transaction (so the caller can record what it did in the same commit);
    it reads first (its writes take the lock only after every read).
    """
    if (subject is None) == (session_id is None):
        raise ValueError("name exactly one of subject or session_id")
    which = PlanSession.user_sub == subject if subject is not None else PlanSession.id == session_id
    ids = list((await conn.execute(select(PlanSession.id).where(which))).scalars())
    return await _erase(conn, await locate(conn, ids))


class SessionPurge:
    """Each process purges idle sessions every :data:`INTERVAL` seconds while it serves."""

    def __init__(self, engine: AsyncEngine, retention_days: int) -> None:
        self.engine = engine
        self.retention_days = retention_days
        self._loop = Background("planwise-session-purge")

    def start(self) -> None:
        if self.retention_days > 0:
            purge = partial(purge_idle_sessions, self.engine, self.retention_days)
            self._loop.start(every(INTERVAL, purge, "purge idle sessions"))

    async def stop(self) -> None:
        await self._loop.stop()
