"""Withdrawals and their history in the application database.

Every write is idempotent, because its caller is a Temporal activity that may run again: a state
snapshot is an upsert, and history rows are keyed by (workflow, position in the history).
Synchronous on purpose (SQLAlchemy's sync engine); async callers use `asyncio.to_thread`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from withdraw_service.domain.outcomes import CompensationStatus, TaskState
from withdraw_service.domain.statuses import IN_FLIGHT, UNRESOLVED, WithdrawStatus
from withdraw_service.domain.withdrawal import CompensationInfo, HistoryEntry, WithdrawState
from withdraw_service.persistence.db import get_for_update
from withdraw_service.persistence.tables import (
    OperatorTaskRow,
    WithdrawalHistoryRow,
    WithdrawalRow,
    as_utc,
)


class AccountBusy(Exception):
    """Another withdrawal of the same brokerage account is in flight."""


@dataclass(frozen=True)
class SaveResult:
    created: bool
    """The withdrawal's row did not exist before this call."""
    stored: list[HistoryEntry]
    """The history rows this call wrote; empty when it repeated an earlier save."""


class WithdrawalRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def save(
        self, state: WithdrawState, dw_account_id: str | None = None, version: int = 0
    ) -> SaveResult:
        """Store the snapshot and its history rows as `state` has them, in one transaction.

        The latest decision wins: `(version, updated_at, history length)` at least what is
        stored (`version`: the workflow's history length when it decided, see SaveToDbInput;
        `updated_at`: the workflow's time then, which tells apart two attempts of one workflow
        task lost in a row, which Temporal gives the same history length). A later decision at a
        position already stored replaces that row (a lost workflow task's save, decided again
        otherwise), and rows past the end of its history go. An older one is refused: a late,
        timed-out attempt never rolls the state back.

        A terminal status releases the brokerage account for the next withdrawal. Says what
        this call wrote, so that metrics count each status once however often it is saved.
        """
        with self._sessions.begin() as session:
            # Locked, on SQLite too: else two saves could both pass the compare below.
            row = get_for_update(session, WithdrawalRow, state.workflow_id)
            stored = {
                history.seq: history
                for history in session.scalars(
                    select(WithdrawalHistoryRow).where(
                        WithdrawalHistoryRow.workflow_id == state.workflow_id
                    )
                )
            }
            if row is not None and (
                version,
                as_utc(state.updated_at),
                len(state.history),
            ) < (row.saved_version or 0, as_utc(row.updated_at), len(stored)):
                return SaveResult(created=False, stored=[])
            created = row is None
            if row is None:
                row = WithdrawalRow(
                    workflow_id=state.workflow_id, created_at=as_utc(state.created_at)
                )
                session.add(row)
            _copy_state(row, state)
            row.saved_version = version
            if dw_account_id:
                row.dw_account_id = dw_account_id
            if state.status.is_terminal:
                row.active_account = None
            session.flush()  # the withdrawal row first: its history rows point at it
            written: list[HistoryEntry] = []
            for seq, entry in enumerate(state.history):
                found = stored.get(seq)
                if found is None:
                    session.add(
                        WithdrawalHistoryRow(
                            workflow_id=state.workflow_id,
                            seq=seq,
                            status=entry.status.value,
                            at=as_utc(entry.at),
                        )
                    )
                    written.append(entry)
                elif found.status != entry.status.value:
                    found.status, found.at = entry.status.value, as_utc(entry.at)
                    written.append(entry)
                elif as_utc(found.at) != as_utc(entry.at):
                    found.at = as_utc(entry.at)  # the same step, decided again later
            for seq, found in stored.items():
                if seq >= len(state.history):
                    session.delete(found)
        return SaveResult(created=created, stored=written)

    def claim_account(self, workflow_id: str, dw_account_id: str) -> None:
        """Mark the account busy with this withdrawal; raise AccountBusy if another holds it.

        The unique constraint decides, so two workers racing cannot both win.
        """
        try:
            with self._sessions.begin() as session:
                result = session.execute(
                    update(WithdrawalRow)
                    # Only while in flight: a late attempt (its activity timed out, the
                    # withdrawal ended meanwhile) must never claim the account again.
                    .where(
                        WithdrawalRow.workflow_id == workflow_id,
                        WithdrawalRow.status.in_([s.value for s in IN_FLIGHT]),
                    )
                    .values(active_account=dw_account_id, dw_account_id=dw_account_id)
                )
                claimed = cast(CursorResult[Any], result).rowcount
        except IntegrityError:
            raise AccountBusy(dw_account_id) from None
        if claimed != 1:
            raise LookupError(f"withdrawal {workflow_id} is not saved yet or has ended")

    def has_unresolved(self, dw_account_id: str, since: datetime, other_than: str) -> bool:
        """Whether an earlier withdrawal of the account, created since `since`, ended with
        its money unresolved and its operator task still open: the seed's pending/failed
        rule. Resolving the task (POST /ops/compensation-tasks/{id}/resolve) lifts it."""
        with self._sessions() as session:
            found = session.scalar(
                select(WithdrawalRow.workflow_id)
                .join(OperatorTaskRow, OperatorTaskRow.workflow_id == WithdrawalRow.workflow_id)
                .where(
                    WithdrawalRow.dw_account_id == dw_account_id,
                    WithdrawalRow.workflow_id != other_than,
                    WithdrawalRow.created_at >= as_utc(since),
                    WithdrawalRow.status.in_([s.value for s in UNRESOLVED]),
                    OperatorTaskRow.state == TaskState.OPEN,
                )
                .limit(1)
            )
            return found is not None

    def in_flight_by_status(self) -> dict[str, tuple[int, datetime]]:
        """Per not-yet-terminal status: how many withdrawals are in it, and when the one that
        has been in it longest entered it (its last change; the `status` index)."""
        with self._sessions() as session:
            rows = session.execute(
                select(WithdrawalRow.status, func.count(), func.min(WithdrawalRow.updated_at))
                .where(WithdrawalRow.status.in_([s.value for s in IN_FLIGHT]))
                .group_by(WithdrawalRow.status)
            ).all()
            return {status: (int(count), as_utc(oldest)) for status, count, oldest in rows}

    def longest_in(self, statuses: Sequence[str]) -> dict[str, str]:
        """Per status, the workflow id of the withdrawal that has been in it longest."""
        found: dict[str, str] = {}
        with self._sessions() as session:
            for status in statuses:
                workflow_id = session.scalar(
                    select(WithdrawalRow.workflow_id)
                    .where(WithdrawalRow.status == status)
                    .order_by(WithdrawalRow.updated_at)
                    .limit(1)
                )
                if workflow_id is not None:
                    found[status] = workflow_id
        return found

    def get(self, workflow_id: str) -> WithdrawState | None:
        """The withdrawal as its last save left it (one statement: see `snapshot`)."""
        found = self.snapshot(workflow_id)
        return None if found is None else found[0]

    def snapshot(self, workflow_id: str) -> tuple[WithdrawState, int] | None:
        """The withdrawal as one save left it, with that save's `version`. The row and its
        history rows are read in one statement, so a save committing meanwhile cannot mix
        into the answer (two statements may each see another commit)."""
        with self._sessions() as session:
            found = session.execute(
                select(WithdrawalRow, WithdrawalHistoryRow)
                .outerjoin(
                    WithdrawalHistoryRow,
                    WithdrawalHistoryRow.workflow_id == WithdrawalRow.workflow_id,
                )
                .where(WithdrawalRow.workflow_id == workflow_id)
                .order_by(WithdrawalHistoryRow.seq)
            ).all()
            if not found:
                return None
            row = found[0][0]
            history = [_entry(entry) for _, entry in found if entry is not None]
            return _to_state(row, history), row.saved_version or 0

    def list_all(self) -> Sequence[WithdrawState]:
        """Every withdrawal, oldest first (tests and reconciliation; not for the API)."""
        with self._sessions() as session:
            rows = session.scalars(select(WithdrawalRow).order_by(WithdrawalRow.created_at)).all()
            return _states(session, rows)

    def created_between(
        self, since: datetime, until: datetime
    ) -> Sequence[tuple[WithdrawState, str | None]]:
        """Withdrawals created in [since, until), oldest first, each with its brokerage
        account id (reconciliation)."""
        since, until = as_utc(since), as_utc(until)
        with self._sessions() as session:
            rows = session.scalars(
                select(WithdrawalRow)
                .where(WithdrawalRow.created_at >= since, WithdrawalRow.created_at < until)
                .order_by(WithdrawalRow.created_at)
            ).all()
            return [
                (state, row.dw_account_id)
                for state, row in zip(_states(session, rows), rows, strict=True)
            ]

    def search(
        self,
        *,
        user_id: str | None = None,
        status: str | None = None,
        correlation_id: str | None = None,
        limit: int = 20,
        after: tuple[datetime, str] | None = None,
    ) -> Sequence[WithdrawState]:
        """Newest first; `after` is the (createdAt, workflowId) of the last item already seen,
        so pages neither repeat nor skip when withdrawals are added meanwhile."""
        query = select(WithdrawalRow)
        if user_id is not None:
            query = query.where(WithdrawalRow.user_id == user_id)
        if status is not None:
            query = query.where(WithdrawalRow.status == status)
        if correlation_id is not None:
            query = query.where(WithdrawalRow.correlation_id == correlation_id)
        if after is not None:
            created, workflow_id = as_utc(after[0]), after[1]
            query = query.where(
                or_(
                    WithdrawalRow.created_at < created,
                    and_(
                        WithdrawalRow.created_at == created,
                        WithdrawalRow.workflow_id < workflow_id,
                    ),
                )
            )
        query = query.order_by(
            WithdrawalRow.created_at.desc(), WithdrawalRow.workflow_id.desc()
        ).limit(limit)
        with self._sessions() as session:
            rows = session.scalars(query).all()
            return _states(session, rows)

    def mark_compensated(
        self, workflow_id: str, attempts: int, task_id: str, operator: str | None = None
    ) -> bool:
        """An operator's retried reversal succeeded: the withdrawal ends COMPENSATED after
        all, with its history row, and its task is resolved in the operator's name, in one
        transaction. False when it already was (a repeated call)."""
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            row = get_for_update(session, WithdrawalRow, workflow_id)
            if row is None or row.status == WithdrawStatus.COMPENSATED.value:
                return False
            seq = len(_history(session, workflow_id))
            row.status = WithdrawStatus.COMPENSATED.value
            row.updated_at = now
            # Past any save of the workflow's (all made before it ended): a late attempt of
            # one is refused by its version, whatever the clocks say.
            row.saved_version = (row.saved_version or 0) + 1
            row.active_account = None
            row.compensation = CompensationInfo(
                status=CompensationStatus.SUCCEEDED, attempts=attempts, task_id=task_id
            ).model_dump(mode="json")
            session.add(
                WithdrawalHistoryRow(
                    workflow_id=workflow_id,
                    seq=seq,
                    status=WithdrawStatus.COMPENSATED.value,
                    at=now,
                )
            )
            # Under the lock taken above (a second one would come after writes).
            task = session.get(OperatorTaskRow, task_id, with_for_update=True)
            if task is not None and task.state == TaskState.OPEN:
                task.state = TaskState.RESOLVED
                task.resolved_at = now
                # Retries started before operators were recorded carry none.
                task.resolved_by = operator or "system:retry"
                task.note = "reversal retried by an operator and succeeded"
        return True


