"""The SQLite group writer: a whole batch in ONE thread hop on a raw ``sqlite3`` connection.

Through SQLAlchemy's async engine and aiosqlite a one-answer transaction took five thread hops,
625–936 µs of wall time and ~400 µs of CPU (bench/ws_load.py profile); the same UPDATE+COMMIT on a
plain connection costs ~70 µs. The hot path uses this writer on SQLite; the ORM keeps serving reads
and the admin. Values are written in the formats SQLAlchemy reads back (JSON text, ISO datetimes).
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

_SQL = {
    "insert_session": (
        "INSERT INTO sessions (id, user_sub, answers, revision, selection_id, created_at, updated_at) "
        "VALUES (:id, :user_sub, :answers, :revision, :selection_id, :created_at, :updated_at)"
    ),
    "update_answers": (
        "UPDATE sessions SET answers = :b_answers, revision = :b_revision, updated_at = :b_now "
        "WHERE id = :sid AND revision = :b_expected"
    ),
    "insert_selection": (
        "INSERT INTO selections "
        "(id, session_id, plan_id, revision, version, rank, idempotency_key, created_at) "
        "VALUES (:id, :session_id, :plan_id, :revision, :version, :rank, :idempotency_key, :created_at)"
    ),
    "set_selection": "UPDATE sessions SET selection_id = :b_selection, updated_at = :b_now WHERE id = :sid",
}
_JSON_KEYS = {"answers", "b_answers"}


def _sql_value(key: str, value: Any) -> Any:
    if key in _JSON_KEYS:
        return orjson.dumps(value).decode()
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite DATETIME format
    return value


class SqliteBatchCommitter:
    """Owns one sqlite3 connection, used only from its own single thread."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="planwise-sqlite-writer")
        self._conn: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _commit_sync(self, batch: list[tuple[str, dict[str, Any]]]) -> set[int]:
        if self._conn is None:
            self._conn = self._open()
        conn = self._conn
        conflicts: set[int] = set()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for i, (kind, params) in enumerate(batch):
                cursor = conn.execute(_SQL[kind], {k: _sql_value(k, v) for k, v in params.items()})
                if kind == "update_answers" and cursor.rowcount != 1:
                    conflicts.add(i)  # another process committed this session's next revision first
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return conflicts

    async def commit(self, batch: list[tuple[str, dict[str, Any]]]) -> set[int]:
        """Commit the batch in one transaction; the indexes of conditional updates that lost."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._commit_sync, batch)

    def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._executor.submit(_close).result(timeout=10)
        self._executor.shutdown(wait=True)
