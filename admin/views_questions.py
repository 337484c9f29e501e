"""Questions of the draft: list, reorder, add, edit (five types, options add/remove/reorder), delete."""

from __future__ import annotations

from typing import Any

from quart import flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from . import drafts
from .blueprint import bp
from .editing import Outcome, delete_item, load, move_item, save_item
from .forms_catalogue import QuestionForm, question_data, question_item
from .roles import requires
from .web import maker


async def _render(
    form: QuestionForm, state: drafts.DraftState, index: int | None, outcome: Outcome | None = None
) -> str:
    return await render_template(
        "admin/question.html",
        form=form,
        state=state,
        index=index,
        problems=outcome.problems if outcome else {},
        outcome=outcome,
        title=f"Question {form.id.data}" if index is not None else "New question",
    )


@bp.route("/draft/questions")
@requires("viewer")
async def questions() -> ResponseReturnValue:
    async with maker()() as db:
        state = await drafts.current(db)
    items = state.items("questions")
    return await render_template("admin/questions.html", state=state, items=items, title="Questions")


@bp.route("/draft/questions/<int:index>/move", methods=["POST"])
@requires("editor")
async def question_move(index: int) -> ResponseReturnValue:
    form = await request.form
    delta = -1 if form.get("direction") == "up" else 1
    outcome = await move_item("questions", index, form.get("original", ""), delta)
    if outcome.conflict:
        await flash(outcome.conflict)
    return redirect(url_for("admin.questions"))


@bp.route("/draft/questions/new", methods=["GET", "POST"])
@requires("editor")
async def question_new() -> ResponseReturnValue:
    async with maker()() as db:
        state = await drafts.current(db)
    if request.method == "GET":
        blank = {"type": "choice", "options": [{"value": "", "label": ""}] * 2}
        return await _render(QuestionForm(data=question_data(blank)), state, None)
    return await _save(QuestionForm(await request.form), state, None)


@bp.route("/draft/questions/<int:index>", methods=["GET", "POST"])
@requires("viewer", write="editor")
async def question_edit(index: int) -> ResponseReturnValue:
    state, item = await load("questions", index)
    if request.method == "GET":
        return await _render(QuestionForm(data=question_data(item)), state, index)
    return await _save(QuestionForm(await request.form), state, index)


def _option_rows(form: QuestionForm) -> list[dict[str, Any]]:
    return [
        {"value": e.form.value.data or "", "label": e.form.label.data or "", "help": e.form.help.data or ""}
        for e in form.options.entries
    ]


def _edit_options(form: QuestionForm, command: str) -> QuestionForm | None:
    """Apply an option button (add, remove:N, up:N, down:N) to the form, unsaved; None if not one."""
    rows = _option_rows(form)
    verb, _, arg = command.partition(":")
    if verb == "add":
        rows.append({"value": "", "label": "", "help": ""})
    elif verb in ("remove", "up", "down") and arg.isdigit() and int(arg) < len(rows):
        i = int(arg)
        if verb == "remove":
            rows.pop(i)
        elif verb == "up" and i > 0:
            rows[i - 1], rows[i] = rows[i], rows[i - 1]
        elif verb == "down" and i + 1 < len(rows):
            rows[i + 1], rows[i] = rows[i], rows[i + 1]
    else:
        return None
    data = {name: field.data for name, field in form._fields.items() if name != "options"}
    data["options"] = rows
    return QuestionForm(data=data)


async def _save(form: QuestionForm, state: drafts.DraftState, index: int | None) -> ResponseReturnValue:
    posted = await request.form
    command = posted.get("option", "")
    if command:
        edited = _edit_options(form, command)
        if edited is not None:
            return await _render(edited, state, index)
    form_ok = form.validate()
    item = question_item(form)
    if not form_ok or item is None:
        return await _render(form, state, index), 400
    outcome = await save_item("questions", index, form.original.data or "", item, "force" in posted)
    if not outcome.saved:
        return await _render(form, state, index, outcome), 409 if outcome.conflict else 422
    note = f" The draft has {outcome.total_problems} problem(s)." if outcome.total_problems else ""
    await flash(f"Question {item['id']} saved.{note}")
    return redirect(url_for("admin.question_edit", index=outcome.index))


@bp.route("/draft/questions/<int:index>/delete", methods=["GET", "POST"])
@requires("editor")
async def question_delete(index: int) -> ResponseReturnValue:
    state, item = await load("questions", index)
    key = drafts.item_key(item, "questions")
    if request.method == "GET":
        return await render_template(
            "admin/confirm.html",
            title=f"Delete question {key}?",
            message="Rules that test this question will show problems until they are changed.",
            action=url_for("admin.question_delete", index=index),
            hidden={"original": key},
            button="Delete the question",
            cancel=url_for("admin.question_edit", index=index),
        )
    outcome = await delete_item("questions", index, (await request.form).get("original", ""))
    await flash(outcome.conflict or f"Question {key} deleted.")
    return redirect(url_for("admin.questions"))
