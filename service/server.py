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
import sys
from pathlib import Path

import uvicorn

from .config import Settings
from .db.engine import create_db_engine, is_postgresql
from .db.migrate import upgrade
from .runtime import load_demo_if_empty
from .uvicorn_ws import DroppingWebSocketProtocol


async def prepare(settings: Settings, demo: bool) -> bool:
    """Apply migrations (and publish the demo catalogue into an empty database) once.

    Returns whether a staff account exists (so a newcomer is told how to get into the admin).
    """
    from admin.users import count_users

    from .db.engine import sessionmaker

    db = create_db_engine(settings.database_url)
    try:
        await upgrade(db)
        if demo:
            version = await load_demo_if_empty(db, Path(settings.demo_bundle))
            if version is not None:
                print(f"Loaded the demo catalogue as version {version}.")
        async with sessionmaker(db)() as session:
            return bool(await count_users(session))
    finally:
        await db.dispose()


def serve(host: str, port: int, workers: int, demo: bool, log_level: str = "info") -> None:
    settings = Settings.from_env()
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    has_staff = asyncio.run(prepare(settings, demo))
    # Workers (and the reloaded app) must not race on migrations: they ran above.
    os.environ["PLANWISE_AUTO_MIGRATE"] = "false"
    os.environ.setdefault("PLANWISE_GC_FREEZE", "true")
    os.environ.setdefault("PLANWISE_SECRET_KEY", settings.secret_key)
    if workers > 1 and not is_postgresql(settings.database_url) and settings.session_sync == "auto":
        # Workers on one SQLite file hear each other's session changes by polling (PostgreSQL
        # uses LISTEN/NOTIFY): see docs/service.md, "Several processes".
        os.environ["PLANWISE_SESSION_SYNC"] = "poll"
    base = f"http://{host}:{port}"
    print(f"Planwise serving on {base} (engine: {settings.rules_engine})")
    print(f"  plan listing page  {base}/")
    print(f"  HTTP API docs      {base}/docs   (WebSocket: ws://{host}:{port}/ws)")
    print(f"  staff admin        {base}/admin")
    if not has_staff:
        print("  No staff account yet: create one in another terminal with")
        print("    .venv/bin/planwise create-user you@example.com --role admin")
    sys.stdout.flush()
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        backlog=2048,
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=settings.ping_interval,
        ws_ping_timeout=settings.ping_timeout,
        ws_per_message_deflate=False,
        ws=DroppingWebSocketProtocol,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
