"""The application: the service with the staff admin, ``create_app(config=None)``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quart import Quart

from admin import init_app as init_admin
from service.app import build_app
from service.config import Settings

from .migrate import upgrade


def create_app(config: Mapping[str, Any] | None = None) -> Quart:
    """Build the app; ``config`` overrides settings (lower-case names, see docs/configuration.md)."""
    settings = Settings.from_env(overrides=config)
    app = build_app(settings, migrate=upgrade)
    init_admin(app)
    return app
