"""The built-in ``cost`` enricher: conventions, estimates, re-ranking, and the enriched stage end to end."""

from __future__ import annotations

import asyncio
import json
import math
import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from quart import Quart

from rules.matcher import Matcher
from rules.model import Catalogue, parse_catalogue
from rules.reference import ReferenceEvaluator
from rules.validator import validate_bundle
from service.app import create_app
from service.enrich import EnrichContext, Enrichment, load_enrichers
from service.enrichers.cost import CostEstimator, Tariff

from .conftest import WS, settings_for

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo-mobile.json"


def plan(pid: str, **attributes: Any) -> dict[str, Any]:
    return {"id": pid, "name": pid.title(), "attributes": attributes}


def bundle(**overrides: Any) -> dict[str, Any]:
    """A small mobile catalogue following the conventions of docs/enrichment.md."""
    data: dict[str, Any] = {
        "format": "plan-catalogue/1",
        "name": "Tiny",
        "attributes": [
            {"key": "monthlyPrice", "type": "number", "label": "Price", "unit": "EUR"},
            {"key": "dataGb", "type": "number", "label": "Data", "unit": "GB"},
            {"key": "extraGbPrice", "type": "number", "label": "Extra GB", "unit": "EUR/GB"},
            {"key": "minutes", "type": "number", "label": "Minutes", "unit": "min"},
            {"key": "pricePerMinute", "type": "number", "label": "Per minute", "unit": "EUR"},
            {"key": "setupFee", "type": "number", "label": "Setup", "unit": "EUR"},
            {"key": "contractMonths", "type": "number", "label": "Term", "unit": "months"},
            {"key": "fast", "type": "boolean", "label": "Fast"},
        ],
        "plans": [
            plan("small", monthlyPrice=9.99, dataGb=10, extraGbPrice=2.0, minutes=100, pricePerMinute=0.1),
            plan("big", monthlyPrice=14.5, dataGb=50, extraGbPrice=1.0, minutes=10000, pricePerMinute=0),
            plan(
                "contract",
                monthlyPrice=7.0,
                dataGb=20,
                extraGbPrice=0,
                minutes=10000,
                pricePerMinute=0,
                setupFee=9.99,
                contractMonths=24,
                fast=True,
            ),
        ],
        "questions": [
            {"id": "gb", "text": "GB per month?", "type": "number", "min": 0, "max": 500, "unit": "GB"},
            {
                "id": "calls",
                "text": "Minutes per month?",
                "type": "number",
                "min": 0,
                "max": 5000,
                "unit": "min",
            },
            {
                "id": "abroad",
                "text": "Minutes abroad?",
                "type": "number",
                "min": 0,
                "max": 5000,
                "unit": "min",
            },
            {"id": "wantFast", "text": "Need speed?", "type": "boolean"},
            {
                "id": "usage",
                "text": "How much data?",
                "type": "choice",
                "options": [{"value": "low", "label": "Little"}, {"value": "lots", "label": "Lots"}],
            },
            {
                "id": "hiddenGb",
                "text": "Hidden",
                "type": "number",
                "unit": "GB",
                "askWhen": {"answer": "wantFast", "op": "==", "value": True},
            },
        ],
        "rules": [
            {
                "id": "speed",
                "name": "Speed",
                "when": {"answer": "wantFast", "op": "==", "value": True},
                "then": [{"score": 5, "where": {"attribute": "fast", "op": "==", "value": True}}],
            }
        ],
        "ranking": {"order": [{"by": "score", "dir": "desc"}, {"by": "monthlyPrice", "dir": "asc"}]},
    }
    data.update(overrides)
    assert validate_bundle(data) == []
    return data


def context(catalogue: Catalogue, answers: dict[str, Any]) -> EnrichContext:
    """The context the enrichment stage builds, from a real rules evaluation."""
    evaluation = ReferenceEvaluator(catalogue, 1).evaluate(answers)
    update = {
        "revision": 1,
        "version": 1,
        "stage": "rules",
        "answers": answers,
        **Matcher(catalogue).match(evaluation, answers),
    }
    visible = frozenset(q["id"] for q in update["questions"] if q["visible"])
    return EnrichContext(catalogue, answers, visible, update)


