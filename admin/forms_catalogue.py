"""Forms for the catalogue's items, and their conversion to and from bundle JSON."""

from __future__ import annotations

import math
from typing import Any

from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional

from . import forms_values
from .editing import parse_json_field, to_json_text

ATTRIBUTE_TYPES = ("number", "boolean", "enum", "set", "text")
QUESTION_TYPES = ("choice", "multi", "number", "boolean", "text")
ID_HELP = "Letters, digits, - and _; starts with a letter; at most 64 characters."


def parse_number(text: str) -> int | float | None:
    """A number typed by a person ("9.99", "10", "-3"); None when it is not one."""
    raw = text.strip().replace(" ", "")
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def show_number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    return str(int(value)) if isinstance(value, float) and value.is_integer() else repr(value)


def lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


# -- attributes ---------------------------------------------------------------------------


class AttributeForm(Form):
    key = StringField("Key", [InputRequired(), Length(max=64)])
    type = SelectField("Type", choices=[SelectChoice(t) for t in ATTRIBUTE_TYPES])
    label = StringField("Label", [InputRequired(), Length(max=200)])
    unit = StringField("Unit (optional)", [Optional(), Length(max=40)])
    description = TextAreaField("Description (optional)", [Optional()])
    options = TextAreaField("Options (enum only; one per line, in order)")
    original = StringField()


def attribute_data(item: dict[str, Any]) -> dict[str, Any]:
    opts = item.get("options")
    return {
        "key": item.get("key", ""),
        "type": item.get("type", "number"),
        "label": item.get("label", ""),
        "unit": item.get("unit", ""),
        "description": item.get("description", ""),
        "options": "\n".join(str(o) for o in opts) if isinstance(opts, list) else "",
        "original": item.get("key", ""),
    }


def attribute_item(form: AttributeForm) -> dict[str, Any]:
    item: dict[str, Any] = {"key": (form.key.data or "").strip(), "type": form.type.data}
    item["label"] = (form.label.data or "").strip()
    for name in ("unit", "description"):
        value = (getattr(form, name).data or "").strip()
        if value:
            item[name] = value
    if form.type.data == "enum":
        item["options"] = lines(form.options.data)
    return item


# -- plans --------------------------------------------------------------------------------


class PlanBase(Form):
    id = StringField("Id", [InputRequired(), Length(max=64)], description=ID_HELP)
    name = StringField("Name", [InputRequired(), Length(max=200)])
    provider = StringField("Provider (optional)", [Optional(), Length(max=200)])
    description = TextAreaField("Description (optional)", [Optional()])
    active = BooleanField("Active (inactive plans are never shown)")
    original = StringField()


def plan_form_class(attributes: list[Any], known: dict[str, list[str]] | None = None) -> type[PlanBase]:
    """A plan form with one typed input per declared attribute (field name ``attr_<key>``).

    ``known``: the values each set attribute already has in the catalogue (checkboxes, forms_values).
    """

    class PlanForm(PlanBase):
        pass

    for attribute in attributes:
        if not isinstance(attribute, dict) or not isinstance(attribute.get("key"), str):
            continue
        kind, key = attribute.get("type"), attribute["key"]
        label = str(attribute.get("label") or key) + (
            f" ({attribute['unit']})" if attribute.get("unit") else ""
        )
        field: Any
        if kind == "boolean":
            field = SelectField(
                label,
                choices=[
                    SelectChoice("", "— unknown —"),
                    SelectChoice("true", "Yes"),
                    SelectChoice("false", "No"),
                ],
            )
        elif kind == "enum":
            options = [str(o) for o in attribute.get("options") or [] if isinstance(o, str)]
            field = SelectField(
                label, choices=[SelectChoice("", "— unknown —")] + [SelectChoice(o) for o in options]
            )
        elif kind == "set":
            field, new, confirmed = forms_values.fields(label, (known or {}).get(key, []))
            setattr(PlanForm, "attr_" + key + forms_values.NEW, new)
            setattr(PlanForm, "attr_" + key + forms_values.CONFIRMED, confirmed)
        elif kind == "number":
            field = StringField(label, description="A number; empty means unknown.")
        else:
            field = StringField(label, description="Empty means unknown.")
        setattr(PlanForm, "attr_" + key, field)
    return PlanForm


