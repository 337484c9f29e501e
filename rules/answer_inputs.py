"""Which answers can change an evaluation or its texts: the evaluation cache keys on these only."""

from __future__ import annotations

from .model import AttrTest, Catalogue, Exclude, Not, PlanCondition, Require, Score
from .placeholders import PLACEHOLDER
from .visibility import referenced


def answer_refs(cond: PlanCondition | None) -> tuple[str, ...]:
    """The questions a plan condition compares with (``valueFrom``), in a stable order."""
    if cond is None:
        return ()
    if isinstance(cond, AttrTest):
        return (cond.value_from,) if cond.value_from is not None else ()
    if isinstance(cond, Not):
        return answer_refs(cond.item)
    return tuple(sorted({q for c in cond.items for q in answer_refs(c)}))


def answer_inputs(catalogue: Catalogue) -> frozenset[str]:
    """The questions whose answers can change an evaluation or its texts (the rest cannot).

    Rule and askWhen conditions, ``valueFrom`` comparisons and ``{answers.ID}`` placeholders.
    """
    found: set[str] = set()
    conditions = [r.when for r in catalogue.rules] + [q.ask_when for q in catalogue.questions if q.ask_when]
    for cond in conditions:
        found |= referenced(cond)[0]
    for rule in catalogue.rules:
        for effect in rule.then:
            if isinstance(effect, Require | Exclude):
                found.update(answer_refs(effect.cond))
            elif isinstance(effect, Score):
                found.update(answer_refs(effect.where))
            because = getattr(effect, "because", None)
            if because:
                found.update(m.group(2) for m in PLACEHOLDER.finditer(because) if m.group(1) == "answers")
    return frozenset(found)
