"""The catalogue's estimate in the admin: the enriched stage for the simulator, the preview, the diff.

Everything here is worked out with ``rules.estimate`` (the same calculator the service uses) and
``Matcher.rerank``; nothing names an attribute, question or plan of a particular catalogue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rules.estimate import EstimateCalculator, calculator
from rules.evaluation import Evaluation
from rules.explanation import number_text
from rules.matcher import Matcher
from rules.model import Catalogue, Estimate

UNKNOWN_INPUT = "An input has no value (no answer and no default): no plan has an estimate."
INPUT_TYPES = ("number", "choice", "boolean")


@dataclass
class Tools:
    """What one catalogue needs to simulate: its matcher and (when it defines one) its calculator."""

    catalogue: Catalogue
    matcher: Matcher
    calc: EstimateCalculator | None

    @classmethod
    def of(cls, catalogue: Catalogue, matcher: Matcher | None = None) -> Tools:
        return cls(catalogue, matcher or Matcher(catalogue), calculator(catalogue))


@dataclass
class Enriched:
    """The enriched stage's result: the re-ranked part, every active plan's estimate, the rules' top."""

    part: dict[str, Any]
    values: dict[str, Decimal] = field(default_factory=dict)
    note: str = ""
    rules_top: str | None = None


def match_enriched(
    tools: Tools,
    evaluation: Evaluation,
    answers: Mapping[str, Any],
    matcher_part: dict[str, Any] | None = None,
) -> Enriched:
    """Match, then add each shown plan's estimate and re-rank by it when the ranking says so.

    As in the service's enriched stage: ``{"by": "estimate"}`` re-ranks every matched plan and
    ``ranking.limit`` applies afterwards. ``matcher_part`` is a rules part already computed (with
    the catalogue's limit); it is used as it is when nothing re-ranks.
    """
    catalogue, matcher, calc = tools.catalogue, tools.matcher, tools.calc
    visible = frozenset(evaluation.visible)
    inputs = calc.inputs(answers, visible) if calc is not None else None
    rerank = calc is not None and inputs is not None and matcher.ranks_by_estimate
    if rerank or matcher_part is None:
        limit = len(catalogue.active_plans) if rerank else None
        part = matcher.match(evaluation, answers, limit=limit)
    else:
        part = matcher_part
    plans: list[dict[str, Any]] = part["plans"]
    rules_order = [p["id"] for p in plans]
    if calc is None:
        return Enriched(part, rules_top=rules_order[0] if rules_order else None)
    if inputs is None:
        part = {**part, "plans": plans[: catalogue.ranking.limit]}
        return Enriched(part, note=UNKNOWN_INPUT, rules_top=rules_order[0] if rules_order else None)
    values = calc.for_plans(inputs, [p.id for p in catalogue.active_plans])
    rules_top = rules_order[0] if rules_order else None
    if rerank:
        by_id = {p["id"]: p for p in plans}
        ids = matcher.rerank(list(by_id), {p["id"]: p["score"] for p in plans}, values)
        plans = [{**by_id[pid], "rank": rank} for rank, pid in enumerate(ids, start=1)]
        plans = plans[: catalogue.ranking.limit]
    else:
        plans = [dict(p) for p in plans]
    for plan in plans:
        value = values.get(plan["id"])
        if value is not None:
            plan["estimate"] = calc.payload(catalogue.plan_by_id[plan["id"]], inputs, value)
    return Enriched({**part, "plans": plans}, values, rules_top=rules_top)


def show_value(estimate: Estimate | None, value: Any) -> str:
    """A value as staff read it: exactly ``decimals`` digits, then the currency and unit."""
    if value is None:
        return ""
    number = Decimal(str(value))
    if estimate is None:
        return format(number, "f")
    parts = [format(number.quantize(Decimal(1).scaleb(-estimate.decimals)), "f")]
    parts += [p for p in (estimate.currency, estimate.unit) if p]
    return " ".join(parts)


@dataclass
class PreviewRow:
    plan_id: str
    name: str
    value: str
    explanation: str


