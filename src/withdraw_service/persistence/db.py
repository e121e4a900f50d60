"""Engines and migrations. An engine is made when asked for, from the settings' URL.

`hide_parameters`: a database error's text (which reaches logs, and Temporal as the failure of a
`saveToDb` attempt) never carries the values, such as a redemption id that embeds the account
number."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

# The database could not be reached or did not answer in time (connection refused or lost,
# lock or statement timeout, no pooled connection free): an outage, not a wrong request.
DATABASE_OUTAGE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeoutError)
R = TypeVar("R")


def lock_for_update(session: Session) -> None:
    """First in a transaction whose writes depend on what it reads (the reads that say
    `with_for_update`). PostgreSQL locks the rows read FOR UPDATE. SQLite ignores FOR UPDATE,
    and its Python driver opens the transaction only at the first write, so those reads would
    see a state another writer could change before this one writes: there it takes the
    database's write lock now (`BEGIN IMMEDIATE`, waiting up to the busy timeout)."""
    if session.get_bind().dialect.name == "sqlite":
        driver = session.connection().connection.driver_connection
        if driver is not None and driver.in_transaction:
            raise RuntimeError("lock_for_update must come first in its transaction")
        session.execute(text("BEGIN IMMEDIATE"))


def get_for_update(session: Session, entity: type[R], key: Any) -> R | None:
    """The row of `entity` under `key`, read first in a transaction that will write
    depending on it: `lock_for_update`, then the read FOR UPDATE."""
    lock_for_update(session)
    return session.get(entity, key, with_for_update=True)


def make_engine(
    url: str, *, pool_size: int = 10, lock_timeout_seconds: float | None = 5.0
) -> Engine:
    """`lock_timeout_seconds` bounds how long a statement waits for a lock (and, on
    PostgreSQL, that plus a second for the statement itself) and for a pooled connection;
    None sets no such bound (migrations: an index build may take long). `pool_size`
    connections at most."""
    wait = lock_timeout_seconds if lock_timeout_seconds is not None else 30.0
    busy_ms = int(wait * 1000)
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1] if "///" in url else ""
        file_based = bool(database) and database != ":memory:"
        if file_based:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        pooling = {"pool_size": pool_size, "pool_timeout": wait} if file_based else {}
        engine = create_engine(url, connect_args={"timeout": wait}, hide_parameters=True, **pooling)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets the API read while the worker writes; foreign keys are off by default.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # Added to the URL's own `options` (e.g. a search_path), which connect_args would replace.
    timeouts = (
        f"-c lock_timeout={busy_ms} -c statement_timeout={busy_ms + 1000}"
        if lock_timeout_seconds is not None
        else ""
    )
    own = make_url(url).query.get("options")
    parts = [*(own if isinstance(own, tuple) else [own] if own else []), timeouts]
    options = " ".join(part for part in parts if part)
    return create_engine(
        url,
        pool_pre_ping=True,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=wait,
        connect_args={"connect_timeout": max(1, int(wait)), "options": options},
    )


# The PostgreSQL advisory lock every migration runner takes first (migrations/env.py): any
# fixed bigint, the same for all.
MIGRATION_LOCK = 7_301_442_019


def _alembic(url: str) -> Config:
    migrations = resources.files("withdraw_service.persistence") / "migrations"
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes["database_url"] = url
    return config


def migrate(url: str) -> None:
    """Bring the database to the newest schema (Alembic `upgrade head`)."""
    command.upgrade(_alembic(url), "head")


class SchemaBehind(RuntimeError):
    """The database's schema is older than this release's: it must be migrated first."""


@dataclass(frozen=True)
class SchemaVersion:
    database: tuple[str, ...]  # the revisions the database is at (none: never migrated)
    release: tuple[str, ...]  # this release's newest revisions
    known: bool  # every revision of the database is one of this release's

    @property
    def current(self) -> bool:
        return set(self.database) == set(self.release)

    @property
    def ahead(self) -> bool:
        """Migrated by a newer release: a rollout in progress. Migrations only expand the
        schema the release before them reads (docs/deployment.md), so this one runs on."""
        return bool(self.database) and not self.known


def schema_version(url: str) -> SchemaVersion:
    """Where the database's schema stands against this release's migrations (read only)."""
    script = ScriptDirectory.from_config(_alembic(url))
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            database = tuple(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    known = True
    for revision in database:
        try:
            known = known and script.revision_map.get_revision(revision) is not None
        except ResolutionError:
            known = False
    return SchemaVersion(database, tuple(script.get_heads()), known)


def require_schema(url: str) -> SchemaVersion:
    """Refuse to run on a schema older than this release's: `withdraw-service migrate` (the
    migration Job) changes the schema in production, never a worker or an API starting."""
    version = schema_version(url)
    if not version.current and not version.ahead:
        at = (
            f"the database's schema is at {', '.join(version.database)}"
            if version.database
            else "the database has no schema yet"
        )
        raise SchemaBehind(
            f"{at}; this release needs {', '.join(version.release)}:"
            " run `withdraw-service migrate` first"
        )
    return version
