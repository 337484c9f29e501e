"""The built-in ``cost`` enricher: an estimated monthly cost per plan from usage answers and tariffs."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import total_ordering
from typing import TYPE_CHECKING, Any

from rules.model import Catalogue

from .money import (
    _MAX_AMOUNT,
    _MAX_EXTRA,
    _ceil_usage,
    _cents,
    _cents_int,
    _cents_text,
    _fixed,
    _money,
    _number,
    _quantity,
)
from .tariff import DIMENSIONS, ChoiceUsage, Dimension, Tariff, _Overage, _PlanCost, _Prepared, discover

if TYPE_CHECKING:  # the stage imports the live catalogue and engine; an enricher needs neither
    from ..enrich import EnrichContext

__all__ = ["ChoiceUsage", "CostEstimator", "Dimension", "Tariff", "discover"]

#: Estimates remembered per plan (by overage units); the cache is emptied when it reaches this.
_RESULTS_PER_PLAN = 1024


@total_ordering
class _Desc:
    """Reverses the order of any comparable value (descending sort of text, enums, ...)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.value < self.value)

    def __hash__(self) -> int:
        return hash(self.value)


class CostEstimator:
    """Adds ``estimate: {monthly, currency, explanation}`` to each plan; may re-rank by it.

    ``choice_usage`` optionally maps choice answers to usage, by unit:
    ``{"GB": {"dataUsage": {"light": 3, "heavy": 40}}}`` (subclass and set it, or pass it).
    A number question with the same unit, when answered, wins over a choice.

    ``estimate`` is the exact (Decimal) definition; ``enrich`` gives the same result from integer
    cents and per-plan constants computed once per catalogue version, falling back to ``estimate``
    for any value outside the bounds where the two are proven equal (tests/service).
    """

    name = "cost"
    choice_usage: ChoiceUsage = {}
    #: Months a one-off setup fee is spread over when the plan has no minimum term.
    default_months = 12

    def __init__(self, choice_usage: ChoiceUsage | None = None, default_months: int | None = None) -> None:
        if choice_usage is not None:
            self.choice_usage = choice_usage
        if default_months is not None:
            self.default_months = default_months
        if self.default_months < 1:
            raise ValueError("default_months must be at least 1")
        self._cache: tuple[Catalogue, _Prepared | None] | None = None

    def _prepared(self, catalogue: Catalogue) -> _Prepared | None:
        """The per-version data, computed once per catalogue version (None: no price, nothing to do)."""
        cache = self._cache
        if cache is None or cache[0] is not catalogue:
            tariff = discover(catalogue, self.choice_usage)
            cache = self._cache = (catalogue, None if tariff is None else _Prepared(tariff))
        return cache[1]

    def tariff(self, catalogue: Catalogue) -> Tariff | None:
        """The conventions applied to ``catalogue``, computed once per catalogue version."""
        prepared = self._prepared(catalogue)
        return None if prepared is None else prepared.tariff

    def applies(self, catalogue: Catalogue) -> bool:
        """Whether ``enrich`` can add anything for this catalogue (it has a price attribute)."""
        return self._prepared(catalogue) is not None

    async def enrich(self, ctx: EnrichContext) -> dict[str, dict[str, Any]]:
        prepared = self._prepared(ctx.catalogue)
        if prepared is None:
            return {}
        tariff = prepared.tariff
        raw = [self._raw_usage(d, ctx) for d in tariff.dimensions]
        ceils = [_ceil_usage(u) for u in raw]
        fast_usage = all(c is not None or u is None for c, u in zip(ceils, raw, strict=True))
        exact: dict[str, Decimal | None] | None = None  # the usage for ``estimate``, when needed
        plans = prepared.plans
        out: dict[str, dict[str, Any]] = {}
        for plan in ctx.update["plans"]:
            plan_id = plan["id"]
            attributes = plan.get("attributes", {})
            info = plans.get(plan_id)
            if info is None or (info.attributes is not attributes and info.attributes != attributes):
                info = plans[plan_id] = self._plan_cost(tariff, attributes)
            if not info.priced:
                continue
            result = None
            if info.fast and fast_usage:
                extras = tuple(
                    max(0, used - allowance) if (used := ceils[index]) is not None else 0
                    for index, allowance, *_ in info.overages
                )
                result = info.results.get(extras)
                if result is None and max(extras, default=0) < _MAX_EXTRA:
                    if len(info.results) >= _RESULTS_PER_PLAN:
                        info.results.clear()
                    result = info.results[extras] = self._fast_estimate(tariff, info, extras)
            if result is None:  # outside the fast path: the exact definition
                if exact is None:
                    exact = {d.unit: _number(u) for d, u in zip(tariff.dimensions, raw, strict=True)}
                result = self.estimate(tariff, attributes, exact)
                if result is not None:
                    out[plan_id] = {"estimate": result}
            else:
                out[plan_id] = {"estimate": dict(result)}
        return out

    def _plan_cost(self, tariff: Tariff, attributes: Mapping[str, Any]) -> _PlanCost:
        """The per-plan constants of the fast path (``priced`` False: the plan has no price)."""
        base = _number(attributes.get(tariff.price))
        if base is None:
            return _PlanCost(attributes, fast=False, priced=False)
        try:
            return self._plan_constants(tariff, attributes, base)
        except ArithmeticError:  # e.g. a price too large to quantize: ``estimate`` raises the same
            return _PlanCost(attributes, fast=False)

    def _plan_constants(self, tariff: Tariff, attributes: Mapping[str, Any], base: Decimal) -> _PlanCost:
        slow = _PlanCost(attributes, fast=False)
        if base.is_signed() or base >= _MAX_AMOUNT:
            return slow
        info = _PlanCost(attributes, fast=True, base=_cents_int(base), head=f"{_cents(base)} base")
        overages: list[_Overage] = []
        for index, dimension in enumerate(tariff.dimensions):
            allowance = _number(attributes.get(dimension.allowance))
            if allowance is None:
                continue
            if allowance != allowance.to_integral_value() or abs(allowance) >= _MAX_AMOUNT:
                return slow
            label = DIMENSIONS[dimension.unit]
            unit_price = _number(attributes.get(dimension.overage))
            if unit_price is None:
                overages.append((index, int(allowance), 0, 0, label, ""))
            elif unit_price > 0:
                fixed = _fixed(unit_price)
                if fixed is None:
                    return slow
                overages.append((index, int(allowance), *fixed, label, _money(unit_price)))
        info.overages = tuple(overages)
        fee = _number(attributes.get(tariff.setup_fee)) if tariff.setup_fee else None
        if fee is not None and fee > 0:
            if fee >= _MAX_AMOUNT:
                return slow
            term = _number(attributes.get(tariff.term)) if tariff.term else None
            months = int(term) if term is not None and term >= 1 else self.default_months
            share = _cents(fee / months)
            info.setup = _cents_int(share)
            info.setup_text = f"{share} setup ({_cents(fee)} over {months} months)"
        return info

    @staticmethod
    def _fast_estimate(tariff: Tariff, info: _PlanCost, extras: tuple[int, ...]) -> dict[str, Any]:
        """``estimate`` in integer cents, for a plan and overage units within the fast-path bounds."""
        total = info.base
        parts = [info.head]
        notes: list[str] = []
        for (_, _, price, exponent, label, money), extra in zip(info.overages, extras, strict=True):
            if not extra:
                continue
            if not price:
                notes.append(f"{extra} extra {label} not priced")
                continue
            amount = extra * price
            if exponent <= 0:
                total += amount * 10**-exponent
            else:
                scale = 10**exponent
                whole, rest = divmod(amount, scale)
                total += whole + (2 * rest >= scale)  # ROUND_HALF_UP of a positive amount
            parts.append(f"{extra} extra {label} x {money}")
        if info.setup_text is not None:
            total += info.setup
            parts.append(info.setup_text)
        explanation = " + ".join(parts) + f" = {_cents_text(total)} {tariff.currency}/month"
        if notes:
            explanation += " (" + "; ".join(notes) + ")"
        return {"monthly": total / 100, "currency": tariff.currency, "explanation": explanation}

    @staticmethod
    def _raw_usage(dimension: Dimension, ctx: EnrichContext) -> int | float | None:
        """The usage ``usage`` gives, as the answer or mapped number it comes from."""
        if dimension.question is not None and dimension.question in ctx.visible:
            answer = ctx.answers.get(dimension.question)
            # As ``_number(answer) >= 0``, without building a Decimal.
            if (
                not isinstance(answer, bool)
                and isinstance(answer, int | float)
                and math.isfinite(answer)
                and answer >= 0
            ):
                return answer
        for qid, mapping in dimension.choices:
            answer = ctx.answers.get(qid)
            if qid in ctx.visible and isinstance(answer, str) and answer in mapping:
                return mapping[answer]
        return None

    @staticmethod
    def usage(dimension: Dimension, ctx: EnrichContext) -> Decimal | None:
        """The person's monthly usage in ``dimension`` from visible answers, or None when unknown."""
        return _number(CostEstimator._raw_usage(dimension, ctx))

    def estimate(
        self, tariff: Tariff, attributes: Mapping[str, Any], usage: Mapping[str, Decimal | None]
    ) -> dict[str, Any] | None:
        """One plan's estimate, or None when the plan has no price."""
        base = _number(attributes.get(tariff.price))
        if base is None:
            return None
        total = _cents(base)
        parts = [f"{total} base"]
        notes: list[str] = []
        for dimension in tariff.dimensions:
            used = usage.get(dimension.unit)
            allowance = _number(attributes.get(dimension.allowance))
            if used is None or allowance is None or used <= allowance:
                continue
            # Overage is billed per started unit (a started GB or minute counts in full).
            extra = Decimal(math.ceil(used - allowance))
            label = DIMENSIONS[dimension.unit]
            unit_price = _number(attributes.get(dimension.overage))
            if unit_price is None:
                notes.append(f"{_quantity(extra)} extra {label} not priced")
            elif unit_price > 0:
                cost = _cents(extra * unit_price)
                total += cost
                parts.append(f"{_quantity(extra)} extra {label} x {_money(unit_price)}")
        fee = _number(attributes.get(tariff.setup_fee)) if tariff.setup_fee else None
        if fee is not None and fee > 0:
            term = _number(attributes.get(tariff.term)) if tariff.term else None
            months = int(term) if term is not None and term >= 1 else self.default_months
            share = _cents(fee / months)
            total += share
            parts.append(f"{share} setup ({_cents(fee)} over {months} months)")
        explanation = " + ".join(parts) + f" = {total} {tariff.currency}/month"
        if notes:
            explanation += " (" + "; ".join(notes) + ")"
        return {"monthly": float(total), "currency": tariff.currency, "explanation": explanation}

    def sort_key(self, ctx: EnrichContext) -> Callable[[dict[str, Any]], Any] | None:
        """The catalogue's ranking order with the price replaced by the estimate, when it sorts by price."""
        prepared = self._prepared(ctx.catalogue)
        if prepared is None:
            return None
        if not prepared.sort_key_known:  # the same for every update of this version
            prepared.sort_key = self._sort_key(ctx.catalogue, prepared.tariff)
            prepared.sort_key_known = True
        return prepared.sort_key

    def _sort_key(self, catalogue: Catalogue, tariff: Tariff) -> Callable[[dict[str, Any]], Any] | None:
        order = catalogue.ranking.order
        if not any(o.by == tariff.price and o.dir == "asc" for o in order):
            return None
        parts = [self._part(catalogue, o.by, o.dir == "desc", tariff.price) for o in order]
        if len(parts) == 2:  # the usual "score desc, price asc", without a generator per plan
            first, second = parts
            return lambda plan: (first(plan), second(plan), plan["id"])

        def key(plan: dict[str, Any]) -> tuple[Any, ...]:
            return (*[part(plan) for part in parts], plan["id"])

        return key

    @staticmethod
    def _part(catalogue: Catalogue, by: str, desc: bool, price: str) -> Callable[[dict[str, Any]], Any]:
        """One ranking key as CATALOGUE.md sorts it: missing values last in either direction."""
        if by == "score":
            return lambda p: -p["score"] if desc else p["score"]
        if by == price:
            return lambda p: (0, p["estimate"]["monthly"]) if "estimate" in p else (1, 0)
        attribute = catalogue.attribute_by_key.get(by)
        index = {v: i for i, v in enumerate(attribute.options)} if attribute is not None else {}
        enum = attribute is not None and attribute.type == "enum"

        def part(p: dict[str, Any]) -> Any:
            value = p.get("attributes", {}).get(by)
            if enum:
                value = index.get(value)
            if value is None:
                return (1, 0)
            if isinstance(value, bool):
                value = int(value)
            if desc:
                return (0, -value if isinstance(value, int | float) else _Desc(value))
            return (0, value)

        return part
