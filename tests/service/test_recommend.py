"""The evaluation cache: keyed by the answers that can matter, never serving a wrong payload."""

from __future__ import annotations

import json

from rules.engine import ReferenceEngine
from rules.validator import load_catalogue
from service.live import load_version
from service.recommend import Recommender

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
