"""Logic checks of conditions and plan conditions: references, operators against types, values, valueFrom."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .answers import in_range, is_number, list_values, max_text_length, number_rule, on_step, suggest
from .model import JSON, Attribute, Question
from .placeholders import format_number
from .validate_report import (
    MAX_CONDITION_DEPTH,
    MAX_CONDITION_NODES,
    MAX_LIST_ITEMS,
    MAX_TEXT_LENGTH,
    MAX_VALUE_LENGTH,
    Report,
    at,
    describe,
    item,
    not_one_of,
    quote,
)
from .validate_shape import Index
from .validate_values import (
    ATTRIBUTE_OPS,
    EQUALITY_OPS,
    FACT_OPS,
    LIST_OPS,
    NO_VALUE_OPS,
    OPERATORS,
    POSITIVE_FACT_OPS,
    QUESTION_OPS,
    VALUE_FROM_PAIRS,
    attribute_value_fits,
    expected_attribute_value,
    is_flat,
)

_RULE_LEAVES = ("answer", "fact")
_PLAN_LEAVES = ("attribute",)
_NEGATIVE_FACT = (
    "In a rule's 'when', a fact can only be tested with ==, in or exists, never under 'not': "
    "rules only add facts, so a negative test would depend on the order rules fire in "
    "(negative tests are fine in askWhen)"
)


@dataclass(frozen=True)
class FactRef:
    """A fact test: the key, the operator, the values it names (with their paths), where it is."""

    key: str
    op: str
    values: tuple[tuple[str, str], ...]
    path: str


@dataclass
class Refs:
    """What one condition references, and whether its structure can be compiled."""

    root: str
    questions: set[str] = field(default_factory=set)
    facts: list[FactRef] = field(default_factory=list)
    malformed: bool = False
    nodes: int = 0


@dataclass(frozen=True)
class _Where:
    """The context of a node: which leaves it accepts and what it is under."""

    leaves: tuple[str, ...]
    in_when: bool = False
    under_not: bool = False


class ConditionChecker:
    """Checks conditions against the questions and attributes the shape checks accepted."""

    def __init__(self, report: Report, index: Index) -> None:
        self.report = report
        self.index = index

    def condition(self, node: JSON, path: str, in_when: bool) -> Refs:
        """Check a rule's ``when`` (``in_when``) or an ``askWhen``; return what it references."""
        refs = Refs(path)
        self._node(node, path, 1, refs, _Where(_RULE_LEAVES, in_when))
        return refs

    def plan_condition(self, node: JSON, path: str) -> None:
        """Check a plan condition (``require``, ``exclude``, ``where``)."""
        self._node(node, path, 1, Refs(path), _Where(_PLAN_LEAVES))

    def _bad(self, refs: Refs, path: str, message: str) -> None:
        """A problem that makes the condition impossible to compile."""
        self.report.add(path, message)
        refs.malformed = True

    def _node(self, node: JSON, path: str, depth: int, refs: Refs, where: _Where) -> None:
        if depth > MAX_CONDITION_DEPTH:
            self._bad(refs, path, f"Conditions may be nested at most {MAX_CONDITION_DEPTH} levels deep")
            return
        refs.nodes += 1
        if refs.nodes > MAX_CONDITION_NODES:
            if refs.nodes == MAX_CONDITION_NODES + 1:
                self._bad(
                    refs, refs.root, f"This condition has more than {MAX_CONDITION_NODES} parts; split it"
                )
            return
        if not isinstance(node, dict):
            self._bad(refs, path, f"A condition must be an object, not {describe(node)}")
            return
        shapes = [k for k in (*where.leaves, "all", "any", "not") if k in node]
        if len(shapes) != 1:
            self._bad(refs, path, self._shape_message(node, shapes, where))
            return
        shape = shapes[0]
        if shape in ("all", "any"):
            self.report.keys(node, path, (shape,))
            items = node[shape]
            if not isinstance(items, list):
                self._bad(
                    refs, at(path, shape), f"'{shape}' must be a list of conditions, not {describe(items)}"
                )
                return
            for i, sub in enumerate(items):
                self._node(sub, item(at(path, shape), i), depth + 1, refs, where)
        elif shape == "not":
            self.report.keys(node, path, ("not",))
            inner = _Where(where.leaves, where.in_when, True)
            self._node(node["not"], at(path, "not"), depth + 1, refs, inner)
        elif shape == "answer":
            self._answer_leaf(node, path, refs)
        elif shape == "fact":
            self._fact_leaf(node, path, refs, where)
        else:
            self._attribute_leaf(node, path, refs)

    @staticmethod
    def _shape_message(node: dict[str, JSON], shapes: list[str], where: _Where) -> str:
        names = ", ".join(f"'{k}'" for k in (*where.leaves, "all", "any", "not"))
        if shapes:
            return f"A condition has exactly one of {names}; this one has {' and '.join(map(quote, shapes))}"
        if where.leaves == _RULE_LEAVES and "attribute" in node:
            return (
                "A rule's condition tests an 'answer' or a 'fact'; plan attributes are tested in its effects"
            )
        if where.leaves == _PLAN_LEAVES and ("answer" in node or "fact" in node):
            return "A plan condition tests an 'attribute'; compare it with an answer through 'valueFrom'"
        return f"A condition needs one of {names}"

    def _op(self, node: dict[str, JSON], path: str, refs: Refs) -> str | None:
        """The leaf's operator, or None (reported) when it is missing or unknown."""
        if "op" not in node:
            refs.malformed = True  # Report.keys reported it
            return None
        op = node["op"]
        if isinstance(op, str) and op in OPERATORS:
            return op
        hint = " (did you mean '=='?)" if op == "=" else ""
        self._bad(refs, at(path, "op"), not_one_of("operator", op, OPERATORS, hint))
        return None

    def _needs_value(self, node: dict[str, JSON], path: str, op: str, refs: Refs) -> bool:
        """Check that ``value`` is there exactly when the operator takes one; True to check it."""
        if op in NO_VALUE_OPS:
            if "value" in node:
                self._bad(refs, at(path, "value"), f"Operator '{op}' takes no value")
            return False
        if "value" not in node:
            self._bad(
                refs,
                at(path, "value"),
                f"Missing required key 'value': operator '{op}' compares with a value",
            )
            return False
        if not is_flat(node["value"]):
            refs.malformed = True  # a nested operand never fits; the value checks report it when they can
        return True

    def _operands(self, value: JSON, path: str, op: str, refs: Refs) -> list[JSON]:
        """The items of a list operand (``in``, ``contains_any``...); [] when it is not a usable list."""
        if not isinstance(value, list) or not value:
            found = "" if isinstance(value, list) else f", not {describe(value)}"
            self._bad(refs, path, f"Operator '{op}' needs a non-empty list of values{found}")
            return []
        if len(value) > MAX_LIST_ITEMS:
            self._bad(refs, path, f"Too many values: at most {MAX_LIST_ITEMS}")
            return []
        return value

    def _between(
        self, value: JSON, path: str, refs: Refs, fits: Callable[[JSON], bool], expected: str
    ) -> None:
        if not isinstance(value, list) or len(value) != 2:
            self._bad(refs, path, "Operator 'between' needs a pair [low, high]")
            return
        ok = True
        for i, bound in enumerate(value):
            if not fits(bound):
                self._bad(refs, item(path, i), f"Each bound must be {expected}")
                ok = False
        if ok and value[0] > value[1]:
            low, high = format_number(value[0]), format_number(value[1])
            self._bad(refs, path, f"The low bound ({low}) is above the high bound ({high})")

    def _answer_leaf(self, node: dict[str, JSON], path: str, refs: Refs) -> None:
        self.report.keys(node, path, ("answer", "op"), ("value",))
        qid, known = node["answer"], self.index.question_ids
        question: Question | None = None
        if not isinstance(qid, str):
            self._bad(refs, at(path, "answer"), f"'answer' must be a question id, not {describe(qid)}")
        elif known is not None and qid not in known:
            self.report.add(at(path, "answer"), f"Unknown question {quote(qid)}{suggest(qid, sorted(known))}")
        else:
            refs.questions.add(qid)
            question = self.index.questions.get(qid)
        op = self._op(node, path, refs)
        if op is None:
            return
        if question is not None and op not in QUESTION_OPS[question.type]:
            fitting = ", ".join(QUESTION_OPS[question.type])
            message = f"Operator '{op}' does not fit the {question.type} question {quote(qid)}"
            self._bad(refs, at(path, "op"), f"{message}; use one of {fitting}")
            return
        if self._needs_value(node, path, op, refs) and question is not None:
            value, where = node["value"], at(path, "value")
            if op == "between":
                in_bounds = number_rule(question, grid=False)
                self._between(value, where, refs, lambda x: is_number(x) and in_range(x, question), in_bounds)
            elif op in LIST_OPS:
                for i, x in enumerate(self._operands(value, where, op, refs)):
                    self._answer_item(question, op, x, item(where, i), refs)
            else:
                self._answer_item(question, op, value, where, refs)

    def _answer_item(self, q: Question, op: str, value: JSON, path: str, refs: Refs) -> None:
        """Check one value compared with an answer to ``q``."""
        if q.type in ("choice", "multi"):
            options = [o.value for o in q.options]
            if not isinstance(value, str):
                self._bad(
                    refs,
                    path,
                    f"The value must be an option of the question {quote(q.id)}, not {describe(value)}",
                )
            elif value not in q.option_index():
                hint = suggest(value, options) or f" (options: {list_values(options)})"
                self.report.add(path, f"{quote(value)} is not an option of the question {quote(q.id)}{hint}")
        elif q.type == "number":
            grid = op in EQUALITY_OPS and q.step is not None
            fits = is_number(value) and in_range(value, q)
            if fits and grid and q.step is not None and is_number(value):
                fits = on_step(value, q.step, q.min)
            if not fits:
                found = "" if is_number(value) else f", not {describe(value)}"
                message = f"The value must be {number_rule(q, grid)} to fit the question {quote(q.id)}{found}"
                self._bad(refs, path, message)
        elif q.type == "boolean":
            if not isinstance(value, bool):
                self._bad(refs, path, f"The value must be true or false, not {describe(value)}")
        elif not isinstance(value, str) or len(value) > max_text_length(q):
            self._bad(refs, path, f"The value must be a text of at most {max_text_length(q)} characters")

    def _fact_leaf(self, node: dict[str, JSON], path: str, refs: Refs, where: _Where) -> None:
        self.report.keys(node, path, ("fact", "op"), ("value",))
        key = node["fact"]
        key_ok = self.report.ident(key, at(path, "fact"), "fact key")
        if not key_ok:
            refs.malformed = True
        op = self._op(node, path, refs)
        if op is None:
            return
        if op not in FACT_OPS:
            fitting = ", ".join(FACT_OPS)
            shown = quote(key) if key_ok else "a fact"
            self._bad(
                refs,
                at(path, "op"),
                f"Operator '{op}' does not fit {shown}: facts are texts; use one of {fitting}",
            )
            return
        if where.in_when and op not in POSITIVE_FACT_OPS:
            self._bad(refs, at(path, "op"), _NEGATIVE_FACT)
        elif where.in_when and where.under_not:
            self._bad(refs, path, _NEGATIVE_FACT)
        values: list[tuple[str, str]] = []
        if self._needs_value(node, path, op, refs):
            value, vpath = node["value"], at(path, "value")
            if op in LIST_OPS:
                pairs = [(x, item(vpath, i)) for i, x in enumerate(self._operands(value, vpath, op, refs))]
            else:
                pairs = [(value, vpath)]
            for x, xpath in pairs:
                if isinstance(x, str) and 1 <= len(x) <= MAX_VALUE_LENGTH:
                    values.append((x, xpath))
                else:
                    self._bad(
                        refs, xpath, f"A fact value must be a text of 1 to {MAX_VALUE_LENGTH} characters"
                    )
        if key_ok:
            refs.facts.append(FactRef(key, op, tuple(values), path))

    def _attribute_leaf(self, node: dict[str, JSON], path: str, refs: Refs) -> None:
        self.report.keys(node, path, ("attribute", "op"), ("value", "valueFrom"))
        key, known = node["attribute"], self.index.attribute_keys
        attr: Attribute | None = None
        if not isinstance(key, str):
            self._bad(
                refs, at(path, "attribute"), f"'attribute' must be an attribute key, not {describe(key)}"
            )
        elif known is not None and key not in known:
            self.report.add(
                at(path, "attribute"), f"Unknown attribute {quote(key)}{suggest(key, sorted(known))}"
            )
        else:
            attr = self.index.attributes.get(key)
        op = self._op(node, path, refs)
        if op is None:
            return
        if attr is not None and op not in ATTRIBUTE_OPS[attr.type]:
            fitting = ", ".join(ATTRIBUTE_OPS[attr.type])
            message = (
                f"Operator '{op}' does not fit the {attr.type} attribute {quote(key)}; use one of {fitting}"
            )
            self._bad(refs, at(path, "op"), message)
            return
        present = [k for k in ("value", "valueFrom") if k in node]
        if op in NO_VALUE_OPS:
            for k in present:
                self._bad(refs, at(path, k), f"Operator '{op}' takes no {k}")
        elif len(present) == 2:
            self._bad(refs, path, "Use either 'value' or 'valueFrom', not both")
        elif not present:
            message = f"Missing required key 'value' (or 'valueFrom'): operator '{op}' compares with a value"
            self._bad(refs, at(path, "value"), message)
        elif present == ["valueFrom"]:
            self._value_from(node["valueFrom"], path, attr, op, refs)
        elif attr is not None:
            self._attribute_value(attr, op, node["value"], at(path, "value"), refs)
        elif not is_flat(node["value"]):
            refs.malformed = True

    def _attribute_value(self, attr: Attribute, op: str, value: JSON, path: str, refs: Refs) -> None:
        if op == "between":
            self._between(value, path, refs, is_number, "a number")
            return
        items: Sequence[tuple[JSON, str]]
        if op in LIST_OPS:
            items = [(x, item(path, i)) for i, x in enumerate(self._operands(value, path, op, refs))]
        else:
            items = [(value, path)]
        for x, xpath in items:
            if attr.type == "set":
                if not isinstance(x, str) or len(x) > MAX_TEXT_LENGTH:
                    self._bad(refs, xpath, f"The value must be a text to compare with {quote(attr.key)}")
            elif attr.type == "enum" and isinstance(x, str) and x not in attr.options:
                hint = suggest(x, attr.options) or f" (options: {list_values(attr.options)})"
                self.report.add(
                    xpath, f"{quote(x)} is not an option of the attribute {quote(attr.key)}{hint}"
                )
            elif not attribute_value_fits(attr, x):
                expected = expected_attribute_value(attr)
                self._bad(refs, xpath, f"The value must be {expected} to compare with {quote(attr.key)}")

    def _value_from(self, source: JSON, path: str, attr: Attribute | None, op: str, refs: Refs) -> None:
        where = at(path, "valueFrom")
        if not isinstance(source, dict):
            self._bad(
                refs, where, f"'valueFrom' must be an object like {{\"answer\": QID}}, not {describe(source)}"
            )
            return
        if not self.report.keys(source, where, ("answer",)):
            return
        qid, known = source["answer"], self.index.question_ids
        if not isinstance(qid, str):
            self._bad(refs, at(where, "answer"), f"'answer' must be a question id, not {describe(qid)}")
            return
        if known is not None and qid not in known:
            self.report.add(
                at(where, "answer"), f"Unknown question {quote(qid)}{suggest(qid, sorted(known))}"
            )
            return
        question = self.index.questions.get(qid)
        if question is None or attr is None:
            return
        allowed = VALUE_FROM_PAIRS.get((attr.type, question.type))
        if allowed is None:
            message = f"The {attr.type} attribute {quote(attr.key)} cannot be compared"
            self._bad(refs, where, f"{message} with the {question.type} question {quote(qid)}")
        elif op not in allowed:
            message = (
                f"Operator '{op}' does not fit comparing the {attr.type} attribute {quote(attr.key)} "
                f"with the {question.type} question {quote(qid)}; use {' or '.join(allowed)}"
            )
            self._bad(refs, at(path, "op"), message)
