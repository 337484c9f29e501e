"""The validator never raises: arbitrary JSON values, and random mutations of a valid bundle."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import reduce
from operator import getitem
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.errors import CatalogueInvalid, Problem
from rules.model import Catalogue
from rules.validator import INTERNAL_ERROR, load_catalogue, validate_bundle
from rules.visibility import visibility_levels
from tests.rules.test_validator import BUNDLE

# Words of the bundle format, so that random values often reach the deeper checks.
WORDS = [
    "format", "name", "description", "attributes", "plans", "questions", "rules", "ranking", "key", "type",
    "label", "options", "id", "active", "text", "askWhen", "min", "max", "step", "maxLength", "value", "when",
    "then", "priority", "enabled", "require", "exclude", "score", "derive", "because", "where", "answer",
    "fact", "attribute", "op", "valueFrom", "all", "any", "not", "order", "by", "dir", "limit",
    "plan-catalogue/1", "number", "boolean", "enum", "set", "choice", "multi", "==", "!=", "<", ">=", "in",
    "not_in", "between", "contains", "contains_any", "exists", "not_exists", "usage", "budget", "travel",
    "extras", "lines", "segment", "family", "price", "perks", "network", "heavy", "{answers.budget}",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(WORDS)
)
keys = st.sampled_from(WORDS) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=6),
    max_leaves=40,
)


def check(data: object) -> list[Problem]:
    problems = validate_bundle(data)
    assert isinstance(problems, list)
    assert all(isinstance(p, Problem) and isinstance(p.path, str) and p.message for p in problems)
    assert all(p.message != INTERNAL_ERROR for p in problems), problems
    return problems


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_never_raises(value: object) -> None:
    check(value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(list(BUNDLE)), json_values))
def test_arbitrary_parts_of_a_bundle_never_raise(value: dict[str, Any]) -> None:
    check(value)


def containers(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The paths of every object and list inside ``value`` (itself included)."""
    if isinstance(value, dict):
        yield path
        for key, child in value.items():
            yield from containers(child, (*path, key))
    elif isinstance(value, list):
        yield path
        for index, child in enumerate(value):
            yield from containers(child, (*path, index))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutations_of_a_valid_bundle_never_raise(data: st.DataObject) -> None:
    bundle = copy.deepcopy(BUNDLE)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4), label="mutations")):
        path = data.draw(st.sampled_from(list(containers(bundle))), label="path")
        target = reduce(getitem, path, bundle)
        action = data.draw(st.sampled_from(["delete", "replace", "insert"]), label="action")
        if isinstance(target, dict):
            if action == "insert" or not target:
                target[data.draw(keys, label="key")] = data.draw(json_values, label="value")
            else:
                key = data.draw(st.sampled_from(sorted(target)), label="key")
                if action == "delete":
                    del target[key]
                else:
                    target[key] = data.draw(json_values, label="value")
        elif action == "insert" or not target:
            position = data.draw(st.integers(min_value=0, max_value=len(target)), label="index")
            target.insert(position, data.draw(json_values, label="value"))
        else:
            index = data.draw(st.integers(min_value=0, max_value=len(target) - 1), label="index")
            if action == "delete":
                del target[index]
            else:
                target[index] = data.draw(json_values, label="value")
    problems = check(bundle)
    if problems:
        try:
            load_catalogue(bundle)
        except CatalogueInvalid as error:
            assert error.problems == problems
        else:
            raise AssertionError("load_catalogue accepted a bundle with problems")
    else:
        # What the validator accepts, the model and the visibility order can be built from.
        catalogue = load_catalogue(bundle)
        assert isinstance(catalogue, Catalogue)
        visibility_levels(catalogue)
