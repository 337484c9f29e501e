"""``planwise serve``: migrations, demo data, then uvicorn tuned per the field notes.

uvicorn over hypercorn (measured here): ~6 KiB vs ~100 KiB per idle WebSocket and ~70 vs ~120 µs
per message. Tuning: listen backlog 2048 (the default dropped connections at 1,000 clients), the
WebSocket frame limit from PLANWISE_MAX_FRAME_BYTES, ping with a read timeout, and no
permessage-deflate (it cost more per reply than the whole rules evaluation).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import sys
import tempfile
from collections.abc import Callable, Coroutine
from typing import Any

import uvicorn

from .config import ConfigError, Settings
from .db.engine import is_postgresql
from .uvicorn_ws import dropping_protocol

#: How to make a key, in the refusal below and in docs/deploy.md.
MAKE_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def require_shared_secret(workers: int) -> None:
    """Refuse to start several processes that would each generate their own signing key.

    Tokens signed by one process would fail on every other: people silently lose their session.
    Checked before the settings are read (reading them generates and stores a key).
    """
    if _env("PLANWISE_SECRET_KEY"):
        return
    if is_postgresql(_env("PLANWISE_DATABASE_URL")):
        why = "on PostgreSQL (several hosts share the database)"
    elif workers > 1:
        why = "with --workers > 1"
    else:
        return
    raise ConfigError(
        f"PLANWISE_SECRET_KEY must be set {why}: every process must sign session tokens with the same "
        f"key, or tokens from one fail on the others; generate one with: {MAKE_KEY}"
    )


def _env(name: str) -> str:
    """A variable as pydantic-settings reads it (names are case-insensitive)."""
    return next((v for k, v in os.environ.items() if k.upper() == name and v), "")


#: Linux's default fs.nr_open, the most a process may open when its hard limit says "unlimited".
NR_OPEN_DEFAULT = 1_048_576


def raise_open_files_limit() -> tuple[int, int]:
    """Lift the soft open-files limit (RLIMIT_NOFILE) to the hard one; (before, after), logged.

    Every WebSocket is a file descriptor: the common soft default of 1024 refuses connections
    (``accept`` fails with EMFILE) long before memory or CPU run out. Raising the soft limit up to
    the hard one needs no privilege; a hard limit above it is the operator's (systemd's
    ``LimitNOFILE``, ``ulimit -Hn``; docs/deploy.md).
    """
    log = logging.getLogger(__name__)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard or soft == resource.RLIM_INFINITY:
        log.info("open-files limit %s (already the hard limit)", soft)
        return soft, soft
    # An unlimited hard limit is not a valid soft one for files: the kernel's own cap (nr_open).
    wanted = hard if hard != resource.RLIM_INFINITY else NR_OPEN_DEFAULT
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError) as exc:
        log.warning("open-files limit stays %s: raising it to %s failed (%s)", soft, wanted, exc)
        return soft, soft
    after = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    log.info("open-files limit raised from %s to %s (the hard limit)", soft, after)
    return soft, after


#: Runs once before the server starts (migrations, demo data) and returns lines to print for people.
Prepare = Callable[[Settings, bool, str], Coroutine[Any, Any, list[str]]]


def serve(
    host: str,
    port: int,
    workers: int,
    demo: bool,
    log_level: str = "info",
    *,
    app_factory: str,
    prepare: Prepare,
) -> None:
    """Prepare the database once, then run ``app_factory`` (``module:function``) under uvicorn."""
    require_shared_secret(workers)
    settings = Settings.from_env()
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _, open_files = raise_open_files_limit()  # inherited by --workers processes
    base = f"http://{host}:{port}"
    notes = asyncio.run(prepare(settings, demo, base))
    # Workers (and the reloaded app) must not race on migrations: they ran above.
    os.environ["PLANWISE_AUTO_MIGRATE"] = "false"
    os.environ.setdefault("PLANWISE_GC_FREEZE", "true")
    os.environ.setdefault("PLANWISE_SECRET_KEY", settings.secret_key)
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # /metrics sums every worker's values (prometheus-client's multi-process mode).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="planwise-metrics-")
    if workers > 1 and not is_postgresql(settings.database_url) and settings.session_sync == "auto":
        # Workers on one SQLite file hear each other's session changes by polling (PostgreSQL
        # uses LISTEN/NOTIFY): see docs/service.md, "Several processes".
        os.environ["PLANWISE_SESSION_SYNC"] = "poll"
    print(f"Planwise serving on {base} (engine: {settings.rules_engine})")
    print(f"  open-files limit   {open_files} (each connection is one)")
    print(f"  plan listing page  {base}/")
    print(f"  HTTP API docs      {base}/docs   (WebSocket: ws://{host}:{port}/ws)")
    for line in notes:
        print(line)
    sys.stdout.flush()
    uvicorn.run(
        app_factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        backlog=2048,
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=settings.ping_interval,
        ws_ping_timeout=settings.ping_timeout,
        ws_per_message_deflate=False,
        ws=dropping_protocol(settings.close_timeout),
        # uvicorn would trust X-Forwarded-For from 127.0.0.1 by default: the app's own middleware
        # reads forwarded headers from PLANWISE_TRUSTED_PROXIES only (service/proxies.py).
        proxy_headers=False,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        # SIGTERM: uvicorn stops accepting and closes WebSockets with 1012 at once, then waits this
        # long for requests in flight; the app's shutdown then finishes the commits in flight.
        timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout)),
    )
