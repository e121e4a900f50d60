"""Engines and migrations. An engine is made when asked for, from the settings' URL.

`hide_parameters`: a database error's text (which reaches logs, and Temporal as the failure of a
`saveToDb` attempt) never carries the values, such as a redemption id that embeds the account
number."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets the API read while the worker writes; foreign keys are off by default.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def migrate(url: str) -> None:
    """Bring the database to the newest schema (Alembic `upgrade head`)."""
    migrations = resources.files("withdraw_service.persistence") / "migrations"
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes["database_url"] = url
    command.upgrade(config, "head")
