"""The reference evaluator and the plan matcher on the CATALOGUE.md example."""

from __future__ import annotations

from typing import Any

from rules.matcher import Matcher, question_states
from rules.model import parse_catalogue
from rules.reference import ReferenceEvaluator


def run(bundle: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    catalogue = parse_catalogue(bundle)
    evaluation = ReferenceEvaluator(catalogue, 1).evaluate(answers)
    questions = question_states(catalogue, evaluation.visible, answers)
    return {"evaluation": evaluation, "questions": questions, **Matcher(catalogue).match(evaluation, answers)}


def ids(result: dict[str, Any]) -> list[str]:
    return [p["id"] for p in result["plans"]]


def test_no_answers_ranks_every_active_plan_by_score_then_price(example_bundle: dict[str, Any]) -> None:
    result = run(example_bundle, {})
    assert ids(result) == ["nodata", "basic-5", "mid-20", "max-50"]
    assert [p["rank"] for p in result["plans"]] == [1, 2, 3, 4]
    assert result["totalPlans"] == 4 and result["matchedPlans"] == 4
    assert result["excluded"] == []
    assert result["evaluation"].fired == ()
    visible = {q["id"]: q["visible"] for q in result["questions"]}
    assert visible == {"dataUsage": True, "budget": True, "travel": True, "extras": True, "lines": False}


def test_require_excludes_and_explains(example_bundle: dict[str, Any]) -> None:
    result = run(example_bundle, {"dataUsage": "heavy", "budget": 25})
    assert ids(result) == ["mid-20"]
    assert result["plans"][0]["reasons"] == [
        {"rule": "heavy-data", "text": "You use a lot of data: 20 GB or more"},
        {"rule": "budget-cap", "text": "Within your budget of 25 EUR"},
    ]
    excluded = {e["id"]: [r["rule"] for r in e["reasons"]] for e in result["excluded"]}
    # The missing dataGb attribute makes the comparison false: the talk-only plan is excluded.
    assert excluded == {"basic-5": ["heavy-data"], "max-50": ["budget-cap"], "nodata": ["heavy-data"]}
    # v1.1: excluded plans are ordered like the plans would be (score, price, id), not by id.
    assert [e["id"] for e in result["excluded"]] == ["nodata", "basic-5", "max-50"]
    assert result["excluded"][1]["name"] == "Basic 5" and result["excluded"][1]["provider"] == "Acme"
    assert result["matchedPlans"] == 1 and result["totalPlans"] == 4


def test_derived_fact_scores_and_shows_conditional_question(example_bundle: dict[str, Any]) -> None:
    result = run(example_bundle, {"travel": True, "dataUsage": "medium", "extras": ["streaming"]})
    evaluation = result["evaluation"]
    assert set(evaluation.fired) == {"traveller", "family"}
    assert evaluation.facts == {"segment": ("family", "traveller")}
    assert "lines" in evaluation.visible
    assert ids(result)[:2] == ["mid-20", "max-50"]
    assert result["plans"][0]["score"] == 20
    assert result["plans"][0]["reasons"] == [{"rule": "traveller", "text": "Includes EU roaming"}]


def test_hidden_answers_are_kept_but_ignored(example_bundle: dict[str, Any]) -> None:
    example_bundle["rules"].append(
        {
            "id": "many-lines",
            "name": "Many lines",
            "when": {"answer": "lines", "op": ">=", "value": 3},
            "then": [{"score": 5, "because": "For {answers.lines} lines"}],
        }
    )
    hidden = run(example_bundle, {"lines": 4})
    assert "many-lines" not in hidden["evaluation"].fired
    assert {"id": "lines", "visible": False, "answered": True} in hidden["questions"]
    shown = run(example_bundle, {"lines": 4, "extras": ["streaming"]})
    assert "many-lines" in shown["evaluation"].fired
    assert shown["plans"][0]["reasons"] == [{"rule": "many-lines", "text": "For 4 lines"}]


def test_inactive_plans_never_appear(example_bundle: dict[str, Any]) -> None:
    result = run(example_bundle, {"dataUsage": "heavy"})
    assert "retired" not in ids(result)
    assert "retired" not in [e["id"] for e in result["excluded"]]


def test_ranking_limit_and_missing_attribute_sorts_last(example_bundle: dict[str, Any]) -> None:
    example_bundle["ranking"] = {"order": [{"by": "dataGb", "dir": "desc"}], "limit": 3}
    result = run(example_bundle, {})
    assert ids(result) == ["max-50", "mid-20", "basic-5"]
    assert result["matchedPlans"] == 4 and result["excluded"] == []
    example_bundle["ranking"] = {"order": [{"by": "dataGb"}]}
    assert ids(run(example_bundle, {})) == ["basic-5", "mid-20", "max-50", "nodata"]


def test_enum_and_boolean_ranking_follow_option_order(example_bundle: dict[str, Any]) -> None:
    example_bundle["ranking"] = {"order": [{"by": "network", "dir": "desc"}, {"by": "roaming"}]}
    assert ids(run(example_bundle, {})) == ["max-50", "basic-5", "nodata", "mid-20"]


def test_negative_and_zero_scores_explain(example_bundle: dict[str, Any]) -> None:
    example_bundle["rules"].append(
        {
            "id": "no-4g",
            "name": "Prefer 5G",
            "when": {"all": []},
            "then": [
                {
                    "score": -10,
                    "where": {"attribute": "network", "op": "==", "value": "4g"},
                    "because": "Only 4G",
                },
                {"score": 0, "because": "Everyone sees this"},
            ],
        }
    )
    result = run(example_bundle, {})
    top = result["plans"][0]
    assert top["id"] == "max-50" and top["score"] == 0
    assert top["reasons"] == [{"rule": "no-4g", "text": "Everyone sees this"}]
    assert result["plans"][1]["score"] == -10


def test_placeholders_substitute_once_and_leave_other_braces(example_bundle: dict[str, Any]) -> None:
    example_bundle["rules"].append(
        {
            "id": "echo",
            "name": "Echo",
            "when": {"answer": "extras", "op": "exists"},
            "then": [
                {
                    "score": 1,
                    "because": (
                        "{answers.extras} | {facts.segment} | {answers.budget} | {answers.travel} | {x} {"
                    ),
                }
            ],
        }
    )
    result = run(example_bundle, {"extras": ["esim", "streaming"], "travel": False})
    text = result["plans"][0]["reasons"][0]["text"]
    assert text == "Streaming, eSIM | family |  | no | {x} {"


def test_excluded_is_cut_to_the_excluded_limit_in_ranking_order(example_bundle: dict[str, Any]) -> None:
    example_bundle["ranking"]["excludedLimit"] = 2
    result = run(example_bundle, {"dataUsage": "heavy", "budget": 25})
    assert [e["id"] for e in result["excluded"]] == ["nodata", "basic-5"]
    assert result["totalPlans"] - result["matchedPlans"] == 3  # the count still says how many
    example_bundle["ranking"]["excludedLimit"] = 0
    assert run(example_bundle, {"dataUsage": "heavy", "budget": 25})["excluded"] == []


def test_excluded_reasons_are_cut_to_the_excluded_reasons_limit_with_their_total(
    example_bundle: dict[str, Any],
) -> None:
    answers = {"dataUsage": "heavy", "budget": 5}
    every = {e["id"]: e for e in run(example_bundle, answers)["excluded"]}
    assert len(every["basic-5"]["reasons"]) == 2  # two rules exclude it
    assert not any("reasonsTotal" in e for e in every.values())  # no limit: every reason
    example_bundle["ranking"]["excludedReasonsLimit"] = 1
    cut = {e["id"]: e for e in run(example_bundle, answers)["excluded"]}
    assert list(cut) == list(every)  # the same plans, in the same order
    assert cut["basic-5"]["reasons"] == every["basic-5"]["reasons"][:1]  # the first by priority
    assert cut["basic-5"]["reasonsTotal"] == 2
    assert all(cut[p] == every[p] for p in every if p != "basic-5")  # one reason: nothing cut
    # Asked about the plan, the explanation still lists every reason.
    assert explain(example_bundle, answers, "basic-5") == {
        "status": "excluded",
        "reasons": every["basic-5"]["reasons"],
    }


def explain(bundle: dict[str, Any], answers: dict[str, Any], plan_id: str) -> dict[str, Any] | None:
    catalogue = parse_catalogue(bundle)
    evaluation = ReferenceEvaluator(catalogue, 1).evaluate(answers)
    return Matcher(catalogue).explain(evaluation, answers, plan_id)


def test_explain_says_why_a_plan_is_shown_cut_excluded_or_inactive(example_bundle: dict[str, Any]) -> None:
    answers = {"dataUsage": "heavy", "budget": 25}
    shown = run(example_bundle, answers)["plans"][0]
    assert explain(example_bundle, answers, shown["id"]) == {
        "status": "shown",
        "rank": 1,
        "score": shown["score"],
        "reasons": shown["reasons"],
    }
    excluded = {e["id"]: e["reasons"] for e in run(example_bundle, answers)["excluded"]}
    assert explain(example_bundle, answers, "max-50") == {"status": "excluded", "reasons": excluded["max-50"]}
    example_bundle["ranking"]["limit"] = 1
    cut = explain(example_bundle, {}, "basic-5")
    assert cut is not None and cut["status"] == "cut" and "rank" not in cut
    example_bundle["plans"][0]["active"] = False
    assert explain(example_bundle, {}, example_bundle["plans"][0]["id"]) == {
        "status": "inactive",
        "reasons": [],
    }
    assert explain(example_bundle, {}, "no-such-plan") is None
