"""One evaluation applied to the plans (:class:`MatchState`) and the ranking the enriched stage
re-orders (:class:`Ranking`): the matcher's per-answer state, with reasons built only for the
plans asked about."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .conditions import PlanCheck
from .evaluation import Evaluation
from .model import Catalogue, Plan
from .payload import plain_number, plan_payload
from .placeholders import PLACEHOLDER, substitute
from .plan_masks import MaskOf

Mask = npt.NDArray[np.bool_]  # one entry per active plan
Scores = npt.NDArray[np.int64] | npt.NDArray[np.float64]
Indexes = npt.NDArray[np.intp] | list[int]


@dataclass(slots=True)
class Effect:
    """One effect of a rule as the matcher applies it."""

    rule: str
    kind: str  # "require" | "exclude" | "score"
    check: PlanCheck | None
    because: str | None
    points: int | float = 0
    dynamic: bool = False  # compares with an answer (valueFrom): decided per answer value
    matched: Mask | None = None  # otherwise decided once per version, on first use
    refs: tuple[str, ...] = ()  # the questions a dynamic condition compares with
    by_answer: dict[Any, Mask] = field(default_factory=dict)
    mask_of: MaskOf | None = None  # a dynamic condition as one vector operation per answer value
    static: dict[str, str] | None = None  # the reason, when ``because`` has no placeholders

    def __post_init__(self) -> None:
        if self.because is not None and not PLACEHOLDER.search(self.because):
            self.static = {"rule": self.rule, "text": self.because}


class MatchState:
    """One evaluation applied to the plans: the fired effects, what each matched, the scores and
    the plans removed; reasons are built only for the plans asked about, each text once."""

    __slots__ = ("catalogue", "evaluation", "answers", "effects", "matched", "scores", "out", "_made")

    def __init__(
        self,
        catalogue: Catalogue,
        evaluation: Evaluation,
        answers: dict[str, Any],
        effects: list[Effect],
        matched: list[Mask],
        scores: Scores,
        out: Mask,
    ) -> None:
        self.catalogue = catalogue
        self.evaluation = evaluation
        self.answers = answers  # the visible usable answers: placeholders read these
        self.effects = effects
        self.matched = matched
        self.scores = scores
        self.out = out
        self._made: dict[int, dict[str, str]] = {}

    def reason(self, effect: Effect) -> dict[str, str]:
        # Texts without placeholders are built once per version; the others once per match.
        if effect.static is not None:
            return effect.static
        key = id(effect)
        made = self._made.get(key)
        if made is None:
            text = substitute(effect.because or "", self.catalogue, self.answers, self.evaluation.facts)
            made = self._made[key] = {"rule": effect.rule, "text": text}
        return made

    def reasons_of(self, indexes: list[int]) -> list[list[dict[str, str]]]:
        """The reasons a shown plan lists, for each of these plans: every require, and each
        score effect with a ``because`` that matched it."""
        if not indexes:
            return []
        asked = [
            (e, hits)
            for e, hits in zip(self.effects, self.matched, strict=True)
            if e.kind == "require" or (e.kind == "score" and e.because is not None)
        ]
        rows = self._rows([hits for _, hits in asked], indexes)
        columns = [
            (self.reason(e), None if e.kind == "require" else row)
            for (e, _), row in zip(asked, rows, strict=True)
            if e.kind == "require" or any(row)
        ]
        return [[why for why, picked in columns if picked is None or picked[j]] for j in range(len(indexes))]

    def exclusions_of(self, indexes: list[int]) -> list[list[dict[str, str]]]:
        """For each of these plans, the reasons of the require and exclude effects removing it."""
        if not indexes:
            return []
        asked = [
            (e, hits)
            for e, hits in zip(self.effects, self.matched, strict=True)
            if e.kind in ("require", "exclude")
        ]
        rows = self._rows([hits if e.kind == "exclude" else ~hits for e, hits in asked], indexes)
        columns = [(self.reason(e), lost) for (e, _), lost in zip(asked, rows, strict=True) if any(lost)]
        return [[why for why, lost in columns if lost[j]] for j in range(len(indexes))]

    @staticmethod
    def _rows(masks: list[Mask], indexes: list[int]) -> list[list[bool]]:
        """Each mask at these plan indexes, as plain lists (one vector operation for all)."""
        at = np.asarray(indexes, dtype=np.intp)
        return [mask[at].tolist() for mask in masks]


class Ranking:
    """Every matched plan of one evaluation in ranking order (:meth:`Matcher.ranking`)."""

    __slots__ = ("_plans", "_position", "_state", "order")

    def __init__(
        self, plans: Sequence[Plan], position: Mapping[str, int], state: MatchState, order: list[int]
    ) -> None:
        self._plans = plans
        self._position = position
        self._state = state
        self.order = order  # plan indexes, best first

    def scores(self) -> dict[str, int | float]:
        """Plan id -> score, for every matched plan."""
        plans, scores = self._plans, self._state.scores
        return {plans[i].id: plain_number(scores[i]) for i in self.order}

    def ids(self) -> list[str]:
        plans = self._plans
        return [plans[i].id for i in self.order]

    def payloads(self, plan_ids: list[str]) -> list[dict[str, Any]]:
        """The payloads of these matched plans, ranked 1.. in the order given."""
        indexes = [self._position[pid] for pid in plan_ids]
        scores = self._state.scores
        return [
            plan_payload(self._plans[i], rank, scores[i], reasons)
            for rank, (i, reasons) in enumerate(zip(indexes, self._state.reasons_of(indexes), strict=True), 1)
        ]
