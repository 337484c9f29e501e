"""Test scenarios: saved answers with expectations, run against the draft (publish needs all to pass)."""

from __future__ import annotations

from typing import Any

from quart import abort, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue
from wtforms import (
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from rules.errors import CatalogueInvalid
from rules.model import Catalogue
from rules.validator import load_catalogue
from service.db.models import utcnow

from . import answer_fields, drafts, scenario_answers, scenarios
from .blueprint import bp
from .editing import parse_json_field
from .forms_catalogue import parse_number, show_number
from .models import Scenario
from .roles import requires
from .scenario_answers import AnswerRow
from .web import db, log, staff, transaction

BLANK_ROWS = 2


class ExpectationForm(Form):
    kind = SelectField("Expectation", choices=[SelectChoice(k, v) for k, v in scenarios.KINDS.items()])
    plan = StringField("Plan id", [Optional(), Length(max=64)])
    n = IntegerField("N (top N only)", [Optional(), NumberRange(min=1, max=1000)])
    low = StringField("A (estimate from, inclusive)", [Optional(), Length(max=40)])
    high = StringField("B (estimate to, inclusive)", [Optional(), Length(max=40)])


class ScenarioForm(Form):
    name = StringField("Name", [InputRequired(), Length(max=200)])
    expectations = FieldList(FormField(ExpectationForm), min_entries=0)


BLANK_EXPECTATION = {"kind": "shown", "plan": "", "n": None}


def _form_data(row: Scenario | None) -> dict[str, Any]:
    expectations = (
        [dict(e) if isinstance(e, dict) else e for e in row.expectations] if row is not None else []
    )
    for e in expectations:
        if isinstance(e, dict) and e.get("kind") == "estimate_between":
            e.update(low=show_number(e.get("min")), high=show_number(e.get("max")))
    return {
        "name": row.name if row is not None else "",
        "expectations": expectations + [BLANK_EXPECTATION] * BLANK_ROWS,
    }


def _bounds(entry: ExpectationForm, item: dict[str, Any]) -> None:
    """``min`` and ``max`` of an estimate range (inclusive); errors go next to the inputs."""
    values = [parse_number(f.data or "") if (f.data or "").strip() else None for f in (entry.low, entry.high)]
    if values[0] is None or values[1] is None:
        entry.high.errors = [*entry.high.errors, "Give both bounds (A and B) as numbers"]
    elif values[0] > values[1]:
        entry.high.errors = [*entry.high.errors, "B must not be below A"]
    item["min"], item["max"] = values


def _expectations(form: ScenarioForm, plan_ids: set[str]) -> list[dict[str, Any]]:
    """The expectations with a plan; a plan the draft does not have is refused next to its row."""
    expectations: list[dict[str, Any]] = []
    for entry in form.expectations.entries:
        plan = (entry.form.plan.data or "").strip()
        if not plan:
            continue
        if plan not in plan_ids:
            entry.form.plan.errors = [
                *entry.form.plan.errors,
                f"There is no plan with the id “{plan}” in the draft: pick one from the list",
            ]
        item: dict[str, Any] = {"kind": entry.form.kind.data, "plan": plan}
        if entry.form.kind.data == "in_top":
            if entry.form.n.data is None:
                entry.form.n.errors = [*entry.form.n.errors, "Say how many top plans (N)"]
            item["n"] = entry.form.n.data
        elif entry.form.kind.data == "estimate_between":
            _bounds(entry.form, item)
        expectations.append(item)
    return expectations


@bp.route("/scenarios")
@requires("viewer")
async def scenarios_page() -> ResponseReturnValue:
    session = db()
    state = await drafts.current(session)
    rows = await scenarios.all_scenarios(session)
    try:
        catalogue = load_catalogue(state.bundle)
    except CatalogueInvalid:
        catalogue = None
    results = [scenarios.run(r, catalogue) for r in rows] if catalogue is not None else []
    return await render_template(
        "admin/scenarios.html",
        rows=rows,
        results=results,
        state=state,
        catalogue=catalogue,
        describe=scenarios.describe,
        title="Test scenarios",
    )


def _plans(state: drafts.DraftState) -> list[tuple[str, str]]:
    """(id, name) of the draft's plans: the expectations pick from them."""
    return [
        (str(p["id"]), str(p.get("name") or p["id"]))
        for p in state.items("plans")
        if isinstance(p, dict) and isinstance(p.get("id"), str)
    ]


async def _questionnaire(state: drafts.DraftState) -> Catalogue | None:
    """The catalogue whose questions the answer rows offer: the draft's, else the live version's."""
    for bundle in (state.bundle, (await drafts.live_bundle(db()))[1]):
        try:
            return load_catalogue(bundle) if bundle is not None else None
        except CatalogueInvalid:
            continue
    return None


@bp.route("/scenarios/new", methods=["GET", "POST"])
@requires("editor")
async def scenario_new() -> ResponseReturnValue:
    return await _edit(None)


@bp.route("/scenarios/<int:scenario_id>", methods=["GET", "POST"])
@requires("viewer", write="editor")
async def scenario_edit(scenario_id: int) -> ResponseReturnValue:
    return await _edit(scenario_id)


async def _page(
    form: ScenarioForm,
    rows: list[AnswerRow],
    row: Scenario | None,
    state: drafts.DraftState,
    catalogue: Catalogue | None,
) -> str:
    return await render_template(
        "admin/scenario.html",
        form=form,
        rows=rows,
        row=row,
        plans=_plans(state),
        catalogue=catalogue,
        questions=catalogue.question_by_id if catalogue is not None else {},
        accepts=answer_fields.accepts,
        title="Scenario",
    )


async def _edit(scenario_id: int | None) -> ResponseReturnValue:
    row: Scenario | None = None
    session = db()
    if scenario_id is not None:
        row = await session.get(Scenario, scenario_id)
        if row is None:
            abort(404)
    state = await drafts.current(session)
    catalogue = await _questionnaire(state)
    if request.method == "GET":
        stored = (
            row.answers
            if row is not None
            else parse_json_field(request.args.get("answers"), [], required=False)
        )
        prefill: dict[str, Any] = stored if isinstance(stored, dict) else {}
        rows = [*scenario_answers.from_answers(prefill, catalogue), AnswerRow()]
        return await _page(ScenarioForm(data=_form_data(row)), rows, row, state, catalogue)
    posted = await request.form
    form = ScenarioForm(posted)
    rows = scenario_answers.read_rows(posted)
    action = posted.get("rows", "")
    if action:  # a button that changes the form only: nothing is checked or saved
        rows = scenario_answers.apply(rows, action)
        scenario_answers.refresh(rows)
        if action == "add-expectation":
            form.expectations.append_entry(BLANK_EXPECTATION)
        return await _page(form, rows, row, state, catalogue)
    ok = form.validate()
    answers = scenario_answers.read(rows, catalogue) if catalogue is not None else None
    expectations = _expectations(form, {pid for pid, _ in _plans(state)})
    bad_rows = any(
        e.form.plan.errors or e.form.n.errors or e.form.high.errors for e in form.expectations.entries
    )
    if not ok or answers is None or bad_rows:
        return await _page(form, rows, row, state, catalogue), 400
    async with transaction() as session:
        before = None
        target = await session.get(Scenario, scenario_id) if scenario_id is not None else None
        if target is None:
            target = Scenario(name="", answers={}, expectations=[])
            session.add(target)
        else:
            before = {"name": target.name, "answers": target.answers, "expectations": target.expectations}
        target.name = (form.name.data or "").strip()
        target.answers, target.expectations = answers, expectations
        target.updated_by, target.updated_at = staff().email, utcnow()
        await session.flush()
        after = {"name": target.name, "answers": answers, "expectations": expectations}
        await log(
            session,
            "scenario_change",
            f"scenario/{target.id}",
            f"Saved scenario '{target.name}'",
            before,
            after,
        )
    await flash(f"Scenario '{target.name}' saved.")
    return redirect(url_for("admin.scenarios_page"))


@bp.route("/scenarios/<int:scenario_id>/delete", methods=["GET", "POST"])
@requires("editor")
async def scenario_delete(scenario_id: int) -> ResponseReturnValue:
    session = db()
    row = await session.get(Scenario, scenario_id)
    if row is None:
        abort(404)
    if request.method == "GET":
        return await render_template(
            "admin/confirm.html",
            title=f"Delete scenario '{row.name}'?",
            message="The scenario will no longer be checked before publishing.",
            action=url_for("admin.scenario_delete", scenario_id=scenario_id),
            button="Delete the scenario",
            cancel=url_for("admin.scenario_edit", scenario_id=scenario_id),
        )
    async with transaction() as session:
        target = await session.get(Scenario, scenario_id)
        if target is not None:
            before = {"name": target.name, "answers": target.answers, "expectations": target.expectations}
            await session.delete(target)
            await log(
                session,
                "scenario_change",
                f"scenario/{scenario_id}",
                f"Deleted scenario '{row.name}'",
                before,
            )
    await flash(f"Scenario '{row.name}' deleted.")
    return redirect(url_for("admin.scenarios_page"))
