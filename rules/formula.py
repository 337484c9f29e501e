"""The estimate formula language (CATALOGUE.md, "Estimate and display"): parsed once, never ``eval``.

Grammar, loosest first::

    formula  := sum (CMP sum)?            CMP: < <= > >= == !=  (at most one without parentheses)
    sum      := product (("+" | "-") product)*
    product  := unary (("*" | "/") unary)*
    unary    := "-"* primary
    primary  := NUMBER | NAME | "plan." KEY | FUNC "(" formula ("," formula)* ")" | "(" formula ")"

The parser is recursive descent with an explicit nesting limit, so any text up to
:data:`MAX_FORMULA_LENGTH` characters gives a tree or a :class:`FormulaError` (never a
RecursionError). Values are :class:`~decimal.Decimal`; "no value" (an attribute the plan lacks, a
division by zero) is ``None`` and propagates, except through ``default`` and an unchosen ``if``
branch.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

MAX_FORMULA_LENGTH = 1000
#: Parentheses and function calls nested deeper than this are a problem (each costs Python frames).
MAX_NESTING = 40
#: The deepest tree evaluated; evaluation recurses once per level. 1,000 characters make at most
#: 500 levels (a flat chain like ``1+1+...``), so this only guards against a change of that limit.
MAX_DEPTH = 500

FUNCTIONS: dict[str, tuple[int, int | None]] = {  # name -> (fewest, most) arguments
    "min": (2, None),
    "max": (2, None),
    "abs": (1, 1),
    "floor": (1, 1),
    "ceil": (1, 1),
    "round": (1, 1),
    "if": (3, 3),
    "default": (2, 2),
}
COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")

# Fixed patterns written by us, never by staff.
_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<plan>plan\.[A-Za-z][A-Za-z0-9_]*)|(?P<name>[A-Za-z][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|[-+*/(),<>]))"
)
NAME_SYNTAX = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")

ZERO = Decimal(0)
ONE = Decimal(1)


class FormulaError(ValueError):
    """A formula that does not parse; ``position`` is the 0-based character offset."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position
        self.message = message

    def __str__(self) -> str:
        return f"at character {self.position + 1}: {self.message}"


@dataclass(frozen=True, slots=True)
class Num:
    value: Decimal
    pos: int


@dataclass(frozen=True, slots=True)
class Name:
    """An input (by name)."""

    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Attr:
    """``plan.KEY``."""

    key: str
    pos: int


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr
    pos: int


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Expr
    right: Expr
    pos: int


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Expr, ...]
    pos: int


Expr = Num | Name | Attr | Neg | Binary | Call


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "number" | "plan" | "name" | "op" | "end"
    text: str
    pos: int


def _describe(token: _Token) -> str:
    return "the end of the formula" if token.kind == "end" else f"'{token.text}'"


def tokenize(text: str) -> list[_Token]:
    """The tokens of ``text``; an unknown character is a :class:`FormulaError`."""
    tokens: list[_Token] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end:
            tokens.append(_Token("end", "", end))
            return tokens
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            char = text[pos]
            if char == "." or char.isdigit():
                raise FormulaError(pos, "a number is written like 12 or 0.5")
            if char == "p" and text.startswith("plan", pos):
                raise FormulaError(pos, "an attribute is written plan.KEY (letters, digits and '_')")
            raise FormulaError(pos, f"unexpected character {char!r}")
        kind = match.lastgroup or "op"
        start = match.start(kind)
        tokens.append(_Token(kind, match.group(kind), start))
        pos = match.end()
        if kind in ("number", "name", "plan") and pos < end and (text[pos].isalnum() or text[pos] in "._"):
            raise FormulaError(pos, f"unexpected character {text[pos]!r} after '{match.group(kind)}'")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, text: str, what: str) -> None:
        if self.token.text != text or self.token.kind != "op":
            raise FormulaError(self.token.pos, f"expected {what} but found {_describe(self.token)}")
        self.i += 1

    def formula(self) -> Expr:
        left = self.sum()
        token = self.token
        if token.kind == "op" and token.text in COMPARISONS:
            self.i += 1
            right = self.sum()
            after = self.token
            if after.kind == "op" and after.text in COMPARISONS:
                raise FormulaError(
                    after.pos, "at most one comparison without parentheses: write (a < b) == 1"
                )
            return Binary(token.text, left, right, token.pos)
        return left

    def sum(self) -> Expr:
        left = self.product()
        while self.token.kind == "op" and self.token.text in "+-":
            token = self.take()
            left = Binary(token.text, left, self.product(), token.pos)
        return left

    def product(self) -> Expr:
        left = self.unary()
        while self.token.kind == "op" and self.token.text in "*/":
            token = self.take()
            left = Binary(token.text, left, self.unary(), token.pos)
        return left

    def unary(self) -> Expr:
        minuses: list[int] = []
        while self.token.kind == "op" and self.token.text == "-":
            minuses.append(self.take().pos)
        node = self.primary()
        if len(minuses) % 2:  # "--x" is x: a chain of minuses never deepens the tree
            node = Neg(node, minuses[-1])
        return node

    def primary(self) -> Expr:
        token = self.take()
        if token.kind == "number":
            return Num(Decimal(token.text), token.pos)
        if token.kind == "plan":
            return Attr(token.text[5:], token.pos)
        if token.kind == "name":
            if self.token.kind == "op" and self.token.text == "(":
                return self.call(token)
            if token.text == "plan":
                raise FormulaError(token.pos, "'plan' needs an attribute: plan.KEY")
            return Name(token.text, token.pos)
        if token.kind == "op" and token.text == "(":
            self.enter(token)
            node = self.formula()
            self.expect(")", "')'")
            self.depth -= 1
            return node
        found = _describe(token)
        raise FormulaError(token.pos, f"expected a number, a name, plan.KEY, '(' or '-' but found {found}")

    def call(self, name: _Token) -> Expr:
        if name.text not in FUNCTIONS:
            from .answers import suggest  # the same "did you mean" as everywhere

            known = ", ".join(sorted(FUNCTIONS))
            hint = suggest(name.text, sorted(FUNCTIONS)) or f" (functions: {known})"
            raise FormulaError(name.pos, f"unknown function '{name.text}'{hint}")
        open_paren = self.take()
        self.enter(open_paren)
        args = [self.formula()]
        while self.token.kind == "op" and self.token.text == ",":
            self.i += 1
            args.append(self.formula())
        self.expect(")", "',' or ')'")
        self.depth -= 1
        fewest, most = FUNCTIONS[name.text]
        if len(args) < fewest or (most is not None and len(args) > most):
            wanted = (
                f"{fewest}"
                if fewest == most
                else f"at least {fewest}"
                if most is None
                else f"{fewest} to {most}"
            )
            plural = "" if wanted == "1" else "s"
            raise FormulaError(name.pos, f"{name.text}() takes {wanted} argument{plural}, not {len(args)}")
        return Call(name.text, tuple(args), name.pos)

    def enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise FormulaError(token.pos, f"nested too deeply: at most {MAX_NESTING} levels of parentheses")


