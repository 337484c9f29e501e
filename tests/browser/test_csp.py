"""Issue 15: the public page, the admin and the API docs run in Chromium under the strict CSP
(no inline script or style, no third-party origin, no framing), with no violation reported."""

from __future__ import annotations

from typing import Any

import pytest

from ..servers import ServerProcess

pytestmark = pytest.mark.browser

PASSWORD = "a long enough password"


def _violations(page: Any) -> list[str]:
    seen: list[str] = []
    page.on("console", lambda msg: seen.append(msg.text) if "Content Security Policy" in msg.text else None)
    return seen


def test_pages_run_under_the_strict_csp(browser: Any, server: ServerProcess) -> None:
    made = server.run_cli(
        "create-user", "csp@example.com", "--role", "admin", "--password-stdin", stdin=PASSWORD
    )
    assert made.returncode == 0, made.stderr
    context = browser.new_context()
    page = context.new_page()
    violations = _violations(page)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto(server.url + "/")
    # Connected over /ws (connect-src 'self') and showing the first update.
    connected = "() => Boolean(window.planwiseClient && window.planwiseClient.update)"
    page.wait_for_function(connected, timeout=30_000)

    page.goto(server.url + "/admin/login")
    page.fill("input[name=email]", "csp@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/**")
    page.goto(server.url + "/admin/simulator")
    page.goto(server.url + "/admin/draft/rules/0")

    page.goto(server.url + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=15_000)  # Swagger UI rendered the API

    assert violations == []
    assert all(url.startswith(server.url) for url in requests), [
        u for u in requests if not u.startswith(server.url)
    ]
    headers = page.goto(server.url + "/admin/").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    context.close()
