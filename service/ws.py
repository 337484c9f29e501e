"""The WebSocket endpoint ``/ws`` (PROTOCOL.md); the protocol itself lives in service/connection.py."""

from __future__ import annotations

from typing import Any, cast

from quart import Blueprint, abort, current_app, websocket
from quart.wrappers import Websocket

from .connection import WsSession
from .cookies import session_cookie_name
from .origins import request_origin_allowed
from .runtime import get_runtime

bp = Blueprint("ws", __name__)


@bp.websocket("/ws")
async def ws() -> None:
    settings = current_app.config["PLANWISE"]
    if not request_origin_allowed(websocket, settings):
        abort(403)
    token = websocket.args.get("token") or websocket.cookies.get(session_cookie_name(settings))
    session = WsSession(get_runtime().planwise, settings, token, websocket.remote_addr)
    await websocket.accept()
    # The concrete connection, not the context-bound proxy: frames are sent by a writer task that
    # another connection's publish may start (service/connection.py), outside this handler's context.
    this: Websocket = cast(Any, websocket)._get_current_object()

    async def send(data: bytes | str) -> None:
        # Every frame is a text frame (PROTOCOL.md); orjson gives UTF-8 bytes.
        await this.send(data.decode() if isinstance(data, bytes) else data)

    await session.run(this.receive, send, this.close)
