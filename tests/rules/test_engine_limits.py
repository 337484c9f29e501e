"""The validator reports the rules engine's limits as problems, before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

from rules.validator import validate_bundle

EXAMPLE = json.loads((Path(__file__).parent.parent / "fixtures" / "example.json").read_text())


def test_a_condition_too_complex_for_the_engine_is_a_problem_with_a_fix() -> None:
    bundle = json.loads(json.dumps(EXAMPLE))
    travel = {"answer": "travel", "op": "==", "value": True}
    nested = {"all": [{"any": [{"answer": "budget", "op": "==", "value": i}, travel]} for i in range(16)]}
    bundle["rules"].append({"id": "deep", "name": "Deep", "when": nested, "then": [{"score": 1}]})
    problems = validate_bundle(bundle)
    assert [p.path for p in problems] == ["rules[4].when"]
    assert problems[0].message  # says what to change
    bundle["rules"][-1]["when"] = {"all": nested["all"][:3]}
    assert validate_bundle(bundle) == []
