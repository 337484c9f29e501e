"""The public plan listing page ``/`` and a health check."""

from __future__ import annotations

import orjson
from quart import Blueprint, Response, render_template

from .runtime import NotServing, get_runtime

bp = Blueprint("public", __name__)


@bp.get("/")
async def index() -> str:
    return await render_template("public/index.html")


@bp.get("/healthz")
async def health() -> Response:
    try:
        live = get_runtime().planwise.live.current
    except NotServing:
        live = None
    body = {"ok": live is not None, "version": live.version if live else None}
    return Response(orjson.dumps(body), 200 if live else 503, mimetype="application/json")
