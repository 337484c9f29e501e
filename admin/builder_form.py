"""The rule builder and forms: read a posted builder, change its structure, write rule JSON, place problems.

Problems (the builder's own "not a number", and the validator's ``when.all[1].value``) are keyed by
``<prefix>-<field>`` (e.g. ``when-1-value``) or ``<prefix>`` for the node as a whole.
"""

from __future__ import annotations

import json
import re
from typing import Any

from werkzeug.datastructures import MultiDict

from .builder_model import ANY_TYPE, GROUPS, LIST_OPS, OPS_BY_TYPE, Builder, Catalog, Effect, Node
from .forms_catalogue import parse_number

Errors = dict[str, list[str]]
FormData = MultiDict[str, Any]
COND_FIELDS = {"subject", "op", "value", "values", "low", "high", "source", "valueFrom", "json", "kind"}
EFFECT_FIELDS = {"because", "score", "fact", "factvalue", "json", "kind"}


# -- reading a posted builder ----------------------------------------------------------------


def _children(keys: list[str], prefix: str) -> list[str]:
    pattern = re.compile(re.escape(prefix) + r"-(\d+)-kind$")
    found = sorted({int(m.group(1)) for k in keys if (m := pattern.match(k))})
    return [f"{prefix}-{i}" for i in found]


def read_condition(form: FormData, keys: list[str], prefix: str, plan: bool) -> Node:
    text = lambda name: str(form.get(f"{prefix}-{name}", "") or "")  # noqa: E731
    kind = text("kind") or ("attribute" if plan else "answer")
    node = Node(kind, prefix=prefix, plan=plan)
    if node.is_group:
        node.children = [read_condition(form, keys, p, plan) for p in _children(keys, prefix)]
        return node
    node.subject, node.op = text("subject"), text("op")
    node.value, node.low, node.high, node.json = text("value"), text("low"), text("high"), text("json")
    node.values = [
        line.strip()
        for raw in form.getlist(f"{prefix}-values")
        for line in str(raw).splitlines()
        if line.strip()
    ]
    node.source = "answer" if text("source") == "answer" else "value"
    node.value_from = text("valueFrom")
    return node


def read_effect(form: FormData, keys: list[str], prefix: str) -> Effect:
    text = lambda name: str(form.get(f"{prefix}-{name}", "") or "")  # noqa: E731
    effect = Effect(text("kind") or "require", prefix=prefix)
    effect.because, effect.score, effect.json = text("because"), text("score"), text("json")
    effect.fact, effect.fact_value = text("fact"), text("factvalue")
    if effect.kind in ("require", "exclude", "score"):
        effect.cond = read_condition(form, keys, prefix + "-c", plan=True)
        if effect.kind != "score" and effect.cond.kind == "none":
            effect.cond.kind = "attribute"
    return effect


def read(form: FormData) -> Builder:
    keys = [str(k) for k in form.keys()]
    effects = [read_effect(form, keys, p) for p in _children(keys, "then")]
    builder = Builder(read_condition(form, keys, "when", plan=False), effects)
    builder.renumber()
    return builder


# -- structure changes (buttons; nothing is saved) ---------------------------------------------


def _find(node: Node, prefix: str) -> tuple[Node | None, Node | None]:
    """(the node with ``prefix``, its parent) below ``node``."""
    if node.prefix == prefix:
        return node, None
    for child in node.children:
        if child.prefix == prefix:
            return child, node
        found, parent = _find(child, prefix)
        if found is not None:
            return found, parent
    return None, None


def new_leaf(kind: str, catalog: Catalog, plan: bool) -> Node:
    if kind == "fact":
        return Node("fact", plan=plan, op="==")
    table = catalog.attributes if plan else catalog.questions
    subject = next(iter(table), "")
    node = Node("attribute" if plan else "answer", plan=plan, subject=subject)
    node.op = catalog.ops(node)[0]
    return node


def new_effect(kind: str, catalog: Catalog) -> Effect:
    if kind == "derive":
        return Effect("derive")
    if kind == "score":
        return Effect("score", score="10", cond=Node("none", plan=True))
    return Effect(kind, cond=new_leaf("attribute", catalog, plan=True))


