"""The catalogue validator: every problem of a bundle, with its path and a message for product staff.

:mod:`rules.validate_report` holds the limits and the shared checks, :mod:`rules.validate_shape` those
of attributes, plans and ranking, :mod:`rules.validate_items` those of questions and rules,
:mod:`rules.validate_logic` (with :mod:`rules.validate_values`) those of conditions; this module runs
everything and adds the checks across the catalogue (facts tested but never derived, placeholders,
visibility cycles, the engine's limit on alternatives per rule).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from .answers import list_values, suggest
from .dnf import MAX_TERMS_PER_RULE, TooManyTerms, expand
from .durable_compiler import limit_problems
from .errors import CatalogueInvalid, Problem
from .model import Catalogue, parse_catalogue, parse_condition
from .placeholders import PLACEHOLDER
from .validate_estimate import check_display, check_estimate
from .validate_items import check_questions, check_rules
from .validate_logic import ConditionChecker, FactRef, Refs
from .validate_report import (
    MAX_ATTRIBUTES,
    MAX_CONDITION_DEPTH,
    MAX_CONDITION_NODES,
    MAX_EFFECTS_PER_RULE,
    MAX_LIST_ITEMS,
    MAX_OPTIONS,
    MAX_PLANS,
    MAX_QUESTIONS,
    MAX_RULES,
    MAX_TEXT_LENGTH,
    Report,
    at,
    describe,
    quote,
)
from .validate_shape import Index, RuleShape, ShapeChecker

__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_CONDITION_DEPTH",
    "MAX_CONDITION_NODES",
    "MAX_EFFECTS_PER_RULE",
    "MAX_LIST_ITEMS",
    "MAX_OPTIONS",
    "MAX_PLANS",
    "MAX_QUESTIONS",
    "MAX_RULES",
    "MAX_TERMS_PER_RULE",
    "MAX_TEXT_LENGTH",
    "load_catalogue",
    "validate_bundle",
]

log = logging.getLogger(__name__)

INTERNAL_ERROR = "The catalogue could not be checked because of an error in the validator; please report it"
_SECTIONS = (
    "format",
    "name",
    "description",
    "attributes",
    "plans",
    "questions",
    "rules",
    "ranking",
    "estimate",
    "display",
)
_Node = tuple[str, str]  # ("q", question id) or ("f", fact key)


def validate_bundle(data: object) -> list[Problem]:
    """Every problem of a bundle (``[]`` when it is valid); never raises, whatever ``data`` is."""
    try:
        problems = _ordered(_validate(data))
        if not problems and isinstance(data, dict):
            # The durable-rules engine's own limits, found by compiling: never at run time.
            problems = limit_problems(parse_catalogue(data))
        return problems
    except Exception:  # the promise is "never raises": a bug here must not become a 500
        log.exception("validator failed")
        return [Problem("", INTERNAL_ERROR)]


def load_catalogue(data: object) -> Catalogue:
    """The catalogue model of a valid bundle; raises :class:`CatalogueInvalid` listing every problem."""
    problems = validate_bundle(data)
    if problems or not isinstance(data, dict):
        raise CatalogueInvalid(problems)
    return parse_catalogue(data)


@dataclass
class _Rule:
    shape: RuleShape
    when: Refs | None


def _validate(data: object) -> list[Problem]:
    report = Report()
    if not isinstance(data, dict):
        report.add("", f"The bundle must be a JSON object, not {describe(data)}")
        return report.problems
    index = ShapeChecker(report).check(data)
    check_questions(report, index, data)
    check_rules(report, index, data)
    checker = ConditionChecker(report, index)
    asks = [(qid, path, checker.condition(cond, path, in_when=False)) for qid, path, cond in index.ask_whens]
    rules: list[_Rule] = []
    for shape in index.rules or ():
        when = checker.condition(shape.when, at(shape.path, "when"), in_when=True) if shape.has_when else None
        for effect in shape.effects:
            if effect.kind in ("require", "exclude"):
                checker.plan_condition(effect.data[effect.kind], at(effect.path, effect.kind))
            elif effect.kind == "score" and "where" in effect.data:
                checker.plan_condition(effect.data["where"], at(effect.path, "where"))
        rules.append(_Rule(shape, when))
    derived = _derived(index)
    fact_refs = [f for _, _, refs in asks for f in refs.facts]
    fact_refs += [f for rule in rules if rule.when is not None for f in rule.when.facts]
    _check_facts(report, derived, fact_refs)
    _check_placeholders(report, index, derived)
    _check_cycles(report, asks, rules)
    _check_terms(report, rules)
    check_estimate(report, index, data)
    check_display(report, index, data)
    return report.problems


@dataclass(frozen=True)
class _Derived:
    """The facts the rules derive, and how far that is known despite broken effects."""

    values: dict[str, set[str]]  # by fact key
    complete: bool  # every derive effect could be read: a key not in ``values`` is never derived
    sure: set[str]  # the keys whose values are all known


def _derived(index: Index) -> _Derived:
    """What the rules derive."""
    derived: dict[str, set[str]] = {}
    unsure: set[str] = set()
    for shape in index.rules or ():
        for key, value in shape.derives:
            derived.setdefault(key, set())
            if value is None:
                unsure.add(key)
            else:
                derived[key].add(value)
    complete = index.rules is not None and index.rules_complete and all(r.complete for r in index.rules)
    return _Derived(derived, complete, set(derived) - unsure if complete else set())


def _check_facts(report: Report, derived: _Derived, refs: list[FactRef]) -> None:
    """Every fact tested is derived by some rule, and with the values tested by == and in."""
    keys = sorted(derived.values)
    for ref in refs:
        if ref.key not in derived.values:
            if derived.complete:
                message = f"Fact {quote(ref.key)} is never derived by any rule{suggest(ref.key, keys)}"
                report.add(at(ref.path, "fact"), message)
        elif ref.op in ("==", "in") and ref.key in derived.sure:
            values = sorted(derived.values[ref.key])
            for value, path in ref.values:
                if value not in derived.values[ref.key]:
                    hint = suggest(value, values) or f" (derived values: {list_values(values)})"
                    report.add(
                        path, f"No rule derives the fact {quote(ref.key)} with the value {quote(value)}{hint}"
                    )


def _check_placeholders(report: Report, index: Index, derived: _Derived) -> None:
    """``{answers.ID}`` names an existing question and ``{facts.ID}`` a derived fact."""
    known = index.question_ids
    for path, text in index.becauses:
        for match in PLACEHOLDER.finditer(text):
            kind, ident = match.group(1), match.group(2)
            if kind == "answers" and known is not None and ident not in known:
                hint = suggest(ident, sorted(known))
                report.add(path, f"The placeholder {{answers.{ident}}} names an unknown question{hint}")
            elif kind == "facts" and derived.complete and ident not in derived.values:
                hint = suggest(ident, sorted(derived.values))
                report.add(path, f"The placeholder {{facts.{ident}}} names a fact no rule derives{hint}")


def _check_cycles(report: Report, asks: list[tuple[str | None, str, Refs]], rules: list[_Rule]) -> None:
    """A question's visibility must not depend, through answers, rules and facts, on its own answer."""
    edges: dict[_Node, set[_Node]] = {}
    for rule in rules:
        if rule.shape.enabled and rule.when is not None:
            targets = _targets(rule.when)
            for key, _ in rule.shape.derives:
                edges.setdefault(("f", key), set()).update(targets)
    for qid, _, refs in asks:
        if qid is not None:
            edges[("q", qid)] = _targets(refs)
    reported: set[frozenset[_Node]] = set()
    for qid, path, _ in asks:
        cycle = _cycle(("q", qid), edges) if qid is not None else None
        if cycle and frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            names = " -> ".join(name for _, name in cycle)
            report.add(
                path,
                f"Visibility cycle: {names}; whether a question is shown cannot depend on its own answer",
            )


