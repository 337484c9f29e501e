"""Answer validation: strict JSON types, option values, ranges, steps, lengths; normalised multi answers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.answers import validate_answers
from rules.model import Catalogue
from rules.validator import load_catalogue


def option(value: str) -> dict[str, str]:
    return {"value": value, "label": value.title()}


MAX_ANSWERS = 200  # any bound a caller passes
CATALOGUE: Catalogue = load_catalogue(
    {
        "format": "plan-catalogue/1",
        "name": "Answers",
        "attributes": [],
        "plans": [],
        "questions": [
            {"id": "usage", "text": "Data?", "type": "choice", "options": [option("light"), option("heavy")]},
            {"id": "budget", "text": "Budget?", "type": "number", "min": 0, "max": 500},
            {"id": "travel", "text": "Travel?", "type": "boolean"},
            {
                "id": "extras",
                "text": "Extras?",
                "type": "multi",
                "options": [option("streaming"), option("esim"), option("roaming")],
            },
            {"id": "comment", "text": "Anything else?", "type": "text"},
            {"id": "nickname", "text": "Name?", "type": "text", "maxLength": 5},
            {"id": "gb", "text": "GB?", "type": "number", "min": 0, "step": 0.1},
            {"id": "lines", "text": "Lines?", "type": "number", "min": 1, "max": 9, "step": 2},
            {"id": "age", "text": "Age?", "type": "number", "step": 5},
            {"id": "free", "text": "Any number?", "type": "number"},
        ],
        "rules": [],
    }
)


def check(answers: object) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    return validate_answers(CATALOGUE, answers)


def test_valid_answers_of_every_type() -> None:
    answers = {
        "usage": "heavy",
        "budget": 29.99,
        "travel": False,
        "extras": ["esim"],
        "comment": "",
        "nickname": "Ann",
        "gb": 0.3,
        "lines": 7,
        "age": -15,
        "free": 1e15,
    }
    assert check(answers) == (answers, [])


def test_multi_answers_are_normalised_to_option_order() -> None:
    assert check({"extras": ["roaming", "streaming"]}) == ({"extras": ["streaming", "roaming"]}, [])


def test_empty_multi_answer_and_null_are_kept() -> None:
    assert check({"extras": [], "usage": None}) == ({"extras": [], "usage": None}, [])


def test_empty_answers_are_fine() -> None:
    assert check({}) == ({}, [])


def test_protocol_example_message() -> None:
    assert check({"budget": 501}) == (
        {},
        [("budget", "Answer for 'budget' must be a number between 0 and 500")],
    )


@pytest.mark.parametrize(
    ("qid", "value", "message"),
    [
        ("usage", "medium", "Answer for 'usage' must be one of: light, heavy"),
        ("usage", ["heavy"], "Answer for 'usage' must be one of: light, heavy"),
        ("usage", True, "Answer for 'usage' must be one of: light, heavy"),
        (
            "extras",
            "esim",
            "Answer for 'extras' must be a list of different values from: streaming, esim, roaming",
        ),
        ("extras", ["esim", "esim"], "must be a list of different values"),
        ("extras", ["esim", "netflix"], "must be a list of different values"),
        ("extras", [1], "must be a list of different values"),
        ("budget", "12", "Answer for 'budget' must be a number between 0 and 500"),
        ("budget", True, "must be a number between 0 and 500"),
        ("budget", -0.01, "must be a number between 0 and 500"),
        ("budget", float("nan"), "must be a number between 0 and 500"),
        ("budget", float("inf"), "must be a number between 0 and 500"),
        ("budget", 10**400, "must be a number between 0 and 500"),
        ("free", 10**16, "Answer for 'free' must be a number"),
        ("free", float("-inf"), "Answer for 'free' must be a number"),
        ("gb", 0.35, "Answer for 'gb' must be a number of at least 0 in steps of 0.1"),
        ("gb", -0.1, "of at least 0 in steps of 0.1"),
        ("lines", 4, "Answer for 'lines' must be a number between 1 and 9 in steps of 2 from 1"),
        ("lines", 11, "between 1 and 9 in steps of 2 from 1"),
        ("age", 12, "Answer for 'age' must be a number in steps of 5"),
        ("travel", 1, "Answer for 'travel' must be true or false"),
        ("travel", "true", "Answer for 'travel' must be true or false"),
        ("comment", 5, "Answer for 'comment' must be a text of at most 500 characters"),
        ("comment", "x" * 501, "Answer for 'comment' must be a text of at most 500 characters"),
        ("nickname", "Annabel", "Answer for 'nickname' must be a text of at most 5 characters"),
    ],
)
def test_invalid_answers(qid: str, value: object, message: str) -> None:
    normalised, problems = check({qid: value})
    assert normalised == {}
    assert len(problems) == 1
    assert problems[0][0] == qid
    assert message in problems[0][1]


def test_steps_are_exact_decimals() -> None:
    for value in (0.1, 0.2, 0.3, 0.7, 1.1, 2.3, 10, 12.5):
        assert check({"gb": value})[1] == [], value


def test_text_length_counts_code_points() -> None:
    assert check({"nickname": "😀😀😀😀😀"})[1] == []
    assert check({"comment": "é" * 500})[1] == []


def test_unknown_question() -> None:
    assert check({"usgae": "heavy"}) == ({}, [("usgae", "Unknown question 'usgae' (did you mean 'usage'?)")])


def test_every_bad_answer_is_listed_and_good_ones_normalised() -> None:
    normalised, problems = check({"usage": "x", "travel": True, "budget": -1, "nope": 1})
    assert normalised == {"travel": True}
    assert [qid for qid, _ in problems] == ["usage", "budget", "nope"]


@pytest.mark.parametrize("answers", [None, [], "usage", 3, [["usage", "heavy"]]])
def test_answers_must_be_an_object(answers: object) -> None:
    assert check(answers) == ({}, [("", "Answers must be an object mapping question ids to values")])


def test_too_many_answers() -> None:
    answers = {f"q{i}": 1 for i in range(MAX_ANSWERS + 1)}
    assert validate_answers(CATALOGUE, answers, MAX_ANSWERS) == (
        {},
        [("", f"Too many answers: at most {MAX_ANSWERS} in one message")],
    )
    assert (
        len(validate_answers(CATALOGUE, dict(list(answers.items())[:MAX_ANSWERS]), MAX_ANSWERS)[1])
        == MAX_ANSWERS
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([q.id for q in CATALOGUE.questions]) | st.text(max_size=6), json_values, max_size=20
    )
)
def test_arbitrary_answers_never_raise(answers: dict[str, Any]) -> None:
    normalised, problems = check(answers)
    assert set(normalised) | {qid for qid, _ in problems} == set(answers)
    assert all(isinstance(message, str) and message for _, message in problems)
    again, none = check(normalised)
    assert (again, none) == (normalised, [])
