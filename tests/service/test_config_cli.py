"""Every ``planwise`` command that reads the settings refuses a bad one in one line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-secret-key-" + "x" * 32


def run_planwise(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PLANWISE_")}
    clean["PLANWISE_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'planwise.db'}"
    return subprocess.run(
        [sys.executable, "-m", "planwise.cli", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", [["db", "upgrade"], ["export"], ["serve", "--port", "1"]])
def test_every_command_reports_a_bad_setting_in_one_line(tmp_path: Path, command: list[str]) -> None:
    result = run_planwise(tmp_path, *command, PLANWISE_SECRET_KEY="short")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "PLANWISE_SECRET_KEY must be at least 32 characters" in lines[0], result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "planwise.db").exists()
    result = run_planwise(tmp_path, *command, PLANWISE_SECRET_KEY=SECRET, PLANWISE_GC_FREEZE="maybe")
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and "PLANWISE_GC_FREEZE=maybe" in lines[0], lines
