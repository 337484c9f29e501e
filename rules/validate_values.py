"""Value-vs-type checks: the operators each type takes, valueFrom pairings, values that fit an attribute."""

from __future__ import annotations

from .answers import is_number, list_values
from .model import JSON, Attribute
from .validate_report import MAX_LIST_ITEMS, MAX_TEXT_LENGTH

OPERATORS = (
    "==", "!=", "<", "<=", ">", ">=", "in", "not_in", "between",
    "contains", "contains_any", "contains_all", "exists", "not_exists",
)  # fmt: skip
NO_VALUE_OPS = ("exists", "not_exists")
LIST_OPS = ("in", "not_in", "contains_any", "contains_all")
EQUALITY_OPS = ("==", "!=", "in", "not_in")
_NUMBER_OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "between", *NO_VALUE_OPS)
_BOOLEAN_OPS = ("==", "!=", *NO_VALUE_OPS)
_TEXT_OPS = (*EQUALITY_OPS, *NO_VALUE_OPS)
_SET_OPS = ("contains", "contains_any", "contains_all", *NO_VALUE_OPS)
QUESTION_OPS = {
    "number": _NUMBER_OPS,
    "boolean": _BOOLEAN_OPS,
    "choice": _TEXT_OPS,
    "text": _TEXT_OPS,
    "multi": _SET_OPS,
}
ATTRIBUTE_OPS = {
    "number": _NUMBER_OPS,
    "boolean": _BOOLEAN_OPS,
    "enum": _TEXT_OPS,
    "text": _TEXT_OPS,
    "set": _SET_OPS,
}
FACT_OPS = _TEXT_OPS
POSITIVE_FACT_OPS = ("==", "in", "exists")
_EQ, _ORDER = ("==", "!="), ("==", "!=", "<", "<=", ">", ">=")
# (attribute type, question type) -> operators a valueFrom comparison may use (CATALOGUE.md).
VALUE_FROM_PAIRS: dict[tuple[str, str], tuple[str, ...]] = {
    ("number", "number"): _ORDER,
    ("enum", "choice"): _EQ,
    ("enum", "text"): _EQ,
    ("text", "choice"): _EQ,
    ("text", "text"): _EQ,
    ("enum", "multi"): ("in", "not_in"),
    ("text", "multi"): ("in", "not_in"),
    ("set", "choice"): ("contains",),
    ("set", "text"): ("contains",),
    ("set", "multi"): ("contains_any", "contains_all"),
    ("boolean", "boolean"): _EQ,
}


def is_flat(value: JSON) -> bool:
    """A scalar or a list of scalars (what an operand can be; anything deeper is malformed)."""
    if isinstance(value, list):
        return all(not isinstance(v, (list, dict)) for v in value)
    return not isinstance(value, dict)


def attribute_value_fits(attr: Attribute, value: object) -> bool:
    """Whether a plan may hold ``value`` for the attribute (and a condition compare with it)."""
    if attr.type == "number":
        return is_number(value)
    if attr.type == "boolean":
        return isinstance(value, bool)
    if attr.type == "enum":
        return isinstance(value, str) and value in attr.options
    if attr.type == "set":
        return (
            isinstance(value, list)
            and len(value) <= MAX_LIST_ITEMS
            and all(isinstance(v, str) and len(v) <= MAX_TEXT_LENGTH for v in value)
            and len(set(value)) == len(value)
        )
    return isinstance(value, str) and len(value) <= MAX_TEXT_LENGTH


def expected_attribute_value(attr: Attribute) -> str:
    """What an attribute holds, as the end of "... must be ..."."""
    if attr.type == "number":
        return "a number"
    if attr.type == "boolean":
        return "true or false"
    if attr.type == "enum":
        return f"one of its options: {list_values(attr.options)}"
    if attr.type == "set":
        return f"a list of different texts (at most {MAX_LIST_ITEMS})"
    return f"a text of at most {MAX_TEXT_LENGTH} characters"
