"""The admin blueprint and its guard: login, role and CSRF checks before every /admin view."""

from __future__ import annotations

from quart import Blueprint, current_app, g, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue
from quart_auth import current_user

from .auth import staff_for_token
from .roles import PUBLIC, has_role
from .templating import admin_context
from .web import close_db, csrf_valid, db

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.context_processor(admin_context)
bp.teardown_request(close_db)  # the request's database session (admin/web.py)
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@bp.before_request
async def guard() -> ResponseReturnValue | None:
    """Refuse unless signed in with the view's role (views without a role mark are refused too)."""
    view = current_app.view_functions.get(request.endpoint or "")
    safe = request.method in SAFE_METHODS
    needed = getattr(view, "required_role" if safe else "write_role", None)
    token = current_user.auth_id
    g.staff = await staff_for_token(db(), token) if token else None  # the request's one session
    if needed is None:
        return await render_template("admin/error.html", title="Not available", status=403), 403
    if needed != PUBLIC:
        if g.staff is None:
            target = request.full_path if safe else request.path
            return redirect(url_for("admin.login", next=target.rstrip("?")))
        if not has_role(g.staff.role, needed):
            message = f"This page needs the {needed} role; you are signed in as {g.staff.role}."
            page = await render_template("admin/error.html", title="Not allowed", message=message, status=403)
            return page, 403
    if not safe and not csrf_valid(await request.form):
        message = (
            "This form was not accepted because its security token is missing or expired "
            "(it may have been open for a long time). Go back, reload the page and submit it again."
        )
        page = await render_template("admin/error.html", title="Form expired", message=message, status=400)
        return page, 400
    return None
