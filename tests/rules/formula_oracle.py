"""A second, deliberately simple estimate interpreter, written from CATALOGUE.md ("Estimate and
display") and not from ``rules/formula.py``: the tests check the real calculator against it.

It works on the bundle's JSON (no model), parses with its own tokenizer and a plain recursive-descent
parser into tuples, and evaluates one plan at a time, recursively, with ``None`` for "no value".
Speed and nesting limits are not its concern: only the contract's meaning is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    localcontext,
)
from typing import Any

# "decimal with at least 28 significant digits"; banker's rounding inside, as Python's default.
ARITHMETIC = Context(prec=28, rounding=ROUND_HALF_EVEN)
FUNCTION_ARITY: dict[str, tuple[int, int | None]] = {
    "min": (2, None),
    "max": (2, None),
    "abs": (1, 1),
    "floor": (1, 1),
    "ceil": (1, 1),
    "round": (1, 1),
    "if": (3, 3),
    "default": (2, 2),
}
COMPARISON_OPS = ("<", "<=", ">", ">=", "==", "!=")

Tree = tuple[Any, ...]


class OracleSyntaxError(Exception):
    def __init__(self, position: int, message: str) -> None:
        super().__init__(f"{position}: {message}")
        self.position = position
        self.message = message


# -- tokens ------------------------------------------------------------------------------------------


def _is_name_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, position) with kind number | name | attr | op | end."""
    out: list[tuple[str, str, int]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch.isascii() and ch.isdigit():
            while i < len(text) and text[i].isascii() and text[i].isdigit():
                i += 1
            if i < len(text) and text[i] == ".":
                i += 1
                if not (i < len(text) and text[i].isascii() and text[i].isdigit()):
                    raise OracleSyntaxError(i, "digits after '.'")
                while i < len(text) and text[i].isascii() and text[i].isdigit():
                    i += 1
            out.append(("number", text[start:i], start))
        elif ch.isascii() and ch.isalpha():
            while i < len(text) and _is_name_char(text[i]):
                i += 1
            word = text[start:i]
            if word == "plan" and i < len(text) and text[i] == ".":
                i += 1
                key_start = i
                if not (i < len(text) and text[i].isascii() and text[i].isalpha()):
                    raise OracleSyntaxError(i, "an attribute key")
                while i < len(text) and _is_name_char(text[i]):
                    i += 1
                out.append(("attr", text[key_start:i], start))
            else:
                out.append(("name", word, start))
        elif text.startswith(("<=", ">=", "==", "!="), i):
            out.append(("op", text[i : i + 2], start))
            i += 2
        elif ch in "+-*/(),<>":
            out.append(("op", ch, start))
            i += 1
        else:
            raise OracleSyntaxError(i, f"unexpected {ch!r}")
    out.append(("end", "", len(text)))
    return out


# -- parser --------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i]

    def is_op(self, *ops: str) -> bool:
        kind, text, _ = self.peek()
        return kind == "op" and text in ops

    def take(self) -> tuple[str, str, int]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def formula(self) -> Tree:
        left = self.additive()
        if self.is_op(*COMPARISON_OPS):
            op = self.take()[1]
            right = self.additive()
            if self.is_op(*COMPARISON_OPS):
                raise OracleSyntaxError(self.peek()[2], "a second comparison needs parentheses")
            return ("bin", op, left, right)
        return left

    def additive(self) -> Tree:
        left = self.term()
        while self.is_op("+", "-"):
            op = self.take()[1]
            left = ("bin", op, left, self.term())
        return left

    def term(self) -> Tree:
        left = self.unary()
        while self.is_op("*", "/"):
            op = self.take()[1]
            left = ("bin", op, left, self.unary())
        return left

    def unary(self) -> Tree:
        minuses = 0
        while self.is_op("-"):
            self.take()
            minuses += 1
        node = self.primary()
        return ("neg", node) if minuses % 2 else node  # -(-x) is x

    def primary(self) -> Tree:
        kind, text, pos = self.take()
        if kind == "number":
            return ("num", Decimal(text))
        if kind == "attr":
            return ("attr", text)
        if kind == "name":
            if self.is_op("("):
                self.take()
                args = [self.formula()]
                while self.is_op(","):
                    self.take()
                    args.append(self.formula())
                if not self.is_op(")"):
                    raise OracleSyntaxError(self.peek()[2], "',' or ')'")
                self.take()
                if text not in FUNCTION_ARITY:
                    raise OracleSyntaxError(pos, f"unknown function {text}")
                low, high = FUNCTION_ARITY[text]
                if len(args) < low or (high is not None and len(args) > high):
                    raise OracleSyntaxError(pos, f"argument count of {text}")
                return ("call", text, args)
            if text == "plan":
                raise OracleSyntaxError(pos, "'plan' is not an input: plan.KEY")
            return ("input", text)
        if kind == "op" and text == "(":
            inner = self.formula()
            if not self.is_op(")"):
                raise OracleSyntaxError(self.peek()[2], "')'")
            self.take()
            return inner
        raise OracleSyntaxError(pos, "a number, a name, plan.KEY, '(' or '-'")


def parse(text: str) -> Tree:
    parser = _Parser(text)
    tree = parser.formula()
    if parser.peek()[0] != "end":
        raise OracleSyntaxError(parser.peek()[2], "an operator or the end")
    return tree


# -- values --------------------------------------------------------------------------------------------


def json_decimal(value: Any) -> Decimal | None:
    """A JSON number (as JSON writes it) or boolean (1/0) as a Decimal; anything else: no value."""
    if isinstance(value, bool):
        return Decimal(1) if value else Decimal(0)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float) and math.isfinite(value):
        return Decimal(repr(value))
    return None


