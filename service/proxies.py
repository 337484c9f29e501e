"""Which client address and scheme to believe: forwarded headers count only from trusted proxies.

``PLANWISE_TRUSTED_PROXIES`` lists addresses and CIDR networks (``10.0.0.5, 10.1.0.0/16``). A
request whose peer is one of them may name the client in ``X-Forwarded-For`` (the right-most
address that is not itself a trusted proxy is the client) and the scheme in ``X-Forwarded-Proto``;
from any other peer both headers are ignored. Nothing is trusted by default, loopback included.

Use :class:`TrustedProxies` directly (``client_address(request)``, ``client_scheme(request)``), or
:class:`ProxyHeadersMiddleware`, which rewrites the ASGI scope once so that ``request.remote_addr``,
``request.scheme`` and ``websocket.scheme`` are the client's everywhere. ``planwise serve`` turns
uvicorn's own proxy handling off (it trusts 127.0.0.1 by default) and installs the middleware.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Protocol

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The most forwarded hops read from one header (a longer chain is cut from the left).
MAX_HOPS = 16
SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


class ConfigError(ValueError):
    """An entry of PLANWISE_TRUSTED_PROXIES is not an address or network."""


class RequestLike(Protocol):
    """What is needed of a request: Quart's ``request``/``websocket`` qualify."""

    @property
    def remote_addr(self) -> str | None: ...

    @property
    def headers(self) -> Any: ...

    @property
    def scheme(self) -> str: ...


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Addresses and CIDRs as networks; ``ConfigError`` naming the first bad entry."""
    networks: list[IPNetwork] = []
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ConfigError(f"{text!r} is not an IP address or network (CIDR)") from None
    return tuple(networks)


def _address(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class TrustedProxies:
    """The configured proxies and the rules for reading what they forward."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.networks = parse_networks(entries)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, peer: str | None) -> bool:
        """Whether ``peer`` (an address, possibly with a port) is a configured proxy."""
        if not self.networks or not peer:
            return False
        address = _address(peer)
        return address is not None and any(address in network for network in self.networks)

    def resolve(
        self, peer: str | None, forwarded_for: str | None, forwarded_proto: str | None, scheme: str
    ) -> tuple[str | None, str]:
        """(client address, scheme) for a connection from ``peer`` with these header values."""
        if not self.trusts(peer):
            return peer, scheme
        client = peer
        if forwarded_for:
            hops = [hop.strip() for hop in forwarded_for.split(",")][-MAX_HOPS:]
            for hop in reversed(hops):
                if _address(hop) is None:
                    break  # garbage: stop at the last address a trusted proxy vouched for
                client = str(_address(hop))
                if not self.trusts(hop):
                    break
        if forwarded_proto:
            proto = forwarded_proto.split(",")[-1].strip().lower()
            if proto in SCHEMES:
                websocket = scheme in ("ws", "wss")
                secure = SCHEMES[proto] == "https"
                scheme = ("wss" if secure else "ws") if websocket else ("https" if secure else "http")
        return client, scheme

    def client_address(self, request: RequestLike) -> str:
        """The client's address for ``request`` (its peer unless that is a trusted proxy)."""
        client, _ = self.resolve(
            request.remote_addr,
            request.headers.get("X-Forwarded-For"),
            request.headers.get("X-Forwarded-Proto"),
            request.scheme,
        )
        return client or ""

    def client_scheme(self, request: RequestLike) -> str:
        """``https``/``wss`` when the client's own connection is secure (directly or to a trusted proxy)."""
        _, scheme = self.resolve(
            request.remote_addr,
            request.headers.get("X-Forwarded-For"),
            request.headers.get("X-Forwarded-Proto"),
            request.scheme,
        )
        return scheme


Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class ProxyHeadersMiddleware:
    """ASGI middleware: the scope's ``client`` and ``scheme`` become the forwarded ones (trusted peers)."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if self.proxies and scope.get("type") in ("http", "websocket"):
            client = scope.get("client")
            peer = client[0] if client else None
            if self.proxies.trusts(peer):
                found: dict[bytes, list[str]] = {}
                for key, value in scope.get("headers", ()):
                    name = key.lower()
                    if name in (b"x-forwarded-for", b"x-forwarded-proto"):
                        found.setdefault(name, []).append(value.decode("latin-1"))
                address, scheme = self.proxies.resolve(
                    peer,
                    ", ".join(found.get(b"x-forwarded-for", ())) or None,
                    ", ".join(found.get(b"x-forwarded-proto", ())) or None,
                    scope.get("scheme", "http"),
                )
                scope = dict(scope)
                scope["client"] = (address or "", 0)
                scope["scheme"] = scheme
        await self.app(scope, receive, send)
