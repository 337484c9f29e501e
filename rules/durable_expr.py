"""Answer conditions as durable-rules expressions: the answers-fact encoding and ``not`` push-down.

Pure (no durable import). The visible answers are one fact; a condition on it becomes one
durable expression in which every test is on a field that is always present, so nothing
depends on how durable treats missing fields:

- ``h_<qid>``: true when the question has a visible answer, false otherwise;
- ``a_<qid>``: the answer of a scalar question (number, boolean, choice, text), when answered;
- ``m_<qid>:<option>``: for a multi question, true when the option is in the answer (false when
  not, or when unanswered). Arrays are not used: durable's ``$iall`` is false on an empty list,
  so "does not contain" cannot be written with it; one boolean per option is simple and exact.

``not`` is pushed down with De Morgan; a negated test on a scalar answer becomes
``h == false or <inverse test>``, so "not of a test on an unanswered question" is true.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import All, AnswerTest, AnyOf, Catalogue, Condition, FactTest, Not, Question

# Durable operator for each comparison; the inverse of each for push-down of ``not``.
_DURABLE_OP = {"==": "$eq", "!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
_INVERSE = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


@dataclass(frozen=True, slots=True)
class Leaf:
    """One alpha test: ``field`` compared with a constant (``op`` is a durable operator)."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Const:
    """Always true or always false (folded away before anything reaches durable)."""

    value: bool


Expr = Leaf | And | Or | Const
# Per tested question: (qid, presence field or "", value field or "", options tested).
FactPlan = tuple[tuple[str, str, str, tuple[str, ...]], ...]
TRUE = Const(True)
FALSE = Const(False)


def has_field(qid: str) -> str:
    return f"h_{qid}"


def value_field(qid: str) -> str:
    return f"a_{qid}"


def option_field(qid: str, option: str) -> str:
    # ':' is not allowed in ids, so (qid, option) -> name is one-to-one.
    return f"m_{qid}:{option}"


def canonical(value: Any) -> Any:
    """Integral floats as ints: equal numbers then share one alpha node and one signature."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


@dataclass
class Encoding:
    """Which fields of the answers fact the compiled rules read (only those are asserted)."""

    flags: set[str] = field(default_factory=set)  # questions needing h_<qid>
    values: set[str] = field(default_factory=set)  # scalar questions needing a_<qid>
    options: dict[str, set[str]] = field(default_factory=dict)  # multi qid -> options tested

    def field_names(self) -> list[str]:
        names = [has_field(q) for q in self.flags] + [value_field(q) for q in self.values]
        names += [option_field(q, o) for q, opts in self.options.items() for o in opts]
        return sorted(names)

    def plan(self) -> FactPlan:
        """A compact, ordered recipe for :func:`answers_fact`: (qid, h field, a field, options)."""
        qids = sorted(self.flags | self.values | set(self.options))
        return tuple(
            (
                q,
                has_field(q) if q in self.flags else "",
                value_field(q) if q in self.values else "",
                tuple(sorted(self.options.get(q, ()))),
            )
            for q in qids
        )


def answers_fact(plan: FactPlan, answers: dict[str, Any]) -> dict[str, Any]:
    """The one answers fact for the visible ``answers`` (fields as in :class:`Encoding`)."""
    fact: dict[str, Any] = {"t": "answers"}
    for qid, h, a, options in plan:
        present = qid in answers
        value = answers.get(qid)
        if h:
            fact[h] = present
        if a and present:
            fact[a] = canonical(value)
        if options:
            chosen = set(value) if present and isinstance(value, list) else set()
            for o in options:
                fact[option_field(qid, o)] = o in chosen
    return fact


class AnswerCompiler:
    """Compiles answer-only conditions of one catalogue, recording the fields they need."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._questions: dict[str, Question] = catalogue.question_by_id
        self.encoding = Encoding()

    def compile(self, cond: Condition | None) -> Expr:
        """The simplified expression for ``cond`` (None means always true)."""
        if cond is None:
            return TRUE
        return simplify(self._build(cond, False))

    def _build(self, cond: Condition, negate: bool) -> Expr:
        if isinstance(cond, Not):
            return self._build(cond.item, not negate)
        if isinstance(cond, All):
            parts = tuple(self._build(c, negate) for c in cond.items)
            return Or(parts) if negate else And(parts)
        if isinstance(cond, AnyOf):
            parts = tuple(self._build(c, negate) for c in cond.items)
            return And(parts) if negate else Or(parts)
        if isinstance(cond, FactTest):  # pragma: no cover - dnf.expand keeps facts out of here
            raise ValueError("a fact test cannot be part of the answers pattern")
        return self._test(cond, negate)

    def _test(self, t: AnswerTest, negate: bool) -> Expr:
        q = self._questions[t.answer]
        if t.op in ("exists", "not_exists"):
            self.encoding.flags.add(q.id)
            present = (t.op == "exists") != negate
            return Leaf(has_field(q.id), "$eq", present)
        if q.type == "multi":
            return self._multi(q.id, t.op, t.value, negate)
        self.encoding.flags.add(q.id)
        self.encoding.values.add(q.id)
        h, a = has_field(q.id), value_field(q.id)
        if not negate:
            return And((Leaf(h, "$eq", True), _scalar(a, t.op, t.value)))
        # not(answered and test) == unanswered or not test; the inverse test only runs on a
        # present field because the first branch already covers the unanswered case.
        return Or((Leaf(h, "$eq", False), _scalar_inverse(a, t.op, t.value)))

    def _multi(self, qid: str, op: str, value: Any, negate: bool) -> Expr:
        wanted = [value] if op == "contains" else list(value)
        self.encoding.options.setdefault(qid, set()).update(wanted)
        # Option flags are false when unanswered, so no presence guard is needed either way.
        leaves = tuple(Leaf(option_field(qid, o), "$eq", not negate) for o in wanted)
        if op == "contains_all":
            return Or(leaves) if negate else And(leaves)
        return And(leaves) if negate else Or(leaves)