def evaluate(tree: Tree, inputs: Mapping[str, Decimal], attributes: Mapping[str, Any]) -> Decimal | None:
    """The unrounded value for one plan, or None (no value)."""
    with localcontext(ARITHMETIC):
        return _eval(tree, inputs, attributes)


def _eval(tree: Tree, inputs: Mapping[str, Decimal], attrs: Mapping[str, Any]) -> Decimal | None:
    kind = tree[0]
    if kind == "num":
        value: Decimal = tree[1]
        return value
    if kind == "input":
        return inputs[tree[1]]
    if kind == "attr":
        return json_decimal(attrs.get(tree[1])) if tree[1] in attrs else None
    if kind == "neg":
        x = _eval(tree[1], inputs, attrs)
        return None if x is None else -x
    if kind == "bin":
        op = tree[1]
        a = _eval(tree[2], inputs, attrs)
        b = _eval(tree[3], inputs, attrs)
        if a is None or b is None:
            return None
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return None if b == 0 else a / b
        truth = {
            "<": a < b,
            "<=": a <= b,
            ">": a > b,
            ">=": a >= b,
            "==": a == b,
            "!=": a != b,
        }[op]
        return Decimal(1) if truth else Decimal(0)
    func, args = tree[1], tree[2]
    if func == "if":  # lazy: only the chosen branch is evaluated
        cond = _eval(args[0], inputs, attrs)
        if cond is None:
            return None
        return _eval(args[1] if cond != 0 else args[2], inputs, attrs)
    if func == "default":
        first = _eval(args[0], inputs, attrs)
        return first if first is not None else _eval(args[1], inputs, attrs)
    values = [_eval(a, inputs, attrs) for a in args]
    if any(v is None for v in values):
        return None
    known = [v for v in values if v is not None]
    if func == "min":
        return min(known)
    if func == "max":
        return max(known)
    x = known[0]
    if func == "abs":
        return abs(x)
    if func == "floor":
        return x.to_integral_value(rounding=ROUND_FLOOR)
    if func == "ceil":
        return x.to_integral_value(rounding=ROUND_CEILING)
    assert func == "round"
    return x.to_integral_value(rounding=ROUND_HALF_UP)  # ROUND_HALF_UP is half away from zero


def round_result(value: Decimal, decimals: int) -> Decimal:
    """Half away from zero to ``decimals`` places, never "-0"."""
    with localcontext(Context(prec=5000, rounding=ROUND_HALF_UP)):
        rounded = value.quantize(Decimal(1).scaleb(-decimals))
    return abs(rounded) if rounded == 0 else rounded


