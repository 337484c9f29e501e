"""The visual "ask only when" of a question: the rule condition builder (builder_model/builder_form)
on the question form, in place of a JSON text box.

The question form posts the builder's fields under the same names as a rule's ``when``
(``when-kind``, ``when-0-subject``, …) with ``editor=builder``; "always asked" is an empty "All of"
group and saves no ``askWhen``. Builder buttons (``builder=<action>``) change the form only.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.datastructures import MultiDict

from .builder_form import Errors, apply, dump, place_problems, read
from .builder_model import BUILDER_NAMES, Builder, Catalog, load_condition

ALWAYS: dict[str, Any] = {"all": []}


def of(ask: Any, bundle: dict[str, Any]) -> Builder:
    """The builder showing a question's ``askWhen`` (None: always asked)."""
    builder = Builder(load_condition(ask if ask is not None else ALWAYS, Catalog.of(bundle)), [])
    builder.renumber()
    return builder


def posted(form: MultiDict[str, Any], bundle: dict[str, Any]) -> tuple[Builder | None, str]:
    """The posted builder (None when the form used the JSON box) and the button pressed, if any."""
    if form.get("editor") != "builder":
        return None, ""
    builder = read(form)
    builder.effects = []
    action = str(form.get("builder", ""))
    if action:
        apply(builder, action, Catalog.of(bundle))
    return builder, action


def as_text(builder: Builder, bundle: dict[str, Any]) -> tuple[str, Errors]:
    """The ``askWhen`` JSON text the builder describes ("" for always) and unreadable values."""
    when, _, errors = dump(builder, Catalog.of(bundle))
    return ("" if when == ALWAYS else json.dumps(when, ensure_ascii=False)), errors


def problems(builder: Builder, details: list[tuple[str, str]]) -> Errors:
    """The validator's ``askWhen…`` problems placed on the builder's fields."""
    return place_problems(
        builder, [("when" + rest[7:], m) for rest, m in details if rest.startswith("askWhen")]
    )


def context(builder: Builder | None, bundle: dict[str, Any], berrors: Errors | None) -> dict[str, Any]:
    return {"builder": builder, "berrs": berrors or {}, "catalog": Catalog.of(bundle), **BUILDER_NAMES}
