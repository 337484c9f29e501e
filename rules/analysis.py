"""Rule analysis: warnings about a valid catalogue's rules that never block anything.

- **overlap** / **gap**: rules that derive different values of one fact from ranges of one number
  question (``usageBand = medium`` when ``annualUsage`` is 2,000 to 4,900) whose ranges overlap, or
  leave values of the question's ``min``..``max`` (respecting ``step``) where no value is derived;
- **duplicate**: two rules whose ``score`` effects score the same plans for the same reason (a near
  identical ``because``, or no ``because`` and the same points) and can fire together;
- **unsatisfiable**: rules whose ``when`` can never hold (contradicting tests, a value outside the
  question's range or options, a fact value nothing that can fire derives);
- **never fired**: :func:`never_fired` replays answer sets and names enabled rules none of them fired.

Pure catalogue logic (no I/O). Number reasoning is exact (fractions), see :mod:`rules.analysis_spans`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import combinations
from typing import Any

from .analysis_spans import Domain, Span, describe, has_value, intersect, points, span_of, uncovered, union
from .conditions import compile_condition, compile_plan_condition
from .model import (
    All,
    AnswerTest,
    AnyOf,
    AttrTest,
    Catalogue,
    Condition,
    Derive,
    FactTest,
    Not,
    Question,
    Rule,
    Score,
)
from .reference import ReferenceEvaluator

MAX_TERMS = 256  # a condition with more alternatives is assumed satisfiable (not analysed)
MAX_MULTI_OPTIONS = 12
SIMILAR = 0.8  # two reasons at least this similar (difflib ratio, normalised text) are "the same"


@dataclass(frozen=True)
class Finding:
    """One warning: its kind, the rules concerned (ids) and a sentence for people."""

    kind: str  # "overlap" | "gap" | "duplicate" | "unsatisfiable" | "never_fired"
    rules: tuple[str, ...]
    message: str


def analyse(catalogue: Catalogue) -> list[Finding]:
    """Every warning about the catalogue's enabled rules (never-fired needs sessions: see below)."""
    rules = [r for r in catalogue.rules if r.enabled]
    derivable, dead = _satisfiable(rules, catalogue)
    found = [f for r in rules if r.id in dead for f in [dead[r.id]]]
    found += _ranges(rules, catalogue, dead)
    found += _duplicates(rules, catalogue, derivable, dead)
    return found


def never_fired(catalogue: Catalogue, answer_sets: Iterable[Mapping[str, Any]]) -> tuple[int, list[str]]:
    """(number of answer sets replayed, ids of enabled rules that fired for none of them)."""
    evaluator = ReferenceEvaluator(catalogue)
    fired: set[str] = set()
    count = 0
    for answers in answer_sets:
        count += 1
        fired.update(evaluator.evaluate(answers).fired)
    return count, [r.id for r in catalogue.rules if r.enabled and r.id not in fired]


# -- conditions as alternatives of literals ----------------------------------------------------

# A literal: (negated, test). A negated answer test means "answered, and the test fails".
Literal = tuple[bool, AnswerTest | FactTest]
Term = tuple[Literal, ...]
_FLIP = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">", "in": "not_in", "not_in": "in"}


class _TooBig(Exception):
    pass


def terms(cond: Condition, negate: bool = False) -> list[Term]:
    """``cond`` as alternatives (each a conjunction of literals); ``not`` pushed down to the tests."""
    if isinstance(cond, Not):
        return terms(cond.item, not negate)
    if isinstance(cond, (All, AnyOf)):
        conjunction = isinstance(cond, All) != negate
        parts = [terms(c, negate) for c in cond.items]
        if not conjunction:
            out = [t for p in parts for t in p]
        else:
            out = [()]
            for p in parts:
                out = [a + b for a in out for b in p]
                if len(out) > MAX_TERMS:
                    raise _TooBig
        if len(out) > MAX_TERMS:
            raise _TooBig
        return out
    if not negate:
        return [((False, cond),)]
    if isinstance(cond, FactTest):
        return [((True, cond),)]
    # not(test) on an answer: unanswered, or answered and failing the test.
    missing = AnswerTest(cond.answer, "not_exists")
    if cond.op == "exists":
        return [((False, missing),)]
    if cond.op == "not_exists":
        return [((False, AnswerTest(cond.answer, "exists")),)]
    if cond.op in _FLIP:
        return [((False, missing),), ((False, AnswerTest(cond.answer, _FLIP[cond.op], cond.value)),)]
    if cond.op == "between":
        low, high = cond.value
        below, above = AnswerTest(cond.answer, "<", low), AnswerTest(cond.answer, ">", high)
        return [((False, missing),), ((False, below),), ((False, above),)]
    return [((False, missing),), ((True, cond),)]


