"""The ``http`` enricher: pull per-plan fields from another service (``PLANWISE_ENRICH_URL``).

For each rules update it POSTs ``{"version", "answers", "plans"}`` (the answers of visible questions,
the ids of the plans being sent) and merges the ``{"plans": {planId: {field: value}}}`` it gets back.
Built to be a good citizen of a slow or failing neighbour:

- one pooled ``httpx.AsyncClient`` (keep-alive), a timeout per attempt (half the enrichment timeout,
  so a retry still fits), at most one retry and only on a connection error;
- a circuit breaker: after ``PLANWISE_ENRICH_BREAKER_FAILURES`` failures in a row it stops calling
  for ``PLANWISE_ENRICH_BREAKER_SECONDS``, then lets one call through to probe;
- a TTL cache keyed by (version, the answers sent): people change one answer at a time, so the same
  states come back (``PLANWISE_ENRICH_CACHE_SECONDS``, ``PLANWISE_ENRICH_CACHE_SIZE``).

Fields that clash with the protocol's or the catalogue's plan fields, and plans that were not
asked about, are dropped. A failure never breaks the rules update: the stage logs it and sends
the update without these fields.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from ..config import Settings
from ..enrich import EnrichContext
from ..push import PROTOCOL_PLAN_FIELDS

log = logging.getLogger(__name__)

Fields = dict[str, dict[str, Any]]


class EnrichUnavailable(Exception):
    """The external service failed (after the retry) or the breaker is open."""


class CircuitBreaker:
    """Open after ``failures`` failures in a row, for ``seconds``; then one probe call at a time."""

    def __init__(self, failures: int, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.seconds = seconds
        self.clock = clock
        self.in_a_row = 0
        self.open_until = 0.0
        self.probing = False

    def allow(self) -> bool:
        if self.in_a_row < self.failures:
            return True
        if self.clock() < self.open_until or self.probing:
            return False
        self.probing = True  # half-open: this call decides
        return True

    def success(self) -> None:
        self.in_a_row = 0
        self.probing = False

    def failure(self) -> None:
        self.in_a_row += 1
        self.probing = False
        if self.in_a_row >= self.failures:
            if self.in_a_row == self.failures:
                log.warning(
                    "http enricher: %d failures in a row; pausing calls for %g s",
                    self.failures,
                    self.seconds,
                )
            self.open_until = self.clock() + self.seconds


class TtlCache:
    """At most ``size`` results, each kept ``seconds``; least recently used out first."""

    def __init__(self, size: int, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.seconds = seconds
        self.clock = clock
        self._items: OrderedDict[bytes, tuple[float, Fields]] = OrderedDict()

    def get(self, key: bytes) -> Fields | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] < self.clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item[1]

    def put(self, key: bytes, value: Fields) -> None:
        if self.size <= 0 or self.seconds <= 0:
            return
        self._items[key] = (self.clock() + self.seconds, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class HttpEnricher:
    """``PLANWISE_ENRICHERS=http``: per-plan fields from ``PLANWISE_ENRICH_URL``."""

    name = "http"

    def __init__(self, settings: Settings) -> None:
        if not settings.enrich_url:
            raise ValueError("PLANWISE_ENRICHERS=http needs PLANWISE_ENRICH_URL")
        self.url = settings.enrich_url
        attempt = settings.enrich_timeout / 2
        self.timeout = httpx.Timeout(attempt, connect=min(attempt, 1.0))
        self.breaker = CircuitBreaker(settings.enrich_breaker_failures, settings.enrich_breaker_seconds)
        self.cache = TtlCache(settings.enrich_cache_size, settings.enrich_cache_seconds)
        self.calls = 0  # requests actually sent (for tests and logs)
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpEnricher:
        return cls(settings)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # in the running loop, on first use
            self._client = httpx.AsyncClient(
                timeout=self.timeout,
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
                trust_env=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def sort_key(self, ctx: EnrichContext) -> None:
        return None

    async def enrich(self, ctx: EnrichContext) -> Fields:
        answers = {q: v for q, v in sorted(ctx.answers.items()) if q in ctx.visible}
        plan_ids = [plan["id"] for plan in ctx.update["plans"]]
        version = ctx.update["version"]
        key = orjson.dumps([version, answers, plan_ids])
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if not self.breaker.allow():
            raise EnrichUnavailable("the enrichment service is paused after repeated failures")
        try:
            body = await self._call({"version": version, "answers": answers, "plans": plan_ids})
        except asyncio.CancelledError:
            self.breaker.failure()  # the stage's timeout: as much a failure as any
            raise
        except Exception:
            self.breaker.failure()
            raise
        self.breaker.success()
        fields = _fields(body, set(plan_ids), ctx)
        self.cache.put(key, fields)
        return fields

    async def _call(self, payload: dict[str, Any]) -> Any:
        content = orjson.dumps(payload)
        headers = {"Content-Type": "application/json"}
        for attempt in (1, 2):
            self.calls += 1
            try:
                response = await self._http().post(self.url, content=content, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError):
                if attempt == 2:
                    raise
                continue  # one retry, for connection errors only (a slow answer is not retried)
            response.raise_for_status()
            return orjson.loads(response.content)
        raise AssertionError("unreachable")


def _fields(body: Any, asked: set[str], ctx: EnrichContext) -> Fields:
    """The usable part of a reply: known plans, fields that clash with nothing."""
    plans = body.get("plans") if isinstance(body, dict) else None
    if not isinstance(plans, dict):
        raise EnrichUnavailable("the enrichment service replied without a 'plans' object")
    out: Fields = {}
    for plan_id, fields in plans.items():
        if plan_id not in asked or not isinstance(fields, dict):
            continue
        plan = ctx.catalogue.plan_by_id.get(plan_id)
        reserved = plan.raw if plan is not None else {}
        kept = {k: v for k, v in fields.items() if k not in PROTOCOL_PLAN_FIELDS and k not in reserved}
        if kept:
            out[plan_id] = kept
    return out
