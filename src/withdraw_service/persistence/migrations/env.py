"""Alembic environment: the URL comes from the caller (`db.migrate`), never from a file."""

from __future__ import annotations

from alembic import context

from withdraw_service.persistence.db import make_engine
from withdraw_service.persistence.tables import Base

url = context.config.attributes.get("database_url") or context.config.get_main_option(
    "sqlalchemy.url"
)
if not url:
    raise RuntimeError("no database URL: call withdraw_service.persistence.db.migrate(url)")

# No lock or statement timeout: a schema change may rightly take long (an index build).
engine = make_engine(url, pool_size=1, lock_timeout_seconds=None)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
