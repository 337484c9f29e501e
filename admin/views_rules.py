"""Rules of the draft: list, add, edit (fields + JSON for when/then, checked by the validator), delete."""

from __future__ import annotations

from quart import flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from . import drafts
from .blueprint import bp
from .editing import Outcome, delete_item, load, save_item
from .forms_catalogue import RuleForm, rule_data, rule_item
from .roles import requires
from .web import maker


async def _render(
    form: RuleForm, state: drafts.DraftState, index: int | None, outcome: Outcome | None = None
) -> str:
    return await render_template(
        "admin/rule.html",
        form=form,
        state=state,
        index=index,
        problems=outcome.problems if outcome else {},
        outcome=outcome,
        title=f"Rule {form.id.data}" if index is not None else "New rule",
    )


@bp.route("/draft/rules")
@requires("viewer")
async def rules() -> ResponseReturnValue:
    async with maker()() as db:
        state = await drafts.current(db)
    problems = drafts.problems_of(state.bundle)
    bad = {i for p in problems for s, i, _ in [drafts.split_path(p.path)] if s == "rules"}
    return await render_template(
        "admin/rules.html", state=state, items=state.items("rules"), bad=bad, title="Rules"
    )


@bp.route("/draft/rules/new", methods=["GET", "POST"])
@requires("editor")
async def rule_new() -> ResponseReturnValue:
    async with maker()() as db:
        state = await drafts.current(db)
    if request.method == "GET":
        blank = {"when": {"all": []}, "then": [{"score": 10, "because": ""}]}
        return await _render(RuleForm(data=rule_data(blank)), state, None)
    return await _save(RuleForm(await request.form), state, None)


@bp.route("/draft/rules/<int:index>", methods=["GET", "POST"])
@requires("viewer", write="editor")
async def rule_edit(index: int) -> ResponseReturnValue:
    state, item = await load("rules", index)
    if request.method == "GET":
        return await _render(RuleForm(data=rule_data(item)), state, index)
    return await _save(RuleForm(await request.form), state, index)


async def _save(form: RuleForm, state: drafts.DraftState, index: int | None) -> ResponseReturnValue:
    form_ok = form.validate()
    item = rule_item(form)
    if not form_ok or item is None:
        return await _render(form, state, index), 400
    outcome = await save_item("rules", index, form.original.data or "", item, "force" in await request.form)
    if not outcome.saved:
        return await _render(form, state, index, outcome), 409 if outcome.conflict else 422
    note = f" The draft has {outcome.total_problems} problem(s)." if outcome.total_problems else ""
    await flash(f"Rule {item['id']} saved.{note}")
    return redirect(url_for("admin.rule_edit", index=outcome.index))


@bp.route("/draft/rules/<int:index>/delete", methods=["GET", "POST"])
@requires("editor")
async def rule_delete(index: int) -> ResponseReturnValue:
    state, item = await load("rules", index)
    key = drafts.item_key(item, "rules")
    if request.method == "GET":
        return await render_template(
            "admin/confirm.html",
            title=f"Delete rule {key}?",
            message="The rule is removed from the draft. It stays in published versions.",
            action=url_for("admin.rule_delete", index=index),
            hidden={"original": key},
            button="Delete the rule",
            cancel=url_for("admin.rule_edit", index=index),
        )
    outcome = await delete_item("rules", index, (await request.form).get("original", ""))
    await flash(outcome.conflict or f"Rule {key} deleted.")
    return redirect(url_for("admin.rules"))
