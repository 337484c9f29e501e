"""Rules in words for people: conditions, effects, and values with their units and option labels.

Used by the decision table and the plain-language diff. Never raises on a malformed draft: what it
cannot read is shown as compact JSON.
"""

from __future__ import annotations

import json
from typing import Any

from .builder_model import OP_LABELS, Catalog


def number(value: Any) -> str:
    """12345.5 -> "12,345.5"; integral floats without ".0"."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.10g}"


def raw(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class Words:
    """Describes conditions and effects with the catalogue's question texts, labels and units."""

    def __init__(self, bundle: dict[str, Any]) -> None:
        self.catalog = Catalog.of(bundle)
        self.units: dict[str, str] = {}
        for kind in ("questions", "attributes"):
            for item in bundle.get(kind) or []:
                if isinstance(item, dict) and isinstance(item.get("unit"), str):
                    self.units[f"{kind}:{item.get('id', item.get('key'))}"] = item["unit"]

    def value(self, value: Any, subject: str, plan: bool) -> str:
        table = self.catalog.attributes if plan else self.catalog.questions
        entry = table.get(subject)
        labels = dict(entry[1]) if entry else {}
        unit = self.units.get(("attributes:" if plan else "questions:") + subject, "")

        def one(v: Any) -> str:
            if isinstance(v, bool):
                return "yes" if v else "no"
            if isinstance(v, (int, float)):
                return number(v) + (f" {unit}" if unit else "")
            if isinstance(v, str):
                return labels.get(v, v)
            return raw(v)

        if isinstance(value, list):
            return ", ".join(one(v) for v in value)
        return one(value)

    def test(self, cond: dict[str, Any], plan: bool) -> str:
        kind = "attribute" if plan else "answer" if "answer" in cond else "fact"
        subject = cond.get(kind)
        if not isinstance(subject, str):
            return raw(cond)
        op = str(cond.get("op"))
        label = OP_LABELS.get(op, op)
        name = subject if kind != "fact" else f"fact {subject}"
        if op in ("exists", "not_exists"):
            return f"{name} {label}"
        source = cond.get("valueFrom")
        if plan and isinstance(source, dict):
            return f"{name} {label} the answer to {source.get('answer')}"
        value = cond.get("value")
        if op == "between" and isinstance(value, list) and len(value) == 2:
            low, high = (self.value(v, subject, plan) for v in value)
            return f"{name} is between {low} and {high}"
        return f"{name} {label} {self.value(value, subject, plan)}"

    def condition(self, cond: Any, plan: bool = False, nested: bool = False) -> str:
        if not isinstance(cond, dict):
            return raw(cond)
        if "all" in cond and isinstance(cond["all"], list):
            if not cond["all"]:
                return "always"
            text = " and ".join(self.condition(c, plan, True) for c in cond["all"])
            return f"({text})" if nested and len(cond["all"]) > 1 else text
        if "any" in cond and isinstance(cond["any"], list):
            if not cond["any"]:
                return "never"
            text = " or ".join(self.condition(c, plan, True) for c in cond["any"])
            return f"({text})" if nested and len(cond["any"]) > 1 else text
        if "not" in cond:
            return f"not {self.condition(cond['not'], plan, True)}"
        return self.test(cond, plan)

    def effect(self, effect: Any) -> str:
        if not isinstance(effect, dict):
            return raw(effect)
        because = f" (“{effect['because']}”)" if isinstance(effect.get("because"), str) else ""
        if "require" in effect:
            return f"keep only plans where {self.condition(effect['require'], True)}{because}"
        if "exclude" in effect:
            return f"exclude plans where {self.condition(effect['exclude'], True)}{because}"
        if "score" in effect:
            points = effect["score"]
            sign = "+" if isinstance(points, (int, float)) and points >= 0 else ""
            where = "every plan" if "where" not in effect else self.condition(effect["where"], True)
            return f"{sign}{number(points)} points to {where}{because}"
        derive = effect.get("derive")
        if isinstance(derive, dict):
            return f"{derive.get('fact')} = {derive.get('value')}"
        return raw(effect)

    def effects(self, then: Any) -> list[str]:
        return [self.effect(e) for e in then] if isinstance(then, list) else [raw(then)]


def field_words(words: Words, section: str, name: str, value: Any) -> str:
    """One field of an item for the diff, in words (conditions and effects of rules, option labels)."""
    if value is None:
        return "(not set)"
    if section == "rules" and name == "when" or section == "questions" and name == "askWhen":
        return words.condition(value)
    if section == "rules" and name == "then":
        return "; ".join(words.effects(value))
    if section == "plans" and name.startswith("attributes."):
        key = name.split(".", 1)[1]
        if isinstance(value, list):
            return ", ".join(map(str, value)) or "(none)"
        return words.value(value, key, plan=True)
    if section == "questions" and name == "options" and isinstance(value, list):
        return ", ".join(f"{o.get('label')} ({o.get('value')})" for o in value if isinstance(o, dict))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return raw(value)


def item_words(words: Words, section: str, item: Any) -> list[tuple[str, str]]:
    """An added or removed item's content: (field, words) for each field."""
    if not isinstance(item, dict):
        return [("", raw(item))]
    out: list[tuple[str, str]] = []
    for name, value in item.items():
        if section == "plans" and name == "attributes" and isinstance(value, dict):
            out += [
                (f"attributes.{k}", field_words(words, section, f"attributes.{k}", v))
                for k, v in value.items()
            ]
        else:
            out.append((name, field_words(words, section, name, value)))
    return out
