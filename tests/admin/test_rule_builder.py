"""The rule builder: every rule loads into the form and comes back as the same JSON; structure buttons,
operators by type, problems next to the field at fault, nothing lost, the JSON view, roles and CSRF."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from quart import Quart
from werkzeug.datastructures import MultiDict

from admin.builder_form import dump, read
from admin.builder_model import Catalog, load
from tests.admin.conftest import EXAMPLE, Browser
from tests.admin.formparse import form_fields
from tests.admin.test_drafts import draft_bundle

Pairs = list[tuple[str, str]]
EXAMPLE_BUNDLE = json.loads(EXAMPLE.read_text())
# Every shape CATALOGUE.md can express in a rule: all question types and operators, facts, nested
# groups, the four effects, plan conditions with value and valueFrom, optional where/because.
LANGUAGE_RULES: list[dict[str, Any]] = [
    {
        "id": "every-answer-test",
        "name": "Every answer test",
        "description": "All operators",
        "priority": -3,
        "enabled": False,
        "when": {
            "all": [
                {"answer": "budget", "op": "between", "value": [10, 29.5]},
                {"answer": "budget", "op": "in", "value": [10, 20.0, 1e20]},
                {"answer": "budget", "op": "not_in", "value": [3]},
                {"answer": "budget", "op": "<", "value": 30.0},
                {"answer": "lines", "op": ">=", "value": 2},
                {"answer": "travel", "op": "!=", "value": False},
                {"answer": "dataUsage", "op": "in", "value": ["light", "heavy"]},
                {"answer": "dataUsage", "op": "not_in", "value": ["medium"]},
                {"answer": "dataUsage", "op": "!=", "value": "light"},
                {"answer": "extras", "op": "contains_any", "value": ["streaming", "esim"]},
                {"answer": "extras", "op": "contains_all", "value": ["esim"]},
                {"answer": "extras", "op": "contains", "value": "esim"},
                {"answer": "extras", "op": "not_exists"},
                {"any": [{"fact": "segment", "op": "==", "value": "traveller"}, {"any": []}]},
                {"fact": "segment", "op": "in", "value": ["traveller", "family"]},
                {"fact": "segment", "op": "exists"},
                {"not": {"all": [{"answer": "travel", "op": "==", "value": True}]}},
                {"not": {"answer": "budget", "op": "exists"}},
            ]
        },
        "then": [
            {
                "require": {"attribute": "monthlyPrice", "op": "<=", "valueFrom": {"answer": "budget"}},
                "because": "Within {answers.budget} EUR",
            },
            {
                "exclude": {
                    "any": [
                        {"attribute": "network", "op": "in", "value": ["4g"]},
                        {"not": {"attribute": "roaming", "op": "==", "value": True}},
                        {"attribute": "perks", "op": "contains_any", "valueFrom": {"answer": "extras"}},
                        {"attribute": "perks", "op": "contains", "value": "streaming"},
                        {"attribute": "dataGb", "op": "between", "value": [1, 5]},
                        {"attribute": "dataGb", "op": "not_exists"},
                    ]
                },
                "because": "",
            },
            {"score": -2.5},
            {"score": 0, "because": "Shown for {facts.segment}"},
            {"score": 5, "where": {"all": []}},
            {"derive": {"fact": "segment", "value": "frugal"}},
        ],
    },
    {"id": "always", "name": "Always", "when": {"all": []}, "then": [{"score": 1, "because": "Base"}]},
]


def post_pairs(b: Browser, path: str, pairs: Pairs, **extra: str) -> Any:
    """Submit a form's fields as a browser would (repeated names kept), plus the pressed button."""
    body = [(k, v) for k, v in pairs if k not in extra] + list(extra.items())
    if not any(k == "csrf_token" for k, _ in body):
        body.append(("csrf_token", b.token))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return b.client.post(path, data=urlencode(body).encode(), headers=headers)


def replace(pairs: Pairs, name: str, value: str) -> Pairs:
    assert any(k == name for k, _ in pairs), name
    return [(k, value if k == name else v) for k, v in pairs]


def near(page: str, anchor: str, length: int = 2500) -> str:
    start = page.index(anchor)
    return page[start : start + length]


async def put_rules(b: Browser, rules: list[dict[str, Any]]) -> None:
    """Put rules into the draft through the JSON view (saved even with problems)."""
    for i, rule in enumerate(rules):
        path = "/admin/draft/rules/new" if i >= 4 else f"/admin/draft/rules/{i}"
        page = await b.text(path if i < 4 else "/admin/draft/rules/new?view=json")
        fields = dict(form_fields(page)) if i < 4 else {}
        form = {
            "original": fields.get("original", ""),
            "id": rule["id"],
            "name": rule["name"],
            "description": rule.get("description", ""),
            "priority": str(rule.get("priority", "")),
            "when": json.dumps(rule["when"]),
            "then": json.dumps(rule["then"]),
            "force": "1",
        }
        if rule.get("enabled", True):
            form["enabled"] = "y"
        response = await b.post(path, form)
        assert response.status_code == 302, await response.get_data(as_text=True)


