"""The HTTP fallback API (PROTOCOL.md): the same operations as the WebSocket, through service/core.py."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any, cast

import orjson
from quart import Blueprint, Quart, Response, current_app, has_request_context, request
from quart.blueprints import BlueprintSetupState
from quart_schema import (
    DataSource,
    QuartSchema,
    document_headers,
    document_querystring,
    document_request,
    document_response,
)
from quart_schema.openapi import OpenAPIProvider
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.routing import Rule

from .cookies import session_cookie_name, set_session_cookie
from .core import Planwise
from .errors import ProtocolError
from .hub import STAGES
from .logs import SESSION_ID
from .origins import normalise, request_origin_allowed
from .push import EnrichmentAccepted, EnrichmentRequest
from .runtime import get_runtime
from .schemas import (
    AuthHeaders,
    ErrorReply,
    NewSession,
    PlanExplanation,
    Questionnaire,
    SelectionSaved,
    SelectPlan,
    SessionInfo,
    SessionPayload,
    Update,
    UpdatesQuery,
    UserResponse,
    parse,
    user_response_model,
)

bp = Blueprint("api", __name__, url_prefix="/api")
log = logging.getLogger(__name__)


@bp.record_once
def _init_app(state: BlueprintSetupState) -> None:
    """Per app: the documented answer limit (the rate limit lives in the Runtime), JSON errors on /api."""
    settings = state.app.config["PLANWISE"]
    schema = state.app.extensions.get("QUART_SCHEMA")
    if schema is not None:
        schema.openapi_provider = _Documented(cast(Quart, state.app), schema, settings.max_answers)
    # Routing errors (404, 405) happen before any blueprint is chosen: the app's handler answers
    # them, as JSON for every /api path and as before for the rest.
    state.app.register_error_handler(HTTPException, _api_http_error)
    state.app.register_error_handler(InternalServerError, _api_internal_error)


# What every /api operation can answer besides what its decorators document (PROTOCOL.md errors).
_STATUS_TEXT = {
    200: "The same idempotency key again: the original selection",
    204: "Nothing newer within `wait` seconds",
    400: "`invalid_message`: the body or query does not fit",
    401: "`unauthorized` / `invalid_token`: no, a bad or an expired token",
    403: "`forbidden`: another session's token, or an Origin not allowed",
    404: "`not_found`: no such session",
    409: "`idempotency_conflict` / `stale`",
    413: "`too_large`: the body, or the answers in it, over the limit",
    422: "`invalid_answer` / `unknown_plan`",
    429: "`rate_limited`",
    500: "`internal`: a bug (the message has a reference for the log)",
    503: "`unavailable`: nothing published yet, or the engine cannot serve; retry",
}
_EXTRA_STATUSES = {
    "api.get_updates": (204,),
    "api.post_selection": (200, 422),
    "api.post_enrichments": (401, 404, 422),
}


def _statuses(endpoint: str, method: str, in_session: bool) -> set[int]:
    found = {500, 503}
    if method != "GET":
        found |= {400, 403, 413, 429}  # body, Origin, size, rate (new sessions per address)
    if in_session:
        found |= {401, 403, 404, 429}
    if endpoint == "api.get_updates":
        found.add(400)
    return found | set(_EXTRA_STATUSES.get(endpoint, ()))


class _Documented(OpenAPIProvider):
    """OpenAPI of the public API only (``/api``), with the limits this app enforces (``userResponse``
    as validated, PLANWISE_MAX_ANSWERS) and every status each operation can answer."""

    def __init__(self, app: Quart, extension: QuartSchema, max_answers: int) -> None:
        super().__init__(app, extension)
        self._user_response = user_response_model(max_answers)

    def generate_rules(self) -> Iterable[Rule]:
        return (rule for rule in super().generate_rules() if rule.endpoint.startswith(f"{bp.name}."))

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        error, error_components = self.build_response_object(ErrorReply, None)
        components.update(error_components)
        in_session = "session_id" in rule.arguments
        for operations in paths.values():
            for method, operation in operations.items():
                responses = dict(operation["responses"])
                for status in sorted(_statuses(rule.endpoint, method.upper(), in_session)):
                    if status not in responses:
                        if status == 204:
                            responses[status] = {"description": _STATUS_TEXT[status]}
                        elif status == 200 and 201 in responses:
                            responses[status] = {**responses[201], "description": _STATUS_TEXT[status]}
                        else:
                            responses[status] = {**error, "description": _STATUS_TEXT[status]}
                operation["responses"] = dict(sorted(responses.items()))
        return paths, components

    def build_request_body(
        self, model: type[Any], source: DataSource
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        return super().build_request_body(self._user_response if model is UserResponse else model, source)


def _is_api_path() -> bool:
    if not has_request_context():  # e.g. a refused WebSocket upgrade: Quart's own answer
        return False
    return request.path == "/api" or request.path.startswith("/api/")


_HTTP_CODES = {
    404: "not_found",
    405: "invalid_message",
    413: "too_large",
    429: "rate_limited",
    503: "unavailable",
}


async def _api_http_error(exc: HTTPException) -> Any:
    """An HTTP error on an /api path as the protocol's JSON error; elsewhere unchanged."""
    if not _is_api_path():
        return exc
    status = exc.code or 500
    code = _HTTP_CODES.get(status, "invalid_message" if status < 500 else "internal")
    message = "There is no such API path" if status == 404 else (exc.description or exc.name)
    response = _json({"error": {"code": code, "message": message}}, status)
    if status == 405 and isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


