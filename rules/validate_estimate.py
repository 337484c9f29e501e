"""Checks of ``estimate`` and ``display`` (CATALOGUE.md, "Estimate and display")."""

from __future__ import annotations

import re

from .answers import is_integer, is_number, suggest
from .explanation import EXPLANATION_PLACEHOLDER
from .formula import MAX_FORMULA_LENGTH, NAME_SYNTAX, Attr, FormulaError, Name, parse_formula, walk
from .model import JSON
from .validate_report import MAX_OPTIONS, Report, at, describe, item, quote
from .validate_shape import Index

MAX_INPUTS = 50
MAX_HEADLINE = 6
MAX_DECIMALS = 6
INPUT_TYPES = ("number", "choice", "boolean")
# Fixed pattern: an ISO 4217 style code, as Intl.NumberFormat expects it.
CURRENCY = re.compile(r"[A-Z]{3}")


def check_estimate(report: Report, index: Index, data: dict[str, JSON]) -> None:
    """Every problem of ``estimate``: keys, texts, inputs, the formula and the explanation."""
    if "estimate" not in data:
        return
    estimate = data["estimate"]
    if not isinstance(estimate, dict):
        report.add("estimate", f"'estimate' must be an object, not {describe(estimate)}")
        return
    report.keys(
        estimate,
        "estimate",
        ("label", "formula"),
        ("inputs", "unit", "currency", "decimals", "explanation"),
    )
    report.text(estimate, "label", "estimate", required=True)
    report.text(estimate, "unit", "estimate")
    report.text(estimate, "explanation", "estimate")
    currency = estimate.get("currency")
    if "currency" in estimate and (not isinstance(currency, str) or not CURRENCY.fullmatch(currency)):
        report.add(
            "estimate.currency",
            f"'currency' must be a three-letter currency code like 'EUR' or 'GBP', not {describe(currency)}",
        )
    decimals = estimate.get("decimals")
    if "decimals" in estimate and (not is_integer(decimals) or not 0 <= decimals <= MAX_DECIMALS):
        report.add("estimate.decimals", f"'decimals' must be an integer from 0 to {MAX_DECIMALS}")
    names = _inputs(report, index, estimate)
    used = _formula(report, index, estimate, names)
    if used is not None:
        for name, path in names.items():
            if name not in used:
                report.add(path, f"The input {quote(name)} is not used by the formula; use it or remove it")
    explanation = estimate.get("explanation")
    if isinstance(explanation, str):
        _explanation(report, index, explanation)


def _inputs(report: Report, index: Index, estimate: dict[str, JSON]) -> dict[str, str]:
    """The valid input names with their paths."""
    names: dict[str, str] = {}
    items = report.items(estimate, "inputs", "estimate", MAX_INPUTS)
    for i, spec in enumerate(items or ()):
        path = item("estimate.inputs", i)
        if not isinstance(spec, dict):
            report.add(
                path,
                f'An input must be an object like {{"name": "kwh", "answer": "usage"}}, not {describe(spec)}',
            )
            continue
        report.keys(spec, path, ("name", "answer"), ("map", "default"))
        name = spec.get("name")
        if "name" in spec:
            if not isinstance(name, str) or not NAME_SYNTAX.fullmatch(name):
                report.add(
                    at(path, "name"),
                    f"{describe(name) if not isinstance(name, str) else quote(name)} is not a valid input "
                    "name: use 1 to 64 letters, digits or '_', starting with a letter",
                )
            elif name == "plan":
                report.add(at(path, "name"), "'plan' is reserved for plan attributes (plan.KEY)")
            elif name in names:
                report.add(at(path, "name"), f"Duplicate input name {quote(name)} (also at {names[name]})")
            else:
                names[name] = at(path, "name")
        if "default" in spec and not is_number(spec["default"]):
            report.add(at(path, "default"), f"'default' must be a number, not {describe(spec['default'])}")
        _input_answer(report, index, spec, path)
    return names