def _fit_ops(node: Node, catalog: Catalog) -> None:
    for child in node.children:
        _fit_ops(child, catalog)
    if node.kind in ("answer", "fact", "attribute") and catalog.type_of(node) in OPS_BY_TYPE:
        fitting = OPS_BY_TYPE[catalog.type_of(node)]
        if node.op not in fitting:
            node.op = fitting[0]


def _roots(builder: Builder) -> list[Node]:
    return [builder.when] + [e.cond for e in builder.effects if e.cond is not None]


def apply(builder: Builder, action: str, catalog: Catalog) -> None:
    """Apply a builder button: ``add-<kind>:<prefix>``, ``remove:<prefix>``, ``up:<prefix>``, ``refresh``.

    Every button first gives each test whose question, attribute or fact changed an operator that
    fits it (switching to a multi question offers "contains", not a stale "is").
    """
    for root in _roots(builder):
        _fit_ops(root, catalog)
    verb, _, prefix = action.partition(":")
    if verb.startswith("add-effect-"):
        kind = verb.removeprefix("add-effect-")
        if kind in ("require", "exclude", "score", "derive"):
            builder.effects.append(new_effect(kind, catalog))
    elif prefix.startswith("then-") and re.fullmatch(r"then-\d+", prefix) and verb in ("remove", "up"):
        i = int(prefix.split("-")[1])
        if i < len(builder.effects):
            if verb == "remove":
                del builder.effects[i]
            elif i > 0:
                builder.effects[i - 1], builder.effects[i] = builder.effects[i], builder.effects[i - 1]
    else:
        for root in _roots(builder):
            node, parent = _find(root, prefix)
            if node is None:
                continue
            if verb.startswith("add-") and node.is_group and not (node.kind == "not" and node.children):
                kind = verb.removeprefix("add-")
                child = Node(kind, plan=root.plan) if kind in GROUPS else new_leaf(kind, catalog, root.plan)
                node.children.append(child)
            elif verb == "remove" and parent is not None:
                parent.children.remove(node)
            elif verb == "up" and parent is not None:
                i = parent.children.index(node)
                if i > 0:
                    parent.children[i - 1], parent.children[i] = node, parent.children[i - 1]
            break
    builder.renumber()


# -- writing rule JSON -----------------------------------------------------------------------


def _err(errors: Errors, key: str, message: str) -> None:
    errors.setdefault(key, []).append(message)


def parse_elem(raw: str, elem: str, key: str, errors: Errors) -> Any:
    if elem == "number":
        number = parse_number(raw) if raw.strip() else None
        if number is None:
            _err(errors, key, f"“{raw}” is not a number" if raw.strip() else "Enter a number")
        return number
    if elem == "boolean":
        if raw not in ("true", "false"):
            _err(errors, key, "Choose yes or no")
        return raw == "true"
    if elem == "json":
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            _err(errors, key, f"Not valid JSON: {exc.msg}")
            return None
    return raw


