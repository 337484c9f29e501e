"""Shape checks of attributes, plans and ranking, and the index of what they learnt for the logic checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from .answers import is_integer, suggest
from .model import FORMAT, JSON, Attribute, Question
from .validate_report import (
    MAX_ATTRIBUTES,
    MAX_EXCLUDED_LIMIT,
    MAX_OPTIONS,
    MAX_ORDER_KEYS,
    MAX_PLANS,
    MAX_RANKING_LIMIT,
    MAX_VALUE_LENGTH,
    Report,
    at,
    bad_number,
    describe,
    item,
    not_one_of,
    quote,
)
from .validate_values import attribute_value_fits, expected_attribute_value

ATTRIBUTE_TYPES = ("number", "boolean", "enum", "set", "text")


@dataclass
class EffectShape:
    """An effect whose kind could be read: its path, kind and raw object."""

    path: str
    kind: str
    data: dict[str, JSON]


@dataclass
class RuleShape:
    """What the logic checks need from one rule object."""

    path: str
    enabled: bool
    when: JSON
    has_when: bool
    effects: list[EffectShape] = field(default_factory=list)
    derives: list[tuple[str, str | None]] = field(default_factory=list)  # (fact key, value if valid)
    complete: bool = True  # every derive effect could be read


@dataclass
class Index:
    """What the shape checks learnt, for the logic checks; ``None`` when a whole list is unusable."""

    attribute_keys: set[str] | None = None
    attributes: dict[str, Attribute] = field(default_factory=dict)
    question_ids: set[str] | None = None
    questions: dict[str, Question] = field(default_factory=dict)
    ask_whens: list[tuple[str | None, str, JSON]] = field(default_factory=list)  # (question id, path, cond)
    rules: list[RuleShape] | None = None
    rules_complete: bool = True  # every rule was an object
    becauses: list[tuple[str, str]] = field(default_factory=list)  # (path, text)


class ShapeChecker:
    """Walks a bundle once, reporting shape problems and building the :class:`Index`."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.add = report.add
        self.index = Index()

    def check(self, data: dict[str, JSON]) -> Index:
        """Check the bundle object and its data parts (questions and rules: :mod:`rules.validate_items`)."""
        report = self.report
        report.keys(
            data,
            "",
            ("format", "name", "attributes", "plans", "questions", "rules"),
            ("description", "ranking", "estimate", "display"),
        )
        if "format" in data and data["format"] != FORMAT:
            report.add("format", f"The format must be '{FORMAT}', not {quote(data['format'])}")
        report.text(data, "name", "", required=True)
        report.text(data, "description", "")
        self._attributes(data)
        self._plans(data)
        self._ranking(data)
        return self.index

    def _attributes(self, data: dict[str, JSON]) -> None:
        items = self.report.items(data, "attributes", "", MAX_ATTRIBUTES)
        if items is None:
            return
        keys: set[str] = set()
        complete = True  # every key is known: only then is a reference "unknown"
        seen: dict[str, str] = {}
        for i, attr in enumerate(items):
            path = item("attributes", i)
            if not isinstance(attr, dict):
                self.add(path, f"An attribute must be an object, not {describe(attr)}")
                complete = False
                continue
            raw_kind = attr.get("type")
            kind = raw_kind if isinstance(raw_kind, str) and raw_kind in ATTRIBUTE_TYPES else None
            type_ok = kind is not None
            if "type" in attr and kind is None:
                self.add(at(path, "type"), not_one_of("attribute type", raw_kind, ATTRIBUTE_TYPES))
            required: tuple[str, ...] = ("key", "type", "label")
            if kind == "enum":
                required += ("options",)
            optional = ("unit", "description") if type_ok else ("unit", "description", "options")
            misfit = {"options": "'options' is only for enum attributes"}
            self.report.keys(attr, path, required, optional, misfit)
            self.report.text(attr, "label", path, required=True)
            self.report.text(attr, "unit", path)
            self.report.text(attr, "description", path)
            options = None
            if "options" in attr and kind in (None, "enum"):
                options = self._enum_options(attr["options"], at(path, "options"))
            key = attr.get("key")
            if isinstance(key, str):
                keys.add(key)  # even a malformed key: references to it are not "unknown" on top
            else:
                complete = False
            if "key" not in attr or not self.report.ident(key, at(path, "key"), "attribute key"):
                continue
            first = self.report.unique(seen, key, at(path, "key"), "attribute key")
            if first and kind is not None and (kind != "enum" or options is not None):
                label = attr["label"] if isinstance(attr.get("label"), str) else ""
                self.index.attributes[key] = Attribute(key, kind, label, options=options or ())
        self.index.attribute_keys = keys if complete else None

    def _enum_options(self, value: JSON, path: str) -> tuple[str, ...] | None:
        """Enum options: a non-empty list of different texts of 1-64 characters."""
        if not isinstance(value, list):
            self.add(path, f"'options' must be a list of texts, not {describe(value)}")
            return None
        if not value:
            self.add(path, "An enum attribute needs at least one option")
            return None
        if len(value) > MAX_OPTIONS:
            self.add(path, f"Too many options: at most {MAX_OPTIONS}")
        ok = True
        seen: dict[str, str] = {}
        for j, option in enumerate(value):
            if not isinstance(option, str) or not 1 <= len(option) <= MAX_VALUE_LENGTH:
                self.add(item(path, j), f"An option must be a text of 1 to {MAX_VALUE_LENGTH} characters")
                ok = False
            else:
                self.report.unique(seen, option, item(path, j), "option")
        return tuple(seen) if ok else None

    def _plans(self, data: dict[str, JSON]) -> None:
        items = self.report.items(data, "plans", "", MAX_PLANS)
        seen: dict[str, str] = {}
        misplaced = {k: f"{quote(k)} is an attribute: put it in 'attributes'" for k in self.index.attributes}
        for i, plan in enumerate(items or ()):
            path = item("plans", i)
            if not isinstance(plan, dict):
                self.add(path, f"A plan must be an object, not {describe(plan)}")
                continue
            optional = ("provider", "description", "active")
            self.report.keys(plan, path, ("id", "name", "attributes"), optional, misplaced)
            if "id" in plan and self.report.ident(plan["id"], at(path, "id"), "plan id"):
                self.report.unique(seen, plan["id"], at(path, "id"), "plan id")
            self.report.text(plan, "name", path, required=True)
            self.report.text(plan, "provider", path)
            self.report.text(plan, "description", path)
            if "active" in plan and not isinstance(plan["active"], bool):
                self.add(
                    at(path, "active"), f"'active' must be true or false, not {describe(plan['active'])}"
                )
            values = plan.get("attributes")
            if "attributes" in plan and not isinstance(values, dict):
                self.add(
                    at(path, "attributes"),
                    f"'attributes' must be an object of attribute values, not {describe(values)}",
                )
            elif isinstance(values, dict):
                for key, value in values.items():
                    self._plan_value(key, value, at(at(path, "attributes"), key))

    def _plan_value(self, key: str, value: JSON, path: str) -> None:
        known, attr = self.index.attribute_keys, self.index.attributes.get(key)
        if attr is None and known is not None and key not in known:
            self.add(path, f"Unknown attribute {quote(key)}{suggest(key, sorted(known))}")
        if attr is None or attribute_value_fits(attr, value):
            return
        if value is None:
            self.add(path, f"{quote(key)} must not be null; leave it out when it is unknown")
        elif attr.type == "enum" and isinstance(value, str):
            hint = suggest(value, attr.options)
            self.add(path, f"{quote(value)} is not an option of the attribute {quote(key)}{hint}")
        elif attr.type == "number":
            self.add(path, bad_number(quote(key), value))
        else:
            found = "" if attr.type == "set" and isinstance(value, list) else f", not {describe(value)}"
            self.add(path, f"{quote(key)} must be {expected_attribute_value(attr)}{found}")

    def _ranking(self, data: dict[str, JSON]) -> None:
        ranking = data.get("ranking")
        if "ranking" not in data:
            return
        if not isinstance(ranking, dict):
            self.add("ranking", f"'ranking' must be an object, not {describe(ranking)}")
            return
        self.report.keys(ranking, "ranking", ("order",), ("limit", "excludedLimit", "excludedReasonsLimit"))
        order = self.report.items(ranking, "order", "ranking", MAX_ORDER_KEYS)
        if order == []:
            self.add("ranking.order", "'order' needs at least one sort key")
        for i, key in enumerate(order or ()):
            path = item("ranking.order", i)
            if not isinstance(key, dict):
                self.add(path, f'A sort key must be an object like {{"by": "score"}}, not {describe(key)}')
                continue
            self.report.keys(key, path, ("by",), ("dir",))
            if "dir" in key and key["dir"] not in ("asc", "desc"):
                self.add(at(path, "dir"), "'dir' must be 'asc' or 'desc'")
            if "by" in key:
                self._rank_by(key["by"], at(path, "by"), "estimate" in data)
        limit = ranking.get("limit")
        if "limit" in ranking and (not is_integer(limit) or not 1 <= limit <= MAX_RANKING_LIMIT):
            self.add("ranking.limit", f"'limit' must be an integer from 1 to {MAX_RANKING_LIMIT}")
        excluded = ranking.get("excludedLimit")
        if "excludedLimit" in ranking and (
            not is_integer(excluded) or not 0 <= excluded <= MAX_EXCLUDED_LIMIT
        ):
            self.add(
                "ranking.excludedLimit", f"'excludedLimit' must be an integer from 0 to {MAX_EXCLUDED_LIMIT}"
            )
        reasons = ranking.get("excludedReasonsLimit")
        if "excludedReasonsLimit" in ranking and (
            not is_integer(reasons) or not 1 <= reasons <= MAX_EXCLUDED_LIMIT
        ):
            self.add(
                "ranking.excludedReasonsLimit",
                f"'excludedReasonsLimit' must be an integer from 1 to {MAX_EXCLUDED_LIMIT}",
            )

    def _rank_by(self, by: JSON, path: str, has_estimate: bool) -> None:
        known = self.index.attribute_keys
        if not isinstance(by, str):
            self.add(path, f"'by' must be 'score', 'estimate' or an attribute key, not {describe(by)}")
        elif by == "score" or (by == "estimate" and has_estimate and "estimate" not in (known or ())):
            return
        elif by == "estimate" and not has_estimate and "estimate" not in (known or ()):
            self.add(path, "Ranking by 'estimate' needs an estimate: define one in 'estimate' first")
        elif known is not None and by not in known:
            self.add(path, f"Unknown attribute {quote(by)}{suggest(by, sorted(known | {'score'}))}")
        elif by in self.index.attributes and self.index.attributes[by].type == "set":
            self.add(path, f"{quote(by)} is a set attribute; set attributes cannot be ranked")
