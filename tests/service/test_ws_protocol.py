"""PROTOCOL.md over the WebSocket, through Quart's test client and the real app."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from quart import Quart

from service.runtime import get_runtime

from .conftest import WS, settings_for


async def test_opening_sequence_without_hello(app: Quart) -> None:
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        session = await ws.expect("session")
        assert session["sessionId"].startswith("s_") and session["token"]
        assert session["resumed"] is False and session["version"] == 1 and session["revision"] == 0
        questionnaire = await ws.expect("questionnaire")
        assert [q["id"] for q in questionnaire["questions"]] == [
            "dataUsage",
            "budget",
            "travel",
            "extras",
            "lines",
        ]
        assert all("askWhen" not in q for q in questionnaire["questions"])
        assert questionnaire["questions"][1]["max"] == 500
        assert [a["key"] for a in questionnaire["attributes"]][0] == "monthlyPrice"
        update = await ws.expect("recommendationUpdates")
        assert update["revision"] == 0 and update["stage"] == "rules" and update["answers"] == {}
        assert update["totalPlans"] == 4 and update["matchedPlans"] == 4


async def test_user_response_both_shapes_reply_and_revision(app: Quart) -> None:
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({}, id="h1")
        await ws.send("userResponse", {"answers": {"dataUsage": "heavy"}}, id="c-1")
        update = await ws.expect("recommendationUpdates")
        assert update["replyTo"] == "c-1" and update["revision"] == 1
        assert [p["id"] for p in update["plans"]] == ["mid-20", "max-50"]
        assert update["plans"][0]["reasons"][0] == {
            "rule": "heavy-data",
            "text": "You use a lot of data: 20 GB or more",
        }
        assert {e["id"] for e in update["excluded"]} == {"basic-5", "nodata"}
        await ws.send("userResponse", {"questionId": "budget", "value": 25}, id=7)
        update = await ws.expect("recommendationUpdates")
        assert update["replyTo"] == 7 and update["revision"] == 2
        assert update["answers"] == {"dataUsage": "heavy", "budget": 25}
        await ws.send("userResponse", {"answers": {"budget": None}})
        update = await ws.expect("recommendationUpdates")
        assert update["answers"] == {"dataUsage": "heavy"} and "replyTo" not in update
        await ws.send("userResponse", {"answers": {}})
        assert (await ws.expect("recommendationUpdates"))["revision"] == 4


async def test_invalid_answers_are_all_or_nothing(app: Quart) -> None:
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        bad = {"budget": "12", "travel": 1, "dataUsage": "heavy", "nope": True, "extras": ["esim", "esim"]}
        await ws.send("userResponse", {"answers": bad}, id="x")
        error = await ws.expect("error")
        assert error["code"] == "invalid_answer" and error["replyTo"] == "x"
        assert {d["questionId"] for d in error["details"]} == {"budget", "travel", "nope", "extras"}
        await ws.send("userResponse", {"answers": {"budget": 600}})
        error = await ws.expect("error")
        assert error["details"][0]["questionId"] == "budget"
        await ws.send("ping", {}, id="p")
        assert await ws.expect("pong") == {"replyTo": "p"}
        await ws.send("userResponse", {"answers": {"travel": True}})
        update = await ws.expect("recommendationUpdates")
        assert update["revision"] == 1 and update["answers"] == {"travel": True}


async def test_malformed_messages(app: Quart) -> None:
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        await raw.send("not json")
        assert (await ws.expect("error"))["code"] == "invalid_message"
        await raw.send(b"\x00binary")
        assert (await ws.expect("error"))["code"] == "invalid_message"
        await raw.send("[1, 2]")
        assert (await ws.expect("error"))["code"] == "invalid_message"
        await ws.send("dance", {}, id="d")
        error = await ws.expect("error")
        assert error == {"code": "unknown_event", "message": error["message"], "replyTo": "d"}
        await ws.send("userResponse", {"something": 1})
        assert (await ws.expect("error"))["code"] == "invalid_message"
        await ws.send("userResponse", {"answers": {f"q{i}": 1 for i in range(201)}})
        assert (await ws.expect("error"))["code"] == "too_large"
        await ws.send("ping", {})
        assert await ws.expect("pong") == {}


async def test_multi_answers_are_stored_in_option_order(app: Quart) -> None:
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        await ws.send("userResponse", {"answers": {"extras": ["esim", "streaming"]}})
        update = await ws.expect("recommendationUpdates")
        assert update["answers"]["extras"] == ["streaming", "esim"]
        lines = next(q for q in update["questions"] if q["id"] == "lines")
        assert lines == {"id": "lines", "visible": True, "answered": False}


async def test_hidden_question_answer_is_stored(app: Quart) -> None:
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        await ws.send("userResponse", {"answers": {"lines": 3}})
        update = await ws.expect("recommendationUpdates")
        assert update["answers"] == {"lines": 3}
        assert {"id": "lines", "visible": False, "answered": True} in update["questions"]


async def test_reset_clears_answers(app: Quart) -> None:
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        await ws.send("userResponse", {"answers": {"travel": True}})
        await ws.expect("recommendationUpdates")
        await ws.send("reset", {}, id="r")
        update = await ws.expect("recommendationUpdates")
        assert update["answers"] == {} and update["revision"] == 2 and update["replyTo"] == "r"


async def test_resume_by_token_keeps_answers(app: Quart) -> None:
    client = app.test_client()
    async with client.websocket("/ws") as raw:
        ws = WS(raw)
        session = await ws.opening({})
        await ws.send("userResponse", {"answers": {"dataUsage": "light"}})
        await ws.expect("recommendationUpdates")
    async with client.websocket("/ws") as raw:
        ws = WS(raw)
        await ws.send("hello", {"token": session["token"]}, id="h")
        resumed = await ws.expect("session")
        assert resumed["sessionId"] == session["sessionId"] and resumed["resumed"] is True
        assert resumed["revision"] == 1 and resumed["replyTo"] == "h"
        await ws.expect("questionnaire")
        update = await ws.expect("recommendationUpdates", any_stage=True)
        assert update["answers"] == {"dataUsage": "light"} and update["revision"] == 1
    async with client.websocket(f"/ws?token={session['token']}") as raw:
        ws = WS(raw)
        await ws.send("ping", {})
        resumed = await ws.expect("session")
        assert resumed["sessionId"] == session["sessionId"]
        await ws.expect("questionnaire")
        await ws.expect("recommendationUpdates", any_stage=True)
        await ws.expect("pong")


async def test_invalid_token_starts_a_new_session(app: Quart) -> None:
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.send("hello", {"token": "forged.token.value"})
        error = await ws.expect("error")
        assert error["code"] == "invalid_token"
        session = await ws.expect("session")
        assert session["resumed"] is False


async def test_later_hello_switches_session(app: Quart) -> None:
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        first = await ws.opening({})
        second = await ws.opening({})
        assert first["sessionId"] != second["sessionId"]
        back = await ws.opening({"token": first["token"]})
        assert back["sessionId"] == first["sessionId"] and back["resumed"] is True


async def test_every_tab_of_a_session_gets_every_update(app: Quart) -> None:
    client = app.test_client()
    async with client.websocket("/ws") as raw1, client.websocket("/ws") as raw2:
        tab1, tab2 = WS(raw1), WS(raw2)
        session = await tab1.opening({})
        await tab2.opening({"token": session["token"]})
        await tab1.send("userResponse", {"answers": {"travel": True}}, id="t1")
        mine = await tab1.expect("recommendationUpdates")
        other = await tab2.expect("recommendationUpdates")
        assert mine["replyTo"] == "t1" and "replyTo" not in other
        assert other["revision"] == mine["revision"] == 1 and other["answers"] == {"travel": True}


async def test_select_plan_idempotency_and_errors(app: Quart) -> None:
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        await ws.send("selectPlan", {"planId": "max-50", "idempotencyKey": "k1"}, id="s1")
        saved = await ws.expect("selectionSaved")
        assert saved["planId"] == "max-50" and saved["revision"] == 0 and saved["version"] == 1
        assert saved["replyTo"] == "s1" and saved["selectionId"]
        await ws.send("selectPlan", {"planId": "max-50", "idempotencyKey": "k1"})
        again = await ws.expect("selectionSaved")
        assert again["selectionId"] == saved["selectionId"]
        await ws.send("selectPlan", {"planId": "basic-5", "idempotencyKey": "k1"})
        assert (await ws.expect("error"))["code"] == "idempotency_conflict"
        await ws.send("selectPlan", {"planId": "retired"})
        assert (await ws.expect("error"))["code"] == "unknown_plan"
        await ws.send("selectPlan", {"planId": "no-such-plan"})
        assert (await ws.expect("error"))["code"] == "unknown_plan"
        await ws.send("selectPlan", {"plan": "x"})
        assert (await ws.expect("error"))["code"] == "invalid_message"


def _jwt(secret: str, sub: str, **claims: Any) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 300, **claims}, secret, algorithm="HS256")


@pytest.fixture
def jwt_settings(tmp_path: Any) -> dict[str, Any]:
    return settings_for(tmp_path, jwt_secret="host-site-secret-" + "y" * 32, jwt_audience="planwise")


async def test_host_site_jwt_binds_and_resumes_on_any_device(jwt_settings: dict[str, Any]) -> None:
    from planwise.app import create_app

    app = create_app(jwt_settings)
    secret = jwt_settings["jwt_secret"]
    async with app.test_app() as test_app:
        client = test_app.test_client()
        async with client.websocket("/ws") as raw:
            ws = WS(raw)
            session = await ws.opening({"authToken": _jwt(secret, "user-42", aud="planwise")})
            await ws.send("userResponse", {"answers": {"travel": False}})
            await ws.expect("recommendationUpdates")
        async with client.websocket("/ws") as raw:
            ws = WS(raw)
            again = await ws.opening({"authToken": _jwt(secret, "user-42", aud="planwise")})
            assert again["sessionId"] == session["sessionId"] and again["resumed"] is True
        async with client.websocket("/ws") as raw:
            ws = WS(raw)
            await ws.send("hello", {"authToken": _jwt("wrong-secret-" + "z" * 32, "user-42", aud="planwise")})
            assert (await ws.expect("error"))["code"] == "unauthorized"
            with pytest.raises(Exception) as closed:
                await raw.receive()
            assert getattr(closed.value, "code", None) == 1008 or "1008" in str(closed.value)


async def test_publish_pushes_new_version_to_live_sessions(app: Quart) -> None:
    from service.catalogues import publish

    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        await ws.send("userResponse", {"answers": {"dataUsage": "heavy"}})
        before = await ws.expect("recommendationUpdates")
        bundle = json.loads(
            (__import__("pathlib").Path(__file__).parent.parent / "fixtures/example.json").read_text()
        )
        bundle["plans"][1]["attributes"]["monthlyPrice"] = 5.0
        bundle["questions"][0]["text"] = "How much data?"
        async with get_runtime(app).sessions() as s, s.begin():
            await publish(s, bundle, "cheaper max-50", "test")
        await get_runtime(app).planwise.live.refresh()
        questionnaire = await ws.expect("questionnaire")
        assert questionnaire["version"] == 2 and questionnaire["questions"][0]["text"] == "How much data?"
        after = await ws.expect("recommendationUpdates")
        assert after["version"] == 2 and after["revision"] == before["revision"]
        assert [p["id"] for p in after["plans"]] == ["max-50", "mid-20"]


async def test_answers_that_no_longer_fit_a_new_version_are_kept_but_ignored(app: Quart) -> None:
    from service.catalogues import publish

    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        await ws.send("userResponse", {"answers": {"budget": 25, "dataUsage": "heavy"}})
        before = await ws.expect("recommendationUpdates")
        assert [p["id"] for p in before["excluded"]] == ["nodata", "basic-5", "max-50"]  # as ranked
        bundle = json.loads((Path(__file__).parent.parent / "fixtures/example.json").read_text())
        # budget becomes a choice question: the stored number no longer fits it.
        bundle["questions"][1] = {
            "id": "budget",
            "text": "Budget?",
            "type": "choice",
            "options": [{"value": "low", "label": "Low"}, {"value": "high", "label": "High"}],
        }
        bundle["rules"] = [r for r in bundle["rules"] if r["id"] != "budget-cap"]
        async with get_runtime(app).sessions() as s, s.begin():
            await publish(s, bundle, "budget as a choice", "test")
        await get_runtime(app).planwise.live.refresh()
        await ws.expect("questionnaire")
        after = await ws.expect("recommendationUpdates")
        assert after["version"] == 2 and after["answers"] == {"budget": 25, "dataUsage": "heavy"}
        assert [p["id"] for p in after["plans"]] == ["mid-20", "max-50"]


async def test_a_publish_that_changes_only_the_estimate_or_display_resends_the_questionnaire(
    app: Quart,
) -> None:
    from service.catalogues import publish

    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        bundle = json.loads((Path(__file__).parent.parent / "fixtures/example.json").read_text())
        bundle["estimate"]["label"] = "Cost of every line"
        bundle["display"] = {"headline": ["dataGb", "network"]}
        async with get_runtime(app).sessions() as s, s.begin():
            await publish(s, bundle, "new estimate label and headline", "test")
        await get_runtime(app).planwise.live.refresh()
        questionnaire = await ws.expect("questionnaire")
        assert questionnaire["version"] == 2
        assert questionnaire["estimate"]["label"] == "Cost of every line"
        assert questionnaire["display"] == {"headline": ["dataGb", "network"]}
        assert "formula" not in questionnaire["estimate"] and "inputs" not in questionnaire["estimate"]


async def test_explain_plan_over_websocket_and_http(app: Quart) -> None:
    async with app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        session = await ws.opening({})
        await ws.send("userResponse", {"answers": {"dataUsage": "heavy", "budget": 25}}, id="a")
        update = await ws.expect("recommendationUpdates")
        top = update["plans"][0]
        await ws.send("explainPlan", {"planId": top["id"]}, id="x1")
        shown = await ws.expect("planExplanation")
        assert shown == {
            "planId": top["id"],
            "revision": update["revision"],
            "version": update["version"],
            "status": "shown",
            "rank": 1,
            "score": top["score"],
            "reasons": top["reasons"],
            "replyTo": "x1",
        }
        gone = update["excluded"][0]
        await ws.send("explainPlan", {"planId": gone["id"]}, id="x2")
        excluded = await ws.expect("planExplanation")
        assert excluded["status"] == "excluded" and excluded["reasons"] == gone["reasons"]
        await ws.send("explainPlan", {"planId": "no-such-plan"}, id="x3")
        error = await ws.expect("error")
        assert error["code"] == "unknown_plan" and error["replyTo"] == "x3"
        await ws.send("explainPlan", {}, id="x4")
        assert (await ws.expect("error"))["code"] == "invalid_message"
    client = app.test_client()
    headers = {"Authorization": f"Bearer {session['token']}"}
    reply = await client.get(f"/api/sessions/{session['sessionId']}/plans/{gone['id']}", headers=headers)
    assert reply.status_code == 200
    body = await reply.get_json()
    assert body["status"] == "excluded" and body["planId"] == gone["id"] and "replyTo" not in body
    reply = await client.get(f"/api/sessions/{session['sessionId']}/plans/no-such-plan", headers=headers)
    assert reply.status_code == 422 and (await reply.get_json())["error"]["code"] == "unknown_plan"
