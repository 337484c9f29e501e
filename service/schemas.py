"""Pydantic models describing the HTTP API for OpenAPI (``/openapi.json``, ``/docs``).

Requests are parsed by service/core.py (the same code path as the WebSocket); these models
document the shapes clients see.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class NewSession(BaseModel):
    authToken: str | None = Field(None, description="JWT from the host site; its `sub` binds the session")


class SessionPayload(BaseModel):
    sessionId: str
    token: str = Field(description="Signed session token: send as `Authorization: Bearer <token>`")
    resumed: bool
    version: int
    revision: int


class AuthHeaders(BaseModel):
    authorization: str | None = Field(None, description="Bearer <session token> (or the session cookie)")


class Option(BaseModel):
    value: str
    label: str
    help: str | None = None


class Question(BaseModel):
    id: str
    text: str
    type: Literal["choice", "multi", "number", "boolean", "text"]
    help: str | None = None
    options: list[Option] | None = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    unit: str | None = None
    maxLength: int | None = None


class Questionnaire(BaseModel):
    version: int
    questions: list[Question]


class UserResponse(BaseModel):
    answers: dict[str, Any] | None = Field(None, description="questionId -> value (null clears it)")
    questionId: str | None = Field(None, description="alternative shape: one answer")
    value: Any = None


class Reason(BaseModel):
    rule: str
    text: str


class Estimate(BaseModel):
    monthly: float
    currency: str
    explanation: str


class RankedPlan(BaseModel):
    id: str
    name: str
    provider: str | None = None
    description: str | None = None
    rank: int
    score: float
    attributes: dict[str, Any]
    reasons: list[Reason]
    estimate: Estimate | None = Field(None, description="enriched stage only")


class ExcludedPlan(BaseModel):
    id: str
    reasons: list[Reason]


class QuestionState(BaseModel):
    id: str
    visible: bool
    answered: bool


class Update(BaseModel):
    revision: int
    version: int
    stage: Literal["rules", "enriched"]
    answers: dict[str, Any]
    questions: list[QuestionState]
    plans: list[RankedPlan]
    excluded: list[ExcludedPlan]
    totalPlans: int
    matchedPlans: int


class SelectPlan(BaseModel):
    planId: str
    idempotencyKey: str | None = None


class SelectionSaved(BaseModel):
    selectionId: str
    planId: str
    revision: int
    version: int


class Selection(SelectionSaved):
    createdAt: str


class SessionInfo(BaseModel):
    session: SessionPayload
    answers: dict[str, Any]
    revision: int
    selection: Selection | None
    update: Update


class UpdatesQuery(BaseModel):
    after: int = -1
    version: int = 0
    stage: Literal["rules", "enriched"] = "rules"
    wait: float = 25


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorReply(BaseModel):
    error: ErrorBody