async def estimates(
    data: dict[str, Any], answers: dict[str, Any], estimator: CostEstimator | None = None
) -> dict[str, dict[str, Any]]:
    ctx = context(parse_catalogue(data), answers)
    result = await (estimator or CostEstimator()).enrich(ctx)
    return {pid: fields["estimate"] for pid, fields in result.items()}


def reranked(estimator: CostEstimator, ctx: EnrichContext, extra: dict[str, dict[str, Any]]) -> list[str]:
    key = estimator.sort_key(ctx)
    assert key is not None
    plans = [{**p, **extra.get(p["id"], {})} for p in ctx.update["plans"]]
    return [p["id"] for p in sorted(plans, key=key)]


async def test_data_overage_is_priced_per_started_gb() -> None:
    got = await estimates(bundle(), {"gb": 12})
    assert got["small"] == {
        "monthly": 13.99,
        "currency": "EUR",
        "explanation": "9.99 base + 2 extra GB x 2.00 = 13.99 EUR/month",
    }
    assert got["big"]["explanation"] == "14.50 base = 14.50 EUR/month"
    assert (await estimates(bundle(), {"gb": 11.2}))["small"]["monthly"] == 13.99


async def test_minutes_and_setup_fee_spread_over_the_term() -> None:
    got = await estimates(bundle(), {"gb": 30, "calls": 150})
    assert got["small"] == {
        "monthly": 54.99,
        "currency": "EUR",
        "explanation": "9.99 base + 20 extra GB x 2.00 + 50 extra min x 0.10 = 54.99 EUR/month",
    }
    # A price per unit of 0 (unlimited) adds nothing; 9.99 / 24 = 0.41625 -> 0.42.
    assert got["contract"] == {
        "monthly": 7.42,
        "currency": "EUR",
        "explanation": "7.00 base + 0.42 setup (9.99 over 24 months) = 7.42 EUR/month",
    }


async def test_prices_with_more_than_two_decimals_are_shown_as_they_are() -> None:
    data = bundle()
    data["plans"][0]["attributes"]["pricePerMinute"] = 0.085
    got = await estimates(data, {"calls": 103})
    assert got["small"]["explanation"] == "9.99 base + 3 extra min x 0.085 = 10.25 EUR/month"


async def test_setup_fee_without_a_term_spreads_over_default_months() -> None:
    data = bundle()
    data["plans"][2]["attributes"]["contractMonths"] = 0
    got = await estimates(data, {})
    assert got["contract"]["explanation"] == "7.00 base + 0.83 setup (9.99 over 12 months) = 7.83 EUR/month"
    got = await estimates(data, {}, CostEstimator(default_months=6))
    assert got["contract"]["monthly"] == 8.67


async def test_only_the_first_min_question_counts_and_hidden_answers_are_ignored() -> None:
    got = await estimates(bundle(), {"abroad": 900, "hiddenGb": 40})
    assert got["small"]["explanation"] == "9.99 base = 9.99 EUR/month"
    got = await estimates(bundle(), {"hiddenGb": 40, "wantFast": True})
    assert got["small"]["monthly"] == 9.99  # "gb" is the first GB question; it is unanswered


async def test_plan_lacking_a_value() -> None:
    data = bundle()
    del data["plans"][0]["attributes"]["extraGbPrice"]
    del data["plans"][1]["attributes"]["monthlyPrice"]
    got = await estimates(data, {"gb": 15})
    assert got["small"] == {
        "monthly": 9.99,
        "currency": "EUR",
        "explanation": "9.99 base = 9.99 EUR/month (5 extra GB not priced)",
    }
    assert "big" not in got


