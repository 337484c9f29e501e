"""What a Socket.IO connection brings with it (the original design's fields), read at the boundary.

``userResponse`` data in any of its shapes, the ``userId`` label, the session cookie and the
client's address: each checked here and nothing else trusted.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from .db.models import LABEL_MAX


def user_response(data: Any) -> Any:
    """The original design's bare answers object, or either ``userResponse`` shape of ``/ws``."""
    if isinstance(data, dict) and (
        (set(data) == {"answers"} and isinstance(data["answers"], dict))
        or set(data) == {"questionId", "value"}
    ):
        return data
    return {"answers": data}


def user_label(value: Any) -> str | None:
    """The original design's ``userId``, when it is a usable label: an unverified name for the session.

    A string (or integer) of 1 to ``LABEL_MAX`` printable characters, stripped; anything else is
    ignored (the connection goes on without it). It is kept on the session and never looked up: it
    grants nothing, and it is not written to logs or events (it may be personal data).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if 0 < len(value) <= LABEL_MAX and value.isprintable() else None


def session_cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(header)
    except Exception:  # a malformed Cookie header names no session
        return None
    morsel = cookies.get(name)
    return morsel.value if morsel is not None and morsel.value else None


def client_address(environ: dict[str, Any]) -> str | None:
    """The client's address from the ASGI scope (as the trusted-proxy middleware set it).

    Not ``REMOTE_ADDR``: python-engineio's ASGI driver always sets that to 127.0.0.1.
    """
    client = (environ.get("asgi.scope") or {}).get("client")
    return str(client[0]) if client else None
