"""A plan's score is the sum of the points of the fired ``score`` effects that match it
(CATALOGUE.md), also when many effects fire and the matcher adds them up by points value."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.matcher import GROUPED_FROM, Matcher
from rules.reference import ReferenceEvaluator
from rules.validator import load_catalogue, validate_bundle

from ..service.conftest import EXAMPLE

POINTS = st.sampled_from([1, 2, -3, 7, 100, 2.5, 0.25, -0.5])
THRESHOLDS = st.sampled_from([0, 5, 10, 20, 50, 1000])


def _bundle(rules: list[tuple[int | float, int]], data: list[int]) -> dict[str, Any]:
    bundle = json.loads(EXAMPLE.read_text())
    template = bundle["plans"][0]
    bundle["plans"] = [
        {**template, "id": f"p{i:03d}", "attributes": {**template["attributes"], "dataGb": gb}}
        for i, gb in enumerate(data)
    ]
    bundle["rules"] = [
        {
            "id": f"r{i:03d}",
            "name": f"Rule {i}",
            "when": {"answer": "dataUsage", "op": "exists"},
            "then": [{"score": points, "where": {"attribute": "dataGb", "op": ">=", "value": at_least}}],
        }
        for i, (points, at_least) in enumerate(rules)
    ]
    for question in bundle["questions"]:  # no rule derives the facts some ask about here
        question.pop("askWhen", None)
    bundle["ranking"] = {"order": [{"by": "score", "dir": "desc"}], "limit": len(data)}
    return bundle


@settings(max_examples=60, deadline=None)
@given(
    rules=st.lists(st.tuples(POINTS, THRESHOLDS), min_size=GROUPED_FROM, max_size=60),
    data=st.lists(st.integers(0, 60), min_size=1, max_size=40),
)
def test_many_fired_score_effects_add_up_to_each_plans_score(
    rules: list[tuple[int | float, int]], data: list[int]
) -> None:
    bundle = _bundle(rules, data)
    assert validate_bundle(bundle) == []
    catalogue = load_catalogue(bundle)
    answers = {"dataUsage": "heavy"}
    evaluation = ReferenceEvaluator(catalogue).evaluate(answers)
    assert len(evaluation.fired) == len(rules)  # every rule fires: every effect is added
    shown = Matcher(catalogue).match(evaluation, answers)["plans"]
    expected = {f"p{i:03d}": sum(p for p, at_least in rules if gb >= at_least) for i, gb in enumerate(data)}
    assert {plan["id"]: plan["score"] for plan in shown} == expected
    for plan in shown:  # integral scores are integers (the same JSON values)
        assert isinstance(plan["score"], int) == float(expected[plan["id"]]).is_integer()
