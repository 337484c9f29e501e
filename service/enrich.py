"""The enrichment stage: slower per-plan work after the rules update, pushed as ``stage: "enriched"``.

A bounded queue feeds worker tasks that work out the catalogue's own ``estimate`` (CATALOGUE.md,
"Estimate and display") and run the configured plug-in enrichers (each with a timeout) for a
session's rules update; a result for a revision or version that is no longer the newest is
dropped, never sent. A slow or failing enricher never delays or breaks the rules update.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from rules.estimate import EstimateCalculator, Inputs
from rules.model import Catalogue

from .hub import Hub
from .live import LiveCatalogue, LoadedVersion
from .update import Update

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
    returns None keep their rules-stage order after the others. An optional ``applies(catalogue)``
    returning False lets the stage skip the enricher (and the whole update when none applies).
    """

    name: str

    async def enrich(self, ctx: EnrichContext) -> dict[str, dict[str, Any]]: ...

    def sort_key(self, ctx: EnrichContext) -> Callable[[dict[str, Any]], Any] | None: ...


#: Enrichers shipped with the service, by short name; each is built from the settings.
BUILT_IN = {"http": "service.enrichers.http:HttpEnricher"}


def load_enrichers(names: tuple[str, ...], settings: Any = None) -> list[Enricher]:
    """Instantiate enrichers: a built-in short name (``http``) or a plug-in ``package.module:Class``."""
    out: list[Enricher] = []
    for name in names:
        built_in = BUILT_IN.get(name)
        module_name, _, attr = (built_in or name).partition(":")
        if not attr:
            raise ValueError(f"unknown enricher {name!r}: name it as 'package.module:Class'")
        cls = getattr(importlib.import_module(module_name), attr)
        out.append(cls.from_settings(settings) if built_in else cls())
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
        self._queue: asyncio.Queue[tuple[str, Update]] = asyncio.Queue(queue_size)
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0
        self.failed = 0
        # Enriched plans shared by the sessions in one state (see enrich), least recently used first.
        self._shared: OrderedDict[tuple[int, int, tuple[str, ...] | None], _Shared] = OrderedDict()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"enrich-{i}") for i in range(self._workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for enricher in self.enrichers:  # e.g. the http enricher's connection pool
            close = getattr(enricher, "aclose", None)
            if close is not None:
                await close()

    def submit(self, session_id: str, update: Update) -> None:
        """Queue a rules update for enrichment; when the queue is full the work is skipped."""
        loaded = self.live.current
        if not self._tasks or (not self.enrichers and (loaded is None or loaded.estimate is None)):
            return
        try:
            self._queue.put_nowait((session_id, update))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("enrichment queue full: skipped session %s revision %s", session_id, update.revision)

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

    def _is_current(self, session_id: str, update: Update) -> bool:
        latest = self.hub.latest(session_id)
        # (revision, version) only: an enriched update pushed by another service (service/push.py)
        # may already be there; this one still goes out after it, with the pushed fields.
        return latest is None or latest.key[:2] <= update.key[:2]

    async def enrich(self, update: Update) -> Update | None:
        """The enriched copy of a rules update, or None when nothing was added to any plan."""
        loaded = self.live.current
        if loaded is None or loaded.version != update.version:
            return None
        catalogue = loaded.catalogue
        enrichers = [e for e in self.enrichers if _applies(e, catalogue)]
        calc = loaded.estimate
        if calc is None and not enrichers:
            return None
        inputs = calc.inputs(update.answers, update.visible) if calc is not None else None
        if enrichers:  # a deployment's enrichers may read anything of the session
            plans = await self._plans(loaded, update, enrichers, calc, inputs)
            return None if plans is None else update.enriched(plans)
        # The catalogue's estimate alone: the same plans for every session with this rules result
        # and these input values, worked out once and shared (the hub keeps one copy, not one each).
        source = update.payload["plans"]
        key = (loaded.version, id(source), None if inputs is None else tuple(map(str, inputs.values())))
        hit = self._shared.get(key)
        if hit is not None and hit.source is source:  # the rules result it was made from is alive
            self._shared.move_to_end(key)
        else:
            hit = self._shared[key] = _Shared(source, await self._plans(loaded, update, [], calc, inputs))
            if len(self._shared) > SHARED_SIZE:
                self._shared.popitem(last=False)
        return None if hit.plans is None else update.enriched(hit.plans)

    async def _plans(
        self,
        loaded: LoadedVersion,
        update: Update,
        enrichers: list[Enricher],
        calc: EstimateCalculator | None,
        inputs: Inputs | None,
    ) -> list[dict[str, Any]] | None:
        """The enriched plans of a rules update, or None when nothing was added to any plan."""
        catalogue = loaded.catalogue
        payload, visible = update.payload, update.visible
        ctx = EnrichContext(catalogue, update.answers, visible, payload)
        plugin_sorts = any(e.sort_key(ctx) is not None for e in enrichers)
        by_estimate = inputs is not None and loaded.matcher.ranks_by_estimate
        candidates: list[dict[str, Any]] = payload["plans"]
        estimates: dict[str, Decimal] | None = None
        if plugin_sorts and payload["matchedPlans"] > len(candidates):
            # A plug-in sorts plan payloads: it gets every matched plan, from the same evaluation.
            ranking = loaded.matcher.ranking(update.evaluation, update.answers, update.usable)
            candidates = ranking.payloads(ranking.ids())
            ctx = EnrichContext(catalogue, update.answers, visible, {**payload, "plans": candidates})
        elif by_estimate and payload["matchedPlans"] > len(candidates):
            # Re-ranking by estimate happens before the limit, over every matched plan; payloads
            # (reasons) only for the plans sent: those already in the rules update are reused.
            assert calc is not None and inputs is not None
            ranking = loaded.matcher.ranking(update.evaluation, update.answers, update.usable)
            every = ranking.ids()
            estimates = calc.for_plans(inputs, every)
            top = loaded.matcher.rerank(every, ranking.scores(), estimates)[: catalogue.ranking.limit]
            have = {p["id"]: p for p in candidates}
            missing = [pid for pid in top if pid not in have]
            have.update(zip(missing, ranking.payloads(missing), strict=True))
            candidates = [have[pid] for pid in top]
            ctx = EnrichContext(catalogue, update.answers, visible, {**payload, "plans": candidates})
        if estimates is None:
            estimates = (
                calc.for_plans(inputs, [p["id"] for p in candidates]) if calc and inputs is not None else {}
            )
        results, sort_keys = await self._plugins(enrichers, ctx)
        if not results and not estimates:
            return None
        # One fresh dict per plan (the rules update is not ours to change), later enrichers winning.
        plans: list[dict[str, Any]] = []
        for plan in candidates:
            merged = {**plan}
            for fields in results:
                values = fields.get(plan["id"])
                if values:
                    merged.update(values)
            plans.append(merged)
        reranked = False
        if sort_keys:  # a deployment's own enricher overrides the catalogue's order
            key = sort_keys[-1]
            keys = [key(p) for p in plans]
            order = sorted([(k, i) for i, k in enumerate(keys) if k is not None])
            plans = [plans[i] for _, i in order] + [p for k, p in zip(keys, plans, strict=True) if k is None]
            reranked = True
        elif by_estimate:
            by_id = {p["id"]: p for p in plans}
            ids = loaded.matcher.rerank(list(by_id), {p["id"]: p["score"] for p in plans}, estimates)
            plans = [by_id[pid] for pid in ids]
            reranked = True
        if reranked:
            plans = plans[: catalogue.ranking.limit]  # the limit applies after re-ranking
            for rank, merged in enumerate(plans, start=1):
                merged["rank"] = rank
        if calc is not None and inputs is not None:
            for merged in plans:  # explanations only for the plans that are sent
                value = estimates.get(merged["id"])
                if value is not None and "estimate" not in merged:
                    merged["estimate"] = calc.payload(catalogue.plan_by_id[merged["id"]], inputs, value)
        return plans

    async def _plugins(
        self, enrichers: list[Enricher], ctx: EnrichContext
    ) -> tuple[list[dict[str, dict[str, Any]]], list[Callable[[dict[str, Any]], Any]]]:
        """Each plug-in enricher's fields (failures and timeouts logged and skipped) and sort keys."""
        results: list[dict[str, dict[str, Any]]] = []
        sort_keys = []
        for enricher in enrichers:
            try:
                async with asyncio.timeout(self.timeout):  # no task per call, unlike wait_for
                    fields = await enricher.enrich(ctx)
            except Exception as exc:  # timeouts included: the other enrichers still count
                self.failed += 1
                log.warning("enricher %s failed: %r", enricher.name, exc)
                continue
            if fields:
                results.append(fields)
            key = enricher.sort_key(ctx)
            if key is not None:
                sort_keys.append(key)
        return results, sort_keys


#: Enriched plan lists kept for sharing (each about the size of one update's plans).
SHARED_SIZE = 1024


@dataclass(frozen=True, slots=True)
class _Shared:
    source: list[dict[str, Any]]  # the rules update's plans it was made from (held: ids stay unique)
    plans: list[dict[str, Any]] | None  # None: enrichment added nothing


def _applies(enricher: Enricher, catalogue: Catalogue) -> bool:
    """An enricher may define ``applies(catalogue)``: False means it has nothing to add to that version."""
    applies = getattr(enricher, "applies", None)
    return applies is None or bool(applies(catalogue))