def parse_formula(text: str) -> Expr:
    """The tree of a formula; raises :class:`FormulaError` with the position and what was expected."""
    if len(text) > MAX_FORMULA_LENGTH:
        raise FormulaError(
            MAX_FORMULA_LENGTH, f"the formula is too long: at most {MAX_FORMULA_LENGTH} characters"
        )
    parser = _Parser(text)
    if parser.token.kind == "end":
        raise FormulaError(0, "the formula is empty")
    node = parser.formula()
    token = parser.token
    if token.kind != "end":
        if token.kind == "op" and token.text == ")":
            raise FormulaError(token.pos, "this ')' has no matching '('")
        raise FormulaError(token.pos, f"expected an operator or the end but found {_describe(token)}")
    if depth(node) > MAX_DEPTH:
        raise FormulaError(0, f"the formula is too complex: at most {MAX_DEPTH} operations inside each other")
    return node


def depth(root: Expr) -> int:
    """The number of levels of a tree (iteratively)."""
    deepest = 0
    stack: list[tuple[Expr, int]] = [(root, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, Neg):
            stack.append((node.operand, level + 1))
        elif isinstance(node, Binary):
            stack.extend(((node.left, level + 1), (node.right, level + 1)))
        elif isinstance(node, Call):
            stack.extend((a, level + 1) for a in node.args)
    return deepest


def walk(node: Expr) -> list[Expr]:
    """Every node of a tree (iteratively: trees are shallow, but this never recurses)."""
    out: list[Expr] = []
    stack: list[Expr] = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        if isinstance(current, Neg):
            stack.append(current.operand)
        elif isinstance(current, Binary):
            stack.extend((current.right, current.left))
        elif isinstance(current, Call):
            stack.extend(reversed(current.args))
    return out


# -- arithmetic on Decimal | None (None: no value) ------------------------------------------------


def divide(x: Decimal, y: Decimal) -> Decimal | None:
    return None if not y else x / y


Arithmetic = Callable[[Decimal, Decimal], Decimal | None]


def _cmp(op: str) -> Arithmetic:
    import operator

    test = {
        "<": operator.lt,
        "<=": operator.le,
        ">": operator.gt,
        ">=": operator.ge,
        "==": operator.eq,
        "!=": operator.ne,
    }[op]
    return lambda x, y: ONE if test(x, y) else ZERO


def _binary_ops() -> dict[str, Arithmetic]:
    import operator

    ops: dict[str, Arithmetic] = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": divide}
    ops.update({op: _cmp(op) for op in COMPARISONS})
    return ops


BINARY = _binary_ops()


def unary_function(func: str, x: Decimal) -> Decimal:
    """abs, floor, ceil and round (to an integer, half away from zero)."""
    if func == "abs":
        return abs(x)
    if func == "floor":
        return x.to_integral_value(rounding=ROUND_FLOOR)
    if func == "ceil":
        return x.to_integral_value(rounding=ROUND_CEILING)
    return x.to_integral_value(rounding=ROUND_HALF_UP)
