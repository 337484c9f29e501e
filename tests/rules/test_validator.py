"""The catalogue validator: each check shown on a mutated minimal valid bundle, with its path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import reduce
from operator import getitem
from typing import Any

import pytest

from rules.errors import CatalogueInvalid, Problem
from rules.model import Catalogue
from rules.validator import (
    MAX_ATTRIBUTES,
    MAX_CONDITION_DEPTH,
    MAX_CONDITION_NODES,
    MAX_OPTIONS,
    MAX_PLANS,
    MAX_QUESTIONS,
    MAX_RULES,
    MAX_TERMS_PER_RULE,
    load_catalogue,
    validate_bundle,
)

Bundle = dict[str, Any]
Mutation = Callable[[Bundle], None]

FAMILY = {"fact": "segment", "op": "==", "value": "family"}
TRAVELLER = {"fact": "segment", "op": "==", "value": "traveller"}

BUNDLE: Bundle = {
    "format": "plan-catalogue/1",
    "name": "Mobile plans",
    "description": "Test catalogue",
    "attributes": [
        {"key": "price", "type": "number", "label": "Monthly price", "unit": "EUR"},
        {"key": "dataGb", "type": "number", "label": "Data", "description": "GB per month"},
        {"key": "roaming", "type": "boolean", "label": "EU roaming"},
        {"key": "network", "type": "enum", "label": "Network", "options": ["4g", "5g"]},
        {"key": "perks", "type": "set", "label": "Perks"},
        {"key": "notes", "type": "text", "label": "Notes"},
    ],
    "plans": [
        {
            "id": "basic",
            "name": "Basic",
            "attributes": {
                "price": 9.99,
                "dataGb": 5,
                "roaming": False,
                "network": "4g",
                "perks": [],
                "notes": "Cheap",
            },
        },
        {
            "id": "max",
            "name": "Max",
            "provider": "Acme",
            "description": "Everything",
            "active": True,
            "attributes": {"price": 29, "dataGb": 50, "roaming": True, "network": "5g", "perks": ["esim"]},
        },
    ],
    "questions": [
        {
            "id": "usage",
            "text": "How much data do you use?",
            "type": "choice",
            "help": "Roughly",
            "options": [
                {"value": "light", "label": "Light"},
                {"value": "heavy", "label": "Heavy", "help": "20+"},
            ],
        },
        {"id": "budget", "text": "Budget?", "type": "number", "min": 0, "max": 500, "step": 5, "unit": "EUR"},
        {"id": "travel", "text": "Do you travel?", "type": "boolean"},
        {
            "id": "extras",
            "text": "Extras?",
            "type": "multi",
            "options": [{"value": "streaming", "label": "Streaming"}, {"value": "esim", "label": "eSIM"}],
        },
        {"id": "nickname", "text": "Your name?", "type": "text", "maxLength": 40},
        {
            "id": "lines",
            "text": "How many lines?",
            "type": "number",
            "min": 1,
            "max": 10,
            "askWhen": dict(FAMILY),
        },
    ],
    "rules": [
        {
            "id": "heavy",
            "name": "Heavy users",
            "priority": 10,
            "when": {"answer": "usage", "op": "==", "value": "heavy"},
            "then": [
                {"require": {"attribute": "dataGb", "op": ">=", "value": 20}, "because": "Lots of data"}
            ],
        },
        {
            "id": "budget-cap",
            "name": "Budget",
            "when": {"answer": "budget", "op": "exists"},
            "then": [
                {
                    "require": {"attribute": "price", "op": "<=", "valueFrom": {"answer": "budget"}},
                    "because": "Within {answers.budget} EUR",
                }
            ],
        },
        {
            "id": "traveller",
            "name": "Travellers",
            "enabled": True,
            "description": "People on the move",
            "when": {
                "all": [
                    {"answer": "travel", "op": "==", "value": True},
                    {"not": {"answer": "usage", "op": "==", "value": "light"}},
                ]
            },
            "then": [
                {"derive": {"fact": "segment", "value": "traveller"}},
                {
                    "score": 20,
                    "where": {"attribute": "roaming", "op": "==", "value": True},
                    "because": "Roaming for a {facts.segment}",
                },
            ],
        },
        {
            "id": "family",
            "name": "Families",
            "when": {"answer": "extras", "op": "contains", "value": "streaming"},
            "then": [
                {"derive": {"fact": "segment", "value": "family"}},
                {
                    "exclude": {"attribute": "network", "op": "==", "value": "4g"},
                    "because": "Streaming needs 5G",
                },
            ],
        },
        {"id": "family-lines", "name": "Family lines", "when": dict(FAMILY), "then": [{"score": 5}]},
    ],
    "ranking": {"order": [{"by": "score", "dir": "desc"}, {"by": "price", "dir": "asc"}], "limit": 20},
}


def bundle() -> Bundle:
    return copy.deepcopy(BUNDLE)


def found(data: object) -> list[tuple[str, str]]:
    problems = validate_bundle(data)
    assert all(isinstance(p, Problem) for p in problems)
    return [(p.path, p.message) for p in problems]


def put(*path_and_value: Any) -> Mutation:
    """A mutation setting the value at a path (keys and indexes) of the bundle."""
    *path, value = path_and_value

    def mutate(data: Bundle) -> None:
        reduce(getitem, path[:-1], data)[path[-1]] = copy.deepcopy(value)

    return mutate


def drop(*path: Any) -> Mutation:
    """A mutation deleting the key or item at a path."""

    def mutate(data: Bundle) -> None:
        del reduce(getitem, path[:-1], data)[path[-1]]

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(data: Bundle) -> None:
        for m in mutations:
            m(data)

    return mutate


def when(rule: int, cond: Any) -> Mutation:
    return put("rules", rule, "when", cond)


def require(cond: Any) -> Mutation:
    """Replace the plan condition of rule 1's require (the valueFrom one)."""
    return put("rules", 1, "then", 0, "require", cond)


