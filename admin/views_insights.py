"""Insights (viewer and up): the funnel, zero results, rules and plans of a period; JSON/CSV export."""

from __future__ import annotations

from quart import Response, render_template, request
from quart.typing import ResponseReturnValue

from .blueprint import bp
from .insights import BadFilter, Filter, Report, report, to_csv, versions
from .insights_charts import Row, bar_chart
from .roles import requires
from .web import db, runtime


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{share:.0%}"


def charts(rep: Report, key: str) -> dict[str, object]:
    """The report's SVG charts; each is described by the table of the same key on the page."""
    funnel = [Row(q.label, (shown, answered, last)) for q, shown, answered, last in rep.funnel()]
    rules = [Row(r.label, (n,)) for r, n in rep.rule_rows()]
    plans = [
        Row(p.label, (top3, chosen), (f"{top3:,}", f"{chosen:,} ({_percent(rate)})"))
        for p, top3, chosen, rate in rep.plan_rows()
    ]
    ranks = [Row(f"rank {b}" if b[0].isdigit() else b, (n,)) for b, n in rep.rank_rows()]
    return {
        "funnel": bar_chart(
            f"chart-funnel-{key}",
            f"Funnel, {rep.title}: sessions per question",
            ("shown", "answered", "stopped here"),
            funnel,
            f"table-funnel-{key}",
        ),
        "rules": bar_chart(
            f"chart-rules-{key}",
            f"Rules, {rep.title}: sessions they fired in",
            ("fired",),
            rules,
            f"table-rules-{key}",
        ),
        "plans": bar_chart(
            f"chart-plans-{key}",
            f"Plans, {rep.title}: sessions with the plan in the top 3, and choosing it",
            ("in the top 3", "selected"),
            plans,
            f"table-plans-{key}",
        ),
        "ranks": bar_chart(
            f"chart-ranks-{key}",
            f"Selections by rank, {rep.title}",
            ("selections",),
            ranks,
            f"table-ranks-{key}",
        ),
    }


async def _caught_up() -> None:
    """Fold the events not in the rollup yet (the background job does it every 30 s)."""
    await runtime().planwise.events.rollup.catch_up()


@bp.route("/insights")
@requires("viewer")
async def insights() -> ResponseReturnValue:
    await _caught_up()
    session = db()
    error = ""
    try:
        flt = Filter.read(request.args)
    except BadFilter as exc:
        error, flt = str(exc), Filter.read({})
    chosen = [flt.version] + ([flt.compare] if flt.compare is not None else [])
    reports = [await report(session, flt, v) for v in chosen]
    keyed = [(rep, chr(ord("a") + i), charts(rep, chr(ord("a") + i))) for i, rep in enumerate(reports)]
    return await render_template(
        "admin/insights.html",
        title="Insights",
        flt=flt,
        error=error,
        reports=keyed,
        versions=await versions(session),
        percent=_percent,
    ), (400 if error else 200)


async def _export_report() -> Report | Response:
    try:
        flt = Filter.read(request.args)
    except BadFilter as exc:
        return Response(str(exc) + "\n", 400, mimetype="text/plain")
    await _caught_up()
    return await report(db(), flt, flt.version)


@bp.route("/insights/export.json")
@requires("viewer")
async def insights_export_json() -> ResponseReturnValue:
    found = await _export_report()
    return found if isinstance(found, Response) else found.export()


@bp.route("/insights/export.csv")
@requires("viewer")
async def insights_export_csv() -> ResponseReturnValue:
    found = await _export_report()
    if isinstance(found, Response):
        return found
    name = "insights-" + (f"v{found.version}" if found.version is not None else "all") + ".csv"
    return Response(
        to_csv(found),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
