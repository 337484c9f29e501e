"""Security headers on every HTTP response, in one place (``init_app``).

A strict Content-Security-Policy: scripts, styles, images, fonts and connections only from the
service itself (no inline script or style, no ``eval``), no plugins, no ``<base>``, forms post
only here, and no page may be framed (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``).
The pages pass it as they are: every script is a file under /static, the Swagger UI at /docs
included (its assets are served from the ``swagger-ui-py`` package, see ``apidocs.py``).
"""

from __future__ import annotations

from quart import Quart, Response, request

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
#: Sent on responses to HTTPS requests (directly or from a trusted proxy) only.
HSTS = "max-age=31536000"


def init_app(app: Quart) -> None:
    """Add the headers to every response of ``app`` (a view's own value of a header wins)."""

    @app.after_request
    async def security_headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
