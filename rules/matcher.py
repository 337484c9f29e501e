"""The plan matcher: fired rules' effects applied to the plans, ranked and explained.

Its output is the rules part of a ``recommendationUpdates`` payload (PROTOCOL.md):
``questions``, ``plans``, ``excluded``, ``totalPlans``, ``matchedPlans``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .conditions import PlanCheck, compile_plan_condition
from .evaluation import Evaluation
from .model import Catalogue, Derive, Exclude, Plan, Require, Rule, Score
from .placeholders import substitute


@dataclass(frozen=True, slots=True)
class _Effect:
    rule: str
    kind: str  # "require" | "exclude" | "score"
    check: PlanCheck | None
    because: str | None
    points: int | float = 0


def plain_number(value: int | float) -> int | float:
    """Integral scores are integers in the payload (30.0 -> 30)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class Matcher:
    """Applies effects for one catalogue version; build once per version, reuse per answer set."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._effects: dict[str, list[_Effect]] = {r.id: self._compile(r) for r in catalogue.rules}
        # Reason order: rule priority (desc), rule id, then effect order in the rule.
        self._rule_rank = {
            r.id: i for i, r in enumerate(sorted(catalogue.rules, key=lambda r: (-r.priority, r.id)))
        }
        self._order_keys = [(o.by, o.dir == "desc", self._sort_value(o.by)) for o in catalogue.ranking.order]

    @staticmethod
    def _compile(rule: Rule) -> list[_Effect]:
        out: list[_Effect] = []
        for e in rule.then:
            if isinstance(e, Require):
                out.append(_Effect(rule.id, "require", compile_plan_condition(e.cond), e.because))
            elif isinstance(e, Exclude):
                out.append(_Effect(rule.id, "exclude", compile_plan_condition(e.cond), e.because))
            elif isinstance(e, Score):
                where = compile_plan_condition(e.where) if e.where is not None else None
                out.append(_Effect(rule.id, "score", where, e.because, e.points))
            elif not isinstance(e, Derive):  # pragma: no cover - the model has four effects
                raise TypeError(e)
        return out

    def _sort_value(self, by: str) -> Any:
        """A function giving a plan's sort value for ``by``, or None when the plan lacks it."""
        if by == "score":
            return None
        attribute = self.catalogue.attribute_by_key[by]
        if attribute.type == "enum":
            index = {v: i for i, v in enumerate(attribute.options)}
            return lambda v: index.get(v)
        return lambda v: v

    def match(
        self, evaluation: Evaluation, answers: Mapping[str, Any], usable: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Rank and explain the active plans for ``answers`` (all stored answers, hidden too).

        ``usable`` is the part of ``answers`` the rules may use (default: all of them); only
        its visible answers feed ``valueFrom`` and placeholders.
        """
        catalogue = self.catalogue
        visible = set(evaluation.visible)
        shown_answers = {k: v for k, v in (answers if usable is None else usable).items() if k in visible}
        fired = sorted(set(evaluation.fired), key=self._rule_rank.__getitem__)
        effects = [e for rule_id in fired for e in self._effects[rule_id]]
        texts: dict[str, str] = {}

        def text(because: str) -> str:
            if because not in texts:
                texts[because] = substitute(because, catalogue, shown_answers, evaluation.facts)
            return texts[because]

        shown: list[tuple[Plan, int | float, list[dict[str, str]]]] = []
        excluded: list[dict[str, Any]] = []
        for plan in catalogue.active_plans:
            attrs = plan.attributes
            reasons: list[dict[str, str]] = []
            against: list[dict[str, str]] = []
            score: int | float = 0
            for e in effects:
                if e.kind == "score":
                    if e.check is None or e.check(attrs, shown_answers):
                        score += e.points
                        if e.because is not None:
                            reasons.append({"rule": e.rule, "text": text(e.because)})
                elif e.kind == "require":
                    assert e.check is not None and e.because is not None
                    target = reasons if e.check(attrs, shown_answers) else against
                    target.append({"rule": e.rule, "text": text(e.because)})
                else:
                    assert e.check is not None and e.because is not None
                    if e.check(attrs, shown_answers):
                        against.append({"rule": e.rule, "text": text(e.because)})
            if against:
                # name/provider are additive fields: clients can list excluded plans by name.
                entry: dict[str, Any] = {"id": plan.id, "name": plan.name}
                if plan.provider is not None:
                    entry["provider"] = plan.provider
                entry["reasons"] = against
                excluded.append(entry)
            else:
                shown.append((plan, score, reasons))
        ranked = self._rank(shown)
        limit = catalogue.ranking.limit
        plans = [
            _plan_payload(plan, rank, score, reasons)
            for rank, (plan, score, reasons) in enumerate(ranked[:limit], start=1)
        ]
        excluded.sort(key=lambda x: x["id"])
        return {
            "questions": [
                {"id": q.id, "visible": q.id in visible, "answered": q.id in answers}
                for q in catalogue.questions
            ],
            "plans": plans,
            "excluded": excluded,
            "totalPlans": len(catalogue.active_plans),
            "matchedPlans": len(shown),
        }

    def _rank(self, items: list[Any]) -> list[Any]:
        """Stable multi-key sort: ranking keys in order, then plan id; missing values sort last."""
        items = sorted(items, key=lambda x: x[0].id)
        for by, desc, value_of in reversed(self._order_keys):
            if by == "score":
                items.sort(key=lambda x: x[1], reverse=desc)
                continue
            keyed = [(value_of(x[0].attributes[by]) if by in x[0].attributes else None, x) for x in items]
            present: list[tuple[Any, Any]] = [k for k in keyed if k[0] is not None]
            present.sort(key=_first, reverse=desc)
            items = [k[1] for k in present] + [k[1] for k in keyed if k[0] is None]
        return items


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


def _plan_payload(plan: Plan, rank: int, score: int | float, reasons: list[dict[str, str]]) -> dict[str, Any]:
    payload: dict[str, Any] = {"id": plan.id, "name": plan.name}
    if plan.provider is not None:
        payload["provider"] = plan.provider
    if plan.description is not None:
        payload["description"] = plan.description
    payload["rank"] = rank
    payload["score"] = plain_number(score)
    payload["attributes"] = plan.attributes
    payload["reasons"] = reasons
    return payload


def fired_effects(catalogue: Catalogue, evaluation: Evaluation) -> list[tuple[str, int, Any]]:
    """The effects of the fired rules as (rule id, effect index, effect), in reason order."""
    rules = sorted(
        (catalogue.rule_by_id[r] for r in set(evaluation.fired)), key=lambda r: (-r.priority, r.id)
    )
    return [(r.id, i, e) for r in rules for i, e in enumerate(r.then)]
