"""The staff admin blueprint at /admin (catalogue editing, checks, publishing)."""

from __future__ import annotations

import logging
from typing import cast

from quart import Quart
from quart_auth import QuartAuth

from service.config import Settings
from service.runtime import NotServing, get_runtime

from . import limits

log = logging.getLogger(__name__)
#: Cookie names when the admin is served over HTTPS: ``__Host-`` makes the browser refuse them
#: unless Secure, Path=/ and without Domain (no sibling subdomain can set or shadow them).
SECURE_STAFF_COOKIE = "__Host-planwise_staff"
SECURE_SESSION_COOKIE = "__Host-planwise_admin"


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
    secure = settings.staff_cookie_secure
    # The signed session cookie carries the pre-sign-in CSRF secret and flashed messages.
    app.config.update(
        SESSION_COOKIE_NAME=SECURE_SESSION_COOKIE if secure else "session",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
    )
    QuartAuth(
        app,
        cookie_name=SECURE_STAFF_COOKIE if secure else "planwise_staff",
        cookie_path="/" if secure else "/admin",
        cookie_samesite="Lax",
        cookie_secure=secure,
        duration=int(settings.staff_session_hours * 3600),
        salt="planwise-staff-session",
        user_class=StaffAuthUser,
    )
    init_state(app)
    limits.install(app)  # each admin route's body limit, before anything reads the body
    register_templating(app)
    app.register_blueprint(bp)

    @app.after_serving
    async def stop_jobs() -> None:
        from .web import get_admin

        await get_admin(app).jobs.stop()

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
