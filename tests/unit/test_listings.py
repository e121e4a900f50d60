"""Listings that stay cheap as the tables grow: a page of withdrawals is two queries whatever
its length (not one per item), every listing has an index in its order, operator tasks come
in pages, and the migrations build exactly the tables the code declares."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, text, update

from tests.unit.conftest import T0, MakeState
from withdraw_service.domain.outcomes import TaskKind, TaskState
from withdraw_service.persistence.db import migrate
from withdraw_service.persistence.operations import OperationsRepository
from withdraw_service.persistence.repository import WithdrawalRepository
from withdraw_service.persistence.tables import Base, OperatorTaskRow


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _withdrawals(repository: WithdrawalRepository, make_state: MakeState, n: int) -> list[str]:
    ids = []
    for i in range(n):
        workflow_id = f"WITHDRAW-{i:08d}-0000-0000-0000-000000000000"
        state = make_state(workflow_id, created_at=T0 + timedelta(minutes=i))
        repository.save(state)
        ids.append(workflow_id)
    return ids


def test_a_page_of_withdrawals_is_two_queries_whatever_its_length(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    _withdrawals(repository, make_state, 30)
    for limit in (1, 30):
        with counted(repository.engine) as statements:
            listed = repository.search(user_id="user-1001", limit=limit)
        assert len(statements) == 2, statements  # the rows, then all their histories
        assert len(listed) == limit
        # Each with its own history, as a look-up of that one withdrawal reads it.
        for state in listed:
            alone = repository.get(state.workflow_id)
            assert alone is not None and state.history == alone.history
            assert state.history


def test_each_listing_is_served_by_an_index_in_its_order(
    repository: WithdrawalRepository,
) -> None:
    """SQLite's plan for each listing's query uses an index, never a scan of the table plus
    a sort (PostgreSQL has the same indexes, from the same migration)."""
    queries = {
        "customer": "SELECT * FROM withdrawals WHERE user_id = 'u' "
        "ORDER BY created_at DESC, workflow_id DESC LIMIT 21",
        "operator, everyone": "SELECT * FROM withdrawals "
        "ORDER BY created_at DESC, workflow_id DESC LIMIT 21",
        "operator, by status": "SELECT * FROM withdrawals WHERE status = 'CANCELLED' "
        "ORDER BY created_at DESC, workflow_id DESC LIMIT 21",
        "tasks by state": "SELECT * FROM operator_tasks WHERE state = 'OPEN' "
        "ORDER BY created_at, id LIMIT 101",
        "tasks": "SELECT * FROM operator_tasks ORDER BY created_at, id LIMIT 101",
    }
    with repository.engine.connect() as connection:
        for name, query in queries.items():
            plan = " | ".join(
                str(row[-1]) for row in connection.execute(text(f"EXPLAIN QUERY PLAN {query}"))
            )
            assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, (name, plan)
            assert "TEMP B-TREE" not in plan, (name, plan)


def test_operator_tasks_come_in_pages_oldest_first(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    operations = OperationsRepository(repository.engine)
    ids = _withdrawals(repository, make_state, 5)
    opened = [
        operations.open_task(wf, f"c-{i}", TaskKind.TRANSFER_UNRESOLVED, Decimal("1.00"), "r")[0]
        for i, wf in enumerate(ids)
    ]

    def paged() -> list[str]:
        seen, after = [], None
        while True:
            page = operations.tasks(TaskState.OPEN, limit=2, after=after)
            if not page:
                return seen
            seen.extend(t.id for t in page)
            after = (page[-1].created_at, page[-1].id)

    assert paged() == [t.id for t in sorted(opened, key=lambda t: t.created_at)]
    # Tasks opened in the same instant: ordered by id, none repeated or skipped across pages.
    with repository.engine.begin() as connection:
        connection.execute(update(OperatorTaskRow).values(created_at=T0))
    assert paged() == sorted(t.id for t in opened)


def test_the_migrations_build_the_tables_the_code_declares(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    migrate(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []
