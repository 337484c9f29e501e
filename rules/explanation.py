"""An estimate's explanation (CATALOGUE.md): ``{plan.KEY}``, ``{NAME}`` (an input) and ``{estimate}``.

The template is split once per version; a plan's attribute texts are rendered once per plan (they
never change within a version), so an explanation is one join. Other braces stay as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .model import Plan
from .placeholders import format_number

# Fixed pattern written by us: {plan.KEY}, {NAME} (an input) or {estimate}.
EXPLANATION_PLACEHOLDER = re.compile(
    r"\{(?:plan\.([A-Za-z][A-Za-z0-9_-]{0,63})|([A-Za-z][A-Za-z0-9_]{0,63}))\}"
)


class Explanation:
    """One version's explanation template, with each plan's attribute texts once rendered."""

    def __init__(self, text: str) -> None:
        parts: list[tuple[str, str]] = []  # ("text", s), ("plan", KEY) or ("name", NAME)
        end = 0
        for match in EXPLANATION_PLACEHOLDER.finditer(text):
            if match.start() > end:
                parts.append(("text", text[end : match.start()]))
            key, name = match.group(1), match.group(2)
            parts.append(("plan", key) if key is not None else ("name", name))
            end = match.end()
        if end < len(text):
            parts.append(("text", text[end:]))
        self.parts = tuple(parts)
        self.plan_keys = tuple(dict.fromkeys(value for kind, value in parts if kind == "plan"))
        self._plan_texts: dict[str, dict[str, str]] = {}

    def render(self, plan: Plan, inputs: Mapping[str, Decimal], value: Decimal) -> str:
        texts = self._plan_texts.get(plan.id)
        if texts is None:
            texts = {key: format_attribute(plan.attributes.get(key)) for key in self.plan_keys}
            self._plan_texts[plan.id] = texts
        out: list[str] = []
        for kind, text in self.parts:
            if kind == "text":
                out.append(text)
            elif kind == "plan":
                out.append(texts[text])
            elif text in inputs:
                out.append(number_text(inputs[text]))
            elif text == "estimate":
                out.append(format(value, "f"))
            else:
                out.append("{" + text + "}")
        return "".join(out)


def number_text(value: Decimal) -> str:
    """A Decimal as a plain number: no exponent, no trailing zeros, no ``.0`` when integral."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def format_attribute(value: Any) -> str:
    """An attribute as a person reads it, like answers in ``because``: "" when missing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value) if isinstance(value, str) else json.dumps(value)