def contradiction(term: Term, catalogue: Catalogue, derivable: set[tuple[str, str]]) -> str | None:
    """Why a conjunction can never hold, or None when some answers (and fact values) satisfy it."""
    by_question: dict[str, list[Literal]] = {}
    for negated, test in term:
        if isinstance(test, FactTest):
            if negated:
                continue
            values = [v for f, v in derivable if f == test.fact]
            wanted = {test.value} if test.op == "==" else set(test.value) if test.op == "in" else set(values)
            if not wanted & set(values):
                shown = " or ".join(sorted(map(str, wanted))) or "any value"
                return f"it needs the fact {test.fact} = {shown}, which no rule that can fire derives"
            continue
        by_question.setdefault(test.answer, []).append((negated, test))
    for qid, literals in by_question.items():
        question = catalogue.question_by_id.get(qid)
        if question is not None:
            why = _question_contradiction(question, literals)
            if why:
                return why
    return None


def _question_contradiction(question: Question, literals: list[Literal]) -> str | None:
    ops = {t.op for n, t in literals if not n}
    if "not_exists" in ops and (len(ops) > 1 or any(n for n, _ in literals)):
        return f"it tests {question.id} both unanswered and answered"
    tests = [t for n, t in literals if not n and t.op not in ("exists", "not_exists")]
    if question.type == "number":
        domain = Domain.of(question)
        spans: list[Span] = [Span.everything()]
        for t in tests:
            spans = intersect(spans, span_of(t.op, t.value))
        if not has_value(spans, domain):
            return f"no answer to {question.id} passes all of its tests ({domain.words()})"
        return None
    if question.type in ("choice", "boolean"):
        allowed: set[Any] = (
            {o.value for o in question.options} if question.type == "choice" else {True, False}
        )
        for t in tests:
            if t.op == "==":
                allowed &= {t.value}
            elif t.op == "in":
                allowed &= set(t.value)
            elif t.op == "!=":
                allowed -= {t.value}
            elif t.op == "not_in":
                allowed -= set(t.value)
        return None if allowed else f"no answer to {question.id} passes all of its tests"
    if question.type == "multi":
        return _multi_contradiction(question, literals)
    equal = {t.value for t in tests if t.op == "=="}
    other = {t.value for t in tests if t.op == "!="} | {v for t in tests if t.op == "not_in" for v in t.value}
    if len(equal) > 1 or equal & other:
        return f"no answer to {question.id} passes all of its tests"
    for t in tests:
        if t.op == "in" and equal and not equal & set(t.value):
            return f"no answer to {question.id} passes all of its tests"
    return None


def _multi_contradiction(question: Question, literals: list[Literal]) -> str | None:
    """Try every set of options (questions with at most 12 options; larger ones are not analysed)."""
    options = [o.value for o in question.options]
    if len(options) > MAX_MULTI_OPTIONS:
        return None
    checks = [(n, compile_condition(t)) for n, t in literals if t.op not in ("exists", "not_exists")]
    for size in range(len(options) + 1):
        for chosen in combinations(options, size):
            answers = {question.id: list(chosen)}
            if all(check(answers, {}) != negated for negated, check in checks):
                return None
    return f"no answer to {question.id} passes all of its tests"


def _why_never(rule: Rule, catalogue: Catalogue, derivable: set[tuple[str, str]]) -> str | None:
    """Why ``rule`` can never fire given the derivable facts, or None (it can, or it is too big to tell)."""
    try:
        alternatives = terms(rule.when)
    except _TooBig:
        return None
    if not alternatives:
        return "its condition is an empty “any of”, which never holds"
    reasons = [contradiction(t, catalogue, derivable) for t in alternatives]
    if all(reasons):
        return (
            str(reasons[0])
            if len(set(reasons)) == 1
            else "every alternative of its condition contradicts itself"
        )
    return None


def _satisfiable(rules: list[Rule], catalogue: Catalogue) -> tuple[set[tuple[str, str]], dict[str, Finding]]:
    """The facts rules that can fire derive (a fixpoint), and a finding per rule that never can."""
    derivable: set[tuple[str, str]] = set()
    live: set[str] = set()
    changed = True
    while changed:
        changed = False
        for rule in rules:
            if rule.id not in live and _why_never(rule, catalogue, derivable) is None:
                live.add(rule.id)
                derivable |= {(e.fact, e.value) for e in rule.then if isinstance(e, Derive)}
                changed = True
    dead = {}
    for rule in rules:
        if rule.id not in live:
            why = _why_never(rule, catalogue, derivable) or "its condition never holds"
            dead[rule.id] = Finding("unsatisfiable", (rule.id,), f"Rule {rule.id} can never fire: {why}.")
    return derivable, dead


# -- number ranges of rules deriving one fact --------------------------------------------------


