"""Alembic environment: the URL comes from the caller (`db.migrate`), never from a file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import context
from sqlalchemy import Connection, text

from withdraw_service.persistence.db import MIGRATION_LOCK, make_engine
from withdraw_service.persistence.tables import Base

url = context.config.attributes.get("database_url") or context.config.get_main_option(
    "sqlalchemy.url"
)
if not url:
    raise RuntimeError("no database URL: call withdraw_service.persistence.db.migrate(url)")


# One migration at a time on PostgreSQL, however many processes start at once (replicas of
# the worker, the migration Job): a session advisory lock, taken before Alembic reads the
# schema's version, so the second runner waits and then finds the schema already at head.
@contextmanager
def one_runner_at_a_time(connection: Connection) -> Iterator[None]:
    if connection.dialect.name != "postgresql":
        yield  # SQLite: one file, written by one process (dev mode)
        return
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
    connection.commit()  # a session lock outlives the transaction that took it
    try:
        yield
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
        connection.commit()


# No lock or statement timeout: a schema change may rightly take long (an index build).
engine = make_engine(url, pool_size=1, lock_timeout_seconds=None)
with engine.connect() as connection, one_runner_at_a_time(connection):
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
