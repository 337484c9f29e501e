"""Rules-stage updates: evaluation through the engine, plan matching, and an evaluation cache."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson

from rules.answers import validate_answers
from rules.engine import Engine
from rules.errors import EngineUnavailable, RulesError
from rules.evaluation import Evaluation
from rules.matcher import question_states

from . import metrics
from .errors import ProtocolError
from .live import LoadedVersion
from .update import Update

log = logging.getLogger(__name__)

#: A version whose plan matches took longer than this on the event loop :data:`SLOW_IN_A_ROW` times
#: in a row has its later matches run in the matching thread: a large catalogue's match (tens of
#: ms at 5,000 plans) would otherwise hold up every other connection for as long; in the thread it
#: gives the event loop the GIL back every switch interval (5 ms). A small catalogue's match (well
#: under a millisecond) stays on the loop, where it costs less than the hop to a thread.
SLOW_MATCH_SECONDS = 0.005
SLOW_IN_A_ROW = 3
#: Versions remembered as slow (the live one and a few before it).
SLOW_VERSIONS = 8


def usable_answers(
    loaded: LoadedVersion, answers: dict[str, Any], checked: Collection[str] = ()
) -> dict[str, Any]:
    """The stored answers that still fit this version's questions (a publish may change a type).

    Answers that no longer fit are kept in the session and echoed, but the rules ignore them.
    ``checked`` answers were just validated against this version (a userResponse's own).
    """
    known = loaded.catalogue.question_by_id
    candidate = {k: v for k, v in answers.items() if k in known}
    unchecked = {k: v for k, v in candidate.items() if k not in checked}
    if not unchecked:
        return candidate
    _, problems = validate_answers(loaded.catalogue, unchecked)
    for qid, _message in problems:
        candidate.pop(qid, None)
    return candidate


class Recommender:
    """Turns (version, answers) into rules-stage updates, caching recent evaluations.

    Answers arrive one at a time in real use, so answer sets repeat across people: the cache
    (keyed by version and the answers that can matter) saves most evaluations. Cached parts are
    shared: never mutate.
    """

    def __init__(
        self, engine: Engine, cache_size: int = 4096, slow_match_seconds: float = SLOW_MATCH_SECONDS
    ) -> None:
        self.engine = engine
        self.slow_match_seconds = slow_match_seconds
        # Versions whose last matches on the loop were slow: how many in a row (SLOW_IN_A_ROW or
        # more: matched in the thread). A fast match leaves nothing here.
        self._slow: dict[int, int] = {}
        self._matching: ThreadPoolExecutor | None = None  # one thread: matches never run side by side
        self._cache: OrderedDict[tuple[int, bytes], _Evaluated] = OrderedDict()
        self._cache_size = cache_size
        self.hits = 0
        self.misses = 0

    async def evaluate(
        self, loaded: LoadedVersion, answers: dict[str, Any], checked: Collection[str] = ()
    ) -> _Evaluated:
        """The rules part of an update (plans, excluded, counts) with its evaluation.

        Keyed by version and the answers that can matter (rule and askWhen conditions,
        valueFrom, placeholders): a free-text note nobody tests does not defeat the cache.
        ``checked`` names answers already validated against ``loaded`` (they are not again).
        """
        key = self._key(loaded, answers)
        cached = self._cache.get(key)
        if cached is not None:
            self.hits += 1
            self._cache.move_to_end(key)
            return cached
        self.misses += 1
        usable = usable_answers(loaded, answers, checked)
        try:
            evaluation = await self.engine.evaluate(loaded.version, usable)
        except EngineUnavailable as exc:
            log.warning("engine unavailable: %s", exc)
            raise ProtocolError("unavailable", "The rules engine is restarting; please retry") from exc
        except RulesError as exc:
            ref = uuid.uuid4().hex[:12]
            log.error("evaluation failed [%s] version=%s: %s", ref, loaded.version, exc)
            raise ProtocolError("internal", f"Something went wrong on our side (reference {ref})") from exc
        cached = _Evaluated(await self._match(loaded, evaluation, answers, usable), evaluation, usable)
        self._cache[key] = cached
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return cached

    async def _match(
        self,
        loaded: LoadedVersion,
        evaluation: Evaluation,
        answers: Mapping[str, Any],
        usable: Mapping[str, Any],
    ) -> dict[str, Any]:
        """``Matcher.match``: on the event loop, or in the matching thread for a slow version."""
        version = loaded.version
        if self._slow.get(version, 0) >= SLOW_IN_A_ROW:
            if self._matching is None:
                self._matching = ThreadPoolExecutor(1, thread_name_prefix="planwise-match")
            metrics.MATCHES_OFF_LOOP.inc()
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._matching, loaded.matcher.match, evaluation, answers, usable
            )
        started = time.perf_counter()
        part = loaded.matcher.match(evaluation, answers, usable)
        if time.perf_counter() - started >= self.slow_match_seconds:
            self._slow[version] = self._slow.get(version, 0) + 1
            if len(self._slow) > SLOW_VERSIONS:
                del self._slow[min(self._slow)]  # the oldest version
        elif version in self._slow:
            del self._slow[version]  # no longer in a row
        return part

    def close(self) -> None:
        """Let the matching thread go (matches queued for it still run)."""
        if self._matching is not None:
            self._matching.shutdown(wait=False)
            self._matching = None

    @staticmethod
    def _key(loaded: LoadedVersion, answers: dict[str, Any]) -> tuple[int, bytes]:
        inputs = loaded.matcher.inputs
        relevant = {q: v for q, v in answers.items() if q in inputs}
        return (loaded.version, orjson.dumps(relevant, option=orjson.OPT_SORT_KEYS))

    async def update(
        self, loaded: LoadedVersion, answers: dict[str, Any], revision: int, checked: Collection[str] = ()
    ) -> Update:
        """A complete rules-stage update."""
        found = await self.evaluate(loaded, answers, checked)
        payload = {
            "revision": revision,
            "version": loaded.version,
            "stage": "rules",
            "answers": answers,
            "questions": question_states(loaded.catalogue, found.evaluation.visible, answers),
            **found.part,
        }
        return Update(payload, found.evaluation, found.usable)


@dataclass(frozen=True, slots=True)
class _Evaluated:
    part: dict[str, Any]  # plans, excluded, totalPlans, matchedPlans
    evaluation: Evaluation
    usable: dict[str, Any]