def _targets(refs: Refs) -> set[_Node]:
    """The questions and facts a condition depends on."""
    return {("q", q) for q in refs.questions} | {("f", f.key) for f in refs.facts}


def _cycle(start: _Node, edges: dict[_Node, set[_Node]]) -> list[_Node] | None:
    """The shortest path from ``start`` back to itself (both ends included), or None."""
    parent: dict[_Node, _Node] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return None


def _check_terms(report: Report, rules: list[_Rule]) -> None:
    """Each rule's ``when`` expands to at most MAX_TERMS_PER_RULE alternatives for the engine."""
    for rule in rules:
        if rule.when is None or rule.when.malformed:
            continue
        try:
            expand(parse_condition(rule.shape.when))
        except TooManyTerms:
            report.add(
                at(rule.shape.path, "when"),
                f"This condition has more than {MAX_TERMS_PER_RULE} alternatives (every 'any' containing "
                "fact tests multiplies them); split the rule into several rules",
            )
        except ValueError:
            continue  # a fact under 'not': already reported


def _ordered(problems: list[Problem]) -> list[Problem]:
    """Problems grouped by bundle part and item (in bundle order), duplicates dropped."""

    def key(problem: Problem) -> tuple[int, int]:
        head = problem.path.split(".", 1)[0]
        name, _, rest = head.partition("[")
        rank = _SECTIONS.index(name) if name in _SECTIONS else len(_SECTIONS)
        number = rest[:-1]
        return (rank if problem.path else -1, int(number) if number.isascii() and number.isdigit() else -1)

    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=key)
