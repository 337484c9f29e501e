"""Logging: plain text, or one JSON object per line (``PLANWISE_LOG_FORMAT=json``) carrying the
request id (the proxy's ``X-Request-Id``, or a new one) and the session id when known."""

from __future__ import annotations

import logging
import re
import secrets
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from quart import Quart

REQUEST_ID: ContextVar[str | None] = ContextVar("planwise_request_id", default=None)
SESSION_ID: ContextVar[str | None] = ContextVar("planwise_session_id", default=None)


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "requestId"?, "sessionId"?, "error"?}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, var in (("requestId", REQUEST_ID), ("sessionId", SESSION_ID)):
            value = var.get()
            if value:
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


#: Query parameters that are credentials or personal data: ``/ws?token=``, Socket.IO's
#: ``?userId=`` (an unverified label, maybe an e-mail address) and ``?authToken=``.
_SECRET_PARAMS = re.compile(r"([?&](?:token|authToken|userId)=)[^&\s\"]*")


class RedactQuery(logging.Filter):
    """uvicorn logs the URL of every WebSocket it accepts or refuses: its secrets are not logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "=" in a for a in record.args):
            record.args = tuple(
                _SECRET_PARAMS.sub(r"\1-", a) if isinstance(a, str) else a for a in record.args
            )
        return True


def configure(log_format: str, level: str = "INFO") -> None:
    """Root logging (and uvicorn's, which then propagates) in the chosen format; idempotent."""
    root = logging.getLogger()
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, RedactQuery) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(RedactQuery())
    if log_format != "json":
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True


def _request_id(header: str | None) -> str:
    if header and len(header) <= 64 and header.isascii() and header.replace("-", "").isalnum():
        return header
    return secrets.token_hex(8)


def init_app(app: Quart) -> None:
    """Every request and WebSocket gets a request id (in log lines and the ``X-Request-Id`` reply)."""
    from quart import request, websocket  # only here: the rest of this module is framework-free

    settings = app.config["PLANWISE"]
    configure(settings.log_format)

    @app.before_request
    async def _tag_request() -> None:
        REQUEST_ID.set(_request_id(request.headers.get("X-Request-Id")))

    @app.before_websocket
    async def _tag_websocket() -> None:
        REQUEST_ID.set(_request_id(websocket.headers.get("X-Request-Id")))
