"""The attribute schema and the catalogue's name, description and ranking."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from quart import flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from . import drafts
from .blueprint import bp
from .editing import Outcome, delete_item, load, parse_json_field, save_bundle, save_item, to_json_text
from .forms_catalogue import AttributeForm, SettingsForm, attribute_data, attribute_item
from .roles import requires
from .web import log, maker


async def _render(
    form: AttributeForm, state: drafts.DraftState, index: int | None, outcome: Outcome | None = None
) -> str:
    return await render_template(
        "admin/attribute.html",
        form=form,
        state=state,
        index=index,
        problems=outcome.problems if outcome else {},
        outcome=outcome,
        title=f"Attribute {form.key.data}" if index is not None else "New attribute",
    )


@bp.route("/draft/attributes")
@requires("viewer")
async def attributes() -> ResponseReturnValue:
    async with maker()() as db:
        state = await drafts.current(db)
    items = state.items("attributes")
    return await render_template("admin/attributes.html", state=state, items=items, title="Attributes")


@bp.route("/draft/attributes/new", methods=["GET", "POST"])
@requires("editor")
async def attribute_new() -> ResponseReturnValue:
    async with maker()() as db:
        state = await drafts.current(db)
    if request.method == "GET":
        return await _render(AttributeForm(data={"type": "number"}), state, None)
    return await _save_attribute(AttributeForm(await request.form), state, None)


@bp.route("/draft/attributes/<int:index>", methods=["GET", "POST"])
@requires("viewer", write="editor")
async def attribute_edit(index: int) -> ResponseReturnValue:
    state, item = await load("attributes", index)
    if request.method == "GET":
        return await _render(AttributeForm(data=attribute_data(item)), state, index)
    return await _save_attribute(AttributeForm(await request.form), state, index)


def _rename(old: str, new: str) -> Callable[[dict[str, Any]], None]:
    """Renaming an attribute renames it in every plan too (rules are left to the validator)."""

    def apply(bundle: dict[str, Any]) -> None:
        for plan in bundle.get("plans") or []:
            values = plan.get("attributes") if isinstance(plan, dict) else None
            if isinstance(values, dict) and old in values and new not in values:
                values[new] = values.pop(old)

    return apply


async def _save_attribute(
    form: AttributeForm, state: drafts.DraftState, index: int | None
) -> ResponseReturnValue:
    if not form.validate():
        return await _render(form, state, index), 400
    item = attribute_item(form)
    original = form.original.data or ""
    also = (
        _rename(original, item["key"]) if index is not None and original and original != item["key"] else None
    )
    outcome = await save_item("attributes", index, original, item, "force" in await request.form, also)
    if not outcome.saved:
        return await _render(form, state, index, outcome), 409 if outcome.conflict else 422
    note = f" The draft has {outcome.total_problems} problem(s)." if outcome.total_problems else ""
    await flash(f"Attribute {item['key']} saved.{note}")
    return redirect(url_for("admin.attribute_edit", index=outcome.index))


@bp.route("/draft/attributes/<int:index>/delete", methods=["GET", "POST"])
@requires("editor")
async def attribute_delete(index: int) -> ResponseReturnValue:
    state, item = await load("attributes", index)
    key = drafts.item_key(item, "attributes")
    if request.method == "GET":
        return await render_template(
            "admin/confirm.html",
            title=f"Delete attribute {key}?",
            message="Plans keep their values for it, and they show as problems until removed or re-declared.",
            action=url_for("admin.attribute_delete", index=index),
            hidden={"original": key},
            button="Delete the attribute",
            cancel=url_for("admin.attribute_edit", index=index),
        )
    outcome = await delete_item("attributes", index, (await request.form).get("original", ""))
    await flash(outcome.conflict or f"Attribute {key} deleted.")
    return redirect(url_for("admin.attributes"))


@bp.route("/draft/settings", methods=["GET", "POST"])
@requires("viewer", write="editor")
async def catalogue_settings() -> ResponseReturnValue:
    """The catalogue's name, description and ranking."""
    async with maker()() as db:
        state = await drafts.current(db)
    bundle = state.bundle
    problems: dict[str, list[str]] = {}
    if request.method == "GET":
        form = SettingsForm(
            data={
                "name": bundle.get("name", ""),
                "description": bundle.get("description", ""),
                "ranking": to_json_text(bundle.get("ranking")),
            }
        )
    else:
        form = SettingsForm(await request.form)
        errors: list[str] = []
        ranking = parse_json_field(form.ranking.data, errors, required=False)
        form_ok = form.validate()
        form.ranking.errors = [*form.ranking.errors, *errors]
        if form_ok and not errors:
            async with maker()() as db, db.begin():
                state = await drafts.current(db)
                new = copy.deepcopy(state.bundle)
                new["name"] = (form.name.data or "").strip()
                new.pop("description", None)
                if (form.description.data or "").strip():
                    new["description"] = form.description.data.strip()
                new.pop("ranking", None)
                if ranking is not None:
                    new["ranking"] = ranking
                found = [
                    p
                    for p in drafts.problems_of(new)
                    if drafts.split_path(p.path)[1] is None
                    and drafts.split_path(p.path)[0] not in ("estimate", "display")  # their own page
                ]
                for p in found:
                    problems.setdefault(drafts.split_path(p.path)[0], []).append(p.message)
                if not problems or "force" in await request.form:
                    before = {k: state.bundle.get(k) for k in ("name", "description", "ranking")}
                    after = {k: new.get(k) for k in ("name", "description", "ranking")}
                    await save_bundle(db, state, new)
                    await log(
                        db, "draft_change", "catalogue", "Changed name/description/ranking", before, after
                    )
                    await flash("Catalogue settings saved.")
                    return redirect(url_for("admin.catalogue_settings"))
    status = 200 if request.method == "GET" else (422 if problems else 400)
    return await render_template(
        "admin/settings.html", form=form, state=state, problems=problems, title="Name & ranking"
    ), status
