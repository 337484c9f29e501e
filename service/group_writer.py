"""The group writer of the session store: queued writes committed in batches, one transaction each.

Every write of the hot path is one of ``WRITES`` (built from the models' tables). An answers update
only applies on top of the revision its process last saw (``CONDITIONAL``, checked by the rowcount);
when it loses, the rest of its group is skipped and its caller gets ``Conflict``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import UpdateBase

from .db.engine import sqlite_path
from .db.models import PlanSession, Selection, SessionEvent
from .metrics import COMMIT_SECONDS
from .sqlite_writer import SqliteBatchCommitter

Event = dict[str, Any]  # a row of session_events (service/events.py builds them)

log = logging.getLogger(__name__)


class Conflict(Exception):
    """Another process committed a newer revision of the session first: reload and re-apply."""


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
    "set_label": update(PlanSession)
    .where(PlanSession.id == _bind("sid"))
    .values(user_label=_bind("b_label")),
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
