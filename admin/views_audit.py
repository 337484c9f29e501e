"""The audit log: filterable, read-only."""

from __future__ import annotations

from datetime import datetime, timedelta

from quart import abort, render_template, request
from quart.typing import ResponseReturnValue

from .audit import ACTIONS, AuditFilter, search
from .blueprint import bp
from .models import AuditEntry
from .roles import requires
from .web import db

PER_PAGE = 50


def _date(text: str | None) -> datetime | None:
    try:
        return datetime.strptime(text or "", "%Y-%m-%d")
    except ValueError:
        return None


@bp.route("/audit")
@requires("viewer")
async def audit() -> ResponseReturnValue:
    args = request.args
    until = _date(args.get("until"))
    flt = AuditFilter(
        actor=args.get("actor", ""),
        action=args.get("action", "") if args.get("action", "") in ACTIONS else "",
        target=args.get("target", ""),
        since=_date(args.get("since")),
        until=until + timedelta(days=1) if until else None,
    )
    page = max(1, args.get("page", 1, type=int) or 1)
    session = db()
    rows, total = await search(session, flt, page, PER_PAGE)
    pages = max(1, (total + PER_PAGE - 1) // PER_PAGE)
    query = {k: v for k, v in args.items() if k != "page" and v}
    return await render_template(
        "admin/audit.html",
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        args=args,
        query=query,
        actions=ACTIONS,
        title="Audit log",
    )


@bp.route("/audit/<int:entry_id>")
@requires("viewer")
async def audit_entry(entry_id: int) -> ResponseReturnValue:
    session = db()
    row = await session.get(AuditEntry, entry_id)
    if row is None:
        abort(404)
    return await render_template("admin/audit_entry.html", row=row, title=f"Audit entry {entry_id}")
