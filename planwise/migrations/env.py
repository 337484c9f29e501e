"""Alembic environment: runs on the connection handed over by planwise.migrate, with every layer's models."""

from __future__ import annotations

from alembic import context

from admin.models import Base as AdminBase
from service.db.models import Base as ServiceBase

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always run through planwise.migrate
    raise RuntimeError("run migrations with `planwise db upgrade`")
context.configure(
    connection=connection, target_metadata=[ServiceBase.metadata, AdminBase.metadata], render_as_batch=True
)
with context.begin_transaction():
    context.run_migrations()
