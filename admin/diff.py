"""Differences between two bundles, item by item (added, removed, changed fields, question order)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .drafts import KEY_OF, SECTIONS, item_key
from .estimates import estimate_changes
from .wording import Words, field_words, item_words

TOP_LEVEL = ("name", "description", "ranking")


@dataclass
class Change:
    kind: str  # "added" | "removed" | "changed"
    key: str
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)  # (field, before, after)
    #: In words: (field, before, after) of a change; (field, content, "") of an added/removed item.
    words: list[tuple[str, str, str]] = field(default_factory=list)
    label: str = ""  # the item's name or text, for people


@dataclass
class Diff:
    sections: dict[str, list[Change]]
    top: list[tuple[str, Any, Any]]
    question_order: tuple[list[str], list[str]] | None
    #: Estimate and display changes in words: (what, live, draft).
    estimate: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.count == 0

    @property
    def count(self) -> int:
        changes = len(self.top) + len(self.estimate) + (self.question_order is not None)
        return changes + sum(map(len, self.sections.values()))


def _keyed(items: Any, section: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, item in enumerate(items if isinstance(items, list) else []):
        out.setdefault(item_key(item, section) or f"#{i + 1}", item)
    return out


def _fields(before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    if not isinstance(before, dict) or not isinstance(after, dict):
        return [("", before, after)] if before != after else []
    changes: list[tuple[str, Any, Any]] = []
    for name in list(before) + [k for k in after if k not in before]:
        b, a = before.get(name), after.get(name)
        if b == a:
            continue
        if name == "attributes" and isinstance(b, dict) and isinstance(a, dict):
            changes += [(f"attributes.{k}", b2, a2) for k, b2, a2 in _fields(b, a)]
        else:
            changes.append((name, b, a))
    return changes


def _label(item: Any) -> str:
    if not isinstance(item, dict):
        return ""
    for name in ("name", "text", "label"):
        if isinstance(item.get(name), str):
            return str(item[name])
    return ""


def diff_bundles(old: dict[str, Any] | None, new: dict[str, Any]) -> Diff:
    old = old or {}
    sections: dict[str, list[Change]] = {}
    old_words, new_words = Words(old), Words(new)
    for section in SECTIONS:
        before, after = _keyed(old.get(section), section), _keyed(new.get(section), section)
        changes = [
            Change(
                "removed",
                k,
                words=[(f, w, "") for f, w in item_words(old_words, section, item)],
                label=_label(item),
            )
            for k, item in before.items()
            if k not in after
        ]
        for key, item in after.items():
            if key not in before:
                content = [(f, w, "") for f, w in item_words(new_words, section, item)]
                changes.append(Change("added", key, words=content, label=_label(item)))
            elif before[key] != item:
                fields = _fields(before[key], item)
                words = [
                    (name, field_words(old_words, section, name, b), field_words(new_words, section, name, a))
                    for name, b, a in fields
                ]
                changes.append(Change("changed", key, fields, words, _label(item)))
        sections[section] = changes
    top = [(k, old.get(k), new.get(k)) for k in TOP_LEVEL if old.get(k) != new.get(k)]
    order_before = [k for k in _keyed(old.get("questions"), "questions")]
    order_after = [k for k in _keyed(new.get("questions"), "questions")]
    common_b = [k for k in order_before if k in order_after]
    common_a = [k for k in order_after if k in order_before]
    order = (order_before, order_after) if common_b != common_a else None
    return Diff(sections, top, order, estimate_changes(old, new))


__all__ = ["KEY_OF", "Change", "Diff", "diff_bundles"]
