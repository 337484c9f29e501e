"""``planwise create-user EMAIL --role ROLE [--password-stdin]``: add a staff account."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from functools import partial
from typing import Any

from service.db.engine import Migrate

from .roles import ROLES


def register(subparsers: Any, migrate: Migrate) -> None:
    """Add the ``create-user`` command to the ``planwise`` command line."""
    p = subparsers.add_parser("create-user", help="add a staff account for the admin at /admin")
    p.add_argument("email")
    p.add_argument("--role", choices=ROLES, default="viewer", help="viewer, editor, publisher or admin")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=partial(cmd_create_user, migrate=migrate))
    p = subparsers.add_parser("forget", help="erase a person's sessions and selections (audited)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--subject", help="the host site's user id (the JWT 'sub'): every session of that user")
    who.add_argument("--session", help="one session id (s_...)")
    p.add_argument("--by", default="cli", help="who asked, for the audit log (default: cli)")
    p.set_defaults(func=partial(cmd_forget, migrate=migrate))


def cmd_forget(args: argparse.Namespace, migrate: Migrate) -> int:
    """Erase every session of a host-site user, or one session, with its selections and events."""
    from service.config import Settings

    erased = asyncio.run(
        _forget(Settings.from_env().database_url, args.subject, args.session, args.by, migrate)
    )
    print(f"erased {erased.sessions} session(s) and {erased.selections} selection(s)")
    return 0


async def _forget(url: str, subject: str | None, session_id: str | None, by: str, migrate: Migrate) -> Any:
    from service.db.engine import create_db_engine, sessionmaker
    from service.retention import forget

    from . import audit

    db = create_db_engine(url)
    try:
        await migrate(db)
        async with sessionmaker(db)() as session, session.begin():
            erased = await forget(await session.connection(), subject=subject, session_id=session_id)
            # The audit row names what was erased by its kind only: the subject is personal data.
            target = "one session" if session_id else "every session of a host-site user"
            await audit.record(
                session,
                by,
                "forget",
                target,
                f"Erased {erased.sessions} session(s) and {erased.selections} selection(s) on request",
                None,
                {"sessions": erased.sessions, "selections": erased.selections},
            )
            return erased
    finally:
        await db.dispose()


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        print("The two passwords differ.", file=sys.stderr)
        return None
    return first


def cmd_create_user(args: argparse.Namespace, migrate: Migrate) -> int:
    from service.config import Settings

    from .users import StaffError

    password = _read_password(args.password_stdin)
    if password is None:
        return 1
    try:
        email = asyncio.run(
            _create(Settings.from_env().database_url, args.email, args.role, password, migrate)
        )
    except StaffError as exc:
        print(f"Not created: {exc}", file=sys.stderr)
        return 1
    print(f"Created {email} ({args.role}). Sign in at /admin/login.")
    return 0


async def _create(url: str, email: str, role: str, password: str, migrate: Migrate) -> str:
    from service.db.engine import create_db_engine, sessionmaker

    from . import audit
    from .users import create_user

    db = create_db_engine(url)
    try:
        await migrate(db)
        async with sessionmaker(db)() as session, session.begin():
            user = await create_user(session, email, role, password)
            await audit.record(
                session,
                "cli",
                "staff_change",
                user.email,
                f"Added {user.email} as {role} (command line)",
                None,
                {"email": user.email, "role": role, "active": True},
            )
            return user.email
    finally:
        await db.dispose()
