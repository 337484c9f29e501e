"""Sign-in throttling kept in the database, so that every ``planwise serve`` process (and host)
sees the same counts: an attacker gets no more attempts by reaching several processes.

One row per key in ``signin_failures`` (``admin.models.SignInFailure``): the number of failures and
the time of the last one. A key is a kind and a SHA-256 of its parts (no e-mail or address in
clear, and a fixed length whatever a client sends). Counting is one atomic upsert
(``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``, on SQLite and PostgreSQL alike); a count whose
last failure is older than the window starts again from 1. Rows older than the window are deleted
at each counted failure, so the table holds only what failed in the last ``window`` seconds (every
failure costs the attacker an argon2 check): bounded by time, never by the number of keys, so a
flood of other keys cannot push anyone's count out.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.runtime import get_runtime

from .models import SignInFailure

_T = SignInFailure.__table__.c


def _running_db() -> AsyncEngine:
    return get_runtime().db


@dataclass(frozen=True)
class _Keys:
    """The three counts an attempt touches."""

    pair: str
    address: str
    account: str

    @classmethod
    def of(cls, account: str, address: str) -> _Keys:
        return cls(_key("pair", account, address), _key("address", address), _key("account", account))

    def all(self) -> tuple[str, str, str]:
        return (self.pair, self.address, self.account)


def _key(kind: str, *parts: str) -> str:
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}:{digest[:48]}"


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
    password is checked and commits it (parallel guesses, in any process, cannot slip through
    together); :meth:`succeeded` takes it back. ``db`` gives the database (the running app's by
    default); ``clock`` is wall-clock seconds, the same on every host.
    """

    def __init__(
        self,
        window: float = 900.0,
        pair_free: int = 3,
        address_free: int = 10,
        account_free: int = 10,
        base: float = 1.0,
        cap: float = 900.0,
        clock: Callable[[], float] = time.time,
        db: Callable[[], AsyncEngine] = _running_db,
    ) -> None:
        self.window = window
        self.free = (pair_free, address_free, account_free)
        self.base, self.cap, self.clock, self.db = base, cap, clock, db

    def _wait(self, row: tuple[int, float] | None, free: int, now: float) -> float:
        if row is None or row[0] < free:
            return 0.0
        count, last = row
        delay = min(self.cap, self.base * 2.0 ** min(count - free, 40))
        return max(0.0, last + delay - now)

    async def _counts(
        self, conn: AsyncConnection, keys: tuple[str, ...], now: float
    ) -> dict[str, tuple[int, float]]:
        rows = await conn.execute(
            select(_T.key, _T.failures, _T.last_failure_at).where(
                _T.key.in_(keys), _T.last_failure_at >= now - self.window
            )
        )
        return {key: (failures, last) for key, failures, last in rows}

    async def retry_after(self, account: str, address: str) -> float:
        """Seconds before this account may be tried from this address, 0 when it may be now."""
        now = self.clock()
        keys = _Keys.of(account, address)
        async with self.db().connect() as conn:
            counts = await self._counts(conn, keys.all(), now)
        pair, by_address = counts.get(keys.pair), counts.get(keys.address)
        pair_free, address_free, account_free = self.free
        wait = max(self._wait(pair, pair_free, now), self._wait(by_address, address_free, now))
        if pair is not None or by_address is not None:  # this address has failed: it proves nothing
            wait = max(wait, self._wait(counts.get(keys.account), account_free, now))
        return wait

    async def attempt(self, account: str, address: str) -> int:
        """Count an attempt as failed until :meth:`succeeded` says otherwise; the account's count."""
        now = self.clock()
        keys = _Keys.of(account, address)
        engine = self.db()
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        rows = insert(SignInFailure).values(
            [{"key": key, "failures": 1, "last_failure_at": now} for key in keys.all()]
        )
        # An existing row counts one more, or starts again at 1 when its last failure has expired.
        upsert = rows.on_conflict_do_update(
            index_elements=[_T.key],
            set_={
                "failures": case((_T.last_failure_at < now - self.window, 1), else_=_T.failures + 1),
                "last_failure_at": now,
            },
        ).returning(_T.key, _T.failures)
        async with engine.begin() as conn:
            counted = {key: failures for key, failures in await conn.execute(upsert)}
            await conn.execute(delete(SignInFailure).where(_T.last_failure_at < now - self.window))
        return int(counted[keys.account])

    async def succeeded(self, account: str, address: str) -> None:
        """The attempt was right: take its failure back and forget this address's typos."""
        now = self.clock()
        keys = _Keys.of(account, address)
        async with self.db().begin() as conn:
            await conn.execute(delete(SignInFailure).where(_T.key == keys.pair))
            live = (_T.key.in_((keys.address, keys.account)), _T.last_failure_at >= now - self.window)
            await conn.execute(update(SignInFailure).where(*live).values(failures=_T.failures - 1))
            await conn.execute(
                delete(SignInFailure).where(_T.key.in_((keys.address, keys.account)), _T.failures <= 0)
            )

    async def failures(self, account: str) -> int:
        """Failed attempts on the account in the window (for the audit summary)."""
        key = _key("account", account)
        async with self.db().connect() as conn:
            row = (await self._counts(conn, (key,), self.clock())).get(key)
        return row[0] if row else 0

    async def rows(self) -> int:
        """Rows in the table (expired ones included until the next counted failure deletes them)."""
        async with self.db().connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(SignInFailure))).scalar_one())
