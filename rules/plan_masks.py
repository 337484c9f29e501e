"""Plan conditions as boolean masks over a version's active plans (numpy), one vector operation each.

The same semantics as :func:`rules.conditions.compile_plan_condition` (CATALOGUE.md: a missing
attribute or an unanswered question makes a test false; ``not`` of a false test is true), worked
out for every plan at once. Leaves that compare with a literal are decided once per version (by
the plain check); leaves that compare with an answer (``valueFrom``) use per-attribute columns
built on first use: numbers and booleans as arrays, texts and enums as a mask per value, sets as
a mask per member.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .conditions import compile_plan_condition
from .model import All, AnyOf, AttrTest, Not, Plan, PlanCondition

Mask = npt.NDArray[np.bool_]
MaskOf = Callable[[Mapping[str, Any]], Mask]

_MISSING = object()
_ORDER = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


class PlanColumns:
    """The active plans' attributes as columns, built per attribute on first use."""

    def __init__(self, plans: Sequence[Plan]) -> None:
        self.plans = plans
        self.n = len(plans)
        self.none = np.zeros(self.n, dtype=bool)
        self.every = np.ones(self.n, dtype=bool)
        self._present: dict[str, Mask] = {}
        self._numbers: dict[str, npt.NDArray[np.float64]] = {}
        self._by_value: dict[str, dict[Any, Mask]] = {}
        self._by_member: dict[str, dict[Any, Mask]] = {}
        self._booleans: dict[str, Mask] = {}
        self._sets: dict[str, Mask] = {}

    def _kind(self, cache: dict[str, Mask], key: str, kind: type | tuple[type, ...]) -> Mask:
        found = cache.get(key)
        if found is None:
            values = (p.attributes.get(key) for p in self.plans)
            found = np.fromiter((isinstance(v, kind) for v in values), dtype=bool, count=self.n)
            cache[key] = found
        return found

    def booleans(self, key: str) -> Mask:
        """Plans whose ``key`` is a boolean."""
        return self._kind(self._booleans, key, bool)

    def sets(self, key: str) -> Mask:
        """Plans whose ``key`` is a set (a list)."""
        return self._kind(self._sets, key, list)

    def present(self, key: str) -> Mask:
        found = self._present.get(key)
        if found is None:
            found = np.fromiter((key in p.attributes for p in self.plans), dtype=bool, count=self.n)
            self._present[key] = found
        return found

    def numbers(self, key: str) -> npt.NDArray[np.float64]:
        """Numbers and booleans (as 1/0) of ``key``; NaN where missing (every comparison false)."""
        found = self._numbers.get(key)
        if found is None:
            values = (p.attributes.get(key) for p in self.plans)
            found = np.fromiter(
                (float(v) if isinstance(v, int | float) else np.nan for v in values),
                dtype=np.float64,
                count=self.n,
            )
            self._numbers[key] = found
        return found

    def equal_to(self, key: str, value: Any) -> Mask:
        """Plans whose ``key`` is exactly ``value`` (a text or enum value; never a boolean for a number)."""
        table = self._by_value.get(key)
        if table is None:
            table = {}
            for i, plan in enumerate(self.plans):
                v = plan.attributes.get(key, _MISSING)
                if isinstance(v, str):
                    table.setdefault(v, np.zeros(self.n, dtype=bool))[i] = True
            self._by_value[key] = table
        return table.get(value, self.none) if isinstance(value, str) else self.none

    def containing(self, key: str, member: Any) -> Mask:
        """Plans whose set attribute ``key`` contains ``member``."""
        table = self._by_member.get(key)
        if table is None:
            table = {}
            for i, plan in enumerate(self.plans):
                v = plan.attributes.get(key)
                if isinstance(v, list):
                    for m in v:
                        if isinstance(m, str):
                            table.setdefault(m, np.zeros(self.n, dtype=bool))[i] = True
            self._by_member[key] = table
        return table.get(member, self.none) if isinstance(member, str) else self.none


def compile_mask(cond: PlanCondition, columns: PlanColumns) -> MaskOf:
    """``mask(visible_answers)``: which plans satisfy ``cond``."""
    if isinstance(cond, All):
        parts = [compile_mask(c, columns) for c in cond.items]

        def all_of(a: Mapping[str, Any]) -> Mask:
            out = columns.every
            for part in parts:
                out = out & part(a)
            return out

        return all_of
    if isinstance(cond, AnyOf):
        parts = [compile_mask(c, columns) for c in cond.items]

        def any_of(a: Mapping[str, Any]) -> Mask:
            out = columns.none
            for part in parts:
                out = out | part(a)
            return out

        return any_of
    if isinstance(cond, Not):
        inner = compile_mask(cond.item, columns)
        return lambda a: ~inner(a)
    assert isinstance(cond, AttrTest)  # noqa: S101 - the model has four plan condition kinds
    if cond.value_from is None:
        return _literal(cond, columns)
    return _from_answer(cond, columns)


def _literal(cond: AttrTest, columns: PlanColumns) -> MaskOf:
    """A literal test gives the same plans for everyone: decided once, by the plain check."""
    check = compile_plan_condition(cond)
    mask = np.fromiter((check(p.attributes, {}) for p in columns.plans), dtype=bool, count=columns.n)
    mask.flags.writeable = False
    return lambda a: mask


def _from_answer(cond: AttrTest, columns: PlanColumns) -> MaskOf:
    key, op, qid = cond.attribute, cond.op, cond.value_from
    assert qid is not None  # noqa: S101

    def mask(a: Mapping[str, Any]) -> Mask:
        operand = a.get(qid, _MISSING)
        if operand is _MISSING:
            return columns.none
        return _compare(columns, key, op, operand)

    return mask


def _compare(columns: PlanColumns, key: str, op: str, operand: Any) -> Mask:
    """``plan.key OP operand`` for every plan (CATALOGUE.md's ``valueFrom`` pairs)."""
    if op in _ORDER:
        if isinstance(operand, bool) or not isinstance(operand, int | float):
            return columns.none
        result: Mask = _ORDER[op](columns.numbers(key), float(operand))
        return result
    if op in ("==", "!="):
        if isinstance(operand, bool):
            # booleans: stored as 1/0 among numbers, but only a boolean attribute holds them
            values = columns.numbers(key)
            is_bool = columns.booleans(key)
            equal = is_bool & (values == float(operand))
        elif isinstance(operand, int | float):
            values = columns.numbers(key)
            equal = ~columns.booleans(key) & (values == float(operand))
        else:
            equal = columns.equal_to(key, operand)
        if op == "==":
            return equal
        return columns.present(key) & ~equal
    if op in ("in", "not_in"):
        members = operand if isinstance(operand, list | tuple) else ()
        found = columns.none
        for value in members:
            found = found | columns.equal_to(key, value)
        return found if op == "in" else columns.present(key) & ~found
    if op == "contains":
        return columns.containing(key, operand)
    if op in ("contains_any", "contains_all"):
        members = operand if isinstance(operand, list | tuple) else ()
        if op == "contains_any":
            found = columns.none
            for value in members:
                found = found | columns.containing(key, value)
            return found
        found = columns.sets(key)
        for value in members:
            found = found & columns.containing(key, value)
        return found
    raise ValueError(f"operator {op!r} does not compare with an answer")
