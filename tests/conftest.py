"""Session-wide fixtures: a throwaway PostgreSQL server for the tests that run on PostgreSQL too."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .pg_server import PgServer, available


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL 15 cluster for the whole run (each test takes its own database), always stopped.

    Its directory is made under /tmp, not pytest's tmp_path: pytest's base directory is private to
    root, and the server runs as the unprivileged ``postgres`` user.
    """
    if not available():
        pytest.fail("PostgreSQL 15 is not installed: run `make system-deps` (Debian package postgresql)")
    root = Path(tempfile.mkdtemp(prefix="planwise-pg-"))
    server = PgServer(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The SQLAlchemy URL of a fresh, empty PostgreSQL database."""
    return pg_server.create_database()
