"""Admin tables: staff users, staff sessions (server-side revocation), the audit log, test scenarios,
the sign-in throttle's failure counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service.db.models import utcnow


class Base(DeclarativeBase):
    """The admin's own tables (their migrations: admin/migrations/versions)."""

    type_annotation_map = {dict[str, Any]: JSON}


class StaffUser(Base):
    """A member of staff who signs in to /admin; ``role`` is viewer, editor, publisher or admin."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(nullable=True)


class StaffSession(Base):
    """One signed-in browser; the cookie holds a token whose SHA-256 is ``id``."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    address: Mapped[str] = mapped_column(String(100), default="")


class AuditEntry(Base):
    """One audited action; rows are only ever inserted (SQLite triggers refuse updates and deletes)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    address: Mapped[str] = mapped_column(String(100), default="")

    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_action", "action"))


class Scenario(Base):
    """A saved answer set with expectations, run against the draft before publishing."""

    __tablename__ = "scenarios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    answers: Mapped[Any] = mapped_column(JSON)
    expectations: Mapped[Any] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(320), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SignInFailure(Base):
    """Failed sign-ins per key (account, address, or both, hashed) in the throttle's window.

    Shared by every process (admin/throttle.py); rows older than the window are deleted.
    """

    __tablename__ = "signin_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[float] = mapped_column(Float)  # seconds since the epoch

    __table_args__ = (Index("ix_signin_failures_last", "last_failure_at"),)
