"""One generic view for the draft's items (attributes, plans, questions, rules): list, new, edit, delete.

Each kind is an :class:`ItemView` subclass holding a typed :class:`ItemKind` (section, labels,
texts) and overriding only what differs: the form, how an item becomes form data and back, extra
template context, and (questions, rules) buttons that change the form without saving. Every kind
shares the skeleton: the draft banner, the form's original id that refuses a lost edit (409), the
validator's problems next to the fields (422) with "Save anyway", the audit entry, and a
confirmation page before a delete. Pages: ``templates/admin/items.html`` and ``item.html``, with
``_<name>_list.html`` and ``_<name>_fields.html`` per kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from quart import abort, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict
from wtforms import Form

from . import audit, drafts, problems
from .blueprint import bp
from .editing import Outcome, delete_breaks, delete_item, load, save_item
from .roles import requires
from .web import actor, db, transaction

Item = dict[str, Any]


@dataclass(frozen=True)
class ItemKind:
    """What the generic view needs to know about one section of the bundle."""

    section: str  # the bundle's list ("plans"); its URL is /admin/draft/<section>
    name: str  # endpoints admin.<section>, admin.<name>_new, admin.<name>_edit, admin.<name>_delete
    label: str  # "Plan"
    plural: str  # "Plans"
    add_label: str  # "Add a plan"
    delete_message: str  # shown on the delete confirmation page
    help: str = ""  # under the list's heading
    scripts: tuple[str, ...] = ()  # static scripts of the item page
    form_attributes: str = ""  # extra attributes of the item page's <form>

    @property
    def key(self) -> str:
        """The item's id field ("key" for attributes)."""
        return drafts.KEY_OF[self.section]


