"""Plans of the draft: list, add, edit (typed input per attribute, active flag), delete."""

from __future__ import annotations

from typing import Any

from quart import flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from . import drafts
from .blueprint import bp
from .editing import Outcome, delete_item, load, save_item
from .forms_catalogue import PlanBase, plan_data, plan_form_class, plan_item
from .roles import requires
from .web import maker


def _attribute_problems(details: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Problems by field, those of ``attributes.KEY`` on the attribute's own input ``attr_KEY``."""
    plain: list[tuple[str, str]] = []
    out: dict[str, list[str]] = {}
    for rest, message in details:
        if rest.startswith("attributes."):
            out.setdefault("attr_" + rest.split(".")[1], []).append(message)
        else:
            plain.append((rest, message))
    for field, messages in drafts.by_field(plain).items():
        out.setdefault(field, []).extend(messages)
    return out


async def _render(
    form: PlanBase, state: drafts.DraftState, index: int | None, outcome: Outcome | None = None
) -> str:
    attributes = [
        a for a in state.items("attributes") if isinstance(a, dict) and isinstance(a.get("key"), str)
    ]
    problems = _attribute_problems(outcome.details if outcome else [])
    return await render_template(
        "admin/plan.html",
        form=form,
        state=state,
        index=index,
        attributes=attributes,
        problems=problems,
        outcome=outcome,
        title=f"Plan {form.id.data}" if index is not None else "New plan",
    )


@bp.route("/draft/plans")
@requires("viewer")
async def plans() -> ResponseReturnValue:
    async with maker()() as db:
        state = await drafts.current(db)
    return await render_template("admin/plans.html", state=state, items=state.items("plans"), title="Plans")


@bp.route("/draft/plans/new", methods=["GET", "POST"])
@requires("editor")
async def plan_new() -> ResponseReturnValue:
    async with maker()() as db:
        state = await drafts.current(db)
    attributes = state.items("attributes")
    form_class = plan_form_class(attributes)
    if request.method == "GET":
        return await _render(form_class(data={"active": True}), state, None)
    return await _save(form_class(await request.form), state, None, None)


@bp.route("/draft/plans/<int:index>", methods=["GET", "POST"])
@requires("viewer", write="editor")
async def plan_edit(index: int) -> ResponseReturnValue:
    state, item = await load("plans", index)
    form_class = plan_form_class(state.items("attributes"))
    if request.method == "GET":
        return await _render(form_class(data=plan_data(item, state.items("attributes"))), state, index)
    return await _save(form_class(await request.form), state, index, item)


async def _save(
    form: PlanBase, state: drafts.DraftState, index: int | None, old: dict[str, Any] | None
) -> ResponseReturnValue:
    form_ok = form.validate()
    item = plan_item(form, state.items("attributes"), old)
    if not form_ok or item is None:
        return await _render(form, state, index), 400
    outcome = await save_item("plans", index, form.original.data or "", item, "force" in await request.form)
    if not outcome.saved:
        return await _render(form, state, index, outcome), 409 if outcome.conflict else 422
    await flash(f"Plan {item['id']} saved." + _problem_note(outcome))
    return redirect(url_for("admin.plan_edit", index=outcome.index))


def _problem_note(outcome: Outcome) -> str:
    if outcome.total_problems:
        return f" The draft has {outcome.total_problems} problem(s) to fix before publishing."
    return ""


@bp.route("/draft/plans/<int:index>/delete", methods=["GET", "POST"])
@requires("editor")
async def plan_delete(index: int) -> ResponseReturnValue:
    state, item = await load("plans", index)
    key = drafts.item_key(item, "plans")
    if request.method == "GET":
        return await render_template(
            "admin/confirm.html",
            title=f"Delete plan {key}?",
            message="The plan is removed from the draft. It stays in published versions.",
            action=url_for("admin.plan_delete", index=index),
            hidden={"original": key},
            button="Delete the plan",
            cancel=url_for("admin.plan_edit", index=index),
        )
    outcome = await delete_item("plans", index, (await request.form).get("original", ""))
    await flash(outcome.conflict or f"Plan {key} deleted.")
    return redirect(url_for("admin.plans"))
