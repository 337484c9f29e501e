"""Publishing, version history, rollback, and bundle import/export."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

from quart import Response, abort, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from rules.errors import CatalogueInvalid
from rules.validator import load_catalogue, validate_bundle
from service.catalogues import get_version, list_versions
from service.catalogues import publish as publish_version

from . import audit, drafts, scenarios
from .analysis import warnings as rule_warnings
from .blueprint import bp
from .diff import diff_bundles
from .forms import ImportForm, PublishForm, RollbackForm
from .links import problem_link
from .roles import requires
from .web import control, db, log, staff, transaction

log_ = logging.getLogger(__name__)
MAX_IMPORT_BYTES = 5 * 1024 * 1024


async def _switch_live() -> None:
    """Make the running service serve the newest version now (the watcher would within a poll)."""
    await control().switch_live()


async def _checks(state: drafts.DraftState) -> tuple[list[dict[str, str]], list[scenarios.ScenarioResult]]:
    problems = [problem_link(p, state.bundle) for p in validate_bundle(state.bundle)]
    results: list[scenarios.ScenarioResult] = []
    if not problems:
        results = await scenarios.run_all(db(), load_catalogue(state.bundle))
    return problems, results


@bp.route("/publish", methods=["GET", "POST"])
@requires("viewer", write="publisher")
async def publish() -> ResponseReturnValue:
    """Publish the draft: refused while it has problems or a scenario fails."""
    session = db()
    state = await drafts.current(session)
    form = PublishForm(await request.form if request.method == "POST" else None)
    problems, results = await _checks(state)
    failing = [r for r in results if not r.passed]
    status = 200
    if request.method == "POST":
        if not state.is_draft:
            await flash("There is no draft to publish: change something first.")
            return redirect(url_for("admin.publish"))
        if problems or failing:
            status = 422
        elif not form.validate():
            status = 400
        else:
            number = None
            async with transaction():
                current = await drafts.current(session)
                if current.bundle == state.bundle:  # else changed meanwhile: show the new state first
                    message = (form.message.data or "").strip()
                    number = await publish_version(session, current.bundle, message, staff().email)
                    await drafts.discard(session)
                    await log(
                        session,
                        "publish",
                        f"version/{number}",
                        message,
                        {"version": current.live_version},
                        {"version": number, "bundle": current.bundle},
                    )
            if number is None:
                await flash("The draft changed while you were reviewing it; check it again.")
                return redirect(url_for("admin.publish"))
            await _switch_live()
            await flash(f"Published as version {number}. It is live now.")
            return redirect(url_for("admin.version", number=number))
    return await render_template(
        "admin/publish.html",
        state=state,
        form=form,
        problems=problems,
        results=results,
        failing=failing,
        rule_warnings=rule_warnings(state.bundle) if state.is_draft and not problems else None,
        title="Publish",
    ), status


@bp.route("/versions")
@requires("viewer")
async def versions() -> ResponseReturnValue:
    session = db()
    rows = await list_versions(session, limit=500)
    live = rows[0].id if rows else None
    return await render_template("admin/versions.html", rows=rows, live=live, title="Versions")


@bp.route("/versions/<int:number>")
@requires("viewer")
async def version(number: int) -> ResponseReturnValue:
    session = db()
    row = await get_version(session, number)
    newest = await list_versions(session, limit=1)
    if row is None:
        abort(404)
    counts = {s: len(row.bundle.get(s) or []) for s in drafts.SECTIONS}
    return await render_template(
        "admin/version.html", row=row, counts=counts, live=newest[0].id, title=f"Version {number}"
    )


@bp.route("/versions/<int:number>/export")
@requires("viewer")
async def version_export(number: int) -> ResponseReturnValue:
    session = db()
    row = await get_version(session, number)
    if row is None:
        abort(404)
    return Response(
        json.dumps(row.bundle, indent=2, ensure_ascii=False) + "\n",
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="version-{number}.json"'},
    )


@bp.route("/versions/<int:number>/rollback", methods=["GET", "POST"])
@requires("publisher")
async def rollback(number: int) -> ResponseReturnValue:
    """Publish a copy of an earlier version as the newest (after a confirmation form)."""
    session = db()
    row = await get_version(session, number)
    if row is None:
        abort(404)
    form = RollbackForm(await request.form if request.method == "POST" else None)
    if request.method == "POST" and form.validate():
        reason = (form.message.data or "").strip()
        try:
            async with transaction():
                message = f"Rollback to version {number}: {reason}"
                new = await publish_version(session, row.bundle, message, staff().email, copied_from=number)
                await log(
                    session,
                    "rollback",
                    f"version/{new}",
                    message,
                    None,
                    {"version": new, "copied_from": number},
                )
        except CatalogueInvalid as exc:
            await session.refresh(row)  # the rollback expired it; the page shows it again
            form.message.errors = [f"Version {number} no longer passes validation: {p}" for p in exc.problems]
        else:
            await _switch_live()
            await flash(f"Version {number} is live again, as version {new}.")
            return redirect(url_for("admin.version", number=new))
    status = 200 if request.method == "GET" else 400
    return await render_template("admin/rollback.html", row=row, form=form, title="Roll back"), status


@bp.route("/versions/compare")
@requires("viewer")
async def version_compare() -> ResponseReturnValue:
    """Any two published versions side by side, in words."""
    session = db()
    rows = await list_versions(session, limit=500)
    numbers = [r.id for r in rows]
    if not numbers:
        abort(404)
    a = request.args.get("a", type=int) or (numbers[1] if len(numbers) > 1 else numbers[0])
    b = request.args.get("b", type=int) or numbers[0]
    old, new = await get_version(session, a), await get_version(session, b)
    if old is None or new is None:
        abort(404)
    return await render_template(
        "admin/diff.html",
        diff=diff_bundles(old.bundle, new.bundle),
        numbers=numbers,
        a=a,
        b=b,
        left_label=f"Version {a}",
        right_label=f"Version {b}",
        heading=f"Version {a} vs version {b}",
        same_text="The two versions are the same.",
        title="Compare versions",
    )


@bp.route("/versions/<int:number>/restore", methods=["GET", "POST"])
@requires("editor")
async def version_restore(number: int) -> ResponseReturnValue:
    """Make a copy of version N the draft (after a confirmation page that says whose work is replaced)."""
    session = db()
    row = await get_version(session, number)
    if row is None:
        abort(404)
    state = await drafts.current(session)
    if request.method == "GET":
        lost = await audit.draft_authors(session) if state.is_draft else []
        message = f"The draft becomes a copy of version {number}; nothing goes live until it is published."
        if state.is_draft:
            message += " The current draft is replaced (it can be exported first from the draft page)."
        return await render_template(
            "admin/confirm.html",
            title=f"Restore version {number} as the draft?",
            message=message,
            lost=lost,
            action=url_for("admin.version_restore", number=number),
            button=f"Restore version {number} as the draft",
            cancel=url_for("admin.version", number=number),
        )
    async with transaction():
        state = await drafts.current(session)
        await drafts.replace(session, copy.deepcopy(row.bundle), state.live_version, staff().email)
        summary = f"Restored version {number} as the draft"
        await log(session, "import", "draft", summary, state.bundle if state.is_draft else None, row.bundle)
    await flash(f"Version {number} is the draft now. Check it, then publish.")
    return redirect(url_for("admin.draft"))


@bp.route("/import", methods=["GET", "POST"])
@requires("viewer", write="editor")
async def import_bundle() -> ResponseReturnValue:
    """Import a bundle file (or pasted JSON) as the draft; a bad bundle changes nothing."""
    form = ImportForm(await request.form if request.method == "POST" else None)
    problems: list[str] = []
    session = db()
    if request.method == "POST":
        has_draft = (await drafts.current(session)).is_draft
        bundle, problems = await _read_import(form)
        if has_draft and not form.replace.data:
            problems.append("There is a draft already: tick “replace the current draft” to confirm")
        if bundle is not None and not problems:
            async with transaction():
                state = await drafts.current(session)
                await drafts.replace(session, bundle, state.live_version, staff().email)
                name = str(bundle.get("name", ""))
                await log(
                    session,
                    "import",
                    "draft",
                    f"Imported '{name}' as the draft",
                    state.bundle if state.is_draft else None,
                    bundle,
                )
            await flash("Imported as the draft. Check it, then publish.")
            return redirect(url_for("admin.draft"))
    state = await drafts.current(session)
    status = 200 if request.method == "GET" else 422
    return await render_template(
        "admin/import.html", form=form, problems=problems, state=state, title="Import"
    ), status


async def _read_import(form: ImportForm) -> tuple[dict[str, Any] | None, list[str]]:
    files = await request.files
    upload = files.get("file")
    raw: bytes | str
    if upload is not None and upload.filename:
        raw = upload.read(MAX_IMPORT_BYTES + 1)
        if len(raw) > MAX_IMPORT_BYTES:
            return None, ["The file is larger than 5 MB"]
    else:
        raw = form.text.data or ""
    if not raw.strip():
        return None, ["Choose a bundle file or paste its JSON"]
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, [f"Not valid JSON: {exc}"]
    found = validate_bundle(data)
    if found:
        return None, [str(p) for p in found]
    return data, []
