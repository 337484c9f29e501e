"""The Insights rollup: session events folded per (UTC day, catalogue version, session), off the hot path.

A report over 1,000,000 events cannot expand every event's id lists in time (docs/insights.md);
it reads ``event_rollup`` instead, about one row per session, and merges each session's rows
(service/event_stats.py), so that every figure stays an exact count of distinct sessions.

One row (:class:`Fold`) holds what the session did that day in that version: answer changes and
those that left no plan, the last answer change (its event id and question ids), the last
selection (event id, plan) and each selection's rank, the sets of questions shown and answered,
rules fired and plans in the first three, and the answer combinations that left no plan. All but
the plan chosen and the combinations are one little-endian uint32 array, ``sets`` (:func:`pack`):
a report reads four columns per row; ids are numbers from ``event_rollup_items`` (:class:`Items`).

:class:`EventRollup` folds events above the watermark (``event_rollup_state``) in short chunked
transactions: every :data:`INTERVAL` seconds in the background, and on demand before a report. A
chunk's transaction first moves the watermark from the value it read (conditional): two processes
never fold the same events; the loser leaves the rest to the other (a report reads what is not
folded yet from the events). On PostgreSQL, ids are taken from a sequence
before commit, so a lower id can become visible after a higher one: only events older than
:data:`PG_LAG` seconds are folded there (reports add the newer ones from the events themselves).
Rows of days older than the event retention, and of erased sessions, are deleted with their events.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from array import array
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import Any

import orjson
from sqlalchemy import Text, bindparam, cast, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .background import Background, every
from .db.models import EventRollup as R
from .db.models import EventRollupItem, EventRollupState, utcnow
from .db.models import SessionEvent as E

log = logging.getLogger(__name__)

#: Events folded per transaction at most; seconds between background catch-ups; on PostgreSQL, how
#: old an event must be before it is folded (longer than any transaction of the group writer).
CHUNK = 2000
INTERVAL = 30.0
PG_LAG = 30.0
STATE_ID = 1

#: The columns of ``session_events`` a fold reads (``data`` as text: parsed with orjson).
EVENT_COLUMNS = (E.id, E.session_id, E.at, E.kind, E.version, E.matched, E.plan_id, E.rank)


def event_query() -> Any:
    return select(*EVENT_COLUMNS, cast(E.data, Text).label("data"))


#: The sections of a row's ``sets``: a header of one uint32 count per section, then the numbers.
SECTIONS = ("last_answered", "ranks", "visible", "answered", "fired", "top3")
#: ``sets`` starts with these words: answer changes, of them leaving no plan, the last answer's and
#: the last selection's event ids (0: none; low and high 32 bits), then one count per section.
HEAD = 6 + len(SECTIONS)


def pack(
    answers: int, zeros: int, answer_id: int, select_id: int, sections: Sequence[Sequence[int]]
) -> bytes:
    """``sets``: :data:`HEAD` words, then the numbers of ``sections`` (:data:`SECTIONS` order)."""
    found = array("I", [answers, zeros, answer_id & 0xFFFFFFFF, answer_id >> 32, select_id & 0xFFFFFFFF])
    found.append(select_id >> 32)
    found.extend(len(numbers) for numbers in sections)
    for numbers in sections:
        found.extend(numbers)
    if sys.byteorder == "big":  # pragma: no cover - little-endian on disk everywhere
        found.byteswap()
    return found.tobytes()


def unpack(blob: bytes) -> tuple[list[int], list[list[int]]]:
    """(answers, zeros, answer id, select id), and the sections' numbers."""
    found = array("I")
    found.frombytes(blob)
    if sys.byteorder == "big":  # pragma: no cover
        found.byteswap()
    head, numbers = found[:HEAD].tolist(), found[HEAD:].tolist()
    ends = list(accumulate(head[6:]))
    sections = [numbers[end - n : end] for n, end in zip(head[6:], ends, strict=True)]
    return [head[0], head[1], head[2] | head[3] << 32, head[4] | head[5] << 32], sections


assert array("I").itemsize == 4, "uint32 numbers"


class Items:
    """Numbers for the question, rule and plan ids (one namespace: a set's column says its kind)."""

    def __init__(self, rows: Iterable[tuple[int, str]] = ()) -> None:
        self.names: dict[int, str] = dict(rows)
        self.ids: dict[str, int] = {name: number for number, name in self.names.items()}
        self.added: list[tuple[int, str]] = []  # numbered here, not yet stored
        self.next = max(self.names, default=-1) + 1

    @classmethod
    async def load(cls, conn: Any) -> Items:
        return cls(
            (int(n), str(name))
            for n, name in await conn.execute(select(EventRollupItem.id, EventRollupItem.name))
        )

    def number(self, name: str) -> int:
        found = self.ids.get(name)
        if found is None:
            found = self.ids[name] = self.next
            self.names[found] = name
            self.added.append((found, name))
            self.next += 1
        return found

    def encode(self, names: Collection[str]) -> list[int]:
        if not self.ids.keys() >= (names if isinstance(names, set) else set(names)):  # any new ones
            for name in names:
                self.number(name)
        return sorted(map(self.ids.__getitem__, names))

    def decode(self, numbers: Iterable[int]) -> list[str]:
        return [self.names[n] for n in numbers]


