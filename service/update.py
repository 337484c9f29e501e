"""One typed update, from the recommender through the hub and the enrichment stage to the transports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rules.evaluation import Evaluation

STAGES = {"rules": 0, "enriched": 1}
OrderKey = tuple[int, int, int]


@dataclass(frozen=True, eq=False, slots=True)
class Update:
    """A ``recommendationUpdates`` payload with what produced it.

    ``payload`` is the wire form (PROTOCOL.md), shared by every connection: never mutate it.
    ``evaluation`` and ``usable`` (the answers the rules read) let the enrichment stage rank every
    matched plan without evaluating again; ``visible`` is the evaluation's visible questions.
    """

    payload: dict[str, Any]
    evaluation: Evaluation
    usable: Mapping[str, Any]
    #: Enriched updates of one (revision, version) after the first (pushes from other services,
    #: service/push.py) count up from 1; the wire payload carries it as ``step`` when not 0.
    step: int = 0

    @property
    def revision(self) -> int:
        revision: int = self.payload["revision"]
        return revision

    @property
    def version(self) -> int:
        version: int = self.payload["version"]
        return version

    @property
    def stage(self) -> str:
        stage: str = self.payload["stage"]
        return stage

    @property
    def answers(self) -> dict[str, Any]:
        answers: dict[str, Any] = self.payload["answers"]
        return answers

    @property
    def visible(self) -> frozenset[str]:
        return frozenset(self.evaluation.visible)

    @property
    def key(self) -> OrderKey:
        """Updates of one session are ordered by (revision, version, stage), then ``step``."""
        return (self.revision, self.version, STAGES[self.stage] + self.step)

    def enriched(self, plans: list[dict[str, Any]]) -> Update:
        """The ``stage: "enriched"`` update of the same revision with these plans."""
        return Update({**self.payload, "stage": "enriched", "plans": plans}, self.evaluation, self.usable)

    def stepped(self, plans: list[dict[str, Any]], step: int) -> Update:
        """An enriched update of the same revision and version with these plans, ``step`` after the first."""
        payload = {**self.payload, "stage": "enriched", "plans": plans}
        if step:
            payload["step"] = step
        else:
            payload.pop("step", None)
        return Update(payload, self.evaluation, self.usable, step)
