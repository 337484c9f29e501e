"""The enriched stage works out the catalogue's estimate and re-ranks every matched plan by it, then
applies the limit (PROTOCOL.md, CATALOGUE.md "Estimate and display")."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from planwise.app import create_app

from .conftest import WS, settings_for

# A storage-rental catalogue: nothing in it resembles the demo's mobile plans.
BUNDLE: dict[str, Any] = {
    "format": "plan-catalogue/1",
    "name": "Storage units",
    "attributes": [
        {"key": "weeklyRent", "type": "number", "label": "Weekly rent", "unit": "GBP"},
        {"key": "sizeM3", "type": "number", "label": "Size", "unit": "m3"},
        {"key": "excessPerM3", "type": "number", "label": "Excess per m3", "unit": "GBP"},
        {"key": "insured", "type": "boolean", "label": "Insurance included"},
    ],
    "plans": [
        {"id": "small", "name": "S", "attributes": {"weeklyRent": 10, "sizeM3": 1, "excessPerM3": 5}},
        {"id": "medium", "name": "M", "attributes": {"weeklyRent": 12, "sizeM3": 10, "excessPerM3": 2}},
        {"id": "large", "name": "L", "attributes": {"weeklyRent": 15, "sizeM3": 20, "excessPerM3": 1}},
    ],
    "questions": [
        {"id": "volume", "text": "How much do you store?", "type": "number", "min": 0, "max": 100},
        {"id": "weeks", "text": "For how many weeks?", "type": "number", "min": 1, "max": 52},
    ],
    "rules": [
        {
            "id": "always",
            "name": "Everyone",
            "when": {"all": []},
            "then": [{"score": 0, "because": "Listed for everyone"}],
        }
    ],
    "ranking": {
        "order": [{"by": "score", "dir": "desc"}, {"by": "estimate"}, {"by": "weeklyRent"}],
        "limit": 1,
    },
    "estimate": {
        "label": "Total for your stay",
        "currency": "GBP",
        "decimals": 2,
        "inputs": [
            {"name": "volume", "answer": "volume"},
            {"name": "weeks", "answer": "weeks", "default": 4},
        ],
        "formula": "(plan.weeklyRent + max(0, volume - plan.sizeM3) * plan.excessPerM3) * weeks",
        "explanation": "{weeks} weeks at {plan.weeklyRent} a week = {estimate}",
    },
    "display": {"headline": ["sizeM3", "weeklyRent"]},
}


async def _enriched(ws: WS) -> dict[str, Any]:
    while True:
        event, data = await ws.recv()
        if event == "recommendationUpdates" and data["stage"] == "enriched":
            return data


async def test_a_plan_below_the_rules_page_can_top_the_enriched_ranking(tmp_path: Path) -> None:
    bundle_path = tmp_path / "bundle.json"
    bundle_path.write_text(json.dumps(BUNDLE))
    app = create_app(settings_for(tmp_path, demo_bundle=str(bundle_path)))
    async with app.test_app() as test_app, test_app.test_client().websocket("/ws") as raw:
        questionnaire = await (await test_app.test_client().get("/api/questionnaire")).get_json()
        assert questionnaire["estimate"] == {"label": "Total for your stay", "currency": "GBP", "decimals": 2}
        assert questionnaire["display"] == {"headline": ["sizeM3", "weeklyRent"]}
        assert [a["key"] for a in questionnaire["attributes"]] == [
            "weeklyRent",
            "sizeM3",
            "excessPerM3",
            "insured",
        ]
        ws = WS(raw)
        await ws.opening({})
        await ws.send("userResponse", {"answers": {"volume": 5}}, id="a")
        rules = await ws.expect("recommendationUpdates")
        # The rules stage ties on the estimate: the cheapest rent is first.
        assert [p["id"] for p in rules["plans"]] == ["small"] and rules["matchedPlans"] == 3
        assert "estimate" not in rules["plans"][0]
        enriched = await _enriched(ws)
        assert enriched["revision"] == rules["revision"]
        # small: (10 + 4 x 5) x 4 = 120; medium: 12 x 4 = 48; large: 15 x 4 = 60.
        assert [p["id"] for p in enriched["plans"]] == ["medium"]
        top = enriched["plans"][0]
        assert top["rank"] == 1
        assert top["estimate"] == {"value": 48, "explanation": "4 weeks at 12 a week = 48.00"}
        assert top["reasons"] == [{"rule": "always", "text": "Listed for everyone"}]
        assert enriched["matchedPlans"] == 3 and enriched["excluded"] == []


async def test_no_enriched_update_while_an_input_is_unknown(tmp_path: Path) -> None:
    bundle_path = tmp_path / "bundle.json"
    bundle_path.write_text(json.dumps(BUNDLE))
    app = create_app(settings_for(tmp_path, demo_bundle=str(bundle_path)))
    async with app.test_app() as test_app, test_app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        await ws.send("userResponse", {"answers": {"weeks": 2}}, id="a")  # volume has no default
        await ws.expect("recommendationUpdates")
        await ws.send("ping", {}, id="p")
        await asyncio.sleep(0.3)  # the enrichment workers had their turn
        await ws.send("userResponse", {"answers": {"volume": 0}}, id="b")
        # The next enriched update is for the revision that made the input known.
        enriched = await _enriched(ws)
        assert enriched["revision"] == 2
        assert enriched["plans"][0]["estimate"]["value"] == 20  # small: 10 x 2 weeks
