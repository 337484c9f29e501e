"""The durable-rules compiler, in-process engine and worker process, on real durable-rules."""

from __future__ import annotations

import io
import itertools
import json
import random
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from rules.durable_compiler import DurableLimit, compile_catalogue, limit_problems
from rules.durable_engine import DurableRulesEngine
from rules.durable_worker import Worker, serve
from rules.errors import UnknownVersion
from rules.evaluation import Evaluation
from rules.model import Catalogue, parse_catalogue
from rules.reference import ReferenceEvaluator
from rules.validator import load_catalogue, validate_bundle

ROOT = Path(__file__).resolve().parents[2]
DEMO = json.loads((ROOT / "data" / "demo-mobile.json").read_text())

OPTIONS = [{"value": v, "label": v.upper()} for v in ("x", "y", "z", "w")]
QUESTIONS: list[dict[str, Any]] = [
    {"id": "num", "text": "A number", "type": "number", "min": 0, "max": 1000},
    {"id": "flag", "text": "Yes or no", "type": "boolean"},
    {"id": "pick", "text": "One of", "type": "choice", "options": OPTIONS},
    {"id": "note", "text": "Free text", "type": "text"},
    {"id": "many", "text": "Several of", "type": "multi", "options": OPTIONS},
]


def bundle(rules: list[dict[str, Any]], questions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A minimal valid bundle around ``rules``."""
    return {
        "format": "plan-catalogue/1",
        "name": "Test",
        "attributes": [],
        "plans": [],
        "questions": questions if questions is not None else QUESTIONS,
        "rules": rules,
    }


def rule(rule_id: str, when: dict[str, Any], *derive: tuple[str, str], **extra: Any) -> dict[str, Any]:
    then: list[dict[str, Any]] = [{"derive": {"fact": k, "value": v}} for k, v in derive] or [{"score": 1}]
    return {"id": rule_id, "name": rule_id, "when": when, "then": then, **extra}


def catalogue(rules: list[dict[str, Any]], questions: list[dict[str, Any]] | None = None) -> Catalogue:
    """The model of a bundle that is valid in the language; engine limits are checked separately.

    The validator also reports the engine's limits (via ``limit_problems``); the tests here
    probe those limits directly, so only the language-level problems must be absent.
    """
    data = bundle(rules, questions)
    problems = validate_bundle(data)
    assert problems == limit_problems(parse_catalogue(data))
    return parse_catalogue(data)


_versions = itertools.count(1)


@pytest.fixture(scope="module")
def engine() -> Iterator[DurableRulesEngine]:
    eng = DurableRulesEngine()
    yield eng
    eng.close()


def run(eng: DurableRulesEngine, cat: Catalogue, answers_list: list[dict[str, Any]]) -> list[Evaluation]:
    """Evaluate every answer set on a freshly loaded version, then unload it."""
    version = next(_versions)
    eng.load(version, cat)
    try:
        return [eng.evaluate(version, a) for a in answers_list]
    finally:
        eng.unload(version)
        assert eng.live_sessions() == 0


def same_as_reference(got: Evaluation, want: Evaluation) -> None:
    """Equal evaluations; firing order is the engine's own, so fired is compared as a set."""
    assert got.visible == want.visible
    assert len(set(got.fired)) == len(got.fired), "a rule fired twice"
    assert set(got.fired) == set(want.fired)
    assert got.facts == want.facts


def check_reference(cat: Catalogue, results: list[Evaluation], answer_sets: list[dict[str, Any]]) -> None:
    """Each result equals the reference evaluator's on the same answers."""
    reference = ReferenceEvaluator(cat, 0)
    for got, answers in zip(results, answer_sets, strict=True):
        same_as_reference(got, reference.evaluate(answers))


def a(op: str, value: Any = None, qid: str = "num") -> dict[str, Any]:
    cond: dict[str, Any] = {"answer": qid, "op": op}
    if op not in ("exists", "not_exists"):
        cond["value"] = value
    return cond


# (condition, answers, expected). Every case also runs under "not" with the opposite result.
OPERATOR_CASES: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
    (a("==", 5), {"num": 5}, True),
    (a("==", 5), {"num": 5.0}, True),
    (a("==", 5), {"num": 6}, False),
    (a("==", 5), {}, False),
    (a("!=", 5), {"num": 6}, True),
    (a("!=", 5), {"num": 5}, False),
    (a("!=", 5), {}, False),
    (a("<", 5), {"num": 4.5}, True),
    (a("<", 5), {"num": 5}, False),
    (a("<", 5), {}, False),
    (a("<=", 5), {"num": 5}, True),
    (a("<=", 0.3), {"num": 0.30000000000000004}, False),
    (a(">", 5), {"num": 6}, True),
    (a(">", 5), {"num": 5}, False),
    (a(">=", 5), {"num": 5}, True),
    (a(">=", 5), {}, False),
    (a("in", [1, 2, 3]), {"num": 2}, True),
    (a("in", [1, 2, 3]), {"num": 4}, False),
    (a("in", [1, 2, 3]), {}, False),
    (a("not_in", [1, 2, 3]), {"num": 4}, True),
    (a("not_in", [1, 2, 3]), {"num": 1}, False),
    (a("not_in", [1, 2, 3]), {}, False),
    (a("between", [2, 4]), {"num": 2}, True),
    (a("between", [2, 4]), {"num": 4}, True),
    (a("between", [2, 4]), {"num": 4.5}, False),
    (a("between", [2, 4]), {"num": 1}, False),
    (a("between", [2, 4]), {}, False),
    (a("exists"), {"num": 0}, True),
    (a("exists"), {}, False),
    (a("not_exists"), {}, True),
    (a("not_exists"), {"num": 0}, False),
    (a("==", True, "flag"), {"flag": True}, True),
    (a("==", True, "flag"), {"flag": False}, False),
    (a("==", False, "flag"), {"flag": False}, True),
    (a("==", False, "flag"), {}, False),
    (a("!=", True, "flag"), {"flag": False}, True),
    (a("!=", True, "flag"), {}, False),
    (a("==", "x", "pick"), {"pick": "x"}, True),
    (a("==", "x", "pick"), {"pick": "y"}, False),
    (a("!=", "x", "pick"), {"pick": "y"}, True),
    (a("!=", "x", "pick"), {}, False),
    (a("in", ["x", "y"], "pick"), {"pick": "y"}, True),
    (a("in", ["x", "y"], "pick"), {"pick": "z"}, False),
    (a("not_in", ["x", "y"], "pick"), {"pick": "z"}, True),
    (a("not_in", ["x", "y"], "pick"), {"pick": "x"}, False),
    (a("exists", qid="pick"), {"pick": "w"}, True),
    (a("==", 'é "quoted" \\ 1', "note"), {"note": 'é "quoted" \\ 1'}, True),
    (a("==", "abc", "note"), {"note": "abd"}, False),
    (a("==", "1", "note"), {"note": "1.0"}, False),
    (a("!=", "abc", "note"), {"note": ""}, True),
    (a("in", ["a", "b"], "note"), {"note": "b"}, True),
    (a("not_in", ["a", "b"], "note"), {"note": "c"}, True),
    (a("contains", "x", "many"), {"many": ["y", "x"]}, True),
    (a("contains", "x", "many"), {"many": ["y"]}, False),
    (a("contains", "x", "many"), {"many": []}, False),
    (a("contains", "x", "many"), {}, False),
    (a("contains_any", ["x", "y"], "many"), {"many": ["y"]}, True),
    (a("contains_any", ["x", "y"], "many"), {"many": ["z"]}, False),
    (a("contains_any", ["x", "y"], "many"), {}, False),
    (a("contains_all", ["x", "y"], "many"), {"many": ["y", "z", "x"]}, True),
    (a("contains_all", ["x", "y"], "many"), {"many": ["y"]}, False),
    (a("contains_all", ["x", "y"], "many"), {"many": []}, False),
    (a("exists", qid="many"), {"many": []}, True),
    (a("not_exists", qid="many"), {"many": []}, False),
    ({"all": []}, {}, True),
    ({"any": []}, {}, False),
    ({"all": [a(">", 1), a("==", True, "flag")]}, {"num": 2, "flag": True}, True),
    ({"all": [a(">", 1), a("==", True, "flag")]}, {"num": 2}, False),
    ({"any": [a(">", 1), a("==", True, "flag")]}, {"flag": True}, True),
    ({"any": [a(">", 1), a("==", True, "flag")]}, {"num": 0, "flag": False}, False),
    ({"not": {"any": [a(">", 1), a("contains", "x", "many")]}}, {}, True),
    (
        {"any": [{"not": a("==", "x", "pick")}, a("not_exists", qid="note")]},
        {"pick": "x", "note": "n"},
        False,
    ),
    ({"all": [{"not": {"all": [a("<", 3), {"not": a("exists", qid="flag")}]}}]}, {"num": 1}, False),
    (
        {"all": [{"not": {"all": [a("<", 3), {"not": a("exists", qid="flag")}]}}]},
        {"num": 1, "flag": True},
        True,
    ),
]


