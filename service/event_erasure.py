"""Erasing sessions' events, and their Insights rows, when ``session_events`` has no index by session.

Every answer writes an event in the group commit, so the hot path pays for each index of that
table; an index by session costs the most (every event lands on a different leaf page: ~15 of a
row's ~25 us, bench/RESULTS.md). Erasure (``planwise forget``, the idle-session purge) is rare, so
it finds a session's events the long way round, by reads that take no lock (:func:`locate`):

- the events already folded: ``event_rollup`` (indexed by session) names each day a session has
  events on, and that day's events are read through the ``(at, session_id)`` index;
- the events not folded yet: those above the watermark (a range of the primary key).

The transaction that deletes them (:func:`erase_events`) first counts an erasure in
``event_rollup_state``: a fold whose chunk was read before it is then not written (its conditional
watermark move fails, service/event_rollup.py) and is folded again without the erased events. It
also deletes the events written since :func:`locate` read: on SQLite ids grow in commit order
(``AUTOINCREMENT``: never reused), so those above the highest id then; on PostgreSQL ids are not
in commit order, so those stamped after the read began less the rollup's lag (as the fold assumes,
no transaction of the group writer lasts longer), once the sessions' own rows are deleted (every
write of a session waits for that row's lock, so they are all committed or lost by then).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .db.models import EventRollup as R
from .db.models import EventRollupState, utcnow
from .db.models import SessionEvent as E
from .event_rollup import PG_LAG, STATE_ID, newest_event, read_watermark

#: Sessions (bound parameters) and event ids per statement at most.
PART = 500
IDS = 5000


@dataclass(frozen=True)
class Located:
    """The ids of some sessions' events, and what was written before the read (see the docstring)."""

    sessions: tuple[str, ...]
    events: tuple[int, ...]
    newest: int  # the highest event id when the read began
    began: datetime


def _parts(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[start : start + PART] for start in range(0, len(items), PART)]


async def locate(conn: AsyncConnection, sessions: Sequence[str]) -> Located:
    """The events of these sessions, read without a lock (call it before the transaction writes)."""
    began = utcnow()
    newest = await newest_event(conn)
    watermark = await read_watermark(conn)  # events up to it have rollup rows naming their day
    found: set[int] = set()
    for part in _parts(sessions):
        days = (await conn.execute(select(R.day).where(R.session_id.in_(part)).distinct())).scalars()
        for day in sorted(days):
            start = datetime.combine(day, datetime.min.time())
            on_day = (E.at >= start, E.at < start + timedelta(days=1), E.session_id.in_(part))
            found.update((await conn.execute(select(E.id).where(*on_day))).scalars())
        later = select(E.id).where(E.id > watermark, E.session_id.in_(part))
        found.update((await conn.execute(later)).scalars())
    return Located(tuple(sessions), tuple(sorted(found)), newest, began)


async def erase_events(conn: AsyncConnection, located: Located) -> None:
    """Delete the located events and the sessions' rollup rows, in the caller's transaction, as its
    first writes (the erasure is counted first, see the module's docstring)."""
    if not located.sessions:
        return
    count = update(EventRollupState).where(EventRollupState.id == STATE_ID)
    await conn.execute(count.values(erasures=EventRollupState.erasures + 1))
    for start in range(0, len(located.events), IDS):
        await conn.execute(delete(E).where(E.id.in_(located.events[start : start + IDS])))
    for part in _parts(located.sessions):
        await conn.execute(delete(R).where(R.session_id.in_(part)))


async def erase_later_events(conn: AsyncConnection, located: Located) -> None:
    """Delete the sessions' events written since :func:`locate` read (call it after deleting the
    sessions' own rows, in the same transaction)."""
    since = (
        E.at >= located.began - timedelta(seconds=PG_LAG)
        if conn.dialect.name == "postgresql"
        else E.id > located.newest
    )
    for part in _parts(located.sessions):
        await conn.execute(delete(E).where(since, E.session_id.in_(part)))
