"""The ``planwise`` command line: validate, serve, db upgrade, import and export bundles."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _read_bundle(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except OSError as exc:
        return None, f"{path}: cannot read: {exc.strerror}"
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, f"{path}: not valid JSON: {exc}"


def cmd_validate(args: argparse.Namespace) -> int:
    """Print every problem of a bundle file (exit 1) or a one-line summary (exit 0)."""
    from rules.validator import validate_bundle

    path = Path(args.file)
    data, error = _read_bundle(path)
    if error:
        print(error, file=sys.stderr)
        return 1
    problems = validate_bundle(data)
    if problems:
        for p in problems:
            print(f"{path}: {p}")
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(
        f"{path}: OK: '{data['name']}': {len(data['plans'])} plans, {len(data['questions'])} questions, "
        f"{len(data['rules'])} rules"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import serve

    serve(args.host, args.port, args.workers, args.demo, args.log_level)
    return 0


async def _with_db(action: Any) -> Any:
    from .config import Settings
    from .db.engine import create_db_engine, sessionmaker
    from .db.migrate import upgrade

    db = create_db_engine(Settings.from_env().database_url)
    try:
        await upgrade(db)
        async with sessionmaker(db)() as session, session.begin():
            return await action(session)
    finally:
        await db.dispose()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from .config import Settings
    from .db.engine import create_db_engine
    from .db.migrate import current, upgrade

    async def run() -> str | None:
        db = create_db_engine(Settings.from_env().database_url)
        try:
            await upgrade(db)
            return await current(db)
        finally:
            await db.dispose()

    print(f"database schema at revision {asyncio.run(run())}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Import a bundle as the draft, or publish it as a new version with --publish."""
    from rules.errors import CatalogueInvalid
    from rules.validator import load_catalogue

    from .catalogues import publish, save_draft

    path = Path(args.file)
    data, error = _read_bundle(path)
    if error:
        print(error, file=sys.stderr)
        return 1
    try:
        load_catalogue(data)
    except CatalogueInvalid as exc:
        for p in exc.problems:
            print(f"{path}: {p}", file=sys.stderr)
        print(f"{len(exc.problems)} problem(s); nothing was imported", file=sys.stderr)
        return 1

    async def action(session: Any) -> int | None:
        if args.publish:
            return await publish(session, data, args.message or f"Imported {path.name}", "cli")
        await save_draft(session, data, "cli")
        return None

    version = asyncio.run(_with_db(action))
    print(f"published as version {version}" if version else "imported as the draft (publish it in the admin)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a version's bundle (default: the live one) to FILE or stdout."""
    from .catalogues import get_version, live_version

    async def action(session: Any) -> Any:
        number = args.version or await live_version(session)
        row = await get_version(session, number) if number else None
        return row.bundle if row else None

    bundle = asyncio.run(_with_db(action))
    if bundle is None:
        print("no such version" if args.version else "nothing is published yet", file=sys.stderr)
        return 1
    text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    if args.file:
        Path(args.file).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="planwise", description="Planwise guided plan selection service")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check a catalogue bundle file and list every problem")
    p.add_argument("file")
    p.set_defaults(func=cmd_validate)
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
    p = sub.add_parser("import", help="import a bundle as the draft (or publish it)")
    p.add_argument("file")
    p.add_argument("--publish", action="store_true", help="publish it as a new live version")
    p.add_argument("--message", default="", help="version message")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("export", help="export a version's bundle")
    p.add_argument("file", nargs="?")
    p.add_argument("--version", type=int)
    p.set_defaults(func=cmd_export)

    from admin.cli import register as register_admin

    register_admin(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
