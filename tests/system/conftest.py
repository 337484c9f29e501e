"""The cluster of the system tests: throwaway PostgreSQL, three ``planwise serve``, nginx in front."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..pg_server import PgServer
from ..servers import HOST, ServerProcess
from ..service.server_helpers import SERVICE_ENV
from .nginx import Nginx, available


@dataclass
class Cluster:
    database_url: str
    servers: list[ServerProcess]
    nginx: Nginx

    def server_at(self, address: str) -> ServerProcess:
        return next(s for s in self.servers if address == f"{HOST}:{s.port}")


@pytest.fixture(scope="module")
def cluster(pg_server: PgServer) -> Iterator[Cluster]:
    """Three servers on one fresh database behind nginx (deploy/nginx.conf), for one test module.

    The servers trust nginx's forwarded headers (PLANWISE_TRUSTED_PROXIES); clients talk only to
    nginx. Everything is stopped at the end, whatever happened.
    """
    if not available():
        pytest.fail("nginx is not installed: run `make system-deps` (Debian package nginx)")
    root = Path(tempfile.mkdtemp(prefix="planwise-cluster-"))
    url = pg_server.create_database()
    env = {
        **SERVICE_ENV,
        "PLANWISE_DATABASE_URL": url,
        "PLANWISE_TRUSTED_PROXIES": HOST,
        "PLANWISE_SHUTDOWN_TIMEOUT": "5",
    }
    servers = [ServerProcess(root / f"planwise-{i}", dict(env)) for i in (1, 2, 3)]
    nginx: Nginx | None = None
    try:
        for server in servers:  # the first migrates and publishes the demo catalogue
            server.start()
        nginx = Nginx(root / "nginx", [f"{HOST}:{s.port}" for s in servers])
        nginx.start()
        yield Cluster(url, servers, nginx)
    finally:
        if nginx is not None:
            nginx.stop()
        for server in servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
