"""The live catalogue: which version serves, loaded into the rules engine, swapped on publish.

A watcher polls the database for a newer published version (so a publish from another process,
e.g. the CLI, is noticed within ``publish_poll_interval``), loads it, then tells its listeners.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from rules.engine import Engine
from rules.estimate import EstimateCalculator, calculator
from rules.matcher import Matcher
from rules.model import Catalogue
from rules.validator import load_catalogue

from .db.models import CatalogueVersion
from .errors import ProtocolError
from .event_names import EventNames

log = logging.getLogger(__name__)

UNLOAD_GRACE_SECONDS = 30.0


@dataclass
class LoadedVersion:
    """One published version, ready to evaluate."""

    version: int
    catalogue: Catalogue
    matcher: Matcher
    questionnaire: dict[str, Any] = field(default_factory=dict)
    estimate: EstimateCalculator | None = None  # compiled once per version when it defines one

    @cached_property
    def names(self) -> EventNames:
        """Its questions, rules and plans by number, as its session events name them."""
        return EventNames.of_bundle(self.catalogue.raw)


def load_version(version: int, catalogue: Catalogue) -> LoadedVersion:
    """Everything per version that serving needs: the matcher, the questionnaire, the estimate."""
    return LoadedVersion(
        version,
        catalogue,
        Matcher(catalogue),
        questionnaire_payload(version, catalogue),
        calculator(catalogue),
    )


def questionnaire_payload(version: int, catalogue: Catalogue) -> dict[str, Any]:
    """Every question with every field the catalogue defines for it, except ``askWhen``.

    v1.1: ``attributes`` (the schema clients label and format plan attributes with), and
    ``display`` and ``estimate`` (without ``formula``, ``inputs`` and ``explanation``) when defined.
    """
    questions = [{k: v for k, v in q.raw.items() if k != "askWhen"} for q in catalogue.questions]
    payload: dict[str, Any] = {
        "version": version,
        "questions": questions,
        "attributes": catalogue.raw.get("attributes", []),
    }
    if catalogue.display is not None:
        payload["display"] = {"headline": list(catalogue.display.headline)}
    if catalogue.estimate is not None:
        payload["estimate"] = catalogue.estimate.public()
    return payload


Listener = Callable[[LoadedVersion | None, LoadedVersion], Awaitable[None]]


class LiveCatalogue:
    """Keeps the newest published version loaded and notifies listeners when it changes."""

    def __init__(self, db: AsyncEngine, engine: Engine, poll_interval: float = 0.5) -> None:
        self.db = db
        self.engine = engine
        self.poll_interval = poll_interval
        self.current: LoadedVersion | None = None
        self.listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._unloads: set[asyncio.Task[None]] = set()

    def require(self) -> LoadedVersion:
        """The serving version, or ``unavailable`` when nothing is published yet."""
        if self.current is None:
            raise ProtocolError("unavailable", "No catalogue is published yet; try again later")
        return self.current

    async def start(self) -> None:
        await self.engine.start()
        await self.refresh()
        self._task = asyncio.create_task(self._watch(), name="planwise-publish-watcher")

    async def stop(self) -> None:
        for task in [self._task, *self._unloads]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in [self._task, *self._unloads] if t), return_exceptions=True)
        await self.engine.close()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.refresh()
            except Exception:  # keep serving the current version; try again next tick
                log.exception("could not load the newest catalogue version")

    async def refresh(self) -> bool:
        """Load the newest published version if it is not the serving one; True if it changed."""
        async with self._lock:
            async with self.db.connect() as conn:
                newest = (await conn.execute(select(func.max(CatalogueVersion.id)))).scalar()
                if newest is None or (self.current and self.current.version >= newest):
                    return False
                bundle = (
                    await conn.execute(select(CatalogueVersion.bundle).where(CatalogueVersion.id == newest))
                ).scalar_one()
            catalogue = load_catalogue(bundle)
            await self.engine.load(newest, catalogue)
            loaded = load_version(newest, catalogue)
            # Every answer-independent plan condition now, in a thread: seconds at 1000 rules x
            # 5000 plans, which would otherwise stall the first evaluations on the event loop.
            await asyncio.to_thread(loaded.matcher.warm)
            old, self.current = self.current, loaded
            log.info("serving catalogue version %d (%s)", newest, catalogue.name)
        for listener in self.listeners:
            try:
                await listener(old, loaded)
            except Exception:
                log.exception("publish listener failed")
        if old is not None:
            task = asyncio.create_task(self._unload_later(old.version))
            self._unloads.add(task)
            task.add_done_callback(self._unloads.discard)
        return True

    async def _unload_later(self, version: int) -> None:
        # Evaluations of the old version may still be in flight: let them finish first.
        await asyncio.sleep(UNLOAD_GRACE_SECONDS)
        await self.engine.unload(version)
