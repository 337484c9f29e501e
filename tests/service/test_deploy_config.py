"""Configuration that cannot silently split a cluster: ``planwise serve`` refuses to start several
processes without one shared ``PLANWISE_SECRET_KEY`` (each would sign tokens with its own key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_config_cli import SECRET, run_planwise

# Never reached: the refusal comes before any connection.
PG_URL = "postgresql+asyncpg://nobody@127.0.0.1:1/planwise"


@pytest.mark.parametrize(
    ("env", "args", "why"),
    [
        ({"PLANWISE_DATABASE_URL": PG_URL}, [], "on PostgreSQL"),
        ({}, ["--workers", "2"], "with --workers > 1"),
        ({"PLANWISE_DATABASE_URL": PG_URL, "PLANWISE_SECRET_KEY": ""}, ["--workers", "3"], "on PostgreSQL"),
    ],
)
def test_serve_refuses_several_processes_without_a_shared_key(
    tmp_path: Path, env: dict[str, str], args: list[str], why: str
) -> None:
    result = run_planwise(tmp_path, "serve", "--port", "1", *args, **env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"planwise: PLANWISE_SECRET_KEY must be set {why}")
    assert "secrets.token_urlsafe(48)" in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "planwise.db").exists() and not (tmp_path / "secret_key").exists()


def test_a_set_key_passes_the_check(tmp_path: Path) -> None:
    # With the key the check passes and the next problem is reported instead (here: the frozen
    # GC setting is malformed), proving the refusal is only about the missing key.
    result = run_planwise(
        tmp_path, "serve", "--port", "1", "--workers", "2", PLANWISE_SECRET_KEY=SECRET, PLANWISE_GC_FREEZE="x"
    )
    assert result.returncode == 2 and "PLANWISE_GC_FREEZE=x" in result.stderr
    assert "must be set" not in result.stderr
