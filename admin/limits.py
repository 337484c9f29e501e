"""Request body limits per admin route, enforced before anything parses the body.

Quart checks ``max_content_length`` against ``Content-Length`` before reading and while the body
streams in (a chunked body is cut off at the limit): either way the request ends in a 413 and
nothing parses it. Here each request gets the limit of its route from the moment it is created
(the route is matched from the path and method, as the router will): a few KiB for sign-in, a
form-sized limit for staff forms, megabytes only for the bundle upload. Form parsing also counts
fields first (a 4 KiB body of ``a&a&a...`` is 2,000 fields), so a body never costs more than a
few milliseconds of the event loop to parse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quart import Quart, has_request_context, render_template, request
from quart.formparser import FormDataParser
from quart.wrappers.request import Body
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge


@dataclass(frozen=True)
class BodyLimit:
    """At most ``max_bytes`` of body and ``max_parts`` form fields (or multipart parts)."""

    max_bytes: int
    max_parts: int


KIB = 1024
#: Sign-in, sign-out, password change: an e-mail, a password and a token.
SIGN_IN = BodyLimit(4 * KIB, 16)
#: Every other staff form (items, rules with their builder rows, settings, scenarios, publish).
FORM = BodyLimit(256 * KIB, 4000)
#: The decision table posts a row of fields per rule.
TABLE = BodyLimit(2048 * KIB, 40_000)
#: Bundle import: a file or pasted JSON (the view's own 5 MiB file check comes on top).
UPLOAD = BodyLimit(8192 * KIB, 16)

#: Endpoint -> limit; other /admin endpoints (and unknown /admin paths) get :data:`FORM`.
LIMITS: dict[str, BodyLimit] = {
    "admin.login": SIGN_IN,
    "admin.logout": SIGN_IN,
    "admin.password": SIGN_IN,
    "admin.rule_table": TABLE,
    "admin.import_bundle": UPLOAD,
}
PREFIX = "/admin"


def limit_for(app: Quart, path: str, method: str) -> BodyLimit | None:
    """The limit of the admin route ``path`` answers to; None outside /admin (the app's own limit)."""
    if path != PREFIX and not path.startswith(PREFIX + "/"):
        return None
    try:
        endpoint, _ = app.url_map.bind("").match(path, method)
    except HTTPException:  # 404, 405, a redirect: the request will not reach a view
        return SIGN_IN
    return LIMITS.get(str(endpoint), FORM)


class CountingFormParser(FormDataParser):
    """Counts url-encoded fields before splitting them (multipart parts are counted by Werkzeug)."""

    async def parse(
        self, body: Body, mimetype: str, content_length: int | None, options: dict[str, str] | None = None
    ) -> tuple[MultiDict[Any, Any], MultiDict[Any, Any]]:
        if mimetype in URLENCODED and self.max_form_parts is not None:
            data = await body  # a Body can be awaited again: the parser below gets the same bytes
            if data.count(b"&") >= self.max_form_parts:
                raise RequestEntityTooLarge(f"At most {self.max_form_parts} form fields")
        return await super().parse(body, mimetype, content_length, options)


URLENCODED = frozenset({"application/x-www-form-urlencoded", "application/x-url-encoded"})


def install(app: Quart) -> None:
    """Give every request of ``app`` under /admin its route's limit, and count form fields."""
    base: Any = app.request_class

    class Request(base):
        form_data_parser_class = CountingFormParser

        def __init__(self, method: str, scheme: str, path: str, *args: Any, **kwargs: Any) -> None:
            limit = limit_for(app, path, method)
            if limit is not None:
                kwargs["max_content_length"] = limit.max_bytes
            super().__init__(method, scheme, path, *args, **kwargs)
            if limit is not None:
                self.max_content_length = limit.max_bytes
                self.max_form_memory_size = limit.max_bytes
                self.max_form_parts = limit.max_parts

    app.request_class = Request

    @app.errorhandler(RequestEntityTooLarge)
    async def too_large(exc: RequestEntityTooLarge) -> Any:
        """A clear 413 page on /admin (other paths answer as their blueprint does)."""
        limit = limit_for(app, request.path, request.method) if has_request_context() else None
        if limit is None:
            return exc
        size = (
            f"{limit.max_bytes // KIB:,} KiB"
            if limit.max_bytes < 1024 * KIB
            else f"{limit.max_bytes // KIB // KIB} MiB"
        )
        message = (
            f"This request is larger than this page accepts (at most {size} and "
            f"{limit.max_parts:,} form fields). Nothing was saved."
        )
        page = await render_template("admin/error.html", title="Too large", message=message, status=413)
        return page, 413