def test_pure_round_trip_of_every_example_rule() -> None:
    catalog = Catalog.of(EXAMPLE_BUNDLE)
    for rule in EXAMPLE_BUNDLE["rules"] + LANGUAGE_RULES:
        builder = load(rule["when"], rule["then"], catalog)
        assert builder is not None
        when, then, errors = dump(builder, catalog)
        assert errors == {}
        assert json.dumps([when, then]) == json.dumps([rule["when"], rule["then"]]), rule["id"]


def test_unshowable_parts_become_json_nodes_and_still_round_trip() -> None:
    catalog = Catalog.of(EXAMPLE_BUNDLE)
    odd_when = {"all": [{"answer": "budget", "op": "==", "value": "12"}, {"answer": "x", "op": "~"}, 7]}
    odd_then = [{"score": "ten"}, {"require": {"attribute": "dataGb"}, "because": "x"}, {"derive": {}}]
    builder = load(odd_when, odd_then, catalog)
    assert builder is not None
    assert [c.kind for c in builder.when.children] == ["json", "json", "json"]
    assert [e.kind for e in builder.effects] == ["json", "require", "json"]
    when, then, errors = dump(builder, catalog)
    assert builder.effects[1].cond is not None and builder.effects[1].cond.kind == "json"
    assert errors == {} and when == odd_when and then == odd_then
    assert load({"all": []}, {"not": "a list"}, catalog) is None  # JSON view only


async def test_every_rule_round_trips_through_the_rendered_form(app: Quart, editor: Browser) -> None:
    await put_rules(editor, EXAMPLE_BUNDLE["rules"] + LANGUAGE_RULES)
    before = await draft_bundle(app)
    assert before is not None and len(before["rules"]) == 6
    for i, rule in enumerate(before["rules"]):
        page = await editor.text(f"/admin/draft/rules/{i}")
        assert 'name="editor" value="builder"' in page and 'name="when"' not in page
        response = await post_pairs(editor, f"/admin/draft/rules/{i}", form_fields(page), force="1")
        assert response.status_code == 302, await response.get_data(as_text=True)
        after = await draft_bundle(app)
        assert after is not None
        assert json.dumps(after["rules"][i]) == json.dumps(rule), rule["id"]


async def test_operators_and_value_inputs_fit_the_question_type(editor: Browser) -> None:
    await put_rules(editor, LANGUAGE_RULES[:1])
    page = await editor.text("/admin/draft/rules/0")
    number = near(page, 'id="node-when-0"', 2000)  # budget between
    assert 'value="between" selected' in number and 'value="contains"' not in number
    assert 'name="when-0-low" value="10"' in number and 'name="when-0-high" value="29.5"' in number
    boolean = near(page, 'id="node-when-5"', 1500)
    assert 'value="&lt;"' not in boolean and '<option value="false" selected>no</option>' in boolean
    choice_list = near(page, 'id="node-when-6"', 2500)
    assert 'type="checkbox" name="when-6-values" value="heavy" checked' in choice_list
    assert 'type="checkbox" name="when-6-values" value="medium">' in choice_list
    multi = near(page, 'id="node-when-11"', 2000)
    assert ">contains all of<" in multi and 'value="between"' not in multi
    fact = near(page, 'id="node-when-13-0"', 1500)
    assert 'name="when-13-0-subject" value="segment" list="fact-keys"' in fact
    assert 'value="!="' not in fact  # facts are tested positively in a rule
    assert '<datalist id="fact-keys"><option value="segment">' in page
    plan = near(page, 'id="node-then-0"', 3000)
    assert '<option value="answer" selected>the answer to</option>' in plan
    assert '<option value="budget" selected>' in plan


