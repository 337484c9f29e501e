"""The "Estimate and display" page: inputs, formula (live validation), preview, headline; save and remove."""

from __future__ import annotations

import copy
from typing import Any

from quart import flash, jsonify, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from rules.errors import CatalogueInvalid
from rules.reference import ReferenceEvaluator
from rules.validator import load_catalogue

from . import drafts
from .blueprint import bp
from .editing import CONFLICT, save_bundle
from .estimates import PreviewRow, preview
from .forms_estimate import (
    EstimateForm,
    Read,
    fingerprint,
    form_data,
    input_questions,
    options_of,
    place,
    position,
    prepare,
    read,
    with_candidate,
)
from .roles import requires
from .simulate import PREFIX, read_answers
from .web import actor, db, log, transaction

ACTIONS = ("save", "add", "update", "preview")


def _preview(
    bundle: dict[str, Any], samples: MultiDict[str, str]
) -> tuple[list[PreviewRow], str, dict[str, str], set[str] | None]:
    """Preview rows, a note, sample answer errors and the questions asked with the sample answers."""
    if not isinstance(bundle.get("estimate"), dict):
        return [], "Define an estimate to see a preview.", {}, None
    try:
        catalogue = load_catalogue(bundle)
    except CatalogueInvalid:
        return [], "The preview needs an estimate (and a draft) without problems.", {}, None
    answers, errors = read_answers(catalogue, samples)
    visible = frozenset(ReferenceEvaluator(catalogue).evaluate(answers).visible)
    rows, note = preview(catalogue, answers, visible)
    return rows, note, errors, set(visible)


async def _render(
    form: EstimateForm,
    state: drafts.DraftState,
    candidate: dict[str, Any],
    samples: MultiDict[str, str],
    problems: dict[str, list[str]] | None = None,
    conflict: str = "",
    status: int = 200,
) -> ResponseReturnValue:
    prepare(form, state.bundle)
    rows, note, sample_errors, visible = _preview(candidate, samples)
    questions = {q["id"]: q for q in input_questions(state.bundle)}
    used = [e.form.answer.data for e in form.inputs.entries if e.form.answer.data in questions]
    sample_questions = [questions[qid] for qid in dict.fromkeys(used)]
    formula_problems = (problems or {}).get("formula", [])
    mark = next((p for p in map(position, formula_problems) if p is not None), None)
    page = await render_template(
        "admin/estimate.html",
        form=form,
        state=state,
        problems=problems or {},
        conflict=conflict,
        questions=questions,
        options_of=options_of,
        mark=mark,
        preview_rows=rows,
        preview_note=note,
        sample_questions=sample_questions,
        sample_errors=sample_errors,
        samples=samples,
        visible=visible,
        prefix=PREFIX,
        has_estimate=isinstance(state.bundle.get("estimate"), dict),
        title="Estimate and display",
    )
    return page, status


@bp.route("/draft/estimate", methods=["GET", "POST"])
@requires("viewer", write="editor")
async def estimate_page() -> ResponseReturnValue:
    session = db()
    state = await drafts.current(session)
    if request.method == "GET":
        form = EstimateForm(data=form_data(state.bundle))
        return await _render(form, state, state.bundle, request.args)
    formdata = await request.form
    form = EstimateForm(formdata)
    prepare(form, state.bundle)
    action = formdata.get("action", "save")
    if action == "add":
        form.inputs.append_entry()
    elif action.startswith("remove-"):
        form.inputs.entries = [e for e in form.inputs.entries if e.name != action[len("remove-") :]]
    ok = form.validate()
    candidate = read(form, state.bundle)
    bundle = with_candidate(state.bundle, candidate)
    problems = place(drafts.problems_of(bundle), candidate, state.bundle)
    if action != "save":
        shown = {**problems, **candidate.errors} if action in ("update", "preview") else {}
        return await _render(form, state, bundle, formdata, shown)
    if not ok or candidate.errors:
        errors = {**candidate.errors, **{k: list(v) for k, v in form.errors.items() if isinstance(v, list)}}
        return await _render(form, state, bundle, formdata, errors, status=400)
    if (form.original.data or "") != fingerprint(state.bundle):
        return await _render(form, state, bundle, formdata, problems, CONFLICT, status=409)
    if problems and "force" not in formdata:
        return await _render(form, state, bundle, formdata, problems, status=422)
    await _save(bundle)
    count = len(drafts.problems_of(bundle))
    note = f" The draft has {count} problem(s)." if count else ""
    await flash(f"Estimate and display saved.{note}")
    return redirect(url_for("admin.estimate_page"))


async def _save(candidate: dict[str, Any]) -> None:
    async with transaction() as session:
        state = await drafts.current(session)
        new = copy.deepcopy(state.bundle)
        for key in ("estimate", "display"):
            new.pop(key, None)
            if key in candidate:
                new[key] = copy.deepcopy(candidate[key])
        before = {k: state.bundle.get(k) for k in ("estimate", "display")}
        after = {k: new.get(k) for k in ("estimate", "display")}
        await save_bundle(session, actor(), state, new)
        await log(session, "draft_change", "estimate", "Changed the estimate and display", before, after)


@bp.route("/draft/estimate/check", methods=["POST"])
@requires("editor")
async def estimate_check() -> ResponseReturnValue:
    """Live validation: the validator's problems of ``estimate.*`` for the form as it is now (JSON)."""
    session = db()
    state = await drafts.current(session)
    form = EstimateForm(await request.form)
    prepare(form, state.bundle)
    candidate: Read = read(form, state.bundle)
    bundle = with_candidate(state.bundle, candidate)
    found = []
    for p in drafts.problems_of(bundle):
        if p.path == "estimate" or p.path.startswith(("estimate.", "estimate[")):
            where = place([p], candidate, state.bundle)
            found.append(
                {
                    "path": p.path,
                    "field": next(iter(where), ""),
                    "message": p.message,
                    "position": position(p.message),
                }
            )
    for name, messages in candidate.errors.items():
        found += [{"path": "", "field": name, "message": m, "position": None} for m in messages]
    return jsonify({"problems": found})


@bp.route("/draft/estimate/remove", methods=["GET", "POST"])
@requires("editor")
async def estimate_remove() -> ResponseReturnValue:
    if request.method == "GET":
        return await render_template(
            "admin/confirm.html",
            title="Remove the estimate?",
            message="People no longer see an estimate for any plan, and ranking by it is ignored. "
            "The headline attributes stay.",
            action=url_for("admin.estimate_remove"),
            button="Remove the estimate",
            cancel=url_for("admin.estimate_page"),
        )
    async with transaction() as session:
        state = await drafts.current(session)
        if "estimate" in state.bundle:
            new = copy.deepcopy(state.bundle)
            before = new.pop("estimate")
            await save_bundle(session, actor(), state, new)
            await log(session, "draft_change", "estimate", "Removed the estimate", before, None)
    await flash("The estimate was removed from the draft.")
    return redirect(url_for("admin.estimate_page"))
