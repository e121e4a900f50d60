"""The engine's own settings on the real PostgreSQL: lock and statement timeouts below the
activities' timeouts, added to (never replacing) what the URL asks for, e.g. a search_path."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text

from tests.support.databases import POSTGRES_DSN, postgres_schema_url
from withdraw_service.persistence.db import MIGRATION_LOCK, make_engine, migrate


@pytest.fixture
def schema_url() -> Iterator[str]:
    with postgres_schema_url() as url:
        yield url


def test_the_engine_keeps_the_urls_options_and_adds_its_timeouts(schema_url: str) -> None:
    engine = make_engine(schema_url, lock_timeout_seconds=3)
    try:
        with engine.connect() as connection:
            search_path = connection.execute(text("SHOW search_path")).scalar()
            lock_timeout = connection.execute(text("SHOW lock_timeout")).scalar()
            statement_timeout = connection.execute(text("SHOW statement_timeout")).scalar()
    finally:
        engine.dispose()
    assert search_path == schema_url.rsplit("%3D", 1)[1]
    assert (lock_timeout, statement_timeout) == ("3s", "4s")


def test_migrations_run_one_at_a_time_on_postgresql(schema_url: str) -> None:
    """Replicas and the migration Job may start together: a runner waits for the advisory
    lock of the one before it, then finds the schema at head."""
    holder = psycopg.connect(POSTGRES_DSN, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    finished, failures = threading.Event(), []

    def run() -> None:
        try:
            migrate(schema_url)
        except Exception as exc:  # reported below
            failures.append(exc)
        finally:
            finished.set()

    runner = threading.Thread(target=run)
    runner.start()
    try:
        assert not finished.wait(2.0), "migrated while another runner held the lock"
    finally:
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        holder.close()
    assert finished.wait(120) and failures == []
    runner.join()

    # Several processes at once, as replicas starting together (Alembic itself is not made
    # for threads): all succeed, the schema is at head.
    code = "import sys; from withdraw_service.persistence.db import migrate; migrate(sys.argv[1])"
    runners = [
        subprocess.Popen([sys.executable, "-c", code, schema_url], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    for process in runners:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr.decode()[-2000:]
    engine = make_engine(schema_url)
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert version == "0008"
