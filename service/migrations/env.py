"""Alembic environment: runs on the connection handed over by service.db.migrate."""

from __future__ import annotations

from alembic import context

from service.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always run through service.db.migrate
    raise RuntimeError("run migrations with `planwise db upgrade`")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
