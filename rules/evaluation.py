"""The result of evaluating one answer set against one catalogue version."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What the rules decided: visible questions, fired rules (firing order), derived facts.

    ``facts`` maps each derived fact key to its values, sorted. The effects are those of the
    fired rules, applied to the plans by :class:`rules.matcher.Matcher`.
    """

    version: int
    visible: tuple[str, ...]
    fired: tuple[str, ...]
    facts: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "visible": list(self.visible),
            "fired": list(self.fired),
            "facts": {k: list(v) for k, v in self.facts.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evaluation:
        return cls(
            int(data["version"]),
            tuple(data["visible"]),
            tuple(data["fired"]),
            {k: tuple(v) for k, v in data["facts"].items()},
        )
