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

from . import audit, drafts, problems
from .audit import Actor
from .links import problem_link
from .problems import FieldChange

CONFLICT = (
    "This item was changed or moved by someone else since you opened it. Your input is kept below: "
    "open the item again in another tab to compare, then save."
)
CHANGED = (
    "Not saved: someone else saved this item after you opened it. Their version and yours are side "
    "by side below; your input is kept in the form."
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
    #: A lost-edit conflict: the item as the draft has it now, and the fields that differ from the input.
    current: dict[str, Any] | None = None
    changes: list[FieldChange] = field(default_factory=list)


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
    base: dict[str, Any] | None = None,
    at: int | None = None,
) -> Outcome:
    """Put ``item`` at ``index`` (None: append) unless the change introduces problems and not ``force``.

    ``base`` is the item as the person opened it: when the draft's item differs from it (someone else
    saved meanwhile), nothing is saved and the outcome has the draft's item and the differing fields.
    ``also`` may adjust the rest of the bundle in the same change (e.g. renaming an attribute in plans).
    Problems the draft already had (in this item or elsewhere) never block the save.
    """
    state = await drafts.current(session)
    bundle = copy.deepcopy(state.bundle)
    items = bundle.get(section)
    if not isinstance(items, list):
        items = bundle[section] = []
    before: Any = None
    if index is None:  # a new item: at the end, or at position ``at`` ("insert after")
        index = len(items) if at is None else max(0, min(at, len(items)))
        items.insert(index, item)
        edited_before = None
    else:
        if index >= len(items) or drafts.item_key(items[index], section) != original_key:
            return Outcome(False, index, conflict=CONFLICT)
        before = items[index]
        if base is not None and problems.version(before) != problems.version(base):
            _, changes = problems.merge(base, before, item)
            return Outcome(False, index, conflict=CHANGED, current=before, changes=changes)
        items[index] = item
        edited_before = (section, index)
    if also is not None:
        also(bundle)
    found = drafts.problems_of(bundle)
    details = drafts.item_details(found, section, index)
    mine = drafts.by_field(details)
    new = problems.introduced(state.bundle, bundle, edited_before, (section, index))
    # Problems this change causes in other items (a duplicate id, a reference it breaks).
    elsewhere = [problem_link(p, bundle) for p in new if drafts.split_path(p.path)[:2] != (section, index)]
    if new and not force:
        return Outcome(False, index, mine, details, elsewhere, total_problems=len(found))
    await save_bundle(session, actor, state, bundle)
    verb = "Added" if before is None else "Changed"
    target = f"{section}/{drafts.item_key(item, section)}"
    await record(session, actor, target, f"{verb} {describe(section, item)}", before, item)
    return Outcome(True, index, mine, details, total_problems=len(found))


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


def without(bundle: dict[str, Any], section: str, index: int) -> dict[str, Any]:
    """A copy of ``bundle`` without one item."""
    out = copy.deepcopy(bundle)
    items = out.get(section)
    if isinstance(items, list) and 0 <= index < len(items):
        items.pop(index)
    return out


def delete_breaks(bundle: dict[str, Any], section: str, index: int) -> list[dict[str, str]]:
    """What deleting an item would break: the problems the rest of the draft would get (as links)."""
    after = without(bundle, section, index)
    return [problem_link(p, after) for p in problems.introduced(bundle, after)]


async def delete_item(
    session: AsyncSession, actor: Actor, section: str, index: int, original_key: str, seen: str = ""
) -> Outcome:
    """Delete an item; ``seen`` (its version when the person asked to delete it) refuses a changed one."""
    state = await drafts.current(session)
    bundle = copy.deepcopy(state.bundle)
    items = bundle.get(section)
    if not isinstance(items, list) or index >= len(items):
        return Outcome(False, conflict=CONFLICT)
    if drafts.item_key(items[index], section) != original_key:
        return Outcome(False, conflict=CONFLICT)
    if seen and problems.version(items[index]) != seen:
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


async def reorder(
    session: AsyncSession, actor: Actor, section: str, order: list[str], seen: list[str]
) -> Outcome:
    """Put the items in ``order`` (their ids); refused unless the draft's order is still ``seen``."""
    state = await drafts.current(session)
    bundle = copy.deepcopy(state.bundle)
    items = bundle.get(section)
    current = [drafts.item_key(i, section) for i in items] if isinstance(items, list) else []
    if not isinstance(items, list) or current != seen or sorted(order) != sorted(current):
        return Outcome(False, conflict=CONFLICT)
    by_key = {drafts.item_key(i, section): i for i in items}
    bundle[section] = [by_key[k] for k in order]
    await save_bundle(session, actor, state, bundle)
    await record(session, actor, section, f"Reordered the {section}", current, order)
    return Outcome(True)


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
