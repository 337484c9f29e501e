"""Split a rule condition into alternatives (terms) the way the durable compiler needs them.

A term is one answer-only condition (tested on the single "answers" fact) plus a set of
positive fact tests (each one pattern on a derived fact). A rule fires when any of its
terms matches. The validator uses the same expansion to enforce the engine's limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from .model import All, AnswerTest, AnyOf, Condition, FactTest, Not

MAX_TERMS_PER_RULE = 32


@dataclass(frozen=True, slots=True)
class Term:
    answers: Condition | None
    facts: tuple[FactTest, ...]

    def signature(self) -> str:
        """A canonical text of the term: identical conditions give identical signatures."""
        return repr((self.answers, tuple(sorted(self.facts, key=repr))))


class TooManyTerms(ValueError):
    pass


def has_fact_test(cond: Condition) -> bool:
    if isinstance(cond, FactTest):
        return True
    if isinstance(cond, AnswerTest):
        return False
    if isinstance(cond, Not):
        return has_fact_test(cond.item)
    return any(has_fact_test(c) for c in cond.items)


def expand(cond: Condition, limit: int = MAX_TERMS_PER_RULE) -> list[Term]:
    """Expand ``cond`` into terms; raise :class:`TooManyTerms` past ``limit``.

    Facts may only be tested positively in a rule's ``when`` (the validator enforces it),
    so a ``not`` never contains a fact test here.
    """
    if not has_fact_test(cond):
        if isinstance(cond, AnyOf) and not cond.items:
            return []
        if isinstance(cond, All) and not cond.items:
            return [Term(None, ())]
        return [Term(cond, ())]
    if isinstance(cond, FactTest):
        return [Term(None, (cond,))]
    if isinstance(cond, AnyOf):
        terms: list[Term] = []
        for item in cond.items:
            terms.extend(expand(item, limit))
            if len(terms) > limit:
                raise TooManyTerms(len(terms))
        return terms
    if isinstance(cond, All):
        parts = [expand(item, limit) for item in cond.items]
        count = 1
        for p in parts:
            count *= len(p)
            if count > limit:
                raise TooManyTerms(count)
        return [_merge(combo) for combo in product(*parts)]
    raise ValueError("a fact test under 'not' cannot be compiled")


def _merge(terms: tuple[Term, ...]) -> Term:
    answer_parts = [t.answers for t in terms if t.answers is not None]
    facts = tuple(f for t in terms for f in t.facts)
    if not answer_parts:
        return Term(None, facts)
    if len(answer_parts) == 1:
        return Term(answer_parts[0], facts)
    return Term(All(tuple(answer_parts)), facts)
