"""Insights at scale (issue 13): N generated session events, then the admin's Insights requests timed.

    .venv/bin/python bench/insights.py                    # 1,000,000 events, about 2-4 minutes
    .venv/bin/python bench/insights.py --events 100000    # a quicker run
    .venv/bin/python bench/insights.py --db /tmp/ev.db    # keep (and reuse) the generated database
    .venv/bin/python bench/insights.py --postgresql       # the same events on a throwaway PostgreSQL
    .venv/bin/python bench/insights.py --fold-as-they-arrive  # the background fold's CPU per event

What it does:

1. A real app (``planwise.app.create_app``) on a SQLite file migrates the schema, loads the demo
   catalogue (``data/demo-mobile.json``) as version 1 and publishes two edited versions (rules
   disabled, a plan removed), so the events span three versions.
2. Sessions are generated (deterministic by ``--seed``) and bulk-inserted into the real
   ``session_events`` table with ``sqlite3`` (not through the protocol): each session starts at a
   random moment of the last ``--days`` days (UTC), makes 5-20 answer changes a few seconds to
   minutes apart, some resume hours later (a few the next day, so they span two days), 40 % choose a
   plan (a few twice). Each answer's ``data`` has the sizes real ones have: 12-16 visible questions
   of the version, the question(s) changed, 3-12 fired rules, the shown plans in rank order (about
   8 % of changes leave no plan, with the answers the rules read, from ~60 combinations); the id
   lists are numbers of the version, as the service writes them (service/event_names.py).
3. The app is started again on that file and a viewer signs in (Quart's test client). Timed:
   the rollup's catch-up (``Events.rollup.catch_up()``, when the code has one), then each request
   ``--repeat`` times: the page and export.json over the full range, the page and export.json over
   the last 7 days, export.json and the page for one version, the page comparing two versions.

With ``--postgresql`` the events generated into the SQLite file are copied (COPY) into a fresh
database of a throwaway PostgreSQL server (tests/pg_server.py: initdb in a temporary directory),
and the same requests are timed there (without the new-events case).

It prints one line per figure and ends with one JSON line ``{"bench": "insights", ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from admin.users import create_user  # noqa: E402
from planwise.app import create_app  # noqa: E402
from service.catalogues import publish  # noqa: E402
from service.event_names import EventNames, numbered_data  # noqa: E402
from service.runtime import get_runtime  # noqa: E402

DEMO = ROOT / "data" / "demo-mobile.json"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
EMAIL, PASSWORD = "viewer@example.com", "correct horse battery"


def settings(url: str) -> dict[str, Any]:
    return {
        "database_url": url,
        "secret_key": "bench-secret-key-" + "x" * 32,
        "rules_engine": "reference",
        "load_demo": True,
        "demo_bundle": str(DEMO),
    }


def edited_versions(bundle: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Versions 2 and 3: a few rules disabled, then a plan removed as well."""
    v2 = copy.deepcopy(bundle)
    for rule in v2["rules"][::9]:
        rule["enabled"] = False
    v3 = copy.deepcopy(v2)
    v3["plans"] = v3["plans"][1:]
    return [(v2, "some rules off"), (v3, "one plan fewer")]


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def prepare(url: str) -> list[dict[str, Any]]:
    """Schema, the three versions and a viewer; returns the bundles by version (index 0 = v1)."""
    app = create_app(settings(url))
    async with app.test_app():
        runtime = get_runtime(app)
        async with runtime.sessions() as db, db.begin():
            await create_user(db, EMAIL, "viewer", PASSWORD)
        bundle = json.loads(DEMO.read_text())
        for edited, message in edited_versions(bundle):
            async with runtime.sessions() as db, db.begin():
                await publish(db, edited, message, "bench")
        return [bundle, *(b for b, _ in edited_versions(bundle))]


@dataclass
class Shape:
    visible: list[str]
    questions: list[str]
    rules: list[str]
    plans: list[str]


