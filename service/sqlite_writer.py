"""The SQLite group writer: a whole batch in ONE thread hop on a raw ``sqlite3`` connection.

Through SQLAlchemy's async engine and aiosqlite a one-answer transaction took five thread hops,
625–936 µs of wall time and ~400 µs of CPU (bench/ws_load.py profile); the same UPDATE+COMMIT on a
plain connection costs ~70 µs. The hot path uses this writer on SQLite; the ORM keeps serving reads
and the admin.

The statements are the store's Core statements (``group_writer.WRITES``), compiled here once to SQLite
text, and each value goes through its column type's own bind processor (JSON with ``orjson``), so
the rows are exactly what SQLAlchemy writes and reads back: the table is described only by its model.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.sql.expression import UpdateBase

from .db.engine import set_sqlite_pragmas

#: The statement compiled to ``:name`` SQL text, and the values that need converting, with how.
Compiled = tuple[str, tuple[tuple[str, Callable[[Any], Any]], ...]]


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


#: SQLAlchemy's default text form of a datetime on SQLite (``sqlite.DATETIME``), which this writer
#: must write exactly as the ORM does (the ORM reads these rows back).
SQLITE_DATETIME_FORMAT = sqlite.DATETIME._storage_format  # noqa: SLF001 - the documented default


def _fast_datetime(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The same text as SQLAlchemy's processor, ~5x faster for the common case (a naive datetime of
    years 1000-9999: ``isoformat`` gives exactly the default format); the rest goes to ``process``.
    It runs in the writer's thread holding the GIL, for every answer (the update's time and the
    event's), so the event loop gets that time back."""

    def fast(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is None and value.year >= 1000:
            return value.isoformat(" ", "microseconds")
        return process(value)

    return fast


def compile_for_sqlite(statements: Mapping[str, UpdateBase]) -> dict[str, Compiled]:
    """Each statement as SQLite text with named parameters, and its parameters' bind processors."""
    dialect = SQLiteDialect_pysqlite(paramstyle="named", json_serializer=_json_text)
    compiled: dict[str, Compiled] = {}
    for kind, statement in statements.items():
        sql = statement.compile(dialect=dialect)
        processors = []
        for name, bind in sql.binds.items():
            impl = bind.type.dialect_impl(dialect)
            process = impl.bind_processor(dialect)
            if process is None:
                continue
            if isinstance(impl, sqlite.DATETIME) and impl._storage_format == SQLITE_DATETIME_FORMAT:
                processors.append((name, _fast_datetime(process)))
            else:
                processors.append((name, process))
        compiled[kind] = (sql.string, tuple(processors))
    return compiled


class SqliteBatchCommitter:
    """Owns one sqlite3 connection, used only from its own single thread."""

    def __init__(
        self,
        path: Path,
        statements: Mapping[str, UpdateBase],
        conditional: str,
        append_only: Collection[str] = (),
    ) -> None:
        self._path = path
        self._statements = compile_for_sqlite(statements)
        self._conditional = conditional  # the kind whose rowcount must be 1, else its group lost
        self._append_only = frozenset(append_only)  # run last, one executemany per kind
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="planwise-sqlite-writer")
        self._conn: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        set_sqlite_pragmas(conn)
        return conn

    def _values(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        values = dict(params)
        for name, process in self._statements[kind][1]:
            values[name] = process(values[name])
        return values

    def _commit_sync(self, batch: Sequence[Sequence[tuple[str, dict[str, Any]]]]) -> set[int]:
        if self._conn is None:
            self._conn = self._open()
        conn = self._conn
        conflicts: set[int] = set()
        appended: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        conn.execute("BEGIN IMMEDIATE")
        try:
            for i, group in enumerate(batch):
                for kind, params in group:
                    if kind in self._append_only:
                        appended.setdefault(kind, []).append((i, params))
                        continue
                    cursor = conn.execute(self._statements[kind][0], self._values(kind, params))
                    if kind == self._conditional and cursor.rowcount != 1:
                        conflicts.add(i)  # another process committed this session's next revision first
                        break  # the rest of the group (its event) is not written
            for kind, rows in appended.items():
                values = [self._values(kind, params) for i, params in rows if i not in conflicts]
                conn.executemany(self._statements[kind][0], values)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return conflicts

    async def commit(self, batch: Sequence[Sequence[tuple[str, dict[str, Any]]]]) -> set[int]:
        """Commit the groups of writes in one transaction; the indexes of the groups that lost."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._commit_sync, batch)

    def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._executor.submit(_close).result(timeout=10)
        self._executor.shutdown(wait=True)
