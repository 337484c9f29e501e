from __future__ import annotations

from tests.admin.conftest import Browser


async def test_home_and_pages(admin: Browser) -> None:
    for path in [
        "/admin/",
        "/admin/draft",
        "/admin/draft/plans",
        "/admin/draft/questions",
        "/admin/draft/rules",
        "/admin/draft/attributes",
        "/admin/draft/settings",
        "/admin/simulator",
        "/admin/scenarios",
        "/admin/impact",
        "/admin/diff",
        "/admin/publish",
        "/admin/versions",
        "/admin/versions/1",
        "/admin/import",
        "/admin/audit",
        "/admin/users",
        "/admin/draft/plans/0",
        "/admin/draft/questions/0",
        "/admin/draft/rules/0",
        "/admin/draft/attributes/0",
        "/admin/account/password",
    ]:
        await admin.text(path)
