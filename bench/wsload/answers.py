"""Varied, valid answers to the demo questionnaire and one person's run through it."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import orjson

TEXT_POOL = (
    "Please call me in the evening",
    "I mostly use WhatsApp",
    "Need a plan for my kid",
    "Moving abroad next year",
    "Current contract ends in March",
    "",
)


def number_value(question: dict[str, Any], rng: random.Random) -> int | float:
    """A number within min/max on the step grid (from min); 60% of the time a 'round' one."""
    step = Decimal(repr(question.get("step") or 1))
    low = Decimal(repr(question["min"])) if question.get("min") is not None else Decimal(0)
    high = Decimal(repr(question["max"])) if question.get("max") is not None else low + 100 * step
    steps = int((high - low) / step)
    k = rng.randrange(0, steps + 1, max(1, steps // 20)) if rng.random() < 0.6 else rng.randint(0, steps)
    value = low + k * step
    return int(value) if value == value.to_integral_value() else float(str(value))


def answer_value(question: dict[str, Any], rng: random.Random) -> Any:
    """A valid, varied answer to one question of the ``questionnaire`` event."""
    kind = question["type"]
    options = [o["value"] for o in question.get("options", [])]
    if kind == "choice":
        return rng.choice(options)
    if kind == "multi":
        chosen = set(rng.sample(options, min(len(options), rng.choice((0, 1, 1, 2, 2, 3)))))
        return [o for o in options if o in chosen]  # option order, as the server stores it
    if kind == "number":
        return number_value(question, rng)
    if kind == "boolean":
        return rng.random() < 0.5
    return rng.choice(TEXT_POOL)[: int(question.get("maxLength") or 500)]


class Journey:
    """One person's run through the questionnaire, a question at a time, then starting over.

    Hidden questions (per the last update) are skipped, 15% of visible ones too; after the last
    question one ``userResponse`` clears every answer and the next run begins.
    """

    def __init__(self, questions: list[dict[str, Any]], rng: random.Random) -> None:
        self.questions = questions
        self.rng = rng
        self.answers: dict[str, Any] = {}
        self.hidden: set[str] = set()
        self.position = 0

    def next_answers(self) -> dict[str, Any]:
        for _ in range(len(self.questions)):
            if self.position >= len(self.questions):
                break
            question = self.questions[self.position]
            self.position += 1
            if question["id"] in self.hidden or self.rng.random() < 0.15:
                continue
            value = answer_value(question, self.rng)
            self.answers[question["id"]] = value
            return {question["id"]: value}
        self.position = 0
        cleared = {qid: None for qid in self.answers} or {self.questions[0]["id"]: None}
        self.answers = {}
        return cleared

    def state_key(self) -> int:
        return hash(orjson.dumps(self.answers, option=orjson.OPT_SORT_KEYS))


# -- client process ----------------------------------------------------------------------------------
