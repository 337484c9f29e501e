"""Prometheus metrics (prometheus-client): what an operator watches, served at ``/metrics``.

Counters and histograms are updated where things happen (answers and their latency in
``core.Planwise``, commits in the group writer); gauges that already exist as state (connections,
enrichment queue, evaluation cache, engine restarts) are read when scraped. With ``planwise serve
--workers N`` every worker writes its values to ``PROMETHEUS_MULTIPROC_DIR`` (set by
``service/server.py``) and a scrape of any worker sums them (prometheus-client's multi-process
mode); the gauges read at scrape time then describe the worker that answered.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .collector import COLLECTOR

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = [
    "ANSWERS",
    "MATCHES_OFF_LOOP",
    "COMMIT_SECONDS",
    "CONTENT_TYPE_LATEST",
    "PUBLISHES",
    "UPDATE_SECONDS",
    "allowed",
    "render",
]

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

ANSWERS = Counter("planwise_answers", "userResponse messages committed (every transport)")
UPDATE_SECONDS = Histogram(
    "planwise_update_seconds",
    "From a userResponse to its rules-stage update (commit + evaluate)",
    buckets=_FAST,
)
COMMIT_SECONDS = Histogram(
    "planwise_db_commit_seconds", "One group commit of the session writer", buckets=_FAST
)
PUBLISHES = Counter("planwise_catalogue_publishes", "Catalogue versions this process switched to")
MATCHES_OFF_LOOP = Counter(
    "planwise_matches_off_loop",
    "Plan matches run in the matching thread (a large catalogue's, off the event loop: service/recommend.py)",
)


class RuntimeCollector(Collector):
    """Gauges read from the running app when scraped (no bookkeeping on the hot path)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        planwise = self.runtime.planwise
        connections = GaugeMetricFamily(
            "planwise_connections", "Connections subscribed to a session, by transport", labels=["transport"]
        )
        for transport, count in sorted(_by_transport(planwise.hub).items()):
            connections.add_metric([transport], count)
        yield connections
        enrichment, recommender = planwise.enrichment, planwise.recommender
        queue = getattr(enrichment, "_queue", None)  # its bounded asyncio.Queue
        gauges = [
            ("planwise_enrich_queue", "Updates waiting for enrichment", queue.qsize() if queue else 0),
            ("planwise_enrich_dropped", "Enrichment work skipped (queue full)", enrichment.dropped),
            ("planwise_enrich_failed", "Enricher calls that failed", enrichment.failed),
            ("planwise_evaluation_cache_hits", "Evaluations served from the cache", recommender.hits),
            ("planwise_evaluation_cache_misses", "Evaluations computed", recommender.misses),
            ("planwise_engine_restarts", "Rules engine worker restarts", _restarts(planwise.live.engine)),
            (
                "planwise_live_sessions",
                "Sessions with a connection or poll",
                len(planwise.hub.live_sessions()),
            ),
            (
                "planwise_kept_updates",
                "Sessions whose newest update is kept in memory (live, or recently active)",
                len(planwise.hub.kept_sessions()),
            ),
            (
                "planwise_full_collections",
                "Full garbage collections run after ended connections (service/collector.py)",
                COLLECTOR.collections,
            ),
            (
                "planwise_cached_sessions",
                "Sessions held in memory by the session store (live, or recently active)",
                planwise.store.cached_count(),
            ),
        ]
        for name, documentation, value in gauges:
            yield GaugeMetricFamily(name, documentation, value)


def _restarts(engine: object) -> int:
    restarts = getattr(engine, "restarts", 0)
    return restarts if isinstance(restarts, int) else 0


def _by_transport(hub: object) -> dict[str, int]:
    counts: dict[str, int] = {"ws": 0, "socketio": 0}
    subs: dict[str, Iterable[object]] = getattr(hub, "_subs", {})
    for connections in subs.values():
        for sub in connections:
            name = "socketio" if "socketio" in type(sub).__module__ else "ws"
            counts[name] = counts.get(name, 0) + 1
    return counts


def render(runtime: Runtime) -> bytes:
    """The text exposition of every metric (summed over workers in multi-process mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    scrape = CollectorRegistry()
    scrape.register(RuntimeCollector(runtime))
    return generate_latest(registry) + generate_latest(scrape)


def allowed(address: str | None, allow: Iterable[str]) -> bool:
    """Whether ``address`` is in PLANWISE_METRICS_ALLOW (addresses and networks)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(entry, strict=False) for entry in allow)
