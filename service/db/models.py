"""Typed SQLAlchemy 2 models of the service; schema changes: service/migrations/versions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class CatalogueVersion(Base):
    """An immutable published catalogue version; the live version is the highest id."""

    __tablename__ = "catalogue_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    bundle: Mapped[dict[str, Any]] = mapped_column(JSON)
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(320), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    copied_from: Mapped[int | None] = mapped_column(Integer, nullable=True)


#: The longest ``userId`` label kept on a session (PlanSession.user_label).
LABEL_MAX = 200


class PlanSession(Base):
    """One person's run through the questionnaire."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_sub: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The original design's ``userId`` (Socket.IO): an unverified label, never an identity.
    user_label: Mapped[str | None] = mapped_column(String(LABEL_MAX), nullable=True)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    selection_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_sessions_user_updated", "user_sub", "updated_at"),
        Index("ix_sessions_updated", "updated_at"),
    )


class Selection(Base):
    """A plan choice; the latest one of a session is its current selection, the rest is history."""

    __tablename__ = "selections"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    plan_id: Mapped[str] = mapped_column(String(64))
    revision: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("session_id", "idempotency_key", name="uq_selection_idempotency"),)


class SessionEvent(Base):
    """What happened in a session, for Insights: append-only, written in the answers' group commit.

    ``kind``: ``start``, ``resume``, ``answer`` (resets too), ``select``; ``data`` per kind in
    service/events.py. No personal data beyond the session id, never a text answer. Rows older
    than ``PLANWISE_EVENT_RETENTION_DAYS`` are purged.
    """

    __tablename__ = "session_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    session_id: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer)
    matched: Mapped[int | None] = mapped_column(Integer, nullable=True)  # answer: plans that fit
    plan_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # select
    rank: Mapped[int | None] = mapped_column(Integer, nullable=True)  # select: None = not shown
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        # No index by session: each would cost every answer a random page (service/event_erasure.py).
        # None by version either: the "never fired" check reads its window by ``at`` as fast (0010).
        Index("ix_session_events_at_session", "at", "session_id"),
        {"sqlite_autoincrement": True},  # ids grow in commit order, never reused after a delete
    )


class EventRollup(Base):
    """What one session did on one UTC day in one catalogue version: its events folded (Insights).

    Filled in the background from ``session_events`` (service/event_rollup.py), never on the hot
    path; deleted with the session's events (purge, erasure, retention). ``sets`` is a little-endian
    uint32 array; its ids are numbers of ``event_rollup_items``.
    """

    __tablename__ = "event_rollup"

    day: Mapped[date] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    selected: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the plan chosen last
    # Answer changes, of them leaving no plan, the last answer's and selection's event ids, then
    # the last answer's question ids, each selection's rank (0: not shown), the ids shown,
    # answered, fired, in the first three (service/event_rollup.py: pack).
    sets: Mapped[bytes] = mapped_column(LargeBinary)
    zero_answers: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON [[answers, n], ...]

    __table_args__ = (Index("ix_event_rollup_session", "session_id"),)


class EventRollupItem(Base):
    """The ids of questions, rules and plans named in the rollup's sets (one number per id text)."""

    __tablename__ = "event_rollup_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class EventRollupState(Base):
    """One row: the highest ``session_events.id`` folded into the rollup, and how many erasures ran
    (a fold's chunk read before one is not written: service/event_erasure.py)."""

    __tablename__ = "event_rollup_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    watermark: Mapped[int] = mapped_column(BigInteger)
    erasures: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Draft(Base):
    """The catalogue being edited (one draft); publishing copies it into a new version."""

    __tablename__ = "drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bundle: Mapped[dict[str, Any]] = mapped_column(JSON)
    base_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_by: Mapped[str] = mapped_column(String(320), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EnrichmentPush(Base):
    """Per-plan fields a back-end service pushed into one (revision, version) of a session.

    ``POST /api/enrichments`` (service/push.py); kept so that a client resuming later sees them.
    """

    __tablename__ = "enrichment_pushes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"))
    revision: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(100))
    plans: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_enrichment_pushes_session", "session_id", "revision", "version"),)
