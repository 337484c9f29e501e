"""``planwise create-user``: the first admin account from the command line."""

from __future__ import annotations

import argparse
import asyncio
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from admin.cli import register
from admin.models import AuditEntry, StaffUser
from planwise.migrate import upgrade
from service.db.engine import create_db_engine, sessionmaker


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="planwise")
    register(p.add_subparsers(dest="command", required=True), upgrade)
    return p


async def read(url: str) -> tuple[list[StaffUser], list[AuditEntry]]:
    db = create_db_engine(url)
    try:
        async with sessionmaker(db)() as s:
            users = list((await s.execute(select(StaffUser))).scalars())
            audit = list((await s.execute(select(AuditEntry))).scalars())
            return users, audit
    finally:
        await db.dispose()


def test_create_user_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'planwise.db'}"
    monkeypatch.setenv("PLANWISE_DATABASE_URL", url)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    args = parser().parse_args(["create-user", "Boss@Example.com", "--role", "admin", "--password-stdin"])
    assert args.func(args) == 0
    assert "Created boss@example.com (admin)" in capsys.readouterr().out
    users, audit = asyncio.run(read(url))
    assert [(u.email, u.role) for u in users] == [("boss@example.com", "admin")]
    assert audit[0].action == "staff_change" and audit[0].actor == "cli"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert args.func(args) == 1  # already exists
    assert "already has an account" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    other = parser().parse_args(["create-user", "x@example.com", "--password-stdin"])
    assert other.func(other) == 1
    assert "at least 10 characters" in capsys.readouterr().err


def test_unknown_role_is_refused() -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["create-user", "x@example.com", "--role", "owner"])
