"""The estimate formula language as a staff member checks it (CATALOGUE.md, "Estimate and display"):
precedence, functions, errors with positions and "did you mean", rounding, "no value" and inputs.

Values are worked out by the real calculator on a small catalogue and, where it helps, also by the
test oracle (tests/rules/formula_oracle.py)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from rules.estimate import calculator
from rules.formula import FormulaError, parse_formula
from rules.validator import load_catalogue, validate_bundle

from . import formula_oracle as oracle

ATTRIBUTES: list[dict[str, Any]] = [
    {"key": "price", "type": "number", "label": "Price", "unit": "GBP"},
    {"key": "fee", "type": "number", "label": "Fee", "unit": "GBP"},
    {"key": "zero", "type": "number", "label": "Zero"},
    {"key": "green", "type": "boolean", "label": "Green"},
    {"key": "network", "type": "enum", "label": "Network", "options": ["4g", "5g"]},
    {"key": "perks", "type": "set", "label": "Perks"},
    {"key": "contract-months", "type": "number", "label": "Term"},
]
BASE: dict[str, Any] = {
    "format": "plan-catalogue/1",
    "name": "Formula tests",
    "attributes": ATTRIBUTES,
    "plans": [
        {
            "id": "a",
            "name": "A",
            "attributes": {
                "price": 10,
                "fee": 2.5,
                "zero": 0,
                "green": True,
                "network": "5g",
                "perks": ["x", "y"],
            },
        },
        {"id": "b", "name": "B", "attributes": {"price": 7.25, "zero": 0, "green": False}},
    ],
    "questions": [
        {"id": "usage", "text": "Usage?", "type": "number", "min": 0, "max": 10000},
        {
            "id": "tier",
            "text": "Tier?",
            "type": "choice",
            "options": [{"value": "low", "label": "Low"}, {"value": "high", "label": "High"}],
        },
        {"id": "ev", "text": "EV?", "type": "boolean"},
        {"id": "notes", "text": "Notes?", "type": "text"},
    ],
    "rules": [],
}


def bundle_with(formula: str, inputs: list[dict[str, Any]] | None = None, **estimate: Any) -> dict[str, Any]:
    bundle = copy.deepcopy(BASE)
    bundle["estimate"] = {"label": "Cost", "formula": formula, "inputs": inputs or [], **estimate}
    return bundle


def estimates(
    formula: str,
    inputs: list[dict[str, Any]] | None = None,
    answers: dict[str, Any] | None = None,
    visible: tuple[str, ...] = ("usage", "tier", "ev"),
    **estimate: Any,
) -> dict[str, Decimal] | None:
    """plan id -> value from the real calculator (None when an input is unknown), checked against
    the oracle on the way."""
    bundle = bundle_with(formula, inputs, **estimate)
    calc = calculator(load_catalogue(bundle))
    assert calc is not None
    values = calc.inputs(answers or {}, visible)
    expected = oracle.oracle_estimates(bundle, answers or {}, visible)
    if values is None:
        assert expected is None
        return None
    got = calc.for_plans(values, ["a", "b"])
    assert expected is not None
    assert got == {pid: e["value"] for pid, e in expected.items()}
    return got


def value(formula: str, **estimate: Any) -> Decimal | None:
    """Plan "a"'s estimate of a formula without inputs."""
    return (estimates(formula, **estimate) or {}).get("a")


def problems(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in validate_bundle(bundle)]


def formula_problem(formula: str, inputs: list[dict[str, Any]] | None = None) -> str:
    """The one problem of ``formula`` (at ``estimate.formula``)."""
    found = [
        message for path, message in problems(bundle_with(formula, inputs)) if path == "estimate.formula"
    ]
    assert len(found) == 1, found
    return found[0]


