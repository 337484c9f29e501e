"""Staff roles, ordered: each role can do everything the roles before it can."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

ROLES = ("viewer", "editor", "publisher", "admin")
PUBLIC = "public"  # the login page: no role needed
ROLE_HELP = {
    "viewer": "read everything",
    "editor": "change the draft",
    "publisher": "publish and roll back",
    "admin": "manage staff",
}

F = TypeVar("F", bound=Callable[..., object])


def has_role(role: str, needed: str) -> bool:
    """Whether ``role`` includes ``needed`` (admin > publisher > editor > viewer)."""
    if needed == PUBLIC:
        return True
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


def requires(role: str, write: str | None = None) -> Callable[[F], F]:
    """Mark a view with the role it needs (``write``: for POST, default the same).

    The blueprint's guard refuses any view without a mark.
    """
    for r in (role, write or role):
        if r != PUBLIC and r not in ROLES:
            raise ValueError(f"unknown role {r!r}")

    def mark(func: F) -> F:
        func.required_role = role  # type: ignore[attr-defined]
        func.write_role = write or role  # type: ignore[attr-defined]
        return func

    return mark