def generate(
    path: Path, bundles: list[dict[str, Any]], events: int, days: int, seed: int, recent: bool = False
) -> int:
    """Bulk-insert about ``events`` events; returns the number of sessions.

    ``recent``: sessions of the last hour only (new events arriving after a catch-up)."""
    rng = random.Random(seed)
    names = [EventNames.of_bundle(b) for b in bundles]  # ids as numbers, as the service writes them
    shapes = []
    for b in bundles:
        questions = [q["id"] for q in b["questions"] if q.get("type") != "text"]
        rules = [r["id"] for r in b["rules"] if r.get("enabled", True)]
        shapes.append(
            Shape([q["id"] for q in b["questions"]], questions, rules, [p["id"] for p in b["plans"]])
        )
    combos = [
        {
            q: rng.choice(["light", "medium", "heavy", 5, 10, 20, True, False])
            for q in sorted(rng.sample(shapes[0].questions, 3))
        }
        for _ in range(60)
    ]
    now = datetime.now(UTC).replace(tzinfo=None)
    origin = now - timedelta(days=days)
    first, span = (now - timedelta(minutes=50), 2400.0) if recent else (origin, days * 86400.0 - 3600)
    publishes = [origin + timedelta(days=days * i / len(bundles)) for i in range(1, len(bundles))]

    def version_at(at: datetime) -> int:
        return 1 + sum(at >= p for p in publishes)

    rows: list[tuple[Any, ...]] = []
    sessions = 0
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    insert = (
        "INSERT INTO session_events (session_id, at, kind, version, revision, matched, plan_id, rank, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    inserted = 0
    while inserted + len(rows) < events:
        sessions += 1
        sid = f"{rng.getrandbits(128):032x}"
        at = first + timedelta(seconds=rng.random() * span)
        revision = 0

        def add(kind: str, data: dict[str, Any], sid: str, at: datetime, revision: int, **cols: Any) -> None:
            rows.append(
                (
                    sid,
                    at.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    kind,
                    version_at(at),
                    revision,
                    cols.get("matched"),
                    cols.get("plan_id"),
                    cols.get("rank"),
                    orjson.dumps(numbered_data(data, names[version_at(at) - 1])).decode(),
                )
            )

        shape = shapes[version_at(at) - 1]
        add("start", {"visible": shape.visible[:12]}, sid, at, revision)
        shown: list[str] = []
        for i in range(rng.randint(5, 20)):
            at += timedelta(seconds=rng.expovariate(1 / 25))
            if i == 6 and rng.random() < 0.15:  # comes back later: hours, sometimes the next day
                at += timedelta(hours=rng.choice([1, 3, 20, 30]))
                add("resume", {"visible": shape.visible[:14]}, sid, at, revision)
            shape = shapes[version_at(at) - 1]
            revision += 1
            zero = rng.random() < 0.08
            shown = [] if zero else rng.sample(shape.plans, rng.randint(5, min(20, len(shape.plans))))
            data: dict[str, Any] = {
                "answered": [rng.choice(shape.questions)],
                "cleared": [],
                "visible": shape.visible[: rng.randint(12, 16)],
                "fired": rng.sample(shape.rules, rng.randint(3, 12)),
                "shown": shown,
            }
            if zero:
                data["answers"] = rng.choice(combos)
            add("answer", data, sid, at, revision, matched=len(shown))
        if shown and rng.random() < 0.4:
            for _ in range(1 if rng.random() < 0.9 else 2):
                at += timedelta(seconds=rng.expovariate(1 / 40))
                rank = rng.randint(1, len(shown))
                not_shown = rng.random() >= 0.95
                add(
                    "select", {}, sid, at, revision, plan_id=shown[rank - 1], rank=None if not_shown else rank
                )
        if len(rows) >= 50_000:
            conn.executemany(insert, rows)
            inserted += len(rows)
            rows.clear()
    conn.executemany(insert, rows)
    conn.commit()
    conn.close()
    return sessions


class Viewer:
    def __init__(self, app: Any) -> None:
        self.client = app.test_client()

    async def login(self) -> None:
        page = await (await self.client.get("/admin/login")).get_data(as_text=True)
        token = TOKEN.search(page)
        assert token, "no CSRF token on the sign-in page"
        response = await self.client.post(
            "/admin/login", form={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)}
        )
        assert response.status_code == 302, response.status_code

    async def get(self, url: str) -> tuple[float, float, bytes]:
        """(wall seconds, CPU seconds of this process (every thread), the body)."""
        t0, c0 = time.perf_counter(), time.process_time()
        response = await self.client.get(url)
        body = await response.get_data()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert response.status_code == 200, (url, response.status_code, body[:300])
        return elapsed, cpu, body


