"""The rule builder's model: condition and effect nodes, the catalogue's types, loading rule JSON.

A node holds what a person sees in the form (raw text), never parsed values, so a failed submit
loses nothing. ``builder_form`` reads nodes from a posted form and writes them back to rule JSON.

Field names are flat and indexed by the node's place in the tree: the ``when`` condition is
``when``; the second test of its group is ``when-1``; a ``not``'s condition is ``<prefix>-0``.
Effects are ``then-0``, ``then-1``; an effect's plan condition is ``then-0-c``. Each node posts
``<prefix>-kind`` and its own fields (``-subject``, ``-op``, ``-value``, ``-values``, ``-low``,
``-high``, ``-source``, ``-valueFrom``, ``-json``; effects ``-because``, ``-score``, ``-fact``,
``-factvalue``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

GROUPS = ("all", "any", "not")
NUMBER_OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "between")
BOOLEAN_OPS = ("==", "!=")
STRING_OPS = ("==", "!=", "in", "not_in")
SET_OPS = ("contains", "contains_any", "contains_all")
ANY_TYPE = ("exists", "not_exists")
# In a rule's `when`, facts may only be tested positively (CATALOGUE.md).
FACT_OPS = ("==", "in", "exists")
OPS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "number": NUMBER_OPS + ANY_TYPE,
    "boolean": BOOLEAN_OPS + ANY_TYPE,
    "choice": STRING_OPS + ANY_TYPE,
    "enum": STRING_OPS + ANY_TYPE,
    "text": STRING_OPS + ANY_TYPE,
    "multi": SET_OPS + ANY_TYPE,
    "set": SET_OPS + ANY_TYPE,
    "fact": FACT_OPS,
}
ALL_OPS = NUMBER_OPS + SET_OPS + ANY_TYPE
LIST_OPS = ("in", "not_in", "contains_any", "contains_all")
OP_LABELS = {
    "==": "is",
    "!=": "is not",
    "<": "is less than",
    "<=": "is at most",
    ">": "is more than",
    ">=": "is at least",
    "in": "is one of",
    "not_in": "is none of",
    "between": "is between",
    "contains": "contains",
    "contains_any": "contains any of",
    "contains_all": "contains all of",
    "exists": "is answered / known",
    "not_exists": "is not answered / unknown",
}
COND_KINDS = (
    ("answer", "Answer test"),
    ("fact", "Fact test"),
    ("all", "All of (and)"),
    ("any", "Any of (or)"),
    ("not", "Not"),
    ("json", "JSON"),
)
PLAN_KINDS = (
    ("attribute", "Plan attribute test"),
    ("all", "All of (and)"),
    ("any", "Any of (or)"),
    ("not", "Not"),
    ("json", "JSON"),
)
WHERE_KINDS = (("none", "All plans"), *PLAN_KINDS)
EFFECT_KINDS = (
    ("require", "Require: keep only plans that…"),
    ("exclude", "Exclude plans that…"),
    ("score", "Score: add points to plans that…"),
    ("derive", "Derive a fact"),
    ("json", "JSON"),
)


@dataclass
class Node:
    """A condition (``plan``: a plan condition) as the form shows it."""

    kind: str
    prefix: str = ""
    plan: bool = False
    subject: str = ""  # question id, fact key or attribute key
    op: str = ""
    value: str = ""
    values: list[str] = field(default_factory=list)
    low: str = ""
    high: str = ""
    source: str = "value"  # plan conditions: "value" or "answer" (valueFrom)
    value_from: str = ""
    json: str = ""
    children: list[Node] = field(default_factory=list)

    @property
    def is_group(self) -> bool:
        return self.kind in GROUPS


@dataclass
class Effect:
    kind: str
    prefix: str = ""
    because: str = ""
    score: str = ""
    fact: str = ""
    fact_value: str = ""
    json: str = ""
    cond: Node | None = None


@dataclass
class Builder:
    when: Node
    effects: list[Effect]

    def renumber(self) -> None:
        number(self.when, "when")
        for i, effect in enumerate(self.effects):
            effect.prefix = f"then-{i}"
            if effect.cond is not None:
                number(effect.cond, f"then-{i}-c")


def number(node: Node, prefix: str) -> None:
    node.prefix = prefix
    for i, child in enumerate(node.children):
        number(child, f"{prefix}-{i}")


@dataclass
class Widget:
    """How a test's value is typed: ``mode`` none/single/list/between; ``elem`` number/boolean/string/json."""

    mode: str
    elem: str
    options: list[tuple[str, str]]

    @property
    def values(self) -> list[str]:
        return [value for value, _ in self.options]


