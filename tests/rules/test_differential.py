"""Differential tests: durable-rules and the reference evaluator agree on random catalogues."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.durable_engine import DurableRulesEngine
from rules.matcher import Matcher
from rules.reference import ReferenceEvaluator
from rules.validator import load_catalogue, validate_bundle

from .strategies import answer_sets, catalogues


@pytest.fixture(scope="module")
def durable() -> Iterator[DurableRulesEngine]:
    engine = DurableRulesEngine()
    yield engine
    engine.close()


_versions = iter(range(1, 10**9))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundle=catalogues(), answer_list=st.lists(answer_sets(), min_size=1, max_size=4))
def test_engines_agree(
    durable: DurableRulesEngine, bundle: dict[str, Any], answer_list: list[dict[str, Any]]
) -> None:
    problems = validate_bundle(bundle)
    assert problems == [], problems  # the strategy only builds valid catalogues
    catalogue = load_catalogue(bundle)
    version = next(_versions)
    reference = ReferenceEvaluator(catalogue, version)
    matcher = Matcher(catalogue)
    durable.load(version, catalogue)
    try:
        for answers in answer_list:
            expected = reference.evaluate(answers)
            got = durable.evaluate(version, answers)
            assert got.visible == expected.visible
            assert sorted(got.fired) == sorted(expected.fired)
            assert len(set(got.fired)) == len(got.fired)  # a rule fires at most once
            assert got.facts == expected.facts
            assert matcher.match(got, answers) == matcher.match(expected, answers)
    finally:
        durable.unload(version)
