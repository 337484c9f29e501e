"""The wire form of a rules-stage result (PROTOCOL.md ``recommendationUpdates``): plans and questions."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from .model import Catalogue, Plan


def plain_number(value: Any) -> int | float:
    """Integral scores are integers in the payload (30.0 -> 30); numpy numbers become Python's."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def question_states(
    catalogue: Catalogue, visible: Collection[str], answers: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """``questions`` of an update, in catalogue order: visible, and answered (an answer is stored)."""
    return [
        {"id": q.id, "visible": q.id in visible, "answered": q.id in answers} for q in catalogue.questions
    ]


def plan_payload(plan: Plan, rank: int, score: int | float, reasons: list[dict[str, str]]) -> dict[str, Any]:
    payload: dict[str, Any] = {"id": plan.id, "name": plan.name}
    if plan.provider is not None:
        payload["provider"] = plan.provider
    if plan.description is not None:
        payload["description"] = plan.description
    payload["rank"] = rank
    payload["score"] = plain_number(score)
    payload["attributes"] = plan.attributes
    payload["reasons"] = reasons
    return payload
