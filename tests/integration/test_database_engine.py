"""The engine's own settings on the real PostgreSQL: lock and statement timeouts below the
activities' timeouts, added to (never replacing) what the URL asks for, e.g. a search_path;
and the row lock that keeps two saves of one withdrawal from both passing their compare."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text

from tests.support.databases import POSTGRES_DSN, postgres_schema_url
from tests.support.races import race
from tests.support.states import make_state_value
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.persistence.db import MIGRATION_LOCK, make_engine, migrate
from withdraw_service.persistence.repository import WithdrawalRepository


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


def test_two_saves_of_one_withdrawal_at_once_keep_the_later_decision(schema_url: str) -> None:
    """The row read FOR UPDATE holds a second save until the first's transaction ends, so an
    older decision paused between its read and its write cannot overwrite a newer one (the
    same case on SQLite: tests/unit/test_repository.py)."""
    migrate(schema_url)
    engine = make_engine(schema_url)
    repository = WithdrawalRepository(engine)
    workflow_id = "WITHDRAW-aaaaaaaa-0000-0000-0000-000000000001"
    try:
        lost = [S.INITIATED, S.AWAITING_OTP, S.FINALIZING_TRANSFER]
        repository.save(make_state_value(workflow_id, statuses=lost), version=3)
        older = make_state_value(workflow_id, statuses=[S.INITIATED, S.AWAITING_OTP])
        newer = make_state_value(workflow_id, statuses=[S.INITIATED, S.AWAITING_OTP, S.CANCELLED])
        race(
            engine,
            lambda: repository.save(older, version=5),
            lambda: repository.save(newer, version=9),
            paused_after="FROM withdrawal_history",
        )
        stored = repository.snapshot(workflow_id)
    finally:
        engine.dispose()
    assert stored is not None
    assert (stored[0].status, stored[1]) == (S.CANCELLED, 9)
    assert [entry.status for entry in stored[0].history] == [
        S.INITIATED,
        S.AWAITING_OTP,
        S.CANCELLED,
    ]
