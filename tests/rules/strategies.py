"""Hypothesis strategies: random valid catalogues and answer sets in the CATALOGUE.md language."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

ATTRIBUTES = [
    {"key": "price", "type": "number", "label": "Price", "unit": "EUR"},
    {"key": "data", "type": "number", "label": "Data"},
    {"key": "roam", "type": "boolean", "label": "Roaming"},
    {"key": "net", "type": "enum", "label": "Network", "options": ["n3", "n4", "n5"]},
    {"key": "perks", "type": "set", "label": "Perks"},
    {"key": "brand", "type": "text", "label": "Brand"},
]
OPTIONS = ["o1", "o2", "o3"]
MULTI = ["m1", "m2", "m3", "m4"]
FACTS = {"f1": ["a", "b"], "f2": ["a", "b"], "f3": ["a"]}

BASE_QUESTIONS: list[dict[str, Any]] = [
    {"id": "qn", "text": "Number?", "type": "number", "min": 0, "max": 10, "step": 1},
    {
        "id": "qc",
        "text": "Choice?",
        "type": "choice",
        "options": [{"value": v, "label": v.upper()} for v in OPTIONS],
    },
    {"id": "qb", "text": "Yes?", "type": "boolean"},
    {
        "id": "qm",
        "text": "Which?",
        "type": "multi",
        "options": [{"value": v, "label": v.upper()} for v in MULTI],
    },
    {"id": "qt", "text": "Text?", "type": "text"},
]
# Conditional questions: one on an answer, one on a fact.
COND_QUESTIONS: list[dict[str, Any]] = [
    {
        "id": "qn2",
        "text": "More?",
        "type": "number",
        "min": 0,
        "max": 10,
        "askWhen": {"answer": "qb", "op": "==", "value": True},
    },
    {
        "id": "qc2",
        "text": "Other?",
        "type": "choice",
        "options": [{"value": "x", "label": "X"}, {"value": "y", "label": "Y"}],
        "askWhen": {"fact": "f1", "op": "==", "value": "a"},
    },
]
QTYPES = {q["id"]: q["type"] for q in BASE_QUESTIONS + COND_QUESTIONS}
QVALUES: dict[str, st.SearchStrategy[Any]] = {
    "qn": st.integers(0, 10),
    "qn2": st.integers(0, 10),
    "qc": st.sampled_from(OPTIONS),
    "qc2": st.sampled_from(["x", "y"]),
    "qb": st.booleans(),
    "qm": st.lists(st.sampled_from(MULTI), unique=True, max_size=4).map(lambda v: sorted(v, key=MULTI.index)),
    "qt": st.sampled_from(["hello", "world", ""]),
}


def answer_test(qids: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A well-typed test on one answer."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        qid = draw(st.sampled_from(qids))
        kind = QTYPES[qid]
        if draw(st.integers(0, 9)) == 0:
            return {"answer": qid, "op": draw(st.sampled_from(["exists", "not_exists"]))}
        value = QVALUES[qid]
        if kind == "number":
            op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "between"]))
            if op in ("in", "not_in"):
                return {"answer": qid, "op": op, "value": draw(st.lists(value, min_size=1, max_size=3))}
            if op == "between":
                a, b = sorted([draw(value), draw(value)])
                return {"answer": qid, "op": op, "value": [a, b]}
            return {"answer": qid, "op": op, "value": draw(value)}
        if kind == "boolean":
            return {"answer": qid, "op": draw(st.sampled_from(["==", "!="])), "value": draw(value)}
        if kind == "multi":
            op = draw(st.sampled_from(["contains", "contains_any", "contains_all"]))
            if op == "contains":
                return {"answer": qid, "op": op, "value": draw(st.sampled_from(MULTI))}
            return {
                "answer": qid,
                "op": op,
                "value": draw(st.lists(st.sampled_from(MULTI), min_size=1, unique=True)),
            }
        op = draw(st.sampled_from(["==", "!=", "in", "not_in"]))
        if op in ("in", "not_in"):
            return {
                "answer": qid,
                "op": op,
                "value": draw(st.lists(value, min_size=1, max_size=3, unique=True)),
            }
        return {"answer": qid, "op": op, "value": draw(value)}

    return build()


def fact_test(positive: bool) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        key = draw(st.sampled_from(sorted(FACTS)))
        ops = ["==", "in", "exists"] if positive else ["==", "!=", "in", "not_in", "exists", "not_exists"]
        op = draw(st.sampled_from(ops))
        if op in ("exists", "not_exists"):
            return {"fact": key, "op": op}
        if op in ("in", "not_in"):
            return {
                "fact": key,
                "op": op,
                "value": draw(st.lists(st.sampled_from(FACTS[key]), min_size=1, unique=True)),
            }
        return {"fact": key, "op": op, "value": draw(st.sampled_from(FACTS[key]))}

    return build()


def answer_condition(qids: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A condition over answers only (``not`` allowed anywhere)."""
    return st.recursive(
        answer_test(qids),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda xs: {"all": xs}),
            st.lists(inner, max_size=3).map(lambda xs: {"any": xs}),
            inner.map(lambda x: {"not": x}),
        ),
        max_leaves=5,
    )