# -- precedence ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("-2 * 3", "-6"),
        ("-(2 * 3)", "-6"),
        ("2 * -3", "-6"),
        ("--2", "2"),
        ("1 - -1", "2"),
        ("2 - 3 - 4", "-5"),
        ("2 - (3 - 4)", "3"),
        ("8 / 4 / 2", "1"),
        ("8 / (4 / 2)", "4"),
        ("2 * 3 + 4 * 5", "26"),
        ("10 - 2 * 3", "4"),
        ("1 + 2 < 4", "1"),
        ("1 + 2 > 4", "0"),
        ("2 * 2 == 4", "1"),
        ("(1 < 2) + (2 < 1)", "1"),
        ("(1 < 2) < 3", "1"),
        ("1 < (2 < 3)", "0"),
        ("3 <= 3", "1"),
        ("3 >= 4", "0"),
        ("3 != 4", "1"),
        ("3 == 3.0", "1"),
        ("   1+2*3   ", "7"),
    ],
)
def test_precedence_and_comparisons(formula: str, expected: str) -> None:
    assert value(formula, decimals=0) == Decimal(expected)


def test_at_most_one_comparison_without_parentheses() -> None:
    message = formula_problem("1 < 2 < 3")
    assert "character 7" in message and "comparison" in message
    with pytest.raises(FormulaError) as caught:
        parse_formula("1 < 2 < 3")
    assert caught.value.position == 6
    assert formula_problem("1 == 1 != 0").startswith("Formula error at character 8")


# -- functions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("min(3, 1, 2)", "1"),
        ("max(3, 1, 2)", "3"),
        ("min(2, 5)", "2"),
        ("max(-2, -5)", "-2"),
        ("abs(-3.5)", "3.5"),
        ("abs(3.5)", "3.5"),
        ("floor(2.7)", "2"),
        ("floor(-2.1)", "-3"),
        ("ceil(2.1)", "3"),
        ("ceil(-2.7)", "-2"),
        ("round(2.5)", "3"),
        ("round(-2.5)", "-3"),
        ("round(2.4)", "2"),
        ("round(3.5)", "4"),
        ("if(1, 10, 20)", "10"),
        ("if(0, 10, 20)", "20"),
        ("if(-0.5, 10, 20)", "10"),
        ("if(2 > 1, 10, 20)", "10"),
        ("default(plan.price, 0)", "10"),
        ("default(1 / 0, 4)", "4"),
        ("max(0, plan.price - 12) * 3 + ceil(plan.fee)", "3"),
        ("plan.green * 5", "5"),
    ],
)
def test_every_function(formula: str, expected: str) -> None:
    assert value(formula, decimals=1) == Decimal(expected)


@pytest.mark.parametrize(
    ("formula", "name", "wanted"),
    [
        ("min(1)", "min", "at least 2 arguments, not 1"),
        ("max(1)", "max", "at least 2 arguments, not 1"),
        ("abs(1, 2)", "abs", "takes 1 argument, not 2"),
        ("floor(1, 2)", "floor", "takes 1 argument, not 2"),
        ("ceil(1, 2)", "ceil", "takes 1 argument, not 2"),
        ("round(1, 2)", "round", "takes 1 argument, not 2"),
        ("if(1, 2)", "if", "takes 3 arguments, not 2"),
        ("if(1, 2, 3, 4)", "if", "takes 3 arguments, not 4"),
        ("default(1)", "default", "takes 2 arguments, not 1"),
        ("default(1, 2, 3)", "default", "takes 2 arguments, not 3"),
    ],
)
def test_wrong_argument_counts(formula: str, name: str, wanted: str) -> None:
    message = formula_problem("2 + " + formula)
    assert message.startswith("Formula error at character 5:"), message
    assert name in message and wanted in message


def test_a_function_needs_at_least_one_argument() -> None:
    message = formula_problem("abs()")
    assert message.startswith("Formula error at character 5:") and "found ')'" in message


