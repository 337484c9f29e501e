"""Database engine factory: SQLite in WAL mode by default, PostgreSQL by URL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

#: Brings a database's schema up to date (the composition root owns the migrations of every layer).
Migrate = Callable[[AsyncEngine], Awaitable[None]]

# Each engine's name for the database (PostgreSQL ``application_name``): the session-change
# notifications carry it, so a process recognises (and skips) its own changes.
_ORIGINS: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def create_db_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite connections get WAL, NORMAL sync, a busy timeout and foreign keys."""
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

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL + NORMAL: a committed transaction survives a process crash (kill -9).
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

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
