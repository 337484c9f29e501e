"""The public plan listing page ``/`` and a health check."""

from __future__ import annotations

import orjson
from quart import Blueprint, Response, current_app, render_template

bp = Blueprint("public", __name__)


@bp.get("/")
async def index() -> str:
    return await render_template("public/index.html")


@bp.get("/healthz")
async def health() -> Response:
    planwise = current_app.extensions.get("planwise")
    live = planwise.live.current if planwise else None
    body = {"ok": live is not None, "version": live.version if live else None}
    return Response(orjson.dumps(body), 200 if live else 503, mimetype="application/json")
