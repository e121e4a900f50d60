"""Operator tasks and customer notifications. Writes are idempotent per (withdrawal, kind),
because their callers are activities that may run again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from withdraw_service.domain.outcomes import TaskKind, TaskState
from withdraw_service.persistence.db import get_for_update
from withdraw_service.persistence.tables import NotificationRow, OperatorTaskRow, as_utc


@dataclass(frozen=True)
class OperatorTask:
    id: str
    workflow_id: str
    correlation_id: str
    kind: TaskKind
    amount: Decimal
    reason: str
    state: TaskState
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None


class OperationsRepository:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def open_task(
        self, workflow_id: str, correlation_id: str, kind: TaskKind, amount: Decimal, reason: str
    ) -> tuple[OperatorTask, bool]:
        """Open the task, or answer the one already open for this withdrawal and kind;
        the flag says whether this call opened it."""
        created = True
        try:
            with self._sessions.begin() as session:
                row = OperatorTaskRow(
                    id=str(uuid.uuid4()),
                    workflow_id=workflow_id,
                    correlation_id=correlation_id,
                    kind=kind,
                    amount=amount,
                    reason=reason,
                    state=TaskState.OPEN,
                    created_at=datetime.now(UTC),
                )
                session.add(row)
        except IntegrityError:
            created = False
        existing = self.task_for(workflow_id, kind)
        assert existing is not None
        return existing, created

    def task_for(self, workflow_id: str, kind: TaskKind) -> OperatorTask | None:
        with self._sessions() as session:
            row = session.scalar(
                select(OperatorTaskRow).where(
                    OperatorTaskRow.workflow_id == workflow_id, OperatorTaskRow.kind == kind
                )
            )
            return _task(row) if row else None

    def tasks(
        self,
        state: TaskState | None = None,
        kind: TaskKind | None = None,
        limit: int | None = None,
        after: tuple[datetime, str] | None = None,
    ) -> Sequence[OperatorTask]:
        """Oldest first, the first `limit` of them (default: all); `after` is the (createdAt,
        id) of the last task already seen."""
        with self._sessions() as session:
            query = (
                select(OperatorTaskRow)
                .order_by(OperatorTaskRow.created_at, OperatorTaskRow.id)
                .limit(limit)
            )
            if after is not None:
                at, task_id = as_utc(after[0]), after[1]
                query = query.where(
                    or_(
                        OperatorTaskRow.created_at > at,
                        and_(OperatorTaskRow.created_at == at, OperatorTaskRow.id > task_id),
                    )
                )
            if state:
                query = query.where(OperatorTaskRow.state == state)
            if kind:
                query = query.where(OperatorTaskRow.kind == kind)
            return [_task(row) for row in session.scalars(query)]

    def tasks_of(self, workflow_id: str) -> Sequence[OperatorTask]:
        """One withdrawal's tasks, oldest first."""
        with self._sessions() as session:
            query = (
                select(OperatorTaskRow)
                .where(OperatorTaskRow.workflow_id == workflow_id)
                .order_by(OperatorTaskRow.created_at)
            )
            return [_task(row) for row in session.scalars(query)]

    def open_by_kind(self) -> dict[str, tuple[int, datetime]]:
        """OPEN operator tasks by kind: how many, and when the oldest was opened."""
        with self._sessions() as session:
            rows = session.execute(
                select(OperatorTaskRow.kind, func.count(), func.min(OperatorTaskRow.created_at))
                .where(OperatorTaskRow.state == TaskState.OPEN)
                .group_by(OperatorTaskRow.kind)
            ).all()
            return {kind: (int(count), as_utc(oldest)) for kind, count, oldest in rows}

    def get_task(self, task_id: str) -> OperatorTask | None:
        with self._sessions() as session:
            row = session.get(OperatorTaskRow, task_id)
            return _task(row) if row else None

    def resolve(self, task_id: str, resolved_by: str, note: str) -> OperatorTask | None:
        """Mark an OPEN task handled by hand; None if it was not open."""
        with self._sessions.begin() as session:
            row = get_for_update(session, OperatorTaskRow, task_id)
            if row is None or row.state != TaskState.OPEN:
                return None
            row.state = TaskState.RESOLVED
            row.resolved_at = datetime.now(UTC)
            row.resolved_by = resolved_by
            row.note = note
        return self.get_task(task_id)

    def notify(self, workflow_id: str, user_id: str, kind: str, message: str) -> None:
        try:
            with self._sessions.begin() as session:
                session.add(
                    NotificationRow(
                        workflow_id=workflow_id,
                        user_id=user_id,
                        kind=kind,
                        message=message,
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            pass  # already recorded by an earlier attempt

    def notifications(self, workflow_id: str) -> list[tuple[str, str]]:
        with self._sessions() as session:
            rows = session.scalars(
                select(NotificationRow)
                .where(NotificationRow.workflow_id == workflow_id)
                .order_by(NotificationRow.id)
            )
            return [(row.kind, row.message) for row in rows]


def _task(row: OperatorTaskRow) -> OperatorTask:
    return OperatorTask(
        id=row.id,
        workflow_id=row.workflow_id,
        correlation_id=row.correlation_id,
        kind=TaskKind(row.kind),
        amount=row.amount,
        reason=row.reason,
        state=TaskState(row.state),
        created_at=as_utc(row.created_at),
        resolved_at=as_utc(row.resolved_at) if row.resolved_at else None,
        resolved_by=row.resolved_by,
        note=row.note,
    )