def when_condition(qids: list[str], use_facts: bool) -> st.SearchStrategy[dict[str, Any]]:
    """A rule ``when``: answer-only subtrees (any shape) combined with positive fact tests."""
    leaf = answer_condition(qids)
    if use_facts:
        leaf = st.one_of(leaf, fact_test(positive=True))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda xs: {"all": xs}),
            st.lists(inner, min_size=1, max_size=2).map(lambda xs: {"any": xs}),
        ),
        max_leaves=4,
    )


def plan_condition() -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.one_of(
        st.builds(
            lambda op, v: {"attribute": "price", "op": op, "value": v},
            st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
            st.integers(0, 60),
        ),
        st.builds(
            lambda op: {"attribute": "price", "op": op, "valueFrom": {"answer": "qn"}},
            st.sampled_from(["<=", ">=", "=="]),
        ),
        st.builds(
            lambda v: {"attribute": "data", "op": "between", "value": sorted(v)},
            st.lists(st.integers(0, 50), min_size=2, max_size=2),
        ),
        st.builds(lambda v: {"attribute": "roam", "op": "==", "value": v}, st.booleans()),
        st.builds(
            lambda op: {"attribute": "roam", "op": op, "valueFrom": {"answer": "qb"}},
            st.sampled_from(["==", "!="]),
        ),
        st.builds(
            lambda v: {"attribute": "net", "op": "in", "value": v},
            st.lists(st.sampled_from(["n3", "n4", "n5"]), min_size=1, unique=True),
        ),
        st.builds(lambda v: {"attribute": "perks", "op": "contains", "value": v}, st.sampled_from(MULTI)),
        st.builds(
            lambda op: {"attribute": "perks", "op": op, "valueFrom": {"answer": "qm"}},
            st.sampled_from(["contains_any", "contains_all"]),
        ),
        st.builds(lambda op: {"attribute": "data", "op": op}, st.sampled_from(["exists", "not_exists"])),
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=2).map(lambda xs: {"all": xs}),
            st.lists(inner, max_size=2).map(lambda xs: {"any": xs}),
            inner.map(lambda x: {"not": x}),
        ),
        max_leaves=3,
    )


def effect() -> st.SearchStrategy[dict[str, Any]]:
    because = st.sampled_from(
        ["Because", "For {answers.qc} and {facts.f1}", "Budget {answers.qn}", "{answers.qm}"]
    )
    return st.one_of(
        st.builds(lambda c, b: {"require": c, "because": b}, plan_condition(), because),
        st.builds(lambda c, b: {"exclude": c, "because": b}, plan_condition(), because),
        st.builds(
            lambda n, c, b: {"score": n, "where": c, "because": b},
            st.integers(-20, 20),
            plan_condition(),
            because,
        ),
        st.builds(lambda n: {"score": n}, st.sampled_from([1, 2.5, -3])),
        st.builds(lambda k, v: {"derive": {"fact": k, "value": v}}, *_fact_pair()),
    )


