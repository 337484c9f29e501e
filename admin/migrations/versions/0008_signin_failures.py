"""Admin: the sign-in throttle's failure counts, shared by every process (admin/throttle.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signin_failures",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_signin_failures_last", "signin_failures", ["last_failure_at"])


def downgrade() -> None:
    op.drop_index("ix_signin_failures_last", table_name="signin_failures")
    op.drop_table("signin_failures")
