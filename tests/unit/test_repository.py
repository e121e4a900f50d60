"""The withdrawals table and its history: idempotent saves, the one-in-flight account claim."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from tests.support.races import race
from tests.unit.conftest import T0, MakeState
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import HistoryEntry
from withdraw_service.persistence.db import lock_for_update
from withdraw_service.persistence.repository import AccountBusy, WithdrawalRepository
from withdraw_service.persistence.tables import WithdrawalHistoryRow, WithdrawalRow

WF_A = "WITHDRAW-aaaaaaaa-0000-0000-0000-000000000001"
WF_B = "WITHDRAW-bbbbbbbb-0000-0000-0000-000000000002"
ACCOUNT = "dw-acc-1001"


def history_rows(repository: WithdrawalRepository, workflow_id: str) -> int:
    with repository.engine.connect() as connection:
        count = connection.scalar(
            select(func.count())
            .select_from(WithdrawalHistoryRow)
            .where(WithdrawalHistoryRow.workflow_id == workflow_id)
        )
    return int(count or 0)


def test_a_saved_withdrawal_reads_back_as_it_was(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    state = make_state(
        WF_A,
        statuses=[S.INITIATED, S.AWAITING_OTP],
        amount=Decimal("1234.56"),
        authorisation_id="auth-1",
        transfer_reference_number="TRF0000000001",
        otp_expires_at=T0 + timedelta(minutes=5),
    )
    repository.save(state, ACCOUNT)
    assert repository.get(WF_A) == state


def test_an_unknown_withdrawal_is_none(repository: WithdrawalRepository) -> None:
    assert repository.get(WF_A) is None


def test_saving_the_same_state_twice_writes_its_history_once(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    state = make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP])
    first = repository.save(state)
    again = repository.save(state)  # saveToDb retried after a timeout that had gone through
    assert history_rows(repository, WF_A) == 2
    # What each call wrote: the metrics count from this, so the repeat counts nothing.
    assert first.created and [h.status for h in first.stored] == [S.INITIATED, S.AWAITING_OTP]
    assert not again.created and again.stored == []
    assert repository.get(WF_A) == state


def test_history_grows_in_order_as_the_withdrawal_moves_on(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    walk = [S.INITIATED, S.AWAITING_OTP, S.FINALIZING_TRANSFER, S.TRANSFER_COMPLETED]
    for n in range(1, len(walk) + 1):
        result = repository.save(make_state(WF_A, statuses=walk[:n]))
        assert result.created == (n == 1)
        assert [h.status for h in result.stored] == [walk[n - 1]]
    saved = repository.get(WF_A)
    assert saved is not None
    assert saved.status == S.TRANSFER_COMPLETED
    assert [h.status for h in saved.history] == walk
    assert [h.at for h in saved.history] == sorted(h.at for h in saved.history)
    assert history_rows(repository, WF_A) == 4


def test_a_second_in_flight_withdrawal_of_the_same_account_is_refused(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    repository.save(make_state(WF_A))
    repository.save(make_state(WF_B))
    repository.claim_account(WF_A, ACCOUNT)
    repository.claim_account(WF_A, ACCOUNT)  # the same withdrawal retrying its check
    with pytest.raises(AccountBusy):
        repository.claim_account(WF_B, ACCOUNT)
    repository.claim_account(WF_B, "dw-acc-other")  # other accounts are not affected


@pytest.mark.parametrize("terminal", [S.COMPLETED, S.CANCELLED, S.OTP_TIMEOUT, S.COMPENSATED])
def test_a_terminal_status_frees_the_account(
    repository: WithdrawalRepository, make_state: MakeState, terminal: S
) -> None:
    repository.save(make_state(WF_A))
    repository.save(make_state(WF_B))
    repository.claim_account(WF_A, ACCOUNT)
    repository.save(make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP]), ACCOUNT)
    with pytest.raises(AccountBusy):  # still in flight
        repository.claim_account(WF_B, ACCOUNT)
    repository.save(make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP, terminal]), ACCOUNT)
    repository.claim_account(WF_B, ACCOUNT)


def test_a_late_claim_of_an_ended_withdrawal_claims_nothing(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    """A checkRestrictions attempt that commits after its activity timed out and the
    withdrawal ended (e.g. WITHDRAW_RESTRICTED by a retry) must not hold the account."""
    repository.save(make_state(WF_A, statuses=[S.INITIATED, S.WITHDRAW_RESTRICTED]))
    with pytest.raises(LookupError):
        repository.claim_account(WF_A, ACCOUNT)
    repository.save(make_state(WF_B))
    repository.claim_account(WF_B, ACCOUNT)  # the account is free


def test_search_by_user_is_newest_first_and_only_the_users_own(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    for i in range(3):
        repository.save(
            make_state(
                f"WITHDRAW-{i:08d}-0000-0000-0000-000000000000",
                created_at=T0 + timedelta(minutes=i),
            )
        )
    repository.save(make_state(WF_B, user_id="someone-else", created_at=T0 + timedelta(hours=1)))
    listed = repository.search(user_id="user-1001")
    assert [s.workflow_id[:17] for s in listed] == [
        "WITHDRAW-00000002",
        "WITHDRAW-00000001",
        "WITHDRAW-00000000",
    ]
    assert [s.workflow_id for s in repository.search(user_id="user-1001", limit=1)] == [
        listed[0].workflow_id
    ]
    assert repository.search(user_id="nobody") == []


def test_times_come_back_as_utc(repository: WithdrawalRepository, make_state: MakeState) -> None:
    repository.save(make_state(WF_A))
    saved = repository.get(WF_A)
    assert saved is not None
    assert saved.created_at.tzinfo is not None
    assert saved.created_at == T0


def test_a_time_with_another_offset_keeps_its_instant(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    plus_two = T0.astimezone(timezone(timedelta(hours=2)))
    repository.save(make_state(WF_A, created_at=plus_two))
    saved = repository.get(WF_A)
    assert saved is not None
    assert saved.created_at == T0


def test_amounts_keep_their_cents(repository: WithdrawalRepository, make_state: MakeState) -> None:
    repository.save(make_state(WF_A, amount=Decimal("0.10")))
    saved = repository.get(WF_A)
    assert saved is not None
    assert saved.amount == Decimal("0.10")
    assert saved.model_dump(mode="json", by_alias=True)["amount"] == "0.10"


def test_a_late_older_save_never_rolls_the_status_back(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    """A saveToDb attempt that timed out may still commit after its retry did."""
    newer = make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP, S.FINALIZING_TRANSFER])
    older = make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP])
    repository.save(newer)
    late = repository.save(older)
    assert not late.created and late.stored == []
    stored = repository.get(WF_A)
    assert stored is not None
    assert stored.status == S.FINALIZING_TRANSFER
    assert history_rows(repository, WF_A) == 3


def _timeline(repository: WithdrawalRepository, workflow_id: str) -> list[str]:
    with repository.engine.connect() as connection:
        rows = connection.scalars(
            select(WithdrawalHistoryRow.status)
            .where(WithdrawalHistoryRow.workflow_id == workflow_id)
            .order_by(WithdrawalHistoryRow.seq)
        )
        return list(rows)


def test_a_later_decision_at_the_same_step_replaces_what_a_lost_task_saved(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    """A workflow task saved FINALIZING_TRANSFER in the worker and was lost; run again later
    (a longer history), it decided OTP_TIMEOUT at the same step. Its save wins, and says so
    (the metrics count OTP_TIMEOUT)."""
    lost = make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP, S.FINALIZING_TRANSFER])
    repository.save(lost, "DW-1", version=20)
    again = make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP, S.OTP_TIMEOUT])
    result = repository.save(again, "DW-1", version=26)
    assert [e.status for e in result.stored] == [S.OTP_TIMEOUT]
    assert _timeline(repository, WF_A) == ["INITIATED", "AWAITING_OTP", "OTP_TIMEOUT"]
    stored = repository.get(WF_A)
    assert stored is not None and stored.status == S.OTP_TIMEOUT


def test_a_later_shorter_path_wins_and_frees_the_account(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    """The lost task had saved two steps; its retry ended the withdrawal one step earlier."""
    repository.save(make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP]), "DW-1", 5)
    repository.claim_account(WF_A, "DW-1")
    lost = make_state(
        WF_A,
        statuses=[S.INITIATED, S.AWAITING_OTP, S.FINALIZING_TRANSFER, S.TRANSFER_COMPLETED],
    )
    repository.save(lost, "DW-1", version=20)
    again = make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP, S.OTP_TIMEOUT])
    repository.save(again, "DW-1", version=26)
    assert _timeline(repository, WF_A) == ["INITIATED", "AWAITING_OTP", "OTP_TIMEOUT"]
    repository.save(make_state(WF_B), "DW-1", version=3)
    repository.claim_account(WF_B, "DW-1")  # the account is free for the next withdrawal


def test_a_late_attempt_of_an_older_decision_is_refused_whatever_its_length(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    newer = make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP, S.OTP_TIMEOUT])
    repository.save(newer, version=26)
    older = make_state(
        WF_A,
        statuses=[S.INITIATED, S.AWAITING_OTP, S.FINALIZING_TRANSFER, S.TRANSFER_COMPLETED],
    )
    late = repository.save(older, version=20)
    assert not late.created and late.stored == []
    assert _timeline(repository, WF_A) == ["INITIATED", "AWAITING_OTP", "OTP_TIMEOUT"]


def test_of_two_attempts_of_one_lost_task_the_later_decision_wins(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    """Attempts after the first of a failing workflow task are not written to the history, so
    two of them see the same history length (the same version). The later one runs later: its
    decision wins even when it is the shorter path; the earlier one arriving late is refused,
    and so is a late attempt of an earlier save of the later task."""
    lost = make_state(
        WF_A,
        statuses=[S.INITIATED, S.AWAITING_OTP, S.FINALIZING_TRANSFER, S.TRANSFER_COMPLETED],
    )
    repository.save(lost, "DW-1", version=26)
    later = lost.history[-1].at + timedelta(seconds=10)
    shorter = lost.model_copy(
        update={"status": S.AWAITING_OTP, "updated_at": later, "history": lost.history[:2]}
    )
    timed_out = lost.model_copy(
        update={
            "status": S.OTP_TIMEOUT,
            "updated_at": later,
            "history": [*lost.history[:2], HistoryEntry(status=S.OTP_TIMEOUT, at=later)],
        }
    )

    assert [e.status for e in repository.save(timed_out, "DW-1", version=26).stored] == [
        S.OTP_TIMEOUT
    ]
    assert _timeline(repository, WF_A) == ["INITIATED", "AWAITING_OTP", "OTP_TIMEOUT"]
    assert repository.save(lost, "DW-1", version=26).stored == []
    assert repository.save(shorter, "DW-1", version=26).stored == []
    assert repository.get(WF_A) == timed_out


def test_a_snapshot_is_the_stored_state_with_the_version_of_its_save(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    assert repository.snapshot(WF_A) is None
    waiting = make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP], authorisation_id="a-1")
    repository.save(waiting, ACCOUNT, version=7)
    assert repository.snapshot(WF_A) == (waiting, 7)
    again = make_state(
        WF_A,
        statuses=[S.INITIATED, S.AWAITING_OTP, S.FINALIZING_TRANSFER, S.AWAITING_OTP],
        authorisation_id="a-1",
    )
    repository.save(again, ACCOUNT, version=12)
    assert repository.snapshot(WF_A) == (again, 12)
    assert repository.get(WF_A) == again


def test_a_retried_first_task_sets_the_creation_time_again(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    """The workflow's first task saves INITIATED with its own time as `createdAt`; a retry of
    that task after it was lost runs later and says a later time. The stored withdrawal must
    be the retry's, as the workflow shows it."""
    repository.save(make_state(WF_A, created_at=T0), version=3)
    retried = make_state(WF_A, created_at=T0 + timedelta(seconds=10))
    repository.save(retried, version=6)
    assert repository.get(WF_A) == retried
    assert repository.snapshot(WF_A) == (retried, 6)


