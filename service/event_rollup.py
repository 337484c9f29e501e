"""The Insights rollup: session events folded per (UTC day, catalogue version, session), off the hot path.

A report over 1,000,000 events cannot expand every event's id lists in time (docs/insights.md);
it reads ``event_rollup`` instead, about one row per session, and merges each session's rows
(service/event_stats.py), so that every figure stays an exact count of distinct sessions.

One row holds what the session did that day in that version (service/event_rollup_fold.py: the
fold, the row's layout): answer changes and those that left no plan, the last answer change and
the last selection, each selection's rank, the sets of questions shown and answered, rules fired
and plans in the first three, and the answer combinations that left no plan.

:class:`EventRollup` folds events above the watermark (``event_rollup_state``) in short chunked
transactions: every :data:`INTERVAL` seconds in the background (``PLANWISE_EVENT_ROLLUP_INTERVAL``;
in a low-priority child process unless ``PLANWISE_EVENT_ROLLUP=inline``: service/rollup_process.py),
and on demand before a report (in the serving process). A
chunk's transaction first moves the watermark from the value it read (conditional): two processes
never fold the same events; the loser leaves the rest to the other (a report reads what is not
folded yet from the events). On PostgreSQL, ids are taken from a sequence before commit, so a
lower id can become visible after a higher one: only events older than :data:`PG_LAG` seconds are
folded there (reports add the newer ones from the events themselves).
Rows of days older than the event retention, and of erased sessions, are deleted with their events;
a chunk read before an erasure is not written (the erasure counts itself in ``event_rollup_state``:
service/event_erasure.py) but folded again.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .background import Background, every
from .db.models import EventRollup as R
from .db.models import EventRollupItem, EventRollupState, utcnow
from .db.models import SessionEvent as E
from .event_names import VERSION_NAMES, EventNames
from .event_rollup_fold import Fold, Items, Key, Packed, event_query, fold_events, row_key

log = logging.getLogger(__name__)

#: Events folded per transaction at most, and rollup rows written (each row a session's day and
#: version): a chunk ends at whichever comes first, so a session's events of one catch-up are merged
#: into its row once, not once per few thousand events (each merge reads, unpacks and rewrites the
#: row: 53 -> 23 us of CPU per event with 2,000 active sessions, 17 -> 10 with 100; docs/insights.md).
#: Events are read :data:`PAGE` at a time. Seconds between background catch-ups; on PostgreSQL,
#: how old an event must be before it is folded (longer than any transaction of the group writer).
CHUNK = 10_000
ROWS = 2000
PAGE = 2000
INTERVAL = 30.0
PG_LAG = 30.0
STATE_ID = 1
#: Rollup rows the retention purge deletes per transaction at most.
PURGE_CHUNK = 5000


def retention_start(retention_days: int, now: datetime | None = None) -> datetime:
    """Events before this moment (the start of a UTC day) are purged: whole days, as the rollup."""
    day = ((now or utcnow()) - timedelta(days=retention_days)).date()
    return datetime.combine(day, datetime.min.time())


async def read_watermark(conn: Any, missing: int | None = 0) -> Any:
    """The highest event id folded (``missing`` when the state row is not there)."""
    query = select(EventRollupState.watermark).where(EventRollupState.id == STATE_ID)
    found = (await conn.execute(query)).scalar()
    return missing if found is None else int(found)


class Mark(NamedTuple):
    """The rollup's state when a chunk is read: the watermark, and how many erasures had run."""

    watermark: int
    erasures: int


#: Writes a chunk: moves the watermark from the mark's to the given id (conditionally) and writes
#: the merged rows, in one transaction; False when another fold moved it first or an erasure ran.
Apply = Callable[[Mark, int, "Merged"], Awaitable[bool]]


class CatchUps(Protocol):
    """Somewhere else to run the background catch-ups (service/rollup_process.py: a child process
    that reads and folds, and hands each chunk's writes to ``apply`` in this process)."""

    async def catch_up(self, apply: Apply, lag: float) -> int: ...

    async def close(self) -> None: ...


class _Moved(Exception):
    """Another process folded these events first."""


