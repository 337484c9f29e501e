"""Origin checks against configured origins, scheme included (no prefix or regex matching:
``https://a.com.evil.net`` is not ``https://a.com``, and ``http://a.com`` is not ``https://a.com``).

The request's own ``Host`` is not trusted as "same origin" (a DNS-rebinding page sends
``Origin: http://evil.example:8000`` and ``Host: evil.example:8000`` to a server on loopback),
except when ``PLANWISE_ORIGIN_TRUST_HOST`` says so, or for a literal loopback host
(``127.0.0.1``, ``[::1]``, ``localhost``: no rebinding page can have that origin) in development.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import urlsplit

from .config import Settings

DEFAULT_PORTS = {"http": 80, "https": 443}


class RequestLike(Protocol):
    @property
    def headers(self) -> Any: ...

    @property
    def host(self) -> str: ...

    @property
    def scheme(self) -> str: ...


def normalise(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port; None if not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.path or parts.query or parts.username:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def _is_loopback(host: str) -> bool:
    name = host.lower()
    if name.startswith("[") and "]" in name:
        name = name[1 : name.index("]")]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def origin_allowed(
    origin: str | None,
    host: str | None,
    allowed: Iterable[str],
    *,
    scheme: str = "http",
    trust_host: bool = False,
) -> bool:
    """Whether a browser page of ``origin`` may use the service.

    No ``Origin`` header (non-browser clients) is allowed. Otherwise the origin must be one of
    ``allowed`` (or ``*``), or the service's own ``scheme://host`` when ``trust_host`` is set or
    the host is a loopback literal.
    """
    if origin is None:
        return True
    listed = set(allowed)
    if "*" in listed:
        return True
    found = normalise(origin)
    if found is None:
        return False
    if found in {normalise(a) for a in listed}:
        return True
    if not host or not (trust_host or _is_loopback(host)):
        return False
    own = normalise(f"{'https' if scheme in ('https', 'wss') else 'http'}://{host}")
    return found == own


def request_origin_allowed(request: RequestLike, settings: Settings) -> bool:
    """The check for a Quart ``request`` or ``websocket`` (scheme as the trusted-proxy middleware set it)."""
    return origin_allowed(
        request.headers.get("Origin"),
        request.host,
        settings.allowed_origins,
        scheme=request.scheme,
        trust_host=settings.origin_trust_host,
    )
