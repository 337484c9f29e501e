"""Staff authentication: argon2 passwords, server-side staff sessions, sign-in throttling."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from quart_auth import Action, AuthUser
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import utcnow
from service.runtime import get_runtime

from .models import StaffSession, StaffUser

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


@dataclass
class _Failures:
    count: int
    last: float


class _Table:
    """Failure counts per key, forgotten ``window`` seconds after their last failure (oldest first)."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._rows: OrderedDict[Any, _Failures] = OrderedDict()

    def get(self, key: Any, now: float) -> _Failures | None:
        self._sweep(now)
        return self._rows.get(key)

    def add(self, key: Any, now: float, amount: int = 1) -> int:
        self._sweep(now)
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = _Failures(0, now)
        row.count = max(0, row.count + amount)
        if amount > 0:
            row.last = now
            self._rows.move_to_end(key)
        if row.count == 0:
            del self._rows[key]
            return 0
        return row.count

    def clear(self, key: Any) -> None:
        self._rows.pop(key, None)

    def __len__(self) -> int:
        return len(self._rows)

    def _sweep(self, now: float) -> None:
        # Rows are kept in order of their last failure: expired ones are at the front. Only time
        # removes a row (never the number of others), so a spray of keys cannot lift a delay.
        while self._rows:
            row = next(iter(self._rows.values()))
            if now - row.last <= self.window:
                break
            self._rows.popitem(last=False)


class SignInThrottle:
    """Exponential delays for failed sign-ins that slow attackers without locking owners out.

    Three counts, each kept until ``window`` seconds after its last failure: per (account,
    address), per address, per account. A count past its free allowance imposes a delay of
    ``base * 2 ** (count - free)`` seconds (at most ``cap``) after the last failure:

    - the account from this address: 3 free attempts (typos), then 1, 2, 4, ... s;
    - the address, whatever the account: 10 free, then exponential (password spraying);
    - the account from anywhere: 10 free, then exponential, but **only for addresses that have
      failed** (for this account or any other) in the window. An address with no failures, like
      the owner's, signs in with the right password during an attack on the account: it knows
      the password, and an attacker gets one guess per fresh address at most.

    A delayed attempt is answered at once (429 with the wait), never verified and never
    audited, so it costs no password hashing. :meth:`attempt` counts a failure *before* the
    password is checked (parallel guesses cannot slip through together); :meth:`succeeded`
    takes it back.
    """

    def __init__(
        self,
        window: float = 900.0,
        pair_free: int = 3,
        address_free: int = 10,
        account_free: int = 10,
        base: float = 1.0,
        cap: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pairs = _Table(window)
        self.addresses = _Table(window)
        self.accounts = _Table(window)
        self.free = (pair_free, address_free, account_free)
        self.base, self.cap, self.clock = base, cap, clock

    def _wait(self, row: _Failures | None, free: int, now: float) -> float:
        if row is None or row.count < free:
            return 0.0
        delay = min(self.cap, self.base * 2.0 ** min(row.count - free, 40))
        return max(0.0, row.last + delay - now)

    def retry_after(self, account: str, address: str) -> float:
        """Seconds before this account may be tried from this address, 0 when it may be now."""
        now = self.clock()
        pair = self.pairs.get((account, address), now)
        by_address = self.addresses.get(address, now)
        pair_free, address_free, account_free = self.free
        wait = max(self._wait(pair, pair_free, now), self._wait(by_address, address_free, now))
        if pair is not None or by_address is not None:  # this address has failed: it proves nothing
            wait = max(wait, self._wait(self.accounts.get(account, now), account_free, now))
        return wait

    def attempt(self, account: str, address: str) -> int:
        """Count an attempt as failed until :meth:`succeeded` says otherwise; the account's count."""
        now = self.clock()
        self.pairs.add((account, address), now)
        self.addresses.add(address, now)
        return self.accounts.add(account, now)

    def succeeded(self, account: str, address: str) -> None:
        """The attempt was right: take its failure back and forget this address's typos."""
        now = self.clock()
        self.pairs.clear((account, address))
        self.addresses.add(address, now, -1)
        self.accounts.add(account, now, -1)

    def failures(self, account: str) -> int:
        """Failed attempts on the account in the window (for the audit summary)."""
        row = self.accounts.get(account, self.clock())
        return row.count if row else 0


def audit_this_failure(count: int) -> bool:
    """Repeated failures of one account are audited in aggregate: the 1st to 5th, then the 8th,
    16th, 32nd, ... in the window (each row says how many there were)."""
    return count <= 5 or count & (count - 1) == 0
