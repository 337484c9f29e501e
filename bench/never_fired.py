"""How long the admin's "never fired in the last N days" check takes (admin/fired.py).

Fills a fresh SQLite file with ``--events`` answer events (the demo catalogue's rule ids, about
``--fired`` per event as numbers, two versions, spread over 60 days) as the service writes them, then times
:func:`admin.fired.never_fired` over the last 30 days and prints SQLite's query plans.

    .venv/bin/python bench/never_fired.py --events 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from admin.fired import never_fired  # noqa: E402
from service.db.models import Base, CatalogueVersion, SessionEvent, utcnow  # noqa: E402
from service.event_names import EventNames, numbered_data  # noqa: E402


async def main(events: int, fired_per_event: int, days: int) -> None:
    bundle = json.loads((ROOT / "data" / "demo-mobile.json").read_text())
    rules = [r["id"] for r in bundle["rules"]]
    common = rules[: len(rules) // 2]  # half of the rules fire often, a few never
    names = EventNames.of_bundle(bundle)  # ids as numbers, as the service writes them
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            for version in (1, 2):
                await conn.execute(insert(CatalogueVersion).values(id=version, name="demo", bundle=bundle))
            now, rng, rows = utcnow(), random.Random(1), []
            for i in range(events):
                fired = rng.sample(common, fired_per_event) + ([rules[-3]] if i % 997 == 0 else [])
                at = now - timedelta(seconds=rng.uniform(0, 60 * 86400))
                data = numbered_data(
                    {"answered": ["budget"], "cleared": [], "visible": [], "fired": fired, "shown": []}, names
                )
                rows.append(
                    {
                        "session_id": f"s{i // 5}",
                        "at": at,
                        "kind": "answer",
                        "version": 1 if at < now - timedelta(days=20) else 2,
                        "revision": i % 5 + 1,
                        "matched": 3,
                        "data": data,
                    }
                )
                if len(rows) == 10_000:
                    await conn.execute(insert(SessionEvent), rows)
                    rows = []
            if rows:
                await conn.execute(insert(SessionEvent), rows)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as db:
            for sql in (
                "SELECT version, count(*) FROM session_events"
                " WHERE kind = 'answer' AND at >= :c GROUP BY version",
                "SELECT DISTINCT e.version, j.value FROM session_events e, json_each(e.data, '$.fired') j"
                " WHERE e.kind = 'answer' AND e.at >= :c",
            ):
                cutoff = (utcnow() - timedelta(days=days)).isoformat(sep=" ")
                plan = (await db.execute(text("EXPLAIN QUERY PLAN " + sql), {"c": cutoff})).all()
                print(sql[:60] + "...", "->", "; ".join(str(r[-1]) for r in plan))
            timings = []
            for _ in range(5):
                started = time.perf_counter()
                window = await never_fired(db, 2, bundle, days, retention_days=90)
                timings.append(time.perf_counter() - started)
        await engine.dispose()
    in_window = window.answers
    print(
        f"events {events:,} (in the last {days} days: {in_window:,}, sessions {window.sessions:,}); "
        f"flagged {len(window.findings)} of {len(rules)} rules; "
        f"best {min(timings) * 1000:.0f} ms, median {sorted(timings)[2] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--fired", type=int, default=6, help="rule ids per event")
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.fired, args.days))
