"""Compile a catalogue into durable-rules ruleset definitions (pure: no durable import).

Facts asserted per evaluation session (see :mod:`rules.durable_expr` for the answers fields):

- ``{"t": "answers", ...}``: one fact with the visible answers;
- ``{"t": "fact", "k": key, "v": value, "src": rule id}``: a derived fact (the provenance keeps
  durable from rejecting it as a duplicate; the engine asserts each key/value once).

Each enabled rule's ``when`` is expanded into terms (:func:`rules.dnf.expand`); each term is a
durable rule: the answers pattern plus one pattern per derived fact it needs. Identical terms
(same compiled patterns) across rules are one durable rule standing for all of them, so no two
durable rules share a condition. Durable rules are packed into rulesets ("chunks") that stay
inside the C engine's limits (:mod:`rules.durable_alpha`); every chunk also holds ``begin``
(fires on the answers fact, so a session always has a fired rule and ``delete_state`` is safe)
and ``sink`` (its first pattern matches every fact and it never fires, so no fact is rejected).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any

from .dnf import Term, TooManyTerms, expand
from .durable_alpha import DURABLE_STACK, AlphaTree, property_hash
from .durable_expr import (
    FALSE,
    AnswerCompiler,
    Const,
    Expr,
    FactPlan,
    Leaf,
    Or,
    answers_pattern,
    fact_pattern,
    operator_count,
    to_json,
)
from .errors import EngineError, Problem
from .model import Catalogue, Derive, FactTest

DEFAULT_CHUNK_RULES = 150  # field notes: error 303 from ~220 rules, so stay well below
DEFAULT_MAX_STACK = 56  # of durable's 64-node evaluation stack: margin for what the model misses
MAX_OPERATORS = 15  # durable keeps 31 and/or markers per pattern (error 113 beyond)
MAX_FACT_FIELDS = 240  # durable rejects a fact with more than 253 properties (error 302)
MAX_ALTERNATIVES = 64  # durable rules one catalogue rule may need (fact-test partitions, splits)

_RESERVED = ("t", "k", "v", "src", "sid", "id", "$s")  # properties of our facts and durable's own
BEGIN = {"all": [{"m": {"t": "answers"}}]}
SINK = {"all": [{"m": {"$ex": {"t": 1}}}, {"n": {"t": "__never__"}}]}
_BEGIN_PATTERNS: tuple[Expr, ...] = (Leaf("t", "$eq", "answers"),)
_SINK_PATTERNS: tuple[Expr, ...] = (Leaf("t", "$ex", 1), Leaf("t", "$eq", "__never__"))


class DurableLimit(EngineError):
    """A catalogue cannot be compiled within durable-rules' limits; ``problems`` says where."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True, slots=True)
class DurableRule:
    """One compiled durable rule and the catalogue rules it stands for (catalogue order)."""

    name: str
    definition: dict[str, Any]
    rule_ids: tuple[str, ...]
    stratum: int


@dataclass(frozen=True, slots=True)
class Chunk:
    """One ruleset: at most ``max_rules`` durable rules plus ``begin`` and ``sink``."""

    index: int
    rules: tuple[DurableRule, ...]
    peak: int

    def definition(self) -> dict[str, dict[str, Any]]:
        """The ruleset definition without actions (deep-copy before handing it to durable)."""
        out: dict[str, dict[str, Any]] = {"begin": BEGIN, "sink": SINK}
        for rule in self.rules:
            out[rule.name] = rule.definition
        return out


@dataclass(frozen=True, slots=True)
class CompiledCatalogue:
    """Everything the durable wrapper needs for one catalogue version."""

    chunks: tuple[Chunk, ...]
    derives: dict[str, tuple[tuple[str, str], ...]]  # rule id -> derived (key, value), once each
    fact_plan: FactPlan  # for durable_expr.answers_fact

    @property
    def durable_rules(self) -> int:
        return sum(len(c.rules) for c in self.chunks)


@dataclass(slots=True)
class _Alternative:
    patterns: tuple[Expr, ...]
    keys: frozenset[str]


