"""The service's application: the public page, the WebSocket, Socket.IO and the HTTP API (no admin).

``planwise.app.create_app`` composes it with the admin; this layer never imports the admin.
"""

from __future__ import annotations

from quart import Quart
from quart_schema import Info, QuartSchema

from . import headers
from .config import ROOT, Settings
from .logs import init_app as init_logging
from .proxies import ProxyHeadersMiddleware, TrustedProxies
from .runtime import Migrate, init_runtime


def build_app(settings: Settings, migrate: Migrate) -> Quart:
    """The service app; ``migrate`` brings the database schema up to date (when ``auto_migrate``)."""
    app = Quart(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.secret_key = settings.secret_key
    app.config["PLANWISE"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_frame_bytes
    QuartSchema(
        app,
        info=Info(title="Planwise API", version="1", description="HTTP fallback of the Planwise protocol"),
        openapi_path="/openapi.json",
        swagger_ui_path=None,  # served by apidocs.py from the package, not from a CDN
        redoc_ui_path=None,
        scalar_ui_path=None,
    )
    init_runtime(app, settings, migrate)
    init_logging(app)  # PLANWISE_LOG_FORMAT, request ids
    headers.init_app(app)

    from .api import bp as api_bp
    from .apidocs import bp as apidocs_bp
    from .health import bp as health_bp
    from .public import bp as public_bp
    from .socketio_server import init_socketio
    from .ws import bp as ws_bp

    app.register_blueprint(ws_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(public_bp)
    app.register_blueprint(health_bp)  # /readyz, /metrics
    app.register_blueprint(apidocs_bp)
    init_socketio(app, settings)  # /socket.io/ in front of the app: same process, same port
    # Outermost, so that every transport (HTTP, /ws, /socket.io/) sees the forwarded client address
    # and scheme, from PLANWISE_TRUSTED_PROXIES only (service/proxies.py).
    proxies = TrustedProxies(settings.trusted_proxies)
    app.asgi_app = ProxyHeadersMiddleware(app.asgi_app, proxies)  # type: ignore[method-assign,assignment]
    return app