def _copy_state(row: WithdrawalRow, state: WithdrawState) -> None:
    row.correlation_id = state.correlation_id
    row.user_id = state.user_id
    row.status = state.status.value
    row.amount = state.amount
    row.currency = state.currency
    row.product_number = state.product_number
    row.authorisation_id = state.authorisation_id
    row.otp_expires_at = as_utc(state.otp_expires_at) if state.otp_expires_at else None
    row.transfer_reference_number = state.transfer_reference_number
    row.dw_redemption_id = state.dw_redemption_id
    row.failure_code = state.failure_code
    row.failure_reason = state.failure_reason
    row.compensation = state.compensation.model_dump(mode="json") if state.compensation else None
    row.updated_at = as_utc(state.updated_at)
    # Set by the workflow's first task: a retry of a lost one says a later time. Compared as
    # instants (SQLite hands back naive UTC), so an unchanged one is not written again.
    if as_utc(row.created_at) != as_utc(state.created_at):
        row.created_at = as_utc(state.created_at)


def _states(session: Session, rows: Sequence[WithdrawalRow]) -> list[WithdrawState]:
    """The rows' states with their histories, read in one query (not one per row)."""
    histories: dict[str, list[HistoryEntry]] = {row.workflow_id: [] for row in rows}
    for chunk in _chunks(list(histories), 500):  # bound the IN list
        for entry in session.scalars(
            select(WithdrawalHistoryRow)
            .where(WithdrawalHistoryRow.workflow_id.in_(chunk))
            .order_by(WithdrawalHistoryRow.workflow_id, WithdrawalHistoryRow.seq)
        ):
            histories[entry.workflow_id].append(_entry(entry))
    return [_to_state(row, histories[row.workflow_id]) for row in rows]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _history(session: Session, workflow_id: str) -> list[HistoryEntry]:
    rows = session.scalars(
        select(WithdrawalHistoryRow)
        .where(WithdrawalHistoryRow.workflow_id == workflow_id)
        .order_by(WithdrawalHistoryRow.seq)
    )
    return [_entry(r) for r in rows]


def _entry(row: WithdrawalHistoryRow) -> HistoryEntry:
    return HistoryEntry(status=WithdrawStatus(row.status), at=as_utc(row.at))


def _to_state(row: WithdrawalRow, history: list[HistoryEntry]) -> WithdrawState:
    return WithdrawState(
        workflow_id=row.workflow_id,
        correlation_id=row.correlation_id,
        user_id=row.user_id,
        status=WithdrawStatus(row.status),
        amount=row.amount,
        currency=row.currency,
        product_number=row.product_number,
        authorisation_id=row.authorisation_id,
        otp_expires_at=as_utc(row.otp_expires_at) if row.otp_expires_at else None,
        transfer_reference_number=row.transfer_reference_number,
        dw_redemption_id=row.dw_redemption_id,
        failure_code=row.failure_code,
        failure_reason=row.failure_reason,
        compensation=CompensationInfo.model_validate(row.compensation)
        if row.compensation
        else None,
        history=history,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )
