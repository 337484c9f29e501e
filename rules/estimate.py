"""A catalogue's estimate, compiled once per version and worked out for many plans at once.

The formula tree is split by what each subtree reads: parts that read only plan attributes are
worked out once per version and plan (on first use), parts that read only inputs once per
evaluation, and only the parts that mix both per plan, as list operations over the plans asked for.
"None" is "no value" and propagates; since nothing has side effects, evaluating both branches of an
``if`` and keeping the chosen one gives the contract's lazy result.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DecimalException,
    localcontext,
)
from typing import Any

from .explanation import Explanation
from .formula import (
    BINARY,
    ONE,
    ZERO,
    Attr,
    Binary,
    Call,
    Expr,
    Name,
    Neg,
    Num,
    parse_formula,
    unary_function,
)
from .model import Catalogue, Estimate, Plan

#: Arithmetic context: 28 significant digits (the contract's minimum), banker's rounding inside.
CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)
#: Only the final rounding to ``decimals`` (half away from zero) uses more room, never failing.
_FINAL = Context(prec=60, rounding=ROUND_HALF_UP)

Value = Decimal | None
Vector = list[Value]
Inputs = dict[str, Decimal]

_CONST, _INPUT, _PLAN, _MIXED = 0, 1, 2, 3


def to_decimal(value: Any) -> Decimal | None:
    """A JSON number or boolean as a Decimal (floats by their shortest repr, as JSON writes them)."""
    if isinstance(value, bool):
        return ONE if value else ZERO
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float) and math.isfinite(value):
        return Decimal(repr(value))
    return None


_MEMO_PLANS = 200_000  # plan values remembered per version, at most (about 100 bytes each)


@dataclass(slots=True)
class _Remembered:
    """What one set of input values gave: plan index -> value, (plan id, value) -> payload."""

    values: dict[int, Decimal | None] = field(default_factory=dict)
    payloads: dict[tuple[str, Decimal], dict[str, Any]] = field(default_factory=dict)


class EstimateCalculator:
    """The estimate of one catalogue version (which must define one)."""

    def __init__(self, catalogue: Catalogue, estimate: Estimate) -> None:
        self.catalogue = catalogue
        self.estimate = estimate
        self.tree = parse_formula(estimate.formula)
        self.plans = catalogue.active_plans
        self.index = {p.id: i for i, p in enumerate(self.plans)}
        self._quantum = Decimal(1).scaleb(-estimate.decimals)
        self._kinds: dict[int, int] = {}
        self._plan_vectors: dict[int, Vector] = {}
        self._explanation = Explanation(estimate.explanation) if estimate.explanation is not None else None
        self._every = list(range(len(self.plans)))
        self._attr_values: dict[str, Vector] = {}
        self._classify(self.tree)
        # Values and payloads per input values, least recently used first; bounded by plans held.
        self._memo: OrderedDict[tuple[str, ...], _Remembered] = OrderedDict()
        self._memo_size = max(8, min(512, _MEMO_PLANS // max(1, len(self.plans))))

    # -- inputs ------------------------------------------------------------------------------------

    def inputs(self, answers: Mapping[str, Any], visible: Collection[str]) -> Inputs | None:
        """Each input's value for these answers, or None when one is unknown (then no plan has one)."""
        values: Inputs = {}
        for spec in self.estimate.inputs:
            value: Decimal | None = None
            if spec.answer in visible and spec.answer in answers:
                answer = answers[spec.answer]
                if spec.map is not None:
                    mapped = spec.map.get(answer) if isinstance(answer, str) else None
                    value = to_decimal(mapped) if mapped is not None else None
                else:
                    value = to_decimal(answer)
            if value is None and spec.default is not None:
                value = to_decimal(spec.default)
            if value is None:
                return None
            values[spec.name] = value
        return values

    # -- values ------------------------------------------------------------------------------------

    def values(self, inputs: Inputs, plan_indexes: Sequence[int]) -> list[Decimal | None]:
        """The rounded estimate of each plan (by index into the version's active plans)."""
        idx: Sequence[int] = plan_indexes
        if len(idx) == len(self._every) and list(idx) == self._every:
            idx = self._every  # every plan in order: vectors are used as they are, not copied
        with localcontext(CONTEXT):
            raw = self._eval(self.tree, inputs, idx)
            if not isinstance(raw, list):
                raw = [raw] * len(idx)
            quantum = self._quantum
            final = _FINAL
            try:  # "r or r.copy_abs()": no "-0.00"; copy_abs never rounds
                out = [
                    None if v is None else ((r := v.quantize(quantum, context=final)) or r.copy_abs())
                    for v in raw
                ]
            except DecimalException:  # a value too large for the final context: round it on its own
                out = [None if v is None else _round(v, quantum) for v in raw]
            return out

    def for_plans(self, inputs: Inputs, plan_ids: Sequence[str]) -> dict[str, Decimal]:
        """The estimate of each plan by id (plans without one left out).

        Remembered per input values (most answers do not change the inputs), for the plans asked
        about: a repeat costs a lookup, a new plan only its own evaluation.
        """
        index = self.index
        indexes = [index[pid] for pid in plan_ids if pid in index]
        known = self._remembered(inputs).values
        missing = [i for i in indexes if i not in known]
        if missing:
            known.update(zip(missing, self.values(inputs, missing), strict=True))
        plans = self.plans
        return {plans[i].id: v for i in indexes if (v := known[i]) is not None}

    def payload(self, plan: Plan, inputs: Inputs, value: Decimal) -> dict[str, Any]:
        """The wire form: ``{"value": 41.2, "explanation": "..."}`` (explanation when defined).

        Remembered like the values; the returned dict is shared, so callers must not change it.
        """
        payloads = self._remembered(inputs).payloads
        key = (plan.id, value)
        out = payloads.get(key)
        if out is None:
            out = payloads[key] = self._payload(plan, inputs, value)
        return out

    def _remembered(self, inputs: Inputs) -> _Remembered:
        # In the order of estimate.inputs; as text, since 1.0 and 1 are equal but read differently.
        key = tuple(map(str, inputs.values()))
        entry = self._memo.get(key)
        if entry is None:
            entry = self._memo[key] = _Remembered()
            if len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        else:
            self._memo.move_to_end(key)
        return entry

    def _payload(self, plan: Plan, inputs: Inputs, value: Decimal) -> dict[str, Any]:
        number = int(value) if self.estimate.decimals == 0 else float(value)
        out: dict[str, Any] = {"value": number}
        if self.estimate.explanation is not None:
            out["explanation"] = self.explain(plan, inputs, value)
        return out

    def explain(self, plan: Plan, inputs: Inputs, value: Decimal) -> str:
        """The explanation with ``{plan.KEY}``, ``{NAME}`` and ``{estimate}`` substituted once."""
        return self._explanation.render(plan, inputs, value) if self._explanation is not None else ""

    # -- evaluation --------------------------------------------------------------------------------

    def _classify(self, root: Expr) -> None:
        """The kind of every node, children first (an explicit stack: no recursion)."""
        stack: list[tuple[Expr, bool]] = [(root, False)]
        while stack:
            node, done = stack.pop()
            children = _children(node)
            if not done and children:
                stack.append((node, True))
                stack.extend((c, False) for c in children)
                continue
            if isinstance(node, Num):
                kind = _CONST
            elif isinstance(node, Name):
                kind = _INPUT
            elif isinstance(node, Attr):
                kind = _PLAN
            else:
                kinds = {self._kinds[id(c)] for c in children}
                kind = _MIXED if _MIXED in kinds or {_INPUT, _PLAN} <= kinds else max(kinds)
            self._kinds[id(node)] = kind

    def _eval(self, node: Expr, inputs: Inputs, idx: Sequence[int]) -> Value | Vector:
        kind = self._kinds[id(node)]
        if kind == _PLAN:
            vector = self._plan_vectors.get(id(node))
            if vector is None:
                vector = [self._scalar(node, inputs, p) for p in self.plans]
                self._plan_vectors[id(node)] = vector
            return vector if idx is self._every else [vector[i] for i in idx]
        if kind != _MIXED:
            return self._scalar(node, inputs, None)
        n = len(idx)
        if isinstance(node, Neg):
            operand = self._eval(node.operand, inputs, idx)
            return [None if x is None else -x for x in operand] if isinstance(operand, list) else operand
        if isinstance(node, Binary):
            left, right = self._eval(node.left, inputs, idx), self._eval(node.right, inputs, idx)
            if node.op in _INLINE:
                return _INLINE[node.op](left, right, n)
            return _lift2(BINARY[node.op], left, right, n)
        assert isinstance(node, Call)  # noqa: S101 - the only other kind with children
        args = [self._eval(a, inputs, idx) for a in node.args]
        func = node.func
        if func in ("min", "max"):
            result = args[0]
            for arg in args[1:]:
                result = _pick(func == "min", result, arg, n)
            return result
        if func == "default":
            first, fallback = _spread(args[0], n), _spread(args[1], n)
            return [x if x is not None else d for x, d in zip(first, fallback, strict=True)]
        if func == "if":
            cond, yes, no = (_spread(a, n) for a in args)
            return [None if c is None else (a if c else b) for c, a, b in zip(cond, yes, no, strict=True)]
        operand = _spread(args[0], n)
        if func == "abs":
            return [None if x is None else abs(x) for x in operand]
        rounding = _ROUNDINGS[func]
        return [None if x is None else x.to_integral_value(rounding=rounding) for x in operand]

    def _scalar(self, node: Expr, inputs: Inputs, plan: Plan | None) -> Value:
        """One value: constants and inputs (plan None), or everything for one plan."""
        if isinstance(node, Num):
            return node.value
        if isinstance(node, Name):
            return inputs.get(node.name)
        if isinstance(node, Attr):
            return to_decimal(plan.attributes.get(node.key)) if plan is not None else None
        if isinstance(node, Neg):
            x = self._scalar(node.operand, inputs, plan)
            return None if x is None else -x
        if isinstance(node, Binary):
            x = self._scalar(node.left, inputs, plan)
            if x is None:
                return None
            y = self._scalar(node.right, inputs, plan)
            return None if y is None else BINARY[node.op](x, y)
        assert isinstance(node, Call)  # noqa: S101
        func = node.func
        if func == "if":
            cond = self._scalar(node.args[0], inputs, plan)
            if cond is None:
                return None
            return self._scalar(node.args[1] if cond else node.args[2], inputs, plan)
        if func == "default":
            x = self._scalar(node.args[0], inputs, plan)
            return x if x is not None else self._scalar(node.args[1], inputs, plan)
        values = [self._scalar(a, inputs, plan) for a in node.args]
        if any(v is None for v in values):
            return None
        if func == "min":
            return min(values)  # type: ignore[type-var]
        if func == "max":
            return max(values)  # type: ignore[type-var]
        return unary_function(func, values[0])  # type: ignore[arg-type]