async def test_currency_and_attributes_found_by_unit() -> None:
    data = bundle(
        attributes=[
            {"key": "colour", "type": "text", "label": "Colour"},
            {"key": "fee", "type": "number", "label": "Fee", "unit": "GBP"},
            {"key": "allowance", "type": "number", "label": "Data", "unit": "gb"},
            {"key": "perGb", "type": "number", "label": "Per GB", "unit": "GBP/GB"},
        ],
        plans=[plan("a", fee=5, allowance=1, perGb=0.5)],
        questions=[{"id": "data", "text": "GB?", "type": "number", "unit": "GB"}],
        rules=[],
        ranking={"order": [{"by": "fee"}]},
    )
    got = await estimates(data, {"data": 4})
    assert got == {
        "a": {
            "monthly": 6.5,
            "currency": "GBP",
            "explanation": "5.00 base + 3 extra GB x 0.50 = 6.50 GBP/month",
        }
    }


async def test_no_op_without_a_price_attribute() -> None:
    data = bundle(
        attributes=[
            {"key": "dataGb", "type": "number", "label": "Data", "unit": "GB"},
            {"key": "monthlyPrice", "type": "number", "label": "Price"},  # no currency unit
        ],
        plans=[plan("a", dataGb=5, monthlyPrice=3)],
        questions=[{"id": "gb", "text": "GB?", "type": "number", "unit": "GB"}],
        rules=[],
        ranking={"order": [{"by": "monthlyPrice"}]},
    )
    estimator = CostEstimator()
    ctx = context(parse_catalogue(data), {"gb": 10})
    assert await estimator.enrich(ctx) == {}
    assert estimator.sort_key(ctx) is None


async def test_choice_mapping_is_optional_and_checked_against_the_catalogue() -> None:
    class Mapped(CostEstimator):
        choice_usage = {"GB": {"usage": {"low": 2, "lots": 30}}, "min": {"usage": {"nope": 9}}}

    assert (await estimates(bundle(), {"usage": "lots"}))["small"]["monthly"] == 9.99
    got = await estimates(bundle(), {"usage": "lots"}, Mapped())
    assert got["small"]["explanation"] == "9.99 base + 20 extra GB x 2.00 = 49.99 EUR/month"
    got = await estimates(bundle(), {"usage": "lots", "gb": 11}, Mapped())
    assert got["small"]["monthly"] == 11.99  # the number question wins
    other = CostEstimator(choice_usage={"GB": {"wantFast": {"low": 2}}})  # not a choice question
    assert (await estimates(bundle(), {"wantFast": False}, other))["small"]["monthly"] == 9.99


async def test_sort_key_replaces_the_price_by_the_estimate() -> None:
    estimator = CostEstimator()
    ctx = context(parse_catalogue(bundle()), {"gb": 30, "wantFast": True})
    assert [p["id"] for p in ctx.update["plans"]] == ["contract", "small", "big"]
    extra = await estimator.enrich(ctx)
    # contract keeps first place on score; small (49.99) now costs more than big (14.50).
    assert reranked(estimator, ctx, extra) == ["contract", "big", "small"]
    # A plan without an estimate sorts after those with one, within its score.
    del extra["big"]
    assert reranked(estimator, ctx, extra) == ["contract", "small", "big"]


@pytest.mark.parametrize(
    "order",
    [
        [{"by": "score", "dir": "desc"}],
        [{"by": "monthlyPrice", "dir": "desc"}],
        [{"by": "fast", "dir": "desc"}, {"by": "dataGb"}],
    ],
)
async def test_no_reranking_unless_the_ranking_sorts_by_price_ascending(order: list[dict[str, str]]) -> None:
    data = bundle(ranking={"order": order})
    estimator = CostEstimator()
    ctx = context(parse_catalogue(data), {"gb": 30})
    assert await estimator.enrich(ctx)
    assert estimator.sort_key(ctx) is None


