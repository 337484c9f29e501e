"""Attributes, plans and questions of the draft: the generic item views (admin/crud.py) per kind."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from quart import flash, redirect, request, url_for
from quart.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from rules.errors import CatalogueInvalid
from rules.validator import load_catalogue
from rules.visibility import question_dependencies

from . import ask_builder, drafts
from .blueprint import bp
from .crud import Item, ItemKind, ItemView, register
from .editing import Outcome, move_item, reorder
from .forms_catalogue import (
    AttributeForm,
    PlanBase,
    QuestionForm,
    attribute_data,
    attribute_item,
    plan_data,
    plan_form_class,
    plan_item,
    question_data,
    question_item,
)
from .forms_values import known_values
from .roles import requires
from .web import actor, transaction


class AttributeView(ItemView):
    """Key, type, label, unit, description, enum options; renaming a key renames it in every plan."""

    kind = ItemKind(
        section="attributes",
        name="attribute",
        label="Attribute",
        plural="Attributes",
        add_label="Add an attribute",
        delete_message=(
            "Plans keep their values for it, and they show as problems until removed or re-declared."
        ),
        help="The attributes every plan can have (price, data, roaming…). Rules compare plans on them.",
    )

    def form(self, state: drafts.DraftState, formdata: Any = None, data: Item | None = None) -> AttributeForm:
        return AttributeForm(formdata, data=data)

    def blank(self, state: drafts.DraftState) -> Item:
        return {"type": "number"}

    def data(self, item: Item, state: drafts.DraftState) -> Item:
        return attribute_data(item)

    def item(self, form: AttributeForm, state: drafts.DraftState, old: Item | None) -> Item | None:
        return attribute_item(form)

    def also(self, form: AttributeForm, index: int | None, item: Item) -> Callable[[Item], None] | None:
        original = form.original.data or ""
        if index is None or not original or original == item["key"]:
            return None
        new = item["key"]

        def rename(bundle: Item) -> None:  # rules are left to the validator
            for plan in bundle.get("plans") or []:
                values = plan.get("attributes") if isinstance(plan, dict) else None
                if isinstance(values, dict) and original in values and new not in values:
                    values[new] = values.pop(original)

        return rename


class PlanView(ItemView):
    """One typed input per declared attribute, and the active flag."""

    kind = ItemKind(
        section="plans",
        name="plan",
        label="Plan",
        plural="Plans",
        add_label="Add a plan",
        delete_message="The plan is removed from the draft. It stays in published versions.",
    )

    def form(self, state: drafts.DraftState, formdata: Any = None, data: Item | None = None) -> PlanBase:
        return plan_form_class(state.items("attributes"), self.known(state))(formdata, data=data)

    def known(self, state: drafts.DraftState) -> dict[str, list[str]]:
        """The values each set attribute already has in the catalogue."""
        return {
            a["key"]: known_values(state.bundle, a["key"])
            for a in state.items("attributes")
            if isinstance(a, dict) and a.get("type") == "set" and isinstance(a.get("key"), str)
        }

    def blank(self, state: drafts.DraftState) -> Item:
        return {"active": True}

    def data(self, item: Item, state: drafts.DraftState) -> Item:
        return plan_data(item, state.items("attributes"))

    def item(self, form: PlanBase, state: drafts.DraftState, old: Item | None) -> Item | None:
        return plan_item(form, state.items("attributes"), old, self.known(state))

    def context(self, form: Any, state: drafts.DraftState, outcome: Outcome | None, **extra: Any) -> Item:
        """Problems of ``attributes.KEY`` go to the attribute's own input ``attr_KEY``."""
        attributes = [
            a for a in state.items("attributes") if isinstance(a, dict) and isinstance(a.get("key"), str)
        ]
        plain: list[tuple[str, str]] = []
        problems: dict[str, list[str]] = {}
        for rest, message in outcome.details if outcome else []:
            if rest.startswith("attributes."):
                problems.setdefault("attr_" + rest.split(".")[1], []).append(message)
            else:
                plain.append((rest, message))
        for field, messages in drafts.by_field(plain).items():
            problems.setdefault(field, []).extend(messages)
        return {"attributes": attributes, "problems": problems, **extra}