class ItemView:
    """The list, new, edit and delete views of one kind; subclasses fill in the form handling."""

    kind: ItemKind

    def form(self, state: drafts.DraftState, formdata: Any = None, data: Item | None = None) -> Form:
        """The kind's form, from a POST (``formdata``) or from values (``data``)."""
        raise NotImplementedError

    def blank(self, state: drafts.DraftState) -> Item:
        """Form data of a new item."""
        return {}

    def data(self, item: Item, state: drafts.DraftState) -> Item:
        """Form data of an item of the draft."""
        raise NotImplementedError

    def item(self, form: Any, state: drafts.DraftState, old: Item | None) -> Item | None:
        """The item a validated form describes; None when the input cannot be read."""
        raise NotImplementedError

    def also(self, form: Any, index: int | None, item: Item) -> Callable[[Item], None] | None:
        """A change to the rest of the bundle made with this item's save (e.g. a rename)."""
        return None

    def context(self, form: Any, state: drafts.DraftState, outcome: Outcome | None, **extra: Any) -> Item:
        """Template variables of the item page; by default its problems by field."""
        return {"problems": outcome.problems if outcome else {}, **extra}

    def list_context(self, state: drafts.DraftState) -> Item:
        return {}

    async def render(
        self,
        form: Any,
        state: drafts.DraftState,
        index: int | None,
        outcome: Outcome | None = None,
        base: Item | None = None,
        **extra: Any,
    ) -> str:
        """The item page; ``base`` is the item the form started from (else the posted one is kept)."""
        key = getattr(form, self.kind.key).data
        if base is not None:
            base_json = problems.canonical(base)
        else:
            base_json = (await request.form).get("base", "") if request.method == "POST" else ""
        return await render_template(
            "admin/item.html",
            kind=self.kind,
            form=form,
            state=state,
            index=index,
            outcome=outcome,
            base_json=base_json,
            title=f"{self.kind.label} {key}" if index is not None else f"New {self.kind.label.lower()}",
            **self.context(form, state, outcome, **extra),
        )

    async def page(
        self,
        state: drafts.DraftState,
        index: int | None,
        item: Item,
        outcome: Outcome | None = None,
        **extra: Any,
    ) -> str:
        """The item page showing ``item`` (a draft item, or one merged after a conflict)."""
        form = self.form(state, data=self.data(item, state))
        return await self.render(form, state, index, outcome, **extra)

    async def show(
        self, state: drafts.DraftState, index: int | None, item: Item | None
    ) -> ResponseReturnValue:
        """GET of the item page (``item`` None: a new item) with the problems the item has now."""
        if item is None or index is None:
            return await self.render(self.form(state, data=self.blank(state)), state, index)
        return await self.page(state, index, item, standing(state, self.kind.section, index), base=item)

    async def submit(
        self, posted: MultiDict[str, Any], state: drafts.DraftState, index: int | None, old: Item | None
    ) -> ResponseReturnValue:
        """POST of the item page: read the form, then save it."""
        form = self.form(state, posted)
        form_ok = form.validate()  # before item(): validate() resets the fields' errors
        item = self.item(form, state, old)
        if not form_ok or item is None:
            return await self.render(form, state, index), 400
        return await self.save(form, state, index, item)

    async def save(
        self, form: Any, state: drafts.DraftState, index: int | None, item: Item, **extra: Any
    ) -> ResponseReturnValue:
        """Save the item unless it has problems (422) or someone else changed it (409); then redirect."""
        posted = await request.form
        force = "force" in posted
        original = form.original.data or ""
        base = problems.parse_base(posted.get("base", ""))
        if "merge" in posted and index is not None and base is not None:
            return await self.merged(state, index, base, item)
        async with transaction() as session:
            also = self.also(form, index, item)
            after = request.args.get("after", type=int)  # "insert after" item N (new items only)
            at = after + 1 if index is None and after is not None else None
            outcome = await save_item(
                session, actor(), self.kind.section, index, original, item, force, also, base, at
            )
            if outcome.current is not None:
                key = drafts.item_key(outcome.current, self.kind.section)
                entry = await audit.latest(session, f"{self.kind.section}/{key}")
                extra["changed_by"] = entry
        if not outcome.saved:
            page = await self.render(form, state, index, outcome, **extra)
            return page, 409 if outcome.conflict else 422
        note = f" The draft has {outcome.total_problems} problem(s)." if outcome.total_problems else ""
        await flash(f"{self.kind.label} {item[self.kind.key]} saved.{note}")
        return redirect(url_for(f"admin.{self.kind.name}_edit", index=outcome.index))

    async def merged(
        self, state: drafts.DraftState, index: int, base: Item, mine: Item
    ) -> ResponseReturnValue:
        """Apply my changes on top: the draft's item now with the person's changes, in the form, unsaved."""
        items = state.items(self.kind.section)
        if index >= len(items) or not isinstance(items[index], dict):
            abort(404)
        current = items[index]
        item, changes = problems.merge(base, current, mine)
        both = [c.field for c in changes if c.changed_by == "both"]
        note = "Your changes are applied on top of the current version below; nothing is saved yet."
        if both:
            note += " Fields you both changed take your value: " + ", ".join(both) + "."
        await flash(note)
        return await self.page(state, index, item, base=current)

    # The routes.

    async def listing(self) -> ResponseReturnValue:
        state = await drafts.current(db())
        return await render_template(
            "admin/items.html",
            kind=self.kind,
            state=state,
            items=state.items(self.kind.section),
            title=self.kind.plural,
            **self.list_context(state),
        )

    async def new(self) -> ResponseReturnValue:
        state = await drafts.current(db())
        if request.method == "GET":
            return await self.show(state, None, None)
        return await self.submit(await request.form, state, None, None)

    async def edit(self, index: int) -> ResponseReturnValue:
        state, item = await self._load(index)
        if request.method == "GET":
            return await self.show(state, index, item)
        return await self.submit(await request.form, state, index, item)

    async def delete(self, index: int) -> ResponseReturnValue:
        _, item = await self._load(index)
        label, key = self.kind.label, drafts.item_key(item, self.kind.section)
        if request.method == "GET":
            state = await drafts.current(db())
            return await render_template(
                "admin/confirm.html",
                title=f"Delete {label.lower()} {key}?",
                message=self.kind.delete_message,
                breaks=delete_breaks(state.bundle, self.kind.section, index),
                action=url_for(f"admin.{self.kind.name}_delete", index=index),
                hidden={"original": key, "version": problems.version(item)},
                button=f"Delete the {label.lower()}",
                cancel=url_for(f"admin.{self.kind.name}_edit", index=index),
            )
        posted = await request.form
        original, seen = posted.get("original", ""), posted.get("version", "")
        async with transaction() as session:
            outcome = await delete_item(session, actor(), self.kind.section, index, original, seen)
        await flash(outcome.conflict or f"{label} {key} deleted.")
        return redirect(url_for(f"admin.{self.kind.section}"))

    async def _load(self, index: int) -> tuple[drafts.DraftState, Item]:
        state, item = await load(db(), self.kind.section, index)
        if item is None:
            abort(404)
        return state, item


def standing(state: drafts.DraftState, section: str, index: int) -> Outcome:
    """The problems an item of the draft has now (shown on its page; they do not block other saves)."""
    details = drafts.item_details(drafts.problems_of(state.bundle), section, index)
    return Outcome(True, index, drafts.by_field(details), details)


def register(view: ItemView) -> None:
    """Add the kind's four routes to the blueprint, each marked with its roles."""
    kind = view.kind
    url = f"/draft/{kind.section}"

    async def listing() -> ResponseReturnValue:
        return await view.listing()

    async def new() -> ResponseReturnValue:
        return await view.new()

    async def edit(index: int) -> ResponseReturnValue:
        return await view.edit(index)

    async def delete(index: int) -> ResponseReturnValue:
        return await view.delete(index)

    both = ["GET", "POST"]
    bp.add_url_rule(url, kind.section, requires("viewer")(listing))
    bp.add_url_rule(f"{url}/new", f"{kind.name}_new", requires("editor")(new), methods=both)
    bp.add_url_rule(
        f"{url}/<int:index>", f"{kind.name}_edit", requires("viewer", write="editor")(edit), methods=both
    )
    bp.add_url_rule(
        f"{url}/<int:index>/delete", f"{kind.name}_delete", requires("editor")(delete), methods=both
    )
