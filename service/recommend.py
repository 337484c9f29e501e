"""Rules-stage updates: evaluation through the engine, plan matching, and an evaluation cache."""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from typing import Any

import orjson

from rules.answers import validate_answers
from rules.engine import Engine
from rules.errors import EngineUnavailable, RulesError
from rules.evaluation import Evaluation

from .errors import ProtocolError
from .live import LoadedVersion

log = logging.getLogger(__name__)


def usable_answers(loaded: LoadedVersion, answers: dict[str, Any]) -> dict[str, Any]:
    """The stored answers that still fit this version's questions (a publish may change a type).

    Answers that no longer fit are kept in the session and echoed, but the rules ignore them.
    """
    known = loaded.catalogue.question_by_id
    candidate = {k: v for k, v in answers.items() if k in known}
    if not candidate:
        return candidate
    _, problems = validate_answers(loaded.catalogue, candidate)
    for qid, _message in problems:
        candidate.pop(qid, None)
    return candidate


class Recommender:
    """Turns (version, answers) into the rules part of an update, caching recent results.

    Answers arrive one at a time in real use, so answer sets repeat across people: the cache
    (keyed by version and answers) saves most evaluations. Cached parts are shared: never mutate.
    """

    def __init__(self, engine: Engine, cache_size: int = 4096) -> None:
        self.engine = engine
        self._cache: OrderedDict[tuple[int, bytes], tuple[dict[str, Any], frozenset[str]]] = OrderedDict()
        # The last few evaluations, for the enrichment stage's full ranking (no second evaluation).
        self._evaluations: OrderedDict[tuple[int, bytes], tuple[Evaluation, dict[str, Any]]] = OrderedDict()
        self._cache_size = cache_size
        self.hits = 0
        self.misses = 0

    async def evaluate(
        self, loaded: LoadedVersion, answers: dict[str, Any]
    ) -> tuple[dict[str, Any], frozenset[str]]:
        """The rules part of an update (without ``questions``) and the visible question ids.

        Keyed by version and the answers that can matter (rule and askWhen conditions,
        valueFrom, placeholders): a free-text note nobody tests does not defeat the cache.
        """
        key = self._key(loaded, answers)
        cached = self._cache.get(key)
        if cached is not None:
            self.hits += 1
            self._cache.move_to_end(key)
            return cached
        self.misses += 1
        usable = usable_answers(loaded, answers)
        try:
            evaluation = await self.engine.evaluate(loaded.version, usable)
        except EngineUnavailable as exc:
            log.warning("engine unavailable: %s", exc)
            raise ProtocolError("unavailable", "The rules engine is restarting; please retry") from exc
        except RulesError as exc:
            ref = uuid.uuid4().hex[:12]
            log.error("evaluation failed [%s] version=%s: %s", ref, loaded.version, exc)
            raise ProtocolError("internal", f"Something went wrong on our side (reference {ref})") from exc
        part = loaded.matcher.match(evaluation, answers, usable)
        del part["questions"]  # depends on every stored answer ("answered"): built per update
        cached = (part, frozenset(evaluation.visible))
        self._evaluations[key] = (evaluation, usable)
        if len(self._evaluations) > 256:
            self._evaluations.popitem(last=False)
        self._cache[key] = cached
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return cached

    async def every_matched_plan(
        self, loaded: LoadedVersion, answers: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Every matched plan, ranked and explained, beyond ``ranking.limit`` (not cached).

        For the enrichment stage, which re-ranks before the limit applies (PROTOCOL.md). The
        evaluation behind the rules update is reused when it is still at hand.
        """
        found = self._evaluations.get(self._key(loaded, answers))
        if found is not None:
            evaluation, usable = found
        else:
            usable = usable_answers(loaded, answers)
            try:
                evaluation = await self.engine.evaluate(loaded.version, usable)
            except RulesError as exc:
                raise ProtocolError("unavailable", "The rules engine cannot serve right now") from exc
        part = loaded.matcher.match(evaluation, answers, usable, limit=len(loaded.catalogue.active_plans))
        plans: list[dict[str, Any]] = part["plans"]
        return plans

    @staticmethod
    def _key(loaded: LoadedVersion, answers: dict[str, Any]) -> tuple[int, bytes]:
        inputs = loaded.matcher.inputs
        relevant = {q: v for q, v in answers.items() if q in inputs}
        return (loaded.version, orjson.dumps(relevant, option=orjson.OPT_SORT_KEYS))

    async def rules_part(self, loaded: LoadedVersion, answers: dict[str, Any]) -> dict[str, Any]:
        return (await self.evaluate(loaded, answers))[0]

    async def update(self, loaded: LoadedVersion, answers: dict[str, Any], revision: int) -> dict[str, Any]:
        """A complete ``recommendationUpdates`` payload, stage ``rules``."""
        part, visible = await self.evaluate(loaded, answers)
        questions = [
            {"id": q.id, "visible": q.id in visible, "answered": q.id in answers}
            for q in loaded.catalogue.questions
        ]
        return {
            "revision": revision,
            "version": loaded.version,
            "stage": "rules",
            "answers": answers,
            "questions": questions,
            **part,
        }
