"""Which questions' visibility depends on which answers, and the order to settle it in."""

from __future__ import annotations

from .model import All, AnswerTest, AnyOf, Catalogue, Condition, Derive, FactTest, Not, Question


class VisibilityCycle(ValueError):
    """Question visibility depends on itself (the validator reports it as a problem)."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(" -> ".join(cycle))


def referenced(cond: Condition) -> tuple[set[str], set[str]]:
    """The question ids and the fact keys a condition tests."""
    questions: set[str] = set()
    facts: set[str] = set()
    stack: list[Condition] = [cond]
    while stack:
        c = stack.pop()
        if isinstance(c, AnswerTest):
            questions.add(c.answer)
        elif isinstance(c, FactTest):
            facts.add(c.fact)
        elif isinstance(c, Not):
            stack.append(c.item)
        elif isinstance(c, (All, AnyOf)):
            stack.extend(c.items)
    return questions, facts


def fact_dependencies(catalogue: Catalogue) -> dict[str, set[str]]:
    """For every derived fact key, the questions whose answers can decide it (transitively)."""
    direct_q: dict[str, set[str]] = {}
    direct_f: dict[str, set[str]] = {}
    for rule in catalogue.rules:
        if not rule.enabled:
            continue
        qs, fs = referenced(rule.when)
        for effect in rule.then:
            if isinstance(effect, Derive):
                direct_q.setdefault(effect.fact, set()).update(qs)
                direct_f.setdefault(effect.fact, set()).update(fs)
    result: dict[str, set[str]] = {}
    for key in direct_q:
        seen_f = {key}
        todo = [key]
        qs = set()
        while todo:
            k = todo.pop()
            qs |= direct_q.get(k, set())
            for nxt in direct_f.get(k, ()):
                if nxt not in seen_f:
                    seen_f.add(nxt)
                    todo.append(nxt)
        result[key] = qs
    return result


def question_dependencies(catalogue: Catalogue) -> dict[str, set[str]]:
    """For every question with ``askWhen``, the questions its visibility depends on directly."""
    by_fact = fact_dependencies(catalogue)
    deps: dict[str, set[str]] = {}
    for q in catalogue.questions:
        if q.ask_when is None:
            continue
        qs, fs = referenced(q.ask_when)
        for key in fs:
            qs |= by_fact.get(key, set())
        deps[q.id] = qs
    return deps


def find_cycle(deps: dict[str, set[str]]) -> list[str] | None:
    """A dependency cycle as a list of question ids (first repeated at the end), or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(deps.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(deps):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def visibility_levels(catalogue: Catalogue) -> list[list[Question]]:
    """Level 0: questions without askWhen; level k: askWhen depending only on lower levels."""
    deps = question_dependencies(catalogue)
    cycle = find_cycle(deps)
    if cycle:
        raise VisibilityCycle(cycle)
    level: dict[str, int] = {}

    def depth(qid: str) -> int:
        if qid not in level:
            level[qid] = 0 if qid not in deps else 1 + max((depth(d) for d in deps[qid]), default=0)
        return level[qid]

    levels: list[list[Question]] = []
    for q in catalogue.questions:
        d = depth(q.id)
        while len(levels) <= d:
            levels.append([])
        levels[d].append(q)
    return levels