def _round(value: Decimal, quantum: Decimal) -> Decimal:
    """Half away from zero to ``quantum``, with as many digits as the value needs; no "-0"."""
    digits = max(value.adjusted(), 0) - quantum.as_tuple().exponent + 2  # type: ignore[operator]
    context = Context(prec=max(digits, _FINAL.prec), rounding=ROUND_HALF_UP)
    rounded = value.quantize(quantum, context=context)
    return rounded or rounded.copy_abs()


def _children(node: Expr) -> tuple[Expr, ...]:
    if isinstance(node, Neg):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()


def _add(a: Value | Vector, b: Value | Vector, n: int) -> Value | Vector:
    """``+`` over plans, written out (the hot case: no function call per plan)."""
    if isinstance(a, list):
        if isinstance(b, list):
            return [None if x is None or y is None else x + y for x, y in zip(a, b, strict=True)]
        return [None] * n if b is None else [None if x is None else x + b for x in a]
    if isinstance(b, list):
        return [None] * n if a is None else [None if y is None else a + y for y in b]
    return None if a is None or b is None else a + b


def _sub(a: Value | Vector, b: Value | Vector, n: int) -> Value | Vector:
    if isinstance(a, list):
        if isinstance(b, list):
            return [None if x is None or y is None else x - y for x, y in zip(a, b, strict=True)]
        return [None] * n if b is None else [None if x is None else x - b for x in a]
    if isinstance(b, list):
        return [None] * n if a is None else [None if y is None else a - y for y in b]
    return None if a is None or b is None else a - b


