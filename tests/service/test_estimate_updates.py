"""Enriched updates carry exactly the contract's estimates, in the contract's order, on both rules
engines: every update for ~20 random answer sets is checked against the test oracle
(tests/rules/formula_oracle.py), through the real app and its WebSocket."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from ..rules import formula_oracle as oracle
from .conftest import WS, settings_for

try:
    from planwise.app import create_app
except ImportError:  # before the app factory moved to the planwise package
    from service.app import create_app  # type: ignore[attr-defined,no-redef]


def _plan(pid: str, **attributes: Any) -> dict[str, Any]:
    active = attributes.pop("active", True)
    return {"id": pid, "name": pid.upper(), "attributes": attributes, "active": active}


# A made-up broadband-like catalogue: several plans lack attributes, one divides by zero, one is inactive.
BUNDLE: dict[str, Any] = {
    "format": "plan-catalogue/1",
    "name": "Estimate updates",
    "attributes": [
        {"key": "base", "type": "number", "label": "Base", "unit": "EUR"},
        {"key": "allowance", "type": "number", "label": "Allowance"},
        {"key": "over", "type": "number", "label": "Over", "unit": "EUR"},
        {"key": "setup", "type": "number", "label": "Setup", "unit": "EUR"},
        {"key": "months", "type": "number", "label": "Term"},
        {"key": "green", "type": "boolean", "label": "Green"},
        {"key": "tier", "type": "enum", "label": "Tier", "options": ["basic", "plus"]},
    ],
    "plans": [
        _plan("p01", base=10, allowance=5, over=2, setup=30, months=12, green=True, tier="basic"),
        _plan("p02", base=12.5, allowance=20, over=1.5, months=24, green=False, tier="plus"),
        _plan("p03", base=20, allowance=50, over=1, setup=0, months=0, green=True),  # divides by zero
        _plan("p04", base=8.99, allowance=2, over=3, setup=49.99, months=18),
        _plan("p05", base=15, allowance=30, setup=10, months=12, green=True),  # no overage price
        _plan("p06", base=30, allowance=100, over=0.5, setup=0, months=1, green=True, tier="plus"),
        _plan("p07", base=9.5, allowance=10, over=2.25, setup=25, months=24, green=False),
        _plan("p08", base=11, allowance=15, over=2, setup=20, months=12, green=True, active=False),
        _plan("p09", base=14.2, allowance=8, over=1.75, months=12, green=True, tier="basic"),
    ],
    "questions": [
        {"id": "usage", "text": "Usage?", "type": "number", "min": 0, "max": 200},
        {
            "id": "kind",
            "text": "Kind?",
            "type": "choice",
            "options": [{"value": v, "label": v.title()} for v in ("light", "medium", "heavy", "none")],
        },
        {"id": "ev", "text": "Extra device?", "type": "boolean"},
        {
            "id": "extra",
            "text": "How many extra?",
            "type": "number",
            "min": 0,
            "max": 50,
            "askWhen": {"answer": "ev", "op": "==", "value": True},
        },
        {"id": "eco", "text": "Green only?", "type": "boolean"},
    ],
    "rules": [
        {
            "id": "eco-only",
            "name": "Green plans only",
            "when": {"answer": "eco", "op": "==", "value": True},
            "then": [{"require": {"attribute": "green", "op": "==", "value": True}, "because": "Green"}],
        },
        {
            "id": "heavy",
            "name": "Heavy users",
            "when": {"answer": "kind", "op": "==", "value": "heavy"},
            "then": [
                {"score": 5, "where": {"attribute": "allowance", "op": ">=", "value": 20}, "because": "Big"}
            ],
        },
        {
            "id": "premium",
            "name": "No kind: premium plans",
            "when": {"answer": "kind", "op": "==", "value": "none"},
            "then": [{"exclude": {"attribute": "base", "op": "<", "value": 14}, "because": "Cheap"}],
        },
    ],
    "ranking": {"order": [{"by": "estimate", "dir": "asc"}, {"by": "score", "dir": "desc"}], "limit": 3},
    "estimate": {
        "label": "Monthly cost",
        "currency": "EUR",
        "decimals": 2,
        "inputs": [
            {"name": "usage", "answer": "usage"},
            {
                "name": "kind",
                "answer": "kind",
                "map": {"light": 0.5, "medium": 1.5, "heavy": 3},
                "default": 1,
            },
            {"name": "ev", "answer": "ev", "default": 0},
            {"name": "extra", "answer": "extra", "default": 0},
        ],
        "formula": (
            "plan.base + max(0, usage * kind - plan.allowance) * plan.over"
            " + default(plan.setup, 0) / if(plan.months > 0, plan.months, 0)"
            " + ev * ceil(extra / 3) * 2.5"
        ),
        "explanation": "{plan.base} + {usage} x {kind} over {plan.allowance} ({plan.tier}) = {estimate}",
    },
}
ACTIVE = [p for p in BUNDLE["plans"] if p.get("active", True)]


def random_answers(rnd: random.Random) -> dict[str, Any]:
    """Every question answered or cleared (``None``)."""
    pick = {
        "usage": lambda: rnd.choice([0, 3, 7, 12.5, 20, 40, 99.99, 200]),
        "kind": lambda: rnd.choice(["light", "medium", "heavy", "none"]),
        "ev": lambda: rnd.random() < 0.6,
        "extra": lambda: rnd.randint(0, 50),
        "eco": lambda: rnd.random() < 0.4,
    }
    return {qid: make() if rnd.random() < 0.75 else None for qid, make in pick.items()}


def expected_update(answers: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The enriched update's plans as the contract says (``None``: no enriched update)."""
    given = {k: v for k, v in answers.items() if v is not None}
    visible = {"usage", "kind", "ev", "eco"} | ({"extra"} if given.get("ev") is True else set())
    estimates = oracle.oracle_estimates(BUNDLE, given, visible)
    if estimates is None:
        return None
    matched = [
        p
        for p in ACTIVE
        if not (given.get("eco") is True and p["attributes"].get("green") is not True)
        and not (given.get("kind") == "none" and p["attributes"]["base"] < 14)
    ]
    if not any(p["id"] in estimates for p in matched):
        return None  # no plan has an estimate: nothing to enrich

    def score(plan: dict[str, Any]) -> int:
        heavy = given.get("kind") == "heavy" and plan["attributes"].get("allowance", -1) >= 20
        return 5 if heavy else 0

    def key(plan: dict[str, Any]) -> tuple[Any, ...]:
        entry = estimates.get(plan["id"])
        return (entry is None, entry["value"] if entry else 0, -score(plan), plan["id"])

    shown = sorted(matched, key=key)[:3]
    out = []
    for rank, plan in enumerate(shown, start=1):
        row: dict[str, Any] = {"id": plan["id"], "rank": rank, "score": score(plan)}
        entry = estimates.get(plan["id"])
        if entry is not None:
            row["estimate"] = {"value": entry["json"], "explanation": entry["explanation"]}
        out.append(row)
    return out