def compile_catalogue(
    catalogue: Catalogue, *, max_rules: int = DEFAULT_CHUNK_RULES, max_stack: int = DEFAULT_MAX_STACK
) -> CompiledCatalogue:
    """Compile ``catalogue``; raise :class:`DurableLimit` listing every rule that cannot fit."""
    if not 1 <= max_rules <= 240 or not 4 <= max_stack <= DURABLE_STACK:
        raise ValueError("chunk limits out of range")
    answers = AnswerCompiler(catalogue)
    problems: list[Problem] = []
    groups: dict[str, tuple[tuple[Expr, ...], list[str], frozenset[str]]] = {}
    order = {r.id: i for i, r in enumerate(catalogue.rules)}
    for index, rule in enumerate(catalogue.rules):
        if not rule.enabled:
            continue
        path = f"rules[{index}].when"
        try:
            alternatives = list(_alternatives(answers, expand(rule.when)))
        except TooManyTerms:
            problems.append(Problem(path, "This condition has too many alternatives for the rules engine"))
            continue
        except _TooWide as exc:
            problems.append(Problem(path, str(exc)))
            continue
        if len(alternatives) > MAX_ALTERNATIVES:
            problems.append(Problem(path, "This condition needs too many engine rules; simplify its 'any'"))
            continue
        for alt in alternatives:
            signature = json.dumps([to_json(p) for p in alt.patterns], sort_keys=True)
            entry = groups.setdefault(signature, (alt.patterns, [], alt.keys))
            if rule.id not in entry[1]:
                entry[1].append(rule.id)
    fields = answers.encoding.field_names()
    if len(fields) > MAX_FACT_FIELDS:
        problems.append(
            Problem(
                "rules", f"The rules test {len(fields)} answer values; the engine takes {MAX_FACT_FIELDS}"
            )
        )
    problems.extend(_hash_clashes(fields))
    if problems:
        raise DurableLimit(problems)
    derives = {
        r.id: tuple(dict.fromkeys((e.fact, e.value) for e in r.then if isinstance(e, Derive)))
        for r in catalogue.rules
        if r.enabled
    }
    strata = _strata(groups, derives)
    ordered = sorted(groups.items(), key=lambda kv: (strata[kv[0]], min(order[r] for r in kv[1][1])))
    chunks = _pack(ordered, strata, order, max_rules, max_stack)
    return CompiledCatalogue(tuple(chunks), derives, answers.encoding.plan())


def limit_problems(catalogue: Catalogue) -> list[Problem]:
    """The problems that keep ``catalogue`` out of durable-rules (for the validator); [] if none."""
    try:
        compile_catalogue(catalogue)
    except DurableLimit as exc:
        return exc.problems
    return []


class _TooWide(ValueError):
    pass


def _hash_clashes(fields: list[str]) -> list[Problem]:
    """Durable matches fact properties by a 32-bit hash of their name: two names must never clash."""
    seen: dict[int, str] = {}
    problems = []
    for name in [*_RESERVED, *fields]:
        other = seen.setdefault(property_hash(name), name)
        if other != name:
            problems.append(
                Problem(
                    "questions", f"The rules engine cannot tell {other!r} from {name!r}; rename one question"
                )
            )
    return problems


def _alternatives(answers: AnswerCompiler, terms: list[Term]) -> Iterator[_Alternative]:
    """The durable rules (as pattern lists) one catalogue rule needs."""
    for term in terms:
        expr = answers.compile(term.answers)
        if expr == FALSE:
            continue  # this alternative can never match: no rule for it
        for answer_expr in _split_wide(expr):
            head = answers_pattern(answer_expr)
            for fact_patterns in _fact_alternatives(term.facts):
                keys = frozenset(p[0] for p in fact_patterns)
                yield _Alternative((head, *(fact_pattern(k, s) for k, s in fact_patterns)), keys)


def _split_wide(expr: Expr) -> list[Expr]:
    """Split a top-level ``any`` into separate rules when one pattern would be too complex."""
    if isinstance(expr, Const) or operator_count(answers_pattern(expr)) <= MAX_OPERATORS:
        return [expr]
    if isinstance(expr, Or):
        out: list[Expr] = []
        for item in expr.items:
            out.extend(_split_wide(item))
        return out
    raise _TooWide(
        f"This condition combines more than {MAX_OPERATORS} all/any groups, more than the rules engine "
        "can run; simplify it (e.g. use 'in' for alternatives of one answer) or split the rule into several"
    )