@dataclass
class Catalog:
    """What the builder offers: questions, attributes and derived facts of the draft."""

    questions: dict[str, tuple[str, list[tuple[str, str]], str]]  # id -> (type, options, text)
    attributes: dict[str, tuple[str, list[tuple[str, str]], str]]  # key -> (type, options, label)
    facts: dict[str, list[str]]  # derived fact key -> values

    @classmethod
    def of(cls, bundle: dict[str, Any]) -> Catalog:
        questions: dict[str, tuple[str, list[tuple[str, str]], str]] = {}
        for q in _dicts(bundle.get("questions")):
            if isinstance(q.get("id"), str):
                opts = [
                    (str(o.get("value")), str(o.get("label") or o.get("value")))
                    for o in _dicts(q.get("options"))
                ]
                questions[q["id"]] = (str(q.get("type")), opts, str(q.get("text") or q["id"]))
        attributes: dict[str, tuple[str, list[tuple[str, str]], str]] = {}
        for a in _dicts(bundle.get("attributes")):
            if isinstance(a.get("key"), str):
                opts = [
                    (str(o), str(o)) for o in a.get("options") or [] if isinstance(a.get("options"), list)
                ]
                attributes[a["key"]] = (str(a.get("type")), opts, str(a.get("label") or a["key"]))
        facts: dict[str, list[str]] = {}
        for rule in _dicts(bundle.get("rules")):
            for effect in _dicts(rule.get("then")):
                derive = effect.get("derive")
                if isinstance(derive, dict) and isinstance(derive.get("fact"), str):
                    values = facts.setdefault(derive["fact"], [])
                    if isinstance(derive.get("value"), str) and derive["value"] not in values:
                        values.append(derive["value"])
        return cls(questions, attributes, facts)

    def type_of(self, node: Node) -> str:
        """The type a test's value has: a question/attribute type, "fact", or "unknown"."""
        if node.kind == "fact":
            return "fact"
        table = self.attributes if node.kind == "attribute" else self.questions
        entry = table.get(node.subject)
        return entry[0] if entry and entry[0] in OPS_BY_TYPE else "unknown"

    def ops(self, node: Node) -> list[str]:
        """The operators offered for a test (the current one kept even when it does not fit)."""
        ops = list(OPS_BY_TYPE.get(self.type_of(node), ALL_OPS))
        if node.op and node.op not in ops:
            ops.append(node.op)
        return ops

    def widget(self, node: Node) -> Widget:
        kind = self.type_of(node)
        elem = {"number": "number", "boolean": "boolean", "unknown": "json"}.get(kind, "string")
        table = self.attributes if node.kind == "attribute" else self.questions
        options = list(table[node.subject][1]) if kind in ("choice", "multi", "enum") else []
        if node.op in ANY_TYPE:
            mode = "none"
        elif node.op == "between":
            mode, elem = "between", ("number" if elem == "number" else "json")
        elif node.op in LIST_OPS:
            mode = "list"
        else:
            mode = "single"
        return Widget(mode, elem, options)

    def fact_values(self) -> list[str]:
        return sorted({v for values in self.facts.values() for v in values})


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# -- loading rule JSON into the builder ------------------------------------------------------


def show_value(value: Any, elem: str) -> str | None:
    """The text a value is typed as; None when the value does not fit ``elem``."""
    if elem == "json":
        return json.dumps(value, ensure_ascii=False)
    if elem == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return json.dumps(value) if ok else None
    if elem == "boolean":
        return ("true" if value else "false") if isinstance(value, bool) else None
    return value if isinstance(value, str) and "\n" not in value else None


def as_json_node(value: Any, plan: bool) -> Node:
    return Node("json", plan=plan, json=json.dumps(value, indent=2, ensure_ascii=False))


