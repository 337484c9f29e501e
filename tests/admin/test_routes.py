"""Every /admin route requires sign-in and the right role: proven by walking the app's URL map."""

from __future__ import annotations

from quart import Quart

from admin.models import Scenario
from admin.roles import ROLES
from service.runtime import get_runtime
from tests.admin.conftest import Browser, signed_in

PUBLIC = "public"
V, E, P, A = "viewer", "editor", "publisher", "admin"
# endpoint -> (role for GET, role for POST); None: the route does not take that method.
EXPECTED: dict[str, tuple[str | None, str | None]] = {
    "admin.login": (PUBLIC, PUBLIC),
    "admin.logout": (None, V),
    "admin.password": (V, V),
    "admin.home": (V, None),
    "admin.draft": (V, None),
    "admin.draft_export": (V, None),
    "admin.draft_discard": (E, E),
    "admin.catalogue_settings": (V, E),
    "admin.attributes": (V, None),
    "admin.attribute_new": (E, E),
    "admin.attribute_edit": (V, E),
    "admin.attribute_delete": (E, E),
    "admin.estimate_page": (V, E),
    "admin.estimate_check": (None, E),
    "admin.estimate_remove": (E, E),
    "admin.plans": (V, None),
    "admin.plan_new": (E, E),
    "admin.plan_edit": (V, E),
    "admin.plan_delete": (E, E),
    "admin.questions": (V, None),
    "admin.question_new": (E, E),
    "admin.question_edit": (V, E),
    "admin.question_delete": (E, E),
    "admin.question_move": (None, E),
    "admin.question_order": (None, E),
    "admin.rules": (V, None),
    "admin.rule_new": (E, E),
    "admin.rule_edit": (V, E),
    "admin.rule_delete": (E, E),
    "admin.rule_table": (V, E),
    "admin.simulator": (V, None),
    "admin.impact": (V, None),
    "admin.diff": (V, None),
    "admin.scenarios_page": (V, None),
    "admin.scenario_new": (E, E),
    "admin.scenario_edit": (V, E),
    "admin.scenario_delete": (E, E),
    "admin.publish": (V, P),
    "admin.versions": (V, None),
    "admin.version": (V, None),
    "admin.version_export": (V, None),
    "admin.rollback": (P, P),
    "admin.version_compare": (V, None),
    "admin.version_restore": (E, E),
    "admin.import_bundle": (V, E),
    "admin.audit": (V, None),
    "admin.audit_entry": (V, None),
    "admin.insights": (V, None),
    "admin.insights_export_json": (V, None),
    "admin.insights_export_csv": (V, None),
    "admin.users": (A, None),
    "admin.user_new": (A, A),
    "admin.user_edit": (A, A),
}


def admin_routes(app: Quart) -> list[tuple[str, str, str]]:
    """(endpoint, method, concrete URL) of every /admin route in the URL map."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin"):
            continue
        url = rule.rule
        for arg in rule.arguments:
            url = url.replace(f"<int:{arg}>", "1").replace(f"<{arg}>", "1")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method, url))
    return routes


async def request(b: Browser, method: str, url: str, csrf: bool = True) -> int:
    if method == "GET":
        return int((await b.client.get(url)).status_code)
    return int((await b.post(url, {}, csrf=csrf)).status_code)


async def test_every_admin_route_is_in_the_role_table(app: Quart) -> None:
    found = {endpoint for endpoint, _, _ in admin_routes(app)}
    assert found == set(EXPECTED), "a new /admin route needs its roles in EXPECTED"
    for endpoint, method, _ in admin_routes(app):
        get_role, post_role = EXPECTED[endpoint]
        assert (get_role if method == "GET" else post_role) is not None, (endpoint, method)


async def test_every_admin_route_requires_sign_in(app: Quart) -> None:
    anonymous = Browser(app)
    await anonymous.get("/admin/login")  # a valid CSRF token: refusal must come from the missing sign-in
    for endpoint, method, url in admin_routes(app):
        needed = EXPECTED[endpoint][0 if method == "GET" else 1]
        if needed == PUBLIC:
            continue
        response = await (anonymous.client.get(url) if method == "GET" else anonymous.post(url, {}))
        assert response.status_code == 302, (endpoint, method)
        assert response.headers["Location"].startswith("/admin/login"), (endpoint, method)


async def test_every_admin_route_requires_its_role(app: Quart) -> None:
    """Allowed roles get the page itself (200: every URL's item 1 exists), the others 403."""
    async with get_runtime(app).sessions() as db, db.begin():
        db.add(Scenario(name="probe", answers={}, expectations=[]))  # /admin/scenarios/1
    browsers = {role: await signed_in(app, role) for role in ROLES}
    for endpoint, method, url in admin_routes(app):
        needed = EXPECTED[endpoint][0 if method == "GET" else 1]
        if needed == PUBLIC:
            continue
        assert needed is not None
        for role, b in browsers.items():
            allowed = ROLES.index(role) >= ROLES.index(needed)
            if allowed:
                if method == "GET":
                    status = await request(b, method, url)
                    assert status == 200, (endpoint, role, status)
                else:
                    # Without a CSRF token: the role check passes and the CSRF check stops the change.
                    status = await request(b, method, url, csrf=False)
                    assert status == 400, (endpoint, role, status)
            else:
                status = await request(b, method, url)
                assert status == 403, (endpoint, method, role, status)


async def test_unmarked_views_are_refused(app: Quart) -> None:
    """A view added to the blueprint without a role mark is refused, not open."""
    from admin.blueprint import guard

    app.view_functions["admin.unmarked_probe"] = lambda: "open"
    app.url_map.add(app.url_rule_class("/admin/unmarked-probe", endpoint="admin.unmarked_probe"))
    assert guard is not None
    b = await signed_in(app, "admin")
    assert (await b.client.get("/admin/unmarked-probe")).status_code == 403