def _input_answer(report: Report, index: Index, spec: dict[str, JSON], path: str) -> None:
    """``answer`` names a number, choice or boolean question; ``map`` fits a choice question."""
    qid = spec.get("answer")
    question = index.questions.get(qid) if isinstance(qid, str) else None
    if "answer" in spec:
        known = index.question_ids
        if not isinstance(qid, str):
            report.add(at(path, "answer"), f"'answer' must be a question id, not {describe(qid)}")
        elif question is None and known is not None:
            report.add(at(path, "answer"), f"Unknown question {quote(qid)}{suggest(qid, sorted(known))}")
        elif question is not None and question.type not in INPUT_TYPES:
            report.add(
                at(path, "answer"),
                f"The question {quote(qid)} is a {question.type} question; an input reads a number, "
                "choice or boolean question",
            )
    if question is None or question.type not in INPUT_TYPES:
        return
    if question.type != "choice":
        if "map" in spec:
            report.add(
                at(path, "map"),
                "'map' is only for choice questions (number and yes/no answers are used as they are)",
            )
        return
    if "map" not in spec:
        report.add(
            at(path, "map"), f"A choice question needs 'map': a number for each option of {quote(qid)}"
        )
        return
    mapping = spec["map"]
    if not isinstance(mapping, dict):
        report.add(
            at(path, "map"), f"'map' must be an object of option value -> number, not {describe(mapping)}"
        )
        return
    if len(mapping) > MAX_OPTIONS:
        report.add(at(path, "map"), f"Too many entries: at most {MAX_OPTIONS}")
    options = [o.value for o in question.options]
    for key, value in mapping.items():
        where = at(at(path, "map"), key)
        if key not in options:
            report.add(where, f"{quote(key)} is not an option of {quote(qid)}{suggest(key, options)}")
        if not is_number(value):
            report.add(where, f"The value for {quote(key)} must be a number, not {describe(value)}")


def _formula(
    report: Report, index: Index, estimate: dict[str, JSON], names: dict[str, str]
) -> set[str] | None:
    """Parse and check names; the input names the formula uses, or None when it cannot be read."""
    if "formula" not in estimate:
        return None
    formula = estimate["formula"]
    if not isinstance(formula, str):
        report.add("estimate.formula", f"'formula' must be a text, not {describe(formula)}")
        return None
    if len(formula) > MAX_FORMULA_LENGTH:
        report.add("estimate.formula", f"The formula is too long: at most {MAX_FORMULA_LENGTH} characters")
        return None
    try:
        tree = parse_formula(formula)
    except FormulaError as exc:
        report.add("estimate.formula", f"Formula error at character {exc.position + 1}: {exc.message}")
        return None
    used: set[str] = set()
    inputs_known = "inputs" not in estimate or isinstance(estimate["inputs"], list)
    for node in walk(tree):
        where = f"Formula error at character {node.pos + 1}: "
        if isinstance(node, Name):
            used.add(node.name)
            if node.name not in names and inputs_known:
                hint = suggest(node.name, sorted(names)) or (
                    f" (inputs: {', '.join(sorted(names))})" if names else " (no inputs are defined)"
                )
                report.add("estimate.formula", f"{where}unknown name {quote(node.name)}{hint}")
        elif isinstance(node, Attr):
            _formula_attribute(report, index, node, where)
    return used


def _formula_attribute(report: Report, index: Index, node: Attr, where: str) -> None:
    known = index.attribute_keys
    attribute = index.attributes.get(node.key)
    if attribute is None:
        if known is not None:
            usable = sorted(k for k, a in index.attributes.items() if a.type in ("number", "boolean"))
            report.add(
                "estimate.formula",
                f"{where}unknown attribute {quote(node.key)}{suggest(node.key, usable or sorted(known))}",
            )
    elif attribute.type not in ("number", "boolean"):
        report.add(
            "estimate.formula",
            f"{where}{quote(node.key)} is a {attribute.type} attribute; a formula reads number and boolean "
            "attributes",
        )


def _explanation(report: Report, index: Index, text: str) -> None:
    """``{plan.KEY}`` must name a declared attribute (other braces stay as they are)."""
    known = index.attribute_keys
    if known is None:
        return
    for match in EXPLANATION_PLACEHOLDER.finditer(text):
        key = match.group(1)
        if key is not None and key not in known:
            report.add(
                "estimate.explanation",
                f"The placeholder {{plan.{key}}} names an unknown attribute{suggest(key, sorted(known))}",
            )


def check_display(report: Report, index: Index, data: dict[str, JSON]) -> None:
    """``display.headline``: 1 to 6 declared attribute keys, no repeats."""
    if "display" not in data:
        return
    display = data["display"]
    if not isinstance(display, dict):
        report.add("display", f"'display' must be an object, not {describe(display)}")
        return
    report.keys(display, "display", ("headline",))
    headline = display.get("headline")
    if "headline" not in display:
        return
    if not isinstance(headline, list):
        report.add(
            "display.headline", f"'headline' must be a list of attribute keys, not {describe(headline)}"
        )
        return
    if not 1 <= len(headline) <= MAX_HEADLINE:
        report.add(
            "display.headline", f"'headline' lists 1 to {MAX_HEADLINE} attribute keys, not {len(headline)}"
        )
    seen: dict[str, str] = {}
    known = index.attribute_keys
    for i, key in enumerate(headline[: MAX_HEADLINE * 10]):
        path = item("display.headline", i)
        if not isinstance(key, str):
            report.add(path, f"An attribute key must be a text, not {describe(key)}")
            continue
        if not report.unique(seen, key, path, "headline attribute"):
            continue
        if known is not None and key not in known:
            report.add(path, f"Unknown attribute {quote(key)}{suggest(key, sorted(known))}")
