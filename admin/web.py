"""Request helpers of the admin views: the request's database session, the signed-in staff, CSRF, audit.

One ``AsyncSession`` per admin request (Flask tutorial's ``get_db`` pattern): :func:`db` opens it
lazily in ``g``; :func:`close_db` (the blueprint's teardown) rolls back whatever was not committed
and closes it. Views that write commit explicitly (:func:`transaction`) before they acknowledge.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from quart import Quart, abort, current_app, g, request, session
from quart_auth import current_user
from sqlalchemy.ext.asyncio import AsyncSession
from wtforms import Form
from wtforms.csrf.session import SessionCSRF
from wtforms.meta import DefaultMeta

from service.config import Settings
from service.control import ServiceControl
from service.runtime import NotServing, Runtime, get_runtime

from . import audit
from .audit import Actor
from .auth import SignInThrottle, Staff
from .jobs import Jobs

ADMIN_KEY = "planwise_admin"  # the one entry of app.extensions the admin owns


@dataclass
class AdminState:
    """The admin's per-app state (``app.extensions[ADMIN_KEY]``), set by ``admin.init_app``."""

    throttle: SignInThrottle = field(default_factory=SignInThrottle)
    jobs: Jobs = field(default_factory=Jobs)  # heavy checks in the background (admin/jobs.py)


def init_state(app: Quart) -> AdminState:
    """Give ``app`` its admin state (called once by ``admin.init_app``)."""
    app.extensions[ADMIN_KEY] = found = AdminState()
    return found


def get_admin(app: Quart | None = None) -> AdminState:
    """The admin state of ``app`` (``current_app`` by default)."""
    found = (app or current_app).extensions.get(ADMIN_KEY)
    if not isinstance(found, AdminState):
        raise RuntimeError("the admin is not set up on this app: call admin.init_app(app)")
    return found


class CsrfForm(Form):
    """Only the CSRF token: checked for every POST to /admin before any view runs."""

    class Meta(DefaultMeta):
        csrf = True
        csrf_class = SessionCSRF
        csrf_field_name = "csrf_token"


def settings() -> Settings:
    return cast(Settings, current_app.config["PLANWISE"])


def runtime() -> Runtime:
    """The running service (503 when it is not serving)."""
    try:
        return get_runtime()
    except NotServing:
        abort(503)


def db() -> AsyncSession:
    """This request's database session, opened on first use; closed by :func:`close_db`."""
    found: AsyncSession | None = g.get("admin_db")
    if found is None:
        found = g.admin_db = runtime().sessions()
    return found


async def close_db(error: BaseException | None = None) -> None:
    """Teardown: roll back what the request did not commit (always on error) and close its session."""
    found: AsyncSession | None = g.pop("admin_db", None)
    if found is not None:
        try:
            if error is not None or found.in_transaction():
                await found.rollback()
        finally:
            await found.close()


@asynccontextmanager
async def transaction() -> AsyncIterator[AsyncSession]:
    """The request's session for a write: committed when the block ends, rolled back if it raises.

    Unlike ``session.begin()`` this also works after the view has read (SQLAlchemy's autobegin has
    then opened the transaction already); the reads and the write commit together.
    """
    found = db()
    try:
        yield found
    except BaseException:
        await found.rollback()
        raise
    await found.commit()


def control() -> ServiceControl:
    """What the admin may ask of the running service (service/control.py)."""
    return runtime().control


def _csrf_context() -> Any:
    """What a CSRF token is bound to: the staff login once signed in, else the browser's session.

    Bound to the login (a keyed hash of the staff cookie's token), a token is worth nothing with
    anyone else's login: an attacker's own ``session`` cookie and token no longer pass beside a
    victim's staff cookie. Before sign-in (the login form) it is the signed session cookie's
    random secret, as WTForms' ``SessionCSRF`` does.
    """
    auth_id = current_user.auth_id
    if auth_id:
        key = settings().secret_key.encode()
        return {"csrf": hmac.new(key, b"planwise-csrf-login:" + auth_id.encode(), hashlib.sha256).hexdigest()}
    return session


def csrf_meta() -> dict[str, Any]:
    hours = settings().staff_session_hours
    return {
        "csrf_secret": settings().secret_key.encode(),
        "csrf_context": _csrf_context(),
        "csrf_time_limit": timedelta(hours=hours),
    }


def csrf_token() -> str:
    """A token for the hidden ``csrf_token`` input of every form (templates call this)."""
    form = CsrfForm(meta=csrf_meta())
    return str(form.csrf_token.current_token)


def csrf_valid(formdata: Any) -> bool:
    meta = csrf_meta()
    if "csrf" not in meta["csrf_context"]:  # SessionCSRF would raise KeyError: nothing issued here
        return False
    return CsrfForm(formdata, meta=meta).validate()


def staff() -> Staff:
    """The signed-in staff member (the guard guarantees one on every non-public view)."""
    current: Staff | None = g.get("staff")
    if current is None:
        abort(401)
    return current


def address() -> str:
    return request.remote_addr or ""


def actor() -> Actor:
    """The signed-in staff member as the actor of a change (editing functions take it explicitly)."""
    return Actor(staff().email, address())


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
