"""Catalogue versions in the database: publish (validate + insert), read, list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rules.validator import load_catalogue

from .db.models import CatalogueVersion


async def publish(
    session: AsyncSession,
    bundle: dict[str, Any],
    message: str = "",
    by: str = "",
    copied_from: int | None = None,
) -> int:
    """Validate ``bundle`` (raises CatalogueInvalid) and add it as the newest, live version."""
    catalogue = load_catalogue(bundle)
    row = CatalogueVersion(
        name=catalogue.name, bundle=bundle, message=message, created_by=by, copied_from=copied_from
    )
    session.add(row)
    await session.flush()
    return row.id


async def live_version(session: AsyncSession) -> int | None:
    return (await session.execute(select(func.max(CatalogueVersion.id)))).scalar()


async def get_version(session: AsyncSession, version: int) -> CatalogueVersion | None:
    return await session.get(CatalogueVersion, version)


async def list_versions(session: AsyncSession, limit: int = 100) -> list[CatalogueVersion]:
    rows = await session.execute(select(CatalogueVersion).order_by(CatalogueVersion.id.desc()).limit(limit))
    return list(rows.scalars())


async def save_draft(session: AsyncSession, bundle: dict[str, Any], by: str = "") -> None:
    """Replace the draft with ``bundle`` (validated by the caller)."""
    from .db.models import Draft, utcnow

    draft = await session.get(Draft, 1)
    base = await live_version(session)
    if draft is None:
        session.add(Draft(id=1, bundle=bundle, base_version=base, updated_by=by))
    else:
        draft.bundle, draft.base_version, draft.updated_by, draft.updated_at = bundle, base, by, utcnow()
