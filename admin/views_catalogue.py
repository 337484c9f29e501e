"""The catalogue's name, description and ranking."""

from __future__ import annotations

import copy

from quart import flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from . import drafts
from .blueprint import bp
from .editing import parse_json_field, save_bundle, to_json_text
from .forms_catalogue import SettingsForm
from .roles import requires
from .web import actor, db, log, transaction


@bp.route("/draft/settings", methods=["GET", "POST"])
@requires("viewer", write="editor")
async def catalogue_settings() -> ResponseReturnValue:
    """The catalogue's name, description and ranking."""
    session = db()
    state = await drafts.current(session)
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
            saved = False
            async with transaction():
                state = await drafts.current(session)
                new = copy.deepcopy(state.bundle)
                new["name"] = (form.name.data or "").strip()
                new.pop("description", None)
                if (form.description.data or "").strip():
                    new["description"] = form.description.data.strip()
                new.pop("ranking", None)
                if ranking is not None:
                    new["ranking"] = ranking
                for p in drafts.problems_of(new):
                    section, index, _ = drafts.split_path(p.path)
                    if index is None and section not in ("estimate", "display"):  # those have their own page
                        problems.setdefault(section, []).append(p.message)
                if not problems or "force" in await request.form:
                    before = {k: state.bundle.get(k) for k in ("name", "description", "ranking")}
                    after = {k: new.get(k) for k in ("name", "description", "ranking")}
                    await save_bundle(session, actor(), state, new)
                    await log(
                        session,
                        "draft_change",
                        "catalogue",
                        "Changed name/description/ranking",
                        before,
                        after,
                    )
                    saved = True
            if saved:
                await flash("Catalogue settings saved.")
                return redirect(url_for("admin.catalogue_settings"))
    status = 200 if request.method == "GET" else (422 if problems else 400)
    return await render_template(
        "admin/settings.html", form=form, state=state, problems=problems, title="Name & ranking"
    ), status
