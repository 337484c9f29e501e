"""Rule analysis warnings on the draft overview, the rule page and the publish page (never blocking)."""

from __future__ import annotations

import copy
import json
from typing import Any

from quart import Quart

from tests.admin.conftest import EXAMPLE, Browser, signed_in


def banded() -> dict[str, Any]:
    """The example catalogue with three usage bands on the budget question; medium and high overlap."""
    bundle = json.loads(EXAMPLE.read_text())
    bands = [("low", "<", 20), ("medium", "between", [20, 60]), ("high", ">=", 50)]
    for name, op, value in bands:
        bundle["rules"].append(
            {
                "id": f"band-{name}",
                "name": f"Band {name}",
                "when": {"answer": "budget", "op": op, "value": value},
                "then": [{"derive": {"fact": "band", "value": name}}],
            }
        )
    return bundle


async def import_draft(editor: Browser, bundle: dict[str, Any]) -> None:
    await editor.get("/admin/import")
    response = await editor.post("/admin/import", {"text": json.dumps(bundle), "replace": "y"})
    assert response.status_code == 302, await response.get_data(as_text=True)


async def test_warnings_show_everywhere_and_never_block(app: Quart, editor: Browser) -> None:
    bundle = banded()
    repeat = copy.deepcopy(bundle["rules"][2])  # the traveller rule's roaming score, again
    repeat.update(id="roaming-again", name="Roaming again")
    repeat["then"] = [repeat["then"][1]]
    bundle["rules"].append(repeat)
    await import_draft(editor, bundle)
    draft = await editor.text("/admin/draft")
    assert "Overlapping ranges:" in draft
    assert "when budget is at least 50 and at most 60, band is both" in draft
    assert "Same score twice:" in draft and "traveller and roaming-again" in draft
    assert "No problems found." in draft
    index = [r["id"] for r in bundle["rules"]].index("band-high")
    rule = await editor.text(f"/admin/draft/rules/{index}")
    assert "Warnings about this rule" in rule and "band-medium" in rule
    publisher = await signed_in(app, "publisher")
    page = await publisher.text("/admin/publish")
    assert "Rule warnings" in page and "Overlapping ranges:" in page
    published = await publisher.post("/admin/publish", {"message": "Bands with a known overlap"})
    assert published.status_code == 302