def _case_id(case: tuple[dict[str, Any], dict[str, Any], bool]) -> str:
    return json.dumps(case[0], ensure_ascii=True)[:60] + " @ " + json.dumps(case[1], ensure_ascii=True)


@pytest.mark.parametrize("case", OPERATOR_CASES, ids=[_case_id(c) for c in OPERATOR_CASES])
def test_every_operator_and_its_negation(engine: DurableRulesEngine, case: Any) -> None:
    cond, answers, expected = case
    cat = catalogue([rule("r", cond), rule("not-r", {"not": cond})])
    (got,) = run(engine, cat, [answers])
    assert ("r" in got.fired) is expected
    assert ("not-r" in got.fired) is (not expected)
    check_reference(cat, [got], [answers])


def test_disabled_rules_never_fire(engine: DurableRulesEngine) -> None:
    cat = catalogue([rule("off", {"all": []}, ("k", "v"), enabled=False), rule("on", {"all": []})])
    (got,) = run(engine, cat, [{}])
    assert got.fired == ("on",)
    assert got.facts == {}


def test_derive_chain_three_deep_and_fact_operators(engine: DurableRulesEngine) -> None:
    cat = catalogue(
        [
            # Listed consumers first: chaining must not depend on the catalogue order.
            rule("d4", {"fact": "c", "op": "exists"}, ("d", "done")),
            rule("d3", {"fact": "b", "op": "in", "value": ["two", "three"]}, ("c", "three")),
            rule("d2", {"fact": "a", "op": "==", "value": "one"}, ("b", "two")),
            rule("d1", a(">", 10), ("a", "one")),
            rule("never", {"fact": "a", "op": "==", "value": "other"}, ("z", "z")),
            rule("rare", a("==", 999), ("a", "other"), ("b", "three")),
        ]
    )
    deep, shallow = run(engine, cat, [{"num": 11}, {"num": 3}])
    assert set(deep.fired) == {"d1", "d2", "d3", "d4"}
    assert deep.fired[0] == "d1"
    assert deep.facts == {"a": ("one",), "b": ("two",), "c": ("three",), "d": ("done",)}
    assert shallow.fired == () and shallow.facts == {}


