"""The "Estimate and display" form: its fields, conversion to and from bundle JSON, problem placement.

Inputs are rows (``inputs-0-name``, ``inputs-0-answer``, ``inputs-0-default``); a choice question's
option -> number map has one field per option of the question (``inputs-0-map-2`` is its third
option) and ``inputs-0-mapfor`` remembers which question those fields were made for. The headline
is six ordered pickers (``headline-0`` .. ``headline-5``); empty ones are skipped.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from wtforms import (
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, Optional

from rules.errors import Problem

from .estimates import INPUT_TYPES
from .forms_catalogue import parse_number, show_number

MAX_HEADLINE = 6
BLANK_ROWS = 1
ESTIMATE_FIELDS = ("label", "currency", "unit", "decimals", "explanation", "formula")
# Fixed patterns written by us: the validator's formula message and a problem path's input index.
POSITION = re.compile(r"^Formula error at character (\d+):")
INPUT_PATH = re.compile(r"^estimate\.inputs\[(\d+)\](?:\.([A-Za-z]+)(?:\.(.+))?)?$")
HEADLINE_PATH = re.compile(r"^display\.headline\[(\d+)\]")


class InputRowForm(Form):
    name = StringField("Name (used in the formula)", [Optional(), Length(max=64)])
    answer = SelectField("Question", choices=[], validate_choice=False)
    default = StringField("Default (no answer, hidden, or unmapped option)", [Optional(), Length(max=40)])
    map = FieldList(StringField("Number", [Optional(), Length(max=40)]))
    mapfor = HiddenField()


class EstimateForm(Form):
    label = StringField(
        "Label", [Optional(), Length(max=200)], description="What the number is, as people read it."
    )
    currency = StringField(
        "Currency (optional)",
        [Optional(), Length(max=10)],
        description="A three-letter code: the value is money.",
    )
    unit = StringField("Unit (optional)", [Optional(), Length(max=40)], description="Shown after the value.")
    decimals = IntegerField(
        "Decimals", [Optional()], description="0 to 6; the value is rounded half away from zero."
    )
    explanation = TextAreaField(
        "Explanation (optional)",
        [Optional(), Length(max=2000)],
        description=(
            "Plain text; {plan.KEY} is an attribute of the plan, {NAME} an input, {estimate} the value."
        ),
    )
    formula = TextAreaField("Formula", [Length(max=2000)])
    inputs = FieldList(FormField(InputRowForm))
    headline = FieldList(SelectField("Headline attribute", choices=[], validate_choice=False))
    original = HiddenField()


def fingerprint(bundle: dict[str, Any]) -> str:
    """What the form was opened on (estimate and display): a changed one means someone else saved."""
    raw = json.dumps([bundle.get("estimate"), bundle.get("display")], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def input_questions(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The questions an input may read (number, choice, boolean), as written in the draft."""
    found = bundle.get("questions")
    return [
        q
        for q in (found if isinstance(found, list) else [])
        if isinstance(q, dict) and isinstance(q.get("id"), str) and q.get("type") in INPUT_TYPES
    ]


def options_of(question: dict[str, Any] | None) -> list[dict[str, Any]]:
    opts = question.get("options") if question is not None else None
    return [o for o in (opts if isinstance(opts, list) else []) if isinstance(o, dict) and "value" in o]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def form_data(bundle: dict[str, Any]) -> dict[str, Any]:
    """The form's data for the draft's estimate and display."""
    estimate = _dict(bundle.get("estimate"))
    questions = {q["id"]: q for q in input_questions(bundle)}
    rows = []
    for spec in _list(estimate.get("inputs")):
        if not isinstance(spec, dict):
            continue
        answer = spec.get("answer") if isinstance(spec.get("answer"), str) else ""
        mapping = _dict(spec.get("map"))
        values = [show_number(mapping.get(o["value"])) for o in options_of(questions.get(answer))]
        rows.append(
            {
                "name": spec.get("name", ""),
                "answer": answer,
                "default": show_number(spec.get("default")),
                "map": values,
                "mapfor": answer,
            }
        )
    rows += [{"name": "", "answer": "", "default": "", "map": [], "mapfor": ""}] * BLANK_ROWS
    headline = _list(_dict(bundle.get("display")).get("headline"))
    data: dict[str, Any] = {name: estimate.get(name) for name in ESTIMATE_FIELDS}
    data["decimals"] = estimate.get("decimals", 2) if estimate else 2
    data.update(inputs=rows, headline=[str(k) for k in headline][:MAX_HEADLINE], original=fingerprint(bundle))
    data["headline"] += [""] * (MAX_HEADLINE - len(data["headline"]))
    return data


def prepare(form: EstimateForm, bundle: dict[str, Any]) -> None:
    """Offer the draft's questions and attributes, and give each choice input one field per option."""
    questions = input_questions(bundle)
    by_id = {q["id"]: q for q in questions}
    choices = [("", "— pick a question —")] + [
        (q["id"], f"{q.get('text') or q['id']} ({q['id']}, {q['type']})") for q in questions
    ]
    for entry in form.inputs.entries:
        row = entry.form
        row.answer.choices = list(choices)
        if row.answer.data and row.answer.data not in by_id:  # keep a reference to a removed question
            row.answer.choices.append(
                (row.answer.data, f"{row.answer.data} (not a number/choice/yes-no question)")
            )
        question = by_id.get(row.answer.data or "")
        count = len(options_of(question)) if question is not None and question["type"] == "choice" else 0
        if row.mapfor.data != (row.answer.data or "") or len(row.map.entries) != count:
            old = [e.data for e in row.map.entries] if row.mapfor.data == (row.answer.data or "") else []
            row.map.entries, row.map.last_index = [], -1
            for k in range(count):
                row.map.append_entry(old[k] if k < len(old) else "")
            row.mapfor.data = row.answer.data or ""
    attrs = bundle.get("attributes")
    keys = [
        a
        for a in (attrs if isinstance(attrs, list) else [])
        if isinstance(a, dict) and isinstance(a.get("key"), str)
    ]
    picks = [("", "—")] + [(a["key"], f"{a.get('label') or a['key']} ({a['key']})") for a in keys]
    while len(form.headline.entries) < MAX_HEADLINE:
        form.headline.append_entry("")
    for entry in form.headline.entries:
        entry.choices = list(picks)
        if entry.data and entry.data not in {k for k, _ in picks}:
            entry.choices.append((entry.data, f"{entry.data} (not declared)"))