async def _api_internal_error(exc: InternalServerError) -> Any:
    """An unhandled error on an /api path: JSON ``internal`` with a reference to the logged traceback."""
    if not _is_api_path():
        return exc
    ref = uuid.uuid4().hex[:12]
    cause = exc.original_exception
    log.error("internal error [%s] on %s %s", ref, request.method, request.path, exc_info=cause)
    message = f"Something went wrong on our side (reference {ref})"
    return _json({"error": {"code": "internal", "message": message}}, 500)


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status=status, mimetype="application/json")


def _error(exc: ProtocolError) -> Response:
    return _json({"error": exc.payload()}, exc.status)


@bp.errorhandler(ProtocolError)
async def protocol_error(exc: ProtocolError) -> Response:
    return _error(exc)


@bp.errorhandler(RequestEntityTooLarge)
async def too_large(exc: HTTPException) -> Response:
    return _error(ProtocolError("too_large", "The request body is too large"))


@bp.after_request
async def cors(response: Response) -> Response:
    """CORS for listed origins only (exact match), so host sites can call the API from browsers."""
    origin = request.headers.get("Origin")
    settings = current_app.config["PLANWISE"]
    if origin and normalise(origin) in {normalise(a) for a in settings.allowed_origins}:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
        response.headers["Vary"] = "Origin"
    return response


@bp.before_request
async def check_origin() -> Response | None:
    settings = current_app.config["PLANWISE"]
    if request.method == "OPTIONS":
        return Response("", 204)
    if request.method != "GET" and not request_origin_allowed(request, settings):
        return _error(ProtocolError("forbidden", "This origin may not use the API"))
    return None


def _planwise() -> Planwise:
    planwise: Planwise = get_runtime().planwise
    return planwise


