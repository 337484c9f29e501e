"""The hot-path session store: an in-memory cache in front of a group-committing writer.

Nothing is acknowledged before it is durable: every change is queued to one writer task that
commits whatever is queued in one transaction, then resolves the callers' futures.

Several processes may serve the same session (``--workers``, several hosts on PostgreSQL): an
answers update only applies on top of the revision this process last saw (``WHERE revision =
expected``, checked by the rowcount, no extra round trip); otherwise the caller gets ``Conflict``,
reloads the session and re-applies its change.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .db.models import PlanSession, Selection, utcnow
from .group_writer import Conflict, Event, GroupWriter, Op

__all__ = ["Conflict", "Event", "SessionState", "SessionStore", "new_id"]


def new_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(15)


@dataclass
class SessionState:
    """What the service knows about one session; mutated only under its lock."""

    id: str
    user_sub: str | None
    answers: dict[str, Any]
    revision: int
    selection: dict[str, Any] | None = None
    #: The unverified ``userId`` label (Socket.IO): kept with the session, never used to find one.
    label: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)


class SessionStore:
    """Sessions and selections: cached in memory, written through the group writer."""

    def __init__(self, engine: AsyncEngine, cache_size: int = 50_000) -> None:
        self.engine = engine
        self.writer = GroupWriter(engine)
        self._cache: OrderedDict[str, SessionState] = OrderedDict()
        self._cache_size = cache_size

    def start(self) -> None:
        self.writer.start()

    async def stop(self) -> None:
        await self.writer.stop()

    def _remember(self, state: SessionState) -> SessionState:
        self._cache[state.id] = state
        self._cache.move_to_end(state.id)
        while len(self._cache) > self._cache_size:
            oldest, old = next(iter(self._cache.items()))
            if old.lock.locked():
                break
            del self._cache[oldest]
        return state

    async def create(self, user_sub: str | None = None, event: Event | None = None) -> SessionState:
        """A new session (and its ``start`` event, in the same transaction)."""
        now = utcnow()
        state = SessionState(new_id("s_"), user_sub, {}, 0)
        row: dict[str, Any] = {
            "id": state.id,
            "user_sub": user_sub,
            "user_label": None,
            "answers": {},
            "revision": 0,
            "selection_id": None,
            "created_at": now,
            "updated_at": now,
        }
        await self.writer.write(("insert_session", row), *_event(state, event))
        return self._remember(state)

    def record(self, state: SessionState, event: Event | None) -> None:
        """An event with no write of its own (a resume): queued, committed with the next batch."""
        if event is not None:
            self.writer.write_later(*_event(state, event))

    def cached(self, session_id: str) -> SessionState | None:
        """The session if this process holds it in memory (no database access)."""
        return self._cache.get(session_id)

    def cached_count(self) -> int:
        return len(self._cache)

    def cached_ids(self) -> list[str]:
        return list(self._cache)

    async def reload(self, state: SessionState) -> bool:
        """Refresh ``state`` in place from the database (hold ``state.lock``); False if it is gone."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(PlanSession).where(PlanSession.id == state.id))).first()
            if row is None:
                return False
            selection = await self._load_selection(conn, row.selection_id)
        state.user_sub = row.user_sub
        state.label = row.user_label
        state.answers = dict(row.answers)
        state.revision = row.revision
        state.selection = selection
        return True

    async def get(self, session_id: str, fresh: bool = False) -> SessionState | None:
        """The session, from memory or the database (None if there is none).

        ``fresh``: a copy held in memory is first checked against the stored revision and selection
        (one read by primary key) and reloaded if another process changed it: read-your-writes when
        several processes serve the same sessions.
        """
        state = self._cache.get(session_id)
        if state is not None:
            self._cache.move_to_end(session_id)
            if fresh and not await self.catch_up(state):
                return None
            return state
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(PlanSession).where(PlanSession.id == session_id))).first()
            if row is None:
                return None
            selection = await self._load_selection(conn, row.selection_id)
        cached = self._cache.get(session_id)  # another task may have loaded it meanwhile
        if cached is not None:
            return cached
        return self._remember(
            SessionState(row.id, row.user_sub, dict(row.answers), row.revision, selection, row.user_label)
        )

    async def catch_up(self, state: SessionState) -> bool:
        """Reload ``state`` if the stored revision or selection differs (do not hold its lock).

        False if the session no longer exists (it is dropped from memory).
        """
        query = select(PlanSession.revision, PlanSession.selection_id).where(PlanSession.id == state.id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            self._cache.pop(state.id, None)
            return False
        if row.revision == state.revision and row.selection_id == (state.selection or {}).get("selectionId"):
            return True
        async with state.lock:  # ordered with this process's own writes to the session
            if not await self.reload(state):
                self._cache.pop(state.id, None)
                return False
        return True

    def forget(self, session_id: str) -> None:
        """Drop a session from memory (it was erased, or nobody watched it for a while: the hub
        forgot it). A later read loads it from the database again."""
        self._cache.pop(session_id, None)

    async def latest_for_user(self, user_sub: str, fresh: bool = False) -> SessionState | None:
        async with self.engine.connect() as conn:
            sid = (
                await conn.execute(
                    select(PlanSession.id)
                    .where(PlanSession.user_sub == user_sub)
                    .order_by(PlanSession.updated_at.desc(), PlanSession.created_at.desc())
                    .limit(1)
                )
            ).scalar()
        return await self.get(sid, fresh) if sid else None

    async def save_answers(
        self, state: SessionState, answers: dict[str, Any], revision: int, event: Event | None = None
    ) -> None:
        """Commit answers, revision and their event, then apply them to ``state`` (hold ``state.lock``).

        Raises ``Conflict`` when the stored revision is no longer ``state.revision`` (another
        process wrote first): nothing was written, the event neither; reload and re-apply.
        """
        params = {
            "sid": state.id,
            "b_expected": state.revision,
            "b_answers": answers,
            "b_revision": revision,
            "b_now": utcnow(),
        }
        await self.writer.write(("update_answers", params), *_event(state, event))
        state.answers = answers
        state.revision = revision

    async def save_label(self, state: SessionState, label: str) -> None:
        """Keep the unverified ``userId`` label on the session (hold ``state.lock``)."""
        await self.writer.write(("set_label", {"sid": state.id, "b_label": label}))
        state.label = label

    async def find_selection(self, state: SessionState, key: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(Selection).where(
                        Selection.session_id == state.id, Selection.idempotency_key == key
                    )
                )
            ).first()
        return _selection_payload(row) if row else None

    async def save_selection(
        self,
        state: SessionState,
        plan_id: str,
        version: int,
        rank: int | None,
        key: str | None,
        event: Event | None = None,
    ) -> dict[str, Any]:
        """Commit a selection and make it the session's current one (hold ``state.lock``)."""
        now = utcnow()
        selection_id = new_id("sel_")
        row = {
            "id": selection_id,
            "session_id": state.id,
            "plan_id": plan_id,
            "revision": state.revision,
            "version": version,
            "rank": rank,
            "idempotency_key": key,
            "created_at": now,
        }
        await self.writer.write(
            ("insert_selection", row),
            ("set_selection", {"sid": state.id, "b_selection": selection_id, "b_now": now}),
            *_event(state, event),
        )
        state.selection = _selection_payload(_Row(row))
        return state.selection

    async def _load_selection(self, conn: AsyncConnection, selection_id: str | None) -> dict[str, Any] | None:
        if not selection_id:
            return None
        row = (await conn.execute(select(Selection).where(Selection.id == selection_id))).first()
        return _selection_payload(row) if row else None


def _event(state: SessionState, event: Event | None) -> tuple[Op, ...]:
    """The event's write (service/events.py), with the session's id; none when events are off."""
    return () if event is None else (("insert_event", {**event, "session_id": state.id}),)


class _Row:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _selection_payload(row: Any) -> dict[str, Any]:
    created: datetime = row.created_at
    return {
        "selectionId": row.id,
        "planId": row.plan_id,
        "revision": row.revision,
        "version": row.version,
        "createdAt": created.isoformat(timespec="milliseconds") + "Z",
    }
