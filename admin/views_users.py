"""Staff management (admin role): list, add, change role/active/password. Every change is audited."""

from __future__ import annotations

from quart import abort, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from .blueprint import bp
from .forms import EditUserForm, NewUserForm
from .models import StaffUser
from .roles import requires
from .users import StaffError, create_user, list_users, set_password, update_user
from .web import db, log, transaction


@bp.route("/users")
@requires("admin")
async def users() -> ResponseReturnValue:
    session = db()
    rows = await list_users(session)
    return await render_template("admin/users.html", rows=rows, title="Staff")


@bp.route("/users/new", methods=["GET", "POST"])
@requires("admin")
async def user_new() -> ResponseReturnValue:
    form = NewUserForm(await request.form if request.method == "POST" else None)
    if request.method == "POST" and form.validate():
        try:
            async with transaction() as session:
                user = await create_user(
                    session, form.email.data or "", form.role.data, form.password.data or ""
                )
                await log(
                    session,
                    "staff_change",
                    user.email,
                    f"Added {user.email} as {user.role}",
                    None,
                    {"email": user.email, "role": user.role, "active": True},
                )
        except StaffError as exc:
            form.email.errors = [str(exc)]
        else:
            await flash(f"{user.email} can now sign in as {user.role}.")
            return redirect(url_for("admin.users"))
    status = 200 if request.method == "GET" else 400
    return await render_template("admin/user.html", form=form, user=None, title="Add staff"), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@requires("admin")
async def user_edit(user_id: int) -> ResponseReturnValue:
    session = db()
    user = await session.get(StaffUser, user_id)
    if user is None:
        abort(404)
    if request.method == "GET":
        form = EditUserForm(data={"role": user.role, "active": user.active})
        return await render_template("admin/user.html", form=form, user=user, title=user.email)
    form = EditUserForm(await request.form)
    if form.validate():
        try:
            async with transaction() as session:
                row = await session.get(StaffUser, user_id)
                assert row is not None
                before = {"role": row.role, "active": row.active}
                await update_user(session, row, form.role.data, bool(form.active.data))
                after = {"role": row.role, "active": row.active}
                if form.password.data:
                    await set_password(session, row, form.password.data)
                    after["password"] = "changed"  # noqa: S105 (an audit note, not a password)
                if after != before:
                    await log(session, "staff_change", row.email, f"Changed {row.email}", before, after)
        except StaffError as exc:
            await session.refresh(user)  # the rollback expired it; the page shows it again
            form.role.errors = [str(exc)]
        else:
            await flash(f"Saved {user.email}. Any change signs them out everywhere.")
            return redirect(url_for("admin.users"))
    return await render_template("admin/user.html", form=form, user=user, title=user.email), 400
