"""The enriched stage re-ranks every matched plan, then applies the limit (PROTOCOL.md)."""

from __future__ import annotations

import json
from pathlib import Path

from service.app import create_app

from .conftest import WS, settings_for

BUNDLE = {
    "format": "plan-catalogue/1",
    "name": "Data plans",
    "attributes": [
        {"key": "monthlyPrice", "type": "number", "label": "Monthly price", "unit": "EUR"},
        {"key": "dataGb", "type": "number", "label": "Data", "unit": "GB"},
        {"key": "extraGbPrice", "type": "number", "label": "Extra GB", "unit": "EUR"},
    ],
    "plans": [
        {"id": "small", "name": "S", "attributes": {"monthlyPrice": 10, "dataGb": 1, "extraGbPrice": 5}},
        {"id": "medium", "name": "M", "attributes": {"monthlyPrice": 12, "dataGb": 10, "extraGbPrice": 2}},
        {"id": "large", "name": "L", "attributes": {"monthlyPrice": 15, "dataGb": 20, "extraGbPrice": 1}},
    ],
    "questions": [
        {"id": "usage", "text": "GB per month?", "type": "number", "min": 0, "max": 100, "unit": "GB"}
    ],
    "rules": [
        {
            "id": "always",
            "name": "Everyone",
            "when": {"all": []},
            "then": [{"score": 0, "because": "Listed for everyone"}],
        }
    ],
    "ranking": {"order": [{"by": "score", "dir": "desc"}, {"by": "monthlyPrice"}], "limit": 1},
}


async def test_a_plan_below_the_rules_page_can_top_the_enriched_ranking(tmp_path: Path) -> None:
    bundle_path = tmp_path / "bundle.json"
    bundle_path.write_text(json.dumps(BUNDLE))
    app = create_app(settings_for(tmp_path, demo_bundle=str(bundle_path), enrichers=("cost",)))
    async with app.test_app() as test_app, test_app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        await ws.send("userResponse", {"answers": {"usage": 5}}, id="a")
        rules = await ws.expect("recommendationUpdates")
        assert [p["id"] for p in rules["plans"]] == ["small"] and rules["matchedPlans"] == 3
        while True:
            event, enriched = await ws.recv()
            if event == "recommendationUpdates" and enriched["stage"] == "enriched":
                break
        assert enriched["revision"] == rules["revision"]
        # small costs 10 + 4 extra GB x 5 = 30; medium 12 and large 15 fit 5 GB.
        assert [p["id"] for p in enriched["plans"]] == ["medium"]
        top = enriched["plans"][0]
        assert top["rank"] == 1 and top["estimate"]["monthly"] == 12
        assert top["reasons"] == [{"rule": "always", "text": "Listed for everyone"}]
        assert enriched["matchedPlans"] == 3 and enriched["excluded"] == []