async def test_buttons_add_and_remove_tests_without_javascript(app: Quart, editor: Browser) -> None:
    page = await editor.text("/admin/draft/rules/2")  # traveller: all [travel == true, not dataUsage]
    pairs = replace(form_fields(page), "name", "Renamed, not saved yet")
    response = await post_pairs(editor, "/admin/draft/rules/2", pairs, builder="add-answer:when")
    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    assert 'name="when-2-kind"' in page and "Renamed, not saved yet" in page
    assert await draft_bundle(app) is None  # structure buttons never save
    pairs = replace(form_fields(page), "when-2-subject", "budget")
    response = await post_pairs(editor, "/admin/draft/rules/2", pairs, builder="refresh")
    page = await response.get_data(as_text=True)
    assert 'value="between"' in near(page, 'id="node-when-2"')  # the new question's operators
    pairs = replace(replace(form_fields(page), "when-2-op", ">="), "when-2-value", "15")
    response = await post_pairs(editor, "/admin/draft/rules/2", pairs, builder="remove:when-0")
    page = await response.get_data(as_text=True)
    assert 'name="when-1-subject"' in page and 'name="when-2-kind"' not in page  # renumbered
    pairs = form_fields(page)
    response = await post_pairs(editor, "/admin/draft/rules/2", pairs, builder="add-effect-exclude:then")
    pairs = replace(form_fields(await response.get_data(as_text=True)), "then-2-because", "Too slow")
    pairs = replace(replace(pairs, "then-2-c-subject", "network"), "then-2-c-op", "==")
    response = await post_pairs(editor, "/admin/draft/rules/2", pairs, builder="refresh")
    pairs = replace(form_fields(await response.get_data(as_text=True)), "then-2-c-value", "4g")
    response = await post_pairs(editor, "/admin/draft/rules/2", pairs)
    assert response.status_code == 302, await response.get_data(as_text=True)
    draft = await draft_bundle(app)
    assert draft is not None
    rule = draft["rules"][2]
    assert rule["name"] == "Renamed, not saved yet"
    assert rule["when"] == {
        "all": [
            {"not": {"answer": "dataUsage", "op": "==", "value": "light"}},
            {"answer": "budget", "op": ">=", "value": 15},
        ]
    }
    assert rule["then"][2] == {
        "exclude": {"attribute": "network", "op": "==", "value": "4g"},
        "because": "Too slow",
    }


async def test_gaps_in_the_numbering_are_accepted(app: Quart, editor: Browser) -> None:
    """The script removes rows in the page without renumbering; the server reads them in order."""
    pairs = form_fields(await editor.text("/admin/draft/rules/2"))
    pairs = [(k, v) for k, v in pairs if not k.startswith("when-0-")]
    pairs = [(k.replace("when-1", "when-7"), v) for k, v in pairs]
    assert (await post_pairs(editor, "/admin/draft/rules/2", pairs)).status_code == 302
    draft = await draft_bundle(app)
    assert draft is not None
    assert draft["rules"][2]["when"] == {
        "all": [{"not": {"answer": "dataUsage", "op": "==", "value": "light"}}]
    }


async def test_validator_problems_are_shown_next_to_the_field_and_input_is_kept(
    app: Quart, editor: Browser
) -> None:
    pairs = form_fields(await editor.text("/admin/draft/rules/2"))
    pairs = replace(pairs, "then-1-because", "Roaming for {answers.travl}")
    pairs = replace(pairs, "when-1-0-value", "huge")  # not an option of dataUsage
    response = await post_pairs(editor, "/admin/draft/rules/2", pairs)
    assert response.status_code == 422
    page = await response.get_data(as_text=True)
    because = near(page, 'class="field because has-error"', 600)
    assert 'value="Roaming for {answers.travl}" aria-invalid="true"' in because
    assert "travl" in because and 'class="errors"' in because
    row = near(page, 'id="node-when-1-0"', 2500)
    assert 'name="when-1-0-value" aria-label="Value" aria-invalid="true"' in row
    assert "huge (not an option)" in row and "huge" in row[row.index('class="errors"') :]
    assert "Save anyway" in page and await draft_bundle(app) is None
    pairs = replace(replace(form_fields(page), "then-1-because", "Roaming"), "when-1-0-value", "light")
    assert (await post_pairs(editor, "/admin/draft/rules/2", pairs)).status_code == 302


async def test_unreadable_values_are_reported_before_validation(editor: Browser) -> None:
    await put_rules(editor, LANGUAGE_RULES[:1])
    pairs = replace(form_fields(await editor.text("/admin/draft/rules/0")), "when-4-value", "two")
    pairs = replace(pairs, "then-2-score", "")
    response = await post_pairs(editor, "/admin/draft/rules/0", pairs)
    assert response.status_code == 400
    page = await response.get_data(as_text=True)
    assert "“two” is not a number" in near(page, 'id="node-when-4"') and 'value="two"' in page
    assert "Enter a number" in near(page, 'id="node-then-2"')


