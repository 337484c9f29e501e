"""Server CPU per answer of two or more source trees, measured in turns with one fixed answer sequence.

The quick ``ws_load.py`` run varies by +-20% between runs of the same code on this 2-core machine
(its answers are random, its phases short). This A/B keeps everything but the code equal: one
``planwise serve --demo`` per tree (fresh SQLite, the same engine), one WebSocket client answering
the same seeded sequence closed-loop, the trees measured in turns for several rounds, and the
server's CPU time (utime + stime of the process and its children, from /proc) per answer.

    git worktree add /tmp/before e7e3387
    .venv/bin/python bench/ab_cpu.py /tmp/before . --rounds 10 --answers 400

A tree may carry settings after ``@`` (``PATH@NAME=VALUE,NAME=VALUE``), to compare one code with
two settings, and ``--clients N`` answers on N connections at once (N sequences, each seeded). For
example the cost of the Insights events at N=100, background fold included (issue 13):

    .venv/bin/python bench/ab_cpu.py . .@PLANWISE_EVENT_RETENTION_DAYS=0 --clients 100 \
        --rounds 8 --answers 150 --settle 35

Prints each tree's per-round figures, the median and the ratio of medians to the first tree, and
its whole CPU over all its answers (what it did between its rounds too, e.g. folding events into
the Insights rollup, and for ``--settle`` seconds after the last round).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import websockets
from wsload.config import RATE_BURST, RATE_PER_SECOND
from wsload.servers import free_port

VENV_BIN = Path(sys.executable).parent


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its direct children (an engine worker), in seconds."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0
    for p in [pid, *map(int, children)]:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def tree_and_settings(spec: str) -> tuple[Path, dict[str, str]]:
    """``PATH`` or ``PATH@NAME=VALUE,NAME=VALUE``: the source tree and its extra settings."""
    path, _, given = spec.partition("@")
    settings: dict[str, str] = {}
    for pair in filter(None, given.split(",")):
        name, eq, value = pair.partition("=")
        if not eq or not name.startswith("PLANWISE_"):
            raise argparse.ArgumentTypeError(f"{spec}: settings are PLANWISE_NAME=VALUE pairs")
        settings[name] = value
    return Path(path), settings


def start(
    tree: Path, engine: str, workdir: Path, settings: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """``planwise serve --demo`` from ``tree`` (its packages first on the path) on a free port."""
    port = free_port()
    command = (
        [str(VENV_BIN / "planwise")]
        if (tree / "planwise").is_dir()
        else [sys.executable, "-m", "service.cli"]
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(tree.resolve()),
        "PLANWISE_RULES_ENGINE": engine,
        "PLANWISE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / f'{port}.db'}",
        "PLANWISE_SECRET_KEY": "ab-cpu-" + "x" * 40,
        "PLANWISE_RATE_PER_SECOND": str(RATE_PER_SECOND),
        "PLANWISE_RATE_BURST": str(RATE_BURST),
        **(settings or {}),
    }
    cmd = [*command, "serve", "--host", "127.0.0.1", "--port", str(port), "--demo"]
    proc = subprocess.Popen(cmd, env=env, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{tree}: the server did not start")


def _value(question: dict[str, Any], rnd: random.Random) -> Any:
    options = [o["value"] if isinstance(o, dict) else o for o in question.get("options", [])]
    kind = question["type"]
    if kind in ("single", "choice"):
        return rnd.choice(options)
    if kind == "multi":
        return sorted(rnd.sample(options, rnd.randint(0, min(2, len(options)))), key=options.index)
    if kind == "number":
        low, high = question.get("min", 0), question.get("max", 100)
        step = question.get("step") or 1
        return low + step * rnd.randint(0, int((high - low) / step))
    return rnd.choice([True, False])


async def run(port: int, answers: int, seed: int) -> int:
    """Answer ``answers`` times closed-loop; returns how many answers got their update."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=None, max_size=None) as ws:
        await ws.send(orjson.dumps({"event": "hello", "data": {}}).decode())
        questions: list[dict[str, Any]] = []
        while True:
            message = orjson.loads(await ws.recv())
            if message["event"] == "questionnaire":
                questions = [q for q in message["data"]["questions"] if q["type"] != "text"]
            if message["event"] == "recommendationUpdates":
                break
        rnd, done = random.Random(seed), 0
        stored: dict[str, Any] = {}
        for n in range(answers):
            question = rnd.choice(questions)
            value = _value(question, rnd)
            if stored.get(question["id"]) == value:
                continue  # unchanged: no update to wait for
            stored[question["id"]] = value
            body = {"questionId": question["id"], "value": value}
            await ws.send(orjson.dumps({"event": "userResponse", "id": f"a{n}", "data": body}).decode())
            try:
                while orjson.loads(await asyncio.wait_for(ws.recv(), 5))["data"].get("replyTo") != f"a{n}":
                    pass
                done += 1
            except TimeoutError:
                pass  # an error without replyTo, e.g. a hidden question: not counted
        await asyncio.sleep(0.3)  # the enriched update of the last answer
        return done


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "trees",
        nargs="+",
        help="source trees (git worktrees), PATH or PATH@PLANWISE_NAME=VALUE,...; the first is the baseline",
    )
    parser.add_argument("--engine", default="reference")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--answers", type=int, default=400, help="answers per connection and round")
    parser.add_argument("--clients", type=int, default=1, help="connections answering at once")
    parser.add_argument("--settle", type=float, default=0.0, help="seconds after the last round")
    args = parser.parse_args()
    trees: list[tuple[Path, dict[str, str]]] = []
    for spec in args.trees:
        try:
            tree, settings = tree_and_settings(spec)
        except argparse.ArgumentTypeError as exc:
            parser.error(str(exc))
        if not (tree / "service").is_dir():
            parser.error(f"{tree}: not a source tree of this project (no service/ in it)")
        trees.append((tree, settings))
    with tempfile.TemporaryDirectory(prefix="planwise-ab-") as tmp:
        servers: list[tuple[subprocess.Popen[bytes], int]] = []
        figures: list[list[float]] = [[] for _ in trees]
        answered = [0 for _ in trees]
        try:
            for tree, settings in trees:  # inside the try: a tree that fails to start stops the others
                servers.append(start(tree, args.engine, Path(tmp), settings))
            first = [_cpu_seconds(proc.pid) for proc, _ in servers]
            for r in range(args.rounds):
                turns = list(enumerate(servers))
                for k, (proc, port) in turns if r % 2 == 0 else turns[::-1]:  # who goes first alternates
                    before = _cpu_seconds(proc.pid)
                    done = asyncio.run(_answer_at_once(port, args.answers, r, args.clients))
                    answered[k] += done
                    figures[k].append((_cpu_seconds(proc.pid) - before) / max(1, done) * 1e6)
            time.sleep(args.settle)
            whole = [
                (_cpu_seconds(proc.pid) - cpu) / max(1, n) * 1e6
                for (proc, _), cpu, n in zip(servers, first, answered, strict=True)
            ]
        finally:
            for proc, _ in servers:
                proc.terminate()
                proc.wait(10)
    base, base_whole = statistics.median(figures[0]), whole[0]
    print(
        f"engine {args.engine}, {args.rounds} rounds x {args.clients} connection(s) x "
        f"{args.answers} answers, load {os.getloadavg()[0]:.2f}"
    )
    for spec, values, total in zip(args.trees, figures, whole, strict=True):
        median = statistics.median(values)
        rounds = " ".join(f"{v:.0f}" for v in values)
        print(
            f"{spec:32} median {median:5.0f} us/answer  x{median / base:.2f}  "
            f"whole run {total:5.0f} us/answer  x{total / base_whole:.2f}  rounds: {rounds}"
        )


async def _answer_at_once(port: int, answers: int, round_: int, clients: int) -> int:
    """``clients`` connections answering at once, each its own seeded sequence (the first: ``round_``)."""
    found = await asyncio.gather(*(run(port, answers, seed=round_ + 1000 * c) for c in range(clients)))
    return sum(found)


if __name__ == "__main__":
    main()
