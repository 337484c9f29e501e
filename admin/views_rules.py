"""Rules of the draft: the generic item views with the condition builder or a JSON view per rule."""

from __future__ import annotations

from typing import Any

from quart import request
from quart.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from . import drafts
from .analysis import warnings
from .builder_form import apply, dump, place_problems, read
from .builder_model import BUILDER_NAMES, Builder, Catalog, load
from .crud import Item, ItemKind, ItemView, register
from .editing import Outcome, parse_json_field, to_json_text
from .forms_catalogue import RuleForm, rule_data, rule_fields, rule_item


class RuleView(ItemView):
    """Id, name, description, priority, enabled; ``when``/``then`` in the builder or as JSON."""

    kind = ItemKind(
        section="rules",
        name="rule",
        label="Rule",
        plural="Rules",
        add_label="Add a rule",
        delete_message="The rule is removed from the draft. It stays in published versions.",
        scripts=("admin-builder.js",),
        form_attributes="data-builder",
    )

    def form(self, state: drafts.DraftState, formdata: Any = None, data: Item | None = None) -> RuleForm:
        return RuleForm(formdata, data=data)

    def blank(self, state: drafts.DraftState) -> Item:
        return {"when": {"all": []}, "then": [{"score": 10}]}

    def data(self, item: Item, state: drafts.DraftState) -> Item:
        return item  # show() turns the rule into the builder or the JSON view

    def item(self, form: RuleForm, state: drafts.DraftState, old: Item | None) -> Item | None:
        return rule_item(form)

    def context(self, form: Any, state: drafts.DraftState, outcome: Outcome | None, **extra: Any) -> Item:
        builder: Builder | None = extra.get("builder")
        berrors = extra.get("berrors")
        if berrors is None and outcome is not None and builder is not None:
            berrors = place_problems(builder, outcome.details)  # the validator's problems, on the builder
        return {
            "problems": outcome.problems if outcome else {},
            "builder": builder,
            "berrs": berrors or {},
            "catalog": Catalog.of(state.bundle),
            "changed_by": extra.get("changed_by"),
            "rule_warnings": warnings(state.bundle, form.id.data) if form.id.data else [],
            **BUILDER_NAMES,
        }

    def list_context(self, state: drafts.DraftState) -> Item:
        problems = drafts.problems_of(state.bundle)
        from .views_table import rows

        bad = {i for p in problems for s, i, _ in [drafts.split_path(p.path)] if s == "rules"}
        return {"bad": bad, "table": {r.index: r for r in rows(state.bundle)}}

    async def page(
        self,
        state: drafts.DraftState,
        index: int | None,
        item: Item,
        outcome: Outcome | None = None,
        **extra: Any,
    ) -> str:
        """The rule in the builder (or, with ``?view=json`` or when the builder cannot show it, as JSON)."""
        builder = None
        if request.args.get("view") != "json":
            builder = load(item.get("when"), item.get("then"), Catalog.of(state.bundle))
        form = RuleForm(data=rule_data(item))
        return await self.render(form, state, index, outcome, builder=builder, **extra)

    async def show(
        self, state: drafts.DraftState, index: int | None, item: Item | None
    ) -> ResponseReturnValue:
        if item is None:
            return await self.page(state, None, self.blank(state))
        return await super().show(state, index, item)

    async def submit(
        self, posted: MultiDict[str, Any], state: drafts.DraftState, index: int | None, old: Item | None
    ) -> ResponseReturnValue:
        form = RuleForm(posted)
        catalog = Catalog.of(state.bundle)
        action = str(posted.get("builder", ""))
        # The JSON view posts `when`/`then` text; the builder posts its own fields (editor=builder).
        if posted.get("editor", "json" if "when" in posted or "then" in posted else "builder") != "builder":
            if action == "builder":
                return await self._to_builder(form, state, index, catalog)
            return await super().submit(posted, state, index, old)
        builder = read(posted)
        if action and action != "json":
            apply(builder, action, catalog)
            return await self.render(form, state, index, builder=builder)
        when, then, errors = dump(builder, catalog)
        if action == "json" and not errors:
            form.when.data, form.then.data = to_json_text(when), to_json_text(then)
            return await self.render(form, state, index)
        if not form.validate() or errors:
            return await self.render(form, state, index, builder=builder, berrors=errors), 400
        item = {**rule_fields(form), "when": when, "then": then}
        return await self.save(form, state, index, item, builder=builder)

    async def _to_builder(
        self, form: RuleForm, state: drafts.DraftState, index: int | None, catalog: Catalog
    ) -> ResponseReturnValue:
        """Switch from the JSON view to the builder (the JSON must at least parse)."""
        parsed: dict[str, Any] = {}
        for name in ("when", "then"):
            field = getattr(form, name)
            errors: list[str] = []
            parsed[name] = parse_json_field(field.data, errors)
            field.errors = errors
        builder = (
            None if form.when.errors or form.then.errors else load(parsed["when"], parsed["then"], catalog)
        )
        if builder is None:
            if not form.then.errors:
                form.then.errors = ["The builder needs a list of effects here; fix it in JSON first"]
            return await self.render(form, state, index), 400
        return await self.render(form, state, index, builder=builder)


register(RuleView())

# The decision table's routes (admin/__init__.py imports this module; views_table adds its own routes).
from . import views_table  # noqa: E402, F401