class EventRollup:
    """Keeps ``event_rollup`` up to date with ``session_events`` (see the module's docstring)."""

    def __init__(
        self,
        engine: AsyncEngine,
        retention_days: int,
        chunk: int = CHUNK,
        lag: float | None = None,
        rows: int = ROWS,
        background: CatchUps | None = None,
        interval: float = INTERVAL,
    ) -> None:
        self.engine = engine
        self.retention_days = retention_days
        self.chunk = chunk
        self.rows = rows
        self.lag = lag if lag is not None else (PG_LAG if engine.dialect.name == "postgresql" else 0.0)
        self._lock = asyncio.Lock()
        self._loop = Background("planwise-event-rollup")
        # Where the background catch-ups run: a low-priority child process (service/rollup_process.py),
        # or this process's event loop (None).
        self.background = background
        self.interval = interval

    def start(self) -> None:
        if self.background is None:
            self._loop.start(every(self.interval, self.catch_up, "fold session events into the rollup"))
        else:  # the child starts at the first interval's catch-up, not with the service
            what = "fold session events into the rollup"
            self._loop.start(every(self.interval, self._in_background, what, wait_first=True))

    async def _in_background(self) -> None:
        """A catch-up in the child process, when there is something to fold."""
        assert self.background is not None
        async with self.engine.connect() as conn:
            pending = await newest_event(conn) > await read_watermark(conn)
        if pending:
            await self.background.catch_up(self.apply, self.lag)

    async def stop(self) -> None:
        await self._loop.stop()
        if self.background is not None:
            await self.background.close()

    async def catch_up(self, apply: Apply | None = None) -> int:
        """Fold every event above the watermark (older than the lag); returns how many were read.

        Each chunk's writes go to ``apply`` (by default :meth:`apply`, here)."""
        async with self._lock:
            total = 0
            async with self.engine.connect() as conn:
                newest = await newest_event(conn)
            while True:
                try:
                    done, watermark = await self._chunk(apply)
                except _Moved:  # another process is folding right now: it carries on
                    return total
                total += done
                if done == 0 or watermark >= newest:
                    return total
                await asyncio.sleep(0)  # other work goes in between chunks

    async def _chunk(self, apply: Apply | None = None) -> tuple[int, int]:
        """Fold the next chunk. Everything is read and worked out before the write transaction, which
        only writes (the group writer waits for SQLite's lock no longer than that)."""
        async with self.engine.connect() as conn:
            mark = await self._mark(conn)
            rows = await self._read(conn, mark.watermark)
        if not rows:
            return 0, mark.watermark
        moved_to = rows[-1].id
        since = retention_start(self.retention_days) if self.retention_days > 0 else None
        folds = await asyncio.to_thread(fold_events, rows, since)  # the event loop keeps serving
        async with self.engine.connect() as conn:
            merged = await self._merge(conn, folds)
        if not await (apply or self.apply)(mark, moved_to, merged):
            raise _Moved
        return len(rows), moved_to

    async def apply(self, mark: Mark, moved_to: int, merged: Merged) -> bool:
        """Move the watermark from the mark's to ``moved_to`` and write ``merged``, in one
        transaction; False (nothing written) when another fold moved the watermark first, or an
        erasure ran since the chunk was read (it is folded again, without the erased events)."""
        async with self.engine.begin() as conn:
            # Rows read for ``merged`` change only by a fold that moved the watermark first (then
            # this one does not apply) or are deleted (purge: an update then writes nothing; an
            # erasure: counted, so this one does not apply).
            state = EventRollupState
            moved = await conn.execute(
                update(state)
                .where(
                    state.id == STATE_ID, state.watermark == mark.watermark, state.erasures == mark.erasures
                )
                .values(watermark=moved_to)
            )
            if moved.rowcount != 1:
                return False  # nothing written
            await self._apply(conn, merged)
        return True

    async def _read(self, conn: AsyncConnection, watermark: int) -> list[Any]:
        """The events of the next chunk: above ``watermark``, in id order, at most :attr:`chunk`
        of them and of at most :attr:`rows` rollup rows (settled ones only, with a lag)."""
        rows: list[Any] = []
        keys: set[Key] = set()
        after = watermark
        page = min(PAGE, self.chunk)
        while len(rows) < self.chunk:
            query = event_query().where(E.id > after).order_by(E.id)
            found = (await conn.execute(query.limit(min(page, self.chunk - len(rows))))).all()
            settled = _settled(found, self.lag, utcnow()) if self.lag else found
            for row in settled:
                key = row_key(row.at, row.version, row.session_id)
                if key not in keys:
                    if len(keys) >= self.rows:
                        return rows  # this event starts a row the next chunk writes
                    keys.add(key)
                rows.append(row)
            if len(settled) < page:
                return rows  # no more events (or only unsettled ones)
            after = rows[-1].id
        return rows

    async def _mark(self, conn: AsyncConnection) -> Mark:
        query = select(EventRollupState.watermark, EventRollupState.erasures)
        found = (await conn.execute(query.where(EventRollupState.id == STATE_ID))).first()
        if found is not None:
            return Mark(int(found.watermark), int(found.erasures))
        try:  # a schema made without the migration's row
            async with self.engine.begin() as other:
                await other.execute(insert(EventRollupState).values(id=STATE_ID, watermark=0, erasures=0))
        except IntegrityError:
            pass
        return Mark(0, 0)

    async def _merge(self, conn: AsyncConnection, folds: dict[Key, Fold]) -> Merged:
        """``folds`` in numbers, merged with the rows already there: what :meth:`_apply` writes."""
        if not folds:
            return Merged([], [], [])
        items = await Items.load(conn)
        names = await VERSION_NAMES.load(conn, (version for _, version, _ in folds))
        sessions = sorted({s for _, _, s in folds})
        found: list[Any] = []
        for start in range(0, len(sessions), 500):
            query = select(R).where(R.session_id.in_(sessions[start : start + 500]))
            found.extend(await conn.execute(query))
        return await asyncio.to_thread(_merged, folds, items, names, found)

    async def _apply(self, conn: AsyncConnection, merged: Merged) -> None:
        """Write ``merged`` (in the caller's transaction)."""
        if merged.items:
            await conn.execute(insert(EventRollupItem), merged.items)
        if merged.changed:
            same = (R.day == bindparam("_day"), R.version == bindparam("_version"))
            changed: dict[str, Any] = {c: bindparam(f"_{c}") for c in ("selected", "sets", "zero_answers")}
            rewrite = update(R).where(*same, R.session_id == bindparam("_session_id")).values(changed)
            await conn.execute(rewrite, [{f"_{k}": v for k, v in row.items()} for row in merged.changed])
        if merged.new:
            await conn.execute(insert(R), merged.new)

    async def purge(self, before: datetime) -> int:
        """Delete the rows of days before ``before`` (a day's start), as the events purge does: in
        short transactions of at most :data:`PURGE_CHUNK` rows; returns how many."""
        oldest = select(R.day, R.version, R.session_id).where(R.day < before.date()).limit(PURGE_CHUNK)
        key = (R.day == bindparam("d"), R.version == bindparam("v"), R.session_id == bindparam("s"))
        total = 0
        while True:
            async with self.engine.begin() as conn:
                rows = [{"d": d, "v": v, "s": s} for d, v, s in await conn.execute(oldest)]
                if rows:
                    await conn.execute(delete(R).where(*key), rows)
            total += len(rows)
            if len(rows) < PURGE_CHUNK:
                return total
            await asyncio.sleep(0)