def test_several_values_of_one_fact_key(engine: DurableRulesEngine) -> None:
    """Tests on one key may need one fact or several: durable never binds a fact twice."""
    cat = catalogue(
        [
            rule("sa", a("in", [1, 3]), ("seg", "a")),
            rule("sb", a("in", [2, 3]), ("seg", "b")),
            rule("sc", a("==", 4), ("seg", "c")),
            rule(
                "both",
                {
                    "all": [
                        {"fact": "seg", "op": "==", "value": "a"},
                        {"fact": "seg", "op": "==", "value": "b"},
                    ]
                },
            ),
            rule(
                "overlap",
                {
                    "all": [
                        {"fact": "seg", "op": "in", "value": ["a", "b"]},
                        {"fact": "seg", "op": "in", "value": ["b", "c"]},
                        {"fact": "seg", "op": "exists"},
                    ]
                },
            ),
            rule(
                "twice",
                {
                    "all": [
                        {"fact": "seg", "op": "==", "value": "b"},
                        {"fact": "seg", "op": "==", "value": "b"},
                    ]
                },
            ),
        ]
    )
    answer_sets = [{"num": n} for n in (1, 2, 3, 4)]
    results = run(engine, cat, answer_sets)
    assert [sorted(r.fired) for r in results] == [
        ["sa"],
        ["overlap", "sb", "twice"],
        ["both", "overlap", "sa", "sb", "twice"],
        ["sc"],
    ]
    assert results[2].facts == {"seg": ("a", "b")}
    check_reference(cat, results, answer_sets)


