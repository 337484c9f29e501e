"""Rule analysis on generated catalogues, checked against brute force over every possible answer.

- overlaps and gaps of band rules: for a number question with a step, every accepted answer is
  tried; the analysis must report an overlap exactly when some answer gets two values of the fact,
  and a gap exactly when some answer gets none;
- unsatisfiable conditions: random conditions (all/any/not over number, choice, boolean and multi
  tests) are tried on every combination of answers (unanswered included);
- duplicates: near-identical reasons on the same plans, only when both rules can fire together.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.analysis import analyse, never_fired, normalise
from rules.conditions import compile_condition
from rules.model import parse_condition
from rules.validator import load_catalogue

SETTINGS = settings(max_examples=60, deadline=None)


def bundle(questions: list[dict[str, Any]], rules: list[dict[str, Any]], plans: int = 4) -> dict[str, Any]:
    return {
        "format": "plan-catalogue/1",
        "name": "Generated",
        "attributes": [
            {"key": "price", "type": "number", "label": "Price"},
            {"key": "green", "type": "boolean", "label": "Green"},
        ],
        "plans": [
            {"id": f"p{i}", "name": f"P{i}", "attributes": {"price": 10 + i, "green": i % 2 == 0}}
            for i in range(plans)
        ],
        "questions": questions,
        "rules": rules,
    }


USAGE = {"id": "usage", "text": "Usage?", "type": "number", "min": 0, "max": 60, "step": 1}
OPS = ("<", "<=", ">", ">=", "between")


@st.composite
def band_rules(draw: Any) -> list[dict[str, Any]]:
    """2..4 rules deriving band = b0, b1, ... from one random range each of ``usage``."""
    rules = []
    for i in range(draw(st.integers(2, 4))):
        op = draw(st.sampled_from(OPS))
        if op == "between":
            low = draw(st.integers(0, 60))
            value: Any = [low, draw(st.integers(low, 60))]
        else:
            value = draw(st.integers(0, 60))
        when = {"answer": "usage", "op": op, "value": value}
        rules.append(
            {
                "id": f"band-{i}",
                "name": f"Band {i}",
                "when": when,
                "then": [{"derive": {"fact": "band", "value": f"b{i}"}}],
            }
        )
    return rules


def _values_per_answer(rules: list[dict[str, Any]]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for answer in range(0, 61):
        out[answer] = {
            r["then"][0]["derive"]["value"]
            for r in rules
            if compile_condition(parse_condition(r["when"]))({"usage": answer}, {})
        }
    return out


@SETTINGS
@given(band_rules())
def test_overlaps_and_gaps_match_brute_force(rules: list[dict[str, Any]]) -> None:
    findings = analyse(load_catalogue(bundle([USAGE], rules)))
    kinds = {f.kind for f in findings}
    per_answer = _values_per_answer(rules)
    assert ("overlap" in kinds) == any(len(v) > 1 for v in per_answer.values()), (rules, findings)
    # A rule that never fires (a range outside 0..60) is reported as such, not as a band.
    live = [r for r in rules if any(r["then"][0]["derive"]["value"] in v for v in per_answer.values())]
    if len(live) >= 2:
        assert ("gap" in kinds) == any(not v for v in per_answer.values()), (rules, findings)
    dead = {r["id"] for r in rules} - {r["id"] for r in live}
    assert {f.rules[0] for f in findings if f.kind == "unsatisfiable"} == dead


def band(i: int, when: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"band-{i}",
        "name": f"Band {i}",
        "when": when,
        "then": [{"derive": {"fact": "band", "value": f"b{i}"}}],
    }


def test_moving_a_bound_reports_the_overlap_with_its_range() -> None:
    question = {"id": "kwh", "text": "kWh?", "type": "number", "min": 0, "max": 20000, "step": 1}
    rules = [
        band(0, {"answer": "kwh", "op": "<", "value": 2000}),
        band(1, {"answer": "kwh", "op": "between", "value": [2000, 5000]}),
        band(2, {"answer": "kwh", "op": ">=", "value": 4900}),
    ]
    findings = analyse(load_catalogue(bundle([question], rules)))
    assert [(f.kind, f.rules) for f in findings] == [("overlap", ("band-1", "band-2"))]
    assert "4,900 to 5,000" in findings[0].message and "band = b1" in findings[0].message


def test_gap_respects_the_step() -> None:
    question = {"id": "kwh", "text": "kWh?", "type": "number", "min": 0, "max": 20000, "step": 1}
    rules = [
        band(0, {"answer": "kwh", "op": "<=", "value": 4900}),
        band(1, {"answer": "kwh", "op": ">=", "value": 5000}),
    ]
    findings = analyse(load_catalogue(bundle([question], rules)))
    assert [f.kind for f in findings] == ["gap"] and "4,901 to 4,999" in findings[0].message
    question["step"] = 100  # no answer between 4,900 and 5,000 exists
    assert analyse(load_catalogue(bundle([question], rules))) == []
    del question["step"]  # any number: 4,950.5 falls in the gap
    findings = analyse(load_catalogue(bundle([question], rules)))
    assert [f.kind for f in findings] == ["gap"] and "more than 4,900 and less than 5,000" in findings[
        0
    ].message


# -- unsatisfiable conditions ------------------------------------------------------------------

QUESTIONS = [
    {"id": "n", "text": "N?", "type": "number", "min": 0, "max": 12, "step": 2},
    {"id": "c", "text": "C?", "type": "choice", "options": [{"value": v, "label": v} for v in "xyz"]},
    {"id": "b", "text": "B?", "type": "boolean"},
    {"id": "m", "text": "M?", "type": "multi", "options": [{"value": v, "label": v} for v in "uv"]},
]
ANSWERS: dict[str, list[Any]] = {
    "n": list(range(0, 13, 2)),
    "c": list("xyz"),
    "b": [True, False],
    "m": [[], ["u"], ["v"], ["u", "v"]],
}


def leaf() -> st.SearchStrategy[dict[str, Any]]:
    number = st.one_of(
        # The validator keeps operands in 0..12, and on the step for ==, != and in; odd bounds remain.
        st.builds(
            lambda op, v: {"answer": "n", "op": op, "value": v},
            st.sampled_from(["==", "!="]),
            st.sampled_from(ANSWERS["n"]),
        ),
        st.builds(
            lambda op, v: {"answer": "n", "op": op, "value": v},
            st.sampled_from(["<", "<=", ">", ">="]),
            st.integers(0, 12),
        ),
        st.builds(
            lambda a, b: {"answer": "n", "op": "between", "value": [min(a, b), max(a, b)]},
            st.integers(0, 12),
            st.integers(0, 12),
        ),
        st.builds(
            lambda op, vs: {"answer": "n", "op": op, "value": vs},
            st.sampled_from(["in", "not_in"]),
            st.lists(st.sampled_from(ANSWERS["n"]), min_size=1, max_size=3),
        ),
    )
    choice = st.builds(
        lambda op, v: {"answer": "c", "op": op, "value": v},
        st.sampled_from(["==", "!="]),
        st.sampled_from("xyz"),
    )
    choice_in = st.builds(
        lambda op, vs: {"answer": "c", "op": op, "value": vs},
        st.sampled_from(["in", "not_in"]),
        st.lists(st.sampled_from("xyz"), min_size=1, max_size=2, unique=True),
    )
    boolean = st.builds(
        lambda op, v: {"answer": "b", "op": op, "value": v}, st.sampled_from(["==", "!="]), st.booleans()
    )
    multi = st.one_of(
        st.builds(lambda v: {"answer": "m", "op": "contains", "value": v}, st.sampled_from("uv")),
        st.builds(
            lambda op, vs: {"answer": "m", "op": op, "value": vs},
            st.sampled_from(["contains_any", "contains_all"]),
            st.lists(st.sampled_from("uv"), min_size=1, max_size=2, unique=True),
        ),
    )
    presence = st.builds(
        lambda q, op: {"answer": q, "op": op},
        st.sampled_from("ncbm"),
        st.sampled_from(["exists", "not_exists"]),
    )
    return st.one_of(number, choice, choice_in, boolean, multi, presence)


conditions = st.recursive(
    leaf(),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=6,
)


def _satisfiable(when: dict[str, Any]) -> bool:
    check = compile_condition(parse_condition(when))
    options = [[None, *ANSWERS[q]] for q in "ncbm"]
    for combo in itertools.product(*options):
        answers = {q: v for q, v in zip("ncbm", combo, strict=True) if v is not None}
        if check(answers, {}):
            return True
    return False


@settings(max_examples=300, deadline=None)
@given(conditions)
def test_unsatisfiable_matches_brute_force(when: dict[str, Any]) -> None:
    rule = {"id": "r", "name": "R", "when": when, "then": [{"score": 1}]}
    findings = analyse(load_catalogue(bundle(QUESTIONS, [rule])))
    reported = any(f.kind == "unsatisfiable" for f in findings)
    assert reported == (not _satisfiable(when)), (when, findings)


def test_never_firing_spreads_through_facts() -> None:
    rules = [
        {
            "id": "impossible",
            "name": "I",
            "when": {"answer": "n", "op": ">", "value": 12},
            "then": [{"derive": {"fact": "f", "value": "a"}}],
        },
        {
            "id": "needs-a",
            "name": "A",
            "when": {"fact": "f", "op": "==", "value": "a"},
            "then": [{"score": 1}],
        },
        {
            "id": "fine",
            "name": "F",
            "when": {"answer": "n", "op": "<=", "value": 12},
            "then": [{"derive": {"fact": "f", "value": "b"}}],
        },
        {
            "id": "needs-b",
            "name": "B",
            "when": {"fact": "f", "op": "in", "value": ["b"]},
            "then": [{"score": 1}],
        },
    ]
    findings = analyse(load_catalogue(bundle(QUESTIONS, rules)))
    assert {f.rules[0] for f in findings if f.kind == "unsatisfiable"} == {"impossible", "needs-a"}
    message = next(f.message for f in findings if f.rules == ("needs-a",))
    assert "needs the fact f = a" in message
    count, idle = never_fired(load_catalogue(bundle(QUESTIONS, rules)), [{"n": 2}, {"n": 4}])
    assert count == 2 and idle == ["impossible", "needs-a"]


# -- duplicates ---------------------------------------------------------------------------------


def score(
    rid: str, when: dict[str, Any], because: str | None, where: Any = None, points: int = 5
) -> dict[str, Any]:
    effect: dict[str, Any] = {"score": points}
    if where is not None:
        effect["where"] = where
    if because is not None:
        effect["because"] = because
    return {"id": rid, "name": rid, "when": when, "then": [effect]}


ALWAYS: dict[str, Any] = {"all": []}
GREEN = {"attribute": "green", "op": "==", "value": True}
CHEAP_EVEN = {
    "all": [{"attribute": "price", "op": "<", "value": 14}, {"attribute": "green", "op": "==", "value": True}]
}


@SETTINGS
@given(
    st.integers(2, 9),
    st.sampled_from(["Good for the planet", "good for the planet!", "Good for the  planet."]),
)
def test_duplicate_reasons_on_the_same_plans(plans: int, other: str) -> None:
    rules = [score("a", ALWAYS, "Good for the planet", GREEN), score("b", ALWAYS, other, GREEN)]
    findings = analyse(load_catalogue(bundle(QUESTIONS, rules, plans)))
    assert [(f.kind, f.rules) for f in findings] == [("duplicate", ("a", "b"))]
    assert f"the same {(plans + 1) // 2} plan(s)" in findings[0].message


def test_duplicates_need_the_same_plans_a_similar_reason_and_rules_that_fire_together() -> None:
    # Different conditions selecting the same plans (only the even plans are green and cheap enough).
    same_plans = [score("a", ALWAYS, "Green energy", GREEN), score("b", ALWAYS, "Green energy", CHEAP_EVEN)]
    assert [f.kind for f in analyse(load_catalogue(bundle(QUESTIONS, same_plans, 4)))] == ["duplicate"]
    other_plans = [score("a", ALWAYS, "Green energy", GREEN), score("b", ALWAYS, "Green energy")]
    assert analyse(load_catalogue(bundle(QUESTIONS, other_plans))) == []
    other_reason = [score("a", ALWAYS, "Green energy", GREEN), score("b", ALWAYS, "Cheapest price", GREEN)]
    assert analyse(load_catalogue(bundle(QUESTIONS, other_reason))) == []
    exclusive = [
        score("a", {"answer": "b", "op": "==", "value": True}, "Green energy", GREEN),
        score("b", {"answer": "b", "op": "==", "value": False}, "Green energy", GREEN),
    ]
    assert analyse(load_catalogue(bundle(QUESTIONS, exclusive))) == []
    no_reason = [score("a", ALWAYS, None, GREEN), score("b", ALWAYS, None, GREEN)]
    assert [f.kind for f in analyse(load_catalogue(bundle(QUESTIONS, no_reason)))] == ["duplicate"]
    no_reason[1]["then"][0]["score"] = 7
    assert analyse(load_catalogue(bundle(QUESTIONS, no_reason))) == []


def test_normalise() -> None:
    assert normalise("Within your budget of {answers.budget} EUR!") == "within your budget of {} eur"
