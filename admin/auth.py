"""Staff authentication: argon2 passwords, server-side staff sessions (sign-in throttling: throttle.py)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from quart_auth import Action, AuthUser
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import utcnow
from service.runtime import get_runtime

from .models import StaffSession, StaffUser
from .throttle import SignInThrottle

__all__ = ["SignInThrottle"]  # re-exported: admin.web keeps one per app

_hasher = PasswordHasher()
# Verified when the e-mail is unknown, so that a wrong address takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """Check a password off the event loop (argon2 costs tens of milliseconds on purpose)."""
    ok = await asyncio.to_thread(_verify, stored or _DUMMY_HASH, password)
    return ok and stored is not None


def token_id(token: str) -> str:
    """The database key of a session token (the token itself is stored only in the cookie)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Staff:
    """The signed-in member of staff behind the current request."""

    user_id: int
    email: str
    role: str
    session_id: str


async def find_user(session: AsyncSession, email: str) -> StaffUser | None:
    row = await session.execute(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    return row.scalar_one_or_none()


async def start_session(session: AsyncSession, user: StaffUser, hours: float, address: str) -> str:
    """Create a staff session; return the token for the cookie."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        StaffSession(
            id=token_id(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
            address=address[:100],
        )
    )
    user.last_login_at = now
    return token


async def revoke_session(session: AsyncSession, token: str) -> None:
    await session.execute(
        update(StaffSession)
        .where(StaffSession.id == token_id(token), StaffSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_user_sessions(session: AsyncSession, user_id: int) -> None:
    """Sign a user out everywhere (password change, deactivation, role change)."""
    await session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def staff_for_token(session: AsyncSession, token: str) -> Staff | None:
    """The staff member of a live (unexpired, unrevoked, active user) session, else None."""
    row = (
        await session.execute(
            select(StaffSession, StaffUser)
            .join(StaffUser, StaffUser.id == StaffSession.user_id)
            .where(StaffSession.id == token_id(token))
        )
    ).first()
    if row is None:
        return None
    staff_session, user = row
    if staff_session.revoked_at is not None or staff_session.expires_at <= utcnow() or not user.active:
        return None
    return Staff(user.id, user.email, user.role, staff_session.id)


class StaffAuthUser(AuthUser):
    """quart-auth's user with the staff record resolved from the database once per request."""

    def __init__(self, auth_id: str | None, action: Action = Action.PASS) -> None:
        super().__init__(auth_id, action)
        self._loaded = False
        self._staff: Staff | None = None

    async def staff(self) -> Staff | None:
        if not self._loaded:
            self._loaded = True
            if self.auth_id:
                maker = get_runtime().sessions
                async with maker() as session:
                    self._staff = await staff_for_token(session, self.auth_id)
        return self._staff

    @property
    async def is_authenticated(self) -> bool:
        return await self.staff() is not None


def audit_this_failure(count: int) -> bool:
    """Repeated failures of one account are audited in aggregate: the 1st to 5th, then the 8th,
    16th, 32nd, ... in the window (each row says how many there were)."""
    return count <= 5 or count & (count - 1) == 0