def preview(
    catalogue: Catalogue, answers: Mapping[str, Any], visible: frozenset[str]
) -> tuple[list[PreviewRow], str]:
    """Every active plan's estimate and explanation for these sample answers (or why there is none)."""
    calc = calculator(catalogue)
    if calc is None:
        return [], "The catalogue defines no estimate."
    inputs = calc.inputs(answers, visible)
    if inputs is None:
        return [], UNKNOWN_INPUT
    values = calc.for_plans(inputs, [p.id for p in catalogue.active_plans])
    rows = []
    for plan in catalogue.active_plans:
        value = values.get(plan.id)
        text = calc.explain(plan, inputs, value) if value is not None and calc.estimate.explanation else ""
        rows.append(PreviewRow(plan.id, plan.name, show_value(calc.estimate, value), text))
    inputs_text = ", ".join(f"{k} = {number_text(v)}" for k, v in inputs.items())
    return rows, f"Inputs: {inputs_text}." if inputs_text else ""


# -- readable diff ----------------------------------------------------------------------------------

ESTIMATE_FIELDS = ("label", "currency", "unit", "decimals", "explanation", "formula")


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def describe_input(spec: Any) -> str:
    """One input in words: ``answer QUESTION; map a → 1, b → 2; default 0``."""
    if not isinstance(spec, dict):
        return _text(spec)
    parts = [f"answer {_text(spec.get('answer'))}"]
    mapping = spec.get("map")
    if isinstance(mapping, dict):
        parts.append("map " + ", ".join(f"{k} → {_text(v)}" for k, v in mapping.items()))
    elif "map" in spec:
        parts.append(f"map {_text(mapping)}")
    if "default" in spec:
        parts.append(f"default {_text(spec.get('default'))}")
    return "; ".join(parts)


def _inputs_by_name(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, spec in enumerate(value if isinstance(value, list) else []):
        name = spec.get("name") if isinstance(spec, dict) else None
        out.setdefault(name if isinstance(name, str) else f"#{i + 1}", spec)
    return out


def estimate_changes(old: Any, new: Any) -> list[tuple[str, str, str]]:
    """(what, live, draft) lines for the estimate and display, in words rather than JSON."""
    old_b = old if isinstance(old, dict) else {}
    new_b = new if isinstance(new, dict) else {}
    changes: list[tuple[str, str, str]] = []
    before, after = old_b.get("estimate"), new_b.get("estimate")
    if before != after:
        if not isinstance(before, dict) or not isinstance(after, dict):
            gone = "no estimate"
            changes.append(
                (
                    "estimate",
                    _text(before.get("label")) if isinstance(before, dict) else gone,
                    _text(after.get("label")) if isinstance(after, dict) else gone,
                )
            )
        b_in, a_in = (
            (before or {}) if isinstance(before, dict) else {},
            (after or {}) if isinstance(after, dict) else {},
        )
        for name in ESTIMATE_FIELDS:
            if b_in.get(name) != a_in.get(name):
                changes.append((f"estimate {name}", _text(b_in.get(name)), _text(a_in.get(name))))
        b_inputs, a_inputs = _inputs_by_name(b_in.get("inputs")), _inputs_by_name(a_in.get("inputs"))
        for name in list(b_inputs) + [n for n in a_inputs if n not in b_inputs]:
            b, a = b_inputs.get(name), a_inputs.get(name)
            if b != a:
                changes.append(
                    (
                        f"estimate input {name}",
                        describe_input(b) if name in b_inputs else "—",
                        describe_input(a) if name in a_inputs else "—",
                    )
                )
    b_head, a_head = _headline(old_b.get("display")), _headline(new_b.get("display"))
    if old_b.get("display") != new_b.get("display"):
        changes.append(("headline attributes", b_head, a_head))
    return changes


def _headline(display: Any) -> str:
    headline = display.get("headline") if isinstance(display, dict) else None
    if not isinstance(headline, list):
        return "—" if display is None else _text(display)
    return ", ".join(_text(k) for k in headline) or "—"
