"""Answer validation: the strict typing of CATALOGUE.md "Types" applied to a userResponse's answers."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from fractions import Fraction
from typing import TypeGuard

from .model import JSON, Catalogue, Question
from .placeholders import format_number

MAX_TEXT_ANSWER_LENGTH = 500
# Numbers travel through the C engine as doubles: beyond 2**53 integers lose precision.
MAX_ABS_NUMBER = 1e15
# Option lists in messages are cut after this many values.
_LISTED_OPTIONS = 10


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite JSON number (``True`` is a boolean here, not 1) within the engine's range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return abs(value) <= MAX_ABS_NUMBER


def is_integer(value: object) -> TypeGuard[int]:
    """A JSON integer (not a boolean, not ``1.0``) within the engine's range."""
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_ABS_NUMBER


def _exact(value: int | float) -> Fraction:
    """The decimal a number was written as (``0.1`` is 1/10, not its binary approximation)."""
    return Fraction(value) if isinstance(value, int) else Fraction(repr(value))


def on_step(value: int | float, step: int | float, base: int | float | None) -> bool:
    """Whether ``value`` is ``base`` (0 without one) plus a whole number of ``step``s."""
    ratio = (_exact(value) - _exact(base or 0)) / _exact(step)
    return ratio.denominator == 1


def in_range(value: int | float, question: Question) -> bool:
    """Whether a number is within the question's ``min``/``max``."""
    low, high = question.min, question.max
    return (low is None or value >= low) and (high is None or value <= high)


def list_values(values: Sequence[str]) -> str:
    """Values for a message, cut after a few."""
    shown = ", ".join(values[:_LISTED_OPTIONS])
    return shown + (", ..." if len(values) > _LISTED_OPTIONS else "")


def suggest(word: object, candidates: Sequence[str]) -> str:
    """A " (did you mean 'x'?)" hint, or ""."""
    if not isinstance(word, str) or len(word) > 100 or len(candidates) > 5000:
        return ""
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def number_rule(question: Question, grid: bool = True) -> str:
    """What a number question accepts, e.g. "a number between 0 and 500 in steps of 5"."""
    low, high, step = question.min, question.max, question.step
    text = "a number"
    if low is not None and high is not None:
        text += f" between {format_number(low)} and {format_number(high)}"
    elif low is not None:
        text += f" of at least {format_number(low)}"
    elif high is not None:
        text += f" of at most {format_number(high)}"
    if grid and step is not None:
        text += f" in steps of {format_number(step)}"
        if low is not None and not on_step(low, step, 0):
            text += f" from {format_number(low)}"
    return text


def max_text_length(question: Question) -> int:
    """The longest text answer a question accepts, in code points."""
    return question.max_length if question.max_length is not None else MAX_TEXT_ANSWER_LENGTH


def expected_answer(question: Question) -> str:
    """What a question accepts, as the end of "Answer for 'x' must be ..."."""
    values = [o.value for o in question.options]
    if question.type == "choice":
        return f"one of: {list_values(values)}"
    if question.type == "multi":
        return f"a list of different values from: {list_values(values)}"
    if question.type == "number":
        return number_rule(question)
    if question.type == "boolean":
        return "true or false"
    return f"a text of at most {max_text_length(question)} characters"


def answer_fits(question: Question, value: object) -> bool:
    """Whether ``value`` is a valid (non-null) answer to ``question``."""
    kind = question.type
    if kind == "choice":
        return isinstance(value, str) and value in question.option_index()
    if kind == "multi":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return False
        index = question.option_index()
        return len(set(value)) == len(value) and all(v in index for v in value)
    if kind == "number":
        if not is_number(value) or not in_range(value, question):
            return False
        step = question.step
        return step is None or on_step(value, step, question.min)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str) and len(value) <= max_text_length(question)


def normalise_answer(question: Question, value: JSON) -> JSON:
    """A valid answer in its stored form: ``multi`` values in option order."""
    if question.type == "multi":
        index = question.option_index()
        return sorted(value, key=index.__getitem__)
    return value


def validate_answers(
    catalogue: Catalogue, answers: object, max_answers: int | None = None
) -> tuple[dict[str, JSON], list[tuple[str, str]]]:
    """Check a userResponse's answers (``None`` clears one); return them normalised and every problem.

    ``max_answers`` bounds how many one message may hold (the service checks its configured
    ``PLANWISE_MAX_ANSWERS`` at the boundary, before this; callers without one may pass it here).
    """
    if not isinstance(answers, dict):
        return {}, [("", "Answers must be an object mapping question ids to values")]
    if max_answers is not None and len(answers) > max_answers:
        return {}, [("", f"Too many answers: at most {max_answers} in one message")]
    normalised: dict[str, JSON] = {}
    problems: list[tuple[str, str]] = []
    questions = catalogue.question_by_id
    for qid, value in answers.items():
        if not isinstance(qid, str) or qid not in questions:
            shown = qid[:64] if isinstance(qid, str) else "?"
            problems.append((shown, f"Unknown question '{shown}'{suggest(qid, list(questions))}"))
            continue
        question = questions[qid]
        if value is None:
            normalised[qid] = None
        elif answer_fits(question, value):
            normalised[qid] = normalise_answer(question, value)
        else:
            problems.append((qid, f"Answer for '{qid}' must be {expected_answer(question)}"))
    return normalised, problems
