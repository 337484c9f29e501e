"""The service's commands of the ``planwise`` command line: validate, import and export bundles.

``planwise.cli`` builds the whole command line (with ``serve``, ``db upgrade`` and the admin's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

from .db.engine import Migrate


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


async def _with_db(action: Any, migrate: Migrate) -> Any:
    from .config import Settings
    from .db.engine import create_db_engine, sessionmaker

    db = create_db_engine(Settings.from_env().database_url)
    try:
        await migrate(db)
        async with sessionmaker(db)() as session, session.begin():
            return await action(session)
    finally:
        await db.dispose()


def cmd_import(args: argparse.Namespace, migrate: Migrate) -> int:
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

    version = asyncio.run(_with_db(action, migrate))
    print(f"published as version {version}" if version else "imported as the draft (publish it in the admin)")
    return 0


def cmd_export(args: argparse.Namespace, migrate: Migrate) -> int:
    """Write a version's bundle (default: the live one) to FILE or stdout."""
    from .catalogues import get_version, live_version

    async def action(session: Any) -> Any:
        number = args.version or await live_version(session)
        row = await get_version(session, number) if number else None
        return row.bundle if row else None

    bundle = asyncio.run(_with_db(action, migrate))
    if bundle is None:
        print("no such version" if args.version else "nothing is published yet", file=sys.stderr)
        return 1
    text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    if args.file:
        Path(args.file).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_purge(args: argparse.Namespace, migrate: Migrate) -> int:
    """Delete idle sessions (PLANWISE_SESSION_RETENTION_DAYS) and old events now."""
    from .config import Settings
    from .db.engine import create_db_engine
    from .events import Events
    from .retention import purge_idle_sessions

    settings = Settings.from_env()

    async def run() -> tuple[int, int]:
        db = create_db_engine(settings.database_url)
        try:
            await migrate(db)
            erased = await purge_idle_sessions(db, settings.session_retention_days)
            events = (
                await Events(db, settings.event_retention_days).purge()
                if settings.event_retention_days
                else 0
            )
            return erased.sessions, events
        finally:
            await db.dispose()

    sessions, events = asyncio.run(run())
    print(
        f"purged {sessions} idle sessions (older than {settings.session_retention_days} days, no selection) "
        f"and {events} events (older than {settings.event_retention_days} days)"
    )
    return 0


def register(sub: Any, migrate: Migrate) -> None:
    """Add ``validate``, ``import`` and ``export`` to the ``planwise`` command line."""
    p = sub.add_parser("validate", help="check a catalogue bundle file and list every problem")
    p.add_argument("file")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("import", help="import a bundle as the draft (or publish it)")
    p.add_argument("file")
    p.add_argument("--publish", action="store_true", help="publish it as a new live version")
    p.add_argument("--message", default="", help="version message")
    p.set_defaults(func=partial(cmd_import, migrate=migrate))
    p = sub.add_parser("export", help="export a version's bundle")
    p.add_argument("file", nargs="?")
    p.add_argument("--version", type=int)
    p.set_defaults(func=partial(cmd_export, migrate=migrate))
    p = sub.add_parser("purge", help="delete idle sessions and old events now (also done hourly by serve)")
    p.set_defaults(func=partial(cmd_purge, migrate=migrate))
