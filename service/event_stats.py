"""Insights aggregates for the admin: the rollup's rows merged per session, exact on any period.

A period (``at`` in [start, end), and the catalogue version when given) is read as:

- the ``event_rollup`` rows (service/event_rollup.py) of the whole UTC days inside it, which hold
  the events up to the watermark;
- the events themselves where the rollup does not answer: those above the watermark (not folded
  yet), and those of a partly covered first or last day; they are folded here the same way.

Every row of one session is then merged (numpy over the id arrays): a session active on several
days or versions of the period counts once. Watermark, rows and events are read between two reads
of the watermark; a catch-up that committed in between (the watermark moved) makes it read again.
Counts are of sessions unless the name says otherwise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
import orjson
from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from .db.models import EventRollup as R
from .db.models import SessionEvent as E
from .event_names import VERSION_NAMES, EventNames
from .event_rollup import read_watermark
from .event_rollup_fold import HEAD, SECTIONS, Fold, Items, event_query, fold_events

#: How many answer combinations leading to no plan are listed.
TOP_ZERO = 10
#: Reads of one period at most before it gives up waiting for a quiet watermark (then it uses the last).
READS = 5


@dataclass(frozen=True)
class Period:
    """Events with ``start <= at < end`` (UTC), of one catalogue version or of all (None)."""

    start: datetime
    end: datetime
    version: int | None = None

    def where(self, *kinds: str) -> ColumnElement[bool]:
        found = [E.at >= self.start, E.at < self.end]
        if self.version is not None:
            found.append(E.version == self.version)
        if kinds:
            found.append(E.kind.in_(kinds))
        return and_(*found)

    def whole_days(self) -> tuple[date, date] | None:
        """The UTC days entirely inside the period, as [first, after) (None: not one)."""
        first = self.start.date() + timedelta(days=0 if self.start.time() == datetime.min.time() else 1)
        after = self.end.date()
        return (first, after) if first < after else None


@dataclass
class Stats:
    """The numbers of one period; the admin adds the version's items with zeros (admin/insights.py)."""

    sessions: int = 0
    answer_changes: int = 0
    zero_changes: int = 0
    shown: dict[str, int] = field(default_factory=dict)  # question -> sessions it was visible in
    answered: dict[str, int] = field(default_factory=dict)
    last_answered: dict[str, int] = field(default_factory=dict)
    fired: dict[str, int] = field(default_factory=dict)  # rule -> sessions it fired in
    top3: dict[str, int] = field(default_factory=dict)  # plan -> sessions it was in the first three
    selected: dict[str, int] = field(default_factory=dict)  # plan -> sessions whose last choice it is
    selections: int = 0  # select events
    by_rank: Counter[int | None] = field(default_factory=Counter)  # select events by rank (None: not shown)
    zero_answers: list[tuple[dict[str, Any], int]] = field(default_factory=list)  # (answers, changes)


ROLLUP_COLUMNS = (R.session_id, R.selected, R.sets, R.zero_answers)


class Columns(NamedTuple):
    """Rollup rows (and folded events) as columns, one entry per row, in ``ROLLUP_COLUMNS`` order."""

    session: tuple[str, ...]
    selected: tuple[str | None, ...]
    sets: tuple[bytes, ...]
    zero_answers: tuple[str | None, ...]  # JSON


def _as_row(
    fold: Fold, items: Items, names: EventNames | None, key: tuple[date, int, str]
) -> tuple[Any, ...]:
    row = fold.row(items, names, *key)
    return row["session_id"], row["selected"], row["sets"], row["zero_answers"]


async def _read(session: AsyncSession, period: Period) -> tuple[Columns, Items]:
    """The period's rollup rows and folded events, read between two equal watermarks."""
    conn = await session.connection()
    for _ in range(READS):
        watermark = await read_watermark(conn)
        rows: list[Any] = []
        items = Items()
        days = period.whole_days()
        if days is not None:
            query = select(*ROLLUP_COLUMNS).where(R.day >= days[0], R.day < days[1])
            if period.version is not None:
                query = query.where(R.version == period.version)
            rows = list((await conn.execute(query)).all())
            items = await Items.load(conn)
        # Not folded yet: every event above the watermark (the primary key's range), kept if in the period.
        events = [e for e in await conn.execute(event_query().where(E.id > watermark)) if _inside(e, period)]
        # The partly covered first and last day, up to the watermark.
        edges = (
            [(period.start, period.end)]
            if days is None
            else [(period.start, _midnight(days[0])), (_midnight(days[1]), period.end)]
        )
        for start, end in edges:
            if start < end:
                query = event_query().where(Period(start, end, period.version).where(), E.id <= watermark)
                events.extend(await conn.execute(query))
        if await read_watermark(conn) == watermark:
            break
    folds = fold_events(events)
    names = await VERSION_NAMES.load(conn, (version for _, version, _ in folds))
    rows.extend(_as_row(fold, items, names.get(key[1]), key) for key, fold in folds.items())
    empty: list[tuple[()]] = [()] * len(Columns._fields)
    return Columns._make(zip(*rows, strict=True) if rows else empty), items


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def _inside(event: Any, period: Period) -> bool:
    return period.start <= event.at < period.end and (
        period.version is None or event.version == period.version
    )


