"""Exact number ranges for the rule analysis: spans of a number question's answers.

A :class:`Span` is an interval with open or closed ends (``None``: unbounded); numbers are
``Fraction`` so ``0.1`` steps and bounds like 4,900 compare exactly. A :class:`Domain` is what a
number question accepts (``min``..``max``, multiples of ``step`` counted from ``min``, or from 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .model import Question

Num = Fraction


def num(value: Any) -> Num:
    return Fraction(str(value)) if isinstance(value, float) else Fraction(value)


@dataclass(frozen=True)
class Span:
    lo: Num | None
    lo_closed: bool
    hi: Num | None
    hi_closed: bool

    @classmethod
    def everything(cls) -> Span:
        return cls(None, False, None, False)

    @classmethod
    def point(cls, value: Any) -> Span:
        return cls(num(value), True, num(value), True)

    @property
    def empty(self) -> bool:
        if self.lo is None or self.hi is None:
            return False
        return self.lo > self.hi or (self.lo == self.hi and not (self.lo_closed and self.hi_closed))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def span_of(op: str, value: Any) -> list[Span]:
    """The answers a number test accepts (an operand that is not a number accepts none)."""
    if op == "between":
        if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(map(_is_number, value))):
            return []
        return [Span(num(value[0]), True, num(value[1]), True)]
    if op in ("in", "not_in"):
        values = [v for v in value if _is_number(v)] if isinstance(value, (list, tuple)) else []
        pts = union([Span.point(v) for v in values])
        return pts if op == "in" else complement(pts)
    if not _is_number(value):
        return []
    v = num(value)
    return {
        "==": [Span.point(v)],
        "!=": [Span(None, False, v, False), Span(v, False, None, False)],
        "<": [Span(None, False, v, False)],
        "<=": [Span(None, False, v, True)],
        ">": [Span(v, False, None, False)],
        ">=": [Span(v, True, None, False)],
    }.get(op, [])


def points(values: list[Any]) -> list[Span]:
    return union([Span.point(v) for v in values])


def _max_lo(a: Span, b: Span) -> tuple[Num | None, bool]:
    if a.lo is None:
        return b.lo, b.lo_closed
    if b.lo is None or a.lo > b.lo:
        return a.lo, a.lo_closed
    if b.lo > a.lo:
        return b.lo, b.lo_closed
    return a.lo, a.lo_closed and b.lo_closed


def _min_hi(a: Span, b: Span) -> tuple[Num | None, bool]:
    if a.hi is None:
        return b.hi, b.hi_closed
    if b.hi is None or a.hi < b.hi:
        return a.hi, a.hi_closed
    if b.hi < a.hi:
        return b.hi, b.hi_closed
    return a.hi, a.hi_closed and b.hi_closed


def intersect(a: list[Span], b: list[Span]) -> list[Span]:
    out = [Span(*_max_lo(x, y), *_min_hi(x, y)) for x in a for y in b]
    return union([s for s in out if not s.empty])


def _key(s: Span) -> tuple[int, Num, int]:
    return (0, Num(0), 0) if s.lo is None else (1, s.lo, 0 if s.lo_closed else 1)


def union(spans: list[Span]) -> list[Span]:
    """Sorted, merged, without empty spans."""
    out: list[Span] = []
    for s in sorted((s for s in spans if not s.empty), key=_key):
        if out:
            last = out[-1]
            touches = (
                last.hi is None
                or s.lo is None
                or s.lo < last.hi
                or (s.lo == last.hi and (s.lo_closed or last.hi_closed))
            )
            if touches:
                hi, hi_closed = _max_hi(last, s)
                out[-1] = Span(last.lo, last.lo_closed, hi, hi_closed)
                continue
        out.append(s)
    return out


def _max_hi(a: Span, b: Span) -> tuple[Num | None, bool]:
    if a.hi is None or b.hi is None:
        return None, False
    if a.hi > b.hi:
        return a.hi, a.hi_closed
    if b.hi > a.hi:
        return b.hi, b.hi_closed
    return a.hi, a.hi_closed or b.hi_closed


def complement(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    lo: Num | None = None
    lo_closed = False
    for s in union(spans):
        if s.lo is not None:
            out.append(Span(lo, lo_closed, s.lo, not s.lo_closed))
        if s.hi is None:
            return [x for x in out if not x.empty]
        lo, lo_closed = s.hi, not s.hi_closed
    out.append(Span(lo, lo_closed, None, False))
    return [x for x in out if not x.empty]


@dataclass(frozen=True)
class Domain:
    """The answers a number question accepts."""

    lo: Num | None
    hi: Num | None
    step: Num | None
    base: Num

    @classmethod
    def of(cls, question: Question) -> Domain:
        lo = num(question.min) if question.min is not None else None
        hi = num(question.max) if question.max is not None else None
        step = num(question.step) if question.step is not None else None
        return cls(lo, hi, step, lo if lo is not None else Num(0))

    def span(self) -> Span:
        return Span(self.lo, self.lo is not None, self.hi, self.hi is not None)

    def first(self, s: Span) -> Num | None:
        """The smallest accepted answer in ``s`` (None: none; unbounded below without a step: its bound)."""
        clipped = intersect([s], [self.span()])
        if not clipped:
            return None
        c = clipped[0]
        if self.step is None:
            return c.lo if c.lo is not None else c.hi
        if c.lo is None:
            return c.hi if c.hi is not None else self.base
        k = math.ceil((c.lo - self.base) / self.step)
        value = self.base + k * self.step
        if value == c.lo and not c.lo_closed:
            value += self.step
        inside = c.hi is None or value < c.hi or (value == c.hi and c.hi_closed)
        return value if inside else None

    def last(self, s: Span) -> Num | None:
        clipped = intersect([s], [self.span()])
        if not clipped:
            return None
        c = clipped[0]
        if self.step is None or c.hi is None:
            return c.hi
        k = math.floor((c.hi - self.base) / self.step)
        value = self.base + k * self.step
        if value == c.hi and not c.hi_closed:
            value -= self.step
        return value

    def words(self) -> str:
        low = show(self.lo) if self.lo is not None else "any"
        high = show(self.hi) if self.hi is not None else "any"
        bounds = f"{low} to {high}"
        return bounds + (f" in steps of {show(self.step)}" if self.step is not None else "")


def has_value(spans: list[Span], domain: Domain) -> bool:
    return any(domain.first(s) is not None for s in spans)


def uncovered(covered: list[Span], domain: Domain) -> list[Span]:
    """The parts of the domain no span covers that hold at least one accepted answer."""
    gaps = intersect(complement(covered), [domain.span()])
    return [g for g in gaps if domain.first(g) is not None]


def show(value: Num | None) -> str:
    if value is None:
        return "?"
    if value.denominator == 1:
        return f"{int(value):,}"
    return f"{float(value):,.6g}"


def describe(spans: list[Span], domain: Domain) -> str:
    """The first span in words: "4,901 to 4,999", "exactly 5", "more than 4,900 and less than 5,000"."""
    s = next((x for x in spans if domain.first(x) is not None), spans[0] if spans else Span.everything())
    c = (intersect([s], [domain.span()]) or [s])[0]
    if domain.step is not None and c.lo is not None and c.hi is not None:
        first, last = domain.first(c), domain.last(c)
        return f"exactly {show(first)}" if first == last else f"{show(first)} to {show(last)}"
    if c.lo is not None and c.lo == c.hi:
        return f"exactly {show(c.lo)}"
    low = "" if c.lo is None else ("at least " if c.lo_closed else "more than ") + show(c.lo)
    high = "" if c.hi is None else ("at most " if c.hi_closed else "less than ") + show(c.hi)
    return " and ".join(x for x in (low, high) if x) or "any value"
