"""Operating it: /readyz, /metrics (content and who may read it), JSON log lines."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from planwise.app import create_app
from service.logs import REQUEST_ID, SESSION_ID, JsonFormatter

from .conftest import settings_for

LOOPBACK = {"client": ("127.0.0.1", 40000)}  # the test client's own address is not an IP


async def test_readyz_checks_database_catalogue_and_engine(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path))
    async with app.test_app():
        got = await app.test_client().get("/readyz")
        body = await got.get_json()
        assert got.status_code == 200 and body["ok"], body
        assert body["checks"] == {"database": "ok", "catalogue": "version 1", "engine": "ok"}
    # Not serving (before start-up or after shut-down): not ready.
    assert (await app.test_client().get("/readyz")).status_code == 503


async def test_readyz_is_503_without_a_live_catalogue(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path, load_demo=False))
    async with app.test_app():
        got = await app.test_client().get("/readyz")
        body = await got.get_json()
        assert got.status_code == 503 and not body["ok"]
        assert body["checks"]["catalogue"] == "no live version loaded"


async def test_metrics_only_for_allowed_addresses_with_what_an_operator_watches(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path))
    async with app.test_app():
        client = app.test_client()
        created = await (await client.post("/api/sessions", json={})).get_json()
        auth = {"Authorization": f"Bearer {created['token']}"}
        path = f"/api/sessions/{created['sessionId']}/responses"
        assert (await client.post(path, json={"answers": {"budget": 30}}, headers=auth)).status_code == 200
        got = await client.get("/metrics", scope_base=LOOPBACK)
        assert got.status_code == 200 and got.content_type.startswith("text/plain")
        text = (await got.get_data()).decode()
        for name in (
            "planwise_answers_total",
            "planwise_update_seconds_bucket",
            "planwise_db_commit_seconds_count",
            'planwise_connections{transport="ws"}',
            "planwise_enrich_queue",
            "planwise_evaluation_cache_hits",
            "planwise_engine_restarts",
        ):
            assert name in text, name
        answers = re.search(r"^planwise_answers_total (\S+)$", text, re.M)
        assert answers is not None and float(answers.group(1)) >= 1
    app = create_app(settings_for(tmp_path, metrics_allow="10.0.0.0/8"))
    async with app.test_app():
        assert (await app.test_client().get("/metrics", scope_base=LOOPBACK)).status_code == 404


def test_json_log_lines_carry_request_and_session_ids() -> None:
    record = logging.LogRecord("service.x", logging.WARNING, __file__, 1, "hello %s", ("there",), None)
    request_token, session_token = REQUEST_ID.set("abc123"), SESSION_ID.set("s_1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        REQUEST_ID.reset(request_token)
        SESSION_ID.reset(session_token)
    assert line["message"] == "hello there" and line["level"] == "warning" and line["logger"] == "service.x"
    assert (line["requestId"], line["sessionId"]) == ("abc123", "s_1")
    assert "requestId" not in json.loads(JsonFormatter().format(record))