async def _drain_until(ws: WS, want: str) -> list[tuple[str, dict[str, Any]]]:
    frames = []
    while True:
        event, data = await ws.recv()
        frames.append((event, data))
        if event == want:
            return frames


@pytest.mark.parametrize("engine", ["durable", "reference"])
async def test_enriched_estimates_equal_the_oracle_for_random_answers(tmp_path: Path, engine: str) -> None:
    bundle_path = tmp_path / "bundle.json"
    bundle_path.write_text(json.dumps(BUNDLE))
    settings = settings_for(
        tmp_path, rules_engine=engine, demo_bundle=str(bundle_path), rate_per_second=1000.0, rate_burst=1000
    )
    app = create_app(settings)
    rnd = random.Random(8)
    answer_sets = [random_answers(rnd) for _ in range(20)]
    # Make sure both outcomes are covered: an unknown input, and eco + heavy with an extra device.
    answer_sets[3]["usage"] = None
    answer_sets[5].update(usage=40, kind="heavy", ev=True, extra=7, eco=True)
    # Green and premium: p03 (divides by zero) and p05 (no overage price) have no estimate: last.
    answer_sets[7].update(usage=10, kind="none", eco=True)
    checked = {"enriched": 0, "none": 0}
    async with app.test_app() as test_app, test_app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        # Every set twice: the second time the enriched plans come from what the first made (shared
        # by the sessions in one state), and must still be exactly the oracle's.
        for n, answers in enumerate(answer_sets + answer_sets):
            await ws.send("userResponse", {"answers": answers}, id=f"r{n}")
            rules = await ws.expect("recommendationUpdates")
            assert rules["stage"] == "rules" and rules["replyTo"] == f"r{n}"
            assert all("estimate" not in p for p in rules["plans"])
            revision = rules["revision"]
            want = expected_update(answers)
            if want is None:
                await asyncio.sleep(0.3)  # the enrichment workers had their turn
                await ws.send("ping", {}, id=f"p{n}")
                frames = await _drain_until(ws, "pong")
                late = [d for e, d in frames if e == "recommendationUpdates" and d["revision"] == revision]
                assert late == [], (answers, late)
                checked["none"] += 1
                continue
            while True:
                event, data = await ws.recv()
                if event == "recommendationUpdates" and data["stage"] == "enriched":
                    if data["revision"] == revision:
                        break
                    assert data["revision"] < revision
            assert data["version"] == rules["version"]
            assert data["matchedPlans"] == rules["matchedPlans"]
            got = [{k: p[k] for k in ("id", "rank", "score", "estimate") if k in p} for p in data["plans"]]
            assert got == want, (answers, got, want)
            for p in data["plans"]:
                if "estimate" in p:
                    assert type(p["estimate"]["value"]) is float
            checked["enriched"] += 1
    assert checked["enriched"] >= 20 and checked["none"] >= 2, checked