# -- inputs ----------------------------------------------------------------------------------------------


def resolve_inputs(
    bundle: Mapping[str, Any], answers: Mapping[str, Any], visible: Collection[str]
) -> dict[str, Decimal] | None:
    """Each input's value, or None when any input is unknown (then no plan has an estimate)."""
    questions = {q["id"]: q for q in bundle["questions"]}
    out: dict[str, Decimal] = {}
    for spec in bundle["estimate"].get("inputs", []):
        qid = spec["answer"]
        value: Decimal | None = None
        if qid in answers and qid in visible:
            answer = answers[qid]
            qtype = questions[qid]["type"]
            if qtype == "number":
                value = json_decimal(answer)
            elif qtype == "boolean":
                value = Decimal(1) if answer is True else Decimal(0)
            elif qtype == "choice" and answer in spec["map"]:
                value = json_decimal(spec["map"][answer])
        if value is None and "default" in spec:
            value = json_decimal(spec["default"])
        if value is None:
            return None
        out[spec["name"]] = value
    return out


# -- explanation -----------------------------------------------------------------------------------------


def render_number(value: Any) -> str:
    """A JSON number as ``because`` renders answers: integral without ".0", else as JSON writes it."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else json.dumps(value)
    return str(value)


def render_decimal(value: Decimal) -> str:
    """An input's value as a plain number (integral without ".0")."""
    if value == value.to_integral_value():
        return str(int(value))
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def render_attribute(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return render_number(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _is_id(text: str, allow_dash: bool) -> bool:
    if not 1 <= len(text) <= 64 or not (text[0].isascii() and text[0].isalpha()):
        return False
    return all(_is_name_char(c) or (allow_dash and c == "-") for c in text)


def render_explanation(
    text: str, attributes: Mapping[str, Any], inputs: Mapping[str, Decimal], value: Decimal, decimals: int
) -> str:
    """``{plan.KEY}``, ``{NAME}`` and ``{estimate}`` substituted in one pass; other braces kept."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "{":
            close = text.find("}", i + 1)
            inner = text[i + 1 : close] if close != -1 else ""
            if close != -1 and inner.startswith("plan.") and _is_id(inner[5:], allow_dash=True):
                out.append(render_attribute(attributes.get(inner[5:])))
                i = close + 1
                continue
            if close != -1 and inner in inputs:
                out.append(render_decimal(inputs[inner]))
                i = close + 1
                continue
            if close != -1 and inner == "estimate":
                out.append(f"{value:.{decimals}f}")
                i = close + 1
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


# -- the whole estimate -----------------------------------------------------------------------------------


def oracle_estimates(
    bundle: Mapping[str, Any], answers: Mapping[str, Any], visible: Collection[str]
) -> dict[str, dict[str, Any]] | None:
    """Active plan id -> ``{"value": rounded Decimal, "json": wire value, "explanation"?: str}`` for
    plans with an estimate; None when an input is unknown."""
    estimate = bundle["estimate"]
    inputs = resolve_inputs(bundle, answers, visible)
    if inputs is None:
        return None
    decimals = estimate.get("decimals", 2)
    tree = parse(estimate["formula"])
    out: dict[str, dict[str, Any]] = {}
    for plan in bundle["plans"]:
        if not plan.get("active", True):
            continue
        raw = evaluate(tree, inputs, plan["attributes"])
        if raw is None:
            continue
        value = round_result(raw, decimals)
        entry: dict[str, Any] = {"value": value, "json": int(value) if decimals == 0 else float(value)}
        if "explanation" in estimate:
            entry["explanation"] = render_explanation(
                estimate["explanation"], plan["attributes"], inputs, value, decimals
            )
        out[plan["id"]] = entry
    return out


def value_of(
    bundle: Mapping[str, Any],
    formula: str,
    attributes: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Decimal] | None = None,
    decimals: int = 2,
) -> Decimal | None:
    """One formula's rounded value for one plan (unit tests)."""
    raw = evaluate(parse(formula), inputs or {}, attributes or {})
    return None if raw is None else round_result(raw, decimals)
