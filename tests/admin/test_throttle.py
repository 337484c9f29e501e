"""The sign-in throttle kept in the database (admin/throttle.py), on SQLite and PostgreSQL.

Its counts live in ``signin_failures``, so two apps (processes) on one database share them; the
behaviour is the in-memory one's: exponential delays per account and address, the owner from an
address that has not failed is not held back, only time removes a count.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from admin.throttle import SignInThrottle
from planwise.app import create_app
from service.runtime import get_runtime
from tests.admin.conftest import settings_for


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "postgresql":
        return settings_for(tmp_path, database_url=request.getfixturevalue("pg_url"))
    return settings_for(tmp_path)


@pytest.fixture
async def two_apps(settings: dict[str, Any]) -> AsyncIterator[tuple[Quart, Quart]]:
    """Two apps on one database, as two ``planwise serve`` processes would be."""
    first, second = create_app(settings), create_app({**settings, "load_demo": False})
    async with first.test_app(), second.test_app():
        yield first, second


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def throttle_of(app: Quart, clock: Clock) -> SignInThrottle:
    return SignInThrottle(clock=clock, db=lambda: get_runtime(app).db)


async def test_delays_grow_exponentially_and_spare_addresses_that_have_not_failed(
    two_apps: tuple[Quart, Quart],
) -> None:
    clock = Clock()
    one, other = (throttle_of(app, clock) for app in two_apps)
    waits = []
    for i in range(8):  # the attempts alternate between the two processes
        by = one if i % 2 else other
        await by.attempt("ann@example.com", "192.0.2.1")
        waits.append(await (other if i % 2 else one).retry_after("ann@example.com", "192.0.2.1"))
    assert waits == [0, 0, 1, 2, 4, 8, 16, 32]
    assert await one.failures("ann@example.com") == 8
    # Many addresses, a few guesses each: the account is under attack from everywhere.
    for i in range(30):
        await other.attempt("ann@example.com", f"203.0.113.{i}")
    assert await one.retry_after("ann@example.com", "203.0.113.1") > 0  # a failed address waits
    assert await one.retry_after("ann@example.com", "198.51.100.7") == 0  # the owner's does not
    # The owner signs in: the failure counted for it is taken back, this address's typos forgotten.
    await one.attempt("ann@example.com", "198.51.100.7")
    await other.succeeded("ann@example.com", "198.51.100.7")
    assert await one.failures("ann@example.com") == 38
    assert await one.retry_after("ann@example.com", "198.51.100.7") == 0


async def test_a_spray_of_keys_does_not_lift_a_delay_and_time_empties_the_table(
    two_apps: tuple[Quart, Quart],
) -> None:
    clock = Clock()
    one, other = (throttle_of(app, clock) for app in two_apps)
    for _ in range(5):
        await one.attempt("ann@example.com", "192.0.2.1")
    held = await other.retry_after("ann@example.com", "192.0.2.1")
    assert held > 0
    for i in range(500):  # each of these costs an attacker an argon2 check in real life
        await other.attempt(f"spray{i}@example.com", f"10.0.{i >> 8}.{i & 255}")
    assert await one.retry_after("ann@example.com", "192.0.2.1") == held  # nothing pushed it out
    assert await one.rows() == 3 + 500 * 3
    await other.succeeded("ann@example.com", "192.0.2.1")
    assert await one.retry_after("ann@example.com", "192.0.2.1") == 0

    clock.now += 901  # the window passes: every count is forgotten, and the next failure deletes them
    assert await one.retry_after("spray5@example.com", "10.0.0.5") == 0
    assert await one.failures("ann@example.com") == 0
    assert await other.attempt("ann@example.com", "192.0.2.1") == 1  # an expired count starts again
    assert await one.rows() == 3
