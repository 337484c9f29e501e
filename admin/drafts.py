"""The draft catalogue: read it (or the live version when there is no draft), change it, discard it.

There is one shared draft (the service's ``drafts`` row 1). Editing when there is no draft starts one
from the live version. Publishing deletes the draft: the live version is then what staff see.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from rules.errors import Problem
from rules.model import FORMAT
from rules.validator import validate_bundle
from service.catalogues import get_version, live_version
from service.db.models import Draft, utcnow

SECTIONS = ("attributes", "plans", "questions", "rules")
KEY_OF = {"attributes": "key", "plans": "id", "questions": "id", "rules": "id"}
SINGULAR = {"attributes": "attribute", "plans": "plan", "questions": "question", "rules": "rule"}
_ITEM_PATH = re.compile(r"^([A-Za-z]+)\[(\d+)\](?:\.(.*))?$")


def empty_bundle() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "name": "New catalogue",
        "attributes": [],
        "plans": [],
        "questions": [],
        "rules": [],
    }


@dataclass
class DraftState:
    """What staff edit: the draft, or (``is_draft`` False) a copy of the live version."""

    bundle: dict[str, Any]
    is_draft: bool
    base_version: int | None
    live_version: int | None
    updated_by: str = ""
    updated_at: datetime | None = None

    def items(self, section: str) -> list[Any]:
        value = self.bundle.get(section)
        return value if isinstance(value, list) else []

    @property
    def stale(self) -> bool:
        """The live version changed since this draft was started from it."""
        return self.is_draft and self.base_version != self.live_version


async def live_bundle(db: AsyncSession) -> tuple[int | None, dict[str, Any] | None]:
    number = await live_version(db)
    row = await get_version(db, number) if number is not None else None
    return number, (copy.deepcopy(row.bundle) if row is not None else None)


async def current(db: AsyncSession) -> DraftState:
    number, bundle = await live_bundle(db)
    # populate_existing: a re-read in the same session (a write after the view's read) sees the database.
    draft = await db.get(Draft, 1, populate_existing=True)
    if draft is not None:
        return DraftState(
            copy.deepcopy(draft.bundle), True, draft.base_version, number, draft.updated_by, draft.updated_at
        )
    return DraftState(bundle if bundle is not None else empty_bundle(), False, number, number)


async def save(db: AsyncSession, state: DraftState, bundle: dict[str, Any], by: str) -> None:
    """Write ``bundle`` as the draft (keeping the version it was started from)."""
    draft = await db.get(Draft, 1)
    if draft is None:
        db.add(
            Draft(id=1, bundle=bundle, base_version=state.base_version, updated_by=by, updated_at=utcnow())
        )
    else:
        draft.bundle, draft.updated_by, draft.updated_at = bundle, by, utcnow()
    state.bundle, state.is_draft = bundle, True


async def replace(db: AsyncSession, bundle: dict[str, Any], base_version: int | None, by: str) -> None:
    """Make ``bundle`` the draft, started from ``base_version`` (import, start over)."""
    await discard(db)
    db.add(Draft(id=1, bundle=bundle, base_version=base_version, updated_by=by, updated_at=utcnow()))


async def discard(db: AsyncSession) -> None:
    await db.execute(delete(Draft).where(Draft.id == 1))
    await db.flush()


def item_key(item: Any, section: str) -> str:
    """An item's id (attribute key), or "" when it has none yet."""
    value = item.get(KEY_OF[section]) if isinstance(item, dict) else None
    return value if isinstance(value, str) else ""


def split_path(path: str) -> tuple[str, int | None, str]:
    """``rules[3].then[0].because`` -> ("rules", 3, "then[0].because"); top-level keys -> (key, None, "")."""
    match = _ITEM_PATH.match(path)
    if match:
        return match.group(1), int(match.group(2)), match.group(3) or ""
    return path.split(".", 1)[0].split("[", 1)[0], None, ""


def field_of(rest: str) -> str:
    """The form field a problem belongs to: the first key after the item (``then[0].x`` -> ``then``)."""
    return rest.split(".", 1)[0].split("[", 1)[0]


def item_details(problems: list[Problem], section: str, index: int) -> list[tuple[str, str]]:
    """(path inside the item, message) of one item's problems."""
    out: list[tuple[str, str]] = []
    for p in problems:
        sec, i, rest = split_path(p.path)
        if sec == section and i == index:
            out.append((rest, p.message))
    return out


def by_field(details: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Problems by form field ("" for the item as a whole), prefixed with any deeper path."""
    out: dict[str, list[str]] = {}
    for rest, message in details:
        field = field_of(rest)
        detail = rest[len(field) :].lstrip(".")
        out.setdefault(field, []).append(f"{detail}: {message}" if detail else message)
    return out


def problems_of(bundle: dict[str, Any]) -> list[Problem]:
    return validate_bundle(bundle)
