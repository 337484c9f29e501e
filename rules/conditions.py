"""Conditions and plan conditions compiled to plain Python closures (no eval, no regex).

Semantics (CATALOGUE.md): a test on an unanswered question, a missing attribute or an
underived fact is false, except ``not_exists``; ``not`` of a false test is true; ``!=`` and
``not_in`` on a fact hold if the key has a value and none matches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .model import All, AnswerTest, AnyOf, AttrTest, Condition, FactTest, Not, PlanCondition

Answers = Mapping[str, Any]
FactSets = Mapping[str, set[str] | frozenset[str]]
Check = Callable[[Answers, FactSets], bool]
PlanCheck = Callable[[Mapping[str, Any], Answers], bool]

_MISSING = object()


def same(a: Any, b: Any) -> bool:
    """JSON equality that never confuses booleans with numbers (``True != 1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    return bool(a == b)


def _member(a: Any, items: Any) -> bool:
    return any(same(a, x) for x in items)


def _value_test(op: str, operand: Any) -> Callable[[Any], bool]:
    """A test of one present value against a literal operand."""
    if op == "==":
        return lambda v: same(v, operand)
    if op == "!=":
        return lambda v: not same(v, operand)
    if op == "<":
        return lambda v: v < operand
    if op == "<=":
        return lambda v: v <= operand
    if op == ">":
        return lambda v: v > operand
    if op == ">=":
        return lambda v: v >= operand
    if op == "in":
        return lambda v: _member(v, operand)
    if op == "not_in":
        return lambda v: not _member(v, operand)
    if op == "between":
        low, high = operand
        return lambda v: low <= v <= high
    if op == "contains":
        return lambda v: _member(operand, v)
    if op == "contains_any":
        return lambda v: any(_member(x, v) for x in operand)
    if op == "contains_all":
        return lambda v: all(_member(x, v) for x in operand)
    raise ValueError(f"unknown operator {op!r}")


def compile_condition(cond: Condition) -> Check:
    """Compile a rule ``when`` or an ``askWhen`` into ``check(answers, facts) -> bool``."""
    if isinstance(cond, All):
        parts = [compile_condition(c) for c in cond.items]
        return lambda a, f: all(p(a, f) for p in parts)
    if isinstance(cond, AnyOf):
        parts = [compile_condition(c) for c in cond.items]
        return lambda a, f: any(p(a, f) for p in parts)
    if isinstance(cond, Not):
        inner = compile_condition(cond.item)
        return lambda a, f: not inner(a, f)
    if isinstance(cond, AnswerTest):
        return _answer_check(cond)
    return _fact_check(cond)


def _answer_check(cond: AnswerTest) -> Check:
    qid = cond.answer
    if cond.op == "exists":
        return lambda a, f: qid in a
    if cond.op == "not_exists":
        return lambda a, f: qid not in a
    test = _value_test(cond.op, cond.value)

    def check(a: Answers, f: FactSets) -> bool:
        value = a.get(qid, _MISSING)
        return value is not _MISSING and test(value)

    return check


def _fact_check(cond: FactTest) -> Check:
    key, op, operand = cond.fact, cond.op, cond.value
    if op == "exists":
        return lambda a, f: bool(f.get(key))
    if op == "not_exists":
        return lambda a, f: not f.get(key)
    if op == "==":
        return lambda a, f: operand in f.get(key, ())
    if op == "in":
        return lambda a, f: any(v in operand for v in f.get(key, ()))
    if op == "!=":
        return lambda a, f: bool(f.get(key)) and operand not in f[key]
    if op == "not_in":
        return lambda a, f: bool(f.get(key)) and not any(v in operand for v in f[key])
    raise ValueError(f"operator {op!r} does not apply to facts")


def compile_plan_condition(cond: PlanCondition) -> PlanCheck:
    """Compile a plan condition into ``check(plan_attributes, visible_answers) -> bool``."""
    if isinstance(cond, All):
        parts = [compile_plan_condition(c) for c in cond.items]
        return lambda p, a: all(x(p, a) for x in parts)
    if isinstance(cond, AnyOf):
        parts = [compile_plan_condition(c) for c in cond.items]
        return lambda p, a: any(x(p, a) for x in parts)
    if isinstance(cond, Not):
        inner = compile_plan_condition(cond.item)
        return lambda p, a: not inner(p, a)
    assert isinstance(cond, AttrTest)
    return _attr_check(cond)


def _attr_check(cond: AttrTest) -> PlanCheck:
    key, op = cond.attribute, cond.op
    if op == "exists":
        return lambda p, a: key in p
    if op == "not_exists":
        return lambda p, a: key not in p
    if cond.value_from is None:
        test = _value_test(op, cond.value)

        def literal(p: Mapping[str, Any], a: Answers) -> bool:
            value = p.get(key, _MISSING)
            return value is not _MISSING and test(value)

        return literal
    qid = cond.value_from

    def from_answer(p: Mapping[str, Any], a: Answers) -> bool:
        value = p.get(key, _MISSING)
        operand = a.get(qid, _MISSING)
        if value is _MISSING or operand is _MISSING:
            return False
        return _value_test(op, operand)(value)

    return from_answer
