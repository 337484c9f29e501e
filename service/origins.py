"""Exact Origin checks (no prefix or regex matching: ``https://a.com.evil.net`` is not ``https://a.com``)."""

from __future__ import annotations

from urllib.parse import urlsplit


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """No Origin header (non-browser clients) and same-origin are allowed; others must be listed."""
    if origin is None:
        return True
    origin = origin.strip()
    if origin in allowed or "*" in allowed:
        return True
    parts = urlsplit(origin)
    if not parts.scheme or not parts.netloc or not host:
        return False
    return parts.netloc.lower() == host.lower()