def load_condition(value: Any, catalog: Catalog, plan: bool = False) -> Node:
    """A condition (or plan condition) as builder nodes; what the builder cannot show becomes JSON."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key in ("all", "any") and isinstance(inner, list):
            return Node(key, plan=plan, children=[load_condition(c, catalog, plan) for c in inner])
        if key == "not":
            return Node("not", plan=plan, children=[load_condition(inner, catalog, plan)])
    leaf = _load_leaf(value, catalog, plan)
    return leaf if leaf is not None else as_json_node(value, plan)


def _load_leaf(value: Any, catalog: Catalog, plan: bool) -> Node | None:
    if not isinstance(value, dict):
        return None
    kind = "attribute" if plan else "answer" if "answer" in value else "fact"
    subject, op = value.get(kind), value.get("op")
    if not isinstance(subject, str) or not isinstance(op, str) or op not in ALL_OPS:
        return None
    node = Node(kind, plan=plan, subject=subject, op=op)
    rest = set(value) - {kind, "op"}
    if plan and rest == {"valueFrom"}:
        source = value["valueFrom"]
        if op in ANY_TYPE or not isinstance(source, dict) or set(source) != {"answer"}:
            return None
        if not isinstance(source["answer"], str):
            return None
        node.source, node.value_from = "answer", source["answer"]
        return node
    widget = catalog.widget(node)
    if widget.mode == "none":
        return node if not rest else None
    if rest != {"value"}:
        return None
    operand = value["value"]
    if widget.mode == "single":
        shown = show_value(operand, widget.elem)
        if shown is None:
            return None
        node.value = shown
    elif widget.mode == "between":
        if not isinstance(operand, list) or len(operand) != 2:
            return None
        low, high = (show_value(v, widget.elem) for v in operand)
        if low is None or high is None:
            return None
        node.low, node.high = low, high
    else:
        if not isinstance(operand, list):
            return None
        shown_all = [show_value(v, widget.elem) for v in operand]
        if any(s is None or s != s.strip() or not s for s in shown_all):
            return None
        node.values = [s for s in shown_all if s is not None]
    return node


def load_effect(value: Any, catalog: Catalog) -> Effect:
    effect = _load_effect(value, catalog)
    if effect is None:
        return Effect("json", json=json.dumps(value, indent=2, ensure_ascii=False))
    return effect


def _load_effect(value: Any, catalog: Catalog) -> Effect | None:
    if not isinstance(value, dict):
        return None
    keys = set(value)
    because = value.get("because")
    for kind in ("require", "exclude"):
        if keys == {kind, "because"} and isinstance(because, str):
            return Effect(kind, because=because, cond=load_condition(value[kind], catalog, plan=True))
    if "score" in keys and keys <= {"score", "where", "because"}:
        score = show_value(value["score"], "number")
        if score is None or (because is not None and (not isinstance(because, str) or not because)):
            return None
        cond = (
            load_condition(value["where"], catalog, plan=True) if "where" in keys else Node("none", plan=True)
        )
        return Effect("score", because=because or "", score=score, cond=cond)
    derive = value.get("derive")
    if keys == {"derive"} and isinstance(derive, dict) and set(derive) == {"fact", "value"}:
        fact, fact_value = derive["fact"], derive["value"]
        if isinstance(fact, str) and isinstance(fact_value, str):
            return Effect("derive", fact=fact, fact_value=fact_value)
    return None


def load(when: Any, then: Any, catalog: Catalog) -> Builder | None:
    """The builder for a rule's ``when``/``then``; None when ``then`` is not a list (JSON view only)."""
    if not isinstance(then, list):
        return None
    builder = Builder(load_condition(when, catalog), [load_effect(e, catalog) for e in then])
    builder.renumber()
    return builder


# Names the builder's templates use.
BUILDER_NAMES: dict[str, Any] = {
    "OP_LABELS": OP_LABELS,
    "COND_KINDS": COND_KINDS,
    "PLAN_KINDS": PLAN_KINDS,
    "WHERE_KINDS": WHERE_KINDS,
    "EFFECT_KINDS": EFFECT_KINDS,
}
