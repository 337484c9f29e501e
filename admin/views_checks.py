"""Checks before publishing: the simulator (draft vs live), the impact preview, the diff with live."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from quart import render_template, request
from quart.typing import ResponseReturnValue

from rules.errors import CatalogueInvalid
from rules.model import Catalogue
from rules.validator import load_catalogue
from service.control import recent_answers

from . import drafts
from .blueprint import bp
from .diff import diff_bundles
from .estimates import Tools, show_value
from .roles import requires
from .scenarios import simulate
from .simulate import PREFIX, Side, live_side, read_answers
from .web import db, settings

MAX_EXAMPLES = 20


def _catalogue(bundle: dict[str, Any] | None) -> Catalogue | None:
    if bundle is None:
        return None
    try:
        return load_catalogue(bundle)
    except CatalogueInvalid:
        return None


@bp.route("/simulator")
@requires("viewer")
async def simulator() -> ResponseReturnValue:
    """Answer the questionnaire as a person would; see the draft's and the live version's results."""
    session = db()
    state = await drafts.current(session)
    live_number, live_bundle = await drafts.live_bundle(session)
    draft_catalogue = _catalogue(state.bundle) if state.is_draft else None
    live_catalogue = _catalogue(live_bundle)
    form_catalogue = draft_catalogue or live_catalogue
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    sides: list[Side] = []
    visible: set[str] | None = None
    if form_catalogue is not None:
        answers, errors = read_answers(form_catalogue, request.args)
        if state.is_draft:
            if draft_catalogue is None:
                sides.append(Side("Draft", None, None, "The draft has problems: fix them to simulate it."))
            else:
                sim = await asyncio.to_thread(simulate, draft_catalogue, answers)
                sides.append(Side("Draft", sim, draft_catalogue))
                visible = set(sim.evaluation.visible)
        sides.append(await live_side(answers))
        if visible is None and sides[-1].simulation is not None:
            visible = set(sides[-1].simulation.evaluation.visible)
    return await render_template(
        "admin/simulator.html",
        catalogue=form_catalogue,
        answers=answers,
        errors=errors,
        sides=sides,
        visible=visible,
        prefix=PREFIX,
        answers_json=json.dumps(answers, ensure_ascii=False),
        live_number=live_number,
        show_estimate=show_value,
        title="Simulator",
    )


def _replay(rows: list[dict[str, Any]], live: Catalogue, draft: Catalogue) -> dict[str, Any]:
    """Top plan of each answer set under live and draft (after the enriched stage, estimates included).

    ``by_estimate`` counts the changed top plans the rules alone would not have changed: the
    estimate (its formula, inputs, or ranking by it) made the difference.
    """
    changed = by_estimate = 0
    examples: list[dict[str, Any]] = []
    live_tools, draft_tools = Tools.of(live), Tools.of(draft)
    for answers in rows:
        before = simulate(live, answers, tools=live_tools)
        after = simulate(draft, answers, tools=draft_tools)
        if before.top != after.top:
            changed += 1
            by_estimate += before.rules_top == after.rules_top
            if len(examples) < MAX_EXAMPLES:
                examples.append({"answers": answers, "before": before.ranked[:3], "after": after.ranked[:3]})
    return {"replayed": len(rows), "changed": changed, "by_estimate": by_estimate, "examples": examples}


@bp.route("/impact")
@requires("viewer")
async def impact() -> ResponseReturnValue:
    """Replay the answers of the most recent sessions against the draft: who gets a new top plan."""
    default = settings().impact_sessions
    limit = request.args.get("limit", default, type=int) or default
    limit = max(1, min(limit, 100_000))
    session = db()
    state = await drafts.current(session)
    _, live_bundle = await drafts.live_bundle(session)
    result: dict[str, Any] | None = None
    note = ""
    live, draft = _catalogue(live_bundle), _catalogue(state.bundle) if state.is_draft else None
    if not state.is_draft:
        note = "There is no draft: nothing would change."
    elif live is None:
        note = "Nothing is published yet: there is nothing to compare with."
    elif draft is None:
        note = "The draft has problems: fix them first."
    elif "run" in request.args:
        rows = await recent_answers(session, limit)
        result = await asyncio.to_thread(_replay, rows, live, draft)
    return await render_template(
        "admin/impact.html", limit=limit, result=result, note=note, title="Impact preview"
    )


@bp.route("/diff")
@requires("viewer")
async def diff() -> ResponseReturnValue:
    session = db()
    state = await drafts.current(session)
    live_number, live_bundle = await drafts.live_bundle(session)
    result = diff_bundles(live_bundle, state.bundle)
    return await render_template(
        "admin/diff.html", diff=result, state=state, live_number=live_number, title="Draft vs live"
    )
