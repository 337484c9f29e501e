"""The audit log: append-only records of who did what, when, with before/after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import AuditEntry

ACTIONS = (
    "login",
    "login_failed",
    "logout",
    "password_change",
    "draft_start",
    "draft_change",
    "draft_discard",
    "import",
    "publish",
    "rollback",
    "scenario_change",
    "staff_change",
    "forget",
)


@dataclass(frozen=True)
class Actor:
    """Who makes a change: the staff member's e-mail and the address the request came from."""

    email: str
    address: str = ""


async def record(
    session: AsyncSession,
    actor: str,
    action: str,
    target: str = "",
    summary: str = "",
    before: Any = None,
    after: Any = None,
    address: str = "",
) -> None:
    """Add one entry (committed with the caller's transaction, so it exists iff the change does)."""
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            target=target[:200],
            summary=summary,
            before=before,
            after=after,
            address=address[:100],
        )
    )


@dataclass
class AuditFilter:
    actor: str = ""
    action: str = ""
    target: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.actor:
            query = query.where(AuditEntry.actor.contains(self.actor.strip().lower()))
        if self.action:
            query = query.where(AuditEntry.action == self.action)
        if self.target:
            query = query.where(AuditEntry.target.contains(self.target.strip()))
        if self.since is not None:
            query = query.where(AuditEntry.at >= self.since)
        if self.until is not None:
            query = query.where(AuditEntry.at < self.until)
        return query


async def search(
    session: AsyncSession, flt: AuditFilter, page: int = 1, per_page: int = 50
) -> tuple[list[AuditEntry], int]:
    """One page of entries, newest first, and the total count."""
    total = (await session.execute(flt.apply(select(func.count(AuditEntry.id))))).scalar_one()
    query = flt.apply(select(AuditEntry)).order_by(AuditEntry.id.desc())
    rows = await session.execute(query.offset((page - 1) * per_page).limit(per_page))
    return list(rows.scalars()), int(total)


async def latest(session: AsyncSession, target: str, actions: tuple[str, ...] = ("draft_change",)) -> Any:
    """The newest entry of ``actions`` on ``target`` (who last changed an item), or None."""
    query = (
        select(AuditEntry)
        .where(AuditEntry.target == target[:200], AuditEntry.action.in_(actions))
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalars().first()


async def draft_authors(session: AsyncSession) -> list[tuple[str, int, datetime]]:
    """Who changed the current draft: (e-mail, number of changes, last change), most changes first.

    The draft begins at the newest ``draft_start`` or ``import`` entry.
    """
    start = select(func.max(AuditEntry.id)).where(AuditEntry.action.in_(("draft_start", "import")))
    first = (await session.execute(start)).scalar_one_or_none()
    if first is None:
        return []
    query = (
        select(AuditEntry.actor, func.count(AuditEntry.id), func.max(AuditEntry.at))
        .where(AuditEntry.id >= first, AuditEntry.action.in_(("draft_change", "import", "draft_start")))
        .group_by(AuditEntry.actor)
        .order_by(func.count(AuditEntry.id).desc())
    )
    return [(str(a), int(n), at) for a, n, at in (await session.execute(query)).all()]
