"""Staff sign-in: argon2 accounts, server-side sessions, revocation, rate limits, CSRF."""

from __future__ import annotations

from datetime import timedelta

from quart import Quart
from sqlalchemy import select, update

from admin.models import AuditEntry, StaffSession, StaffUser
from service.db.models import utcnow
from service.runtime import get_runtime
from tests.admin.conftest import PASSWORD, Browser, add_user, signed_in


def cookies(b: Browser) -> dict[str, str]:
    assert b.client.cookie_jar is not None
    return {c.name: c.value or "" for c in b.client.cookie_jar}


async def test_password_is_stored_as_argon2(app: Quart) -> None:
    await add_user(app, "Ann@Example.com", "editor")
    async with get_runtime(app).sessions() as db:
        user = (await db.execute(select(StaffUser))).scalar_one()
    assert user.email == "ann@example.com"
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


async def test_anonymous_is_sent_to_login_and_back(app: Quart, browser: Browser) -> None:
    response = await browser.get("/admin/draft/rules")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=/admin/draft/rules")
    await add_user(app, "ann@example.com", "viewer")
    await browser.get("/admin/login?next=/admin/draft/rules")
    response = await browser.post(
        "/admin/login", {"email": "ann@example.com", "password": PASSWORD, "next": "/admin/draft/rules"}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/admin/draft/rules"
    assert (await browser.get("/admin/draft/rules")).status_code == 200


async def test_login_refuses_foreign_redirects(app: Quart, browser: Browser) -> None:
    await add_user(app, "ann@example.com", "viewer")
    await browser.get("/admin/login")
    for target in ("https://evil.example/", "//evil.example/admin", "/public"):
        response = await browser.post(
            "/admin/login", {"email": "ann@example.com", "password": PASSWORD, "next": target}
        )
        assert response.headers["Location"] == "/admin/"
        await browser.get("/admin/login")


async def test_wrong_password_and_unknown_account_look_the_same(app: Quart, browser: Browser) -> None:
    await add_user(app, "ann@example.com", "viewer")
    await browser.get("/admin/login")
    wrong = await browser.post("/admin/login", {"email": "ann@example.com", "password": "nope-nope-nope"})
    unknown = await browser.post("/admin/login", {"email": "bob@example.com", "password": "nope-nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    page = await wrong.get_data(as_text=True)
    assert "Wrong e-mail or password" in page and 'value="ann@example.com"' in page  # input kept
    assert "planwise_staff" not in cookies(browser)


async def test_disabled_account_cannot_sign_in(app: Quart, browser: Browser) -> None:
    await add_user(app, "ann@example.com", "viewer")
    async with get_runtime(app).sessions() as db, db.begin():
        await db.execute(update(StaffUser).values(active=False))
    assert (await browser.login("ann@example.com")).status_code == 401


async def test_cookie_lifetime_follows_settings(app: Quart, browser: Browser) -> None:
    await add_user(app, "ann@example.com", "viewer")
    response = await browser.login("ann@example.com")
    staff = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("planwise_staff=")]
    assert len(staff) == 1, response.headers.getlist("Set-Cookie")
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in staff[0].split(";")[1:]}
    # A browser-session cookie (gone with the browser); the lifetime is enforced server-side below.
    assert "max-age" not in attributes and "expires" not in attributes, staff[0]
    assert "httponly" in attributes and attributes["path"] == "Path=/admin"
    async with get_runtime(app).sessions() as db:
        row = (await db.execute(select(StaffSession))).scalar_one()
    assert timedelta(hours=7.9) < row.expires_at - row.created_at <= timedelta(hours=8)


async def test_expired_session_is_refused(app: Quart, viewer: Browser) -> None:
    async with get_runtime(app).sessions() as db, db.begin():
        await db.execute(update(StaffSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await viewer.get("/admin/")).status_code == 302


async def test_logout_revokes_the_session_server_side(app: Quart, viewer: Browser) -> None:
    stolen = cookies(viewer)["planwise_staff"]
    response = await viewer.post("/admin/logout")
    assert response.status_code == 302
    assert (await viewer.get("/admin/")).status_code == 302
    thief = Browser(app)
    thief.client.set_cookie("localhost", "planwise_staff", stolen, path="/admin")
    assert (await thief.get("/admin/")).status_code == 302  # the old cookie is worthless now


async def test_password_change_revokes_other_sessions(app: Quart) -> None:
    first = await signed_in(app, "editor", "ann@example.com")
    second = Browser(app)
    assert (await second.login("ann@example.com")).status_code == 302
    page = await first.get("/admin/account/password")
    assert page.status_code == 200
    bad = await first.post(
        "/admin/account/password", {"current": "wrong-password", "new": "n" * 12, "confirm": "n" * 12}
    )
    assert bad.status_code == 400 and "not your current password" in await bad.get_data(as_text=True)
    ok = await first.post(
        "/admin/account/password", {"current": PASSWORD, "new": "new password 1", "confirm": "new password 1"}
    )
    assert ok.status_code == 302
    assert (await first.get("/admin/")).status_code == 200  # this browser got a fresh session
    assert (await second.get("/admin/")).status_code == 302  # the other one is signed out
    assert (await Browser(app).login("ann@example.com")).status_code == 401
    assert (await Browser(app).login("ann@example.com", "new password 1")).status_code == 302


async def test_sign_in_is_slowed_per_account_and_address(app: Quart, browser: Browser) -> None:
    await add_user(app, "ann@example.com", "viewer")
    await browser.get("/admin/login")
    for _ in range(3):  # typos are free
        response = await browser.post(
            "/admin/login", {"email": "ann@example.com", "password": "wrong-password"}
        )
        assert response.status_code == 401
    blocked = await browser.post("/admin/login", {"email": "ann@example.com", "password": PASSWORD})
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "1"
    assert "Too many failed attempts: try again in 1 second(s)" in await blocked.get_data(as_text=True)
    # Another account from the same address is not held back by this account's failures.
    await add_user(app, "bob@example.com", "viewer")
    assert (await Browser(app).login("bob@example.com")).status_code == 302


async def test_sign_in_is_slowed_per_address(app: Quart, browser: Browser) -> None:
    await add_user(app, "ann@example.com", "viewer")
    await browser.get("/admin/login")
    for i in range(10):
        response = await browser.post(
            "/admin/login", {"email": f"x{i}@example.com", "password": "wrong-password"}
        )
        assert response.status_code == 401
    blocked = await browser.post("/admin/login", {"email": "ann@example.com", "password": PASSWORD})
    assert blocked.status_code == 429


async def test_post_without_csrf_token_is_refused(app: Quart, editor: Browser) -> None:
    response = await editor.post("/admin/logout", csrf=False)
    assert response.status_code == 400
    assert "Form expired" in await response.get_data(as_text=True)
    assert (await editor.get("/admin/")).status_code == 200  # still signed in: the logout did not happen


async def test_csrf_token_of_another_session_is_refused(app: Quart, editor: Browser) -> None:
    other = await signed_in(app, "editor", "other@example.com")
    response = await editor.post("/admin/draft/settings", {"name": "Hijacked", "csrf_token": other.token})
    assert response.status_code == 400
    forged = await editor.post("/admin/draft/settings", {"name": "Hijacked", "csrf_token": "2099##deadbeef"})
    assert forged.status_code == 400
    assert "Hijacked" not in await editor.text("/admin/draft/settings")


async def test_login_form_needs_csrf_too(app: Quart) -> None:
    await add_user(app, "ann@example.com", "viewer")
    fresh = Browser(app)  # never loaded a page: no CSRF secret in its session
    response = await fresh.post(
        "/admin/login", {"email": "ann@example.com", "password": PASSWORD}, csrf=False
    )
    assert response.status_code == 400


async def test_sign_in_and_out_are_audited(app: Quart, viewer: Browser) -> None:
    await viewer.post("/admin/logout")
    await Browser(app).login("viewer@example.com", "wrong-password")
    async with get_runtime(app).sessions() as db:
        actions = [e.action for e in (await db.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()]
    assert actions == ["login", "logout", "login_failed"]
