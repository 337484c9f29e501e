"""The catalogue validator: every problem of a bundle, with its path and a message for product staff.

:mod:`rules.validate_shape` holds the shared checks and those of attributes, plans and ranking,
:mod:`rules.validate_logic` those of conditions; this module checks the questions and rules
themselves, runs everything, and adds the checks across the catalogue (facts tested but never
derived, placeholders, visibility cycles, the engine's limit on alternatives per rule).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from .answers import MAX_TEXT_ANSWER_LENGTH, is_integer, is_number, list_values, suggest
from .dnf import MAX_TERMS_PER_RULE, TooManyTerms, expand
from .durable_compiler import limit_problems
from .errors import CatalogueInvalid, Problem
from .model import JSON, Catalogue, Option, Question, parse_catalogue, parse_condition
from .placeholders import PLACEHOLDER, format_number
from .validate_logic import ConditionChecker, FactRef, Refs
from .validate_shape import (
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
    MAX_VALUE_LENGTH,
    EffectShape,
    Index,
    Report,
    RuleShape,
    ShapeChecker,
    at,
    bad_number,
    describe,
    item,
    not_one_of,
    quote,
)

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
QUESTION_TYPES = ("choice", "multi", "number", "boolean", "text")
EFFECT_KINDS = ("require", "exclude", "score", "derive")
# Keys that belong to some question types only.
_TYPED_KEYS: dict[str, tuple[str, ...]] = {
    "options": ("choice", "multi"),
    "min": ("number",),
    "max": ("number",),
    "step": ("number",),
    "unit": ("number",),
    "maxLength": ("text",),
}
_SECTIONS = ("format", "name", "description", "attributes", "plans", "questions", "rules", "ranking")
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
    _check_questions(report, index, data)
    _check_rules(report, index, data)
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
    return report.problems


def _check_questions(report: Report, index: Index, data: dict[str, JSON]) -> None:
    items = report.items(data, "questions", "", MAX_QUESTIONS)
    if items is None:
        return
    ids: set[str] = set()
    complete = True  # every id is known: only then is a reference "unknown"
    seen: dict[str, str] = {}
    for i, question in enumerate(items):
        path = item("questions", i)
        if not isinstance(question, dict):
            report.add(path, f"A question must be an object, not {describe(question)}")
            complete = False
            continue
        qid = question.get("id")
        if isinstance(qid, str):
            ids.add(qid)  # even a malformed id: references to it are not "unknown" on top
        else:
            complete = False
        id_ok = False
        if "id" in question and report.ident(qid, at(path, "id"), "question id"):
            id_ok = report.unique(seen, qid, at(path, "id"), "question id")
        built = _check_question(report, question, path)
        if "askWhen" in question:
            index.ask_whens.append((qid if id_ok else None, at(path, "askWhen"), question["askWhen"]))
        if id_ok and built is not None:
            index.questions[built.id] = built
    index.question_ids = ids if complete else None


def _check_question(report: Report, q: dict[str, JSON], path: str) -> Question | None:
    """Check a question's own fields; return its model (without askWhen) when its type is usable."""
    raw_kind = q.get("type")
    kind = raw_kind if isinstance(raw_kind, str) and raw_kind in QUESTION_TYPES else None
    if "type" in q and kind is None:
        report.add(at(path, "type"), not_one_of("question type", raw_kind, QUESTION_TYPES))
    required: tuple[str, ...] = ("id", "text", "type", *(("options",) if kind in ("choice", "multi") else ()))
    typed = (k for k, kinds in _TYPED_KEYS.items() if kind is None or kind in kinds)
    misfit = {k: f"'{k}' is only for {' and '.join(kinds)} questions" for k, kinds in _TYPED_KEYS.items()}
    report.keys(q, path, required, ("help", "askWhen", *typed), misfit)
    report.text(q, "text", path, required=True)
    report.text(q, "help", path)
    if kind == "number":
        report.text(q, "unit", path)
    if kind is None:
        return None
    usable = True
    options: tuple[Option, ...] = ()
    if kind in ("choice", "multi"):
        read = _check_options(report, q["options"], at(path, "options"), kind) if "options" in q else None
        usable = read is not None
        options = read or ()
    numbers: dict[str, int | float | None] = {"min": None, "max": None, "step": None}
    for key in numbers if kind == "number" else ():
        value = q.get(key)
        if key not in q:
            continue
        if is_number(value):
            numbers[key] = value
        else:
            report.add(at(path, key), bad_number(f"'{key}'", value))
            usable = False
    low, high, step = numbers["min"], numbers["max"], numbers["step"]
    if low is not None and high is not None and low > high:
        report.add(at(path, "max"), f"'max' ({format_number(high)}) is below 'min' ({format_number(low)})")
        usable = False
    if step is not None and step <= 0:
        report.add(at(path, "step"), "'step' must be greater than 0")
        usable = False
    length = q.get("maxLength")
    if (
        kind == "text"
        and "maxLength" in q
        and not (is_integer(length) and 1 <= length <= MAX_TEXT_ANSWER_LENGTH)
    ):
        report.add(
            at(path, "maxLength"), f"'maxLength' must be an integer from 1 to {MAX_TEXT_ANSWER_LENGTH}"
        )
        usable = False
    if not usable or not isinstance(q.get("id"), str):
        return None
    max_length = length if is_integer(length) else None
    return Question(q["id"], "", kind, options=options, min=low, max=high, step=step, max_length=max_length)