def _scalar(a: str, op: str, value: Any) -> Expr:
    """A positive test on a present scalar field."""
    if op in _DURABLE_OP:
        return Leaf(a, _DURABLE_OP[op], canonical(value))
    if op == "in":
        return Or(tuple(Leaf(a, "$eq", canonical(v)) for v in value))
    if op == "not_in":
        return And(tuple(Leaf(a, "$neq", canonical(v)) for v in value))
    if op == "between":
        low, high = value
        return And((Leaf(a, "$gte", canonical(low)), Leaf(a, "$lte", canonical(high))))
    raise ValueError(f"operator {op!r} does not apply to this answer")


def _scalar_inverse(a: str, op: str, value: Any) -> Expr:
    """The negation of :func:`_scalar` on a present field (numbers are totally ordered)."""
    if op in _INVERSE:
        return _scalar(a, _INVERSE[op], value)
    if op == "in":
        return _scalar(a, "not_in", value)
    if op == "not_in":
        return _scalar(a, "in", value)
    if op == "between":
        low, high = value
        return Or((Leaf(a, "$lt", canonical(low)), Leaf(a, "$gt", canonical(high))))
    raise ValueError(f"operator {op!r} does not apply to this answer")


def _sort_key(e: Expr) -> tuple[int, str]:
    """Presence guards first (shared by every rule on a question), then equality tests (siblings
    that exclude each other), then other tests, then nested any/all."""
    if isinstance(e, Leaf):
        rank = (0 if e.field.startswith("h_") else 1) if e.op == "$eq" else 2
        return (rank, repr((e.field, e.op, e.value)))
    return (3, repr(to_json(e)))


def simplify(e: Expr) -> Expr:
    """Flatten nested and/or, fold constants, drop duplicates, order items canonically."""
    if not isinstance(e, (And, Or)):
        return e
    is_and = isinstance(e, And)
    items: list[Expr] = []
    for raw in e.items:
        item = simplify(raw)
        if isinstance(item, Const):
            if item.value != is_and:  # false in an and, true in an or decides the whole
                return item
            continue
        if isinstance(item, type(e)):
            items.extend(item.items)
        else:
            items.append(item)
    unique = sorted(set(items), key=_sort_key)
    if not unique:
        return Const(is_and)
    if len(unique) == 1:
        return unique[0]
    return And(tuple(unique)) if is_and else Or(tuple(unique))


def to_json(e: Expr) -> dict[str, Any]:
    """Durable's JSON expression syntax (never an empty ``$and``: durable hangs on it)."""
    if isinstance(e, Leaf):
        if e.op == "$eq":
            return {e.field: e.value}
        return {e.op: {e.field: e.value}}
    if isinstance(e, And):
        return {"$and": [to_json(i) for i in e.items]}
    if isinstance(e, Or):
        return {"$or": [to_json(i) for i in e.items]}
    raise ValueError("constants are folded before reaching durable")


def operator_count(e: Expr) -> int:
    """How many ``$and``/``$or`` durable records for this expression (it allows 15 per pattern)."""
    if isinstance(e, (And, Or)):
        return 1 + sum(operator_count(i) for i in e.items)
    return 0


def answers_pattern(e: Expr) -> Expr:
    """The whole first pattern: the answers-fact type test joined with the condition."""
    tag = Leaf("t", "$eq", "answers")
    if isinstance(e, Const):
        return tag
    # The type test stays first: every answers pattern then hangs under one shared node.
    return And((tag, *(e.items if isinstance(e, And) else (e,))))


def fact_pattern(key: str, values: frozenset[str] | None) -> Expr:
    """A pattern on one derived fact: key equal, and value in ``values`` (None: any value)."""
    parts: list[Expr] = [Leaf("t", "$eq", "fact"), Leaf("k", "$eq", key)]
    if values is not None:
        ordered = sorted(values)
        parts.append(
            Leaf("v", "$eq", ordered[0])
            if len(ordered) == 1
            else Or(tuple(Leaf("v", "$eq", v) for v in ordered))
        )
    return And(tuple(parts))
