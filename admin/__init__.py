"""The staff admin blueprint at /admin (catalogue editing, checks, publishing)."""

from __future__ import annotations

import logging
from typing import Any, cast

from quart import Quart
from quart_auth import QuartAuth

from service.config import Settings
from service.runtime import NotServing, get_runtime

log = logging.getLogger(__name__)
# Admin forms carry whole bundles (import, rule JSON): more than the public API's frame-sized limit.
ADMIN_MAX_CONTENT_LENGTH = 8 * 1024 * 1024


def _allow_larger_admin_bodies(app: Quart) -> None:
    """Raise the body limit for /admin/ requests only; every other path keeps the app's limit."""
    base: Any = app.request_class

    class Request(base):
        def __init__(self, method: str, scheme: str, path: str, *args: Any, **kwargs: Any) -> None:
            if path.startswith("/admin/"):
                limit = kwargs.get("max_content_length")
                if limit is not None and limit < ADMIN_MAX_CONTENT_LENGTH:
                    kwargs["max_content_length"] = ADMIN_MAX_CONTENT_LENGTH
                super().__init__(method, scheme, path, *args, **kwargs)
                self.max_content_length = kwargs.get("max_content_length")
                self.max_form_memory_size = ADMIN_MAX_CONTENT_LENGTH
            else:
                super().__init__(method, scheme, path, *args, **kwargs)

    app.request_class = Request


def init_app(app: Quart) -> None:
    """Register the admin blueprint and its auth on ``app``."""
    from . import (  # noqa: F401  (the view modules add their routes to the blueprint)
        views_audit,
        views_auth,
        views_catalogue,
        views_checks,
        views_draft,
        views_estimate,
        views_insights,
        views_items,
        views_rules,
        views_scenarios,
        views_users,
        views_versions,
    )
    from .auth import StaffAuthUser
    from .blueprint import bp
    from .templating import register_templating
    from .web import init_state

    settings = cast(Settings, app.config["PLANWISE"])
    QuartAuth(
        app,
        cookie_name="planwise_staff",
        cookie_path="/admin",
        cookie_samesite="Lax",
        cookie_secure=settings.staff_cookie_secure,
        duration=int(settings.staff_session_hours * 3600),
        salt="planwise-staff-session",
        user_class=StaffAuthUser,
    )
    init_state(app)
    _allow_larger_admin_bodies(app)
    register_templating(app)
    app.register_blueprint(bp)

    @app.before_serving
    async def hint_first_user() -> None:
        from .users import count_users

        try:
            maker = get_runtime(app).sessions
        except NotServing:
            return
        async with maker() as session:
            if await count_users(session) == 0:
                log.warning(
                    "No staff account yet. Create the first one with: "
                    "planwise create-user you@example.com --role admin   (then sign in at /admin)"
                )
