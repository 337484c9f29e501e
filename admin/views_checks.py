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
from .answer_fields import raw_values
from .blueprint import bp
from .diff import diff_bundles
from .estimates import Tools, show_value
from .jobs import Busy
from .roles import requires
from .scenarios import simulate
from .simulate import PREFIX, Side, distinct_reasons, live_side, read_answers
from .web import db, get_admin, settings, staff

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
        asked = request.args.get("explain", "").strip()[:64]
        if asked:  # "why not this plan?": the same explanation the service gives (explainPlan)
            for side in sides:
                await asyncio.to_thread(side.explain, asked)
    return await render_template(
        "admin/simulator.html",
        catalogue=form_catalogue,
        answers=answers,
        errors=errors,
        sides=sides,
        visible=visible,
        prefix=PREFIX,
        answers_json=json.dumps(answers, ensure_ascii=False),
        explain=request.args.get("explain", "")[:64],
        live_number=live_number,
        show_estimate=show_value,
        distinct_reasons=distinct_reasons,
        raw_values=raw_values,
        title="Simulator",
    )


class _Replay:
    """Top plan of each answer set under live and draft (after the enriched stage, estimates included).

    ``by_estimate`` counts the changed top plans the rules alone would not have changed: the
    estimate (its formula, inputs, or ranking by it) made the difference. One ``add`` per
    session, so that the replay runs as a background job in slices (admin/jobs.py).
    """

    def __init__(self, live: Catalogue, draft: Catalogue) -> None:
        self.live, self.draft = live, draft
        self.live_tools, self.draft_tools = Tools.of(live), Tools.of(draft)
        self.replayed = self.changed = self.by_estimate = 0
        self.examples: list[dict[str, Any]] = []

    def add(self, answers: dict[str, Any]) -> None:
        before = simulate(self.live, answers, tools=self.live_tools)
        after = simulate(self.draft, answers, tools=self.draft_tools)
        self.replayed += 1
        if before.top != after.top:
            self.changed += 1
            self.by_estimate += before.rules_top == after.rules_top
            if len(self.examples) < MAX_EXAMPLES:
                self.examples.append(
                    {"answers": answers, "before": before.ranked[:3], "after": after.ranked[:3]}
                )

    def result(self) -> dict[str, Any]:
        return {
            "replayed": self.replayed,
            "changed": self.changed,
            "by_estimate": self.by_estimate,
            "examples": self.examples,
        }


#: How long a request waits for its own replay before showing the progress page instead.
IMPACT_WAIT = 1.0


@bp.route("/impact")
@requires("viewer")
async def impact() -> ResponseReturnValue:
    """Replay the answers of the most recent sessions against the draft: who gets a new top plan.

    The replay is a background job (one per member of staff, progress shown); a small one is
    shown at once.
    """
    default = settings().impact_sessions
    limit = request.args.get("limit", default, type=int) or default
    limit = max(1, min(limit, 100_000))
    session = db()
    state = await drafts.current(session)
    _, live_bundle = await drafts.live_bundle(session)
    note = ""
    jobs, owner = get_admin().jobs, staff().email
    job = jobs.latest(owner, "impact")
    live, draft = _catalogue(live_bundle), _catalogue(state.bundle) if state.is_draft else None
    if not state.is_draft:
        note = "There is no draft: nothing would change."
    elif live is None:
        note = "Nothing is published yet: there is nothing to compare with."
    elif draft is None:
        note = "The draft has problems: fix them first."
    elif "run" in request.args and not (job is not None and job.running):
        rows = await recent_answers(session, limit)
        replay = _Replay(live, draft)
        try:
            job = jobs.start(owner, "impact", rows, replay.add, replay.result)
        except Busy as exc:
            page = await render_template(
                "admin/impact.html", limit=limit, job=job, note=str(exc), title="Impact preview"
            )
            return page, 429, {"Retry-After": "5"}
        if job.task is not None:
            await asyncio.wait({job.task}, timeout=IMPACT_WAIT)
    return await render_template("admin/impact.html", limit=limit, job=job, note=note, title="Impact preview")


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