def plan_data(item: dict[str, Any], attributes: list[Any]) -> dict[str, Any]:
    values = item.get("attributes") if isinstance(item.get("attributes"), dict) else {}
    assert isinstance(values, dict)
    data: dict[str, Any] = {
        "id": item.get("id", ""),
        "name": item.get("name", ""),
        "provider": item.get("provider", ""),
        "description": item.get("description", ""),
        "active": item.get("active", True) is not False,
        "original": item.get("id", ""),
    }
    for attribute in attributes:
        if not isinstance(attribute, dict) or not isinstance(attribute.get("key"), str):
            continue
        key, kind = attribute["key"], attribute.get("type")
        value = values.get(key)
        if value is None:
            shown: Any = ""
        elif kind == "boolean":
            shown = "true" if value is True else "false" if value is False else str(value)
        elif kind == "set":
            shown = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        elif kind == "number":
            shown = show_number(value)
        else:
            shown = str(value)
        data["attr_" + key] = shown
    return data


def plan_item(
    form: PlanBase,
    attributes: list[Any],
    old: dict[str, Any] | None,
    known: dict[str, list[str]] | None = None,
) -> dict[str, Any] | None:
    """The plan JSON from the form; None (with errors on the fields) when a value cannot be read."""
    old_values = old.get("attributes") if old and isinstance(old.get("attributes"), dict) else {}
    assert isinstance(old_values, dict)
    declared = {a["key"] for a in attributes if isinstance(a, dict) and isinstance(a.get("key"), str)}
    # Values of attributes no longer declared are kept (the validator reports them), never dropped.
    values: dict[str, Any] = {k: v for k, v in old_values.items() if k not in declared}
    ok = True
    for attribute in attributes:
        if not isinstance(attribute, dict) or not isinstance(attribute.get("key"), str):
            continue
        key, kind = attribute["key"], attribute.get("type")
        field = getattr(form, "attr_" + key)
        if kind == "set":
            chosen, messages = forms_values.read(form, key, (known or {}).get(key, []))
            if messages:
                field.errors = [*field.errors, *messages]
                ok = False
            if chosen:
                values[key] = chosen
            continue
        raw = field.data if isinstance(field.data, str) else ""
        if not raw.strip():
            continue
        if kind == "number":
            number = parse_number(raw)
            if number is None:
                field.errors = [*field.errors, f"“{raw}” is not a number (write e.g. 9.99)"]
                ok = False
            else:
                values[key] = number
        elif kind == "boolean":
            values[key] = raw == "true"
        else:
            values[key] = raw.strip()
    item: dict[str, Any] = {"id": (form.id.data or "").strip(), "name": (form.name.data or "").strip()}
    for name in ("provider", "description"):
        value = (getattr(form, name).data or "").strip()
        if value:
            item[name] = value
    item["attributes"] = values
    item["active"] = bool(form.active.data)
    return item if ok else None


# -- questions ----------------------------------------------------------------------------


class OptionForm(Form):
    value = StringField("Value", [Length(max=64)])
    label = StringField("Label", [Length(max=200)])
    help = StringField("Help", [Optional(), Length(max=500)])


class QuestionForm(Form):
    id = StringField("Id", [InputRequired(), Length(max=64)], description=ID_HELP)
    text = StringField("Question text", [InputRequired(), Length(max=500)])
    type = SelectField("Type", choices=[SelectChoice(t) for t in QUESTION_TYPES])
    help = TextAreaField("Help text (optional)", [Optional()])
    askWhen = TextAreaField(
        "Ask only when (optional JSON condition)",
        description='Example: {"fact": "FACT", "op": "==", "value": "VALUE"}. Empty: always asked.',
    )
    min = StringField("Minimum (number questions)")
    max = StringField("Maximum (number questions)")
    step = StringField("Step (number questions)")
    unit = StringField("Unit (number questions)", [Optional(), Length(max=40)])
    maxLength = IntegerField("Maximum length (text questions, at most 500)", [Optional()])
    options = FieldList(FormField(OptionForm), "Options (choice and multi questions)", min_entries=0)
    original = StringField()


def question_data(item: dict[str, Any]) -> dict[str, Any]:
    options = item.get("options") if isinstance(item.get("options"), list) else []
    assert isinstance(options, list)
    return {
        "id": item.get("id", ""),
        "text": item.get("text", ""),
        "type": item.get("type", "choice"),
        "help": item.get("help", ""),
        "askWhen": to_json_text(item.get("askWhen")),
        "min": show_number(item.get("min")),
        "max": show_number(item.get("max")),
        "step": show_number(item.get("step")),
        "unit": item.get("unit", ""),
        "maxLength": item.get("maxLength"),
        "options": [
            {"value": o.get("value", ""), "label": o.get("label", ""), "help": o.get("help", "")}
            for o in options
            if isinstance(o, dict)
        ],
        "original": item.get("id", ""),
    }


