"""Staff user management (data functions: take a session, never commit)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import utcnow

from .auth import MIN_PASSWORD_LENGTH, find_user, hash_password, revoke_user_sessions
from .models import StaffUser
from .roles import ROLES


class StaffError(ValueError):
    """A staff change that cannot be made (message for the person making it)."""


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"Use at least {MIN_PASSWORD_LENGTH} characters")


async def create_user(session: AsyncSession, email: str, role: str, password: str) -> StaffUser:
    email = email.strip().lower()
    if role not in ROLES:
        raise StaffError(f"Unknown role {role!r}; use one of {', '.join(ROLES)}")
    if "@" not in email or len(email) > 320:
        raise StaffError("Enter an e-mail address")
    check_password(password)
    if await find_user(session, email) is not None:
        raise StaffError(f"{email} already has an account")
    user = StaffUser(email=email, role=role, password_hash=hash_password(password), active=True)
    session.add(user)
    await session.flush()
    return user


async def set_password(session: AsyncSession, user: StaffUser, password: str) -> None:
    """Change the password and sign the user out everywhere."""
    check_password(password)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    await revoke_user_sessions(session, user.id)


async def count_admins(session: AsyncSession) -> int:
    query = select(func.count(StaffUser.id)).where(StaffUser.role == "admin", StaffUser.active.is_(True))
    return int((await session.execute(query)).scalar_one())


async def count_users(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count(StaffUser.id)))).scalar_one())


async def list_users(session: AsyncSession) -> list[StaffUser]:
    return list((await session.execute(select(StaffUser).order_by(StaffUser.email))).scalars())


async def update_user(session: AsyncSession, user: StaffUser, role: str, active: bool) -> None:
    """Change role/active; refuses to leave no active admin; signs the user out on any change."""
    if role not in ROLES:
        raise StaffError(f"Unknown role {role!r}")
    was_admin = user.role == "admin" and user.active
    if was_admin and (role != "admin" or not active) and await count_admins(session) <= 1:
        raise StaffError("This is the last active admin: make someone else admin first")
    if (role, active) != (user.role, user.active):
        user.role, user.active = role, active
        await revoke_user_sessions(session, user.id)
