"""Smoke test of the engine benchmark: a quick run ends with the JSON line the issue specifies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"catalogue", "engine", "p50_ms", "p99_ms", "evals_per_s", "load_ms", "rss_mb"}


def test_quick_bench_ends_with_the_json_summary() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "engine.py"), "--quick", "--sizes", "20x50"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["bench"] == "engine"
    assert isinstance(summary["swap_rss_growth"], float)
    results = summary["results"]
    assert {(r["catalogue"], r["engine"]) for r in results} == {
        ("20x50", "durable"),
        ("20x50", "reference"),
        ("20x50", "zen"),
    }
    for r in results:
        assert FIELDS <= r.keys(), r
        assert "error" not in r, r["error"]
        assert r["mismatches"] == 0, r  # every engine agrees with the reference evaluator
        for key in FIELDS - {"catalogue", "engine"}:
            assert isinstance(r[key], int | float), (key, r)


def test_ab_cpu_measures_each_tree_against_the_first() -> None:
    """bench/ab_cpu.py on the same tree twice, the second with a setting (events off), two
    connections at once: two servers answer, each gets its figures and ratios."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "ab_cpu.py"),
            str(ROOT),
            f"{ROOT}@PLANWISE_EVENT_RETENTION_DAYS=0",
            "--rounds",
            "2",
            "--answers",
            "30",
            "--clients",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if "us/answer" in line]
    assert len(rows) == 2, done.stdout
    assert "x1.00" in rows[0]
    assert rows[1].startswith(f"{ROOT}@PLANWISE_EVENT_RETENTION_DAYS=0"), rows
    for row in rows:
        median = float(row.split("median")[1].split("us/answer")[0])
        whole = float(row.split("whole run")[1].split("us/answer")[0])
        assert median > 0 and whole > 0, row


def test_ab_cpu_refuses_a_setting_that_is_not_planwise() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ab_cpu.py"), f"{ROOT}@PATH=/tmp"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "PLANWISE_NAME=VALUE" in done.stderr, done.stderr