class QuestionView(ItemView):
    """Five types; options with add/remove/reorder buttons that change the form only."""

    kind = ItemKind(
        section="questions",
        name="question",
        label="Question",
        plural="Questions",
        add_label="Add a question",
        delete_message="Rules that test this question will show problems until they are changed.",
        help="People are asked the questions in this order. Drag a row (or use ↑ ↓) to move it.",
        scripts=("admin.js", "admin-builder.js"),
        form_attributes="data-builder",
    )

    def list_context(self, state: drafts.DraftState) -> Item:
        return {"order_warnings": order_warnings(state.bundle)}

    def context(self, form: Any, state: drafts.DraftState, outcome: Outcome | None, **extra: Any) -> Item:
        mine = [w for w in order_warnings(state.bundle) if w[0] == form.id.data]
        builder = extra.pop("builder", None)
        if builder is None and request.args.get("view") != "json" and not form.askWhen.errors:
            builder = ask_builder.of(_parse(form.askWhen.data), state.bundle)
        berrors = extra.pop("berrors", None)
        if berrors is None and builder is not None and outcome is not None:
            berrors = ask_builder.problems(builder, outcome.details)
        found = super().context(form, state, outcome, **extra)
        return {**found, "order_warnings": mine, **ask_builder.context(builder, state.bundle, berrors)}

    def form(self, state: drafts.DraftState, formdata: Any = None, data: Item | None = None) -> QuestionForm:
        return QuestionForm(formdata, data=data)

    def blank(self, state: drafts.DraftState) -> Item:
        return question_data({"type": "choice", "options": [{"value": "", "label": ""}] * 2})

    def data(self, item: Item, state: drafts.DraftState) -> Item:
        return question_data(item)

    def item(self, form: QuestionForm, state: drafts.DraftState, old: Item | None) -> Item | None:
        return question_item(form)

    async def submit(
        self, posted: MultiDict[str, Any], state: drafts.DraftState, index: int | None, old: Item | None
    ) -> ResponseReturnValue:
        builder, action = ask_builder.posted(posted, state.bundle)
        if builder is not None:  # the visual "ask only when": write its JSON into the form's field
            text, errors = ask_builder.as_text(builder, state.bundle)
            posted = posted.copy()
            posted["askWhen"] = text
            form = QuestionForm(posted)
            if action:  # a builder button: show the changed builder, nothing is checked or saved
                return await self.render(form, state, index, builder=builder, berrors={})
            if errors:
                return await self.render(form, state, index, builder=builder, berrors=errors), 400
        command = posted.get("option", "")
        if command:
            edited = _edit_options(QuestionForm(posted), command)
            if edited is not None:
                return await self.render(edited, state, index, builder=builder)
        return await super().submit(posted, state, index, old)


def _parse(text: str | None) -> Any:
    try:
        return json.loads(text) if text and text.strip() else None
    except json.JSONDecodeError:
        return None


def _edit_options(form: QuestionForm, command: str) -> QuestionForm | None:
    """Apply an option button (add, remove:N, up:N, down:N) to the form, unsaved; None if not one."""
    rows = [
        {"value": e.form.value.data or "", "label": e.form.label.data or "", "help": e.form.help.data or ""}
        for e in form.options.entries
    ]
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


for _view in (AttributeView(), PlanView(), QuestionView()):
    register(_view)


def order_warnings(bundle: Item) -> list[tuple[str, str, str]]:
    """(question, the later question it depends on, message) for questions asked too early."""
    try:
        catalogue = load_catalogue(bundle)
    except CatalogueInvalid:
        return []
    position = {q.id: i for i, q in enumerate(catalogue.questions)}
    out = []
    for qid, deps in question_dependencies(catalogue).items():
        for dep in sorted(deps, key=lambda d: position.get(d, 0)):
            if position.get(dep, -1) > position[qid]:
                message = (
                    f"Question {qid} comes before {dep}, but whether {qid} is asked depends on the answer "
                    f"to {dep}: move {qid} after {dep}."
                )
                out.append((qid, dep, message))
    return out


@bp.route("/draft/questions/order", methods=["POST"])
@requires("editor")
async def question_order() -> ResponseReturnValue:
    """Put the questions in a new order (the list's drag and drop); refused if the order changed meanwhile."""
    form = await request.form
    order = [k for k in str(form.get("order", "")).split(",") if k]
    seen = [k for k in str(form.get("seen", "")).split(",") if k]
    async with transaction() as session:
        outcome = await reorder(session, actor(), "questions", order, seen)
    await flash(outcome.conflict or "The new order is saved.")
    return redirect(url_for("admin.questions"))


@bp.route("/draft/questions/<int:index>/move", methods=["POST"])
@requires("editor")
async def question_move(index: int) -> ResponseReturnValue:
    """Move a question up or down (the questionnaire order)."""
    form = await request.form
    delta = -1 if form.get("direction") == "up" else 1
    async with transaction() as session:
        outcome = await move_item(session, actor(), "questions", index, form.get("original", ""), delta)
    if outcome.conflict:
        await flash(outcome.conflict)
    return redirect(url_for("admin.questions"))
