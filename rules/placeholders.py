"""``because`` texts: ``{answers.QID}`` and ``{facts.KEY}`` substituted as plain text, in one pass."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .model import Catalogue

# A fixed pattern written by us (never by staff): exactly {answers.ID} or {facts.ID}.
PLACEHOLDER = re.compile(r"\{(answers|facts)\.([A-Za-z][A-Za-z0-9_-]{0,63})\}")


def format_number(value: int | float) -> str:
    """Integral numbers without ``.0``; others as the shortest decimal that reads back (as JSON)."""
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)  # the shortest text that reads back, as JSON writes finite floats
    return str(value)


def format_answer(catalogue: Catalogue, qid: str, value: Any) -> str:
    """An answer as a person reads it: option labels, yes/no, plain numbers."""
    question = catalogue.question_by_id.get(qid)
    if question is None:
        return ""
    if question.type == "choice":
        return next((o.label for o in question.options if o.value == value), "")
    if question.type == "multi":
        chosen = set(value)
        return ", ".join(o.label for o in question.options if o.value in chosen)
    if question.type == "boolean":
        return "yes" if value else "no"
    if question.type == "number":
        return format_number(value)
    return str(value)


def substitute(
    text: str, catalogue: Catalogue, answers: Mapping[str, Any], facts: Mapping[str, tuple[str, ...]]
) -> str:
    """Replace placeholders once; unanswered, hidden or underived values become ""."""
    if "{" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        kind, ident = match.group(1), match.group(2)
        if kind == "answers":
            if ident not in answers:
                return ""
            return format_answer(catalogue, ident, answers[ident])
        return ", ".join(sorted(facts.get(ident, ())))

    return PLACEHOLDER.sub(replace, text)
