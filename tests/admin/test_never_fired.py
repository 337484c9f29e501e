"""Rules of the live version that fired in no answer of the last N days (admin/fired.py, issue 14).

Answers go through the real WebSocket protocol, so the service writes the events (with the rule
ids that fired) into the real ``session_events`` table; older events are added to that table as
the service would have written them days ago.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from admin.fired import never_fired
from service.catalogues import get_version, publish
from service.db.models import SessionEvent, utcnow
from service.runtime import get_runtime
from tests.admin.conftest import EXAMPLE, Browser, settings_for
from tests.service.wsjson import WS

DAYS = 7


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Both databases: each expands the ``fired`` arrays its own way (rules as numbers since
    2026-12-06, as text before; both are in these tests)."""
    overrides = {"database_url": request.getfixturevalue("pg_url")} if request.param == "postgresql" else {}
    return settings_for(tmp_path, never_fired_days=DAYS, **overrides)


async def answer_sessions(app: Quart, *answer_sets: dict[str, Any]) -> None:
    """One person per answer set, each answering through the WebSocket."""
    client = app.test_client()
    for answers in answer_sets:
        async with client.websocket("/ws") as raw:
            ws = WS(raw)
            await ws.opening({})
            await ws.send("userResponse", {"answers": answers}, id="a")
            await ws.expect("recommendationUpdates")
    await get_runtime(app).planwise.store.writer.write()


async def old_event(app: Quart, days_ago: int, fired: list[str], version: int = 1) -> None:
    """An answer event as the service wrote it ``days_ago`` days ago."""
    async with get_runtime(app).sessions() as db, db.begin():
        db.add(
            SessionEvent(
                session_id="s_old",
                at=utcnow() - timedelta(days=days_ago),
                kind="answer",
                version=version,
                revision=1,
                matched=3,
                data={"answered": ["travel"], "cleared": [], "visible": [], "fired": fired, "shown": []},
            )
        )


async def test_nothing_recorded_in_the_window_flags_no_rule(app: Quart, editor: Browser) -> None:
    await old_event(app, DAYS + 3, ["heavy-data"])  # outside the window
    page = await editor.text("/admin/draft")
    assert f"Which live rules never fired in the last {DAYS} days?" in page
    page = await editor.text("/admin/draft?fired=1")
    assert f"No answers were recorded in the last {DAYS} days, so no rule is flagged." in page
    assert "Never fired recently:" not in page


async def test_live_rules_that_fired_in_no_answer_of_the_last_days(app: Quart, editor: Browser) -> None:
    # heavy-data and budget-cap fire; traveller fired only before the window; family never.
    await answer_sessions(app, {"dataUsage": "heavy"}, {"budget": 30}, {"dataUsage": "light"})
    await old_event(app, DAYS + 3, ["traveller"])
    # A rule only in the draft never ran: it is not "never fired".
    bundle = json.loads(EXAMPLE.read_text())
    bundle["rules"].append(
        {
            "id": "draft-only",
            "name": "Draft only",
            "when": {"answer": "travel", "op": "exists"},
            "then": [{"derive": {"fact": "seen", "value": "yes"}}],
        }
    )
    await editor.get("/admin/import")
    imported = await editor.post("/admin/import", {"text": json.dumps(bundle), "replace": "y"})
    assert imported.status_code == 302

    page = await editor.text("/admin/draft?fired=1")
    section = page[page.index('id="never-fired"') :]
    section = section[: section.index("<h2>")]
    assert f"Live rules that never fired in the last {DAYS} days" in section
    assert f"Over 3 answer changes of 3 sessions recorded in the last {DAYS} days." in section
    for rule in ("traveller", "family"):
        assert (
            f"Rule {rule} fired in none of the 3 answer changes of 3 sessions in the last {DAYS} days"
            " (version 1)." in section
        )
    for rule in ("heavy-data", "budget-cap", "draft-only"):
        assert f"Rule {rule} " not in section
    assert section.count("Never fired recently:") == 2
    assert 'href="/admin/draft/rules/2"' in section  # traveller, linked to the draft's rule


async def test_versions_without_the_rule_do_not_count(app: Quart) -> None:
    """A rule new in the live version has not run while every answer used an older version; a
    disabled live rule is never flagged; a rule counts only the answers of versions that have it."""
    await answer_sessions(app, {"dataUsage": "heavy"}, {"budget": 10})  # version 1
    bundle = json.loads(EXAMPLE.read_text())
    v2 = copy.deepcopy(bundle)
    v2["rules"][3]["enabled"] = False  # family
    v2["rules"].append(
        {
            "id": "newcomer",
            "name": "Newcomer",
            "when": {"answer": "travel", "op": "exists"},
            "then": [{"derive": {"fact": "seen", "value": "yes"}}],
        }
    )
    async with get_runtime(app).sessions() as db, db.begin():
        version = await publish(db, v2, "v2")
    await old_event(app, 1, ["heavy-data"], version=version)  # one answer with version 2
    async with get_runtime(app).sessions() as db:
        row = await get_version(db, version)
        assert row is not None
        window = await never_fired(db, version, row.bundle, DAYS, retention_days=90)
    assert (window.answers, window.sessions) == (3, 3)
    flagged = {f.rules[0]: f.message for f in window.findings}
    assert set(flagged) == {"traveller", "newcomer"}  # heavy-data fired with both versions, budget-cap with 1
    assert flagged["traveller"] == (
        f"Rule traveller fired in none of the 3 answer changes of 3 sessions in the last {DAYS} days"
        " (versions 1, 2)."
    )
    assert flagged["newcomer"] == (
        f"Rule newcomer fired in none of the 1 answer change of 1 session in the last {DAYS} days"
        " (version 2)."
    )
    assert window.not_run == ()

    # Nobody answered with version 3 yet: its new rule has not run; the others keep their history.
    v3 = copy.deepcopy(v2)
    v3["rules"].append(
        {
            "id": "brand-new",
            "name": "Brand new",
            "when": {"answer": "budget", "op": "exists"},
            "then": [{"derive": {"fact": "seen", "value": "yes"}}],
        }
    )
    async with get_runtime(app).sessions() as db:
        async with db.begin():
            latest = await publish(db, v3, "v3")
        window = await never_fired(db, latest, v3, DAYS, retention_days=90)
    assert window.not_run == ("brand-new",)
    assert "brand-new" not in {f.rules[0] for f in window.findings}
    assert "family" not in {f.rules[0] for f in window.findings}  # disabled in the live version


async def test_the_window_never_reaches_past_the_retention(app: Quart) -> None:
    await old_event(app, 5, ["heavy-data"])
    async with get_runtime(app).sessions() as db:
        row = await get_version(db, 1)
        assert row is not None
        short = await never_fired(db, 1, row.bundle, 30, retention_days=3)
        off = await never_fired(db, 1, row.bundle, 30, retention_days=0)
        nothing = await never_fired(db, None, None, 30, retention_days=90)
    assert short.days == 3 and "No answers were recorded in the last 3 days" in short.note
    assert off.note == "Session events are not recorded (PLANWISE_EVENT_RETENTION_DAYS is 0)."
    assert nothing.note == "Nothing is published yet: no rule has run."
