"""``session_events`` without its index by session (the hot path pays for every index), ids that never
come back (SQLite ``AUTOINCREMENT``), and the rollup's count of erasures (service/event_erasure.py).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _events(recreate: bool, autoincrement: bool) -> Any:
    # SQLite cannot add AUTOINCREMENT to a table: it is copied (ids kept); elsewhere in place.
    return op.batch_alter_table(
        "session_events",
        recreate="always" if recreate else "never",
        table_kwargs={"sqlite_autoincrement": autoincrement},
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with _events(sqlite, True) as batch:
        batch.drop_index("ix_session_events_session")
        batch.drop_index("ix_session_events_at")
        batch.create_index("ix_session_events_at_session", ["at", "session_id"])
    op.add_column(
        "event_rollup_state", sa.Column("erasures", sa.BigInteger(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("event_rollup_state") as batch:
        batch.drop_column("erasures")
    with _events(sqlite, False) as batch:
        batch.drop_index("ix_session_events_at_session")
        batch.create_index("ix_session_events_at", ["at"])
        batch.create_index("ix_session_events_session", ["session_id", "id"])
