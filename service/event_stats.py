"""Insights aggregates over ``session_events``, in SQL (SQLite and PostgreSQL), for the admin.

Each figure is one ``GROUP BY`` over the events of the period (``at`` in [start, end), and the
catalogue version when given; indexes ``ix_session_events_at`` and ``ix_session_events_version_at``).
The id lists inside ``data`` are expanded in SQL: ``json_each`` on SQLite,
``json_array_elements_text`` on PostgreSQL. Counts are of sessions unless the name says otherwise.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, String, and_, cast, distinct, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from .db.models import SessionEvent as E

#: How many answer combinations leading to no plan are listed.
TOP_ZERO = 10


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


def _postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _elements(session: AsyncSession, key: str) -> Any:
    """The elements of ``data[key]`` as rows (``value`` text, ``pos`` from 0), joined per event."""
    if _postgresql(session):
        elements = (
            func.json_array_elements_text(E.data[key])
            .table_valued("value", with_ordinality="pos")
            .render_derived()
        )
        return elements, elements.c.pos - 1
    elements = func.json_each(E.data, f"$.{key}").table_valued("key", "value")
    return elements, elements.c.key


def _json_text(session: AsyncSession, key: str) -> ColumnElement[Any]:
    if _postgresql(session):
        return cast(E.data[key], String)
    return func.json_extract(E.data, f"$.{key}")


async def _per_item(
    session: AsyncSession, period: Period, key: str, kinds: tuple[str, ...], first: int | None = None
) -> dict[str, int]:
    elements, pos = _elements(session, key)
    query: Select[Any] = (
        select(elements.c.value, func.count(distinct(E.session_id)))
        .select_from(E)
        .join(elements, true())
        .where(period.where(*kinds))
        .group_by(elements.c.value)
    )
    if first is not None:
        query = query.where(pos < first)
    return {str(value): int(count) for value, count in await session.execute(query)}


def _last_per_session(session: AsyncSession, period: Period, kind: str) -> Any:
    """The id of each session's last event of ``kind`` in the period, as a subquery."""
    return (
        select(func.max(E.id).label("id")).where(period.where(kind)).group_by(E.session_id).subquery("last")
    )


async def stats(session: AsyncSession, period: Period) -> Stats:
    """Every figure of the Insights page and export for ``period``."""
    found = Stats()
    counts = select(
        func.count(distinct(E.session_id)),
        func.count().filter(E.kind == "answer"),
        func.count().filter(and_(E.kind == "answer", E.matched == 0)),
    ).where(period.where())
    found.sessions, found.answer_changes, found.zero_changes = (
        int(n or 0) for n in (await session.execute(counts)).one()
    )
    if not found.sessions:
        return found
    found.shown = await _per_item(session, period, "visible", ("start", "resume", "answer"))
    found.answered = await _per_item(session, period, "answered", ("answer",))
    found.fired = await _per_item(session, period, "fired", ("answer",))
    found.top3 = await _per_item(session, period, "shown", ("answer",), first=3)

    last = _last_per_session(session, period, "answer")
    elements, _ = _elements(session, "answered")
    query = (
        select(elements.c.value, func.count())
        .select_from(E)
        .join(last, last.c.id == E.id)
        .join(elements, true())
        .group_by(elements.c.value)
    )
    found.last_answered = {str(v): int(n) for v, n in await session.execute(query)}

    last = _last_per_session(session, period, "select")
    query = select(E.plan_id, func.count()).join(last, last.c.id == E.id).group_by(E.plan_id)
    found.selected = {str(p): int(n) for p, n in await session.execute(query)}
    query = select(E.rank, func.count()).where(period.where("select")).group_by(E.rank)
    found.by_rank = Counter({r: int(n) for r, n in await session.execute(query)})
    found.selections = sum(found.by_rank.values())

    if found.zero_changes:
        combo = _json_text(session, "answers")
        query = (
            select(combo, func.count().label("n"))
            .where(period.where("answer"), E.matched == 0)
            .group_by(combo)
            .order_by(func.count().desc(), combo)
            .limit(TOP_ZERO)
        )
        found.zero_answers = [
            (orjson.loads(text or "{}"), int(n)) for text, n in await session.execute(query)
        ]
    return found