async def test_sort_key_follows_other_keys_of_the_ranking() -> None:
    data = bundle(ranking={"order": [{"by": "fast", "dir": "desc"}, {"by": "monthlyPrice"}]})
    data["plans"][1]["attributes"]["fast"] = False
    estimator = CostEstimator()
    ctx = context(parse_catalogue(data), {"gb": 30})
    # fast desc: true, false, then missing (last in either direction); price replaced by estimate.
    assert reranked(estimator, ctx, await estimator.enrich(ctx)) == ["contract", "big", "small"]


def test_cost_is_a_built_in_enricher() -> None:
    [enricher] = load_enrichers(("cost",))
    assert isinstance(enricher, CostEstimator) and enricher.name == "cost"


class Failing:
    """An enricher that always raises: the others and the rules update must not care."""

    name = "failing"

    async def enrich(self, ctx: EnrichContext) -> dict[str, dict[str, Any]]:
        raise RuntimeError("boom")

    def sort_key(self, ctx: EnrichContext) -> None:
        return None


class Slow(Failing):
    """An enricher slower than the timeout."""

    name = "slow"

    async def enrich(self, ctx: EnrichContext) -> dict[str, dict[str, Any]]:
        await asyncio.sleep(30)
        return {p["id"]: {"slow": True} for p in ctx.update["plans"]}


async def updates_until_enriched(ws: WS, revision: int) -> list[dict[str, Any]]:
    """The ``recommendationUpdates`` of ``revision`` up to its enriched one (earlier revisions skipped)."""
    got: list[dict[str, Any]] = []
    while True:
        event, data = await asyncio.wait_for(ws.recv(), 5)
        assert event == "recommendationUpdates", (event, data)
        if data["revision"] < revision:
            continue
        assert data["revision"] == revision, data
        got.append(data)
        if data["stage"] == "enriched":
            return got


@pytest.mark.parametrize(
    "enrichers",
    [("cost",), (f"{__name__}:Failing", "cost", f"{__name__}:Slow")],
    ids=["cost", "with-failing-and-slow"],
)
async def test_enriched_update_follows_the_rules_update(tmp_path: Path, enrichers: tuple[str, ...]) -> None:
    settings = settings_for(tmp_path, demo_bundle=str(DEMO), enrichers=enrichers, enrich_timeout=0.3)
    app: Quart = create_app(settings)
    async with app.test_app(), app.test_client().websocket("/ws") as raw:
        ws = WS(raw)
        await ws.opening({})
        answers = {"dataGbPerMonth": 14, "callMinutes": 400}
        await ws.send("userResponse", {"answers": answers}, id="u1")
        received = await updates_until_enriched(ws, 1)

    # First the rules update, then the enriched one (nothing but rules updates in between).
    assert [u["stage"] for u in received[:-1]] and all(u["stage"] == "rules" for u in received[:-1])
    rules, enriched = received[0], received[-1]
    assert rules["replyTo"] == "u1"
    for field in ("version", "answers", "questions", "excluded", "totalPlans", "matchedPlans"):
        assert enriched[field] == rules[field], field
    assert rules["plans"] and all("estimate" not in p for p in rules["plans"])
    # Re-ranking covers every matched plan, then the same limit applies: a plan below the rules
    # page may enter it (see test_enrich_rerank.py), so the page has the same size, not the same ids.
    excluded = {e["id"] for e in rules["excluded"]}
    assert len(enriched["plans"]) == len(rules["plans"])
    assert not excluded & {p["id"] for p in enriched["plans"]}
    assert [p["rank"] for p in enriched["plans"]] == list(range(1, len(rules["plans"]) + 1))
    before = {p["id"]: p for p in rules["plans"]}
    for p in enriched["plans"]:
        if p["id"] in before:
            assert p["score"] == before[p["id"]]["score"] and p["reasons"] == before[p["id"]]["reasons"]
            assert p["attributes"] == before[p["id"]]["attributes"]
        assert "slow" not in p
        estimate = p["estimate"]
        assert estimate["currency"] == "EUR" and estimate["monthly"] >= p["attributes"]["monthlyPrice"]
        assert estimate["explanation"].endswith(f"= {estimate['monthly']:.2f} EUR/month")
    # The demo ranks by score desc, monthlyPrice asc: the enriched stage by score desc, estimate asc.
    keys = [(-p["score"], p["estimate"]["monthly"], p["id"]) for p in enriched["plans"]]
    assert keys == sorted(keys)
    assert [p["id"] for p in enriched["plans"]] != [p["id"] for p in rules["plans"]]


