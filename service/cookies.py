"""The public session cookie: set by the HTTP API (``POST /api/sessions``), read by every transport
(the HTTP API, ``/ws``, Socket.IO) when no token is given.

Behind TLS (``PLANWISE_STAFF_COOKIE_SECURE``, the setting that also makes the staff cookies
``__Host-``) it is ``__Host-planwise_session``: ``Secure``, ``Path=/``, no ``Domain``, so the browser
refuses it over plain HTTP and no sibling subdomain can set or shadow it. Over plain HTTP (local
development) it is ``planwise_session``, ``Secure`` only when the request came over HTTPS.
Both are ``HttpOnly`` and ``SameSite=Lax``.
"""

from __future__ import annotations

from quart import Response

from .config import Settings

PLAIN_SESSION_COOKIE = "planwise_session"
SECURE_SESSION_COOKIE = "__Host-planwise_session"


def session_cookie_name(settings: Settings) -> str:
    """The name every transport reads the session token from."""
    return SECURE_SESSION_COOKIE if settings.staff_cookie_secure else PLAIN_SESSION_COOKIE


def set_session_cookie(response: Response, token: str, settings: Settings, https: bool) -> None:
    """Set the session cookie on ``response`` (``https``: the request came over HTTPS)."""
    secure = settings.staff_cookie_secure
    response.set_cookie(
        session_cookie_name(settings),
        token,
        max_age=settings.session_max_age,
        path="/",
        secure=secure or https,
        httponly=True,
        samesite="Lax",
    )
