"""The ``planwise`` command line: the service's and the admin's commands, ``serve`` and ``db upgrade``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from service.config import ConfigError, Settings


async def prepare(settings: Settings, demo: bool, base: str) -> list[str]:
    """Apply migrations (and publish the demo catalogue into an empty database) once.

    Returns what to tell a newcomer: where the admin is, and how to create the first staff account.
    """
    from admin.users import count_users
    from service.db.engine import create_db_engine, sessionmaker
    from service.runtime import load_demo_if_empty

    from .migrate import upgrade

    db = create_db_engine(settings.database_url)
    try:
        await upgrade(db)
        if demo:
            version = await load_demo_if_empty(db, Path(settings.demo_bundle))
            if version is not None:
                print(f"Loaded the demo catalogue as version {version}.")
        async with sessionmaker(db)() as session:
            has_staff = bool(await count_users(session))
    finally:
        await db.dispose()
    notes = [f"  staff admin        {base}/admin"]
    if not has_staff:
        notes.append("  No staff account yet: create one in another terminal with")
        notes.append("    .venv/bin/planwise create-user you@example.com --role admin")
    return notes


def cmd_serve(args: argparse.Namespace) -> int:
    from service.server import serve

    serve(
        args.host,
        args.port,
        args.workers,
        args.demo,
        args.log_level,
        app_factory="planwise.app:create_app",
        prepare=prepare,
    )
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from service.db.engine import create_db_engine

    from .migrate import current, upgrade

    async def run() -> str | None:
        db = create_db_engine(Settings.from_env().database_url)
        try:
            await upgrade(db)
            return await current(db)
        finally:
            await db.dispose()

    print(f"database schema at revision {asyncio.run(run())}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from admin.cli import register as register_admin
    from service.cli import register as register_service

    from .migrate import upgrade

    parser = argparse.ArgumentParser(prog="planwise", description="Planwise guided plan selection service")
    sub = parser.add_subparsers(dest="command", required=True)
    register_service(sub, upgrade)
    p = sub.add_parser("serve", help="run the service (applies migrations first)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--demo", action="store_true", help="publish data/demo-mobile.json into an empty database")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("db", help="database tasks")
    dbsub = p.add_subparsers(dest="db_command", required=True)
    p = dbsub.add_parser("upgrade", help="apply migrations")
    p.set_defaults(func=cmd_db_upgrade)
    register_admin(sub, upgrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:  # a bad PLANWISE_* value: one line, no traceback
        print(f"planwise: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    raise SystemExit(main())
