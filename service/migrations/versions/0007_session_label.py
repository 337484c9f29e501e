"""The unverified ``userId`` label of a session (Socket.IO, PROTOCOL.md): kept, never trusted.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("user_label", sa.String(200), nullable=True))  # no table rebuild


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:  # SQLite
        batch.drop_column("user_label")