def test_demo_catalogue_follows_the_conventions() -> None:
    data = json.loads(DEMO.read_text())
    catalogue = parse_catalogue(data)
    tariff = CostEstimator().tariff(catalogue)
    assert tariff is not None and tariff.currency == "EUR" and tariff.price == "monthlyPrice"
    assert {(d.unit, d.question) for d in tariff.dimensions} == {
        ("GB", "dataGbPerMonth"),
        ("min", "callMinutes"),
    }
    assert (tariff.setup_fee, tariff.term) == ("setupFee", "contractMonths")


# -- the integer fast path against the Decimal definition ----------------------------------------------

CENT = Decimal("0.01")


def oracle_number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return Decimal(str(value))


def oracle_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def oracle_estimate(
    tariff: Tariff, attributes: dict[str, Any], usage: dict[str, Decimal | None], default_months: int
) -> dict[str, Any] | None:
    """The estimate as first written, all in Decimal: the definition the fast path must reproduce."""
    base = oracle_number(attributes.get(tariff.price))
    if base is None:
        return None
    total = oracle_cents(base)
    parts = [f"{total} base"]
    notes: list[str] = []
    for dimension in tariff.dimensions:
        used = usage.get(dimension.unit)
        allowance = oracle_number(attributes.get(dimension.allowance))
        if used is None or allowance is None or used <= allowance:
            continue
        extra = Decimal(math.ceil(used - allowance))
        label = {"GB": "GB", "min": "min"}[dimension.unit]
        quantity = f"{oracle_cents(extra):f}".rstrip("0").rstrip(".")
        unit_price = oracle_number(attributes.get(dimension.overage))
        if unit_price is None:
            notes.append(f"{quantity} extra {label} not priced")
        elif unit_price > 0:
            total += oracle_cents(extra * unit_price)
            money = (
                str(oracle_cents(unit_price))
                if unit_price == oracle_cents(unit_price)
                else f"{unit_price.normalize():f}"
            )
            parts.append(f"{quantity} extra {label} x {money}")
    fee = oracle_number(attributes.get(tariff.setup_fee)) if tariff.setup_fee else None
    if fee is not None and fee > 0:
        term = oracle_number(attributes.get(tariff.term)) if tariff.term else None
        months = int(term) if term is not None and term >= 1 else default_months
        share = oracle_cents(fee / months)
        total += share
        parts.append(f"{share} setup ({oracle_cents(fee)} over {months} months)")
    explanation = " + ".join(parts) + f" = {total} {tariff.currency}/month"
    if notes:
        explanation += " (" + "; ".join(notes) + ")"
    return {"monthly": float(total), "currency": tariff.currency, "explanation": explanation}


def random_amount(rng: random.Random, high: float = 100) -> Any:
    kind = rng.random()
    if kind < 0.3:
        return rng.randint(0, int(high))
    if kind < 0.9:
        return round(rng.uniform(0, high), rng.choice([0, 1, 2, 3, 4, 6]))
    return rng.choice([0, -0.0, -1.5, 0.005, 0.015, 0.125, 2.675, 1e-9, 1e16, 1e17, 2**60, 1.1, None, "9"])


def random_attributes(rng: random.Random) -> dict[str, Any]:
    attributes = {
        "monthlyPrice": random_amount(rng),
        # Whole allowances take the fast path, others (and huge ones) the Decimal one.
        "dataGb": rng.randint(0, 60) if rng.random() < 0.85 else random_amount(rng, 60),
        "extraGbPrice": random_amount(rng, 5),
        "minutes": rng.choice([rng.randint(0, 1000), 10000]) if rng.random() < 0.85 else random_amount(rng),
        "pricePerMinute": random_amount(rng, 0.5),
        "setupFee": random_amount(rng, 50),
        "contractMonths": rng.choice([0, 1, 6, 12, 24, 36, 7, 2.5, None]),
    }
    return {k: v for k, v in attributes.items() if v is not None and rng.random() < 0.95}


