"""Rules of the draft: list, add, edit (condition builder or JSON view, checked by the validator), delete."""

from __future__ import annotations

from typing import Any

from quart import flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from . import drafts
from .blueprint import bp
from .builder_form import Errors, apply, dump, place_problems, read
from .builder_model import BUILDER_NAMES, Builder, Catalog, load
from .editing import Outcome, delete_item, parse_json_field, save_item, to_json_text
from .editing import load as load_item
from .forms_catalogue import RuleForm, rule_data, rule_fields, rule_item
from .roles import requires
from .web import maker


async def _render(
    form: RuleForm,
    state: drafts.DraftState,
    index: int | None,
    outcome: Outcome | None = None,
    builder: Builder | None = None,
    berrors: Errors | None = None,
) -> str:
    return await render_template(
        "admin/rule.html",
        form=form,
        state=state,
        index=index,
        problems=outcome.problems if outcome else {},
        outcome=outcome,
        builder=builder,
        berrs=berrors or {},
        catalog=Catalog.of(state.bundle),
        title=f"Rule {form.id.data}" if index is not None else "New rule",
        **BUILDER_NAMES,
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
        blank = {"when": {"all": []}, "then": [{"score": 10}]}
        return await _show(blank, state, None)
    return await _post(state, None)


@bp.route("/draft/rules/<int:index>", methods=["GET", "POST"])
@requires("viewer", write="editor")
async def rule_edit(index: int) -> ResponseReturnValue:
    state, item = await load_item("rules", index)
    if request.method == "GET":
        return await _show(item, state, index)
    return await _post(state, index)


async def _show(item: dict[str, Any], state: drafts.DraftState, index: int | None) -> str:
    """The rule in the builder (or, with ``?view=json`` or when the builder cannot show it, as JSON)."""
    builder = None
    if request.args.get("view") != "json":
        builder = load(item.get("when"), item.get("then"), Catalog.of(state.bundle))
    return await _render(RuleForm(data=rule_data(item)), state, index, builder=builder)


async def _post(state: drafts.DraftState, index: int | None) -> ResponseReturnValue:
    data = await request.form
    form = RuleForm(data)
    catalog = Catalog.of(state.bundle)
    action = str(data.get("builder", ""))
    # The JSON view posts `when`/`then` text; the builder posts its own fields (editor=builder).
    if data.get("editor", "json" if "when" in data or "then" in data else "builder") != "builder":
        if action == "builder":
            return await _to_builder(form, state, index, catalog)
        form_ok = form.validate()  # before rule_item: validate() resets the fields' errors
        item = rule_item(form)
        if not form_ok or item is None:
            return await _render(form, state, index), 400
        return await _save(form, state, index, item, None)
    builder = read(data)
    if action and action != "json":
        apply(builder, action, catalog)
        return await _render(form, state, index, builder=builder)
    when, then, errors = dump(builder, catalog)
    if action == "json" and not errors:
        form.when.data, form.then.data = to_json_text(when), to_json_text(then)
        return await _render(form, state, index)
    if not form.validate() or errors:
        return await _render(form, state, index, builder=builder, berrors=errors), 400
    return await _save(form, state, index, {**rule_fields(form), "when": when, "then": then}, builder)


async def _to_builder(
    form: RuleForm, state: drafts.DraftState, index: int | None, catalog: Catalog
) -> ResponseReturnValue:
    """Switch from the JSON view to the builder (the JSON must at least parse)."""
    parsed: dict[str, Any] = {}
    for name in ("when", "then"):
        field = getattr(form, name)
        errors: list[str] = []
        parsed[name] = parse_json_field(field.data, errors)
        field.errors = errors
    builder = None if form.when.errors or form.then.errors else load(parsed["when"], parsed["then"], catalog)
    if builder is None:
        if not form.then.errors:
            form.then.errors = ["The builder needs a list of effects here; fix it in JSON first"]
        return await _render(form, state, index), 400
    return await _render(form, state, index, builder=builder)


async def _save(
    form: RuleForm, state: drafts.DraftState, index: int | None, item: dict[str, Any], builder: Builder | None
) -> ResponseReturnValue:
    outcome = await save_item("rules", index, form.original.data or "", item, "force" in await request.form)
    if not outcome.saved:
        berrors = place_problems(builder, outcome.details) if builder is not None else None
        page = await _render(form, state, index, outcome, builder, berrors)
        return page, 409 if outcome.conflict else 422
    note = f" The draft has {outcome.total_problems} problem(s)." if outcome.total_problems else ""
    await flash(f"Rule {item['id']} saved.{note}")
    return redirect(url_for("admin.rule_edit", index=outcome.index))


@bp.route("/draft/rules/<int:index>/delete", methods=["GET", "POST"])
@requires("editor")
async def rule_delete(index: int) -> ResponseReturnValue:
    state, item = await load_item("rules", index)
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