def test_chaining_across_chunks(engine: DurableRulesEngine) -> None:
    rules = [rule(f"c{i}", {"fact": f"k{i - 1}", "op": "exists"}, (f"k{i}", "v")) for i in range(5, 0, -1)]
    rules.append(rule("c0", a("exists"), ("k0", "v")))
    cat = catalogue(rules)
    small = DurableRulesEngine(max_rules=1)
    try:
        small.load(1, cat)
        assert len(small.compiled(1).chunks) == 6
        got = small.evaluate(1, {"num": 1})
        assert set(got.fired) == {f"c{i}" for i in range(6)}
        assert got.facts == {f"k{i}": ("v",) for i in range(6)}
        assert small.evaluate(1, {}).fired == ()
        assert small.live_sessions() == 0
    finally:
        small.close()


def test_identical_conditions_in_300_rules_compile_to_one_durable_rule(engine: DurableRulesEngine) -> None:
    cat = catalogue([rule(f"same{i}", a(">", 5)) for i in range(300)])
    compiled = compile_catalogue(cat)
    assert compiled.durable_rules == 1
    assert compiled.chunks[0].rules[0].rule_ids == tuple(f"same{i}" for i in range(300))
    fired, not_fired = run(engine, cat, [{"num": 6}, {"num": 5}])
    assert fired.fired == tuple(f"same{i}" for i in range(300))
    assert not_fired.fired == ()


def test_300_rules_sharing_one_fact_test_are_split_across_chunks(engine: DurableRulesEngine) -> None:
    """Durable allows 256 patterns on one identical condition (error 108, segfault at 256)."""
    rules = [rule("src", a("exists"), ("seg", "s"))]
    rules += [
        rule(f"r{i}", {"all": [{"fact": "seg", "op": "==", "value": "s"}, a(">=", i)]}) for i in range(300)
    ]
    cat = catalogue(rules)
    assert len(compile_catalogue(cat).chunks) >= 2
    (got,) = run(engine, cat, [{"num": 1000}])
    assert set(got.fired) == {"src"} | {f"r{i}" for i in range(300)}


def test_wide_fan_out_stays_inside_durables_evaluation_stack(engine: DurableRulesEngine) -> None:
    """More than 64 tests matching one fact at one node fail the assert with error 303."""
    cat = catalogue([rule(f"gt{i}", a(">", i)) for i in range(200)])
    compiled = compile_catalogue(cat)
    assert len(compiled.chunks) >= 4
    assert all(c.peak <= 56 for c in compiled.chunks)
    (got,) = run(engine, cat, [{"num": 1000}])
    assert len(got.fired) == 200


def test_too_complex_conditions_are_reported_not_crashed(engine: DurableRulesEngine) -> None:
    """Durable keeps at most 15 all/any per pattern (error 113): the compiler says so first."""
    nested = {"all": [{"any": [a("==", i), a("==", True, "flag")]} for i in range(16)]}
    cat = catalogue([rule("ok", a("==", 1)), rule("deep", nested)])
    problems = limit_problems(cat)
    assert [p.path for p in problems] == ["rules[1].when"]
    with pytest.raises(DurableLimit):
        engine.load(next(_versions), cat)
    assert limit_problems(catalogue([rule("ok", a("==", 1))])) == []


def test_wide_top_level_any_is_split_into_several_rules(engine: DurableRulesEngine) -> None:
    items = [{"all": [a("==", i), {"any": [a("==", True, "flag"), a("==", "x", "pick")]}]} for i in range(12)]
    cat = catalogue([rule("wide", {"any": items})])
    assert compile_catalogue(cat).durable_rules == 12
    hit, miss = run(engine, cat, [{"num": 7, "pick": "x"}, {"num": 7}])
    assert hit.fired == ("wide",) and miss.fired == ()


def test_too_many_tested_answer_fields_are_reported() -> None:
    """Durable rejects a fact with more than 253 properties (error 302): one field per test."""
    questions = [{"id": f"q{i}", "text": "?", "type": "boolean"} for i in range(250)]
    cat = catalogue([rule(f"r{i}", a("==", True, f"q{i}")) for i in range(250)], questions)
    assert [p.path for p in limit_problems(cat)] == ["rules"]
    fewer = catalogue([rule(f"r{i}", a("==", True, f"q{i}")) for i in range(100)], questions)
    assert limit_problems(fewer) == []