async def _body() -> dict[str, Any]:
    raw = await request.get_data()
    if not raw:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError("invalid_message", "The body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ProtocolError("invalid_message", "The body must be a JSON object")
    return data


def _rate_limit(key: str) -> None:
    if not get_runtime().http_limit.hit(key):
        raise ProtocolError("rate_limited", "Too many requests; slow down")


async def _session(session_id: str, fresh: bool = True) -> Any:
    """The session named in the path, for the bearer token or cookie that must match it.

    ``fresh``: as stored now, whichever process committed its last change (read-your-writes).
    """
    header = request.headers.get("Authorization", "")
    cookie = session_cookie_name(current_app.config["PLANWISE"])
    token = header[7:].strip() if header[:7].lower() == "bearer " else request.cookies.get(cookie)
    if not token:
        raise ProtocolError("unauthorized", "Send the session token as 'Authorization: Bearer <token>'")
    planwise = _planwise()
    token_session = planwise.tokens.session_id(token)
    SESSION_ID.set(token_session)  # in this request's log lines
    state = await planwise.store.get(session_id, fresh and planwise.shared)
    if state is None:
        raise ProtocolError("not_found", "There is no such session")
    if token_session != session_id:
        raise ProtocolError("forbidden", "This token belongs to another session")
    _rate_limit(session_id)
    return state


def _with_cookie(response: Response, token: str) -> Response:
    set_session_cookie(response, token, current_app.config["PLANWISE"], request.scheme == "https")
    return response


@bp.post("/sessions")
@document_request(NewSession)
@document_response(SessionPayload, 201)
@document_response(ErrorReply, 401)
async def create_session() -> Response:
    """Start a session (or resume the host-site user's latest one with ``authToken``)."""
    body = parse(NewSession, await _body(), "The body {authToken?}:")
    _rate_limit("new:" + (request.remote_addr or ""))
    planwise = _planwise()
    opened = await planwise.open(None, body.authToken, request.remote_addr)
    payload = planwise.session_payload(opened.state, opened.resumed)
    return _with_cookie(_json(payload, 201), payload["token"])


@bp.get("/questionnaire")
@document_response(Questionnaire)
async def questionnaire() -> Response:
    """The questionnaire of the live version."""
    return _json(_planwise().questionnaire())


@bp.get("/sessions/<session_id>")
@document_headers(AuthHeaders)
@document_response(SessionInfo)
async def get_session(session_id: str) -> Response:
    """The session with its answers, revision, selection and current update."""
    state = await _session(session_id)
    planwise = _planwise()
    update = await planwise.current_update(state)
    return _json(
        {
            "session": planwise.session_payload(state, True),
            "answers": state.answers,
            "revision": state.revision,
            "selection": state.selection,
            "update": update.payload,
        }
    )


@bp.post("/sessions/<session_id>/responses")
@document_headers(AuthHeaders)
@document_request(UserResponse)
@document_response(Update)
@document_response(ErrorReply, 422)
async def post_responses(session_id: str) -> Response:
    """Merge answers (all or nothing); the reply is the new rules-stage update."""
    state = await _session(session_id)
    return _json((await _planwise().respond(state, await _body())).payload)


@bp.delete("/sessions/<session_id>/responses")
@document_headers(AuthHeaders)
@document_response(Update)
async def delete_responses(session_id: str) -> Response:
    """Clear every answer (reset)."""
    state = await _session(session_id)
    return _json((await _planwise().reset(state)).payload)


@bp.get("/sessions/<session_id>/updates")
@document_headers(AuthHeaders)
@document_querystring(UpdatesQuery)
@document_response(Update)
async def get_updates(session_id: str) -> Response:
    """Long poll: the newest update later than (after, version, stage), or 204 after ``wait``."""
    state = await _session(session_id, fresh=False)
    query = parse(UpdatesQuery, request.args.to_dict(), "The query")
    wait = min(query.wait, current_app.config["PLANWISE"].long_poll_max)
    planwise = _planwise()
    # Live here first, then read what is stored: a change committed anywhere before this request
    # is in the answer, one committed later wakes it (read-your-writes on every host).
    with planwise.hub.watching(state.id):
        await planwise.catch_up(state)
        stage = STAGES[query.stage]
        if query.stage == "enriched":  # later enriched updates of one revision (pushes) count up by step
            latest = planwise.hub.latest(state.id)
            if query.step is not None:
                stage += query.step
            elif latest is not None and latest.key[:2] == (query.after, query.version):
                stage = max(stage, latest.key[2])  # no step given: it has seen every step there is now
        update = await planwise.hub.wait_for(state.id, (query.after, query.version, stage), wait)
    if update is None:
        return Response("", 204)
    return _json(update.payload)


@bp.get("/sessions/<session_id>/plans/<plan_id>")
@document_headers(AuthHeaders)
@document_response(PlanExplanation)
@document_response(ErrorReply, 422)
async def get_plan_explanation(session_id: str, plan_id: str) -> Response:
    """Why one plan is shown, cut, excluded or inactive for the session's answers (v1.1)."""
    state = await _session(session_id)
    return _json(await _planwise().explain(state, {"planId": plan_id}))


@bp.post("/sessions/<session_id>/selection")
@document_headers(AuthHeaders)
@document_request(SelectPlan)
@document_response(SelectionSaved, 201)
@document_response(ErrorReply, 409)
async def post_selection(session_id: str) -> Response:
    """Persist the plan choice; a repeated idempotency key returns the original (200)."""
    state = await _session(session_id)
    saved, repeated = await _planwise().select(state, await _body())
    return _json(saved, 200 if repeated else 201)


@bp.post("/enrichments")
@document_headers(AuthHeaders)
@document_request(EnrichmentRequest)
@document_response(EnrichmentAccepted, 202)
@document_response(ErrorReply, 409)
async def post_enrichments() -> Response:
    """A back-end service pushes per-plan fields into a session's (or a user's sessions') newest update."""
    runtime = get_runtime()
    authorization = request.headers.get("Authorization", "")
    count = await runtime.pushes.receive(runtime.planwise, authorization, await _body())
    return _json({"sessions": count}, 202)
