"""PostgreSQL: announce every session change on the ``planwise_sessions`` channel (LISTEN/NOTIFY).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

The payload is a JSON array ``[sessionId, revision, selectionId, origin]``; ``origin`` is the
writing connection's ``application_name`` (each Planwise process sets its own), so a process can
skip its own changes. Notifications are sent at commit, never for a rolled-back change. Nothing to
do on SQLite (one host: processes poll instead, see service/sync.py).
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION planwise_session_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "PERFORM pg_notify('planwise_sessions', json_build_array(NEW.id, NEW.revision, NEW.selection_id, "
        "current_setting('application_name'))::text); RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER sessions_changed AFTER UPDATE ON sessions FOR EACH ROW "
        "WHEN (OLD.revision IS DISTINCT FROM NEW.revision "
        "OR OLD.selection_id IS DISTINCT FROM NEW.selection_id) "
        "EXECUTE FUNCTION planwise_session_changed()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS sessions_changed ON sessions")
    op.execute("DROP FUNCTION IF EXISTS planwise_session_changed()")
