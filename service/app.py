"""The application factory: ``create_app(config=None)``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quart import Quart
from quart_schema import Info, QuartSchema

from .config import ROOT, Settings
from .runtime import init_runtime


def create_app(config: Mapping[str, Any] | None = None) -> Quart:
    """Build the app; ``config`` overrides settings (lower-case names, see docs/configuration.md)."""
    settings = Settings.from_env(overrides=config)
    app = Quart(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.secret_key = settings.secret_key
    app.config["PLANWISE"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_frame_bytes
    QuartSchema(
        app,
        info=Info(title="Planwise API", version="1", description="HTTP fallback of the Planwise protocol"),
        openapi_path="/openapi.json",
        swagger_ui_path="/docs",
        redoc_ui_path=None,
        scalar_ui_path=None,
    )
    init_runtime(app, settings)

    from .api import bp as api_bp
    from .public import bp as public_bp
    from .ws import bp as ws_bp

    app.register_blueprint(ws_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(public_bp)

    from admin import init_app as init_admin

    init_admin(app)
    return app