async def copy_to_postgresql(path: Path, url: str) -> int:
    """The generated events of the SQLite file, copied into PostgreSQL's ``session_events`` (COPY)."""
    import asyncpg

    from service.db.engine import asyncpg_dsn

    with sqlite3.connect(path) as lite:
        rows = lite.execute(
            "SELECT session_id, at, kind, version, revision, matched, plan_id, rank, data "
            "FROM session_events ORDER BY id"
        ).fetchall()
    records = [(r[0], datetime.fromisoformat(r[1]), *r[2:]) for r in rows]
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        columns = ["session_id", "at", "kind", "version", "revision", "matched", "plan_id", "rank", "data"]
        await conn.copy_records_to_table("session_events", records=records, columns=columns)
        await conn.execute("ANALYZE session_events")
    finally:
        await conn.close()
    return len(records)


async def measure(url: str, path: Path | None, days: int, repeat: int, new_events: int) -> dict[str, Any]:
    """The catch-up and the requests; ``path``: the SQLite file (None: PostgreSQL, no new events)."""
    app = create_app(settings(url))
    figures: dict[str, Any] = {}
    async with app.test_app():
        runtime = get_runtime(app)
        events = runtime.planwise.events
        rollup = getattr(events, "rollup", None)
        if rollup is not None:
            await rollup.stop()  # the background catch-up started with the app: timed here instead
            t0 = time.perf_counter()
            await rollup.catch_up()
            figures["catch_up_s"] = round(time.perf_counter() - t0, 2)
            async with runtime.sessions() as db:
                state = (
                    "SELECT (SELECT watermark FROM event_rollup_state), (SELECT count(*) FROM event_rollup)"
                )
                found = await db.execute(text(state))
                mark, rows = found.one()
            figures["rollup_rows"] = rows
            print(
                f"rollup catch-up: {figures['catch_up_s']:.2f} s (up to event id {mark:,}; {rows:,} rows)",
                flush=True,
            )
        viewer = Viewer(app)
        await viewer.login()
        today = datetime.now(UTC).date()
        full = f"from={(today - timedelta(days=days)).isoformat()}&to={today.isoformat()}"
        week = f"from={(today - timedelta(days=6)).isoformat()}&to={today.isoformat()}"
        cases = [
            ("export.json, full range", f"/admin/insights/export.json?{full}"),
            ("page, full range", f"/admin/insights?{full}"),
            ("export.json, 7 days", f"/admin/insights/export.json?{week}"),
            ("page, 7 days", f"/admin/insights?{week}"),
            ("export.json, version 2", f"/admin/insights/export.json?{full}&version=2"),
            ("page, version 2", f"/admin/insights?{full}&version=2"),
            ("page, version 2 vs 3", f"/admin/insights?{full}&version=2&compare=3"),
            ("export.csv, full range", f"/admin/insights/export.csv?{full}"),
        ]
        results = []
        for name, url in cases:
            times, cpus = [], []
            body = b""
            for _ in range(repeat):
                elapsed, cpu, body = await viewer.get(url)
                times.append(elapsed)
                cpus.append(cpu)
            extra = ""
            if url.endswith(full) and "export.json" in url:
                found = orjson.loads(body)
                extra = f"  sessions={found['sessions']:,} answerChanges={found['answerChanges']:,}"
                figures["full_sessions"] = found["sessions"]
            median, most, cpu = statistics.median(times), max(times), statistics.median(cpus)
            results.append(
                {"case": name, "median_s": round(median, 3), "max_s": round(most, 3), "cpu_s": round(cpu, 3)}
            )
            print(f"{name:28} median {median:7.3f} s  max {most:7.3f} s  cpu {cpu:6.3f} s{extra}", flush=True)
        figures["requests"] = results
        figures["worst_median_s"] = max(r["median_s"] for r in results)
        if rollup is not None and new_events and path is not None:
            # Events that arrived since the last catch-up: the page folds them first (on demand).
            bundle = json.loads(DEMO.read_text())
            bundles = [bundle, *(b for b, _ in edited_versions(bundle))]
            times = []
            for n in range(repeat):
                generate(path, bundles, new_events, days, 1000 + n, recent=True)
                elapsed, _, _ = await viewer.get(cases[1][1])
                times.append(elapsed)
            figures["page_after_new_events_s"] = round(statistics.median(times), 3)
            print(
                f"page, full range, {new_events:,} new events folded first: median "
                f"{statistics.median(times):7.3f} s  max {max(times):7.3f} s",
                flush=True,
            )
    return figures