@dataclass
class Sets:
    """The rows' ``sets`` decoded (event_rollup_fold.pack): head words by row, each section's numbers."""

    head: np.ndarray  # (rows, HEAD)
    numbers: dict[str, np.ndarray]  # section -> its numbers, row after row
    counts: dict[str, np.ndarray]  # section -> how many each row has

    @classmethod
    def read(cls, blobs: Sequence[bytes]) -> Sets:
        words = np.frombuffer(b"".join(blobs), "<u4")
        lengths = np.fromiter(map(len, blobs), np.int64, count=len(blobs)) // 4
        heads = (np.cumsum(lengths) - lengths)[:, None] + np.arange(HEAD)
        head = words[heads].astype(np.int64)
        sizes = head[:, HEAD - len(SECTIONS) :]
        starts = heads[:, -1:] + 1 + np.cumsum(sizes, axis=1) - sizes  # where each section begins
        numbers, counts = {}, {}
        for k, name in enumerate(SECTIONS):
            n = sizes[:, k]
            # Every position of every row's section: one range per row, from a repeat and an arange.
            at = np.repeat(starts[:, k] - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))
            numbers[name], counts[name] = words[at].astype(np.int64), n
        return cls(head, numbers, counts)

    def event_ids(self, low: int) -> np.ndarray:
        return np.asarray(self.head[:, low] | (self.head[:, low + 1] << 32))


def _sessions_per_id(sets: Sets, name: str, alone: int, owner: np.ndarray, size: int) -> np.ndarray:
    """For each id, how many sessions have it in at least one of their rows' ``name`` sets.

    Rows come ordered: first the ``alone`` rows of sessions with one row (their sets are the
    sessions'), then the others, whose (session, id) pairs are made distinct first."""
    ids, n = sets.numbers[name], sets.counts[name]
    split = int(n[:alone].sum())
    found = np.bincount(ids[:split], minlength=size)
    if split < len(ids):
        pairs = np.sort(np.repeat(owner[alone:], n[alone:]) * size + ids[split:])  # np.unique: slower
        distinct = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]
        found += np.bincount(distinct % size, minlength=size)
    return found


def _last_rows(event_ids: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """The row of each session holding its highest event id (sessions with one at all)."""
    rows = np.nonzero(event_ids > 0)[0]
    rows = rows[np.lexsort((event_ids[rows], owner[rows]))]
    owners = owner[rows]
    return rows[np.r_[owners[1:] != owners[:-1], True]] if len(rows) else rows


def _named(counts: np.ndarray, items: Items) -> dict[str, int]:
    return {items.names[int(i)]: int(counts[i]) for i in np.nonzero(counts)[0]}


async def stats(session: AsyncSession, period: Period) -> Stats:
    """Every figure of the Insights page and export for ``period``."""
    rows, items = await _read(session, period)
    found = Stats()
    if not rows.session:
        return found
    last_row = {session: n for n, session in enumerate(rows.session)}  # a row number per session
    owner = np.fromiter(map(last_row.__getitem__, rows.session), np.int64, len(rows.session))
    shared = np.bincount(owner, minlength=len(owner))[owner] > 1
    order = np.argsort(shared, kind="stable")  # sessions with one row first
    alone = len(order) - int(shared.sum())
    owner = owner[order]
    sets = Sets.read([rows.sets[i] for i in order])
    size = items.next
    found.sessions = len(last_row)
    found.answer_changes = int(sets.head[:, 0].sum())
    found.zero_changes = int(sets.head[:, 1].sum())
    found.shown = _named(_sessions_per_id(sets, "visible", alone, owner, size), items)
    found.answered = _named(_sessions_per_id(sets, "answered", alone, owner, size), items)
    found.fired = _named(_sessions_per_id(sets, "fired", alone, owner, size), items)
    found.top3 = _named(_sessions_per_id(sets, "top3", alone, owner, size), items)

    chosen = np.zeros(len(owner), bool)
    chosen[_last_rows(sets.event_ids(2), owner)] = True
    ids, n = sets.numbers["last_answered"], sets.counts["last_answered"]
    found.last_answered = _named(np.bincount(ids[np.repeat(chosen, n)], minlength=size), items)
    last = order[_last_rows(sets.event_ids(4), owner)]
    found.selected = dict(Counter(str(rows.selected[i]) for i in last))

    ranks = sets.numbers["ranks"]
    found.by_rank = Counter({(int(r) or None): int(n) for r, n in enumerate(np.bincount(ranks)) if n})
    found.selections = len(ranks)

    combos: Counter[str] = Counter()
    for text in rows.zero_answers:
        for answers, count in orjson.loads(text) if text else ():
            combos[answers] += count
    top = sorted(combos.items(), key=lambda pair: (-pair[1], pair[0]))[:TOP_ZERO]
    found.zero_answers = [(orjson.loads(text), count) for text, count in top]
    return found