def _check_options(report: Report, options: JSON, path: str, kind: str) -> tuple[Option, ...] | None:
    """Question options; None when their values cannot be trusted for the condition checks."""
    if not isinstance(options, list):
        report.add(path, f"'options' must be a list of options, not {describe(options)}")
        return None
    if not options:
        report.add(path, f"A {kind} question needs at least one option")
        return None
    if len(options) > MAX_OPTIONS:
        report.add(path, f"Too many options: at most {MAX_OPTIONS} per question")
    ok = True
    seen: dict[str, str] = {}
    result: list[Option] = []
    for j, option in enumerate(options):
        where = item(path, j)
        if not isinstance(option, dict):
            report.add(where, f"An option must be an object with 'value' and 'label', not {describe(option)}")
            ok = False
            continue
        report.keys(option, where, ("value", "label"), ("help",))
        report.text(option, "label", where, required=True)
        report.text(option, "help", where)
        value = option.get("value")
        if "value" not in option or not report.ident(value, at(where, "value"), "option value"):
            ok = False
        elif report.unique(seen, value, at(where, "value"), "option value"):
            label = option.get("label")
            result.append(Option(value, label if isinstance(label, str) else ""))
    return tuple(result) if ok else None


def _check_rules(report: Report, index: Index, data: dict[str, JSON]) -> None:
    items = report.items(data, "rules", "", MAX_RULES, " per catalogue; split the catalogue into several")
    if items is None:
        return
    rules: list[RuleShape] = []
    seen: dict[str, str] = {}
    for i, rule in enumerate(items):
        path = item("rules", i)
        if not isinstance(rule, dict):
            report.add(path, f"A rule must be an object, not {describe(rule)}")
            index.rules_complete = False
            continue
        report.keys(rule, path, ("id", "name", "when", "then"), ("description", "priority", "enabled"))
        if "id" in rule and report.ident(rule["id"], at(path, "id"), "rule id"):
            report.unique(seen, rule["id"], at(path, "id"), "rule id")
        report.text(rule, "name", path, required=True)
        report.text(rule, "description", path)
        if "priority" in rule and not is_integer(rule["priority"]):
            report.add(at(path, "priority"), bad_number("'priority'", rule["priority"], "an integer"))
        if "enabled" in rule and not isinstance(rule["enabled"], bool):
            report.add(
                at(path, "enabled"), f"'enabled' must be true or false, not {describe(rule['enabled'])}"
            )
        shape = RuleShape(path, rule.get("enabled") is not False, rule.get("when"), "when" in rule)
        then = report.items(rule, "then", path, MAX_EFFECTS_PER_RULE, " per rule")
        if then == []:
            report.add(at(path, "then"), "A rule needs at least one effect in 'then'")
        shape.complete = then is not None or "then" not in rule
        for j, effect in enumerate(then or ()):
            _check_effect(report, index, effect, item(at(path, "then"), j), shape)
        rules.append(shape)
    index.rules = rules


def _check_effect(report: Report, index: Index, effect: JSON, path: str, shape: RuleShape) -> None:
    """Check one effect: exactly one kind, with the keys that kind takes."""
    if not isinstance(effect, dict):
        report.add(path, f"An effect must be an object, not {describe(effect)}")
        shape.complete = False
        return
    kinds = [k for k in EFFECT_KINDS if k in effect]
    if len(kinds) != 1:
        found = f"; this one has {' and '.join(map(quote, kinds))}" if kinds else ""
        report.add(path, f"An effect needs exactly one of 'require', 'exclude', 'score', 'derive'{found}")
        if not kinds:
            report.keys(effect, path, (), (*EFFECT_KINDS, "because", "where"))
        shape.complete = False
        return
    kind = kinds[0]
    where_misfit = {"where": "'where' is only for score effects"}
    if kind in ("require", "exclude"):
        report.keys(effect, path, (kind, "because"), (), where_misfit)
        report.text(effect, "because", path, required=True)
    elif kind == "score":
        report.keys(effect, path, ("score",), ("where", "because"))
        report.text(effect, "because", path)
        if not is_number(effect["score"]):
            report.add(at(path, "score"), bad_number("The score", effect["score"]))
    else:
        report.keys(
            effect, path, ("derive",), (), {**where_misfit, "because": "A derive effect has no 'because'"}
        )
        _check_derive(report, effect["derive"], at(path, "derive"), shape)
    if isinstance(effect.get("because"), str):
        index.becauses.append((at(path, "because"), effect["because"]))
    shape.effects.append(EffectShape(path, kind, effect))


def _check_derive(report: Report, derive: JSON, path: str, shape: RuleShape) -> None:
    if not isinstance(derive, dict):
        report.add(
            path, f'\'derive\' must be an object like {{"fact": KEY, "value": TEXT}}, not {describe(derive)}'
        )
        shape.complete = False
        return
    report.keys(derive, path, ("fact", "value"))
    key = derive.get("fact")
    if "fact" not in derive or not report.ident(key, at(path, "fact"), "fact key"):
        shape.complete = False
        return
    value = derive.get("value")
    valid = isinstance(value, str) and 1 <= len(value) <= MAX_VALUE_LENGTH
    if "value" in derive and not valid:
        report.add(at(path, "value"), f"A fact value must be a text of 1 to {MAX_VALUE_LENGTH} characters")
    shape.derives.append((key, value if valid else None))


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
