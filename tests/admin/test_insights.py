"""Insights (issue 13): known sessions through the real protocol, then every number of the export
(JSON and CSV) and of the page; versions compared before/after a publish; the zero-result link
opens the simulator with those answers; roles and bad filters.
"""

from __future__ import annotations

import copy
import csv
import html
import io
import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from quart import Quart
from sqlalchemy import delete, select, update

from service.catalogues import publish
from service.db.models import EventRollup, EventRollupState, SessionEvent
from service.runtime import get_runtime
from tests.admin.conftest import EXAMPLE, Browser
from tests.service.test_events import EXPECTED, WS, drive_known_sessions

TODAY = datetime.now(UTC).date().isoformat()


class Tables(HTMLParser):
    """Each table by id: its body rows by their data-question/-rule/-plan/-rank key, cells by data-col."""

    KEYS = ("data-question", "data-rule", "data-plan", "data-rank")

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, dict[str, str]]] = {}
        self.figures: dict[str, list[str]] = {}
        self.svgs: list[dict[str, str]] = []
        self._table = self._row = self._col = self._figure = ""
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table" and "id" in a:
            self._table = a["id"]
            self.tables[self._table] = {}
        elif tag == "tr" and self._table:
            self._row = next((a[k] for k in self.KEYS if k in a), "")
            if self._row:
                self.tables[self._table][self._row] = {}
        elif tag == "td" and self._row:
            self._col = a.get("data-col", "")
        elif tag == "dd" and "data-figure" in a:
            self._figure = a["data-figure"]
        elif tag == "svg":
            self.svgs.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = ""
        elif tag in ("td", "dd"):
            self._col = self._figure = ""

    def handle_data(self, data: str) -> None:
        if self._col:
            self.tables[self._table][self._row][self._col] = data.strip()
        if self._figure:
            self.figures.setdefault(self._figure, []).append(data.strip())


def _numbers(tables: Tables, table: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"id": key, **{c: int(row[c]) for c in columns}} for key, row in tables.tables[table].items()]


async def test_the_export_gives_every_number_of_the_known_sessions(app: Quart, viewer: Browser) -> None:
    await drive_known_sessions(app)
    response = await viewer.get(f"/admin/insights/export.json?from={TODAY}&to={TODAY}&version=1")
    assert response.status_code == 200
    assert await response.get_json() == EXPECTED  # exactly the shape, nothing more
    everything = await viewer.get("/admin/insights/export.json")  # the last 30 days, every version
    assert await everything.get_json() == EXPECTED
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    empty = await (
        await viewer.get(f"/admin/insights/export.json?from={yesterday}&to={yesterday}")
    ).get_json()
    assert empty["sessions"] == 0 and [q["shown"] for q in empty["questions"]] == [0] * 5
    assert [p["id"] for p in empty["plans"]] == [p["id"] for p in EXPECTED["plans"]]  # zeros listed

    response = await viewer.get(f"/admin/insights/export.csv?from={TODAY}&to={TODAY}&version=1")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="insights-v1.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(await response.get_data(as_text=True))))
    assert rows[:3] == [["summary"], ["sessions", "answerChanges", "zeroResultChanges"], ["4", "9", "2"]]
    sections: dict[str, list[list[str]]] = {}
    for block in _blocks(rows[4:]):
        sections[block[0][0]] = block[1:]
    assert sections["questions"][0] == ["id", "shown", "answered", "lastAnswered"]
    assert sections["questions"][1:] == [
        [q["id"], str(q["shown"]), str(q["answered"]), str(q["lastAnswered"])] for q in EXPECTED["questions"]
    ]
    assert sections["rules"][1:] == [[r["id"], str(r["fired"])] for r in EXPECTED["rules"]]
    assert sections["plans"][1:] == [[p["id"], str(p["top3"]), str(p["selected"])] for p in EXPECTED["plans"]]


def _blocks(rows: list[list[str]]) -> list[list[list[str]]]:
    blocks: list[list[list[str]]] = [[]]
    for row in rows:
        if row:
            blocks[-1].append(row)
        else:
            blocks.append([])
    return [b for b in blocks if b]


async def test_the_page_shows_the_same_numbers(app: Quart, viewer: Browser) -> None:
    await drive_known_sessions(app)
    body = await viewer.text(f"/admin/insights?from={TODAY}&to={TODAY}&version=1")
    page = Tables(body)
    assert page.figures["sessions"] == ["4"] and page.figures["answerChanges"] == ["9"]
    assert page.figures["zeroResultChanges"] == ["2 (22%)"] and page.figures["selections"] == ["3"]
    assert _numbers(page, "table-funnel-a", ("shown", "answered", "lastAnswered")) == EXPECTED["questions"]
    assert _numbers(page, "table-rules-a", ("fired",)) == EXPECTED["rules"]
    assert _numbers(page, "table-plans-a", ("top3", "selected")) == EXPECTED["plans"]
    rates = {key: row["rate"] for key, row in page.tables["table-plans-a"].items()}
    assert rates == {"basic-5": "33%", "max-50": "0%", "mid-20": "25%", "nodata": "0%", "retired": "–"}
    ranks = page.tables["table-ranks-a"]
    assert list(ranks) == ["1", "2", "3", "4–10", "11+", "not shown"]
    assert "22%</strong> of 9 answer changes left no plan" in body
    # Every chart is an image described by its table, which holds the same numbers.
    charts = {svg["id"]: svg for svg in page.svgs}
    for name in ("funnel", "rules", "plans", "ranks"):
        chart = charts[f"chart-{name}-a"]
        assert chart["role"] == "img" and chart["aria-describedby"] == f"table-{name}-a"
        assert chart["aria-describedby"] in page.tables
    # Each rule of the example fired somewhere: nothing flagged.
    assert "never-fired" not in body and '<strong class="flag">' not in body
    # In questionnaire order, as the catalogue lists them.
    assert list(page.tables["table-funnel-a"]) == [
        q["id"] for q in json.loads(EXAMPLE.read_text())["questions"]
    ]


