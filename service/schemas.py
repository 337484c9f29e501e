"""Pydantic models of the protocol: the request models validate the HTTP and WebSocket bodies, and
every model describes the HTTP API in OpenAPI (``/openapi.json``, ``/docs``): one definition for both.

Request models check the shape only; answer values are checked by ``rules.answers`` against the
live questionnaire. ``parse`` turns a validation error into the PROTOCOL.md error.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    ValidationError,
)

from .errors import ProtocolError

DEFAULT_MAX_ANSWERS = 200
MAX_PLAN_ID = 64
MAX_KEY_LENGTH = 200
MAX_POSITION = 2**53  # the largest integer every JSON client reads exactly

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: object, what: str) -> M:
    """``data`` as ``model``; ``invalid_message`` (or ``too_large`` for answers) when it does not fit."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        if error["type"] == "too_long" and error["loc"][-1:] == ("answers",):
            limit = (error.get("ctx") or {}).get("max_length")
            sent = len(data["answers"]) if isinstance(data, dict) else "more"
            raise ProtocolError("too_large", f"At most {limit} answers per message ({sent} sent)") from None
        field = ".".join(str(part) for part in error["loc"] if part not in ("answers", "one"))
        where = f"'{field}': " if field else ""
        raise ProtocolError("invalid_message", f"{what} {where}{error['msg']}") from None


class Request(BaseModel):
    """A client's message body: unknown extra fields are ignored (clients may add fields)."""

    model_config = ConfigDict(extra="ignore")


class NewSession(BaseModel):
    """``POST /api/sessions``: nothing but ``authToken``."""

    model_config = ConfigDict(extra="forbid")

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


class OneAnswer(Request):
    """``userResponse`` with a single answer."""

    questionId: str
    value: Any = Field(description="the answer (null clears it)")


def _user_response_shape(data: Any) -> str | None:
    """Which of the two exclusive shapes ``data`` has (None: neither)."""
    if isinstance(data, dict):
        if "answers" in data and "questionId" not in data:
            return "answers"
        if "questionId" in data and "value" in data and "answers" not in data:
            return "one"
        return None
    return "one" if isinstance(data, OneAnswer) else "answers"


@lru_cache(maxsize=16)
def user_response_model(max_answers: int) -> type[RootModel[Any]]:
    """``userResponse`` data with at most ``max_answers`` answers (``PLANWISE_MAX_ANSWERS``)."""

    class Answers(Request):
        """``userResponse`` with any number of answers (up to the limit)."""

        answers: dict[str, Any] = Field(
            max_length=max_answers, description="questionId -> value (null clears it)"
        )

    Answers.__name__ = Answers.__qualname__ = "Answers"
    shape = Discriminator(
        _user_response_shape,
        custom_error_type="invalid_shape",
        custom_error_message="must be {answers: {...}} or {questionId, value}",
    )
    union = Annotated[Annotated[Answers, Tag("answers")] | Annotated[OneAnswer, Tag("one")], shape]

    class UserResponse(RootModel[union]):
        """``{answers: {questionId: value}}`` or ``{questionId, value}``; answers are merged."""

    return UserResponse


UserResponse = user_response_model(DEFAULT_MAX_ANSWERS)


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
    name: str
    provider: str | None = None
    reasons: list[Reason]
    #: Present when ranking.excludedReasonsLimit cut the reasons (explainPlan gives them all).
    reasonsTotal: int | None = Field(None, description="how many reasons there are, when they were cut")


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


class SelectPlan(Request):
    planId: str = Field(min_length=1, max_length=MAX_PLAN_ID)
    idempotencyKey: str | None = Field(
        None, min_length=1, max_length=MAX_KEY_LENGTH, description="same key, same plan: the original reply"
    )


class ExplainPlan(Request):
    """``explainPlan`` data (v1.1)."""

    planId: str = Field(min_length=1, max_length=MAX_PLAN_ID)


class PlanExplanation(BaseModel):
    """Why one plan is shown, cut (matched, below the limit), excluded or inactive (v1.1)."""

    planId: str
    revision: int
    version: int
    status: Literal["shown", "cut", "excluded", "inactive"]
    rank: int | None = Field(None, description="only when shown")
    score: float | None = Field(None, description="shown and cut")
    reasons: list[Reason]


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


class UpdatesQuery(Request):
    after: int = Field(-1, ge=-1, le=MAX_POSITION, description="revision already seen")
    version: int = Field(0, ge=0, le=MAX_POSITION, description="version already seen")
    stage: Literal["rules", "enriched"] = Field("rules", description="stage already seen")
    step: int | None = Field(
        None, ge=0, le=MAX_POSITION, description="step of the enriched update already seen (0: none)"
    )
    wait: float = Field(
        25, ge=0, allow_inf_nan=False, description="seconds to wait; above PLANWISE_LONG_POLL_MAX it is that"
    )


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorReply(BaseModel):
    error: ErrorBody