@dataclass(slots=True)
class Fold:
    """What one session did on one day in one version (one rollup row, with ids as text)."""

    answers: int = 0
    zeros: int = 0
    answer_id: int | None = None
    last_answered: list[str] = field(default_factory=list)
    select_id: int | None = None
    selected: str | None = None
    ranks: list[int] = field(default_factory=list)  # 0: not shown
    visible: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)
    fired: set[str] = field(default_factory=set)
    top3: set[str] = field(default_factory=set)
    zero_answers: Counter[str] = field(default_factory=Counter)  # answers as JSON text -> changes

    def add(
        self, id: int, kind: str, matched: int | None, plan_id: str | None, rank: int | None, data: Any
    ) -> None:
        """Fold in one event (``data`` parsed)."""
        if kind == "select":
            self.ranks.append(rank or 0)
            if self.select_id is None or id > self.select_id:
                self.select_id, self.selected = id, plan_id
            return
        self.visible.update(data.get("visible") or ())
        if kind != "answer":
            return
        self.answers += 1
        answered = data.get("answered") or []
        self.answered.update(answered)
        self.fired.update(data.get("fired") or ())
        self.top3.update((data.get("shown") or [])[:3])
        if self.answer_id is None or id > self.answer_id:
            self.answer_id, self.last_answered = id, list(answered)
        if matched == 0:
            self.zeros += 1
            answers = data.get("answers")
            self.zero_answers[orjson.dumps(answers).decode() if answers is not None else "{}"] += 1

    def merge(self, other: Fold) -> None:
        self.answers += other.answers
        self.zeros += other.zeros
        if other.answer_id is not None and (self.answer_id is None or other.answer_id > self.answer_id):
            self.answer_id, self.last_answered = other.answer_id, other.last_answered
        if other.select_id is not None and (self.select_id is None or other.select_id > self.select_id):
            self.select_id, self.selected = other.select_id, other.selected
        self.ranks.extend(other.ranks)
        self.visible |= other.visible
        self.answered |= other.answered
        self.fired |= other.fired
        self.top3 |= other.top3
        self.zero_answers.update(other.zero_answers)

    def row(self, items: Items, day: date, version: int, session_id: str) -> dict[str, Any]:
        """The ``event_rollup`` row (new ids numbered in ``items``)."""
        sections = [
            items.encode(self.last_answered),
            self.ranks,
            items.encode(self.visible),
            items.encode(self.answered),
            items.encode(self.fired),
            items.encode(self.top3),
        ]
        return {
            "day": day,
            "version": version,
            "session_id": session_id,
            "selected": self.selected,
            "sets": pack(self.answers, self.zeros, self.answer_id or 0, self.select_id or 0, sections),
            "zero_answers": orjson.dumps(sorted(self.zero_answers.items())).decode()
            if self.zero_answers
            else None,
        }

    @classmethod
    def from_row(cls, row: Any, items: Items) -> Fold:
        (answers, zeros, answer_id, select_id), sections = unpack(row.sets)
        last, ranks, visible, answered, fired, top3 = sections
        return cls(
            answers,
            zeros,
            answer_id or None,
            items.decode(last),
            select_id or None,
            row.selected,
            ranks,
            set(items.decode(visible)),
            set(items.decode(answered)),
            set(items.decode(fired)),
            set(items.decode(top3)),
            Counter(dict(orjson.loads(row.zero_answers))) if row.zero_answers else Counter(),
        )


Key = tuple[date, int, str]  # (day, version, session id)


def fold_events(rows: Iterable[Any], since: datetime | None = None) -> dict[Key, Fold]:
    """Fold ``event_query()`` rows; events before ``since`` (purged by now) are left out."""
    folds: dict[Key, Fold] = {}
    for id, session_id, at, kind, version, matched, plan_id, rank, data in rows:
        if since is not None and at < since:
            continue
        key = (at.date(), version, session_id)
        found = folds.get(key)
        if found is None:
            found = folds[key] = Fold()
        found.add(id, kind, matched, plan_id, rank, orjson.loads(data) if data else {})
    return folds


def retention_start(retention_days: int, now: datetime | None = None) -> datetime:
    """Events before this moment (the start of a UTC day) are purged: whole days, as the rollup."""
    day = ((now or utcnow()) - timedelta(days=retention_days)).date()
    return datetime.combine(day, datetime.min.time())


async def read_watermark(conn: Any) -> int:
    found = (
        await conn.execute(select(EventRollupState.watermark).where(EventRollupState.id == STATE_ID))
    ).scalar()
    return int(found or 0)


