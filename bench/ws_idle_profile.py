"""What an idle ``/ws`` connection holds: tracemalloc diff and task count over N idle connections.

    .venv/bin/python bench/ws_idle_profile.py [--n 1000] [--top 30] [--echo]

Starts ``bench/bench_server.py`` (``planwise serve --demo`` with the bench instruments) with
``BENCH_TRACEMALLOC=1`` on a fresh SQLite file, opens N connections from a client process (each
completes hello and the opening sequence, then idles), and prints the allocation diff by line and
the asyncio tasks per connection. tracemalloc counts Python allocations only (not the kernel's
socket buffers or the allocator's slack), so its per-connection figure is below the RSS one.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wsload.client import Clients  # noqa: E402
from wsload.config import HOST, ROOT, raise_nofile  # noqa: E402
from wsload.servers import Server, free_port  # noqa: E402


def fetch(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=60) as reply:
        return json.loads(reply.read())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--engine", default="reference")
    args = parser.parse_args()
    raise_nofile()
    work = Path(tempfile.mkdtemp(prefix="planwise-idle-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANWISE_")}
    env.update(
        PLANWISE_DATABASE_URL=f"sqlite+aiosqlite:///{work / 'p.db'}",
        PLANWISE_SECRET_KEY=secrets.token_urlsafe(48),
        PLANWISE_RULES_ENGINE=args.engine,
        BENCH_TRACEMALLOC="1",
    )
    cmd = [sys.executable, str(ROOT / "bench" / "bench_server.py"), HOST, str(port), "warning", "--demo"]
    server = Server("planwise", [*cmd, "--port", str(port)], env, work)
    clients = Clients(1)
    try:
        server.wait_ready()
        url = f"ws://{HOST}:{port}/ws"
        clients.call([{"op": "open", "url": url, "count": 1, "kind": "planwise", "first": 0}], 60)
        clients.call([{"op": "close"}], 60)
        time.sleep(1)
        base = fetch(port, "/__bench/memory")
        rss0 = server.rss()
        reply = clients.call(
            [{"op": "open", "url": url, "count": args.n, "kind": "planwise", "first": 1}], 300
        )
        time.sleep(3)
        diff = fetch(port, f"/__bench/memory?top={args.top}")
        rss = (server.rss() - rss0) / 1024 / args.n
        print(f"opened {reply[0]['opened']} errors {reply[0]['errors']}")
        print(
            f"tasks before {base['tasks']} after {diff['tasks']}: "
            f"{(diff['tasks'] - base['tasks']) / args.n:.2f} per connection"
        )
        print("tasks by coroutine:", diff["tasks_by_coroutine"])
        print(
            f"traced: {diff['total_kib'] / args.n:.1f} KiB per connection; RSS {rss:.1f} KiB per connection"
        )
        print("by file:")
        for row in diff["files"]:
            print(f"{row['kib'] / args.n * 1024:9.0f} B/conn", row["where"])
        print("by line:")
        for row in diff["top"]:
            print(
                f"{row['kib'] / args.n * 1024:9.0f} B/conn {row['count'] / args.n:7.2f} obj/conn",
                row["where"],
            )
    finally:
        clients.stop()
        server.stop()


if __name__ == "__main__":
    main()