async def test_two_versions_side_by_side_before_and_after_a_publish(app: Quart, viewer: Browser) -> None:
    await drive_known_sessions(app)
    bundle = copy.deepcopy(json.loads(EXAMPLE.read_text()))
    bundle["rules"] = [r for r in bundle["rules"] if r["id"] != "heavy-data"] + [
        {**r, "enabled": False} for r in bundle["rules"] if r["id"] == "heavy-data"
    ]
    runtime = get_runtime(app)
    async with runtime.sessions() as db, db.begin():
        assert await publish(db, bundle, "heavy-data off", "test") == 2
    await runtime.control.switch_live()
    async with app.test_client().websocket("/ws") as raw:  # one person on version 2
        ws = WS(raw)
        await ws.opening({})
        await ws.send("userResponse", {"answers": {"dataUsage": "heavy"}}, id=1)
        assert (await ws.expect("recommendationUpdates"))["matchedPlans"] == 4
    v2 = await (await viewer.get("/admin/insights/export.json?version=2")).get_json()
    assert (v2["sessions"], v2["answerChanges"], v2["zeroResultChanges"]) == (1, 1, 0)
    assert {r["id"]: r["fired"] for r in v2["rules"]} == {
        "budget-cap": 0,
        "traveller": 0,
        "family": 0,
        "heavy-data": 0,
    }
    v1 = await (await viewer.get("/admin/insights/export.json?version=1")).get_json()
    assert v1 == EXPECTED  # the earlier version's numbers do not move
    assert (await (await viewer.get("/admin/insights/export.json")).get_json())["sessions"] == 5

    page = Tables(await viewer.text("/admin/insights?version=1&compare=2"))
    assert page.figures["sessions"] == ["4", "1"]
    assert _numbers(page, "table-rules-a", ("fired",)) == EXPECTED["rules"]
    assert {k: int(v["fired"]) for k, v in page.tables["table-rules-b"].items()} == {
        "budget-cap": 0,
        "traveller": 0,
        "family": 0,
        "heavy-data": 0,
    }
    body = await viewer.text("/admin/insights?version=1&compare=2")
    assert "4 rule(s) never fired in this period." in body  # version 2's, flagged


async def test_a_zero_result_link_opens_the_simulator_with_those_answers(app: Quart, viewer: Browser) -> None:
    await drive_known_sessions(app)
    body = await viewer.text(f"/admin/insights?from={TODAY}&to={TODAY}")
    links = [
        part.split('"', 1)[0].replace("&amp;", "&") for part in body.split('class="zero-link" href="')[1:]
    ]
    assert links == [
        "/admin/simulator?q_budget=10&q_dataUsage=heavy",
        "/admin/simulator?q_budget=3&q_dataUsage=medium&q_travel=true",
    ]
    simulator = await viewer.text(links[0])
    assert "(0 of 4 match)" in simulator and "No plan matches." in simulator
    assert 'value="heavy" checked' in simulator and 'value="10"' in simulator


async def test_bad_filters_are_refused_with_the_reason(app: Quart, viewer: Browser) -> None:
    for query, reason in (
        ("from=2026-13-01", "'from' must be a date"),
        ("version=two", "'version' must be a version number"),
        ("from=2026-02-02&to=2026-02-01", "'from' is after 'to'"),
    ):
        response = await viewer.get(f"/admin/insights/export.json?{query}")
        assert response.status_code == 400 and reason in await response.get_data(as_text=True)
        page = await viewer.get(f"/admin/insights?{query}")
        assert page.status_code == 400 and reason in html.unescape(await page.get_data(as_text=True))


async def test_the_insights_need_a_signed_in_viewer(app: Quart, browser: Browser) -> None:
    response = await browser.get("/admin/insights/export.json")
    assert response.status_code in (302, 401)


async def test_a_session_over_two_days_counts_once_over_both(app: Quart, viewer: Browser) -> None:
    """A started and first answered yesterday (its events moved back a day), then answered today:
    the export over both days has the same numbers as before; each day alone counts A once."""
    ids = await drive_known_sessions(app)
    await viewer.get("/admin/insights/export.json")  # folded into the rollup as they are
    async with get_runtime(app).sessions() as db, db.begin():
        query = select(SessionEvent).where(SessionEvent.session_id == ids["A"]).order_by(SessionEvent.id)
        for event in list((await db.execute(query.limit(2))).scalars()):
            event.at -= timedelta(days=1)
        await db.execute(delete(EventRollup))  # the rollup is rebuilt from the moved events
        await db.execute(update(EventRollupState).values(watermark=0))
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    both = await (await viewer.get(f"/admin/insights/export.json?from={yesterday}&to={TODAY}")).get_json()
    assert both == EXPECTED
    before = await (
        await viewer.get(f"/admin/insights/export.json?from={yesterday}&to={yesterday}")
    ).get_json()
    assert (before["sessions"], before["answerChanges"]) == (1, 1)  # A's start and first answer
    assert {q["id"]: q["lastAnswered"] for q in before["questions"]}["dataUsage"] == 1
    today = await (await viewer.get(f"/admin/insights/export.json?from={TODAY}&to={TODAY}")).get_json()
    assert (today["sessions"], today["answerChanges"]) == (4, 8)
    assert {q["id"]: q["lastAnswered"] for q in today["questions"]} == {
        q["id"]: q["lastAnswered"] for q in EXPECTED["questions"]
    }