@dataclass
class Read:
    """The estimate and display read from the form, and where each input row went."""

    estimate: dict[str, Any]
    display: dict[str, Any] | None
    rows: list[str] = field(default_factory=list)  # input index -> the row's field prefix
    headline_rows: list[str] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)  # unreadable values, by field name
    needs_update: bool = False


def _number(text: str | None, name: str, errors: dict[str, list[str]]) -> int | float | None:
    raw = (text or "").strip()
    if not raw:
        return None
    value = parse_number(raw)
    if value is None:
        errors.setdefault(name, []).append(f"“{raw}” is not a number")
    return value


def read(form: EstimateForm, bundle: dict[str, Any]) -> Read:
    """The candidate ``estimate`` and ``display`` (None: no headline) from a posted form."""
    estimate: dict[str, Any] = {"label": (form.label.data or "").strip()}
    for name in ("currency", "unit", "explanation"):
        value = (getattr(form, name).data or "").strip()
        if value:
            estimate[name] = value.upper() if name == "currency" else value
    if form.decimals.data is not None:
        estimate["decimals"] = form.decimals.data
    estimate["formula"] = (form.formula.data or "").strip()
    result = Read(estimate, None)
    by_id = {q["id"]: q for q in input_questions(bundle)}
    inputs: list[dict[str, Any]] = []
    for entry in form.inputs.entries:
        row = entry.form
        name, answer = (row.name.data or "").strip(), (row.answer.data or "").strip()
        blank_map = all(not (e.data or "").strip() for e in row.map.entries)
        if not name and not answer and not (row.default.data or "").strip() and blank_map:
            continue
        spec: dict[str, Any] = {"name": name, "answer": answer}
        question = by_id.get(answer)
        if question is not None and question["type"] == "choice":
            options = options_of(question)
            if row.mapfor.data != answer or len(row.map.entries) != len(options):
                result.errors.setdefault(entry.name + "-map", []).append(
                    "Enter a number for each option of the question (the fields are shown now)"
                )
                result.needs_update = True
            else:
                mapping: dict[str, Any] = {}
                for k, (option, box) in enumerate(zip(options, row.map.entries, strict=True)):
                    value = _number(box.data, f"{entry.name}-map-{k}", result.errors)
                    if value is not None:
                        mapping[str(option["value"])] = value
                spec["map"] = mapping
        default = _number(row.default.data, entry.name + "-default", result.errors)
        if default is not None:
            spec["default"] = default
        inputs.append(spec)
        result.rows.append(entry.name)
    if inputs:
        estimate["inputs"] = inputs
    headline = []
    for entry in form.headline.entries:
        if entry.data:
            headline.append(entry.data)
            result.headline_rows.append(entry.name)
    result.display = {"headline": headline} if headline else None
    return result


def with_candidate(bundle: dict[str, Any], candidate: Read) -> dict[str, Any]:
    """A copy of the bundle with the candidate estimate and display in place."""
    new = dict(bundle)
    new["estimate"] = candidate.estimate
    new.pop("display", None)
    if candidate.display is not None:
        new["display"] = candidate.display
    return new


def field_of(path: str, candidate: Read, bundle: dict[str, Any]) -> str:
    """The form field a problem of ``estimate.*``/``display.*`` belongs to ("" for the whole form)."""
    match = INPUT_PATH.match(path)
    if match:
        index, key, rest = int(match.group(1)), match.group(2), match.group(3)
        prefix = candidate.rows[index] if index < len(candidate.rows) else "inputs"
        if key == "map" and rest is not None:
            spec = candidate.estimate.get("inputs", [])[index] if index < len(candidate.rows) else {}
            question = {q["id"]: q for q in input_questions(bundle)}.get(spec.get("answer", ""))
            values = [str(o["value"]) for o in options_of(question)]
            return f"{prefix}-map-{values.index(rest)}" if rest in values else f"{prefix}-map"
        return f"{prefix}-{key}" if key in ("name", "answer", "default", "map") else prefix
    match = HEADLINE_PATH.match(path)
    if match:
        index = int(match.group(1))
        return candidate.headline_rows[index] if index < len(candidate.headline_rows) else "headline"
    if path.startswith("display"):
        return "headline"
    name = path.split(".", 1)[1].split("[", 1)[0] if "." in path else ""
    if name == "inputs":
        return "inputs"
    return name if name in ESTIMATE_FIELDS else ""


def place(problems: list[Problem], candidate: Read, bundle: dict[str, Any]) -> dict[str, list[str]]:
    """Problems of ``estimate``/``display`` by form field."""
    out: dict[str, list[str]] = {}
    for p in problems:
        if p.path.split(".", 1)[0].split("[", 1)[0] in ("estimate", "display"):
            out.setdefault(field_of(p.path, candidate, bundle), []).append(p.message)
    return out


def position(message: str) -> int | None:
    """The 0-based character a formula problem points at (None when it names none)."""
    match = POSITION.match(message)
    return int(match.group(1)) - 1 if match else None
