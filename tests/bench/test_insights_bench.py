"""Smoke test of the Insights benchmark: a small run catches the rollup up, answers every request,
and its export counts every generated session (no timing is checked here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_small_insights_bench_run_ends_with_its_json_summary() -> None:
    done = subprocess.run(
        [sys.executable, "bench/insights.py", "--events", "3000", "--repeat", "1", "--new-events", "300"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["bench"] == "insights" and summary["database"] == "sqlite"
    assert summary["events_in_db"] >= 3000 and summary["rollup_rows"] >= summary["sessions"]
    assert summary["full_sessions"] == summary["sessions"]  # every session started inside the range
    assert [r["case"] for r in summary["requests"]] == [
        "export.json, full range",
        "page, full range",
        "export.json, 7 days",
        "page, 7 days",
        "export.json, version 2",
        "page, version 2",
        "page, version 2 vs 3",
        "export.csv, full range",
    ]
    assert isinstance(summary["page_after_new_events_s"], float)
