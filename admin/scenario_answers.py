"""A test scenario's answers as rows: a question picked from the questionnaire and its answer input.

Posted fields, one row each, indexed by position (gaps are accepted: the script removes rows in
the page): ``answers-N-question`` (the question's id), ``answers-N-value`` (one or, for a multi
question, several) and ``answers-N-for`` (the question the value inputs were made for: after
picking another question the row must be shown again with the inputs that fit it).

Buttons that change the form without saving post ``rows``: ``add`` (a row), ``remove-N`` (row N),
``refresh`` (the inputs after picking a question; the script presses it on change) and
``add-expectation``. The answers are checked by the service's own validator
(``rules.answers.validate_answers``): unknown question ids and option values are refused next to
their row in its words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from rules.answers import validate_answers
from rules.model import Catalogue, Question

from .answer_fields import raw_values, read_value

FIELD = re.compile(r"^answers-(\d{1,4})-(question|value|for)$")
MAX_ROWS = 200


@dataclass
class AnswerRow:
    """One answer row as posted (or loaded), with its problems."""

    question: str = ""
    values: list[str] = field(default_factory=list)
    made_for: str = ""
    errors: list[str] = field(default_factory=list)


def from_answers(answers: dict[str, Any], catalogue: Catalogue | None) -> list[AnswerRow]:
    """Rows for stored answers (questionnaire order first, then ids the catalogue does not have)."""
    questions = catalogue.question_by_id if catalogue is not None else {}
    order = {qid: i for i, qid in enumerate(questions)}
    ids = sorted(answers, key=lambda q: (order.get(q, len(order)), q))
    return [AnswerRow(q, raw_values(questions.get(q), answers[q]), q) for q in ids]


def read_rows(form: MultiDict[str, str]) -> list[AnswerRow]:
    """The posted rows in the order of their numbers."""
    numbers = sorted({int(m.group(1)) for key in form for m in [FIELD.match(key)] if m})[:MAX_ROWS]
    return [
        AnswerRow(
            (form.get(f"answers-{n}-question") or "").strip()[:64],
            [v[:1000] for v in form.getlist(f"answers-{n}-value")],
            (form.get(f"answers-{n}-for") or "").strip()[:64],
        )
        for n in numbers
    ]


def apply(rows: list[AnswerRow], action: str) -> list[AnswerRow]:
    """A button that changes the rows without saving."""
    if action == "add" and len(rows) < MAX_ROWS:
        return [*rows, AnswerRow()]
    if action.startswith("remove-") and action[7:].isdigit():
        index = int(action[7:])
        return [r for i, r in enumerate(rows) if i != index]
    return rows


def refresh(rows: list[AnswerRow]) -> None:
    """Rows whose question was changed get the inputs of the new question (their old value goes)."""
    for row in rows:
        if row.made_for != row.question:
            row.values, row.made_for = [], row.question


def read(rows: list[AnswerRow], catalogue: Catalogue) -> dict[str, Any] | None:
    """The answers of the rows, validated as the service validates a person's answers.

    Rows without a question are ignored. Problems go to their row's ``errors``; None when any row
    has one (nothing is saved then).
    """
    questions = catalogue.question_by_id
    answers: dict[str, Any] = {}
    owner: dict[str, AnswerRow] = {}
    for number, row in enumerate(rows, start=1):
        if not row.question:
            continue
        question = questions.get(row.question)
        if row.question in owner:
            row.errors.append(f"This question is already answered in another row: {label(question, row)}")
            continue
        owner[row.question] = row
        if question is not None and row.made_for != row.question:
            row.errors.append(f"Pick the answer to “{question.text}” (the question was changed)")
            refresh([row])
            continue
        value, error = read_value(question, row.values) if question is not None else (row.values, None)
        if error is not None:
            row.errors.append(error)
        elif value is None:
            row.errors.append(
                f"Give an answer to “{label(question, row)}” in row {number}, or remove the row"
            )
        else:
            answers[row.question] = value[0] if question is None and len(value) == 1 else value
    clean, problems = validate_answers(catalogue, answers)
    for qid, message in problems:
        target = owner.get(qid) or next((r for r in rows if r.question.startswith(qid)), None)
        if target is not None:
            target.errors.append(message)
    if any(row.errors for row in rows):
        return None
    return {qid: value for qid, value in clean.items() if value is not None}


def label(question: Question | None, row: AnswerRow) -> str:
    return question.text if question is not None else row.question
