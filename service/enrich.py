"""The enrichment stage: slower per-plan work after the rules update, pushed as ``stage: "enriched"``.

A bounded queue feeds worker tasks that run the configured enrichers (each with a timeout) for a
session's rules update; a result for a revision or version that is no longer the newest is
dropped, never sent. A slow or failing enricher never delays or breaks the rules update.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from rules.model import Catalogue

from .hub import Hub, order_key
from .live import LiveCatalogue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnrichContext:
    """What an enricher sees: the catalogue version, the stored answers, the rules update."""

    catalogue: Catalogue
    answers: dict[str, Any]
    visible: frozenset[str]
    update: dict[str, Any]


class Enricher(Protocol):
    """An enrichment step. ``enrich`` returns extra fields per plan id (merged into the plans).

    ``sort_key``, when not None, re-ranks the enriched plans (smaller first); plans for which it
    returns None keep their rules-stage order after the others.
    """

    name: str

    async def enrich(self, ctx: EnrichContext) -> dict[str, dict[str, Any]]: ...

    def sort_key(self, ctx: EnrichContext) -> Callable[[dict[str, Any]], Any] | None: ...


BUILTIN = {"cost": "service.enrichers.cost:CostEstimator"}


def load_enrichers(names: tuple[str, ...]) -> list[Enricher]:
    """Instantiate enrichers by built-in name or ``package.module:Class``."""
    out: list[Enricher] = []
    for name in names:
        target = BUILTIN.get(name, name)
        module_name, _, attr = target.partition(":")
        if not attr:
            raise ValueError(f"unknown enricher {name!r}: use a built-in name or 'module:Class'")
        out.append(getattr(importlib.import_module(module_name), attr)())
    return out


class Enrichment:
    """The queue and the workers."""

    def __init__(
        self,
        hub: Hub,
        live: LiveCatalogue,
        enrichers: list[Enricher],
        workers: int = 2,
        queue_size: int = 1000,
        timeout: float = 2.0,
    ) -> None:
        self.hub = hub
        self.live = live
        self.enrichers = enrichers
        self.timeout = timeout
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(queue_size)
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0
        self.failed = 0

    def start(self) -> None:
        if self.enrichers:
            self._tasks = [
                asyncio.create_task(self._work(), name=f"enrich-{i}") for i in range(self._workers)
            ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def submit(self, session_id: str, update: dict[str, Any]) -> None:
        """Queue a rules update for enrichment; when the queue is full the work is skipped."""
        if not self._tasks:
            return
        try:
            self._queue.put_nowait((session_id, update))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning(
                "enrichment queue full: skipped session %s revision %s", session_id, update["revision"]
            )

    async def _work(self) -> None:
        while True:
            session_id, update = await self._queue.get()
            try:
                if self._is_current(session_id, update):
                    enriched = await self.enrich(update)
                    if enriched is not None and self._is_current(session_id, update):
                        self.hub.publish_update(session_id, enriched)
            except Exception:
                self.failed += 1
                log.exception("enrichment failed for session %s", session_id)
            finally:
                self._queue.task_done()

    def _is_current(self, session_id: str, update: dict[str, Any]) -> bool:
        latest = self.hub.latest(session_id)
        return latest is None or order_key(latest) <= order_key(update)

    async def enrich(self, update: dict[str, Any]) -> dict[str, Any] | None:
        """The enriched copy of a rules update, or None when no enricher added anything."""
        loaded = self.live.current
        if loaded is None or loaded.version != update["version"]:
            return None
        visible = frozenset(q["id"] for q in update["questions"] if q["visible"])
        ctx = EnrichContext(loaded.catalogue, update["answers"], visible, update)
        extra: dict[str, dict[str, Any]] = {}
        sort_keys = []
        for enricher in self.enrichers:
            try:
                fields = await asyncio.wait_for(enricher.enrich(ctx), self.timeout)
            except Exception as exc:  # timeouts included: the other enrichers still count
                self.failed += 1
                log.warning("enricher %s failed: %r", enricher.name, exc)
                continue
            for plan_id, values in fields.items():
                extra.setdefault(plan_id, {}).update(values)
            key = enricher.sort_key(ctx)
            if key is not None:
                sort_keys.append(key)
        if not extra:
            return None
        plans = [{**p, **extra.get(p["id"], {})} for p in update["plans"]]
        if sort_keys:
            key = sort_keys[-1]
            keyed = [(key(p), i, p) for i, p in enumerate(plans)]
            plans = [
                p for k, i, p in sorted((x for x in keyed if x[0] is not None), key=lambda x: (x[0], x[1]))
            ]
            plans += [p for k, i, p in keyed if k is None]
            plans = [{**p, "rank": rank} for rank, p in enumerate(plans, start=1)]
        return {**update, "stage": "enriched", "plans": plans}
