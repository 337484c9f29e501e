"""The service's exception root and the protocol errors clients see (PROTOCOL.md error codes)."""

from __future__ import annotations

from typing import Any

HTTP_STATUS = {
    "invalid_message": 400,
    "unknown_event": 400,
    "unauthorized": 401,
    "invalid_token": 401,
    "forbidden": 403,
    "not_found": 404,
    "idempotency_conflict": 409,
    "stale": 409,
    "too_large": 413,
    "invalid_answer": 422,
    "unknown_plan": 422,
    "reserved_field": 422,
    "rate_limited": 429,
    "internal": 500,
    "unavailable": 503,
}


class ServiceError(Exception):
    """Root of the service's own exceptions."""


class ProtocolError(ServiceError):
    """An error with a PROTOCOL.md code, sent to the client as an ``error`` event or HTTP error."""

    def __init__(self, code: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    @property
    def status(self) -> int:
        return HTTP_STATUS.get(self.code, 400)

    def payload(self, reply_to: Any = None) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            data["details"] = self.details
        if reply_to is not None:
            data["replyTo"] = reply_to
        return data