def _mul(a: Value | Vector, b: Value | Vector, n: int) -> Value | Vector:
    if isinstance(a, list):
        if isinstance(b, list):
            return [None if x is None or y is None else x * y for x, y in zip(a, b, strict=True)]
        return [None] * n if b is None else [None if x is None else x * b for x in a]
    if isinstance(b, list):
        return [None] * n if a is None else [None if y is None else a * y for y in b]
    return None if a is None or b is None else a * b


_INLINE = {"+": _add, "-": _sub, "*": _mul}
_ROUNDINGS = {"floor": ROUND_FLOOR, "ceil": ROUND_CEILING, "round": ROUND_HALF_UP}


def _pick(smaller: bool, a: Value | Vector, b: Value | Vector, n: int) -> Value | Vector:
    """min (``smaller``) or max over plans, written out: a function call per plan costs more."""
    if not isinstance(a, list) and not isinstance(b, list):
        if a is None or b is None:
            return None
        return min(a, b) if smaller else max(a, b)
    if not isinstance(a, list):
        a, b = b, a  # min and max are symmetric: the vector first
    assert isinstance(a, list)  # noqa: S101
    if isinstance(b, list):
        if smaller:
            return [
                None if x is None or y is None else (y if y < x else x) for x, y in zip(a, b, strict=True)
            ]
        return [None if x is None or y is None else (y if y > x else x) for x, y in zip(a, b, strict=True)]
    if b is None:
        return [None] * n
    if smaller:
        return [None if x is None else (b if b < x else x) for x in a]
    return [None if x is None else (b if b > x else x) for x in a]


def _spread(value: Value | Vector, n: int) -> Vector:
    return value if isinstance(value, list) else [value] * n


def _lift2(
    op: Callable[[Decimal, Decimal], Value], a: Value | Vector, b: Value | Vector, n: int
) -> Value | Vector:
    """``op`` over plans, with None (no value) in, None out."""
    if isinstance(a, list):
        if isinstance(b, list):
            return [None if x is None or y is None else op(x, y) for x, y in zip(a, b, strict=True)]
        if b is None:
            return [None] * n
        return [None if x is None else op(x, b) for x in a]
    if not isinstance(b, list):
        return None if a is None or b is None else op(a, b)
    if a is None:
        return [None] * n
    return [None if y is None else op(a, y) for y in b]


def calculator(catalogue: Catalogue) -> EstimateCalculator | None:
    """The version's calculator, or None when the catalogue defines no estimate."""
    return EstimateCalculator(catalogue, catalogue.estimate) if catalogue.estimate is not None else None
