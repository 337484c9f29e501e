"""Typed, immutable model of a validated catalogue bundle (format ``plan-catalogue/1``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FORMAT = "plan-catalogue/1"

JSON = Any
Answers = dict[str, JSON]
Facts = dict[str, frozenset[str]]


@dataclass(frozen=True, slots=True)
class AnswerTest:
    """A test on one answer: ``{"answer": QID, "op": OP, "value": V}``."""

    answer: str
    op: str
    value: JSON = None


@dataclass(frozen=True, slots=True)
class FactTest:
    """A test on a derived fact: ``{"fact": KEY, "op": OP, "value": V}``."""

    fact: str
    op: str
    value: JSON = None


@dataclass(frozen=True, slots=True)
class AttrTest:
    """A plan condition leaf: an attribute compared with a value or with an answer."""

    attribute: str
    op: str
    value: JSON = None
    value_from: str | None = None


@dataclass(frozen=True, slots=True)
class All:
    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Any


Condition = AnswerTest | FactTest | All | AnyOf | Not
PlanCondition = AttrTest | All | AnyOf | Not


@dataclass(frozen=True, slots=True)
class Require:
    cond: PlanCondition
    because: str


@dataclass(frozen=True, slots=True)
class Exclude:
    cond: PlanCondition
    because: str


@dataclass(frozen=True, slots=True)
class Score:
    points: int | float
    where: PlanCondition | None = None
    because: str | None = None


@dataclass(frozen=True, slots=True)
class Derive:
    fact: str
    value: str


Effect = Require | Exclude | Score | Derive


@dataclass(frozen=True, slots=True)
class Attribute:
    key: str
    type: str
    label: str
    unit: str | None = None
    description: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str
    help: str | None = None


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    type: str
    help: str | None = None
    ask_when: Condition | None = None
    options: tuple[Option, ...] = ()
    min: int | float | None = None
    max: int | float | None = None
    step: int | float | None = None
    unit: str | None = None
    max_length: int | None = None
    raw: dict[str, JSON] = field(default_factory=dict, compare=False, repr=False)

    def option_index(self) -> dict[str, int]:
        return {o.value: i for i, o in enumerate(self.options)}


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    when: Condition
    then: tuple[Effect, ...]
    priority: int = 0
    enabled: bool = True
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    id: str
    name: str
    attributes: dict[str, JSON]
    provider: str | None = None
    description: str | None = None
    active: bool = True
    raw: dict[str, JSON] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class OrderKey:
    by: str
    dir: str = "asc"


@dataclass(frozen=True, slots=True)
class Ranking:
    order: tuple[OrderKey, ...] = (OrderKey("score", "desc"),)
    limit: int = 20
    excluded_limit: int = 50
    #: At most this many reasons per excluded plan in an update (the first, by rule priority), with
    #: ``reasonsTotal`` when there were more; None: every reason (``explainPlan`` always gives all).
    excluded_reasons_limit: int | None = None


@dataclass(frozen=True, slots=True)
class EstimateInput:
    """A formula name fed by an answer: a number, a boolean (1/0) or a choice through ``map``."""

    name: str
    answer: str
    map: dict[str, int | float] | None = None
    default: int | float | None = None


@dataclass(frozen=True, slots=True)
class Estimate:
    """How a number per plan is worked out for this person (CATALOGUE.md, "Estimate and display")."""

    label: str
    formula: str
    inputs: tuple[EstimateInput, ...] = ()
    unit: str | None = None
    currency: str | None = None
    decimals: int = 2
    explanation: str | None = None

    def public(self) -> dict[str, JSON]:
        """What the questionnaire carries: everything but ``formula``, ``inputs`` and ``explanation``."""
        out: dict[str, JSON] = {"label": self.label}
        if self.unit is not None:
            out["unit"] = self.unit
        if self.currency is not None:
            out["currency"] = self.currency
        out["decimals"] = self.decimals
        return out


@dataclass(frozen=True, slots=True)
class Display:
    """Which attributes a plan card shows first, in order."""

    headline: tuple[str, ...]


@dataclass(frozen=True)
class Catalogue:
    """A validated catalogue with lookup tables; build it with :func:`parse_catalogue`."""

    name: str
    attributes: tuple[Attribute, ...]
    plans: tuple[Plan, ...]
    questions: tuple[Question, ...]
    rules: tuple[Rule, ...]
    ranking: Ranking
    description: str | None = None
    raw: dict[str, JSON] = field(default_factory=dict, compare=False, repr=False)
    estimate: Estimate | None = None
    display: Display | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "attribute_by_key", {a.key: a for a in self.attributes})
        object.__setattr__(self, "question_by_id", {q.id: q for q in self.questions})
        object.__setattr__(self, "rule_by_id", {r.id: r for r in self.rules})
        object.__setattr__(self, "plan_by_id", {p.id: p for p in self.plans})
        object.__setattr__(self, "active_plans", tuple(p for p in self.plans if p.active))

    attribute_by_key: dict[str, Attribute] = field(init=False, compare=False, repr=False)
    question_by_id: dict[str, Question] = field(init=False, compare=False, repr=False)
    rule_by_id: dict[str, Rule] = field(init=False, compare=False, repr=False)
    plan_by_id: dict[str, Plan] = field(init=False, compare=False, repr=False)
    active_plans: tuple[Plan, ...] = field(init=False, compare=False, repr=False)


def parse_condition(data: dict[str, JSON]) -> Condition:
    """Build a rule/askWhen condition from its (validated) JSON form."""
    if "all" in data:
        return All(tuple(parse_condition(c) for c in data["all"]))
    if "any" in data:
        return AnyOf(tuple(parse_condition(c) for c in data["any"]))
    if "not" in data:
        return Not(parse_condition(data["not"]))
    if "answer" in data:
        return AnswerTest(data["answer"], data["op"], _freeze(data.get("value")))
    return FactTest(data["fact"], data["op"], _freeze(data.get("value")))


def parse_plan_condition(data: dict[str, JSON]) -> PlanCondition:
    """Build a plan condition from its (validated) JSON form."""
    if "all" in data:
        return All(tuple(parse_plan_condition(c) for c in data["all"]))
    if "any" in data:
        return AnyOf(tuple(parse_plan_condition(c) for c in data["any"]))
    if "not" in data:
        return Not(parse_plan_condition(data["not"]))
    value_from = data.get("valueFrom")
    return AttrTest(
        data["attribute"],
        data["op"],
        _freeze(data.get("value")),
        value_from["answer"] if value_from else None,
    )


def _freeze(value: JSON) -> JSON:
    """Lists become tuples so that conditions are hashable and comparable."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def parse_effect(data: dict[str, JSON]) -> Effect:
    if "require" in data:
        return Require(parse_plan_condition(data["require"]), data["because"])
    if "exclude" in data:
        return Exclude(parse_plan_condition(data["exclude"]), data["because"])
    if "score" in data:
        where = data.get("where")
        return Score(data["score"], parse_plan_condition(where) if where else None, data.get("because"))
    return Derive(data["derive"]["fact"], data["derive"]["value"])


