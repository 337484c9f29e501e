"""Rule analysis warnings for admin pages (rules/analysis.py): they inform, they never block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quart import url_for

from rules.analysis import Finding, analyse
from rules.errors import CatalogueInvalid
from rules.validator import load_catalogue

from .fired import Window

KIND_LABELS = {
    "overlap": "Overlapping ranges",
    "gap": "Gap between ranges",
    "duplicate": "Same score twice",
    "unsatisfiable": "Can never fire",
    "never_fired": "Never fired recently",
}


@dataclass(frozen=True)
class RuleWarning:
    """A finding with its label and links to the rules it names."""

    kind: str
    label: str
    message: str
    links: tuple[tuple[str, str], ...]  # (rule id, href)


def _links(bundle: dict[str, Any], ids: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    index = {r.get("id"): i for i, r in enumerate(bundle.get("rules") or []) if isinstance(r, dict)}
    return tuple((rid, url_for("admin.rule_edit", index=index[rid])) for rid in ids if rid in index)


def present(bundle: dict[str, Any], found: list[Finding]) -> list[RuleWarning]:
    return [RuleWarning(f.kind, KIND_LABELS[f.kind], f.message, _links(bundle, f.rules)) for f in found]


def warnings(bundle: dict[str, Any], rule: str | None = None) -> list[RuleWarning] | None:
    """The draft's rule warnings (only those naming ``rule`` when given); None while it has problems."""
    try:
        catalogue = load_catalogue(bundle)
    except CatalogueInvalid:
        return None
    found = [f for f in analyse(catalogue) if rule is None or rule in f.rules]
    return present(bundle, found)


def idle_rules(bundle: dict[str, Any], window: Window) -> list[RuleWarning]:
    """The live rules that fired in no answer of the window (admin/fired.py), linked to the draft."""
    return present(bundle, window.findings)