def test_compiled_rulesets_use_only_durables_rule_keys() -> None:
    compiled = compile_catalogue(load_catalogue(DEMO), max_rules=10)
    for chunk in compiled.chunks:
        definition = chunk.definition()
        assert {"begin", "sink"} <= set(definition)
        text = json.dumps(definition)
        assert '"$and": []' not in text and '"$or": []' not in text  # durable hangs on an empty $and
        for body in definition.values():
            assert set(body) == {"all"}  # anything else is rejected (error 105)


def test_a_single_condition_wider_than_durables_stack_is_reported() -> None:
    options = [{"value": f"o{i}", "label": f"O{i}"} for i in range(70)]
    questions = [{"id": "lots", "text": "?", "type": "multi", "options": options}]
    wide = {"answer": "lots", "op": "contains_any", "value": [o["value"] for o in options]}
    cat = catalogue(
        [rule("fine", {"answer": "lots", "op": "contains", "value": "o1"}), rule("wide", wide)], questions
    )
    problems = limit_problems(cat)
    assert [p.path for p in problems] == ["rules[1].when"]
    assert "too wide" in problems[0].message


def test_field_names_with_clashing_hashes_are_reported() -> None:
    """Durable tells properties apart by a 32-bit FNV-1a hash only: these two names clash."""
    questions = [{"id": q, "text": "?", "type": "boolean"} for q in ("q1897b", "q538a8")]
    cat = catalogue(
        [rule("one", a("exists", qid="q1897b")), rule("two", a("exists", qid="q538a8"))], questions
    )
    problems = limit_problems(cat)
    assert [p.path for p in problems] == ["questions"]
    assert "q1897b" in problems[0].message and "q538a8" in problems[0].message
    assert limit_problems(catalogue([rule("one", a("exists", qid="q1897b"))], questions)) == []


VISIBILITY_QUESTIONS: list[dict[str, Any]] = [
    *QUESTIONS,
    {"id": "lvl1", "text": "?", "type": "number", "askWhen": a(">", 10)},
    {"id": "lvl2", "text": "?", "type": "number", "askWhen": {"fact": "seg", "op": "==", "value": "big"}},
    {"id": "lvl3", "text": "?", "type": "boolean", "askWhen": {"fact": "tier", "op": "not_exists"}},
    {"id": "lvl4", "text": "?", "type": "number", "askWhen": {"fact": "tier", "op": "!=", "value": "gold"}},
]


def test_visibility_levels_with_answers_and_facts(engine: DurableRulesEngine) -> None:
    cat = catalogue(
        [
            rule("big", a(">", 100, "lvl1"), ("seg", "big")),
            rule("gold", a("==", 1, "lvl2"), ("tier", "gold")),
            rule("silver", a("==", 2, "lvl2"), ("tier", "silver")),
            rule("hidden-user", a("exists", qid="lvl4")),
        ],
        VISIBILITY_QUESTIONS,
    )
    answer_sets = [
        {},
        {"num": 11},
        {"num": 11, "lvl1": 101},
        {"num": 11, "lvl1": 101, "lvl2": 1, "lvl4": 5},
        {"num": 11, "lvl1": 101, "lvl2": 2, "lvl4": 5},
        {"num": 9, "lvl1": 101, "lvl2": 1, "lvl4": 5},  # hidden answers are kept but ignored
    ]
    results = run(engine, cat, answer_sets)
    base = ("num", "flag", "pick", "note", "many")
    assert [r.visible for r in results] == [
        (*base, "lvl3"),
        (*base, "lvl1", "lvl3"),
        (*base, "lvl1", "lvl2", "lvl3"),
        (*base, "lvl1", "lvl2"),
        (*base, "lvl1", "lvl2", "lvl4"),
        (*base, "lvl3"),
    ]
    assert set(results[4].fired) == {"big", "silver", "hidden-user"}
    assert results[3].facts == {"seg": ("big",), "tier": ("gold",)}
    assert results[5].fired == () and results[5].facts == {}
    check_reference(cat, results, answer_sets)


def random_answers(rng: random.Random, questions: list[dict[str, Any]]) -> dict[str, Any]:
    """A valid-looking answer set: some questions unanswered, values from the options/ranges."""
    answers: dict[str, Any] = {}
    for q in questions:
        if rng.random() < 0.3:
            continue
        kind = q["type"]
        if kind == "choice":
            answers[q["id"]] = rng.choice(q["options"])["value"]
        elif kind == "multi":
            values = [o["value"] for o in q["options"]]
            answers[q["id"]] = rng.sample(values, rng.randint(0, len(values)))
        elif kind == "boolean":
            answers[q["id"]] = rng.random() < 0.5
        elif kind == "number":
            low, high = q.get("min", 0), q.get("max", 100)
            step = q.get("step", 1)
            answers[q["id"]] = low + step * rng.randint(0, int((high - low) / step))
        else:
            answers[q["id"]] = rng.choice(["", "a", "long text"])
    return answers