def _fact_pair() -> tuple[st.SearchStrategy[str], st.SearchStrategy[str]]:
    return st.sampled_from(["f1", "f2"]), st.sampled_from(["a", "b"])


@st.composite
def plans(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 8))
    out = []
    for i in range(count):
        attrs: dict[str, Any] = {}
        if draw(st.booleans()) or i == 0:
            attrs["price"] = draw(st.sampled_from([5, 9.99, 19.5, 29, 45, 60]))
        if draw(st.booleans()):
            attrs["data"] = draw(st.integers(0, 50))
        attrs["roam"] = draw(st.booleans())
        attrs["net"] = draw(st.sampled_from(["n3", "n4", "n5"]))
        attrs["perks"] = draw(st.lists(st.sampled_from(MULTI), unique=True, max_size=3))
        if draw(st.booleans()):
            attrs["brand"] = draw(st.sampled_from(["Acme", "Beta", "acme"]))
        out.append(
            {"id": f"p{i}", "name": f"Plan {i}", "attributes": attrs, "active": draw(st.booleans()) or i == 0}
        )
    return out


@st.composite
def catalogues(draw: st.DrawFn) -> dict[str, Any]:
    """A valid catalogue: base questions, two conditional ones, derive rules for every fact."""
    qids = [q["id"] for q in BASE_QUESTIONS]
    rules: list[dict[str, Any]] = []
    # Facts f1/f2/f3 are derived from answers only, so the conditional questions never form a cycle.
    for key, values in FACTS.items():
        for value in values:
            rules.append(
                {
                    "id": f"derive-{key}-{value}",
                    "name": f"Derive {key}={value}",
                    "when": draw(answer_condition(qids)),
                    "then": [{"derive": {"fact": key, "value": value}}],
                }
            )
    for i in range(draw(st.integers(1, 10))):
        rule: dict[str, Any] = {
            "id": f"r{i}",
            "name": f"Rule {i}",
            "when": draw(when_condition(qids + ["qn2", "qc2"], use_facts=True)),
            "then": draw(st.lists(effect(), min_size=1, max_size=3)),
        }
        if draw(st.booleans()):
            rule["priority"] = draw(st.integers(-5, 5))
        if draw(st.integers(0, 9)) == 0:
            rule["enabled"] = False
        rules.append(rule)
    # Derive effects in r-rules use f1/f2 only, which are also derived from answers: still acyclic
    # for qc2 (askWhen on f1) only if no r-rule deriving f1 tests qc2; keep it simple: strip those.
    for rule in rules:
        if rule["id"].startswith("r") and "qc2" in repr(rule["when"]):
            rule["then"] = [e for e in rule["then"] if "derive" not in e] or [{"score": 1}]
    order = draw(
        st.sampled_from(
            [
                [{"by": "score", "dir": "desc"}, {"by": "price"}],
                [{"by": "price", "dir": "desc"}],
                [{"by": "net"}, {"by": "roam", "dir": "desc"}, {"by": "brand"}],
                [{"by": "data", "dir": "desc"}, {"by": "score", "dir": "desc"}],
            ]
        )
    )
    return {
        "format": "plan-catalogue/1",
        "name": "Generated",
        "attributes": ATTRIBUTES,
        "plans": draw(plans()),
        "questions": BASE_QUESTIONS + COND_QUESTIONS,
        "rules": rules,
        "ranking": {"order": order, "limit": draw(st.integers(1, 5))},
    }


@st.composite
def answer_sets(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(sorted(QVALUES)), unique=True))
    return {qid: draw(QVALUES[qid]) for qid in chosen}
