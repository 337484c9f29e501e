"""The original React hook (docs/socketio.md, verbatim but for the URL), built with esbuild, in Chromium.

A tiny page: the hook, a list of the plans it returns, and a button that sends answers. Served
from its own origin (listed in PLANWISE_ALLOWED_ORIGINS), like a separate front end.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import browser  # noqa: F401  (the fixture)
from tests.servers import HOST, ROOT, ServerProcess, free_port
from tests.service.server_helpers import service_server

pytestmark = pytest.mark.browser

APP = """
import { createRoot } from "react-dom/client";
import { usePlans } from "./usePlans.js";

function App() {
  const { plans, sendUserResponse } = usePlans("u-42");
  return (
    <main>
      <ul id="plans">{plans.map((plan) => <li key={plan.id}>{plan.id}</li>)}</ul>
      <button id="heavy" onClick={() => sendUserResponse({ dataUsage: "heavy", budget: 20 })}>Heavy</button>
    </main>
  );
}

createRoot(document.getElementById("root")).render(<App />);
"""


def the_hook(url: str) -> str:
    """The hook from docs/socketio.md, its URL pointed at the test server."""
    doc = (ROOT / "docs" / "socketio.md").read_text()
    hook = re.search(r"```jsx\n// usePlans\.js.*?\n(.*?)```", doc, re.DOTALL)
    assert hook is not None, "docs/socketio.md shows the hook"
    return hook.group(1).replace("https://plans.example.com", url)


@pytest.fixture
def page_site(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "site"))
    (tmp_path / "site").mkdir()
    httpd = http.server.ThreadingHTTPServer((HOST, port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def sio_server(tmp_path: Path, page_site: str) -> Iterator[ServerProcess]:
    server = service_server(tmp_path / "server", PLANWISE_ALLOWED_ORIGINS=page_site)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def build(tmp_path: Path, url: str) -> None:
    esbuild = ROOT / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        message = "esbuild is not installed (make test runs npm ci)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    src = tmp_path / "src"
    src.mkdir()
    (src / "usePlans.js").write_text(the_hook(url))
    (src / "app.jsx").write_text(APP)
    site = tmp_path / "site"
    result = subprocess.run(
        [
            str(esbuild),
            str(src / "app.jsx"),
            "--bundle",
            "--jsx=automatic",
            f"--outfile={site / 'app.js'}",
            '--define:process.env.NODE_ENV="production"',
            "--log-level=warning",
        ],
        cwd=ROOT,
        env={**os.environ, "NODE_PATH": str(ROOT / "node_modules")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (site / "index.html").write_text('<!doctype html><div id="root"></div><script src="app.js"></script>')


def test_the_original_hook_shows_plans_and_they_change_with_an_answer(
    tmp_path: Path,
    browser: Any,  # noqa: F811
    page_site: str,
    sio_server: ServerProcess,
) -> None:
    build(tmp_path, sio_server.url)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(page_site + "/index.html")
        page.wait_for_selector("#plans li", timeout=15_000)
        before = page.locator("#plans li").all_inner_texts()
        assert "max-50" in before
        page.click("#heavy")
        # budget 20: Max 50 (29 a month) goes; the list the hook returns changes without a reload
        page.wait_for_function(
            "() => !document.querySelector('#plans').textContent.includes('max-50')", timeout=15_000
        )
        after = page.locator("#plans li").all_inner_texts()
        assert after != before and "max-50" not in after, after  # over budget once it is 20
        assert not errors, errors
    finally:
        page.close()