# -- syntax errors with positions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "position", "expected"),
    [
        ("1 +", 3, "expected a number, a name, plan.KEY, '(' or '-' but found the end of the formula"),
        ("1 + * 2", 4, "found '*'"),
        ("(1 + 2", 6, "expected ')' but found the end of the formula"),
        ("1 + 2)", 5, "no matching '('"),
        ("1 2", 2, "expected an operator or the end but found '2'"),
        ("max(1 2)", 6, "expected ',' or ')' but found '2'"),
        ("1 + $", 4, "unexpected character '$'"),
        ("1 ^ 2", 2, "unexpected character '^'"),
        (".5 + 1", 0, "a number is written like 12 or 0.5"),
        ("1 + plan.", 8, "'.'"),
        ("plan + 1", 0, "plan.KEY"),
        ("1 = 1", 2, "unexpected character '='"),
        ("", 0, "empty"),
        ("min(1, 2,)", 9, "found ')'"),
    ],
)
def test_syntax_errors_say_where_and_what_was_expected(formula: str, position: int, expected: str) -> None:
    with pytest.raises(FormulaError) as caught:
        parse_formula(formula)
    assert caught.value.position == position, caught.value
    assert expected in caught.value.message
    message = formula_problem(formula)
    assert message.startswith(f"Formula error at character {position + 1}:"), message
    assert expected in message
    with pytest.raises(oracle.OracleSyntaxError):
        oracle.parse(formula) if formula else (_ for _ in ()).throw(oracle.OracleSyntaxError(0, "empty"))


def test_unknown_names_and_functions_with_did_you_mean() -> None:
    usage = [{"name": "usage", "answer": "usage"}]
    message = formula_problem("usag * plan.price", usage)
    assert message.startswith("Formula error at character 1:")
    assert "unknown name 'usag'" in message and "did you mean 'usage'" in message
    message = formula_problem("usage * plan.prise", usage)
    assert message.startswith("Formula error at character 9:")
    assert "unknown attribute 'prise'" in message and "did you mean 'price'" in message
    message = formula_problem("usage * maxx(plan.price, 1)", usage)
    assert message.startswith("Formula error at character 9:")
    assert "unknown function 'maxx'" in message and "did you mean 'max'" in message
    message = formula_problem("usage + plan.network", usage)
    assert "character 9" in message and "enum attribute" in message


def test_an_attribute_with_a_dash_is_subtraction() -> None:
    # plan.contract - months: both names are unknown.
    found = problems(bundle_with("plan.contract-months"))
    assert [path for path, _ in found] == ["estimate.formula", "estimate.formula"]
    assert "character 1: unknown attribute 'contract'" in found[0][1]
    assert "character 15: unknown name 'months'" in found[1][1]


def test_every_input_problem_has_its_path() -> None:
    inputs: list[dict[str, Any]] = [
        {"name": "usage", "answer": "usage"},
        {"name": "t", "answer": "tier"},  # a choice needs a map
        {"name": "n", "answer": "notes"},  # a text question
        {"name": "plan", "answer": "ev"},
        {"name": "usage", "answer": "ev"},
        {"name": "unused", "answer": "usage", "default": 1},
        {"name": "m", "answer": "tier", "map": {"lo": 1, "high": 2}},
    ]
    found = problems(bundle_with("usage + t + n + m", inputs))
    paths = {path for path, _ in found}
    assert {
        "estimate.inputs[1].map",
        "estimate.inputs[2].answer",
        "estimate.inputs[3].name",
        "estimate.inputs[4].name",
        "estimate.inputs[5].name",
        "estimate.inputs[6].map.lo",
    } <= paths, found
    assert any(
        "did you mean 'low'" in message for path, message in found if path == "estimate.inputs[6].map.lo"
    )


# -- length and nesting ------------------------------------------------------------------------------------


def test_a_1000_character_formula_of_nested_parentheses_is_a_problem_not_a_recursion_error() -> None:
    formula = "(" * 499 + "1" + ")" * 500
    formula = formula[:1000]
    assert len(formula) == 1000
    found = problems(bundle_with(formula))
    assert found and all(path == "estimate.formula" for path, _ in found)
    balanced = "(" * 499 + "12" + ")" * 499
    assert len(balanced) == 1000
    found = problems(bundle_with(balanced))
    assert found and all(path == "estimate.formula" for path, _ in found), found
    for text in ("abs(" * 250, "1" + "+1" * 499 + "+", "min(1, " * 142 + "1"):
        assert len(text) <= 1000
        assert problems(bundle_with(text)), text  # never raises