def ranges_of(cond: Condition, catalogue: Catalogue) -> tuple[str, list[Span]] | None:
    """(question, spans) when ``cond`` only tests one number question; else None."""
    if isinstance(cond, AnswerTest):
        question = catalogue.question_by_id.get(cond.answer)
        if question is None or question.type != "number" or cond.op == "not_exists":
            return None
        return cond.answer, [Span.everything()] if cond.op == "exists" else span_of(cond.op, cond.value)
    if isinstance(cond, (All, AnyOf)) and cond.items:
        parts = [ranges_of(c, catalogue) for c in cond.items]
        if any(p is None for p in parts) or len({p[0] for p in parts if p}) != 1:
            return None
        spans = [p[1] for p in parts if p]
        merged = spans[0]
        for more in spans[1:]:
            merged = intersect(merged, more) if isinstance(cond, All) else union(merged + more)
        return parts[0][0] if parts[0] else "", merged
    return None


def _ranges(rules: list[Rule], catalogue: Catalogue, dead: dict[str, Finding]) -> list[Finding]:
    groups: dict[tuple[str, str], list[tuple[Rule, str, list[Span]]]] = {}
    for rule in rules:
        found = ranges_of(rule.when, catalogue) if rule.id not in dead else None
        if found is None:
            continue
        for effect in rule.then:
            if isinstance(effect, Derive):
                groups.setdefault((effect.fact, found[0]), []).append((rule, effect.value, found[1]))
    out: list[Finding] = []
    for (fact, qid), members in groups.items():
        if len({value for _, value, _ in members}) < 2:
            continue
        question = catalogue.question_by_id[qid]
        domain = Domain.of(question)
        for (r1, v1, s1), (r2, v2, s2) in combinations(members, 2):
            both = intersect(s1, s2)
            if v1 != v2 and has_value(both, domain):
                where = describe(both, domain)
                message = (
                    f"Rules {r1.id} ({fact} = {v1}) and {r2.id} ({fact} = {v2}) overlap: "
                    f"when {qid} is {where}, {fact} is both."
                )
                out.append(Finding("overlap", (r1.id, r2.id), message))
        for gap in uncovered(union([s for _, _, ss in members for s in ss]), domain):
            ids = tuple(r.id for r, _, _ in members)
            message = (
                f"Gap: when {qid} is {describe([gap], domain)}, none of the rules "
                f"{', '.join(ids)} derives {fact} ({question.id} allows {domain.words()})."
            )
            out.append(Finding("gap", ids, message))
    return out


# -- duplicate scores --------------------------------------------------------------------------


def _plans_key(where: Any, catalogue: Catalogue) -> str:
    """Which plans a ``where`` scores: their ids, or (when it compares with answers) its JSON."""
    if where is None:
        return "all:" + ",".join(p.id for p in catalogue.active_plans)
    if _uses_answers(where):
        return "json:" + repr(where)
    check = compile_plan_condition(where)
    return "ids:" + ",".join(p.id for p in catalogue.active_plans if check(p.attributes, {}))


def _uses_answers(cond: Any) -> bool:
    if isinstance(cond, AttrTest):
        return cond.value_from is not None
    if isinstance(cond, Not):
        return _uses_answers(cond.item)
    return any(_uses_answers(c) for c in cond.items)


def normalise(text: str | None) -> str:
    """A reason for comparison: lower case, placeholders as ``{}``, only letters, digits and spaces."""
    text = re.sub(r"\{[^{}]*\}", "{}", (text or "").lower())
    return " ".join(re.sub(r"[^\w{}]+", " ", text).split())


def _same_reason(a: Score, b: Score) -> bool:
    if not a.because and not b.because:
        return a.points == b.points
    if not a.because or not b.because:
        return False
    x, y = normalise(a.because), normalise(b.because)
    return x == y or SequenceMatcher(None, x, y).ratio() >= SIMILAR


def _duplicates(
    rules: list[Rule], catalogue: Catalogue, derivable: set[tuple[str, str]], dead: dict[str, Finding]
) -> list[Finding]:
    scores = [
        (rule, effect, _plans_key(effect.where, catalogue))
        for rule in rules
        if rule.id not in dead
        for effect in rule.then
        if isinstance(effect, Score)
    ]
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for (r1, e1, k1), (r2, e2, k2) in combinations(scores, 2):
        if r1.id == r2.id or k1 != k2 or (r1.id, r2.id) in seen or not _same_reason(e1, e2):
            continue
        together = Rule("both", "", All((r1.when, r2.when)), ())
        if _why_never(together, catalogue, derivable) is not None:
            continue  # they never fire for the same person
        seen.add((r1.id, r2.id))
        count = len(k1.split(":", 1)[1].split(",")) if k1.startswith(("ids:", "all:")) and k1[4:] else 0
        plans = f"the same {count} plan(s)" if not k1.startswith("json:") else "the same plans"
        reason = f"“{e1.because}” / “{e2.because}”" if e1.because else f"{e1.points} points, no reason"
        message = (
            f"Rules {r1.id} and {r2.id} both score {plans} for the same reason ({reason}): "
            "a person for whom both fire sees it twice."
        )
        out.append(Finding("duplicate", (r1.id, r2.id), message))
    return out


__all__ = ["Finding", "analyse", "never_fired", "normalise", "points", "ranges_of", "terms"]