def test_a_snapshot_is_read_in_one_statement(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    """Two statements could each see another commit: a row and a history of two saves."""
    repository.save(make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP]), version=7)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(repository.engine, "before_cursor_execute", count)
    try:
        assert repository.snapshot(WF_A) is not None
    finally:
        event.remove(repository.engine, "before_cursor_execute", count)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


def test_after_an_operators_reversal_no_late_save_of_the_workflow_wins(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    """COMPENSATED by an operator's retried reversal, in the operator's time: a late attempt of
    the workflow's last save (MANUAL_COMPENSATION_REQUIRED, same version) changes nothing."""
    ended = make_state(
        WF_A,
        statuses=[
            S.INITIATED,
            S.AWAITING_OTP,
            S.FINALIZING_TRANSFER,
            S.TRANSFER_COMPLETED,
            S.CREATING_DW_REDEMPTION,
            S.COMPENSATING,
            S.MANUAL_COMPENSATION_REQUIRED,
        ],
        created_at=datetime.now(UTC) + timedelta(hours=1),  # a workflow clock ahead of ours
    )
    repository.save(ended, "DW-1", version=40)
    assert repository.mark_compensated(WF_A, attempts=1, task_id="task-1", operator="ops-1")
    assert repository.save(ended, "DW-1", version=40).stored == []
    stored = repository.get(WF_A)
    assert stored is not None and stored.status == S.COMPENSATED


def test_two_saves_of_one_withdrawal_at_once_keep_the_later_decision(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    """A lost task's save meeting its retry's: each compares with what is stored and writes
    in one transaction, so an older decision paused between its read and its write cannot
    overwrite a newer one made meanwhile (on SQLite too, whose driver would otherwise read
    outside the transaction and let both pass the compare)."""
    lost = [S.INITIATED, S.AWAITING_OTP, S.FINALIZING_TRANSFER]
    repository.save(make_state(WF_A, statuses=lost), version=3)
    older = make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP])
    newer = make_state(WF_A, statuses=[S.INITIATED, S.AWAITING_OTP, S.CANCELLED])
    race(
        repository.engine,
        lambda: repository.save(older, version=5),
        lambda: repository.save(newer, version=9),
        paused_after="FROM withdrawal_history",
    )
    stored = repository.snapshot(WF_A)
    assert stored is not None
    assert (stored[0].status, stored[1]) == (S.CANCELLED, 9)
    assert _timeline(repository, WF_A) == ["INITIATED", "AWAITING_OTP", "CANCELLED"]


def test_the_write_lock_must_come_first_in_its_transaction(
    repository: WithdrawalRepository,
) -> None:
    """After a write, SQLite's transaction is already open: the lock would come too late to
    cover the reads before it, so that is refused instead of failing inside the driver."""
    with Session(repository.engine) as session, session.begin():
        session.execute(
            update(WithdrawalRow).where(WithdrawalRow.workflow_id == WF_A).values(status="X")
        )
        with pytest.raises(RuntimeError, match="must come first"):
            lock_for_update(session)
