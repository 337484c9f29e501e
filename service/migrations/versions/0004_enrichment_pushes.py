"""Fields pushed by back-end services into a session's update (``POST /api/enrichments``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

One row per push, for the (revision, version) it was merged into; a client resuming that state
later still sees it (service/push.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enrichment_pushes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("plans", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index(
        "ix_enrichment_pushes_session", "enrichment_pushes", ["session_id", "revision", "version"]
    )


def downgrade() -> None:
    op.drop_table("enrichment_pushes")