def test_a_chain_of_minuses_is_fine() -> None:
    assert value("-" * 999 + "1", decimals=0) == -1
    assert value("-" * 998 + "1", decimals=0) == 1


def test_a_long_formula_is_fine_up_to_1000_characters_and_a_problem_after() -> None:
    formula = "1000 + " * 142 + "1"
    formula += " " * (1000 - len(formula))
    assert len(formula) == 1000
    assert problems(bundle_with(formula)) == []
    assert value(formula, decimals=0) == 142001
    message = formula_problem(formula + " ")
    assert "too long" in message and "1000" in message.replace(",", "")


def test_a_flat_sum_of_250_terms_is_a_valid_formula() -> None:
    formula = "1" + " + 1" * 249
    assert len(formula) <= 1000
    assert problems(bundle_with(formula)) == []


# -- rounding and decimal arithmetic ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "decimals", "expected"),
    [
        ("2.5", 0, "3"),
        ("-2.5", 0, "-3"),
        ("3.5", 0, "4"),
        ("0.125", 2, "0.13"),
        ("-0.125", 2, "-0.13"),
        ("0.124999", 2, "0.12"),
        ("1 / 3", 2, "0.33"),
        ("2 / 3", 2, "0.67"),
        ("2 / 3", 6, "0.666667"),
        ("1 / 8", 2, "0.13"),
        ("-0.001", 2, "0.00"),
        ("10", 2, "10.00"),
        ("0.1 + 0.2", 2, "0.30"),
        ("1.005 * 1", 2, "1.01"),
    ],
)
def test_rounding_half_away_from_zero(formula: str, decimals: int, expected: str) -> None:
    got = value(formula, decimals=decimals)
    assert got is not None
    assert str(got) == expected


def test_decimal_arithmetic_is_exact() -> None:
    assert value("(0.1 + 0.2 == 0.3) * 7", decimals=0) == 7
    assert value("(plan.fee * 3 == 7.5) * 1", decimals=0) == 1
    assert value("1 / 3 * 3", decimals=6) == Decimal("1.000000")
    # 28 significant digits inside: 1/3 keeps them and rounding happens only at the end.
    assert value("(1 / 3 * 3 == 1) + 5", decimals=0) == 5
    # The payload of a value with decimals 0 is an integer, otherwise a number.
    bundle = bundle_with("plan.price * 1.1", decimals=2)
    calc = calculator(load_catalogue(bundle))
    assert calc is not None
    plan = calc.catalogue.plan_by_id["b"] if hasattr(calc.catalogue, "plan_by_id") else calc.plans[1]
    inputs = calc.inputs({}, ())
    assert inputs == {}
    got = calc.for_plans(inputs, ["b"])
    assert got == {"b": Decimal("7.98")}  # 7.975 rounds up
    assert calc.payload(plan, inputs, got["b"]) == {"value": 7.98}


# -- no value ----------------------------------------------------------------------------------------------


def test_default_fills_a_missing_attribute() -> None:
    assert estimates("default(plan.fee, 0) + plan.price") == {"a": Decimal("12.50"), "b": Decimal("7.25")}


def test_a_missing_attribute_or_division_by_zero_means_that_plan_has_no_estimate() -> None:
    assert estimates("plan.fee + plan.price") == {"a": Decimal("12.50")}
    assert estimates("plan.price / plan.zero") == {}
    assert estimates("plan.price / (plan.price - 10)") == {"b": Decimal("-2.64")}
    assert estimates("0 * plan.fee") == {"a": Decimal("0.00")}  # no value even when multiplied by 0
    assert estimates("default(plan.price / plan.zero, -1)") == {"a": Decimal("-1.00"), "b": Decimal("-1.00")}
    assert estimates("0 / 0 + 1") == {}


