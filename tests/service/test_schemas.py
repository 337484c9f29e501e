"""The pydantic request models are what the API enforces and what OpenAPI documents (one definition)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from planwise.app import create_app

from .conftest import WS, settings_for


@pytest.fixture
async def small_app(tmp_path: Path) -> AsyncIterator[Quart]:
    app = create_app(settings_for(tmp_path, max_answers=3))
    async with app.test_app():
        yield app


async def _session(app: Quart) -> tuple[str, dict[str, str]]:
    session = await (await app.test_client().post("/api/sessions", json={})).get_json()
    return session["sessionId"], {"Authorization": f"Bearer {session['token']}"}


async def _error(response: Any) -> tuple[int, str, str]:
    body = await response.get_json()
    return response.status_code, body["error"]["code"], body["error"]["message"]


async def test_openapi_documents_the_enforced_answer_limit(small_app: Quart) -> None:
    spec = await (await small_app.test_client().get("/openapi.json")).get_json()
    schemas = spec["components"]["schemas"]
    assert schemas["Answers"]["properties"]["answers"]["maxProperties"] == 3
    selection = spec["paths"]["/api/sessions/{session_id}/selection"]["post"]["requestBody"]
    body = selection["content"]["application/json"]["schema"]
    if "$ref" in body:
        body = schemas[body["$ref"].rsplit("/", 1)[1]]
    plan_id = body["properties"]["planId"]
    assert (plan_id["minLength"], plan_id["maxLength"]) == (1, 64)
    sid, auth = await _session(small_app)
    url = f"/api/sessions/{sid}/responses"
    client = small_app.test_client()
    four_bad = {"budget": "x", "travel": 1, "nope": True, "extras": 7}
    status, code, message = await _error(await client.post(url, json={"answers": four_bad}, headers=auth))
    assert (status, code) == (413, "too_large") and "At most 3 answers" in message  # before the values
    three_bad = {"budget": "x", "travel": 1, "nope": True}
    response = await client.post(url, json={"answers": three_bad}, headers=auth)
    body = await response.get_json()
    assert response.status_code == 422 and body["error"]["code"] == "invalid_answer"
    assert {d["questionId"] for d in body["error"]["details"]} == set(three_bad)


@pytest.mark.parametrize(
    "data",
    [
        {"answers": None},
        {"answers": [1, 2]},
        {"questionId": 7, "value": 1},
        {"questionId": "travel"},
        {"answers": {}, "questionId": "travel", "value": True},
        {},
    ],
)
async def test_bad_user_response_shapes_are_invalid_message(app: Quart, data: dict[str, Any]) -> None:
    sid, auth = await _session(app)
    response = await app.test_client().post(f"/api/sessions/{sid}/responses", json=data, headers=auth)
    assert (await _error(response))[:2] == (400, "invalid_message")
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        await ws.send("userResponse", data, id="r")
        error = await ws.expect("error")
        assert error["code"] == "invalid_message" and error["replyTo"] == "r"


async def test_extra_fields_are_ignored_and_both_shapes_accepted(app: Quart) -> None:
    sid, auth = await _session(app)
    url = f"/api/sessions/{sid}/responses"
    client = app.test_client()
    response = await client.post(url, json={"answers": {"travel": True}, "client": "x"}, headers=auth)
    assert response.status_code == 200
    response = await client.post(url, json={"questionId": "travel", "value": None}, headers=auth)
    assert response.status_code == 200 and (await response.get_json())["answers"] == {}


@pytest.mark.parametrize(
    "data",
    [{"planId": ""}, {"planId": "x" * 65}, {"planId": 5}, {"planId": "max-50", "idempotencyKey": ""}],
)
async def test_bad_selections_are_invalid_message(app: Quart, data: dict[str, Any]) -> None:
    sid, auth = await _session(app)
    response = await app.test_client().post(f"/api/sessions/{sid}/selection", json=data, headers=auth)
    assert (await _error(response))[:2] == (400, "invalid_message")


async def test_bad_new_session_and_long_poll_query_are_invalid_message(app: Quart) -> None:
    client = app.test_client()
    response = await client.post("/api/sessions", json={"authToken": None, "user": "x"})
    assert (await _error(response))[:2] == (400, "invalid_message")
    sid, auth = await _session(app)
    for query in ("stage=final", "wait=nan", "wait=-1", "after=-2", "version=1.5"):
        response = await client.get(f"/api/sessions/{sid}/updates?{query}", headers=auth)
        assert (await _error(response))[:2] == (400, "invalid_message"), query
