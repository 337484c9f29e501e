"""Simulation (draft or any bundle) and test scenarios: saved answers with expectations, pass/fail."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rules.answers import validate_answers
from rules.estimate import to_decimal
from rules.evaluation import Evaluation
from rules.model import Catalogue
from rules.reference import ReferenceEvaluator

from .estimates import Tools, match_enriched, show_value
from .models import Scenario

KINDS = {
    "shown": "is shown",
    "not_shown": "is not shown",
    "top": "is the top plan",
    "in_top": "is in the top N",
    "estimate_between": "has an estimate between A and B",
}


@dataclass
class Simulation:
    """What one answer set gives against one catalogue: the update part, fired rules, facts."""

    answers: dict[str, Any]
    evaluation: Evaluation
    part: dict[str, Any]
    answer_problems: list[tuple[str, str]] = field(default_factory=list)
    #: Every active plan's estimate (the enriched stage; empty without one), and why there is none.
    estimates: dict[str, Decimal] = field(default_factory=dict)
    estimate_note: str = ""
    #: The top plan before the estimate re-ranked the plans (the rules stage's top).
    rules_top: str | None = None
    #: Every plan id of the catalogue (inactive ones too): expectations naming others fail.
    plan_ids: frozenset[str] = frozenset()

    @property
    def ranked(self) -> list[str]:
        return [p["id"] for p in self.part["plans"]]

    @property
    def top(self) -> str | None:
        return self.ranked[0] if self.ranked else None


def enriched_simulation(
    tools: Tools,
    clean: dict[str, Any],
    evaluation: Evaluation,
    problems: list[tuple[str, str]],
    part: dict[str, Any] | None = None,
) -> Simulation:
    """A simulation as a person sees it after the enriched stage (estimates, re-ranked)."""
    result = match_enriched(tools, evaluation, clean, part)
    ids = frozenset(p.id for p in tools.catalogue.plans)
    return Simulation(
        clean, evaluation, result.part, problems, result.values, result.note, result.rules_top, ids
    )


def simulate(
    catalogue: Catalogue, answers: dict[str, Any], version: int = 0, tools: Tools | None = None
) -> Simulation:
    """Evaluate with the reference evaluator; answers that do not fit the catalogue are dropped.

    Pass ``tools`` (built once per catalogue) when simulating many answer sets.
    """
    clean, problems = validate_answers(catalogue, answers)
    clean = {k: v for k, v in clean.items() if v is not None}
    evaluation = ReferenceEvaluator(catalogue, version).evaluate(clean)
    return enriched_simulation(tools or Tools.of(catalogue), clean, evaluation, problems)


@dataclass
class Check:
    expectation: dict[str, Any]
    passed: bool
    detail: str


@dataclass
class ScenarioResult:
    scenario: Scenario
    checks: list[Check]
    simulation: Simulation

    @property
    def passed(self) -> bool:
        return not self.simulation.answer_problems and all(c.passed for c in self.checks)


def describe(expectation: dict[str, Any]) -> str:
    kind = expectation.get("kind", "")
    text = KINDS.get(kind, kind).replace("N", str(expectation.get("n", "N")))
    if kind == "estimate_between":
        text = text.replace("A", _bound(expectation.get("min"))).replace("B", _bound(expectation.get("max")))
    return f"plan {expectation.get('plan', '?')} {text}"


def _bound(value: Any) -> str:
    number = to_decimal(value)
    return "?" if number is None else format(number, "f")


def _check_estimate(expectation: dict[str, Any], sim: Simulation) -> Check:
    """Inclusive range: ``min`` <= the plan's estimate <= ``max``."""
    plan = expectation.get("plan")
    low, high = to_decimal(expectation.get("min")), to_decimal(expectation.get("max"))
    if low is None or high is None:
        return Check(expectation, False, "the expectation needs both bounds (A and B)")
    value = sim.estimates.get(plan) if isinstance(plan, str) else None
    if value is None:
        why = sim.estimate_note or "the plan has no estimate (inactive, or its formula gave no value)"
        return Check(expectation, False, f"{plan}: no estimate; {why}")
    return Check(expectation, low <= value <= high, f"{plan}: estimate {show_value(None, value)}")


def check(expectation: dict[str, Any], sim: Simulation) -> Check:
    plan, kind = expectation.get("plan"), expectation.get("kind")
    if sim.plan_ids and plan not in sim.plan_ids:
        return Check(expectation, False, f"there is no plan with the id {plan!r} in this catalogue")
    if kind == "estimate_between":
        return _check_estimate(expectation, sim)
    ranked = sim.ranked
    excluded = {e["id"]: e["reasons"] for e in sim.part["excluded"]}
    where = f"rank {ranked.index(plan) + 1}" if plan in ranked else None
    if where is None and plan in excluded:
        why = "; ".join(r["text"] for r in excluded[plan]) or "no reason given"
        where = f"excluded ({why})"
    elif where is None:
        where = "not in the list (inactive, unknown, or cut by the ranking limit)"
    if kind == "shown":
        passed = plan in ranked
    elif kind == "not_shown":
        passed = plan not in ranked
    elif kind == "top":
        passed = sim.top == plan
    elif kind == "in_top":
        n = expectation.get("n")
        passed = isinstance(n, int) and plan in ranked[:n]
    else:
        return Check(expectation, False, f"unknown expectation {kind!r}")
    top = ", ".join(ranked[:5]) or "no plans"
    return Check(expectation, passed, f"{plan}: {where}; top plans: {top}")


def run(scenario: Scenario, catalogue: Catalogue) -> ScenarioResult:
    answers = scenario.answers if isinstance(scenario.answers, dict) else {}
    sim = simulate(catalogue, answers)
    expectations = scenario.expectations if isinstance(scenario.expectations, list) else []
    return ScenarioResult(scenario, [check(e, sim) for e in expectations if isinstance(e, dict)], sim)


async def all_scenarios(db: AsyncSession) -> list[Scenario]:
    return list((await db.execute(select(Scenario).order_by(Scenario.name, Scenario.id))).scalars())


async def run_all(db: AsyncSession, catalogue: Catalogue) -> list[ScenarioResult]:
    return [run(s, catalogue) for s in await all_scenarios(db)]
