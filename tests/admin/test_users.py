"""Staff management by admins: add, change role, disable, reset password; every change audited."""

from __future__ import annotations

from quart import Quart
from sqlalchemy import select

from admin.models import AuditEntry, StaffUser
from service.runtime import get_runtime
from tests.admin.conftest import Browser, signed_in


async def user_id(app: Quart, email: str) -> int:
    async with get_runtime(app).sessions() as db:
        return int((await db.execute(select(StaffUser.id).where(StaffUser.email == email))).scalar_one())


async def test_admin_adds_and_changes_staff(app: Quart, admin: Browser) -> None:
    bad = await admin.post("/admin/users/new", {"email": "not-an-email", "role": "editor", "password": "x"})
    assert bad.status_code == 400
    page = await bad.get_data(as_text=True)
    assert "Enter an e-mail address" in page and 'value="not-an-email"' in page
    ok = await admin.post(
        "/admin/users/new", {"email": "ed@example.com", "role": "editor", "password": "p" * 12}
    )
    assert ok.status_code == 302
    ed = Browser(app)
    assert (await ed.login("ed@example.com", "p" * 12)).status_code == 302
    uid = await user_id(app, "ed@example.com")
    changed = await admin.post(f"/admin/users/{uid}", {"role": "viewer", "active": "y"})
    assert changed.status_code == 302
    assert (await ed.get("/admin/")).status_code == 302  # a role change signs them out
    assert (await ed.login("ed@example.com", "p" * 12)).status_code == 302
    assert (await ed.post("/admin/draft/settings", {"name": "x"})).status_code == 403  # now a viewer
    await admin.post(f"/admin/users/{uid}", {"role": "viewer"})  # unchecked: disabled
    assert (await Browser(app).login("ed@example.com", "p" * 12)).status_code == 401
    async with get_runtime(app).sessions() as db:
        entries = list(
            (await db.execute(select(AuditEntry).where(AuditEntry.action == "staff_change"))).scalars()
        )
    assert [e.after for e in entries][-1] == {"role": "viewer", "active": False}


async def test_last_admin_cannot_be_demoted(app: Quart, admin: Browser) -> None:
    uid = await user_id(app, "admin@example.com")
    response = await admin.post(f"/admin/users/{uid}", {"role": "editor", "active": "y"})
    assert response.status_code == 400
    assert "last active admin" in await response.get_data(as_text=True)


async def test_duplicate_account_is_refused(app: Quart, admin: Browser) -> None:
    await signed_in(app, "viewer", "v@example.com")
    response = await admin.post(
        "/admin/users/new", {"email": "V@example.com", "role": "editor", "password": "p" * 12}
    )
    assert response.status_code == 400 and "already has an account" in await response.get_data(as_text=True)
