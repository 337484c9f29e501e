"""Admin test fixtures: the real app on a real SQLite file in tmp_path, staff, a browser-like client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol

from admin.users import create_user
from planwise.app import create_app
from service.runtime import get_runtime

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXAMPLE = FIXTURES / "example.json"
PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def settings_for(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'planwise.db'}",
        "secret_key": "test-secret-key-" + "x" * 32,
        "rules_engine": "reference",
        "load_demo": True,
        "demo_bundle": str(EXAMPLE),
        "hello_timeout": 0.2,
        "publish_poll_interval": 0.1,
        **overrides,
    }


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, Any]:
    return settings_for(tmp_path)


@pytest.fixture
async def app(settings: dict[str, Any]) -> AsyncIterator[Quart]:
    app = create_app(settings)
    async with app.test_app():
        yield app


async def add_user(app: Quart, email: str, role: str, password: str = PASSWORD) -> None:
    async with get_runtime(app).sessions() as db, db.begin():
        await create_user(db, email, role, password)


class Browser:
    """A test client that behaves like a person's browser: it reads the CSRF token from pages."""

    def __init__(self, app: Quart) -> None:
        self.app = app
        self.client: TestClientProtocol = app.test_client()
        self.token = ""

    async def get(self, path: str, **kwargs: Any) -> Any:
        response = await self.client.get(path, **kwargs)
        match = TOKEN.search(await response.get_data(as_text=True))
        if match:
            self.token = match.group(1)
        return response

    async def text(self, path: str) -> str:
        response = await self.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return str(await response.get_data(as_text=True))

    async def post(self, path: str, data: dict[str, Any] | None = None, csrf: bool = True, **kw: Any) -> Any:
        if csrf and not self.token:
            await self.get("/admin/login")
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", self.token)
        return await self.client.post(path, form=form, **kw)

    async def login(self, email: str, password: str = PASSWORD) -> Any:
        await self.get("/admin/login")
        response = await self.post("/admin/login", {"email": email, "password": password})
        if response.status_code == 302:
            await self.get("/admin/")  # a fresh token: signing in rotates the CSRF secret
        return response


@pytest.fixture
async def browser(app: Quart) -> Browser:
    return Browser(app)


async def signed_in(app: Quart, role: str, email: str | None = None) -> Browser:
    email = email or f"{role}@example.com"
    await add_user(app, email, role)
    b = Browser(app)
    response = await b.login(email)
    assert response.status_code == 302, await response.get_data(as_text=True)
    return b


@pytest.fixture
async def editor(app: Quart) -> Browser:
    return await signed_in(app, "editor")


@pytest.fixture
async def publisher(app: Quart) -> Browser:
    return await signed_in(app, "publisher")


@pytest.fixture
async def admin(app: Quart) -> Browser:
    return await signed_in(app, "admin")


@pytest.fixture
async def viewer(app: Quart) -> Browser:
    return await signed_in(app, "viewer")
