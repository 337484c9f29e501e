"""Sign in, sign out, change password, and the admin home page."""

from __future__ import annotations

import math

from quart import flash, redirect, render_template, request, url_for
from quart import session as cookie_session
from quart.typing import ResponseReturnValue
from quart_auth import current_user, login_user, logout_user

from .auth import (
    StaffAuthUser,
    audit_this_failure,
    find_user,
    revoke_session,
    start_session,
    verify_password,
)
from .blueprint import bp
from .forms import LoginForm, PasswordChangeForm
from .roles import PUBLIC, requires
from .users import count_users, set_password
from .web import address, db, get_admin, log, safe_next, settings, staff, transaction


@bp.route("/login", methods=["GET", "POST"])
@requires(PUBLIC)
async def login() -> ResponseReturnValue:
    """Sign in with e-mail and password (throttled per account and address: ``throttle.SignInThrottle``)."""
    form = LoginForm(await request.form if request.method == "POST" else None)
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    session = db()
    no_users = await count_users(session) == 0
    status = 200
    if request.method == "POST" and form.validate():
        email = (form.email.data or "").strip().lower()
        throttle, where = get_admin().throttle, address()
        wait = await throttle.retry_after(email, where)
        if wait > 0:  # answered at once: no password hashing, no audit row
            form.password.errors = [f"Too many failed attempts: try again in {_in_words(wait)}."]
            response = await render_template("admin/login.html", form=form, no_users=no_users)
            return response, 429, {"Retry-After": str(math.ceil(wait))}
        failures = await throttle.attempt(email, where)  # counted (and committed) before the check
        async with transaction() as session:
            user = await find_user(session, email)
            ok = await verify_password(user.password_hash if user else None, form.password.data or "")
            if ok and user is not None and user.active:
                token = await start_session(session, user, settings().staff_session_hours, where)
                summary = "Signed in" + (f" after {failures - 1} failed attempt(s)" if failures > 1 else "")
                await log(session, "login", user.email, summary, actor=user.email)
            elif audit_this_failure(failures):
                summary = "Wrong e-mail or password"
                if failures > 1:
                    summary += f" ({failures} failed attempts on this account in the last 15 minutes)"
                await log(session, "login_failed", email, summary, actor=email)
        if ok and user is not None and user.active:
            await throttle.succeeded(email, where)
            cookie_session.pop("csrf", None)  # a fresh CSRF secret for the signed-in session
            login_user(StaffAuthUser(token))
            return redirect(safe_next(form.next.data, url_for("admin.home")))
        form.password.errors = ["Wrong e-mail or password (or the account is disabled)."]
        status = 401
    elif request.method == "POST":
        status = 400
    return await render_template("admin/login.html", form=form, no_users=no_users), status


def _in_words(seconds: float) -> str:
    if seconds < 60:
        return f"{math.ceil(seconds)} second(s)"
    return f"{math.ceil(seconds / 60)} minute(s)"


@bp.route("/logout", methods=["POST"])
@requires("viewer")
async def logout() -> ResponseReturnValue:
    """Sign out: the session is revoked server-side, not only forgotten by the browser."""
    token = current_user.auth_id
    async with transaction() as session:
        if token:
            await revoke_session(session, token)
        await log(session, "logout", staff().email, "Signed out")
    logout_user()
    cookie_session.pop("csrf", None)
    await flash("You are signed out.")
    return redirect(url_for("admin.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@requires("viewer")
async def password() -> ResponseReturnValue:
    """Change one's own password; every session of the account is revoked, this one renewed."""
    form = PasswordChangeForm(await request.form if request.method == "POST" else None)
    if request.method == "POST" and form.validate():
        from .models import StaffUser

        async with transaction() as session:
            user = await session.get(StaffUser, staff().user_id)
            assert user is not None
            changed = await verify_password(user.password_hash, form.current.data or "")
            if not changed:
                form.current.errors = ["This is not your current password."]
            else:
                await set_password(session, user, form.new.data or "")
                token = await start_session(session, user, settings().staff_session_hours, address())
                await log(
                    session, "password_change", user.email, "Changed own password; other sessions revoked"
                )
        if changed:
            login_user(StaffAuthUser(token))
            await flash("Password changed. Every other session of your account was signed out.")
            return redirect(url_for("admin.home"))
    status = 400 if request.method == "POST" else 200
    return await render_template("admin/password.html", form=form), status
