"""A catalogue's tariff as the ``cost`` enricher discovers it (docs/enrichment.md), and per-version data."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rules.model import Attribute, Catalogue, Question

from .money import _number

CURRENCY = re.compile(r"[A-Z]{3}")

#: Usage dimensions: unit of the usage question and allowance -> how the explanation names a unit.
DATA = "GB"
MINUTES = "min"
DIMENSIONS = {DATA: "GB", MINUTES: "min"}

#: Well-known attribute keys, tried before discovery by unit.
PRICE_KEY = "monthlyPrice"
ALLOWANCE_KEYS = {DATA: "dataGb", MINUTES: "minutes"}
OVERAGE_KEYS = {DATA: "extraGbPrice", MINUTES: "pricePerMinute"}
SETUP_FEE_KEY = "setupFee"
TERM_KEY = "contractMonths"
TERM_UNITS = ("months", "month")

ChoiceUsage = Mapping[str, Mapping[str, Mapping[str, int | float]]]


@dataclass(frozen=True, slots=True)
class Dimension:
    """One usage dimension the catalogue supports: where the usage comes from, how overage is priced."""

    unit: str
    allowance: str
    overage: str
    question: str | None
    choices: tuple[tuple[str, Mapping[str, int | float]], ...]


@dataclass(frozen=True, slots=True)
class Tariff:
    """What the estimator found in one catalogue."""

    price: str
    currency: str
    dimensions: tuple[Dimension, ...]
    setup_fee: str | None
    term: str | None


def _unit_is(unit: str | None, *accepted: str) -> bool:
    return unit is not None and unit.strip().lower() in {a.lower() for a in accepted}


def _number_attribute(catalogue: Catalogue, key: str) -> Attribute | None:
    attribute = catalogue.attribute_by_key.get(key)
    return attribute if attribute is not None and attribute.type == "number" else None


def _find_attribute(
    catalogue: Catalogue, key: str, units: tuple[str, ...], discover_units: tuple[str, ...] = ()
) -> str | None:
    """Attribute ``key`` (unit None or in ``units``), else the first number one in ``discover_units``."""
    known = _number_attribute(catalogue, key)
    if known is not None and (known.unit is None or _unit_is(known.unit, *units)):
        return known.key
    for attribute in catalogue.attributes:
        if attribute.type == "number" and discover_units and _unit_is(attribute.unit, *discover_units):
            return attribute.key
    return None


def discover(catalogue: Catalogue, choice_usage: ChoiceUsage | None = None) -> Tariff | None:
    """Apply the conventions of docs/enrichment.md to ``catalogue``; None when it has no price."""
    price = _number_attribute(catalogue, PRICE_KEY)
    if price is None or price.unit is None or not CURRENCY.fullmatch(price.unit):
        price = next(
            (
                a
                for a in catalogue.attributes
                if a.type == "number" and a.unit is not None and CURRENCY.fullmatch(a.unit)
            ),
            None,
        )
    if price is None or price.unit is None:
        return None
    currency = price.unit
    dimensions: list[Dimension] = []
    for unit in DIMENSIONS:
        allowance = _find_attribute(catalogue, ALLOWANCE_KEYS[unit], (unit,), (unit,))
        per_unit = f"{currency}/{unit}"
        overage = _find_attribute(catalogue, OVERAGE_KEYS[unit], (currency, per_unit), (per_unit,))
        if allowance is None or overage is None:
            continue
        question = next(
            (q.id for q in catalogue.questions if q.type == "number" and _unit_is(q.unit, unit)), None
        )
        choices = tuple(
            (qid, mapping)
            for qid, mapping in (choice_usage or {}).get(unit, {}).items()
            if _is_choice(catalogue.question_by_id.get(qid), mapping)
        )
        if question is not None or choices:
            dimensions.append(Dimension(unit, allowance, overage, question, choices))
    setup_fee = _find_attribute(catalogue, SETUP_FEE_KEY, (currency,))
    term = _find_attribute(catalogue, TERM_KEY, TERM_UNITS, TERM_UNITS)
    return Tariff(price.key, currency, tuple(dimensions), setup_fee, term)


def _is_choice(question: Question | None, mapping: Mapping[str, int | float]) -> bool:
    """A configured choice mapping applies only to a choice question with those option values."""
    if question is None or question.type != "choice":
        return False
    values = {o.value for o in question.options}
    return all(v in values and _number(n) is not None and n >= 0 for v, n in mapping.items())


#: One priced dimension of a plan: (dimension index, allowance, unit price m, e, unit label, price text)
#: with the unit price m / 10**(e + 2); m is 0 when overage is not priced (a note, not a cost).
_Overage = tuple[int, int, int, int, str, str]


@dataclass(slots=True)
class _PlanCost:
    """What never changes for one plan of one catalogue version, and its estimates so far."""

    attributes: Mapping[str, Any]
    fast: bool
    priced: bool = True
    base: int = 0
    head: str = ""
    setup: int = 0
    setup_text: str | None = None
    overages: tuple[_Overage, ...] = ()
    results: dict[tuple[int, ...], dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class _Prepared:
    """The estimator's per-version data: the tariff, per-plan constants, the ranking key."""

    tariff: Tariff
    plans: dict[str, _PlanCost] = field(default_factory=dict)
    sort_key: Callable[[dict[str, Any]], Any] | None = None
    sort_key_known: bool = False
