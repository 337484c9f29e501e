"""Template helpers for admin pages: CSRF token, role checks, JSON and date formatting."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from quart import Quart, g

from .problems import in_words, show
from .roles import ROLE_HELP, ROLES, has_role
from .web import csrf_token


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def can(role: str) -> bool:
    staff = g.get("staff")
    return staff is not None and has_role(staff.role, role)


def admin_context() -> dict[str, Any]:
    """Globals for admin pages only (registered as the blueprint's context processor)."""
    return {
        "csrf_token": csrf_token,
        "can": can,
        "ROLES": ROLES,
        "ROLE_HELP": ROLE_HELP,
        "staff": g.get("staff"),
        "in_words": in_words,
        "show_value": show,
        "changed_by": None,
    }


def register_templating(app: Quart) -> None:
    """App-wide filters, prefixed ``admin_``."""
    app.add_template_filter(pretty_json, "admin_json")
    app.add_template_filter(when, "admin_when")
