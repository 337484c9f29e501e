"""Admin home, the draft overview with its problems, discarding the draft, exporting it."""

from __future__ import annotations

import json

from quart import Response, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from . import audit, drafts
from .analysis import idle_rules, warnings
from .blueprint import bp
from .fired import never_fired
from .links import problem_link
from .roles import requires
from .web import db, log, settings, transaction


@bp.route("/")
@requires("viewer")
async def home() -> ResponseReturnValue:
    session = db()
    state = await drafts.current(session)
    problems = drafts.problems_of(state.bundle) if state.is_draft else []
    counts = {s: len(state.items(s)) for s in drafts.SECTIONS}
    return await render_template(
        "admin/home.html", state=state, counts=counts, problem_count=len(problems), title="Home"
    )


@bp.route("/draft")
@requires("viewer")
async def draft() -> ResponseReturnValue:
    session = db()
    state = await drafts.current(session)
    problems = [problem_link(p, state.bundle) for p in drafts.problems_of(state.bundle)]
    counts = {s: len(state.items(s)) for s in drafts.SECTIONS}
    window = idle = None
    if request.args.get("fired"):  # live rules that fired in no answer of the last N days
        live_number, live_bundle = await drafts.live_bundle(session)
        config = settings()
        window = await never_fired(
            session, live_number, live_bundle, config.never_fired_days, config.event_retention_days
        )
        idle = idle_rules(state.bundle, window)
    return await render_template(
        "admin/draft.html",
        state=state,
        problems=problems,
        counts=counts,
        rule_warnings=warnings(state.bundle),
        idle=idle,
        window=window,
        days=settings().never_fired_days,
        title="Draft",
    )


@bp.route("/draft/discard", methods=["GET", "POST"])
@requires("editor")
async def draft_discard() -> ResponseReturnValue:
    """Throw the draft away (after a confirmation page); the live version is untouched."""
    if request.method == "GET":
        return await render_template(
            "admin/confirm.html",
            title="Discard the draft?",
            message="Every unpublished change in the draft is lost. The live version stays as it is.",
            lost=await audit.draft_authors(db()),
            action=url_for("admin.draft_discard"),
            button="Discard the draft",
            cancel=url_for("admin.draft"),
        )
    async with transaction() as session:
        state = await drafts.current(session)
        if state.is_draft:
            await drafts.discard(session)
            await log(session, "draft_discard", "draft", "Discarded the draft", before=state.bundle)
    await flash("The draft was discarded.")
    return redirect(url_for("admin.draft"))


@bp.route("/draft/export")
@requires("viewer")
async def draft_export() -> ResponseReturnValue:
    session = db()
    state = await drafts.current(session)
    body = json.dumps(state.bundle, indent=2, ensure_ascii=False) + "\n"
    name = "draft.json" if state.is_draft else f"version-{state.live_version}.json"
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
