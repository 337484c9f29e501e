"""Exception root and error types of the rules package."""

from __future__ import annotations

from dataclasses import dataclass


class RulesError(Exception):
    """Root of every error raised by the rules package."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a bundle: where it is (``rules[3].then[0]``) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(bundle)'}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class CatalogueInvalid(RulesError):
    """A bundle failed validation; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the catalogue")


class EngineError(RulesError):
    """An evaluation failed inside the rules engine (an action raised, a limit was hit)."""


class EngineUnavailable(RulesError):
    """The engine worker died or hung; this evaluation failed, the next one gets a fresh worker."""


class UnknownVersion(RulesError):
    """An evaluation named a catalogue version the engine has not loaded."""
