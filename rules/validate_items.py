"""Shape checks of the questions (with their options) and of the rules (with their effects)."""

from __future__ import annotations

from .answers import MAX_TEXT_ANSWER_LENGTH, is_integer, is_number
from .model import JSON, Option, Question
from .placeholders import format_number
from .validate_report import (
    MAX_EFFECTS_PER_RULE,
    MAX_OPTIONS,
    MAX_QUESTIONS,
    MAX_RULES,
    MAX_VALUE_LENGTH,
    Report,
    at,
    bad_number,
    describe,
    item,
    not_one_of,
    quote,
)
from .validate_shape import EffectShape, Index, RuleShape

QUESTION_TYPES = ("choice", "multi", "number", "boolean", "text")
EFFECT_KINDS = ("require", "exclude", "score", "derive")
# Keys that belong to some question types only.
_TYPED_KEYS: dict[str, tuple[str, ...]] = {
    "options": ("choice", "multi"),
    "min": ("number",),
    "max": ("number",),
    "step": ("number",),
    "unit": ("number",),
    "maxLength": ("text",),
}


def check_questions(report: Report, index: Index, data: dict[str, JSON]) -> None:
    items = report.items(data, "questions", "", MAX_QUESTIONS)
    if items is None:
        return
    ids: set[str] = set()
    complete = True  # every id is known: only then is a reference "unknown"
    seen: dict[str, str] = {}
    for i, question in enumerate(items):
        path = item("questions", i)
        if not isinstance(question, dict):
            report.add(path, f"A question must be an object, not {describe(question)}")
            complete = False
            continue
        qid = question.get("id")
        if isinstance(qid, str):
            ids.add(qid)  # even a malformed id: references to it are not "unknown" on top
        else:
            complete = False
        id_ok = False
        if "id" in question and report.ident(qid, at(path, "id"), "question id"):
            id_ok = report.unique(seen, qid, at(path, "id"), "question id")
        built = _check_question(report, question, path)
        if "askWhen" in question:
            index.ask_whens.append((qid if id_ok else None, at(path, "askWhen"), question["askWhen"]))
        if id_ok and built is not None:
            index.questions[built.id] = built
    index.question_ids = ids if complete else None


def _check_question(report: Report, q: dict[str, JSON], path: str) -> Question | None:
    """Check a question's own fields; return its model (without askWhen) when its type is usable."""
    raw_kind = q.get("type")
    kind = raw_kind if isinstance(raw_kind, str) and raw_kind in QUESTION_TYPES else None
    if "type" in q and kind is None:
        report.add(at(path, "type"), not_one_of("question type", raw_kind, QUESTION_TYPES))
    required: tuple[str, ...] = ("id", "text", "type", *(("options",) if kind in ("choice", "multi") else ()))
    typed = (k for k, kinds in _TYPED_KEYS.items() if kind is None or kind in kinds)
    misfit = {k: f"'{k}' is only for {' and '.join(kinds)} questions" for k, kinds in _TYPED_KEYS.items()}
    report.keys(q, path, required, ("help", "askWhen", *typed), misfit)
    report.text(q, "text", path, required=True)
    report.text(q, "help", path)
    if kind == "number":
        report.text(q, "unit", path)
    if kind is None:
        return None
    usable = True
    options: tuple[Option, ...] = ()
    if kind in ("choice", "multi"):
        read = _check_options(report, q["options"], at(path, "options"), kind) if "options" in q else None
        usable = read is not None
        options = read or ()
    numbers: dict[str, int | float | None] = {"min": None, "max": None, "step": None}
    for key in numbers if kind == "number" else ():
        value = q.get(key)
        if key not in q:
            continue
        if is_number(value):
            numbers[key] = value
        else:
            report.add(at(path, key), bad_number(f"'{key}'", value))
            usable = False
    low, high, step = numbers["min"], numbers["max"], numbers["step"]
    if low is not None and high is not None and low > high:
        report.add(at(path, "max"), f"'max' ({format_number(high)}) is below 'min' ({format_number(low)})")
        usable = False
    if step is not None and step <= 0:
        report.add(at(path, "step"), "'step' must be greater than 0")
        usable = False
    length = q.get("maxLength")
    if (
        kind == "text"
        and "maxLength" in q
        and not (is_integer(length) and 1 <= length <= MAX_TEXT_ANSWER_LENGTH)
    ):
        report.add(
            at(path, "maxLength"), f"'maxLength' must be an integer from 1 to {MAX_TEXT_ANSWER_LENGTH}"
        )
        usable = False
    if not usable or not isinstance(q.get("id"), str):
        return None
    max_length = length if is_integer(length) else None
    return Question(q["id"], "", kind, options=options, min=low, max=high, step=step, max_length=max_length)


