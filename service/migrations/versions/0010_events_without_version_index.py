"""``session_events`` without its index by version: every answer's event paid for it, and the one
query that used it (admin/fired.py, "never fired in the last N days") reads its window through the
``(at, session_id)`` index as fast (``bench/never_fired.py``: 200,000 events, 0.99 against 1.13 s
and 0.66 against 0.73 s).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_session_events_version_at", table_name="session_events")


def downgrade() -> None:
    op.create_index("ix_session_events_version_at", "session_events", ["version", "at"])
