"""The Insights rollup (service/event_rollup.py): session events folded per day, version and session.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_rollup",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("session_id", sa.String(40), primary_key=True),
        sa.Column("selected", sa.String(64), nullable=True),
        sa.Column("sets", sa.LargeBinary(), nullable=False),
        sa.Column("zero_answers", sa.Text(), nullable=True),
    )
    op.create_index("ix_event_rollup_session", "event_rollup", ["session_id"])
    op.create_table(
        "event_rollup_items",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
    )
    state = op.create_table(
        "event_rollup_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "watermark": 0}])


def downgrade() -> None:
    op.drop_table("event_rollup_state")
    op.drop_table("event_rollup_items")
    op.drop_table("event_rollup")
