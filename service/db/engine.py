"""Database engine factory: SQLite in WAL mode by default, PostgreSQL by URL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import URL, Engine, event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

#: Brings a database's schema up to date (the composition root owns the migrations of every layer).
Migrate = Callable[[AsyncEngine], Awaitable[None]]

# Each engine's name for the database (PostgreSQL ``application_name``): the session-change
# notifications carry it, so a process recognises (and skips) its own changes.
_ORIGINS: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()


def sqlite_path(url: str | URL) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


#: Every SQLite connection (the engine's and the group writer's raw one): WAL + NORMAL, so a
#: committed transaction survives a process crash (kill -9); wait for a writer lock, don't fail.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
)


def set_sqlite_pragmas(dbapi_connection: Any, _record: Any = None) -> None:
    """Apply ``SQLITE_PRAGMAS`` to a DB-API connection (``sqlite3``, or the engine's "connect" event)."""
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def create_db_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite connections get ``SQLITE_PRAGMAS``."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    origin = f"planwise-{os.getpid()}-{secrets.token_hex(4)}"
    connect_args: dict[str, Any] = {}
    if is_postgresql(url):
        connect_args["server_settings"] = {"application_name": origin}
    engine = create_async_engine(url, pool_pre_ping=path is None, connect_args=connect_args)
    _ORIGINS[engine.sync_engine] = origin
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", set_sqlite_pragmas)
    return engine


def is_postgresql(url: str) -> bool:
    return url.startswith("postgresql")


def origin_of(engine: AsyncEngine) -> str:
    """The name this engine's connections give the database (see ``_ORIGINS``)."""
    return _ORIGINS.get(engine.sync_engine, "")


def asyncpg_dsn(url: str) -> str:
    """A plain ``postgresql://`` DSN for asyncpg itself (the LISTEN connection), from a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)
