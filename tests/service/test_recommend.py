"""The evaluation cache: keyed by the answers that can matter, never serving a wrong payload; a slow
version's matches off the event loop."""

from __future__ import annotations

import json

from prometheus_client import REGISTRY

from rules.engine import ReferenceEngine
from rules.validator import load_catalogue
from service.live import load_version
from service.recommend import SLOW_IN_A_ROW, Recommender

from .conftest import EXAMPLE


async def test_untested_answers_share_a_cached_evaluation_but_echo_their_own_state() -> None:
    bundle = json.loads(EXAMPLE.read_text())
    bundle["questions"].append({"id": "notes", "text": "Anything else?", "type": "text"})
    catalogue = load_catalogue(bundle)
    loaded = load_version(1, catalogue)
    engine = ReferenceEngine()
    await engine.load(1, catalogue)
    recommender = Recommender(engine)
    first = (await recommender.update(loaded, {"dataUsage": "heavy", "notes": "call me"}, 1)).payload
    second = (await recommender.update(loaded, {"dataUsage": "heavy", "notes": "email me"}, 2)).payload
    assert (recommender.hits, recommender.misses) == (1, 1)
    assert first["plans"] == second["plans"] and second["answers"]["notes"] == "email me"
    third = (await recommender.update(loaded, {"dataUsage": "heavy"}, 3)).payload
    assert recommender.hits == 2
    notes = [q for q in third["questions"] if q["id"] == "notes"]
    assert notes == [{"id": "notes", "visible": True, "answered": False}]
    await recommender.update(loaded, {"dataUsage": "light"}, 4)
    assert recommender.misses == 2


async def test_a_slow_versions_matches_move_to_the_matching_thread_with_the_same_updates() -> None:
    """A version whose matches were slow three times in a row is matched off the event loop from
    then on (counted in ``planwise_matches_off_loop_total``); the updates do not change. With the
    default threshold, the example's matches (well under a millisecond) stay on the loop."""
    catalogue = load_catalogue(json.loads(EXAMPLE.read_text()))
    loaded = load_version(1, catalogue)
    engine = ReferenceEngine()
    await engine.load(1, catalogue)
    on_loop = Recommender(engine, cache_size=0)
    slow = Recommender(engine, cache_size=0, slow_match_seconds=0)  # every match counts as slow
    answer_sets = [
        {"dataUsage": usage, "budget": budget, "travel": budget > 30}
        for usage in ("light", "medium", "heavy")
        for budget in (15, 40)
    ]

    def off_loop() -> float:
        return REGISTRY.get_sample_value("planwise_matches_off_loop_total") or 0.0

    before = off_loop()
    try:
        for revision, answers in enumerate(answer_sets, start=1):
            expected = (await on_loop.update(loaded, answers, revision)).payload
            assert (await slow.update(loaded, answers, revision)).payload == expected
            assert off_loop() - before == max(0, revision - SLOW_IN_A_ROW)
    finally:
        slow.close()
        on_loop.close()