def _check_options(report: Report, options: JSON, path: str, kind: str) -> tuple[Option, ...] | None:
    """Question options; None when their values cannot be trusted for the condition checks."""
    if not isinstance(options, list):
        report.add(path, f"'options' must be a list of options, not {describe(options)}")
        return None
    if not options:
        report.add(path, f"A {kind} question needs at least one option")
        return None
    if len(options) > MAX_OPTIONS:
        report.add(path, f"Too many options: at most {MAX_OPTIONS} per question")
    ok = True
    seen: dict[str, str] = {}
    result: list[Option] = []
    for j, option in enumerate(options):
        where = item(path, j)
        if not isinstance(option, dict):
            report.add(where, f"An option must be an object with 'value' and 'label', not {describe(option)}")
            ok = False
            continue
        report.keys(option, where, ("value", "label"), ("help",))
        report.text(option, "label", where, required=True)
        report.text(option, "help", where)
        value = option.get("value")
        if "value" not in option or not report.ident(value, at(where, "value"), "option value"):
            ok = False
        elif report.unique(seen, value, at(where, "value"), "option value"):
            label = option.get("label")
            result.append(Option(value, label if isinstance(label, str) else ""))
    return tuple(result) if ok else None


def check_rules(report: Report, index: Index, data: dict[str, JSON]) -> None:
    items = report.items(data, "rules", "", MAX_RULES, " per catalogue; split the catalogue into several")
    if items is None:
        return
    rules: list[RuleShape] = []
    seen: dict[str, str] = {}
    for i, rule in enumerate(items):
        path = item("rules", i)
        if not isinstance(rule, dict):
            report.add(path, f"A rule must be an object, not {describe(rule)}")
            index.rules_complete = False
            continue
        report.keys(rule, path, ("id", "name", "when", "then"), ("description", "priority", "enabled"))
        if "id" in rule and report.ident(rule["id"], at(path, "id"), "rule id"):
            report.unique(seen, rule["id"], at(path, "id"), "rule id")
        report.text(rule, "name", path, required=True)
        report.text(rule, "description", path)
        if "priority" in rule and not is_integer(rule["priority"]):
            report.add(at(path, "priority"), bad_number("'priority'", rule["priority"], "an integer"))
        if "enabled" in rule and not isinstance(rule["enabled"], bool):
            report.add(
                at(path, "enabled"), f"'enabled' must be true or false, not {describe(rule['enabled'])}"
            )
        shape = RuleShape(path, rule.get("enabled") is not False, rule.get("when"), "when" in rule)
        then = report.items(rule, "then", path, MAX_EFFECTS_PER_RULE, " per rule")
        if then == []:
            report.add(at(path, "then"), "A rule needs at least one effect in 'then'")
        shape.complete = then is not None or "then" not in rule
        for j, effect in enumerate(then or ()):
            _check_effect(report, index, effect, item(at(path, "then"), j), shape)
        rules.append(shape)
    index.rules = rules


def _check_effect(report: Report, index: Index, effect: JSON, path: str, shape: RuleShape) -> None:
    """Check one effect: exactly one kind, with the keys that kind takes."""
    if not isinstance(effect, dict):
        report.add(path, f"An effect must be an object, not {describe(effect)}")
        shape.complete = False
        return
    kinds = [k for k in EFFECT_KINDS if k in effect]
    if len(kinds) != 1:
        found = f"; this one has {' and '.join(map(quote, kinds))}" if kinds else ""
        report.add(path, f"An effect needs exactly one of 'require', 'exclude', 'score', 'derive'{found}")
        if not kinds:
            report.keys(effect, path, (), (*EFFECT_KINDS, "because", "where"))
        shape.complete = False
        return
    kind = kinds[0]
    where_misfit = {"where": "'where' is only for score effects"}
    if kind in ("require", "exclude"):
        report.keys(effect, path, (kind, "because"), (), where_misfit)
        report.text(effect, "because", path, required=True)
    elif kind == "score":
        report.keys(effect, path, ("score",), ("where", "because"))
        report.text(effect, "because", path)
        if not is_number(effect["score"]):
            report.add(at(path, "score"), bad_number("The score", effect["score"]))
    else:
        report.keys(
            effect, path, ("derive",), (), {**where_misfit, "because": "A derive effect has no 'because'"}
        )
        _check_derive(report, effect["derive"], at(path, "derive"), shape)
    if isinstance(effect.get("because"), str):
        index.becauses.append((at(path, "because"), effect["because"]))
    shape.effects.append(EffectShape(path, kind, effect))


def _check_derive(report: Report, derive: JSON, path: str, shape: RuleShape) -> None:
    if not isinstance(derive, dict):
        report.add(
            path, f'\'derive\' must be an object like {{"fact": KEY, "value": TEXT}}, not {describe(derive)}'
        )
        shape.complete = False
        return
    report.keys(derive, path, ("fact", "value"))
    key = derive.get("fact")
    if "fact" not in derive or not report.ident(key, at(path, "fact"), "fact key"):
        shape.complete = False
        return
    value = derive.get("value")
    valid = isinstance(value, str) and 1 <= len(value) <= MAX_VALUE_LENGTH
    if "value" in derive and not valid:
        report.add(at(path, "value"), f"A fact value must be a text of 1 to {MAX_VALUE_LENGTH} characters")
    shape.derives.append((key, value if valid else None))