async def test_fast_path_matches_the_decimal_definition_on_random_inputs() -> None:
    rng = random.Random(20240611)
    catalogue = parse_catalogue(bundle())
    estimator = CostEstimator(default_months=rng.choice([1, 12]))
    tariff = estimator.tariff(catalogue)
    assert tariff is not None
    visible = frozenset(q.id for q in catalogue.questions)
    checked = raised = 0
    for round_ in range(300):
        plans = [{"id": f"p{i}", "attributes": random_attributes(rng)} for i in range(8)]
        for _ in range(10):
            answers = {
                "gb": rng.choice([random_amount(rng, 120), rng.uniform(0, 80), 1e17, True, -2, None]),
                "calls": rng.choice([random_amount(rng, 3000), rng.randint(0, 2000), None]),
            }
            update = {"revision": round_, "version": 1, "stage": "rules", "answers": answers, "plans": plans}
            ctx = EnrichContext(catalogue, answers, visible, update)
            usage = {"GB": None, "min": None}
            for unit, qid in (("GB", "gb"), ("min", "calls")):
                value = oracle_number(answers[qid])
                usage[unit] = value if value is not None and value >= 0 else None
            try:
                wanted = [
                    oracle_estimate(tariff, p["attributes"], usage, estimator.default_months) for p in plans
                ]
            except ArithmeticError:  # amounts too large for two decimals: the enricher fails the same way
                with pytest.raises(ArithmeticError):
                    await estimator.enrich(ctx)
                raised += 1
                continue
            got = await estimator.enrich(ctx)
            for p, want in zip(plans, wanted, strict=True):
                assert got.get(p["id"], {}).get("estimate") == want, (p, answers)
                if want is not None:
                    assert repr(got[p["id"]]["estimate"]["monthly"]) == repr(want["monthly"])
                checked += 1
    assert checked > 20000 and raised < 300


async def test_estimates_are_cached_per_catalogue_and_follow_changed_attributes() -> None:
    data = bundle()
    estimator = CostEstimator()
    first = await estimates(data, {"gb": 12}, estimator)
    data["plans"][0]["attributes"]["extraGbPrice"] = 3.0  # same plan id, another version
    second = await estimates(data, {"gb": 12}, estimator)
    assert first["small"]["monthly"] == 13.99 and second["small"]["monthly"] == 15.99
    ctx = context(parse_catalogue(data), {"gb": 12})
    [i] = [i for i, p in enumerate(ctx.update["plans"]) if p["id"] == "small"]
    ctx.update["plans"][i] = {**ctx.update["plans"][i], "attributes": {"monthlyPrice": 1}}
    assert (await estimator.enrich(ctx))["small"]["estimate"]["monthly"] == 1.0


async def test_enrich_skips_an_enricher_that_does_not_apply() -> None:
    data = bundle(
        attributes=[{"key": "monthlyPrice", "type": "number", "label": "Price"}],  # no currency unit
        plans=[plan("a", monthlyPrice=3)],
        questions=[{"id": "gb", "text": "GB?", "type": "number", "unit": "GB"}],
        rules=[],
        ranking={"order": [{"by": "monthlyPrice"}]},
    )
    catalogue = parse_catalogue(data)
    estimator = CostEstimator()
    assert not estimator.applies(catalogue) and estimator.applies(parse_catalogue(bundle()))
    live = SimpleNamespace(current=SimpleNamespace(version=1, catalogue=catalogue))
    stage = Enrichment(None, live, [estimator, Failing()])  # type: ignore[arg-type]
    assert await stage.enrich(context(catalogue, {"gb": 3}).update) is None
    assert stage.failed == 1  # an enricher without ``applies`` still runs