#: The columns of an ``event_rollup`` row as :class:`Merged` carries it.
ROW_COLUMNS = ("day", "version", "session_id", "selected", "sets", "zero_answers")


@dataclass(frozen=True)
class Merged:
    """A chunk's writes: new item numbers, rows rewritten (merged) and rows added."""

    items: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    new: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """As JSON values (from the child process to the service): dates as text, ``sets`` in base64."""
        return {
            "items": self.items,
            "changed": [_row_to_json(row) for row in self.changed],
            "new": [_row_to_json(row) for row in self.new],
        }

    @classmethod
    def from_json(cls, found: dict[str, Any]) -> Merged:
        return cls(
            [{"id": int(i["id"]), "name": str(i["name"])} for i in found["items"]],
            [_row_from_json(row) for row in found["changed"]],
            [_row_from_json(row) for row in found["new"]],
        )


def _row_to_json(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "day": row["day"].isoformat(), "sets": base64.b64encode(row["sets"]).decode()}


def _row_from_json(row: dict[str, Any]) -> dict[str, Any]:
    found = {name: row[name] for name in ROW_COLUMNS}
    found["day"] = date.fromisoformat(row["day"])
    found["sets"] = base64.b64decode(row["sets"], validate=True)
    return found


def _merged(
    folds: dict[Key, Fold], items: Items, names: Mapping[int, EventNames], found: Sequence[Any]
) -> Merged:
    """The folds in numbers (new ids numbered in ``items``), merged into the rows ``found``."""
    packed = {key: fold.packed(items, names.get(key[1])) for key, fold in folds.items()}
    changed: list[dict[str, Any]] = []
    for row in found:
        key = (row.day, row.version, row.session_id)
        if key in packed:
            existing = Packed.read(row)
            existing.merge(packed.pop(key))
            changed.append(existing.row(*key))
    new = [numbers.row(*key) for key, numbers in packed.items()]
    return Merged([{"id": n, "name": name} for n, name in items.added], changed, new)


async def newest_event(conn: AsyncConnection) -> int:
    """The highest event id (0: none)."""
    return int((await conn.execute(select(E.id).order_by(E.id.desc()).limit(1))).scalar() or 0)


def _settled(rows: Sequence[Any], lag: float, now: datetime) -> list[Any]:
    """The leading events at least ``lag`` seconds old (a newer one stops the chunk: ids stay in
    order). An event stamped well in the future (a clock out of step) does not stop it: waiting for
    its time could hold the rollup back for as long."""
    cutoff, future = now - timedelta(seconds=lag), now + timedelta(seconds=lag)
    for n, row in enumerate(rows):
        if cutoff < row.at <= future:
            return list(rows[:n])
    return list(rows)
