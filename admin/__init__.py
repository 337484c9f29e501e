"""The staff admin blueprint at /admin (catalogue editing, checks, publishing)."""

from __future__ import annotations

from quart import Quart


def init_app(app: Quart) -> None:
    """Register the admin blueprint and its auth on ``app`` (arrives with the admin issue)."""
