"""One answer input per question type, shared by the simulator and the test scenarios' answer rows.

The page side is the macro ``answer_input`` in ``templates/admin/_answer_input.html`` (options as
radio buttons or a select, checkboxes for a multi question, yes/no, a number with its range, a
text); this side turns the posted strings into an answer (:func:`read_value`) and an answer back
into the strings the inputs show (:func:`raw_values`). Whether an answer fits its question is
decided by the service's own validator (``rules.answers.validate_answers``), never here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rules.answers import number_rule
from rules.model import Question

from .forms_catalogue import parse_number, show_number


def read_value(question: Question, raws: Sequence[str]) -> tuple[Any, str | None]:
    """The answer the inputs give (None: no answer), or a message when a number cannot be read.

    A multi question's answer is the list of ticked values (possibly empty); the others take the
    first non-empty string. Values are not checked against the options here.
    """
    if question.type == "multi":
        return [v for v in raws if v], None
    raw = next((r.strip() for r in raws if r.strip()), "")
    if not raw:
        return None, None
    if question.type == "number":
        number = parse_number(raw)
        return (None, f"“{raw}” is not a number") if number is None else (number, None)
    if question.type == "boolean":
        return raw == "true", None
    return raw, None


def raw_values(question: Question | None, value: Any) -> list[str]:
    """The strings the inputs show for an answer (the inverse of :func:`read_value`)."""
    if value is None:
        return []
    if isinstance(value, list):
        return [show_value(v) for v in value]
    if isinstance(value, bool) or (question is not None and question.type == "boolean"):
        return ["true" if value is True else "false" if value is False else show_value(value)]
    return [show_value(value)]


def show_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return show_number(value) if isinstance(value, (int, float)) else str(value)


def accepts(question: Question) -> str:
    """What a number question accepts, for the help next to its input ("a number between 0 and 500")."""
    return number_rule(question) if question.type == "number" else ""
