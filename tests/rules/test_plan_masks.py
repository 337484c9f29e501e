"""Plan conditions worked out as masks over every plan equal the plain per-plan check (CATALOGUE.md)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.conditions import compile_plan_condition
from rules.model import Plan, parse_plan_condition
from rules.plan_masks import PlanColumns, compile_mask

WORDS = ["a", "b", "c"]

# Attribute values as a catalogue holds them; any of them may be missing from a plan.
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "n": st.one_of(st.integers(-5, 5), st.floats(-5, 5, allow_nan=False).map(lambda f: round(f, 1))),
    "b": st.booleans(),
    "e": st.sampled_from(WORDS),
    "s": st.lists(st.sampled_from(WORDS), unique=True, max_size=3),
}

# Every valueFrom pair of CATALOGUE.md: attribute, operators, the answer's values.
PAIRS: list[tuple[str, list[str], st.SearchStrategy[Any]]] = [
    ("n", ["==", "!=", "<", "<=", ">", ">="], st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False)),
    ("b", ["==", "!="], st.booleans()),
    ("e", ["==", "!="], st.sampled_from([*WORDS, "zz"])),
    ("e", ["in", "not_in"], st.lists(st.sampled_from([*WORDS, "zz"]), unique=True, max_size=3)),
    ("s", ["contains"], st.sampled_from([*WORDS, "zz"])),
    (
        "s",
        ["contains_any", "contains_all"],
        st.lists(st.sampled_from([*WORDS, "zz"]), unique=True, max_size=3),
    ),
]


@st.composite
def plans(draw: st.DrawFn) -> list[Plan]:
    out = []
    for i in range(draw(st.integers(0, 12))):
        attributes = {k: draw(v) for k, v in VALUES.items() if draw(st.booleans())}
        out.append(Plan(f"p{i}", f"P{i}", attributes))
    return out


@st.composite
def leaves(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A condition leaf and the answers it may read (the answer can be missing)."""
    index = draw(st.integers(0, len(PAIRS) - 1))
    key, ops, answer = PAIRS[index]
    qid = f"q{index}"
    if draw(st.booleans()):
        leaf = {"attribute": key, "op": draw(st.sampled_from(ops)), "valueFrom": {"answer": qid}}
    else:
        leaf = {"attribute": key, "op": draw(st.sampled_from(["exists", "not_exists"]))}
    answers = {qid: draw(answer)} if draw(st.integers(0, 4)) else {}
    return leaf, answers


@st.composite
def conditions(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    parts = draw(st.lists(leaves(), min_size=1, max_size=3))
    answers: dict[str, Any] = {}
    for _, a in parts:
        answers.update(a)
    nodes = [leaf for leaf, _ in parts]
    shape = draw(st.sampled_from(["leaf", "all", "any", "not", "not-all", "empty-all", "empty-any"]))
    cond = {
        "leaf": nodes[0],
        "all": {"all": nodes},
        "any": {"any": nodes},
        "not": {"not": nodes[0]},
        "not-all": {"not": {"all": nodes}},
        "empty-all": {"all": []},
        "empty-any": {"any": []},
    }[shape]
    return cond, answers


LEAF_CASES = [(i, op) for i, (_, ops, _) in enumerate(PAIRS) for op in ops]


@pytest.mark.parametrize(("pair", "op"), LEAF_CASES, ids=[f"{PAIRS[i][0]}{op}" for i, op in LEAF_CASES])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_each_value_from_operator_equals_the_per_plan_check(pair: int, op: str, data: st.DataObject) -> None:
    key, _, answer = PAIRS[pair]
    plan_list = data.draw(plans())
    cond = parse_plan_condition({"attribute": key, "op": op, "valueFrom": {"answer": "q"}})
    answers = {"q": data.draw(answer)}
    expected = [compile_plan_condition(cond)(p.attributes, answers) for p in plan_list]
    assert compile_mask(cond, PlanColumns(plan_list))(answers).tolist() == expected


@settings(max_examples=400, deadline=None)
@given(plans(), conditions())
def test_masks_equal_the_per_plan_check(
    plan_list: list[Plan], case: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    data, answers = case
    cond = parse_plan_condition(data)
    check = compile_plan_condition(cond)
    expected = [check(p.attributes, answers) for p in plan_list]
    mask = compile_mask(cond, PlanColumns(plan_list))(answers)
    assert mask.tolist() == expected
