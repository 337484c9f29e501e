"""The validator's limits, the problem report with the checks every part shares, and message helpers."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TypeGuard

from .answers import MAX_ABS_NUMBER, is_number, suggest
from .errors import Problem
from .model import JSON
from .placeholders import format_number

MAX_RULES = 2000
MAX_PLANS = 20000
MAX_QUESTIONS = 500
MAX_OPTIONS = 200  # per question, and per enum attribute
MAX_ATTRIBUTES = 200
MAX_EFFECTS_PER_RULE = 50
MAX_ORDER_KEYS = 20
MAX_RANKING_LIMIT = 1000
MAX_EXCLUDED_LIMIT = 1000
MAX_CONDITION_DEPTH = 16
MAX_CONDITION_NODES = 1000  # per condition (a rule's when, an askWhen, a plan condition)
MAX_LIST_ITEMS = 1000  # list operands and set attribute values
MAX_TEXT_LENGTH = 2000  # names, labels, texts, descriptions, because
MAX_VALUE_LENGTH = 64  # enum attribute options and derived fact values

# Fixed pattern of the id syntax (ids, keys, option values); never built from input.
ID_SYNTAX = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
ID_RULE = "use 1 to 64 letters, digits, '-' or '_', starting with a letter"


class Report:
    """The problems found so far, in the order they were found, and the checks every part shares."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        """Record one problem."""
        self.problems.append(Problem(path, message))

    def keys(
        self,
        obj: Mapping[str, JSON],
        path: str,
        required: Sequence[str],
        optional: Sequence[str] = (),
        misfit: Mapping[str, str] | None = None,
    ) -> bool:
        """Report unknown, misplaced (``misfit``) and missing keys; True when every required key is there."""
        allowed = set(required) | set(optional)
        for key in obj:
            if key in allowed:
                continue
            if misfit and key in misfit:
                self.add(at(path, key), misfit[key])
            else:
                self.add(at(path, key), f"Unknown key {quote(key)}{suggest(key, sorted(allowed))}")
        missing = [key for key in required if key not in obj]
        for key in missing:
            self.add(at(path, key), f"Missing required key '{key}'")
        return not missing

    def text(self, obj: Mapping[str, JSON], key: str, path: str, required: bool = False) -> None:
        """Check an optional or required free text (name, label, description...)."""
        if key not in obj:
            return
        value, where = obj[key], at(path, key)
        if not isinstance(value, str):
            self.add(where, f"'{key}' must be a text, not {describe(value)}")
        elif len(value) > MAX_TEXT_LENGTH:
            self.add(where, f"'{key}' is too long: at most {MAX_TEXT_LENGTH} characters")
        elif required and not value.strip():
            self.add(where, f"'{key}' must not be empty")

    def ident(self, value: object, path: str, kind: str) -> TypeGuard[str]:
        """Check the id syntax; ``kind`` names what the id is ("plan id", "fact key")."""
        if not isinstance(value, str):
            self.add(path, f"The {kind} must be a text, not {describe(value)}")
            return False
        if not is_id(value):
            self.add(path, f"{quote(value)} is not a valid {kind}: {ID_RULE}")
            return False
        return True

    def items(
        self, obj: Mapping[str, JSON], key: str, path: str, limit: int, hint: str = ""
    ) -> list[JSON] | None:
        """The list under ``key``, or None when it is absent or (reported) not a list."""
        if key not in obj:
            return None
        value = obj[key]
        if not isinstance(value, list):
            self.add(at(path, key), f"'{key}' must be a list, not {describe(value)}")
            return None
        if len(value) > limit:
            self.add(at(path, key), f"Too many {key}: at most {limit}{hint}")
        return value

    def unique(self, seen: dict[str, str], value: str, path: str, kind: str) -> bool:
        """Report a duplicate; True for the first occurrence."""
        if value in seen:
            self.add(path, f"Duplicate {kind} {quote(value)} (also at {seen[value]})")
            return False
        seen[value] = path
        return True


def at(path: str, key: object) -> str:
    """The path of ``key`` inside the object at ``path``."""
    name = key if isinstance(key, str) else "?"
    name = name if len(name) <= 100 else name[:100] + "..."
    return f"{path}.{name}" if path else name


def item(path: str, index: int) -> str:
    """The path of item ``index`` of the list at ``path``."""
    return f"{path}[{index}]"


def quote(value: object) -> str:
    """A text from the bundle as shown in a message: quoted, cut if long (other values: their type)."""
    if not isinstance(value, str):
        return describe(value)
    return "'" + (value if len(value) <= 64 else value[:64] + "...") + "'"


def describe(value: object) -> str:
    """The JSON type of a value in words (never its content, which may be huge)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "an unsupported value"


def not_one_of(what: str, value: object, choices: Sequence[str], hint: str = "") -> str:
    """Why ``value`` is not one of ``choices``, e.g. "Unknown operator 'contain' (did you mean ...)"."""
    if not isinstance(value, str):
        return f"The {what} must be one of {', '.join(choices)}, not {describe(value)}"
    hint = hint or suggest(value, choices)
    return f"Unknown {what} {quote(value)}{hint}; use one of {', '.join(choices)}"


def bad_number(name: str, value: object, kind: str = "a number") -> str:
    """Why ``value`` is not an acceptable number (``kind``: "a number", "an integer")."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            return f"{name} must be a finite number"
        if is_number(value):
            return f"{name} must be {kind}"
        limit = format_number(MAX_ABS_NUMBER)
        return f"{name} is out of range: numbers must be between -{limit} and {limit}"
    return f"{name} must be {kind}, not {describe(value)}"


def is_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` follows the id syntax."""
    return isinstance(value, str) and ID_SYNTAX.fullmatch(value) is not None
