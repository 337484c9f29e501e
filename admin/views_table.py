"""Rules as a decision table: one row per rule; sort, filter, inline edit of values, CSV export.

Inline edits (priority, enabled, the points of each score effect) go through the same
``editing.save_item`` as the rule page: validated, refused for problems they introduce, refused for
a row someone else changed since the table was shown (each row carries its rule's version).
"""

from __future__ import annotations

import copy
import csv
import io
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from quart import Response, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from . import drafts, problems
from .blueprint import bp
from .editing import save_item
from .forms_catalogue import parse_number
from .roles import requires
from .web import actor, db, transaction
from .wording import Words

SORTS = ("order", "id", "name", "priority", "points")


@dataclass
class Row:
    index: int
    rule: dict[str, Any]
    conditions: str
    effects: list[str]
    scores: list[tuple[int, Any]]  # (effect index, points)
    version: str
    subjects: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    @property
    def points(self) -> float:
        return sum(p for _, p in self.scores if isinstance(p, (int, float)))


def _subjects(value: Any, out: set[str]) -> set[str]:
    """Every question, attribute and fact a rule mentions, as ``question:ID`` etc."""
    if isinstance(value, dict):
        for key, prefix in (("answer", "question"), ("attribute", "attribute"), ("fact", "fact")):
            if isinstance(value.get(key), str):
                out.add(f"{prefix}:{value[key]}")
        for inner in value.values():
            _subjects(inner, out)
    elif isinstance(value, list):
        for inner in value:
            _subjects(inner, out)
    return out


def rows(bundle: dict[str, Any]) -> list[Row]:
    words = Words(bundle)
    out = []
    found = bundle.get("rules")
    for i, rule in enumerate(found if isinstance(found, list) else []):
        if not isinstance(rule, dict):
            continue
        then: list[Any] = rule["then"] if isinstance(rule.get("then"), list) else []
        scores = [(j, e["score"]) for j, e in enumerate(then) if isinstance(e, dict) and "score" in e]
        row = Row(i, rule, words.condition(rule.get("when")), words.effects(rule.get("then")), scores, "")
        row.version = problems.version(rule)
        row.subjects = _subjects(rule.get("when"), set()) | _subjects(rule.get("then"), set())
        out.append(row)
    return out


def _choose(all_rows: list[Row]) -> list[Row]:
    """The rows the query string asks for: filtered by subject, sorted."""
    chosen = all_rows
    for kind in ("question", "attribute", "fact"):
        wanted = request.args.get(kind, "")
        if wanted:
            chosen = [r for r in chosen if f"{kind}:{wanted}" in r.subjects]
    sort = request.args.get("sort", "order")
    keys: dict[str, Any] = {
        "id": lambda r: str(r.rule.get("id", "")),
        "name": lambda r: str(r.rule.get("name", "")).lower(),
        "priority": lambda r: r.rule.get("priority", 0) if isinstance(r.rule.get("priority"), int) else 0,
        "points": lambda r: r.points,
    }
    if sort in keys:
        chosen = sorted(chosen, key=keys[sort], reverse=request.args.get("dir") == "desc")
    return chosen


def _csv(chosen: list[Row]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "name", "enabled", "priority", "conditions", "effects", "points"])
    for r in chosen:
        rule = r.rule
        writer.writerow(
            [
                rule.get("id", ""),
                rule.get("name", ""),
                "no" if rule.get("enabled") is False else "yes",
                rule.get("priority", 0),
                r.conditions,
                "; ".join(r.effects),
                " + ".join(str(p) for _, p in r.scores),
            ]
        )
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="rules.csv"'},
    )


def _edited(row: Row, form: Any) -> dict[str, Any] | None:
    """The row's rule with the posted values, or None when nothing changed (errors go on the row)."""
    rule = copy.deepcopy(row.rule)
    i = row.index
    raw = (form.get(f"priority-{i}") or "").strip()
    if raw:
        value = parse_number(raw)
        if not isinstance(value, int):
            row.errors.append(f"Priority: “{raw}” is not a whole number")
        elif value != rule.get("priority", 0):
            rule["priority"] = value
    elif "priority" in rule:
        rule.pop("priority")
    enabled = form.get(f"enabled-{i}") is not None
    if enabled != (rule.get("enabled") is not False):
        if enabled:
            rule.pop("enabled", None)
        else:
            rule["enabled"] = False
    for j, _ in row.scores:
        text = (form.get(f"points-{i}-{j}") or "").strip()
        points = parse_number(text)
        if points is None:
            row.errors.append(f"Points: “{text}” is not a number")
        elif points != rule["then"][j]["score"]:
            rule["then"][j]["score"] = points
    return rule if rule != row.rule and not row.errors else None


@bp.route("/draft/rules/table", methods=["GET", "POST"])
@requires("viewer", write="editor")
async def rule_table() -> ResponseReturnValue:
    """The decision table; POST saves the changed rows (each one validated like a rule page save)."""
    state = await drafts.current(db())
    all_rows = rows(state.bundle)
    status = 200
    posted = None
    if request.method == "POST":
        form = posted = await request.form
        saved: list[str] = []
        async with transaction() as session:
            for row in all_rows:
                if form.get(f"version-{row.index}") is None:
                    continue  # the row was not on the page (filtered out)
                rule = _edited(row, form)
                if rule is None:
                    continue
                base = row.rule if form.get(f"version-{row.index}") == row.version else {"stale": True}
                outcome = await save_item(
                    session, actor(), "rules", row.index, str(row.rule.get("id", "")), rule, base=base
                )
                if outcome.saved:
                    saved.append(str(rule.get("id")))
                elif outcome.conflict:
                    row.errors.append("Someone else changed this rule since the table was shown: reload it")
                else:
                    row.errors += [m for _, m in outcome.details] + [p["message"] for p in outcome.elsewhere]
        if not any(r.errors for r in all_rows):
            await flash(f"Saved {', '.join(saved)}." if saved else "Nothing changed.")
            return redirect(request.full_path.rstrip("?"))
        status = 422
    if request.args.get("format") == "csv":
        return _csv(_choose(all_rows))
    catalog = Words(state.bundle).catalog
    return await render_template(
        "admin/rule_table.html",
        state=state,
        rows=_choose(all_rows),
        total=len(all_rows),
        catalog=catalog,
        sorts=SORTS,
        args=request.args,
        posted=posted if status != 200 else None,
        csv_url=url_for("admin.rule_table") + "?" + urlencode({**request.args.to_dict(), "format": "csv"}),
        title="Rules as a decision table",
    ), status
