"""The HTTP fallback API (PROTOCOL.md) through Quart's test client and the real app."""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client

from .conftest import WS


async def new_session(client: Client) -> tuple[dict[str, Any], dict[str, str]]:
    response = await client.post("/api/sessions", json={})
    assert response.status_code == 201
    session = await response.get_json()
    return session, {"Authorization": f"Bearer {session['token']}"}


async def test_create_session_sets_cookie_and_returns_session(client: Client) -> None:
    response = await client.post("/api/sessions", json={})
    assert response.status_code == 201
    body = await response.get_json()
    assert body["resumed"] is False and body["revision"] == 0 and body["version"] == 1
    cookie = response.headers.get("Set-Cookie", "")
    assert "planwise_session=" in cookie and "HttpOnly" in cookie


async def test_questionnaire_route(client: Client) -> None:
    response = await client.get("/api/questionnaire")
    body = await response.get_json()
    assert body["version"] == 1 and [q["id"] for q in body["questions"]][0] == "dataUsage"


async def test_responses_reset_and_session_state(client: Client) -> None:
    session, auth = await new_session(client)
    sid = session["sessionId"]
    response = await client.post(
        f"/api/sessions/{sid}/responses", json={"answers": {"dataUsage": "heavy"}}, headers=auth
    )
    assert response.status_code == 200
    update = await response.get_json()
    assert update["revision"] == 1 and update["stage"] == "rules"
    assert [p["id"] for p in update["plans"]] == ["mid-20", "max-50"]
    response = await client.post(
        f"/api/sessions/{sid}/responses", json={"questionId": "budget", "value": 25}, headers=auth
    )
    assert (await response.get_json())["answers"] == {"dataUsage": "heavy", "budget": 25}
    state = await (await client.get(f"/api/sessions/{sid}", headers=auth)).get_json()
    assert state["revision"] == 2 and state["answers"] == {"dataUsage": "heavy", "budget": 25}
    assert state["selection"] is None and state["session"]["sessionId"] == sid
    assert state["update"]["revision"] == 2
    response = await client.delete(f"/api/sessions/{sid}/responses", headers=auth)
    reset = await response.get_json()
    assert response.status_code == 200 and reset["answers"] == {} and reset["revision"] == 3


async def test_error_statuses(app: Quart) -> None:
    client = app.test_client()
    session, auth = await new_session(client)
    sid = session["sessionId"]
    other, other_auth = await new_session(app.test_client())
    url = f"/api/sessions/{sid}/responses"
    response = await client.post(url, json={"answers": {"budget": "12"}}, headers=auth)
    body = await response.get_json()
    assert response.status_code == 422 and body["error"]["code"] == "invalid_answer"
    assert body["error"]["details"][0]["questionId"] == "budget"
    response = await app.test_client().post(url, json={"answers": {}})
    assert response.status_code == 401 and (await response.get_json())["error"]["code"] == "unauthorized"
    response = await client.post(url, json={"answers": {}}, headers={"Authorization": "Bearer junk"})
    assert response.status_code == 401 and (await response.get_json())["error"]["code"] == "invalid_token"
    response = await client.post(url, json={"answers": {}}, headers=other_auth)
    assert response.status_code == 403 and (await response.get_json())["error"]["code"] == "forbidden"
    response = await client.get("/api/sessions/s_doesnotexist", headers=auth)
    assert response.status_code == 404 and (await response.get_json())["error"]["code"] == "not_found"
    response = await client.post(url, data="{not json", headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 400 and (await response.get_json())["error"]["code"] == "invalid_message"
    response = await client.post(url, json={"answers": {f"q{i}": 1 for i in range(201)}}, headers=auth)
    assert response.status_code == 413 and (await response.get_json())["error"]["code"] == "too_large"
    response = await client.post(url, data="x" * 70_000, headers=auth)
    assert response.status_code == 413
    assert other["sessionId"] != sid


async def test_cookie_authenticates_like_the_bearer_token(client: Client) -> None:
    response = await client.post("/api/sessions", json={})
    sid = (await response.get_json())["sessionId"]
    response = await client.post(f"/api/sessions/{sid}/responses", json={"answers": {"travel": True}})
    assert response.status_code == 200 and (await response.get_json())["answers"] == {"travel": True}


async def test_selection_is_idempotent_and_shared_with_websocket(app: Quart) -> None:
    client = app.test_client()
    session, auth = await new_session(client)
    url = f"/api/sessions/{session['sessionId']}/selection"
    response = await client.post(url, json={"planId": "mid-20", "idempotencyKey": "abc"}, headers=auth)
    assert response.status_code == 201
    saved = await response.get_json()
    response = await client.post(url, json={"planId": "mid-20", "idempotencyKey": "abc"}, headers=auth)
    assert response.status_code == 200 and (await response.get_json()) == saved
    response = await client.post(url, json={"planId": "max-50", "idempotencyKey": "abc"}, headers=auth)
    assert response.status_code == 409
    response = await client.post(url, json={"planId": "nope"}, headers=auth)
    assert response.status_code == 422 and (await response.get_json())["error"]["code"] == "unknown_plan"
    async with client.websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({"token": session["token"]})
        await ws.send("selectPlan", {"planId": "mid-20", "idempotencyKey": "abc"})
        assert (await ws.expect("selectionSaved"))["selectionId"] == saved["selectionId"]
    state = await (await client.get(f"/api/sessions/{session['sessionId']}", headers=auth)).get_json()
    assert state["selection"]["selectionId"] == saved["selectionId"]
    assert state["selection"]["planId"] == "mid-20" and state["selection"]["createdAt"].endswith("Z")


async def test_long_poll_returns_at_once_then_waits_for_a_change(app: Quart) -> None:
    client = app.test_client()
    session, auth = await new_session(client)
    base = f"/api/sessions/{session['sessionId']}/updates"
    first = await client.get(base, headers=auth)
    assert first.status_code == 200 and (await first.get_json())["revision"] == 0
    response = await client.get(f"{base}?after=0&version=1&stage=enriched&wait=0.2", headers=auth)
    assert response.status_code == 204

    async def answer_later() -> None:
        await asyncio.sleep(0.2)
        async with client.websocket("/ws") as raw:
            ws = WS(raw)
            await ws.opening({"token": session["token"]})
            await ws.send("userResponse", {"answers": {"travel": True}})
            await ws.expect("recommendationUpdates")

    task = asyncio.create_task(answer_later())
    response = await client.get(f"{base}?after=0&version=1&stage=enriched&wait=5", headers=auth)
    await task
    assert response.status_code == 200
    update = await response.get_json()
    assert update["revision"] == 1 and update["answers"] == {"travel": True}
    response = await client.get(f"{base}?after=zero", headers=auth)
    assert response.status_code == 400


async def test_openapi_and_docs(client: Client) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    paths = spec["paths"]
    for path in (
        "/api/sessions",
        "/api/questionnaire",
        "/api/sessions/{session_id}",
        "/api/sessions/{session_id}/responses",
        "/api/sessions/{session_id}/updates",
        "/api/sessions/{session_id}/selection",
    ):
        assert path in paths, path
    assert (await client.get("/docs")).status_code == 200


async def test_foreign_origin_cannot_post(client: Client) -> None:
    response = await client.post("/api/sessions", json={}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
