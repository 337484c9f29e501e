"""Links from a validation problem to the form field at fault."""

from __future__ import annotations

import re
from typing import Any

from quart import url_for

from rules.errors import Problem

from . import drafts

EDIT_ENDPOINT = {
    "attributes": "admin.attribute_edit",
    "plans": "admin.plan_edit",
    "questions": "admin.question_edit",
    "rules": "admin.rule_edit",
}

# Fixed pattern: an input row in a problem path (``estimate.inputs[2].map.x``).
_INPUT_ROW = re.compile(r"^estimate\.inputs\[(\d+)\]")
_ESTIMATE_FIELDS = ("label", "currency", "unit", "decimals", "explanation", "formula", "inputs")


def estimate_anchor(path: str) -> str:
    """The field on the "Estimate and display" page for a problem of ``estimate.*`` or ``display.*``."""
    if path.startswith("display"):
        return "field-headline"
    row = _INPUT_ROW.match(path)
    if row:
        return f"field-inputs-{row.group(1)}"
    name = path.split(".", 1)[1].split("[", 1)[0] if "." in path else ""
    return f"field-{name}" if name in _ESTIMATE_FIELDS else "estimate-form"


def problem_link(problem: Problem, bundle: dict[str, Any]) -> dict[str, str]:
    """A problem for display: where (item name), the link to its form field, the message."""
    section, index, rest = drafts.split_path(problem.path)
    if section in EDIT_ENDPOINT and index is not None:
        items = bundle.get(section)
        item = items[index] if isinstance(items, list) and index < len(items) else None
        key = drafts.item_key(item, section)
        label = f"{drafts.SINGULAR[section]} {key or '#' + str(index + 1)}"
        field = drafts.field_of(rest) or "id"
        href = url_for(EDIT_ENDPOINT[section], index=index) + "#field-" + field
        return {"where": label, "detail": rest, "href": href, "message": problem.message}
    if section in ("estimate", "display"):
        href = url_for("admin.estimate_page") + "#" + estimate_anchor(problem.path)
        return {
            "where": "estimate and display",
            "detail": problem.path,
            "href": href,
            "message": problem.message,
        }
    anchor = "#field-" + section if section else ""
    href = url_for("admin.catalogue_settings") + anchor
    return {"where": section or "catalogue", "detail": problem.path, "href": href, "message": problem.message}
