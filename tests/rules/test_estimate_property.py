"""Property tests: for random formulas (generated as trees, printed with random spacing and
parentheses), random catalogues and random answers, the compiled :class:`EstimateCalculator` gives
every plan exactly the value and explanation of the simple oracle in ``formula_oracle.py``."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.estimate import calculator
from rules.validator import load_catalogue, validate_bundle

from . import formula_oracle as oracle

NUMBER_ATTRS = ["n0", "n1", "n2", "n3"]
BOOL_ATTRS = ["b0", "b1"]
ATTRIBUTES: list[dict[str, Any]] = [
    *({"key": k, "type": "number", "label": k.upper()} for k in NUMBER_ATTRS),
    *({"key": k, "type": "boolean", "label": k.upper()} for k in BOOL_ATTRS),
    {"key": "e0", "type": "enum", "label": "E", "options": ["red", "blue"]},
    {"key": "s0", "type": "set", "label": "S"},
    {"key": "t0", "type": "text", "label": "T"},
]
OPTIONS = ["o1", "o2", "o3", "o4"]
QUESTIONS: list[dict[str, Any]] = [
    {"id": "qn", "text": "N?", "type": "number", "min": 0, "max": 1000},
    {"id": "qm", "text": "M?", "type": "number"},
    {
        "id": "qc",
        "text": "C?",
        "type": "choice",
        "options": [{"value": o, "label": o.upper()} for o in OPTIONS],
    },
    {"id": "qd", "text": "D?", "type": "choice", "options": [{"value": o, "label": o} for o in OPTIONS[:2]]},
    {"id": "qb", "text": "B?", "type": "boolean"},
    {"id": "qt", "text": "T?", "type": "text"},
]
INPUT_QUESTIONS = ["qn", "qm", "qc", "qd", "qb"]
OPTIONS_OF = {q["id"]: [o["value"] for o in q["options"]] for q in QUESTIONS if "options" in q}
NAMES = ["x0", "x1", "x2", "kwh", "share_1"]
LITERALS = ["0", "1", "2", "3", "7", "10", "12", "100", "0.5", "2.5", "0.1", "0.125", "1.005", "0.333", "365"]

# Numbers as JSON carries them: integers and floats with a few decimals (shortest repr), zeros often.
numbers = st.one_of(
    st.just(0),
    st.integers(-20, 500),
    st.integers(-2000, 50000).map(lambda i: i / 100),
    st.integers(1, 999).map(lambda i: i / 1000),
)


@st.composite
def trees(draw: st.DrawFn) -> Any:
    leaf = st.one_of(
        st.sampled_from(LITERALS).map(lambda t: ("num", t)),
        st.sampled_from(NAMES).map(lambda n: ("input", n)),
        st.sampled_from(NUMBER_ATTRS + BOOL_ATTRS).map(lambda k: ("attr", k)),
    )

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(
            children.map(lambda c: ("neg", c)),
            st.tuples(st.sampled_from(["+", "-", "*", "/"]), children, children).map(lambda t: ("bin", *t)),
            st.tuples(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), children, children).map(
                lambda t: ("bin", *t)
            ),
            st.tuples(st.sampled_from(["min", "max"]), st.lists(children, min_size=2, max_size=4)).map(
                lambda t: ("call", t[0], t[1])
            ),
            st.tuples(st.sampled_from(["abs", "floor", "ceil", "round"]), children).map(
                lambda t: ("call", t[0], [t[1]])
            ),
            st.tuples(children, children, children).map(lambda t: ("call", "if", list(t))),
            st.tuples(children, children).map(lambda t: ("call", "default", list(t))),
        )

    return draw(st.recursive(leaf, extend, max_leaves=14))


LEVEL = {"<": 0, "<=": 0, ">": 0, ">=": 0, "==": 0, "!=": 0, "+": 1, "-": 1, "*": 2, "/": 2}


def printer(draw: st.DrawFn) -> Any:
    """Print a tree as formula text, with parentheses where needed and at random, random spacing."""
    space = st.sampled_from(["", "", " ", " ", "  ", "\t"])

    def pad(text: str) -> str:
        return draw(space) + text + draw(space)

    def show(node: Any) -> tuple[str, int]:
        kind = node[0]
        if kind == "num":
            text, level = node[1], 4
        elif kind == "input":
            text, level = node[1], 4
        elif kind == "attr":
            text, level = "plan." + node[1], 4
        elif kind == "neg":
            inner = need(node[1], 3)
            text, level = "-" + draw(space) + inner, 3
        elif kind == "bin":
            op = node[1]
            mine = LEVEL[op]
            if mine == 0:
                left, right = need(node[2], 1), need(node[3], 1)
            else:
                left, right = need(node[2], mine), need(node[3], mine + 1)
            text, level = left + pad(op) + right, mine
        else:
            args = [pad(show(a)[0]) for a in node[2]]
            text, level = node[1] + "(" + ",".join(args) + ")", 4
        if draw(st.integers(0, 9)) == 0:
            return "(" + pad(text) + ")", 4
        return text, level

    def need(node: Any, level: int) -> str:
        text, got = show(node)
        return text if got >= level else "(" + pad(text) + ")"

    return show


def used_names(node: Any) -> set[str]:
    if node[0] == "input":
        return {node[1]}
    if node[0] in ("num", "attr"):
        return set()
    children = [node[1]] if node[0] == "neg" else node[2:] if node[0] == "bin" else node[2]
    return set().union(*(used_names(c) for c in children))


@st.composite
def input_spec(draw: st.DrawFn, name: str) -> dict[str, Any]:
    qid = draw(st.sampled_from(INPUT_QUESTIONS))
    spec: dict[str, Any] = {"name": name, "answer": qid}
    if qid in OPTIONS_OF:
        keys = draw(st.lists(st.sampled_from(OPTIONS_OF[qid]), min_size=1, unique=True))
        spec["map"] = {k: draw(numbers) for k in keys}
    if draw(st.booleans()):
        spec["default"] = draw(numbers)
    return spec


@st.composite
def plan(draw: st.DrawFn, index: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for key in NUMBER_ATTRS:
        if draw(st.integers(0, 5)):
            attributes[key] = draw(numbers)
    for key in BOOL_ATTRS:
        if draw(st.integers(0, 5)):
            attributes[key] = draw(st.booleans())
    if draw(st.booleans()):
        attributes["e0"] = draw(st.sampled_from(["red", "blue"]))
    if draw(st.booleans()):
        attributes["s0"] = draw(st.lists(st.sampled_from(["wifi", "esim", "tv"]), unique=True))
    if draw(st.booleans()):
        attributes["t0"] = draw(st.sampled_from(["Acme {x0}", "plain", ""]))
    out: dict[str, Any] = {"id": f"p{index}", "name": f"Plan {index}", "attributes": attributes}
    if draw(st.integers(0, 6)) == 0:
        out["active"] = False
    return out


EXPLANATION_PARTS = [
    "{plan.n0}",
    "{plan.n1}",
    "{plan.b0}",
    "{plan.e0}",
    "{plan.s0}",
    "{plan.t0}",
    "{estimate}",
    "{x0}",
    "{x1}",
    "{kwh}",
    "{share_1}",
    "{unknown}",
    "{plan.}",
    "{{estimate}}",
    "{",
    "}",
    " ",
    " p/day = ",
    "£",
]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], list[tuple[dict[str, Any], list[str]]]]:
    tree = draw(trees())
    formula = printer(draw)(tree)[0]
    formula = draw(st.sampled_from(["", " "])) + formula + draw(st.sampled_from(["", " "]))
    names = sorted(used_names(tree))
    estimate: dict[str, Any] = {
        "label": "Estimate",
        "formula": formula,
        "inputs": [draw(input_spec(n)) for n in names],
    }
    decimals = draw(st.one_of(st.none(), st.integers(0, 6)))
    if decimals is not None:
        estimate["decimals"] = decimals
    if draw(st.booleans()):
        estimate["explanation"] = "".join(draw(st.lists(st.sampled_from(EXPLANATION_PARTS), max_size=8)))
    bundle: dict[str, Any] = {
        "format": "plan-catalogue/1",
        "name": "Random",
        "attributes": ATTRIBUTES,
        "plans": [draw(plan(i)) for i in range(draw(st.integers(1, 6)))],
        "questions": QUESTIONS,
        "rules": [],
        "estimate": estimate,
    }
    answer_sets = []
    for _ in range(draw(st.integers(1, 3))):
        answers: dict[str, Any] = {}
        if draw(st.booleans()):
            answers["qn"] = draw(
                st.one_of(st.integers(0, 1000), st.integers(0, 100000).map(lambda i: i / 100))
            )
        if draw(st.booleans()):
            answers["qm"] = draw(numbers)
        for qid in ("qc", "qd"):
            if draw(st.integers(0, 3)):
                answers[qid] = draw(st.sampled_from(OPTIONS_OF[qid]))
        if draw(st.booleans()):
            answers["qb"] = draw(st.booleans())
        if draw(st.booleans()):
            answers["qt"] = "hello"
        visible = draw(st.lists(st.sampled_from([q["id"] for q in QUESTIONS]), unique=True))
        if draw(st.integers(0, 2)):
            visible = [q["id"] for q in QUESTIONS]
        answer_sets.append((answers, visible))
    return bundle, answer_sets


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.randoms(use_true_random=False))
def test_the_calculator_agrees_with_the_oracle(
    scenario: tuple[dict[str, Any], list[tuple[dict[str, Any], list[str]]]], rnd: Any
) -> None:
    bundle, answer_sets = scenario
    formula = bundle["estimate"]["formula"]
    assert validate_bundle(bundle) == [], formula
    calc = calculator(load_catalogue(bundle))
    assert calc is not None
    plans = {p.id: p for p in calc.plans}
    ids = [p["id"] for p in bundle["plans"]]
    # One calculator, several answer sets, each twice (the second time from what it remembers):
    # remembered values and explanations must neither leak between input values nor go stale.
    for answers, visible in answer_sets + answer_sets:
        inputs = calc.inputs(answers, visible)
        expected_inputs = oracle.resolve_inputs(bundle, answers, visible)
        assert inputs == expected_inputs, (formula, answers, visible)
        expected = oracle.oracle_estimates(bundle, answers, visible)
        if inputs is None:
            assert expected is None
            continue
        assert expected is not None
        # A random subset of the plans in random order (the service asks for the matched plans).
        asked = rnd.sample(ids, rnd.randint(0, len(ids)))
        got = calc.for_plans(inputs, asked)
        want = {pid: e["value"] for pid, e in expected.items() if pid in asked}
        assert got == want, (formula, answers, visible)
        for pid, value in got.items():
            wire = {k: v for k, v in expected[pid].items() if k in ("json", "explanation")}
            wire["value"] = wire.pop("json")
            payload = calc.payload(plans[pid], inputs, value)
            assert payload == wire, (formula, bundle["estimate"].get("explanation"))
            assert type(payload["value"]) is type(wire["value"])
