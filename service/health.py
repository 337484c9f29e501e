"""``/readyz`` (ready to serve: database, live catalogue, rules engine) and ``/metrics``."""

from __future__ import annotations

import asyncio

import orjson
from quart import Blueprint, Response, current_app, request
from sqlalchemy import text

from . import metrics
from .runtime import NotServing, get_runtime

bp = Blueprint("health", __name__)

CHECK_TIMEOUT = 2.0


@bp.get("/readyz")
async def ready() -> Response:
    """200 when this server can serve: the database answers, a catalogue version is live, the
    rules engine answers; 503 naming what failed (a load balancer or monitor polls it)."""
    checks: dict[str, str] = {}
    try:
        runtime = get_runtime()
    except NotServing:
        return _json({"ok": False, "checks": {"app": "not serving"}}, 503)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT), runtime.db.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        checks["database"] = f"unreachable: {type(exc).__name__}"
    live = runtime.planwise.live.current
    checks["catalogue"] = f"version {live.version}" if live is not None else "no live version loaded"
    try:
        await asyncio.wait_for(runtime.planwise.live.engine.stats(), CHECK_TIMEOUT)
        checks["engine"] = "ok"
    except Exception as exc:
        checks["engine"] = f"not answering: {type(exc).__name__}"
    ok = checks["database"] == "ok" and live is not None and checks["engine"] == "ok"
    return _json({"ok": ok, "checks": checks}, 200 if ok else 503)


@bp.get("/metrics")
async def metrics_text() -> Response:
    """Prometheus text format, only for PLANWISE_METRICS_ALLOW (others: 404, as if absent)."""
    allow = current_app.config["PLANWISE"].metrics_allow
    if not metrics.allowed(request.remote_addr, allow):
        return Response("Not Found", 404)
    try:
        body = metrics.render(get_runtime())
    except NotServing:
        return Response("not serving", 503)
    return Response(body, 200, content_type=metrics.CONTENT_TYPE_LATEST)


def _json(data: object, status: int) -> Response:
    return Response(orjson.dumps(data), status, mimetype="application/json")