def dump_condition(node: Node, catalog: Catalog, errors: Errors) -> Any:
    p = node.prefix
    if node.kind in ("all", "any"):
        return {node.kind: [dump_condition(c, catalog, errors) for c in node.children]}
    if node.kind == "not":
        if not node.children:
            _err(errors, p, "Add the condition that must not hold")
            return {"not": {"all": []}}
        return {"not": dump_condition(node.children[0], catalog, errors)}
    if node.kind == "json":
        try:
            return json.loads(node.json)
        except json.JSONDecodeError as exc:
            _err(errors, p + "-json", f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
            return None
    if node.kind not in ("answer", "fact", "attribute"):
        _err(errors, p + "-kind", f"Unknown kind “{node.kind}”")
        return None
    out: dict[str, Any] = {node.kind: node.subject, "op": node.op}
    if node.plan and node.source == "answer" and node.op not in ANY_TYPE:
        out["valueFrom"] = {"answer": node.value_from}
        return out
    widget = catalog.widget(node)
    if widget.mode == "single":
        out["value"] = parse_elem(node.value, widget.elem, p + "-value", errors)
    elif widget.mode == "between":
        low = parse_elem(node.low, widget.elem, p + "-low", errors)
        out["value"] = [low, parse_elem(node.high, widget.elem, p + "-high", errors)]
    elif widget.mode == "list":
        out["value"] = [parse_elem(v, widget.elem, p + "-values", errors) for v in node.values]
    return out


def dump_effect(effect: Effect, catalog: Catalog, errors: Errors) -> Any:
    p = effect.prefix
    if effect.kind == "json":
        try:
            return json.loads(effect.json)
        except json.JSONDecodeError as exc:
            _err(errors, p + "-json", f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
            return None
    if effect.kind == "derive":
        return {"derive": {"fact": effect.fact.strip(), "value": effect.fact_value}}
    cond = effect.cond or Node("attribute", plan=True)
    if effect.kind == "score":
        out: dict[str, Any] = {"score": parse_elem(effect.score, "number", p + "-score", errors)}
        if cond.kind != "none":
            out["where"] = dump_condition(cond, catalog, errors)
        if effect.because:
            out["because"] = effect.because
        return out
    if effect.kind in ("require", "exclude"):
        return {effect.kind: dump_condition(cond, catalog, errors), "because": effect.because}
    _err(errors, p + "-kind", f"Unknown effect “{effect.kind}”")
    return None


def dump(builder: Builder, catalog: Catalog) -> tuple[Any, list[Any], Errors]:
    """The rule's ``when`` and ``then`` JSON, and the values that could not be read (by field)."""
    errors: Errors = {}
    when = dump_condition(builder.when, catalog, errors)
    then = [dump_effect(e, catalog, errors) for e in builder.effects]
    return when, then, errors


# -- validator problems next to the builder's fields --------------------------------------------

_STEP = re.compile(r"^\.?(all|any)\[(\d+)\]|^\.?not\b")
_LEAF_FIELDS = {"answer": "subject", "fact": "subject", "attribute": "subject", "valueFrom": "valueFrom"}


def _cond_key(root: Node, rest: str) -> str:
    """``.all[1].value[0]`` below ``root`` -> ``when-1-value`` (the nearest node that exists)."""
    node = root
    while rest and node.kind != "json":
        match = _STEP.match(rest)
        if not match:
            break
        index = int(match.group(2)) if match.group(1) else 0
        if index >= len(node.children):
            return node.prefix
        node, rest = node.children[index], rest[match.end() :]
    name = re.split(r"[.\[]", rest.lstrip("."), maxsplit=1)[0]
    if node.kind == "json" or not name:
        return node.prefix
    name = _LEAF_FIELDS.get(name, name)
    if name == "value" and node.op in LIST_OPS:
        name = "values"
    elif name == "value" and node.op == "between":
        name = "high" if rest.lstrip(".").startswith("value[1]") else "low"
    return f"{node.prefix}-{name}" if name in COND_FIELDS else node.prefix


def place_problems(builder: Builder, details: list[tuple[str, str]]) -> Errors:
    """Validator problems of one rule (paths inside the rule) keyed by the builder field at fault."""
    errors: Errors = {}
    for rest, message in details:
        if rest == "when" or rest.startswith(("when.", "when[")):
            key = _cond_key(builder.when, rest[4:])
        elif rest.startswith("then["):
            match = re.match(r"then\[(\d+)\]\.?(.*)$", rest)
            assert match is not None
            i, tail = int(match.group(1)), match.group(2)
            if i >= len(builder.effects):
                key = "then"
            else:
                key = _effect_key(builder.effects[i], tail)
        elif rest == "then":
            key = "then"
        else:
            continue
        _err(errors, key, message)
    return errors


def _effect_key(effect: Effect, tail: str) -> str:
    p = effect.prefix
    if effect.kind == "json" or not tail:
        return p
    head = re.split(r"[.\[]", tail, maxsplit=1)[0]
    if head in ("require", "exclude", "where") and effect.cond is not None:
        return _cond_key(effect.cond, tail[len(head) :])
    if head == "derive":
        return p + ("-factvalue" if tail.startswith("derive.value") else "-fact")
    return f"{p}-{head}" if head in EFFECT_FIELDS else p
