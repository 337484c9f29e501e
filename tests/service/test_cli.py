"""The planwise command line, run as a real subprocess against a real SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from quart import Quart

from planwise.app import create_app

from .conftest import EXAMPLE, WS, settings_for

ROOT = Path(__file__).resolve().parents[2]


def planwise(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PLANWISE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'planwise.db'}",
        "PLANWISE_SECRET_KEY": "test-secret-key-" + "x" * 32,
    }
    return subprocess.run(
        [sys.executable, "-m", "planwise", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_validate_reports_every_problem_and_summarises_a_good_bundle(tmp_path: Path) -> None:
    ok = planwise(tmp_path, "validate", str(ROOT / "data" / "demo-mobile.json"))
    assert ok.returncode == 0 and "OK" in ok.stdout and "plans" in ok.stdout
    bundle = json.loads(EXAMPLE.read_text())
    bundle["rules"][0]["when"]["answer"] = "dataUsag"
    bundle["plans"][0]["attributes"]["dataGb"] = "five"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bundle))
    result = planwise(tmp_path, "validate", str(bad))
    assert result.returncode == 1
    assert "rules[0].when.answer" in result.stdout and "plans[0].attributes.dataGb" in result.stdout
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert planwise(tmp_path, "validate", str(broken)).returncode == 1


def test_import_publish_export_round_trip(tmp_path: Path) -> None:
    assert planwise(tmp_path, "db", "upgrade").returncode == 0
    result = planwise(tmp_path, "import", str(EXAMPLE), "--publish", "--message", "first")
    assert result.returncode == 0 and "version 1" in result.stdout
    out = tmp_path / "out.json"
    assert planwise(tmp_path, "export", str(out)).returncode == 0
    assert json.loads(out.read_text()) == json.loads(EXAMPLE.read_text())
    assert planwise(tmp_path, "export", "--version", "7").returncode == 1
    draft = planwise(tmp_path, "import", str(EXAMPLE))
    assert draft.returncode == 0 and "draft" in draft.stdout


def test_bad_bundle_import_changes_nothing(tmp_path: Path) -> None:
    bundle: dict[str, Any] = json.loads(EXAMPLE.read_text())
    bundle["ranking"]["limit"] = 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bundle))
    result = planwise(tmp_path, "import", str(bad), "--publish")
    assert result.returncode == 1 and "ranking.limit" in result.stderr
    assert planwise(tmp_path, "export").returncode == 1


async def test_publish_from_another_process_reaches_live_sessions(tmp_path: Path) -> None:
    app: Quart = create_app(settings_for(tmp_path, publish_poll_interval=0.2, enrichers=()))
    async with app.test_app() as test_app:
        async with test_app.test_client().websocket("/ws") as raw:
            ws = WS(raw)
            await ws.opening({})
            bundle = json.loads(EXAMPLE.read_text())
            bundle["plans"][0]["name"] = "Basic 5 (new)"
            changed = tmp_path / "v2.json"
            changed.write_text(json.dumps(bundle))
            result = await asyncio.to_thread(planwise, tmp_path, "import", str(changed), "--publish")
            assert result.returncode == 0, result.stderr
            update = await ws.expect("recommendationUpdates")
            assert update["version"] == 2 and update["revision"] == 0
            names = {p["id"]: p["name"] for p in update["plans"]}
            assert names["basic-5"] == "Basic 5 (new)"