def question_item(form: QuestionForm) -> dict[str, Any] | None:
    kind = form.type.data
    item: dict[str, Any] = {"id": (form.id.data or "").strip(), "text": (form.text.data or "").strip()}
    item["type"] = kind
    ok = True
    if (form.help.data or "").strip():
        item["help"] = form.help.data.strip()
    errors: list[str] = []
    ask = parse_json_field(form.askWhen.data, errors, required=False)
    if errors:
        form.askWhen.errors = [*form.askWhen.errors, *errors]
        ok = False
    elif ask is not None:
        item["askWhen"] = ask
    if kind in ("choice", "multi"):
        item["options"] = []
        for entry in form.options.entries:
            value, label = (entry.form.value.data or "").strip(), (entry.form.label.data or "").strip()
            if not value and not label:
                continue  # an empty row is ignored, not an error
            option = {"value": value, "label": label}
            if (entry.form.help.data or "").strip():
                option["help"] = entry.form.help.data.strip()
            item["options"].append(option)
    if kind == "number":
        for name in ("min", "max", "step"):
            field = getattr(form, name)
            raw = (field.data or "").strip()
            if raw:
                number = parse_number(raw)
                if number is None:
                    field.errors = [*field.errors, f"“{raw}” is not a number"]
                    ok = False
                else:
                    item[name] = number
        if (form.unit.data or "").strip():
            item["unit"] = form.unit.data.strip()
    if kind == "text" and form.maxLength.data is not None:
        item["maxLength"] = form.maxLength.data
    return item if ok else None


# -- rules --------------------------------------------------------------------------------


class RuleForm(Form):
    id = StringField("Id", [InputRequired(), Length(max=64)], description=ID_HELP)
    name = StringField("Name", [InputRequired(), Length(max=200)])
    description = TextAreaField("Description (optional)", [Optional()])
    priority = IntegerField("Priority (higher first; orders the reasons)", [Optional()])
    enabled = BooleanField("Enabled (a disabled rule never fires)")
    when = TextAreaField("When (JSON condition)", description='Always: {"all": []}')
    then = TextAreaField("Then (JSON list of effects)")
    original = StringField()


def rule_data(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item.get("id", ""),
        "name": item.get("name", ""),
        "description": item.get("description", ""),
        "priority": item.get("priority"),
        "enabled": item.get("enabled", True) is not False,
        "when": to_json_text(item.get("when", {"all": []})),
        "then": to_json_text(item.get("then", [])),
        "original": item.get("id", ""),
    }


def rule_fields(form: RuleForm) -> dict[str, Any]:
    """The rule's own fields (everything but ``when`` and ``then``)."""
    item: dict[str, Any] = {"id": (form.id.data or "").strip(), "name": (form.name.data or "").strip()}
    if (form.description.data or "").strip():
        item["description"] = form.description.data.strip()
    if form.priority.data is not None:
        item["priority"] = form.priority.data
    if not form.enabled.data:
        item["enabled"] = False
    return item


def rule_item(form: RuleForm) -> dict[str, Any] | None:
    """The rule from the JSON view (``when``/``then`` as JSON text)."""
    item = rule_fields(form)
    ok = True
    for name in ("when", "then"):
        field = getattr(form, name)
        errors: list[str] = []
        value = parse_json_field(field.data, errors)
        if errors:
            field.errors = [*field.errors, *errors]
            ok = False
        else:
            item[name] = value
    return item if ok else None


# -- catalogue settings -------------------------------------------------------------------


class SettingsForm(Form):
    name = StringField("Catalogue name", [InputRequired(), Length(max=200)])
    description = TextAreaField("Description (optional)", [Optional()])
    ranking = TextAreaField(
        "Ranking (JSON; empty: by score, then plan id, 20 plans)",
        description=(
            'Example: {"order": [{"by": "score", "dir": "desc"}, {"by": "estimate"}, {"by": "ATTRIBUTE"}], '
            '"limit": 20}. "estimate" is the catalogue\'s estimate (see Estimate and display); ATTRIBUTE is '
            'an attribute key of your catalogue. "excludedLimit" (default 50): excluded plans listed per '
            'update; "excludedReasonsLimit" (default: all): reasons listed per excluded plan, the first by '
            "rule priority (for catalogues with many rules; explanations always give all)."
        ),
    )