def test_if_does_not_evaluate_the_unchosen_branch() -> None:
    assert estimates("if(plan.green, plan.price, plan.fee)") == {"a": Decimal("10.00")}
    # b is not green: the fee it lacks is read only on a's side.
    assert estimates("if(plan.green, plan.fee, plan.price)") == {"a": Decimal("2.50"), "b": Decimal("7.25")}
    assert estimates("if(plan.price > 8, plan.price, 1 / 0)") == {"a": Decimal("10.00")}
    assert estimates("if(plan.fee, 1, 2)") == {"a": Decimal("1.00")}  # the condition itself has no value


# -- inputs ------------------------------------------------------------------------------------------------

INPUTS: list[dict[str, Any]] = [
    {"name": "kwh", "answer": "usage", "default": 100},
    {"name": "share", "answer": "tier", "map": {"high": 0.5}, "default": 0.1},
    {"name": "ev", "answer": "ev"},
]


@pytest.mark.parametrize(
    ("answers", "visible", "expected"),
    [
        ({"usage": 10, "tier": "high", "ev": True}, ("usage", "tier", "ev"), "10 + 0.5 + 1000"),
        ({"usage": 10, "tier": "low", "ev": False}, ("usage", "tier", "ev"), "10 + 0.1 + 0"),  # unmapped
        ({"tier": "high", "ev": True}, ("usage", "tier", "ev"), "100 + 0.5 + 1000"),  # unanswered
        ({"usage": 10, "tier": "high", "ev": True}, ("tier", "ev"), "100 + 0.5 + 1000"),  # hidden
        ({"usage": 2.5, "ev": True}, ("usage", "tier", "ev"), "2.5 + 0.1 + 1000"),
    ],
)
def test_inputs_from_answers(answers: dict[str, Any], visible: tuple[str, ...], expected: str) -> None:
    got = estimates("kwh + share + ev * 1000", INPUTS, answers, visible)
    want = oracle.value_of({}, expected)
    assert got == {"a": want, "b": want}


@pytest.mark.parametrize(
    ("answers", "visible"),
    [({"usage": 10}, ("usage", "tier", "ev")), ({"usage": 10, "ev": True}, ("usage", "tier"))],
)
def test_an_unknown_input_means_no_estimates_at_all(
    answers: dict[str, Any], visible: tuple[str, ...]
) -> None:
    assert estimates("kwh + share + ev * 1000", INPUTS, answers, visible) is None


def test_explanation_placeholders() -> None:
    inputs: list[dict[str, Any]] = [
        {"name": "kwh", "answer": "usage", "default": 2700},
        {"name": "share", "answer": "tier", "map": {"high": 0.25}, "default": 0},
    ]
    text = (
        "{plan.price} + {plan.fee}: {kwh} kWh, {share}, {plan.green} {plan.network} {plan.perks}"
        " = {estimate} {x} {plan.} {"
    )
    bundle = bundle_with("plan.price + kwh * share / 1000", inputs, decimals=3, explanation=text)
    calc = calculator(load_catalogue(bundle))
    assert calc is not None
    inputs_now = calc.inputs({"tier": "high", "usage": 1200}, ("usage", "tier"))
    assert inputs_now is not None
    got = calc.for_plans(inputs_now, ["a", "b"])
    payloads = {p.id: calc.payload(p, inputs_now, got[p.id]) for p in calc.plans}
    assert payloads == {
        "a": {"value": 10.3, "explanation": "10 + 2.5: 1200 kWh, 0.25, yes 5g x, y = 10.300 {x} {plan.} {"},
        "b": {"value": 7.55, "explanation": "7.25 + : 1200 kWh, 0.25, no   = 7.550 {x} {plan.} {"},
    }
    expected = oracle.oracle_estimates(bundle, {"tier": "high", "usage": 1200}, ("usage", "tier"))
    assert expected is not None
    assert {
        pid: {"value": e["json"], "explanation": e["explanation"]} for pid, e in expected.items()
    } == payloads


def test_a_huge_value_is_still_an_estimate() -> None:
    assert value("1" + "0" * 60) == Decimal("1" + "0" * 60 + ".00")