def test_demo_catalogue_matches_the_reference_evaluator(engine: DurableRulesEngine) -> None:
    cat = load_catalogue(DEMO)
    rng = random.Random(7)
    answer_sets = [random_answers(rng, DEMO["questions"]) for _ in range(300)]
    results = run(engine, cat, answer_sets)
    check_reference(cat, results, answer_sets)
    fired_any = {rule_id for r in results for rule_id in r.fired}
    assert len(fired_any) > 20  # the sample exercises most of the demo's rules


def test_demo_catalogue_in_small_chunks_matches_the_reference_evaluator() -> None:
    cat = load_catalogue(DEMO)
    small = DurableRulesEngine(max_rules=3)
    try:
        small.load(1, cat)
        assert len(small.compiled(1).chunks) > 5
        rng = random.Random(11)
        reference = ReferenceEvaluator(cat, 1)
        for _ in range(100):
            answers = random_answers(rng, DEMO["questions"])
            same_as_reference(small.evaluate(1, answers), reference.evaluate(answers))
    finally:
        small.close()


def test_unknown_version_unload_and_reload(engine: DurableRulesEngine) -> None:
    with pytest.raises(UnknownVersion):
        engine.evaluate(987654, {})
    cat = catalogue([rule("r", a("exists"))])
    version = next(_versions)
    for _ in range(3):  # ruleset names are never reused: the same version loads again and again
        engine.load(version, cat)
        assert engine.evaluate(version, {"num": 1}).fired == ("r",)
        engine.unload(version)
    assert version not in engine.versions()
    engine.unload(version)  # unloading twice is harmless


def test_load_replaces_a_loaded_version(engine: DurableRulesEngine) -> None:
    version = next(_versions)
    engine.load(version, catalogue([rule("first", a("exists"))]))
    engine.load(version, catalogue([rule("second", a("exists"))]))
    try:
        assert engine.evaluate(version, {"num": 1}).fired == ("second",)
    finally:
        engine.unload(version)


FACT_KEYS = ("f0", "f1", "f2")


