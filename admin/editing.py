"""Item edits on the draft: replace, add, delete, move; each one validated and audited."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from quart import abort

from . import drafts
from .links import problem_link
from .web import log, maker, staff

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


async def load(section: str, index: int) -> tuple[drafts.DraftState, dict[str, Any]]:
    """The draft and one of its items (404 when the index is out of range)."""
    async with maker()() as db:
        state = await drafts.current(db)
    items = state.items(section)
    if index < 0 or index >= len(items) or not isinstance(items[index], dict):
        abort(404)
    return state, items[index]


def describe(section: str, item: Any) -> str:
    return f"{drafts.SINGULAR[section]} {drafts.item_key(item, section) or '(no id)'}"


async def save_item(
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
    async with maker()() as db, db.begin():
        state = await drafts.current(db)
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
        await save_bundle(db, state, bundle)
        verb = "Added" if before is None else "Changed"
        target = f"{section}/{drafts.item_key(item, section)}"
        await log(db, "draft_change", target, f"{verb} {describe(section, item)}", before, item)
    return Outcome(True, index, mine, details, total_problems=len(problems))


async def save_bundle(db: Any, state: drafts.DraftState, bundle: dict[str, Any]) -> None:
    if not state.is_draft:
        summary = f"Started a draft from version {state.live_version}" if state.live_version else "Started"
        await log(db, "draft_start", "draft", summary)
    await drafts.save(db, state, bundle, staff().email)


async def delete_item(section: str, index: int, original_key: str) -> Outcome:
    async with maker()() as db, db.begin():
        state = await drafts.current(db)
        bundle = copy.deepcopy(state.bundle)
        items = bundle.get(section)
        if not isinstance(items, list) or index >= len(items):
            return Outcome(False, conflict=CONFLICT)
        if drafts.item_key(items[index], section) != original_key:
            return Outcome(False, conflict=CONFLICT)
        before = items.pop(index)
        await save_bundle(db, state, bundle)
        target = f"{section}/{original_key}"
        await log(db, "draft_change", target, f"Deleted {describe(section, before)}", before, None)
        return Outcome(True, total_problems=len(drafts.problems_of(bundle)))


async def move_item(section: str, index: int, original_key: str, delta: int) -> Outcome:
    """Move an item up (-1) or down (+1); order matters for questions (the questionnaire order)."""
    async with maker()() as db, db.begin():
        state = await drafts.current(db)
        bundle = copy.deepcopy(state.bundle)
        items = bundle.get(section)
        to = index + delta
        if not isinstance(items, list) or not (0 <= index < len(items)) or not (0 <= to < len(items)):
            return Outcome(False, conflict=CONFLICT)
        if drafts.item_key(items[index], section) != original_key:
            return Outcome(False, conflict=CONFLICT)
        order_before = [drafts.item_key(i, section) for i in items]
        items[index], items[to] = items[to], items[index]
        await save_bundle(db, state, bundle)
        order_after = [drafts.item_key(i, section) for i in items]
        summary = f"Moved {describe(section, items[to])} {'up' if delta < 0 else 'down'}"
        await log(db, "draft_change", f"{section}/{original_key}", summary, order_before, order_after)
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
