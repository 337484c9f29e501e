"""Item edits on the draft: replace, add, delete, move; each one validated and audited.

Data functions: each takes the caller's session and the :class:`~admin.audit.Actor` and never
commits (the caller owns the transaction); nothing here reads Quart's request globals.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from . import audit, drafts
from .audit import Actor
from .links import problem_link

CONFLICT = (
    "This item was changed or moved by someone else since you opened it. Your input is kept below: "
    "open the item again in another tab to compare, then save."
)


@dataclass
class Outcome:
    """The result of an edit: saved or not, the item's problems by field, a conflict message."""

    saved: bool
    index: int | None = None
    problems: dict[str, list[str]] = field(default_factory=dict)
    details: list[tuple[str, str]] = field(default_factory=list)
    elsewhere: list[dict[str, str]] = field(default_factory=list)
    conflict: str = ""
    total_problems: int = 0


async def load(
    session: AsyncSession, section: str, index: int
) -> tuple[drafts.DraftState, dict[str, Any] | None]:
    """The draft and one of its items (None when the index is out of range)."""
    state = await drafts.current(session)
    items = state.items(section)
    if index < 0 or index >= len(items) or not isinstance(items[index], dict):
        return state, None
    return state, items[index]


def describe(section: str, item: Any) -> str:
    return f"{drafts.SINGULAR[section]} {drafts.item_key(item, section) or '(no id)'}"


async def save_item(
    session: AsyncSession,
    actor: Actor,
    section: str,
    index: int | None,
    original_key: str,
    item: dict[str, Any],
    force: bool = False,
    also: Callable[[dict[str, Any]], None] | None = None,
) -> Outcome:
    """Put ``item`` at ``index`` (None: append) unless it has problems of its own and not ``force``.

    ``also`` may adjust the rest of the bundle in the same change (e.g. renaming an attribute in plans).
    """
    state = await drafts.current(session)
    bundle = copy.deepcopy(state.bundle)
    items = bundle.get(section)
    if not isinstance(items, list):
        items = bundle[section] = []
    before: Any = None
    if index is None:
        items.append(item)
        index = len(items) - 1
    else:
        if index >= len(items) or drafts.item_key(items[index], section) != original_key:
            return Outcome(False, index, conflict=CONFLICT)
        before = items[index]
        items[index] = item
    if also is not None:
        also(bundle)
    problems = drafts.problems_of(bundle)
    details = drafts.item_details(problems, section, index)
    mine = drafts.by_field(details)
    # Problems this change causes in other items (a duplicate id, a reference it breaks).
    known = set(drafts.problems_of(state.bundle)) if before is not None else set()
    elsewhere = [
        problem_link(p, bundle)
        for p in problems
        if p not in known and drafts.split_path(p.path)[:2] != (section, index)
    ]
    if (mine or elsewhere) and not force:
        return Outcome(False, index, mine, details, elsewhere, total_problems=len(problems))
    await save_bundle(session, actor, state, bundle)
    verb = "Added" if before is None else "Changed"
    target = f"{section}/{drafts.item_key(item, section)}"
    await record(session, actor, target, f"{verb} {describe(section, item)}", before, item)
    return Outcome(True, index, mine, details, total_problems=len(problems))


async def record(
    session: AsyncSession, actor: Actor, target: str, summary: str, before: Any, after: Any
) -> None:
    """Audit a draft change by ``actor`` in the caller's transaction."""
    await audit.record(session, actor.email, "draft_change", target, summary, before, after, actor.address)


async def save_bundle(
    session: AsyncSession, actor: Actor, state: drafts.DraftState, bundle: dict[str, Any]
) -> None:
    """Write ``bundle`` as the draft; the first change after a publish starts the draft (audited)."""
    if not state.is_draft:
        summary = f"Started a draft from version {state.live_version}" if state.live_version else "Started"
        await audit.record(session, actor.email, "draft_start", "draft", summary, address=actor.address)
    await drafts.save(session, state, bundle, actor.email)


async def delete_item(
    session: AsyncSession, actor: Actor, section: str, index: int, original_key: str
) -> Outcome:
    state = await drafts.current(session)
    bundle = copy.deepcopy(state.bundle)
    items = bundle.get(section)
    if not isinstance(items, list) or index >= len(items):
        return Outcome(False, conflict=CONFLICT)
    if drafts.item_key(items[index], section) != original_key:
        return Outcome(False, conflict=CONFLICT)
    before = items.pop(index)
    await save_bundle(session, actor, state, bundle)
    target = f"{section}/{original_key}"
    await record(session, actor, target, f"Deleted {describe(section, before)}", before, None)
    return Outcome(True, total_problems=len(drafts.problems_of(bundle)))


async def move_item(
    session: AsyncSession, actor: Actor, section: str, index: int, original_key: str, delta: int
) -> Outcome:
    """Move an item up (-1) or down (+1); order matters for questions (the questionnaire order)."""
    state = await drafts.current(session)
    bundle = copy.deepcopy(state.bundle)
    items = bundle.get(section)
    to = index + delta
    if not isinstance(items, list) or not (0 <= index < len(items)) or not (0 <= to < len(items)):
        return Outcome(False, conflict=CONFLICT)
    if drafts.item_key(items[index], section) != original_key:
        return Outcome(False, conflict=CONFLICT)
    order_before = [drafts.item_key(i, section) for i in items]
    items[index], items[to] = items[to], items[index]
    await save_bundle(session, actor, state, bundle)
    order_after = [drafts.item_key(i, section) for i in items]
    summary = f"Moved {describe(section, items[to])} {'up' if delta < 0 else 'down'}"
    await record(session, actor, f"{section}/{original_key}", summary, order_before, order_after)
    return Outcome(True, to)


def parse_json_field(text: str | None, errors: list[str], required: bool = True) -> Any:
    """JSON from a textarea; a syntax error is appended to ``errors`` (shown next to the field)."""
    raw = (text or "").strip()
    if not raw:
        if required:
            errors.append("This field is required")
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        errors.append(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
        return None


def to_json_text(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=2, ensure_ascii=False)
