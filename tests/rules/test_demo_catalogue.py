"""The demo catalogue validates and every active plan can reach the top 3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rules.matcher import Matcher
from rules.model import parse_catalogue
from rules.reference import ReferenceEvaluator

ROOT = Path(__file__).resolve().parents[2]
DEMO = json.loads((ROOT / "data" / "demo-mobile.json").read_text())
TOP3 = json.loads((ROOT / "tests" / "fixtures" / "demo-top3.json").read_text())


def test_demo_is_a_believable_catalogue() -> None:
    plans = [p for p in DEMO["plans"] if p.get("active", True)]
    assert len(plans) >= 30
    assert len({p["provider"] for p in plans}) >= 4
    assert len(DEMO["questions"]) >= 10
    assert {q["type"] for q in DEMO["questions"]} == {"choice", "multi", "number", "boolean", "text"}
    assert sum("askWhen" in q for q in DEMO["questions"]) >= 2
    assert len(DEMO["rules"]) >= 40
    effects = {
        k
        for r in DEMO["rules"]
        for e in r["then"]
        for k in ("require", "exclude", "score", "derive")
        if k in e
    }
    assert effects == {"require", "exclude", "score", "derive"}


@pytest.mark.parametrize("plan_id", sorted(TOP3))
def test_every_active_plan_reaches_the_top_three(plan_id: str) -> None:
    catalogue = parse_catalogue(DEMO)
    answers = TOP3[plan_id]
    evaluation = ReferenceEvaluator(catalogue, 1).evaluate(answers)
    top = [p["id"] for p in Matcher(catalogue).match(evaluation, answers)["plans"][:3]]
    assert plan_id in top


def test_the_top_three_table_covers_every_active_plan() -> None:
    assert set(TOP3) == {p["id"] for p in DEMO["plans"] if p.get("active", True)}
