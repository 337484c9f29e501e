"""The API's Swagger UI at ``/docs``, served entirely by the service.

quart-schema's page loads Swagger UI from a CDN without integrity hashes and starts it with an
inline script; here the assets come from the ``swagger-ui-py`` package and the start-up code
is ``static/apidocs.js``, so the page passes the strict CSP (``headers.py``).
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from quart import Blueprint, Response, abort, render_template, send_from_directory

bp = Blueprint("apidocs", __name__)

# swagger-ui-py ships Swagger UI 5 (OpenAPI 3.1, which quart-schema writes); only its files are used.
ASSETS = Path(swagger_ui.__file__).parent / "static"
#: The only files served from the package (no directory listing, no source maps).
SERVED = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"})


@bp.get("/docs")
async def docs() -> str:
    return await render_template("public/apidocs.html")


@bp.get("/docs/assets/<name>")
async def asset(name: str) -> Response:
    if name not in SERVED:
        abort(404)
    response = await send_from_directory(ASSETS, name)
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response