def _fact_alternatives(tests: tuple[FactTest, ...]) -> list[list[tuple[str, frozenset[str] | None]]]:
    """Fact patterns for a term's fact tests: a list of alternatives, each a list of patterns.

    Durable never binds one fact to two patterns of a rule, but several tests on one key may be
    satisfied by one fact. So tests on the same key are merged per block of a set partition
    (the block's value sets intersected); every partition with non-empty blocks is an alternative.
    """
    by_key: dict[str, list[frozenset[str] | None]] = {}
    for t in tests:
        values = None if t.op == "exists" else frozenset([t.value] if t.op == "==" else t.value)
        by_key.setdefault(t.fact, []).append(values)
    per_key: list[list[list[tuple[str, frozenset[str] | None]]]] = []
    for key in sorted(by_key):
        sets = [s for s in by_key[key] if s is not None]
        if not sets:
            per_key.append([[(key, None)]])
            continue
        # A test implied by a narrower one on the same key adds nothing (the same fact meets both).
        unique = sorted(set(sets), key=sorted)
        minimal = [s for s in unique if not any(o < s for o in unique)]
        if len(minimal) > 5:
            raise _TooWide(f"This condition tests the fact {key!r} in too many different ways at once")
        options: list[list[tuple[str, frozenset[str] | None]]] = []
        for blocks in _partitions(minimal):
            merged = [frozenset.intersection(*b) for b in blocks]
            if all(merged):
                options.append([(key, m) for m in merged])
        per_key.append(options)
    if any(not options for options in per_key):
        return []
    return [[p for part in combo for p in part] for combo in product(*per_key)]


def _partitions(items: list[frozenset[str]]) -> Iterator[list[list[frozenset[str]]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for smaller in _partitions(rest):
        yield [[first], *smaller]
        for i in range(len(smaller)):
            yield [*smaller[:i], [first, *smaller[i]], *smaller[i + 1 :]]


def _strata(
    groups: dict[str, tuple[tuple[Expr, ...], list[str], frozenset[str]]],
    derives: dict[str, tuple[tuple[str, str], ...]],
) -> dict[str, int]:
    """Producers before consumers, so that chaining across chunks needs few forwarding rounds."""
    level = {sig: 0 for sig in groups}
    for _ in range(min(len(groups), 64)):  # longest-path relaxation, bounded: only an ordering hint
        key_level: dict[str, int] = {}
        for sig, (_, rule_ids, _) in groups.items():
            for rid in rule_ids:
                for key, _ in derives.get(rid, ()):
                    key_level[key] = min(key_level.get(key, level[sig]), level[sig])
        changed = False
        for sig, (_, _, keys) in groups.items():
            want = 1 + max((key_level.get(k, 0) for k in keys), default=-1)
            if want > level[sig] and want <= len(groups):
                level[sig] = want
                changed = True
        if not changed:
            break
    return level


def _pack(
    ordered: list[tuple[str, tuple[tuple[Expr, ...], list[str], frozenset[str]]]],
    strata: dict[str, int],
    order: dict[str, int],
    max_rules: int,
    max_stack: int,
) -> list[Chunk]:
    """Greedy packing into chunks whose modelled alpha network stays inside durable's limits."""
    Member = tuple[dict[str, Any], list[str], int, tuple[Expr, ...]]
    packed: list[tuple[list[Member], int]] = []
    current: list[Member] = []
    tree, bound = _fresh_tree()
    for sig, (patterns, rule_ids, _) in ordered:
        definition = {"all": [{_alias(i): to_json(p)} for i, p in enumerate(patterns)]}
        for attempt in range(2):
            if len(current) >= max_rules:
                packed.append((current, bound))
                current, (tree, bound) = [], _fresh_tree()
            added = sum(tree.add_pattern(p) for p in patterns)
            # n new nodes raise the bound by at most n: walk the whole tree only when it may matter.
            new_bound = bound + added if bound + added <= max_stack else tree.peak()
            if new_bound <= max_stack and not tree.worst:
                bound = new_bound
                current.append((definition, rule_ids, strata[sig], patterns))
                break
            if attempt == 1 or not current:
                reason = tree.worst or f"up to {new_bound} of its tests can match at once (limit {max_stack})"
                path = f"rules[{order[rule_ids[0]]}].when"
                raise DurableLimit(
                    [Problem(path, f"This condition is too wide for the rules engine: {reason}")]
                )
            # The tree now holds a rule that does not fit: close the chunk without it, retry alone.
            packed.append((current, bound))
            current, (tree, bound) = [], _fresh_tree()
    if current:
        packed.append((current, bound))
    chunks: list[Chunk] = []
    counter = 0
    for index, (members, _) in enumerate(packed):
        rules = []
        exact, _ = _fresh_tree()
        for definition, rule_ids, stratum, patterns in members:
            rules.append(DurableRule(f"r{counter}", definition, tuple(rule_ids), stratum))
            counter += 1
            for p in patterns:
                exact.add_pattern(p)
        chunks.append(Chunk(index, tuple(rules), exact.peak()))
    return chunks


def _fresh_tree() -> tuple[AlphaTree, int]:
    tree = AlphaTree()
    for p in _BEGIN_PATTERNS:
        tree.add_pattern(p)
    for p in _SINK_PATTERNS:
        tree.add_pattern(p)
    return tree, tree.peak()


def _alias(index: int) -> str:
    return "a" if index == 0 else f"f{index}"
