"""The plan matcher: fired rules' effects applied to the plans, ranked and explained.

Its output is the rules part of a ``recommendationUpdates`` payload (PROTOCOL.md): ``plans``,
``excluded``, ``totalPlans``, ``matchedPlans``; :func:`question_states` gives ``questions``
(they depend on every stored answer, the plans only on the answers the rules read).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .answer_inputs import answer_inputs, answer_refs
from .conditions import PlanCheck, compile_plan_condition
from .evaluation import Evaluation
from .match_state import Effect, Indexes, Mask, MatchState, Ranking, Scores
from .model import Catalogue, Derive, Exclude, Require, Rule, Score
from .payload import plain_number, plan_payload, question_states
from .plan_masks import PlanColumns, compile_mask


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


_MISSING = object()
_DYNAMIC_CACHE = 256
#: Fired score effects from which their points are summed by value (fewer: effect by effect).
GROUPED_FROM = 8
_STEPS = 1024


class Matcher:
    """Applies effects for one catalogue version; build once per version, reuse per answer set.

    Plans are handled as boolean masks (numpy): a plan condition that does not look at answers
    gives the same mask for every person, so it is computed once per version (on first use, or
    all at once by :meth:`warm`) and effects become vector operations (scores, exclusions, the
    ranking); only ``valueFrom`` conditions are checked per plan, once per answer value.
    """

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._plans = catalogue.active_plans
        self._all: Mask = np.ones(len(self._plans), dtype=bool)
        self._all.flags.writeable = False
        self._columns = PlanColumns(self._plans)
        self._effects: dict[str, list[Effect]] = {r.id: self._compile(r) for r in catalogue.rules}
        # Reason order: rule priority (desc), rule id, then effect order in the rule.
        self._rule_rank = {
            r.id: i for i, r in enumerate(sorted(catalogue.rules, key=lambda r: (-r.priority, r.id)))
        }
        self._id_order = sorted(range(len(self._plans)), key=lambda i: self._plans[i].id)
        self.inputs = answer_inputs(catalogue)
        self._position = {p.id: i for i, p in enumerate(self._plans)}
        # ``estimate`` is worked out in the enriched stage: in the rules stage every plan ties on it.
        self._by_estimate = catalogue.estimate is not None and "estimate" not in catalogue.attribute_by_key
        self._all_keys = [
            (o.by, o.dir == "desc", None if self._is_estimate(o.by) else self._sort_values(o.by))
            for o in catalogue.ranking.order
        ]
        self._order_keys = [key for key in self._all_keys if not self._is_estimate(key[0])]
        self.ranks_by_estimate = len(self._order_keys) < len(self._all_keys)
        # Per attribute sort key, each plan's dense rank (missing values last in either direction),
        # so a plan's place is a tuple of small ints and the top of a ranking a partial sort.
        self._static_ranks = [
            (desc, None if values is None else _dense_ranks(values, desc))
            for _by, desc, values in self._order_keys
        ]
        self._id_rank = [0] * len(self._plans)
        for rank, i in enumerate(self._id_order):
            self._id_rank[i] = rank
        self._id_rank_array = np.array(self._id_rank, dtype=np.int64)
        # Integer scores add up in int64 unless their sum could overflow it (then exact Python ints).
        total = sum(abs(e.points) for effects in self._effects.values() for e in effects if e.kind == "score")
        self._score_dtype: Any = np.int64 if total < 2**62 else object
        # Points that are multiples of 1/1024 (whole numbers, 2.5, 0.25...) with an absolute sum below
        # 2**43: every partial sum is such a multiple below 2**43, which float64 holds exactly, so sums
        # added in any order equal the effect-by-effect ones (_scores; whole points add in int64).
        self._exact_any_order = total < 2**43 and all(
            float(e.points * _STEPS).is_integer()
            for effects in self._effects.values()
            for e in effects
            if e.kind == "score"
        )
        self._rank_arrays = [
            (desc, None if ranks is None else np.array(ranks, dtype=np.int64))
            for desc, ranks in self._static_ranks
        ]

    def _is_estimate(self, by: str) -> bool:
        return by == "estimate" and self._by_estimate

    def _compile(self, rule: Rule) -> list[Effect]:
        out: list[Effect] = []
        for e in rule.then:
            if isinstance(e, Require | Exclude):
                refs = answer_refs(e.cond)
                kind = "require" if isinstance(e, Require) else "exclude"
                check = compile_plan_condition(e.cond)
                out.append(Effect(rule.id, kind, check, e.because, 0, bool(refs), refs=refs))
            elif isinstance(e, Score):
                where = compile_plan_condition(e.where) if e.where is not None else None
                refs = answer_refs(e.where)
                out.append(Effect(rule.id, "score", where, e.because, e.points, bool(refs), refs=refs))
            elif not isinstance(e, Derive):  # pragma: no cover - the model has four effects
                raise TypeError(e)
        for effect, cond in zip(out, [e for e in rule.then if not isinstance(e, Derive)], strict=True):
            plan_cond = cond.where if isinstance(cond, Score) else cond.cond
            if effect.dynamic and plan_cond is not None:
                effect.mask_of = compile_mask(plan_cond, self._columns)
        return out

    def _sort_values(self, by: str) -> list[Any] | None:
        """Each active plan's sort value for ``by`` (None when missing); None for the score."""
        if by == "score":
            return None
        attribute = self.catalogue.attribute_by_key[by]
        index = {v: i for i, v in enumerate(attribute.options)} if attribute.type == "enum" else None
        values: list[Any] = []
        for plan in self._plans:
            value = plan.attributes.get(by)
            values.append(index.get(value) if index is not None and value is not None else value)
        return values

    def warm(self) -> None:
        """Work out every answer-independent plan condition now (the service does it off the loop)."""
        for effects in self._effects.values():
            for effect in effects:
                if not effect.dynamic:
                    self._matched(effect, {})

    def _mask(self, check: PlanCheck, answers: Mapping[str, Any]) -> Mask:
        mask = np.fromiter(
            (check(p.attributes, answers) for p in self._plans), dtype=bool, count=len(self._plans)
        )
        mask.flags.writeable = False  # shared by every evaluation
        return mask

    def _matched(self, effect: Effect, answers: Mapping[str, Any]) -> Mask:
        check = effect.check
        if check is None:
            return self._all
        if effect.dynamic:
            # The result depends only on the answers compared with: cache it per their values.
            key = tuple(_frozen(answers.get(q, _MISSING)) for q in effect.refs)
            hits = effect.by_answer.get(key)
            if hits is None:
                hits = effect.mask_of(answers) if effect.mask_of is not None else self._mask(check, answers)
                if len(effect.by_answer) >= _DYNAMIC_CACHE:
                    effect.by_answer.clear()
                effect.by_answer[key] = hits
            return hits
        if effect.matched is None:
            effect.matched = self._mask(check, {})
        return effect.matched

    def match(
        self,
        evaluation: Evaluation,
        answers: Mapping[str, Any],
        usable: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """Rank and explain the active plans for ``answers`` (all stored answers, hidden too).

        ``usable`` is the part of ``answers`` the rules may use (default: all of them); only
        its visible answers feed ``valueFrom`` and placeholders. ``limit`` overrides the
        catalogue's ``ranking.limit``.
        """
        catalogue = self.catalogue
        plans = self._plans
        state = self._state(evaluation, answers, usable)
        shown = np.flatnonzero(~state.out)
        ranked = self._top(shown, state.scores, catalogue.ranking.limit if limit is None else limit)
        # Reasons and payloads only for what is sent: the ranked page and the first excluded plans.
        payload_plans = [
            plan_payload(plans[i], rank, state.scores[i], reasons)
            for rank, (i, reasons) in enumerate(zip(ranked, state.reasons_of(ranked), strict=True), start=1)
        ]
        excluded = []
        # v1.1: ordered like the plans (as if not excluded), at most ranking.excludedLimit.
        sent = self._top(np.flatnonzero(state.out), state.scores, catalogue.ranking.excluded_limit)
        most = catalogue.ranking.excluded_reasons_limit
        for i, reasons in zip(sent, state.exclusions_of(sent), strict=True):
            # name/provider are additive fields: clients can list excluded plans by name.
            entry: dict[str, Any] = {"id": plans[i].id, "name": plans[i].name}
            if plans[i].provider is not None:
                entry["provider"] = plans[i].provider
            if most is not None and len(reasons) > most:
                # The first reasons by rule priority, and how many there are (explainPlan: all).
                entry["reasons"] = reasons[:most]
                entry["reasonsTotal"] = len(reasons)
            else:
                entry["reasons"] = reasons
            excluded.append(entry)
        return {
            "plans": payload_plans,
            "excluded": excluded,
            "totalPlans": len(plans),
            "matchedPlans": int(shown.size),
        }

    def ranking(
        self, evaluation: Evaluation, answers: Mapping[str, Any], usable: Mapping[str, Any] | None = None
    ) -> Ranking:
        """Every matched plan in ranking order with its score, and their payloads on demand.

        The enriched stage re-ranks all matched plans by estimate and then sends ``ranking.limit``
        of them: it needs every id and score, but reasons and payloads only for the plans sent.
        """
        state = self._state(evaluation, answers, usable)
        order = self._top(np.flatnonzero(~state.out), state.scores, len(self._plans))
        return Ranking(self._plans, self._position, state, order)

    def _state(
        self, evaluation: Evaluation, answers: Mapping[str, Any], usable: Mapping[str, Any] | None
    ) -> MatchState:
        visible = set(evaluation.visible)
        shown_answers = {k: v for k, v in (answers if usable is None else usable).items() if k in visible}
        fired = sorted(set(evaluation.fired), key=self._rule_rank.__getitem__)
        effects = [e for rule_id in fired for e in self._effects[rule_id]]
        matched = [self._matched(e, shown_answers) for e in effects]
        scores, out = self._scores_and_losers(effects, matched)
        return MatchState(self.catalogue, evaluation, shown_answers, effects, matched, scores, out)

    def explain(
        self,
        evaluation: Evaluation,
        answers: Mapping[str, Any],
        plan_id: str,
        usable: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Why one plan is where it is (PROTOCOL.md ``planExplanation`` without planId/revision/version).

        ``status`` is "shown", "cut" (matched, below the limit), "excluded" or "inactive"; None
        for a plan the catalogue does not have.
        """
        catalogue = self.catalogue
        if plan_id not in catalogue.plan_by_id:
            return None
        index = self._position.get(plan_id)
        if index is None:
            return {"status": "inactive", "reasons": []}
        state = self._state(evaluation, answers, usable)
        against = state.exclusions_of([index])[0]
        if against:
            return {"status": "excluded", "reasons": against}
        scores = state.scores
        reasons = state.reasons_of([index])[0]
        order = self._top(np.flatnonzero(~state.out), scores, len(self._plans))
        better = order.index(index)
        result: dict[str, Any] = {"status": "cut", "score": plain_number(scores[index]), "reasons": reasons}
        if better < catalogue.ranking.limit:
            result = {
                "status": "shown",
                "rank": better + 1,
                **{k: v for k, v in result.items() if k != "status"},
            }
        return result

    def _scores_and_losers(self, effects: list[Effect], matched: list[Mask]) -> tuple[Scores, Mask]:
        """Each plan's score, and the plans some require or exclude removes."""
        n = len(self._plans)
        kept: Mask = np.ones(n, dtype=bool)  # every require satisfied
        hit: Mask = np.zeros(n, dtype=bool)  # some exclude matched
        scoring: list[tuple[int | float, Mask]] = []
        for e, hits in zip(effects, matched, strict=True):
            if e.kind == "score":
                if e.points:
                    scoring.append((e.points, hits))
            elif e.kind == "exclude":
                np.logical_or(hit, hits, out=hit)
            else:
                np.logical_and(kept, hits, out=kept)
        return self._scores(scoring), hit | ~kept

    def _scores(self, scoring: list[tuple[int | float, Mask]]) -> Scores:
        """Each plan's points summed. Many effects, when the order cannot matter (see
        ``_exact_any_order``): for each distinct points value, how many of its effects match each
        plan, times the value (~4x faster at hundreds of fired rules x thousands of plans; no BLAS,
        whose threads would spin on the server's cores). Otherwise effect by effect in rule order
        (points such as 0.1, whose float sums depend on the order)."""
        if len(scoring) >= GROUPED_FROM and self._exact_any_order:  # (then int64 holds the total too)
            masks = np.stack([hits for _, hits in scoring])
            whole = all(isinstance(p, int) for p, _ in scoring)  # else float, as the loop's would be
            values = np.array([p for p, _ in scoring], dtype=np.int64 if whole else np.float64)
            sums = np.zeros(len(self._plans), dtype=values.dtype)
            for value in np.unique(values):
                np.add(sums, value * masks[values == value].sum(axis=0, dtype=np.int64), out=sums)
            return sums  # type: ignore[return-value]  # int64 or float64, as values
        scores: Scores = np.zeros(len(self._plans), dtype=self._score_dtype)
        for points, hits in scoring:
            if isinstance(points, float) and scores.dtype == np.int64:
                scores = scores.astype(np.float64)
            np.add(scores, points, out=scores, where=hits)  # in place, no temporary
        return scores

    def _place(self, i: int, scores: Scores) -> tuple[Any, ...]:
        """Plan ``i``'s position key under ``ranking.order`` (smaller first), then plan id."""
        parts: list[Any] = []
        for desc, ranks in self._static_ranks:
            if ranks is None:
                parts.append(-scores[i] if desc else scores[i])
            else:
                parts.append(ranks[i])
        parts.append(self._id_rank[i])
        return tuple(parts)

    def _top(self, items: Indexes, scores: Scores, k: int) -> list[int]:
        """The first ``k`` of ``items`` in ranking order: score and attribute ranks, then plan id."""
        if k <= 0 or not len(items):
            return []
        keys: list[Any] = [self._id_rank_array[items]]  # np.lexsort: the last key is the primary one
        for desc, ranks in reversed(self._rank_arrays):
            if ranks is None:
                keys.append(-scores[items] if desc else scores[items])
            else:
                keys.append(ranks[items])
        order = np.lexsort(keys)[:k]
        return [int(i) for i in np.asarray(items)[order]]

    def rerank(
        self, plan_ids: list[str], scores: Mapping[str, int | float], estimates: Mapping[str, Any]
    ) -> list[str]:
        """The enriched stage's order of these plans: ``ranking.order`` with ``estimate`` applied.

        ``estimates`` maps plan id -> value (plans without one sort last in either direction).
        """
        positions = sorted((self._position[pid] for pid in plan_ids), key=lambda i: self._plans[i].id)
        score_of: list[int | float] = [0] * len(self._plans)
        estimate_of: list[Any] = [None] * len(self._plans)
        for i in positions:
            pid = self._plans[i].id
            score_of[i] = scores[pid]
            estimate_of[i] = estimates.get(pid)
        keys = [
            (by, desc, estimate_of if self._is_estimate(by) else values)
            for by, desc, values in self._all_keys
        ]
        return [self._plans[i].id for i in self._sort(positions, score_of, keys)]

    @staticmethod
    def _sort(
        items: list[int], scores: list[Any], order_keys: list[tuple[str, bool, list[Any] | None]]
    ) -> list[int]:
        """Stable multi-key sort of plan indexes (given in plan id order); missing values sort last."""
        for _by, desc, values in reversed(order_keys):
            if values is None:
                items.sort(key=scores.__getitem__, reverse=desc)
                continue
            present = [i for i in items if values[i] is not None]
            present.sort(key=values.__getitem__, reverse=desc)
            items = present + [i for i in items if values[i] is None]
        return items


def _dense_ranks(values: list[Any], desc: bool) -> list[int]:
    """Each value's rank among the distinct present values (ties equal); missing values last."""
    present = sorted({v for v in values if v is not None}, reverse=desc)
    rank = {v: r for r, v in enumerate(present)}
    last = len(present)
    return [last if v is None else rank[v] for v in values]


__all__ = ["Matcher", "Ranking", "answer_inputs", "plain_number", "question_states"]
