"""The reference evaluator: the rule language in plain Python, independent of durable-rules.

It settles question visibility one question at a time in dependency order and runs forward
chaining with a fact-indexed worklist. Differential tests hold the durable engine to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .conditions import Check, compile_condition
from .evaluation import Evaluation
from .model import Catalogue, Derive, Rule
from .visibility import question_dependencies, referenced


class ReferenceEvaluator:
    """Evaluates answer sets against one catalogue version."""

    def __init__(self, catalogue: Catalogue, version: int = 0) -> None:
        self.catalogue = catalogue
        self.version = version
        rules = [r for r in catalogue.rules if r.enabled]
        self._rules: list[tuple[Rule, Check, tuple[Derive, ...]]] = [
            (r, compile_condition(r.when), tuple(e for e in r.then if isinstance(e, Derive))) for r in rules
        ]
        # Rules that test a fact key are re-checked only when that key gains a value.
        self._watchers: dict[str, list[int]] = {}
        for index, (rule, _, _) in enumerate(self._rules):
            for key in referenced(rule.when)[1]:
                self._watchers.setdefault(key, []).append(index)
        deps = question_dependencies(catalogue)
        self._order = _dependency_order([q.id for q in catalogue.questions], deps)
        self._ask = {
            q.id: (compile_condition(q.ask_when), bool(referenced(q.ask_when)[1]))
            for q in catalogue.questions
            if q.ask_when is not None
        }

    def chain(self, answers: Mapping[str, Any]) -> tuple[list[str], dict[str, set[str]]]:
        """Fire rules on ``answers`` until nothing new fires; return firing order and facts."""
        facts: dict[str, set[str]] = {}
        fired: list[str] = []
        done = [False] * len(self._rules)
        todo = list(range(len(self._rules)))
        while todo:
            changed: set[str] = set()
            for index in todo:
                if done[index]:
                    continue
                rule, check, derives = self._rules[index]
                if check(answers, facts):
                    done[index] = True
                    fired.append(rule.id)
                    for d in derives:
                        values = facts.setdefault(d.fact, set())
                        if d.value not in values:
                            values.add(d.value)
                            changed.add(d.fact)
            todo = sorted({i for key in changed for i in self._watchers.get(key, ()) if not done[i]})
        return fired, facts

    def evaluate(self, answers: Mapping[str, Any]) -> Evaluation:
        """Settle visibility, then chain on the visible answers."""
        visible: set[str] = set()
        shown: dict[str, Any] = {}
        for qid in self._order:
            ask = self._ask.get(qid)
            if ask is None:
                ok = True
            else:
                check, needs_facts = ask
                facts = self.chain(shown)[1] if needs_facts else {}
                ok = check(shown, facts)
            if ok:
                visible.add(qid)
                if qid in answers:
                    shown[qid] = answers[qid]
        fired, facts = self.chain(shown)
        return Evaluation(
            self.version,
            tuple(q.id for q in self.catalogue.questions if q.id in visible),
            tuple(fired),
            {k: tuple(sorted(v)) for k, v in sorted(facts.items())},
        )


def _dependency_order(ids: list[str], deps: dict[str, set[str]]) -> list[str]:
    """Question ids with every question after those its visibility depends on."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(qid: str) -> None:
        if qid in seen:
            return
        seen.add(qid)
        for d in sorted(deps.get(qid, ())):
            visit(d)
        order.append(qid)

    for qid in ids:
        visit(qid)
    known = set(ids)
    return [q for q in order if q in known]