def nested_not(depth: int) -> dict[str, Any]:
    cond: dict[str, Any] = {"answer": "travel", "op": "exists"}
    for _ in range(depth - 1):
        cond = {"not": cond}
    return cond


def test_valid_bundle_has_no_problem() -> None:
    assert found(bundle()) == []


def test_optional_parts_may_be_left_out() -> None:
    data = bundle()
    for key in ("ranking", "description"):
        del data[key]
    del data["rules"][0]["priority"]
    del data["questions"][1]["step"]
    data["plans"][0]["attributes"] = {}
    assert found(data) == []


@pytest.mark.parametrize("data", [None, [], "bundle", 3, True, 1.5])
def test_bundle_must_be_an_object(data: object) -> None:
    assert found(data) == [("", f"The bundle must be a JSON object, not {describe_for(data)}")]


def describe_for(value: object) -> str:
    return {type(None): "null", list: "a list", str: "a text", int: "a number", float: "a number"}.get(
        type(value), "true"
    )


# (mutation, path, part of the message): each gives exactly this one problem.
CASES: dict[str, tuple[Mutation, str, str]] = {
    # bundle
    "format": (
        put("format", "plan-catalogue/2"),
        "format",
        "The format must be 'plan-catalogue/1', not 'plan-catalogue/2'",
    ),
    "format-missing": (drop("format"), "format", "Missing required key 'format'"),
    "name-missing": (drop("name"), "name", "Missing required key 'name'"),
    "name-blank": (put("name", "  "), "name", "'name' must not be empty"),
    "name-type": (put("name", 5), "name", "'name' must be a text, not a number"),
    "name-long": (put("name", "x" * 2001), "name", "too long: at most 2000 characters"),
    "root-unknown": (
        put("descripton", "x"),
        "descripton",
        "Unknown key 'descripton' (did you mean 'description'?)",
    ),
    # attributes
    "attributes-type": (put("attributes", {}), "attributes", "'attributes' must be a list, not an object"),
    "attr-object": (put("attributes", 5, 7), "attributes[5]", "An attribute must be an object, not a number"),
    "attr-type": (put("attributes", 0, "type", "numbr"), "attributes[0].type", "(did you mean 'number'?)"),
    "attr-options-misfit": (
        put("attributes", 0, "options", ["a"]),
        "attributes[0].options",
        "'options' is only for enum attributes",
    ),
    "attr-enum-no-options": (
        drop("attributes", 3, "options"),
        "attributes[3].options",
        "Missing required key",
    ),
    "attr-enum-empty": (put("attributes", 3, "options", []), "attributes[3].options", "at least one option"),
    "attr-enum-dup": (
        put("attributes", 3, "options", ["4g", "5g", "4g"]),
        "attributes[3].options[2]",
        "Duplicate option '4g'",
    ),
    "attr-enum-long": (put("attributes", 3, "options", 1, "x" * 65), "attributes[3].options[1]", "1 to 64"),
    "attr-key-syntax": (
        both(put("attributes", 5, "key", "2notes"), drop("plans", 0, "attributes", "notes")),
        "attributes[5].key",
        "'2notes' is not a valid attribute key",
    ),
    "attr-key-dup": (
        both(put("attributes", 5, "key", "price"), drop("plans", 0, "attributes", "notes")),
        "attributes[5].key",
        "Duplicate attribute key 'price' (also at attributes[0].key)",
    ),
    "attr-label": (drop("attributes", 0, "label"), "attributes[0].label", "Missing required key 'label'"),
    "attr-unknown-key": (
        put("attributes", 0, "units", "EUR"),
        "attributes[0].units",
        "(did you mean 'unit'?)",
    ),
    # plans
    "plan-object": (put("plans", 0, "basic"), "plans[0]", "A plan must be an object, not a text"),
    "plan-name": (drop("plans", 0, "name"), "plans[0].name", "Missing required key 'name'"),
    "plan-unknown-key": (put("plans", 0, "speed", 3), "plans[0].speed", "Unknown key 'speed'"),
    "plan-attribute-misplaced": (
        put("plans", 0, "price", 3),
        "plans[0].price",
        "'price' is an attribute: put it in 'attributes'",
    ),
    "plan-id-dup": (put("plans", 1, "id", "basic"), "plans[1].id", "Duplicate plan id 'basic'"),
    "plan-id-syntax": (put("plans", 1, "id", "max plan"), "plans[1].id", "is not a valid plan id"),
    "plan-id-type": (put("plans", 1, "id", 7), "plans[1].id", "The plan id must be a text, not a number"),
    "plan-active": (put("plans", 1, "active", "yes"), "plans[1].active", "'active' must be true or false"),
    "plan-attributes": (put("plans", 0, "attributes", []), "plans[0].attributes", "must be an object"),
    "plan-attr-unknown": (
        put("plans", 0, "attributes", "dataGB", 5),
        "plans[0].attributes.dataGB",
        "(did you mean 'dataGb'?)",
    ),
    "plan-number-bool": (
        put("plans", 0, "attributes", "price", True),
        "plans[0].attributes.price",
        "not true",
    ),
    "plan-number-text": (
        put("plans", 0, "attributes", "price", "9"),
        "plans[0].attributes.price",
        "not a text",
    ),
    "plan-number-nan": (
        put("plans", 0, "attributes", "price", float("nan")),
        "plans[0].attributes.price",
        "finite",
    ),
    "plan-number-inf": (
        put("plans", 0, "attributes", "price", float("inf")),
        "plans[0].attributes.price",
        "finite",
    ),
    "plan-number-huge": (
        put("plans", 0, "attributes", "price", 10**400),
        "plans[0].attributes.price",
        "out of range",
    ),
    "plan-boolean": (
        put("plans", 0, "attributes", "roaming", 0),
        "plans[0].attributes.roaming",
        "true or false",
    ),
    "plan-enum": (
        put("plans", 0, "attributes", "network", "3g"),
        "plans[0].attributes.network",
        "'3g' is not an option",
    ),
    "plan-set-dup": (
        put("plans", 0, "attributes", "perks", ["a", "a"]),
        "plans[0].attributes.perks",
        "a list of different texts",
    ),
    "plan-set-type": (put("plans", 0, "attributes", "perks", "a"), "plans[0].attributes.perks", "not a text"),
    "plan-text": (put("plans", 0, "attributes", "notes", 5), "plans[0].attributes.notes", "must be a text"),
    "plan-null": (
        put("plans", 0, "attributes", "notes", None),
        "plans[0].attributes.notes",
        "must not be null",
    ),
    # questions
    "questions-type": (put("questions", None), "questions", "'questions' must be a list, not null"),
    "q-object": (put("questions", 2, []), "questions[2]", "A question must be an object, not a list"),
    "q-type": (put("questions", 0, "type", "chioce"), "questions[0].type", "(did you mean 'choice'?)"),
    "q-text": (put("questions", 0, "text", ""), "questions[0].text", "'text' must not be empty"),
    "q-options-on-number": (
        put("questions", 1, "options", []),
        "questions[1].options",
        "'options' is only for choice and multi questions",
    ),
    "q-min-on-choice": (
        put("questions", 0, "min", 1),
        "questions[0].min",
        "'min' is only for number questions",
    ),
    "q-maxlength-on-number": (
        put("questions", 1, "maxLength", 3),
        "questions[1].maxLength",
        "'maxLength' is only for text questions",
    ),
    "q-no-options": (
        drop("questions", 0, "options"),
        "questions[0].options",
        "Missing required key 'options'",
    ),
    "q-empty-options": (put("questions", 3, "options", []), "questions[3].options", "A multi question needs"),
    "q-options-type": (
        put("questions", 3, "options", {}),
        "questions[3].options",
        "must be a list of options",
    ),
    "q-option-object": (
        put("questions", 3, "options", 1, "esim"),
        "questions[3].options[1]",
        "must be an object",
    ),
    "q-option-dup": (
        put("questions", 3, "options", 1, "value", "streaming"),
        "questions[3].options[1].value",
        "Duplicate option value 'streaming'",
    ),
    "q-option-syntax": (
        put("questions", 3, "options", 1, "value", "e sim"),
        "questions[3].options[1].value",
        "not a valid option value",
    ),
    "q-option-label": (
        drop("questions", 3, "options", 1, "label"),
        "questions[3].options[1].label",
        "Missing",
    ),
    "q-option-key": (
        put("questions", 3, "options", 1, "hint", "x"),
        "questions[3].options[1].hint",
        "Unknown key",
    ),
    "q-min-max": (put("questions", 1, "min", 600), "questions[1].max", "'max' (500) is below 'min' (600)"),
    "q-step-zero": (put("questions", 1, "step", 0), "questions[1].step", "'step' must be greater than 0"),
    "q-min-bool": (put("questions", 1, "min", True), "questions[1].min", "'min' must be a number, not true"),
    "q-max-nan": (
        put("questions", 1, "max", float("nan")),
        "questions[1].max",
        "'max' must be a finite number",
    ),
    "q-maxlength-big": (
        put("questions", 4, "maxLength", 501),
        "questions[4].maxLength",
        "integer from 1 to 500",
    ),
    "q-maxlength-zero": (
        put("questions", 4, "maxLength", 0),
        "questions[4].maxLength",
        "integer from 1 to 500",
    ),
    "q-maxlength-float": (
        put("questions", 4, "maxLength", 10.0),
        "questions[4].maxLength",
        "integer from 1 to 500",
    ),
    "q-id-dup": (put("questions", 4, "id", "usage"), "questions[4].id", "Duplicate question id 'usage'"),
    "q-id-syntax": (put("questions", 4, "id", "nick name"), "questions[4].id", "is not a valid question id"),
    "q-id-long": (put("questions", 4, "id", "n" * 65), "questions[4].id", "1 to 64 letters"),
    "q-askwhen-typo": (
        both(put("questions", 4, "askwhen", {"all": []})),
        "questions[4].askwhen",
        "(did you mean 'askWhen'?)",
    ),
    # rules
    "rules-type": (put("rules", "none"), "rules", "'rules' must be a list, not a text"),
    "rule-object": (put("rules", 4, 1), "rules[4]", "A rule must be an object"),
    "rule-when-missing": (drop("rules", 0, "when"), "rules[0].when", "Missing required key 'when'"),
    "rule-then-empty": (put("rules", 0, "then", []), "rules[0].then", "at least one effect"),
    "rule-then-type": (put("rules", 0, "then", {}), "rules[0].then", "'then' must be a list"),
    "rule-priority-float": (
        put("rules", 0, "priority", 1.5),
        "rules[0].priority",
        "'priority' must be an integer",
    ),
    "rule-priority-bool": (put("rules", 0, "priority", True), "rules[0].priority", "an integer, not true"),
    "rule-enabled": (put("rules", 0, "enabled", "no"), "rules[0].enabled", "'enabled' must be true or false"),
    "rule-id-dup": (put("rules", 4, "id", "heavy"), "rules[4].id", "Duplicate rule id 'heavy'"),
    "rule-name": (put("rules", 4, "name", ""), "rules[4].name", "'name' must not be empty"),
    # effects
    "effect-object": (put("rules", 4, "then", 0, "score"), "rules[4].then[0]", "An effect must be an object"),
    "effect-two-kinds": (
        put("rules", 0, "then", 0, "score", 3),
        "rules[0].then[0]",
        "this one has 'require' and 'score'",
    ),
    "effect-no-kind": (put("rules", 4, "then", 0, {"because": "x"}), "rules[4].then[0]", "exactly one of"),
    "effect-because-missing": (drop("rules", 0, "then", 0, "because"), "rules[0].then[0].because", "Missing"),
    "effect-because-blank": (put("rules", 0, "then", 0, "because", " "), "rules[0].then[0].because", "empty"),
    "effect-because-type": (
        put("rules", 4, "then", 0, "because", 5),
        "rules[4].then[0].because",
        "must be a text",
    ),
    "effect-where-on-require": (
        put("rules", 0, "then", 0, "where", {"all": []}),
        "rules[0].then[0].where",
        "only for score effects",
    ),
    "effect-score-bool": (put("rules", 4, "then", 0, "score", True), "rules[4].then[0].score", "not true"),
    "effect-score-text": (put("rules", 4, "then", 0, "score", "5"), "rules[4].then[0].score", "not a text"),
    "effect-derive-because": (
        put("rules", 2, "then", 0, "because", "x"),
        "rules[2].then[0].because",
        "A derive effect has no 'because'",
    ),
    "effect-derive-type": (
        put("rules", 2, "then", 0, "derive", "segment"),
        "rules[2].then[0].derive",
        "an object",
    ),
    "effect-derive-value": (
        put("rules", 2, "then", 0, "derive", "value", "t" * 65),
        "rules[2].then[0].derive.value",
        "1 to 64",
    ),
    "effect-derive-key": (
        put("rules", 2, "then", 0, "derive", "fact", "seg ment"),
        "rules[2].then[0].derive.fact",
        "not a valid fact key",
    ),
    "effect-derive-extra": (
        put("rules", 2, "then", 0, "derive", "why", "x"),
        "rules[2].then[0].derive.why",
        "Unknown key 'why'",
    ),
    # answer tests
    "cond-unknown-question": (
        when(0, {"answer": "usgae", "op": "==", "value": "heavy"}),
        "rules[0].when.answer",
        "Unknown question 'usgae' (did you mean 'usage'?)",
    ),
    "cond-op-misfit": (
        when(1, {"answer": "budget", "op": "contains", "value": 5}),
        "rules[1].when.op",
        "Operator 'contains' does not fit the number question 'budget'; "
        "use one of ==, !=, <, <=, >, >=, in, not_in, between, exists, not_exists",
    ),
    "cond-op-unknown": (
        when(0, {"answer": "usage", "op": "=", "value": "heavy"}),
        "rules[0].when.op",
        "Unknown operator '=' (did you mean '=='?)",
    ),
    "cond-op-missing": (
        when(0, {"answer": "usage", "value": "heavy"}),
        "rules[0].when.op",
        "Missing required key 'op'",
    ),
    "cond-op-type": (
        when(0, {"answer": "usage", "op": 1, "value": "a"}),
        "rules[0].when.op",
        "The operator must be one of ==, !=,",
    ),
    "cond-value-missing": (
        when(0, {"answer": "usage", "op": "=="}),
        "rules[0].when.value",
        "Missing required key",
    ),
    "cond-value-on-exists": (
        when(1, {"answer": "budget", "op": "exists", "value": 5}),
        "rules[1].when.value",
        "takes no value",
    ),
    "cond-choice-option": (
        when(0, {"answer": "usage", "op": "==", "value": "hevy"}),
        "rules[0].when.value",
        "'hevy' is not an option of the question 'usage' (did you mean 'heavy'?)",
    ),
    "cond-choice-type": (
        when(0, {"answer": "usage", "op": "!=", "value": 3}),
        "rules[0].when.value",
        "not a number",
    ),
    "cond-number-range": (
        when(1, {"answer": "budget", "op": "==", "value": 600}),
        "rules[1].when.value",
        "must be a number between 0 and 500 in steps of 5",
    ),
    "cond-number-grid": (
        when(1, {"answer": "budget", "op": "!=", "value": 7}),
        "rules[1].when.value",
        "steps of 5",
    ),
    "cond-number-order-range": (
        when(1, {"answer": "budget", "op": "<", "value": -1}),
        "rules[1].when.value",
        "between 0 and 500",
    ),
    "cond-number-bool": (
        when(1, {"answer": "budget", "op": ">", "value": True}),
        "rules[1].when.value",
        "not true",
    ),
    "cond-in-empty": (
        when(0, {"answer": "usage", "op": "in", "value": []}),
        "rules[0].when.value",
        "non-empty list",
    ),
    "cond-in-type": (
        when(0, {"answer": "usage", "op": "in", "value": "heavy"}),
        "rules[0].when.value",
        "non-empty",
    ),
    "cond-in-item": (
        when(0, {"answer": "usage", "op": "not_in", "value": ["light", "mega"]}),
        "rules[0].when.value[1]",
        "'mega'",
    ),
    "cond-in-number-grid": (
        when(1, {"answer": "budget", "op": "in", "value": [5, 6]}),
        "rules[1].when.value[1]",
        "in steps of 5",
    ),
    "cond-between-order": (
        when(1, {"answer": "budget", "op": "between", "value": [10, 5]}),
        "rules[1].when.value",
        "The low bound (10) is above the high bound (5)",
    ),
    "cond-between-pair": (
        when(1, {"answer": "budget", "op": "between", "value": [10]}),
        "rules[1].when.value",
        "a pair [low, high]",
    ),
    "cond-between-bound": (
        when(1, {"answer": "budget", "op": "between", "value": ["a", 5]}),
        "rules[1].when.value[0]",
        "Each bound",
    ),
    "cond-boolean": (
        when(2, {"answer": "travel", "op": "==", "value": "yes"}),
        "rules[2].when.value",
        "true or false",
    ),
    "cond-boolean-op": (
        when(2, {"answer": "travel", "op": "<", "value": True}),
        "rules[2].when.op",
        "use one of ==, !=",
    ),
    "cond-text-long": (
        when(0, {"answer": "nickname", "op": "==", "value": "n" * 41}),
        "rules[0].when.value",
        "at most 40 characters",
    ),
    "cond-multi-option": (
        when(3, {"answer": "extras", "op": "contains", "value": "netflix"}),
        "rules[3].when.value",
        "not an option",
    ),
    "cond-multi-op": (
        when(3, {"answer": "extras", "op": "==", "value": "esim"}),
        "rules[3].when.op",
        "multi question",
    ),
    "cond-contains-all-empty": (
        when(3, {"answer": "extras", "op": "contains_all", "value": []}),
        "rules[3].when.value",
        "non-empty list",
    ),
    # condition shapes
    "cond-object": (when(0, "always"), "rules[0].when", "A condition must be an object, not a text"),
    "cond-empty": (when(0, {}), "rules[0].when", "A condition needs one of"),
    "cond-two-shapes": (
        when(0, {"answer": "usage", "all": []}),
        "rules[0].when",
        "this one has 'answer' and 'all'",
    ),
    "cond-attribute-in-when": (
        when(0, {"attribute": "price", "op": "<", "value": 3}),
        "rules[0].when",
        "plan attributes are tested in its effects",
    ),
    "cond-all-type": (when(0, {"all": {}}), "rules[0].when.all", "'all' must be a list of conditions"),
    "cond-all-extra": (when(0, {"all": [], "op": "=="}), "rules[0].when.op", "Unknown key 'op'"),
    "cond-leaf-extra": (
        when(0, {"answer": "usage", "op": "==", "value": "heavy", "vlaue": 1}),
        "rules[0].when.vlaue",
        "'value'",
    ),
    "cond-nested-path": (
        when(2, {"all": [{"any": [{"not": {"answer": "travel", "op": "==", "value": 1}}]}]}),
        "rules[2].when.all[0].any[0].not.value",
        "true or false",
    ),
    "cond-depth": (
        when(2, nested_not(MAX_CONDITION_DEPTH + 1)),
        "rules[2].when" + ".not" * MAX_CONDITION_DEPTH,
        f"nested at most {MAX_CONDITION_DEPTH} levels deep",
    ),
    "cond-size": (
        when(2, {"any": [{"answer": "travel", "op": "exists"}] * MAX_CONDITION_NODES}),
        "rules[2].when",
        f"more than {MAX_CONDITION_NODES} parts",
    ),
    # fact tests
    "fact-negative-in-when": (
        when(4, {"fact": "segment", "op": "!=", "value": "family"}),
        "rules[4].when.op",
        "==, in or exists",
    ),
    "fact-not-exists-in-when": (
        when(4, {"fact": "segment", "op": "not_exists"}),
        "rules[4].when.op",
        "never under",
    ),
    "fact-under-not-in-when": (when(4, {"not": FAMILY}), "rules[4].when.not", "never under 'not'"),
    "fact-op-misfit": (
        when(4, {"fact": "segment", "op": "<", "value": "a"}),
        "rules[4].when.op",
        "facts are texts",
    ),
    "fact-never-derived": (
        put("questions", 5, "askWhen", {"fact": "segmnt", "op": "exists"}),
        "questions[5].askWhen.fact",
        "Fact 'segmnt' is never derived by any rule (did you mean 'segment'?)",
    ),
    "fact-value-never-derived": (
        put("questions", 5, "askWhen", "value", "famly"),
        "questions[5].askWhen.value",
        "No rule derives the fact 'segment' with the value 'famly' (did you mean 'family'?)",
    ),
    "fact-in-value-never-derived": (
        when(4, {"fact": "segment", "op": "in", "value": ["family", "student"]}),
        "rules[4].when.value[1]",
        "No rule derives the fact 'segment' with the value 'student'",
    ),
    "fact-value-type": (
        when(4, {"fact": "segment", "op": "==", "value": 1}),
        "rules[4].when.value",
        "1 to 64",
    ),
    "fact-key-syntax": (
        when(4, {"fact": "seg ment", "op": "exists"}),
        "rules[4].when.fact",
        "not a valid fact key",
    ),
    # plan conditions
    "plan-cond-unknown-attribute": (
        put("rules", 0, "then", 0, "require", "attribute", "dataGB"),
        "rules[0].then[0].require.attribute",
        "Unknown attribute 'dataGB' (did you mean 'dataGb'?)",
    ),
    "plan-cond-op": (
        put("rules", 0, "then", 0, "require", "op", "contains"),
        "rules[0].then[0].require.op",
        "Operator 'contains' does not fit the number attribute 'dataGb'",
    ),
    "plan-cond-number": (
        put("rules", 0, "then", 0, "require", "value", "20"),
        "rules[0].then[0].require.value",
        "must be a number",
    ),
    "plan-cond-enum": (
        put("rules", 3, "then", 1, "exclude", "value", "3g"),
        "rules[3].then[1].exclude.value",
        "'3g' is not an option of the attribute 'network'",
    ),
    "plan-cond-enum-in": (
        put("rules", 3, "then", 1, "exclude", {"attribute": "network", "op": "in", "value": ["4g", "6g"]}),
        "rules[3].then[1].exclude.value[1]",
        "'6g' is not an option",
    ),
    "plan-cond-boolean": (
        put("rules", 2, "then", 1, "where", "value", 1),
        "rules[2].then[1].where.value",
        "true or false",
    ),
    "plan-cond-set": (
        require({"attribute": "perks", "op": "contains", "value": 5}),
        "rules[1].then[0].require.value",
        "a text",
    ),
    "plan-cond-set-list": (
        require({"attribute": "perks", "op": "contains_any", "value": []}),
        "rules[1].then[0].require.value",
        "non-empty list",
    ),
    "plan-cond-between": (
        require({"attribute": "price", "op": "between", "value": [9, 1]}),
        "rules[1].then[0].require.value",
        "above",
    ),
    "plan-cond-both": (
        put("rules", 1, "then", 0, "require", "value", 3),
        "rules[1].then[0].require",
        "either 'value' or 'valueFrom'",
    ),
    "plan-cond-neither": (
        drop("rules", 1, "then", 0, "require", "valueFrom"),
        "rules[1].then[0].require.value",
        "(or 'valueFrom')",
    ),
    "plan-cond-exists-value": (
        require({"attribute": "price", "op": "exists", "value": 3}),
        "rules[1].then[0].require.value",
        "takes no value",
    ),
    "plan-cond-exists-from": (
        require({"attribute": "price", "op": "not_exists", "valueFrom": {"answer": "budget"}}),
        "rules[1].then[0].require.valueFrom",
        "takes no valueFrom",
    ),
    "plan-cond-answer": (
        require({"answer": "usage", "op": "==", "value": "heavy"}),
        "rules[1].then[0].require",
        "through 'valueFrom'",
    ),
    "plan-cond-where-shape": (
        put("rules", 2, "then", 1, "where", []),
        "rules[2].then[1].where",
        "must be an object",
    ),
    "value-from-unknown": (
        put("rules", 1, "then", 0, "require", "valueFrom", "answer", "budgte"),
        "rules[1].then[0].require.valueFrom.answer",
        "Unknown question 'budgte' (did you mean 'budget'?)",
    ),
    "value-from-type": (
        put("rules", 1, "then", 0, "require", "valueFrom", "budget"),
        "rules[1].then[0].require.valueFrom",
        "'valueFrom' must be an object like",
    ),
    "value-from-key": (
        put("rules", 1, "then", 0, "require", "valueFrom", "question", "x"),
        "rules[1].then[0].require.valueFrom.question",
        "Unknown key 'question'",
    ),
    "value-from-pair": (
        put("rules", 1, "then", 0, "require", "valueFrom", "answer", "usage"),
        "rules[1].then[0].require.valueFrom",
        "The number attribute 'price' cannot be compared with the choice question 'usage'",
    ),
    "value-from-op": (
        require({"attribute": "network", "op": "in", "valueFrom": {"answer": "usage"}}),
        "rules[1].then[0].require.op",
        "does not fit comparing the enum attribute 'network' with the choice question 'usage'; use == or !=",
    ),
    "value-from-set-multi": (
        require({"attribute": "perks", "op": "contains", "valueFrom": {"answer": "extras"}}),
        "rules[1].then[0].require.op",
        "use contains_any or contains_all",
    ),
    # placeholders
    "placeholder-answer": (
        put("rules", 1, "then", 0, "because", "Within {answers.budgt} EUR"),
        "rules[1].then[0].because",
        "The placeholder {answers.budgt} names an unknown question (did you mean 'budget'?)",
    ),
    "placeholder-fact": (
        put("rules", 2, "then", 1, "because", "A {facts.segmnt}"),
        "rules[2].then[1].because",
        "The placeholder {facts.segmnt} names a fact no rule derives (did you mean 'segment'?)",
    ),
    # ranking
    "ranking-type": (put("ranking", []), "ranking", "'ranking' must be an object"),
    "ranking-by-unknown": (
        put("ranking", "order", 1, "by", "prize"),
        "ranking.order[1].by",
        "(did you mean 'price'?)",
    ),
    "ranking-by-set": (put("ranking", "order", 1, "by", "perks"), "ranking.order[1].by", "cannot be ranked"),
    "ranking-by-type": (
        put("ranking", "order", 1, "by", 1),
        "ranking.order[1].by",
        "'score', 'estimate' or an attribute key",
    ),
    "ranking-dir": (put("ranking", "order", 0, "dir", "up"), "ranking.order[0].dir", "'asc' or 'desc'"),
    "ranking-order-empty": (put("ranking", "order", []), "ranking.order", "at least one sort key"),
    "ranking-order-missing": (drop("ranking", "order"), "ranking.order", "Missing required key 'order'"),
    "ranking-key-object": (put("ranking", "order", 0, "score"), "ranking.order[0]", "must be an object"),
    "ranking-limit-zero": (put("ranking", "limit", 0), "ranking.limit", "integer from 1 to 1000"),
    "ranking-limit-big": (put("ranking", "limit", 1001), "ranking.limit", "integer from 1 to 1000"),
    "ranking-limit-bool": (put("ranking", "limit", True), "ranking.limit", "integer from 1 to 1000"),
    "ranking-unknown-key": (put("ranking", "limits", 3), "ranking.limits", "(did you mean 'limit'?)"),
    "excluded-reasons-zero": (
        put("ranking", "excludedReasonsLimit", 0),
        "ranking.excludedReasonsLimit",
        "integer from 1 to 1000",
    ),
    "excluded-reasons-text": (
        put("ranking", "excludedReasonsLimit", "3"),
        "ranking.excludedReasonsLimit",
        "integer from 1 to 1000",
    ),
    # visibility cycles
    "cycle-self": (
        put("questions", 5, "askWhen", {"answer": "lines", "op": "exists"}),
        "questions[5].askWhen",
        "Visibility cycle: lines -> lines",
    ),
    "cycle-through-fact": (
        when(3, {"answer": "lines", "op": ">", "value": 2}),
        "questions[5].askWhen",
        "Visibility cycle: lines -> segment -> lines",
    ),
    "cycle-two-questions": (
        put("questions", 2, "askWhen", {"answer": "lines", "op": "exists"}),
        "questions[2].askWhen",
        "Visibility cycle: travel -> lines -> segment -> travel",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_check_reports_one_problem_at_its_path(case: str) -> None:
    mutate, path, message = CASES[case]
    data = bundle()
    mutate(data)
    problems = found(data)
    assert len(problems) == 1, problems
    assert problems[0][0] == path
    assert message in problems[0][1]


@pytest.mark.parametrize(
    "mutate",
    [
        # negative fact tests are fine in askWhen
        put("questions", 5, "askWhen", {"not": {"fact": "segment", "op": "!=", "value": "family"}}),
        put("questions", 5, "askWhen", {"fact": "segment", "op": "not_in", "value": ["family"]}),
        put("questions", 5, "askWhen", {"fact": "segment", "op": "not_exists"}),
        # ordering comparisons need not be on the step grid
        when(1, {"answer": "budget", "op": "<", "value": 7}),
        when(1, {"answer": "budget", "op": "between", "value": [7, 7]}),
        when(0, {"any": []}),
        when(0, {"all": []}),
        when(4, {"any": [FAMILY, {"fact": "segment", "op": "in", "value": ["traveller", "family"]}]}),
        # valueFrom pairs of the table
        require({"attribute": "network", "op": "==", "valueFrom": {"answer": "usage"}}),
        require({"attribute": "network", "op": "not_in", "valueFrom": {"answer": "extras"}}),
        require({"attribute": "notes", "op": "!=", "valueFrom": {"answer": "nickname"}}),
        require({"attribute": "perks", "op": "contains", "valueFrom": {"answer": "usage"}}),
        require({"attribute": "perks", "op": "contains_all", "valueFrom": {"answer": "extras"}}),
        require({"attribute": "roaming", "op": "==", "valueFrom": {"answer": "travel"}}),
        require({"all": [{"not": {"attribute": "perks", "op": "exists"}}, {"any": []}]}),
        # braces that are not placeholders stay as they are
        put("rules", 0, "then", 0, "because", "{answers.bad id} {other} { {answers.} {facts.x-y.z}"),
        # a disabled rule does not make a visibility cycle
        both(when(3, {"answer": "lines", "op": ">", "value": 2}), put("rules", 3, "enabled", False)),
        # != on a value no rule derives is allowed (only == and in are checked)
        put("questions", 5, "askWhen", {"fact": "segment", "op": "!=", "value": "student"}),
        put("ranking", "order", 0, {"by": "network"}),
    ],
)
def test_allowed_variants_have_no_problem(mutate: Mutation) -> None:
    data = bundle()
    mutate(data)
    assert found(data) == []


def test_many_independent_problems_are_reported_at_once() -> None:
    data = bundle()
    data["format"] = "x"
    data["attributes"][0]["type"] = "numbr"
    data["plans"][1]["id"] = "basic"
    data["questions"][1]["step"] = -5
    data["rules"][0]["when"]["value"] = "hevy"
    data["rules"][4]["when"] = {"not": FAMILY}
    data["ranking"]["limit"] = 0
    paths = [path for path, _ in found(data)]
    assert paths == [
        "format",
        "attributes[0].type",
        "plans[1].id",
        "questions[1].step",
        "rules[0].when.value",
        "rules[4].when.not",
        "ranking.limit",
    ]


def test_no_cascade_from_a_broken_part() -> None:
    data = bundle()
    data["questions"] = "all of them"
    data["attributes"] = 5
    assert [path for path, _ in found(data)] == ["attributes", "questions"]


def test_a_broken_derive_does_not_make_facts_underived() -> None:
    data = bundle()
    data["rules"][3]["then"][0] = {"derive": {"fact": 5, "value": "family"}}
    assert [path for path, _ in found(data)] == ["rules[3].then[0].derive.fact"]


def test_unknown_question_skips_the_value_checks() -> None:
    data = bundle()
    data["rules"][1]["when"] = {"answer": "budgt", "op": "between", "value": "nonsense"}
    assert [path for path, _ in found(data)] == ["rules[1].when.answer"]


def test_too_many_alternatives_for_the_engine() -> None:
    data = bundle()
    either = {"any": [FAMILY, TRAVELLER]}
    data["rules"][4]["when"] = {"all": [either] * 5}
    assert found(data) == []  # 2**5 == 32 alternatives: at the limit
    data["rules"][4]["when"] = {"all": [either] * 6}
    assert found(data) == [
        (
            "rules[4].when",
            f"This condition has more than {MAX_TERMS_PER_RULE} alternatives (every 'any' containing "
            "fact tests multiplies them); split the rule into several rules",
        )
    ]


def test_answer_only_conditions_do_not_multiply_alternatives() -> None:
    data = bundle()
    either = {"any": [{"answer": "travel", "op": "exists"}, {"answer": "usage", "op": "exists"}]}
    data["rules"][4]["when"] = {"all": [either] * 12}
    assert found(data) == []


def test_cycle_through_chained_facts() -> None:
    data = bundle()
    data["rules"][3]["when"] = {"fact": "big", "op": "exists"}
    data["rules"].append(
        {
            "id": "big",
            "name": "Big",
            "when": {"answer": "lines", "op": ">=", "value": 3},
            "then": [{"derive": {"fact": "big", "value": "yes"}}],
        }
    )
    assert found(data) == [
        (
            "questions[5].askWhen",
            "Visibility cycle: lines -> segment -> big -> lines; "
            "whether a question is shown cannot depend on its own answer",
        )
    ]


@pytest.mark.parametrize(
    ("key", "limit", "make", "message"),
    [
        (
            "attributes",
            MAX_ATTRIBUTES,
            lambda i: {"key": f"a{i}", "type": "text", "label": "A"},
            "Too many attributes",
        ),
        ("plans", MAX_PLANS, lambda i: {"id": f"p{i}", "name": "P", "attributes": {}}, "Too many plans"),
        (
            "questions",
            MAX_QUESTIONS,
            lambda i: {"id": f"q{i}", "text": "Q", "type": "boolean"},
            "Too many questions",
        ),
        (
            "rules",
            MAX_RULES,
            lambda i: {"id": f"r{i}", "name": "R", "when": {"all": []}, "then": [{"score": 1}]},
            "split the catalogue",
        ),
    ],
)
def test_size_limits(key: str, limit: int, make: Callable[[int], Any], message: str) -> None:
    data = bundle()
    data[key].extend(make(i) for i in range(limit - len(data[key])))
    assert found(data) == []
    data[key].append(make(limit + 1))
    problems = found(data)
    assert [path for path, _ in problems] == [key]
    assert message in problems[0][1]


def test_too_many_options() -> None:
    data = bundle()
    data["questions"][3]["options"] += [{"value": f"o{i}", "label": "O"} for i in range(MAX_OPTIONS - 2)]
    assert found(data) == []
    data["questions"][3]["options"].append({"value": "last", "label": "O"})
    assert found(data) == [("questions[3].options", f"Too many options: at most {MAX_OPTIONS} per question")]


def test_problem_messages_never_echo_huge_values() -> None:
    data = bundle()
    data["rules"][0]["when"]["value"] = "h" * 100_000
    data["x" * 100_000] = 1
    problems = validate_bundle(data)
    assert len(problems) == 2
    assert all(len(p.message) < 300 and len(p.path) < 300 for p in problems)


def test_deeply_nested_values_do_not_break_the_validator() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    data = bundle()
    data["plans"][0]["attributes"]["perks"] = deep
    data["rules"][0]["when"]["value"] = deep
    data["rules"][1]["then"][0]["require"]["valueFrom"] = {"answer": deep}
    data["name"] = deep
    paths = [path for path, _ in found(data)]
    assert paths == [
        "name",
        "plans[0].attributes.perks",
        "rules[0].when.value",
        "rules[1].then[0].require.valueFrom.answer",
    ]


def test_load_catalogue_returns_the_model() -> None:
    catalogue = load_catalogue(bundle())
    assert isinstance(catalogue, Catalogue)
    assert [q.id for q in catalogue.questions][:2] == ["usage", "budget"]


def test_load_catalogue_raises_with_every_problem() -> None:
    data = bundle()
    data["format"] = "x"
    data["name"] = ""
    with pytest.raises(CatalogueInvalid) as caught:
        load_catalogue(data)
    assert [p.path for p in caught.value.problems] == ["format", "name"]


def test_load_catalogue_rejects_non_objects() -> None:
    with pytest.raises(CatalogueInvalid):
        load_catalogue([])