async def test_switching_between_builder_and_json_view(app: Quart, editor: Browser) -> None:
    pairs = replace(form_fields(await editor.text("/admin/draft/rules/0")), "when-value", "medium")
    response = await post_pairs(editor, "/admin/draft/rules/0", pairs, builder="json")
    page = await response.get_data(as_text=True)
    assert response.status_code == 200 and 'name="editor" value="json"' in page
    fields = dict(form_fields(page))
    assert json.loads(fields["when"]) == {"answer": "dataUsage", "op": "==", "value": "medium"}
    assert json.loads(fields["then"])[0]["require"]["value"] == 20
    bad = replace(form_fields(page), "when", '{"answer": "budget", "op": "<=", "value": 30')
    response = await post_pairs(editor, "/admin/draft/rules/0", bad, builder="builder")
    assert response.status_code == 400 and "Not valid JSON" in await response.get_data(as_text=True)
    good = replace(form_fields(page), "when", '{"answer": "budget", "op": "<=", "value": 30}')
    response = await post_pairs(editor, "/admin/draft/rules/0", good, builder="builder")
    page = await response.get_data(as_text=True)
    assert 'name="editor" value="builder"' in page and 'name="when-value" value="30"' in page
    assert (await post_pairs(editor, "/admin/draft/rules/0", form_fields(page))).status_code == 302
    draft = await draft_bundle(app)
    assert draft is not None and draft["rules"][0]["when"]["value"] == 30
    json_page = await editor.text("/admin/draft/rules/0?view=json")
    assert '<textarea class="code" id="when"' in json_page or 'id="when"' in json_page


async def test_viewer_sees_the_builder_but_cannot_post_it(viewer: Browser) -> None:
    page = await viewer.text("/admin/draft/rules/0")
    assert 'name="when-kind"' in page and "Add an effect" not in page
    response = await post_pairs(viewer, "/admin/draft/rules/0", form_fields(page), builder="add-answer:when")
    assert response.status_code == 403


@pytest.mark.parametrize("action", ["", "add-answer:when"])
async def test_builder_posts_need_the_csrf_token(editor: Browser, action: str) -> None:
    pairs = [(k, v) for k, v in form_fields(await editor.text("/admin/draft/rules/0")) if k != "csrf_token"]
    pairs.append(("csrf_token", "forged"))
    extra = {"builder": action} if action else {}
    assert (await post_pairs(editor, "/admin/draft/rules/0", pairs, **extra)).status_code == 400


def test_read_ignores_unknown_fields_and_defaults() -> None:
    builder = read(
        MultiDict({"when-kind": "all", "when-3-kind": "fact", "when-3-subject": "segment", "x": "1"})
    )
    assert [c.prefix for c in builder.when.children] == ["when-0"] and builder.effects == []


async def test_new_rule_in_the_builder(app: Quart, editor: Browser) -> None:
    page = await editor.text("/admin/draft/rules/new")
    assert 'name="then-0-score" value="10"' in page and 'name="when-kind"' in page
    pairs = replace(replace(form_fields(page), "id", "travel-bonus"), "name", "Travel bonus")
    response = await post_pairs(editor, "/admin/draft/rules/new", pairs, builder="add-answer:when")
    pairs = replace(form_fields(await response.get_data(as_text=True)), "when-0-subject", "travel")
    response = await post_pairs(editor, "/admin/draft/rules/new", pairs, builder="refresh")
    pairs = replace(form_fields(await response.get_data(as_text=True)), "when-0-value", "true")
    response = await post_pairs(editor, "/admin/draft/rules/new", pairs)
    assert response.status_code == 302, await response.get_data(as_text=True)
    draft = await draft_bundle(app)
    assert draft is not None
    assert draft["rules"][-1] == {
        "id": "travel-bonus",
        "name": "Travel bonus",
        "when": {"all": [{"answer": "travel", "op": "==", "value": True}]},
        "then": [{"score": 10}],
    }


async def test_a_rule_the_builder_cannot_show_opens_in_the_json_view(editor: Browser) -> None:
    form = {
        "original": "heavy-data",
        "id": "heavy-data",
        "name": "Heavy",
        "enabled": "y",
        "when": '{"all": []}',
        "then": '{"score": 1}',
        "force": "1",
    }
    assert (await editor.post("/admin/draft/rules/0", form)).status_code == 302
    page = await editor.text("/admin/draft/rules/0")
    assert 'name="editor" value="json"' in page and "then: " not in page
    response = await post_pairs(editor, "/admin/draft/rules/0", form_fields(page), builder="builder")
    assert response.status_code == 400
    assert "The builder needs a list of effects" in await response.get_data(as_text=True)


async def test_switching_a_test_to_a_multi_question_offers_a_fitting_operator(editor: Browser) -> None:
    page = await editor.text("/admin/draft/rules/0")  # heavy-data: dataUsage is heavy
    fields = dict(form_fields(page))
    assert fields["when-op"] == "=="
    fields.update({"when-subject": "extras", "builder": "refresh"})
    response = await editor.post("/admin/draft/rules/0", fields)
    assert response.status_code == 200
    after = dict(form_fields(await response.get_data(as_text=True)))
    assert after["when-subject"] == "extras" and after["when-op"] == "contains"
