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
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import UpdateBase

from .db.engine import sqlite_path
from .db.models import PlanSession, Selection, SessionEvent, utcnow
from .metrics import COMMIT_SECONDS
from .sqlite_writer import SqliteBatchCommitter

Event = dict[str, Any]  # a row of session_events (service/events.py builds them)

log = logging.getLogger(__name__)


class Conflict(Exception):
    """Another process committed a newer revision of the session first: reload and re-apply."""


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
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)


def _bind(name: str) -> Any:
    return bindparam(name)


#: Every write of the hot path, by kind, built from the models' tables (the only description of
#: them); the inserts take a value for every column. On SQLite these are compiled once to SQL text
#: for the raw connection (sqlite_writer.py); elsewhere the engine runs them (and caches them).
WRITES: dict[str, UpdateBase] = {
    "insert_session": insert(PlanSession),
    "update_answers": update(PlanSession)
    .where(PlanSession.id == _bind("sid"), PlanSession.revision == _bind("b_expected"))
    .values(answers=_bind("b_answers"), revision=_bind("b_revision"), updated_at=_bind("b_now")),
    "insert_selection": insert(Selection),
    "set_selection": update(PlanSession)
    .where(PlanSession.id == _bind("sid"))
    .values(selection_id=_bind("b_selection"), updated_at=_bind("b_now")),
    # Every column but the id (the database numbers the rows).
    "insert_event": insert(SessionEvent).values(
        {c.name: _bind(c.name) for c in SessionEvent.__table__.columns if c.name != "id"}
    ),
}
#: The conditional write: it applies only on top of the expected revision; a rowcount of 0 = lost.
#: The rest of its group (its event) is then skipped.
CONDITIONAL = "update_answers"
#: Append-only writes (service/events.py): run after the batch's other writes, one executemany per
#: kind, for the groups that were not lost.
APPEND_ONLY = frozenset({"insert_event"})

Op = tuple[str, dict[str, Any]]


class GroupWriter:
    """One task that commits queued writes in batches (one transaction per batch)."""

    def __init__(self, engine: AsyncEngine, max_batch: int = 256) -> None:
        self._engine = engine
        path = sqlite_path(engine.url)
        # A SQLite file: the whole batch in one thread hop on a raw connection (see sqlite_writer.py).
        self._sqlite = (
            SqliteBatchCommitter(path, WRITES, CONDITIONAL, APPEND_ONLY) if path is not None else None
        )
        # A group of writes that commit together (or not at all), and who waits for them (None:
        # nobody, see write_later).
        self._queue: asyncio.Queue[tuple[tuple[Op, ...], asyncio.Future[None] | None]] = asyncio.Queue()
        self._max_batch = max_batch
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="planwise-group-writer")

    async def stop(self) -> None:
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._sqlite is not None:
            await asyncio.to_thread(self._sqlite.close)

    async def write(self, *ops: Op) -> None:
        """Queue writes and wait until they are committed (all in the same transaction)."""
        if self._task is None:
            raise RuntimeError("the writer is not running")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((ops, fut))
        await fut

    def write_later(self, *ops: Op) -> None:
        """Queue writes that nobody waits for: they join the next group commit (a failure is logged)."""
        if self._task is None:
            return  # the writer stopped (shutting down): nobody waits for these, they are dropped
        self._queue.put_nowait((ops, None))

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            conflicts: set[int] = set()
            error: BaseException | None = None
            try:
                with COMMIT_SECONDS.time():
                    conflicts = await self._commit(batch)
            except Exception as exc:  # the callers learn it; the writer goes on
                log.exception("group commit of %d writes failed", len(batch))
                error = exc
            for i, (_, fut) in enumerate(batch):
                if fut is None or fut.done():
                    pass
                elif error is not None:
                    fut.set_exception(error)
                elif i in conflicts:
                    fut.set_exception(Conflict())
                else:
                    fut.set_result(None)
                self._queue.task_done()

    async def _commit(self, batch: list[tuple[tuple[Op, ...], asyncio.Future[None] | None]]) -> set[int]:
        """Commit the batch in one transaction; returns the indexes of the groups that lost."""
        groups = [ops for ops, _ in batch]
        if self._sqlite is not None:
            return await self._sqlite.commit(groups)
        conflicts: set[int] = set()
        appended: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        run: list[dict[str, Any]] = []
        run_kind = ""
        async with self._engine.begin() as conn:  # PostgreSQL (asyncpg), or an in-memory SQLite
            # Consecutive unconditional writes of one kind go in one executemany; order between
            # kinds is kept. A conditional update is its own statement, checked by its rowcount
            # (asyncpg reports no rowcount for an executemany); when it lost, the rest of its
            # group is skipped. Append-only rows go last, one executemany per kind.
            for i, ops in enumerate(groups):
                for kind, params in ops:
                    if kind in APPEND_ONLY:
                        appended.setdefault(kind, []).append((i, params))
                        continue
                    if run and (kind != run_kind or kind == CONDITIONAL):
                        await conn.execute(WRITES[run_kind], run)
                        run = []
                    if kind == CONDITIONAL:
                        if (await conn.execute(WRITES[kind], params)).rowcount != 1:
                            conflicts.add(i)
                            break
                    else:
                        run_kind = kind
                        run.append(params)
            if run:
                await conn.execute(WRITES[run_kind], run)
            for kind, rows in appended.items():
                kept = [params for i, params in rows if i not in conflicts]
                if kept:
                    await conn.execute(WRITES[kind], kept)
        return conflicts


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
        return self._remember(SessionState(row.id, row.user_sub, dict(row.answers), row.revision, selection))

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
        """Drop a session from memory (it was erased)."""
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