async def fold_as_they_arrive(path: Path, folder: Path, chunk: int) -> dict[str, Any]:
    """The background fold's cost when events arrive while their sessions are active.

    The last 3 days' events of the generated file are copied into a new file session by session
    interleaved (each session's first events, then each one's second, ...), so that every chunk of
    ``chunk`` events touches most sessions and each session's row is merged again at every chunk,
    as when a catch-up runs every 30 s during busy hours. Then folded chunk by chunk; CPU per event.
    """
    from planwise.migrate import upgrade
    from service.db.engine import create_db_engine
    from service.event_rollup import EventRollup

    target = folder / "arriving.db"
    shutil.copy(path, target)
    with sqlite3.connect(target) as conn:
        conn.executescript(
            """
            CREATE TEMP TABLE recent AS
              SELECT *, row_number() OVER (PARTITION BY session_id ORDER BY id) AS nth FROM session_events
              WHERE at >= (SELECT datetime(max(at), '-3 days') FROM session_events);
            DELETE FROM session_events;
            INSERT INTO session_events (session_id, at, kind, version, revision, matched, plan_id, rank, data)
              SELECT session_id, at, kind, version, revision, matched, plan_id, rank, data FROM recent
              ORDER BY nth, at;
            """
        )
        events, sessions = conn.execute(
            "SELECT count(*), count(DISTINCT session_id) FROM session_events"
        ).fetchone()
    engine = create_db_engine(sqlite_url(target))
    try:
        await upgrade(engine)
        async with engine.begin() as conn:  # the file may have a rollup already: start afresh
            for statement in (
                "DELETE FROM event_rollup",
                "DELETE FROM event_rollup_items",
                "UPDATE event_rollup_state SET watermark = 0",
            ):
                await conn.execute(text(statement))
        rollup = EventRollup(engine, 0, chunk=chunk)
        cpu, folded = time.process_time(), 0
        while done := (await rollup._chunk())[0]:
            folded += done
        cpu = time.process_time() - cpu
    finally:
        await engine.dispose()
    found = {
        "events": events,
        "sessions": sessions,
        "chunk": chunk,
        "us_per_event": round(cpu / folded * 1e6),
    }
    print(
        f"folding as they arrive: {events:,} events of {sessions:,} sessions, {chunk:,} per fold: "
        f"{found['us_per_event']} us of CPU per event",
        flush=True,
    )
    return {"arriving": found}


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--new-events", type=int, default=10_000, help="events added after the catch-up, per repeat"
    )
    parser.add_argument(
        "--db", type=Path, help="SQLite file to use; generated when missing, reused otherwise"
    )
    parser.add_argument(
        "--fold-as-they-arrive",
        action="store_true",
        help="only the background fold's CPU per event, sessions interleaved (the last 3 days' events)",
    )
    parser.add_argument(
        "--postgresql",
        action="store_true",
        help="measure on a throwaway PostgreSQL server (tests/pg_server.py) with the same events",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-insights-") as tmp:
        path = args.db or Path(tmp) / "insights.db"
        out: dict[str, Any] = {"bench": "insights", "events": args.events, "days": args.days}
        if not path.exists():
            t0 = time.perf_counter()
            bundles = await prepare(sqlite_url(path))
            out["sessions"] = generate(path, bundles, args.events, args.days, args.seed)
            out["generate_s"] = round(time.perf_counter() - t0, 1)
            print(
                f"generated {args.events:,} events of {out['sessions']:,} sessions in {out['generate_s']} s",
                flush=True,
            )
        with sqlite3.connect(path) as conn:
            out["events_in_db"] = conn.execute("SELECT count(*) FROM session_events").fetchone()[0]
        if args.fold_as_they_arrive:
            out.update(await fold_as_they_arrive(path, Path(tmp), 3000))
            print(json.dumps(out))
            return
        if args.postgresql:
            from tests.pg_server import PgServer

            server = PgServer(Path(tempfile.mkdtemp(prefix="bench-insights-pg-")))
            server.start()
            try:
                url = server.create_database()
                await prepare(url)
                t0 = time.perf_counter()
                copied = await copy_to_postgresql(path, url)
                print(
                    f"copied {copied:,} events into PostgreSQL in {time.perf_counter() - t0:.1f} s",
                    flush=True,
                )
                out["database"] = "postgresql"
                out.update(await measure(url, None, args.days, args.repeat, 0))
            finally:
                server.stop()
        else:
            out["database"] = "sqlite"
            out.update(await measure(sqlite_url(path), path, args.days, args.repeat, args.new_events))
        out["target_met"] = out["worst_median_s"] <= 2.0
        out["load_average"] = [round(x, 1) for x in os.getloadavg()]  # other work on the machine
        print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
