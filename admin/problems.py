"""Problems in plain words, which problems a change introduces, and item versions for lost-edit checks.

A problem is identified by the item it is in (section and id, not its position, so moving or
deleting another item does not make old problems look new), the path inside the item and the
message. A save is refused only for problems the change introduces; problems the draft already had
stay where they are (listed on their own item's page and on the draft overview).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from rules.errors import Problem

from . import drafts

ProblemKey = tuple[str, str, str, str]

_STEP = re.compile(r"([A-Za-z_]+)|\[(\d+)\]")
WORDS = {
    "when": "condition",
    "then": "effect",
    "all": "test",
    "any": "alternative",
    "not": "negated test",
    "op": "operator",
    "value": "value",
    "valueFrom": "compared answer",
    "answer": "question",
    "fact": "fact",
    "attribute": "attribute",
    "because": "reason text",
    "score": "points",
    "where": "which plans",
    "require": "required plans",
    "exclude": "excluded plans",
    "derive": "derived fact",
    "askWhen": "ask only when",
    "options": "option",
    "attributes": "attribute",
    "label": "label",
    "id": "id",
    "key": "key",
    "min": "minimum",
    "max": "maximum",
    "step": "step",
    "maxLength": "maximum length",
    "priority": "priority",
    "name": "name",
    "text": "question text",
    "type": "type",
}


def version(item: Any) -> str:
    """A short content hash of an item: any change to the item gives another version."""
    text = json.dumps(item, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def in_words(rest: str) -> str:
    """A path inside an item in plain words: ``when.all[0].op`` -> "condition, test 1, operator"."""
    parts: list[str] = []
    previous = ""
    for match in _STEP.finditer(rest):
        name, number = match.group(1), match.group(2)
        if number is not None:
            count = str(int(number) + 1)
            if parts and previous in ("all", "any", "then", "options"):
                parts[-1] = f"{parts[-1]} {count}"
            else:
                parts.append(f"item {count}")
            continue
        previous = name
        if previous == "attributes" and parts == []:
            parts.append("attribute")
            continue
        if parts and parts[-1] == "attribute" and previous not in WORDS:
            parts[-1] = f"attribute “{name}”"
            continue
        parts.append(WORDS.get(name, name))
    return ", ".join(parts)


def key_of(problem: Problem, bundle: dict[str, Any], edited: tuple[str, int] | None = None) -> ProblemKey:
    """The problem's identity: (section, item id, path inside it, message).

    ``edited`` (section, index) names the item being changed: it is identified by position, so the
    problems it had before a change of its id are still recognised as old ones.
    """
    section, index, rest = drafts.split_path(problem.path)
    if index is None:
        return (section, "", problem.path, problem.message)
    if edited == (section, index):
        return (section, "@edited", rest, problem.message)
    items = bundle.get(section)
    item = items[index] if isinstance(items, list) and index < len(items) else None
    return (section, drafts.item_key(item, section) or f"#{index}", rest, problem.message)


def introduced(
    before: dict[str, Any],
    after: dict[str, Any],
    edited_before: tuple[str, int] | None = None,
    edited_after: tuple[str, int] | None = None,
) -> list[Problem]:
    """Problems of ``after`` that ``before`` did not have (the ones a change caused)."""
    known = {key_of(p, before, edited_before) for p in drafts.problems_of(before)}
    return [p for p in drafts.problems_of(after) if key_of(p, after, edited_after) not in known]


@dataclass(frozen=True)
class FieldChange:
    """One field of an item in a lost-edit conflict: the draft's value now, the person's, who changed it."""

    field: str
    theirs: Any
    mine: Any
    changed_by: str  # "them" | "you" | "both"


_ABSENT = object()
_DICT = "{attributes}"


def _flat(item: Any) -> dict[str, Any]:
    """An item's fields; a plan's ``attributes`` are one field each (``attributes.KEY``)."""
    if not isinstance(item, dict):
        return {"": item}
    out: dict[str, Any] = {}
    for name, value in item.items():
        if name == "attributes" and isinstance(value, dict):
            out["attributes"] = _DICT  # the same in every version: only its keys are compared
            out.update({f"attributes.{k}": v for k, v in value.items()})
        else:
            out[name] = value
    return out


def _unflat(fields: dict[str, Any], order: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in order:
        if name not in fields:
            continue
        if name.startswith("attributes."):
            out.setdefault("attributes", {})[name.split(".", 1)[1]] = fields[name]
        elif name == "attributes":
            out.setdefault("attributes", {})
        else:
            out[name] = fields[name]
    return out


def merge(base: Any, theirs: Any, mine: Any) -> tuple[dict[str, Any], list[FieldChange]]:
    """Apply the person's changes (``base`` -> ``mine``) on top of the draft's item (``theirs``).

    A field only the person changed takes their value; one only the others changed keeps theirs;
    one both changed takes the person's value (they chose to apply their change on top). Returns the
    merged item and the fields where the draft's item and the person's input differ.
    """
    b, t, m = _flat(base), _flat(theirs), _flat(mine)
    order = list(t) + [k for k in m if k not in t] + [k for k in b if k not in t and k not in m]
    merged: dict[str, Any] = {}
    rows: list[FieldChange] = []
    for name in order:
        bv, tv, mv = b.get(name, _ABSENT), t.get(name, _ABSENT), m.get(name, _ABSENT)
        value = tv if mv == bv else mv
        if value is not _ABSENT:
            merged[name] = value
        if tv != mv:
            who = "them" if mv == bv else "you" if tv == bv else "both"
            rows.append(FieldChange(name, None if tv is _ABSENT else tv, None if mv is _ABSENT else mv, who))
    return _unflat(merged, order), rows


def show(value: Any) -> str:
    """A field value for people: text as it is, numbers without ``.0``, lists joined, the rest as JSON."""
    if value is None:
        return "(empty)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value) if value else "(none)"
    return json.dumps(value, ensure_ascii=False)


def canonical(item: Any) -> str:
    """An item as the compact JSON a form carries (its ``base``)."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))


def parse_base(text: str) -> dict[str, Any] | None:
    """The ``base`` a form carried; None when there is none or it cannot be read."""
    try:
        value = json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
