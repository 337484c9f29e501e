"""Managed values of ``set`` attributes: pick from the values the catalogue already uses.

A plan's set attribute (perks, fuels) is a row of checkboxes, one per value used by any plan or any
rule's plan condition on that attribute, plus a box for new values. A new value that looks like a
known one ("Streaming" for "streaming", "esim " for "esim", "streming") is refused once with "did
you mean …?"; saving again with the same new values adds them as they are.
"""

from __future__ import annotations

from difflib import get_close_matches
from typing import Any

from wtforms import SelectChoice, SelectMultipleField, StringField
from wtforms.widgets import CheckboxInput, ListWidget

NEW = "__new"  # attr_<key>__new: new values, comma or one per line
CONFIRMED = "__confirmed"  # attr_<key>__confirmed: the new values already warned about


def known_values(bundle: dict[str, Any], key: str) -> list[str]:
    """The values of set attribute ``key`` used by plans and by rules' plan conditions, sorted."""
    found: set[str] = set()
    for plan in bundle.get("plans") or []:
        values = plan.get("attributes", {}).get(key) if isinstance(plan, dict) else None
        if isinstance(values, list):
            found.update(v for v in values if isinstance(v, str))

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("attribute") == key:
                operand = value.get("value")
                items = operand if isinstance(operand, list) else [operand]
                found.update(v for v in items if isinstance(v, str))
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(bundle.get("rules"))
    return sorted(found, key=lambda v: (v.lower(), v))


def fields(label: str, known: list[str]) -> tuple[Any, Any, Any]:
    """The checkbox list, the new-values box and the hidden confirmation of one set attribute."""
    boxes = SelectMultipleField(
        label,
        choices=[SelectChoice(v) for v in known],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=False,
    )
    new = StringField("New values (comma or one per line)")
    return boxes, new, StringField()


def split(text: str | None) -> list[str]:
    return [v.strip() for line in (text or "").splitlines() for v in line.split(",") if v.strip()]


def suggestion(value: str, known: list[str]) -> str | None:
    """A known value ``value`` was probably meant to be, or None."""
    for k in known:
        if k.lower() == value.lower() or k.replace("-", " ").lower() == value.replace("-", " ").lower():
            return k
    close = get_close_matches(value.lower(), [k.lower() for k in known], n=1, cutoff=0.75)
    return next((k for k in known if close and k.lower() == close[0]), None)


def read(form: Any, key: str, known: list[str]) -> tuple[list[str], list[str]]:
    """(the chosen values, "did you mean" messages); a message means the save must be confirmed."""
    boxes = getattr(form, "attr_" + key)
    chosen = [v for raw in boxes.data or [] for v in split(raw)]
    new = [v for v in split(getattr(form, "attr_" + key + NEW).data) if v not in chosen]
    confirmed = split(getattr(form, "attr_" + key + CONFIRMED).data)
    messages = []
    for value in new:
        if value in known or value in confirmed:
            continue
        near = suggestion(value, known)
        if near is not None:
            messages.append(
                f"“{value}” is new: did you mean “{near}”? Tick it above, or save again to add “{value}”."
            )
    if messages:
        getattr(form, "attr_" + key + CONFIRMED).data = ", ".join(new)
    return chosen + new, messages
