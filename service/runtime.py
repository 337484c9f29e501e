"""Long-lived resources (database, engine, live catalogue, writer, enrichment) and their lifecycle."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from quart import Quart, current_app
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rules.engine import make_engine

from .catalogues import live_version, publish
from .collector import COLLECTOR
from .config import Settings
from .control import ServiceControl
from .core import Planwise
from .db.engine import Migrate, create_db_engine, sessionmaker
from .enrich import Enrichment, load_enrichers
from .live import LiveCatalogue
from .push import Pushes, ServiceTokens, make_push_feed
from .push_hub import PushingHub, PushStore
from .ratelimit import WindowLimit, per_second
from .recommend import Recommender
from .retention import SessionPurge
from .store import SessionStore
from .sync import ChangeFeed, make_feed

log = logging.getLogger(__name__)

__all__ = ["Migrate", "Runtime", "get_runtime", "init_runtime", "load_demo_if_empty"]

_KEY = "planwise"  # the one entry of app.extensions this layer owns


@dataclass
class Runtime:
    """Everything long-lived of one running app, typed; created in ``before_serving``."""

    settings: Settings
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    planwise: Planwise
    control: ServiceControl
    feed: ChangeFeed | None
    http_limit: WindowLimit  # HTTP API requests per session, and new sessions per address
    pushes: Pushes  # POST /api/enrichments
    push_feed: ChangeFeed | None  # other processes' pushes
    purge: SessionPurge  # idle sessions, every hour


class NotServing(RuntimeError):
    """The app is not serving (before ``before_serving`` or after ``after_serving``)."""


def get_runtime(app: Quart | None = None) -> Runtime:
    """The running app's :class:`Runtime` (``current_app`` by default)."""
    found = (app or current_app).extensions.get(_KEY)
    if not isinstance(found, Runtime):
        raise NotServing("the app is not serving")
    return found


def init_runtime(app: Quart, settings: Settings, migrate: Migrate) -> None:
    """Create everything in ``before_serving`` and tear it down in ``after_serving``."""

    @app.before_serving
    async def start() -> None:
        db = create_db_engine(settings.database_url)
        if settings.auto_migrate:
            await migrate(db)
        if settings.load_demo:
            await load_demo_if_empty(db, Path(settings.demo_bundle))
        engine = make_engine(settings.rules_engine, settings.engine_timeout)
        live = LiveCatalogue(db, engine, settings.publish_poll_interval)
        hub = PushingHub(keep_seconds=settings.update_cache_seconds)
        push_store = PushStore(db)
        # Without service tokens nobody can push: no read of stored pushes per opened session.
        hub.store = push_store if settings.service_tokens else None
        store = SessionStore(db)
        hub.on_forget = store.forget  # a session nobody watched for a while leaves memory whole
        recommender = Recommender(engine, settings.evaluation_cache)
        enrichment = Enrichment(
            hub,
            live,
            load_enrichers(settings.enrichers, settings),
            settings.enrich_workers,
            settings.enrich_queue,
            settings.enrich_timeout,
        )
        planwise = Planwise(settings, store, live, recommender, hub, enrichment)
        store.start()
        planwise.events.start()  # the event retention purge
        purge = SessionPurge(db, settings.session_retention_days)
        purge.start()  # idle sessions without a selection (service/retention.py)
        await live.start()
        enrichment.start()
        # Hear changes other processes make to the sessions this one holds (PostgreSQL NOTIFY, or
        # a poll on SQLite with several workers); nothing at all for one process on SQLite.
        feed = make_feed(
            settings.session_sync,
            settings.database_url,
            db,
            planwise.session_changed,
            planwise.resync,
            settings.session_poll_interval,
        )
        if feed is not None:
            await feed.start()
        pushes = Pushes(hub, push_store, ServiceTokens(settings.service_tokens))
        push_feed = make_push_feed(
            settings.session_sync,
            settings.database_url,
            db,
            pushes.heard,
            hub.forget_pushes,
            settings.session_poll_interval,
        )
        if push_feed is not None:
            await push_feed.start()
        app.extensions[_KEY] = Runtime(
            settings,
            db,
            sessionmaker(db),
            planwise,
            ServiceControl(live, recommender),
            feed,
            WindowLimit(per_second(settings.rate_per_second, settings.rate_burst)),
            pushes,
            push_feed,
            purge,
        )
        # Everything loaded so far lives as long as the process: keep it out of the garbage
        # collector's full passes (they caused the p99 latency spikes under load); fewer, larger
        # young collections (each answer allocates a burst of short-lived objects); a full
        # collection paid for by ended connections (service/collector.py).
        if settings.gc_freeze:
            COLLECTOR.tune()

    @app.after_serving
    async def stop() -> None:
        runtime = app.extensions.pop(_KEY, None)
        if not isinstance(runtime, Runtime):
            return
        if runtime.feed is not None:
            await runtime.feed.stop()
        if runtime.push_feed is not None:
            await runtime.push_feed.stop()
        await runtime.pushes.hub.stop()
        await runtime.purge.stop()
        planwise = runtime.planwise
        await planwise.stop()
        await planwise.enrichment.stop()
        await planwise.store.stop()
        await planwise.live.stop()
        planwise.recommender.close()
        await runtime.db.dispose()


async def load_demo_if_empty(db: AsyncEngine, path: Path) -> int | None:
    """Publish the demo bundle when no version exists yet (first start of ``make run``)."""
    async with sessionmaker(db)() as session, session.begin():
        if await live_version(session) is not None:
            return None
        bundle = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
        version = await publish(session, bundle, "Demo catalogue loaded on first start", "planwise")
    log.info("published the demo catalogue %s as version %d", path.name, version)
    return version