def random_condition(rng: random.Random, depth: int = 0, facts: bool = True) -> dict[str, Any]:
    """A random valid condition over QUESTIONS (and, when allowed, positive fact tests)."""
    roll = rng.random()
    if depth < 2 and roll < 0.25:
        return {"all": [random_condition(rng, depth + 1, facts) for _ in range(rng.randint(0, 3))]}
    if depth < 2 and roll < 0.45:
        return {"any": [random_condition(rng, depth + 1, facts) for _ in range(rng.randint(0, 3))]}
    if depth < 2 and roll < 0.55:
        return {"not": random_condition(rng, depth + 1, facts=False)}
    if facts and roll < 0.7:
        op = rng.choice(["==", "in", "exists"])
        fact: dict[str, Any] = {"fact": rng.choice(FACT_KEYS), "op": op}
        if op != "exists":
            fact["value"] = rng.choice(["x", "y"]) if op == "==" else ["x", "y"]
        return fact
    q = rng.choice(QUESTIONS)
    ops = {
        "number": ["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "between"],
        "boolean": ["==", "!="],
        "choice": ["==", "!=", "in", "not_in"],
        "text": ["==", "!=", "in", "not_in"],
        "multi": ["contains", "contains_any", "contains_all"],
    }[q["type"]] + ["exists", "not_exists"]
    op = rng.choice(ops)
    if op in ("exists", "not_exists"):
        return a(op, qid=q["id"])
    samples: dict[str, list[Any]] = {
        "number": [0, 1, 5, 9, 10],
        "boolean": [True, False],
        "text": ["", "a", "long text"],
    }
    values = samples.get(q["type"], ["x", "y", "z", "w"])
    if op in ("in", "not_in", "contains_any", "contains_all"):
        return a(op, rng.sample(values, rng.randint(1, min(3, len(values)))), q["id"])
    if op == "between":
        low = rng.choice([0, 1, 5])
        return a(op, [low, low + rng.choice([0, 4, 9])], q["id"])
    return a(op, rng.choice(values), q["id"])


def random_bundle(rng: random.Random, size: int) -> dict[str, Any]:
    """A valid bundle of ``size`` random rules deriving facts f0..f2 (values x and y)."""
    rules = [rule(f"seed-{k}-{v}", a("==", 1000), (k, v)) for k in FACT_KEYS for v in ("x", "y")]
    for i in range(size - len(rules)):
        derive = [(rng.choice(FACT_KEYS), rng.choice(["x", "y"]))] if rng.random() < 0.5 else []
        rules.append(rule(f"r{i}", random_condition(rng), *derive, enabled=rng.random() > 0.05))
    return bundle(rules)


@pytest.mark.parametrize("seed", range(6))
def test_random_catalogues_match_the_reference_evaluator(seed: int) -> None:
    rng = random.Random(seed)
    data = random_bundle(rng, 120)
    assert validate_bundle(data) == []
    cat = load_catalogue(data)
    eng = DurableRulesEngine(max_rules=[150, 40, 7][seed % 3])
    try:
        eng.load(1, cat)
        answer_sets = [random_answers(rng, QUESTIONS) for _ in range(150)]
        check_reference(cat, [eng.evaluate(1, x) for x in answer_sets], answer_sets)
        assert eng.live_sessions() == 0
    finally:
        eng.close()


# -- the worker process ---------------------------------------------------------------------


def _frame(message: dict[str, Any]) -> bytes:
    payload = orjson.dumps(message)
    return struct.pack(">I", len(payload)) + payload


def _read_reply(stream: Any) -> dict[str, Any]:
    (size,) = struct.unpack(">I", stream.read(4))
    reply: dict[str, Any] = orjson.loads(stream.read(size))
    return reply


def test_worker_protocol_pipelined() -> None:
    command = [sys.executable, "-m", "rules.durable_worker"]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        requests = [
            {"id": 1, "op": "load", "version": 3, "bundle": DEMO},
            {"id": 2, "op": "evaluate", "version": 3, "answers": {"dataUsage": "heavy"}},
            {"id": 3, "op": "evaluate", "version": 4, "answers": {}},
            {"id": 4, "op": "stats"},
            {"id": 5, "op": "explode"},
            {"id": 6, "op": "unload", "version": 3},
            {"id": 7, "op": "stats"},
        ]
        # Every request is written before any reply is read: the client pipelines.
        proc.stdin.write(b"".join(_frame(r) for r in requests) + struct.pack(">I", 3) + b"{x}")
        proc.stdin.flush()
        replies = [_read_reply(proc.stdout) for _ in range(len(requests) + 1)]
        proc.stdin.close()
        assert proc.wait(10) == 0
    assert [r["id"] for r in replies] == [1, 2, 3, 4, 5, 6, 7, None]
    assert replies[0]["ok"] and replies[0]["result"]["version"] == 3
    evaluation = Evaluation.from_json(replies[1]["result"])
    same_as_reference(
        evaluation, ReferenceEvaluator(load_catalogue(DEMO), 3).evaluate({"dataUsage": "heavy"})
    )
    assert replies[2]["error"]["type"] == "UnknownVersion"
    assert replies[3]["result"]["versions"] == [3] and replies[3]["result"]["rss"] > 0
    assert replies[3]["result"]["liveSessions"] == 0
    assert replies[4]["ok"] is False and "explode" in replies[4]["error"]["message"]
    assert replies[6]["result"]["versions"] == []
    assert replies[7]["ok"] is False


def test_worker_replies_fatal_and_stops_after_a_c_level_failure() -> None:
    engine = DurableRulesEngine()
    engine.load(1, load_catalogue(DEMO))
    engine.corrupted = True  # the state the engine is in after durable failed mid-assert
    stdin = io.BytesIO(
        _frame({"id": 1, "op": "evaluate", "version": 1, "answers": {}}) + _frame({"id": 2, "op": "stats"})
    )
    stdout = io.BytesIO()
    assert serve(stdin, stdout, Worker(engine)) == 3
    stdout.seek(0)
    reply = _read_reply(stdout)
    assert reply["id"] == 1 and reply["fatal"] is True and reply["error"]["type"] == "EngineCorrupted"
    assert stdout.read() == b""  # nothing more is answered by a corrupt engine