def parse_catalogue(data: dict[str, JSON]) -> Catalogue:
    """Build the model from a bundle that :func:`rules.validator.validate_bundle` accepted."""
    attributes = tuple(
        Attribute(
            a["key"], a["type"], a["label"], a.get("unit"), a.get("description"), tuple(a.get("options", ()))
        )
        for a in data["attributes"]
    )
    plans = tuple(
        Plan(
            p["id"],
            p["name"],
            dict(p["attributes"]),
            p.get("provider"),
            p.get("description"),
            p.get("active", True),
            raw=p,
        )
        for p in data["plans"]
    )
    questions = tuple(
        Question(
            q["id"],
            q["text"],
            q["type"],
            q.get("help"),
            parse_condition(q["askWhen"]) if "askWhen" in q else None,
            tuple(Option(o["value"], o["label"], o.get("help")) for o in q.get("options", ())),
            q.get("min"),
            q.get("max"),
            q.get("step"),
            q.get("unit"),
            q.get("maxLength"),
            raw=q,
        )
        for q in data["questions"]
    )
    rules = tuple(
        Rule(
            r["id"],
            r["name"],
            parse_condition(r["when"]),
            tuple(parse_effect(e) for e in r["then"]),
            r.get("priority", 0),
            r.get("enabled", True),
            r.get("description"),
        )
        for r in data["rules"]
    )
    ranking_data = data.get("ranking")
    ranking = (
        Ranking(
            tuple(OrderKey(o["by"], o.get("dir", "asc")) for o in ranking_data["order"]),
            ranking_data.get("limit", 20),
            ranking_data.get("excludedLimit", 50),
            ranking_data.get("excludedReasonsLimit"),
        )
        if ranking_data
        else Ranking()
    )
    return Catalogue(
        data["name"],
        attributes,
        plans,
        questions,
        rules,
        ranking,
        data.get("description"),
        raw=data,
        estimate=parse_estimate(data["estimate"]) if "estimate" in data else None,
        display=Display(tuple(data["display"]["headline"])) if "display" in data else None,
    )


def parse_estimate(data: dict[str, JSON]) -> Estimate:
    """Build the estimate from its (validated) JSON form."""
    inputs = tuple(
        EstimateInput(i["name"], i["answer"], dict(i["map"]) if "map" in i else None, i.get("default"))
        for i in data.get("inputs", ())
    )
    return Estimate(
        data["label"],
        data["formula"],
        inputs,
        data.get("unit"),
        data.get("currency"),
        data.get("decimals", 2),
        data.get("explanation"),
    )