class _Moved(Exception):
    """Another process folded these events first."""


class EventRollup:
    """Keeps ``event_rollup`` up to date with ``session_events`` (see the module's docstring)."""

    def __init__(
        self, engine: AsyncEngine, retention_days: int, chunk: int = CHUNK, lag: float | None = None
    ) -> None:
        self.engine = engine
        self.retention_days = retention_days
        self.chunk = chunk
        self.lag = lag if lag is not None else (PG_LAG if engine.dialect.name == "postgresql" else 0.0)
        self._lock = asyncio.Lock()
        self._loop = Background("planwise-event-rollup")

    def start(self) -> None:
        self._loop.start(every(INTERVAL, self.catch_up, "fold session events into the rollup"))

    async def stop(self) -> None:
        await self._loop.stop()

    async def catch_up(self) -> int:
        """Fold every event above the watermark (older than the lag); returns how many were read."""
        async with self._lock:
            total = 0
            async with self.engine.connect() as conn:
                newest = (await conn.execute(select(E.id).order_by(E.id.desc()).limit(1))).scalar() or 0
            while True:
                try:
                    done, watermark = await self._chunk()
                except _Moved:  # another process is folding right now: it carries on
                    return total
                total += done
                if done == 0 or watermark >= newest:
                    return total
                await asyncio.sleep(0)  # other work goes in between chunks

    async def _chunk(self) -> tuple[int, int]:
        async with self.engine.connect() as conn:
            watermark = await self._watermark(conn)
            rows = (
                await conn.execute(event_query().where(E.id > watermark).order_by(E.id).limit(self.chunk))
            ).all()
        if self.lag:
            rows = _settled(rows, self.lag, utcnow())
        if not rows:
            return 0, watermark
        moved_to = rows[-1].id
        since = retention_start(self.retention_days) if self.retention_days > 0 else None
        folds = await asyncio.to_thread(fold_events, rows, since)  # the event loop keeps serving
        async with self.engine.begin() as conn:
            moved = await conn.execute(
                update(EventRollupState)
                .where(EventRollupState.id == STATE_ID, EventRollupState.watermark == watermark)
                .values(watermark=moved_to)
            )
            if moved.rowcount != 1:
                raise _Moved
            await self._write(conn, folds)
        return len(rows), moved_to

    async def _watermark(self, conn: AsyncConnection) -> int:
        found = (
            await conn.execute(select(EventRollupState.watermark).where(EventRollupState.id == STATE_ID))
        ).scalar()
        if found is not None:
            return int(found)
        try:  # a schema made without the migration's row
            async with self.engine.begin() as other:
                await other.execute(insert(EventRollupState).values(id=STATE_ID, watermark=0))
        except IntegrityError:
            pass
        return 0

    async def _write(self, conn: AsyncConnection, folds: dict[Key, Fold]) -> None:
        """Merge ``folds`` into their rows (in the caller's transaction)."""
        if not folds:
            return
        items = await Items.load(conn)
        sessions = sorted({s for _, _, s in folds})
        stale: list[dict[str, Any]] = []
        for start in range(0, len(sessions), 500):
            part = sessions[start : start + 500]
            for row in await conn.execute(select(R).where(R.session_id.in_(part))):
                key = (row.day, row.version, row.session_id)
                if key in folds:
                    old = Fold.from_row(row, items)
                    old.merge(folds[key])
                    folds[key] = old
                    stale.append({"d": row.day, "v": row.version, "s": row.session_id})
        if stale:
            await conn.execute(
                delete(R).where(
                    R.day == bindparam("d"), R.version == bindparam("v"), R.session_id == bindparam("s")
                ),
                stale,
            )
        rows = [fold.row(items, *key) for key, fold in folds.items()]
        if items.added:
            await conn.execute(insert(EventRollupItem), [{"id": n, "name": name} for n, name in items.added])
        await conn.execute(insert(R), rows)
        # A session erased while its events were being folded: its rows go too.
        for start in range(0, len(sessions), 500):
            part = sessions[start : start + 500]
            await conn.execute(
                delete(R).where(R.session_id.in_(part), ~exists().where(E.session_id == R.session_id))
            )

    async def purge(self, before: datetime) -> int:
        """Delete the rows of days before ``before`` (a day's start), as the events purge does."""
        async with self.engine.begin() as conn:
            gone = await conn.execute(delete(R).where(R.day < before.date()))
        return gone.rowcount or 0


def _settled(rows: Sequence[Any], lag: float, now: datetime) -> list[Any]:
    """The leading events at least ``lag`` seconds old (a newer one stops the chunk: ids stay in
    order). An event stamped well in the future (a clock out of step) does not stop it: waiting for
    its time could hold the rollup back for as long."""
    cutoff, future = now - timedelta(seconds=lag), now + timedelta(seconds=lag)
    for n, row in enumerate(rows):
        if cutoff < row.at <= future:
            return list(rows[:n])
    return list(rows)
