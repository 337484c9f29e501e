"""Request helpers shared by the admin views: database sessions, the signed-in staff, CSRF, audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from quart import abort, current_app, g, request, session
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from wtforms import Form
from wtforms.csrf.session import SessionCSRF
from wtforms.meta import DefaultMeta

from service.config import Settings
from service.control import ServiceControl
from service.runtime import NotServing, Runtime, get_runtime

from . import audit
from .auth import LoginLimiter, Staff


@dataclass
class AdminState:
    """The admin's per-app state, in ``app.extensions["planwise_admin"]``."""

    limiter: LoginLimiter = field(default_factory=LoginLimiter)


class CsrfForm(Form):
    """Only the CSRF token: checked for every POST to /admin before any view runs."""

    class Meta(DefaultMeta):
        csrf = True
        csrf_class = SessionCSRF
        csrf_field_name = "csrf_token"


def settings() -> Settings:
    return cast(Settings, current_app.config["PLANWISE"])


def state() -> AdminState:
    return cast(AdminState, current_app.extensions["planwise_admin"])


def runtime() -> Runtime:
    """The running service (503 when it is not serving)."""
    try:
        return get_runtime()
    except NotServing:
        abort(503)


def maker() -> async_sessionmaker[AsyncSession]:
    return runtime().sessions


def control() -> ServiceControl:
    """What the admin may ask of the running service (service/control.py)."""
    return runtime().control


def csrf_meta() -> dict[str, Any]:
    hours = settings().staff_session_hours
    return {
        "csrf_secret": settings().secret_key.encode(),
        "csrf_context": session,
        "csrf_time_limit": timedelta(hours=hours),
    }


def csrf_token() -> str:
    """A token for the hidden ``csrf_token`` input of every form (templates call this)."""
    form = CsrfForm(meta=csrf_meta())
    return str(form.csrf_token.current_token)


def csrf_valid(formdata: Any) -> bool:
    if "csrf" not in session:  # SessionCSRF would raise KeyError: no token was ever issued here
        return False
    return CsrfForm(formdata, meta=csrf_meta()).validate()


def staff() -> Staff:
    """The signed-in staff member (the guard guarantees one on every non-public view)."""
    current: Staff | None = g.get("staff")
    if current is None:
        abort(401)
    return current


def address() -> str:
    return request.remote_addr or ""


async def log(
    db: AsyncSession,
    action: str,
    target: str = "",
    summary: str = "",
    before: Any = None,
    after: Any = None,
    actor: str | None = None,
) -> None:
    """Audit an action of the signed-in staff member (or ``actor``) in the caller's transaction."""
    who = actor if actor is not None else staff().email
    await audit.record(db, who, action, target, summary, before, after, address())


def safe_next(target: str | None, default: str) -> str:
    """Only a local /admin path (no scheme, no host, no //) may be a redirect target."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/admin") or target.startswith("//"):
        return default
    return target
