"""Simulator helpers: answers read from a form built from the questionnaire; draft vs live results."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict

from rules.answers import validate_answers
from rules.matcher import Matcher
from rules.model import Catalogue

from .answer_fields import read_value
from .estimates import Tools
from .scenarios import Simulation, enriched_simulation, simulate
from .web import control

PREFIX = "q_"


@dataclass(frozen=True)
class DistinctReason:
    """One reason text as a plan card shows it: the rules that gave it (each once), how many times."""

    text: str
    rules: tuple[str, ...]
    times: int


def distinct_reasons(reasons: Iterable[Mapping[str, Any]]) -> list[DistinctReason]:
    """Each distinct reason text once, where it first appears, with the rules that gave it.

    Texts are compared exactly (as rendered: placeholders already filled in). The customer card
    does the same in ``static/planwise-reasons.js``; both are tested against
    ``tests/fixtures/distinct-reasons.json``.
    """
    found: dict[str, tuple[list[str], list[int]]] = {}
    for reason in reasons:
        text, rule = reason.get("text"), reason.get("rule")
        if not isinstance(text, str):
            continue
        rules, times = found.setdefault(text, ([], [0]))
        times[0] += 1
        if isinstance(rule, str) and rule not in rules:
            rules.append(rule)
    return [DistinctReason(text, tuple(rules), times[0]) for text, (rules, times) in found.items()]


def read_answers(catalogue: Catalogue, args: MultiDict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Answers from the simulator form (``q_<id>`` fields); unreadable values as per-question errors.

    Each input is read as a test scenario's answer row is (admin/answer_fields.py); whether an
    answer fits is the service's validator's decision.
    """
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for q in catalogue.questions:
        name = PREFIX + q.id
        if q.type == "multi" and not (args.getlist(name) or args.get(name + "__set")):
            continue
        value, error = read_value(q, args.getlist(name))
        if error is not None:
            errors[q.id] = error
        elif value is not None:
            answers[q.id] = value
    clean, problems = validate_answers(catalogue, answers)
    for qid, message in problems:
        errors[qid] = message
        clean.pop(qid, None)
    return {k: v for k, v in clean.items() if v is not None}, errors


@dataclass
class Side:
    """One column of the simulator: a catalogue's result for the answers (or why there is none)."""

    label: str
    simulation: Simulation | None
    catalogue: Catalogue | None
    note: str = ""
    #: ``planExplanation`` of the plan asked about (PROTOCOL.md v1.1), as the service gives it.
    explanation: dict[str, Any] | None = None

    def explain(self, plan_id: str) -> None:
        """Why ``plan_id`` is shown, cut, excluded or inactive here (the service's own explanation)."""
        if self.simulation is None or self.catalogue is None or not plan_id:
            return
        sim = self.simulation
        found = Matcher(self.catalogue).explain(sim.evaluation, sim.answers, plan_id)
        self.explanation = (
            {"planId": plan_id, "status": "unknown"} if found is None else {"planId": plan_id, **found}
        )

    @property
    def ranks_by_estimate(self) -> bool:
        if self.catalogue is None or self.catalogue.estimate is None:
            return False
        return any(o.by == "estimate" for o in self.catalogue.ranking.order)

    def rule_name(self, rule_id: str) -> str:
        if self.catalogue is None:
            return rule_id
        rule = self.catalogue.rule_by_id.get(rule_id)
        return rule.name if rule is not None else rule_id


async def live_side(answers: dict[str, Any]) -> Side:
    """The live version, evaluated by the running service's own engine."""
    loaded = control().live_version()
    if loaded is None:
        return Side("Live", None, None, "Nothing is published yet.")
    clean, problems = validate_answers(loaded.catalogue, answers)
    clean = {k: v for k, v in clean.items() if v is not None}
    try:
        evaluation = await control().evaluate_live(loaded, clean)
        part = loaded.matcher.match(evaluation, clean)
        calc = loaded.estimate  # compiled once per version by the service
        tools = (
            Tools(loaded.catalogue, loaded.matcher, calc) if calc is not None else Tools.of(loaded.catalogue)
        )
        sim = enriched_simulation(tools, clean, evaluation, problems, part)
    except Exception:  # the engine restarting must not break the simulator: use the reference evaluator
        sim = await asyncio.to_thread(simulate, loaded.catalogue, clean, loaded.version)
        sim.answer_problems = problems
    return Side(f"Live (version {loaded.version})", sim, loaded.catalogue)
