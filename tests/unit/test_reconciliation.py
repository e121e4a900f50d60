"""Reconciliation: the comparison of one withdrawal with what the bank and DriveWealth show
(pure), and a run over a real SQLite repository with in-memory fakes of both services."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.unit.conftest import T0, MakeState
from withdraw_service.activities.token_cache import DwTokenCache
from withdraw_service.adapters.fakes import FakeDriveWealth, FakeTransferService
from withdraw_service.adapters.ports import DwRedemption, TransferInitiation
from withdraw_service.domain.outcomes import (
    CheckerStatus,
    DwRedemptionStatus,
    MismatchKind,
    TaskKind,
    TaskState,
)
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.persistence.operations import OperationsRepository
from withdraw_service.persistence.repository import WithdrawalRepository
from withdraw_service.reconciliation import Reconciler, Seen, compare, window

OK = DwRedemptionStatus.SUCCESSFUL
PENDING = DwRedemptionStatus.PENDING
FAILED = DwRedemptionStatus.FAILED
K = MismatchKind


@pytest.mark.parametrize(
    ("ends", "bank", "redemptions", "expected"),
    [
        # agreeing
        (S.COMPLETED, CheckerStatus.SUCCESS, (OK,), []),
        (S.COMPENSATED, CheckerStatus.REVERSED, (), []),
        (S.COMPENSATED, CheckerStatus.REVERSED, (FAILED,), []),  # DriveWealth gave it back
        (S.TRANSFER_REJECTED, CheckerStatus.FAILED, (), []),
        (S.OTP_TIMEOUT, CheckerStatus.INITIATED, (), []),
        (S.USER_INVALID, None, (), []),
        # disagreeing
        (S.COMPLETED, CheckerStatus.SUCCESS, (), [K.TRANSFER_WITHOUT_REDEMPTION]),
        (S.COMPLETED, CheckerStatus.SUCCESS, (FAILED,), [K.TRANSFER_WITHOUT_REDEMPTION]),
        (S.COMPLETED, CheckerStatus.SUCCESS, (PENDING,), [K.REDEMPTION_NOT_SETTLED]),
        (S.COMPLETED, CheckerStatus.SUCCESS, (OK, OK), [K.REDEMPTION_NOT_SETTLED]),
        (S.COMPLETED, CheckerStatus.FAILED, (OK,), [K.REDEMPTION_WITHOUT_TRANSFER]),
        (S.COMPLETED, CheckerStatus.FAILED, (), [K.REDEMPTION_NOT_SETTLED]),  # nothing moved
        (S.COMPLETED, None, (), [K.REDEMPTION_NOT_SETTLED]),
        (
            S.COMPLETED,
            CheckerStatus.INITIATED,
            (PENDING,),
            [K.REDEMPTION_WITHOUT_TRANSFER, K.REDEMPTION_NOT_SETTLED],
        ),
        (
            S.COMPLETED,
            CheckerStatus.REVERSED,
            (OK,),
            [K.REVERSAL_NOT_COMPENSATED, K.REDEMPTION_WITHOUT_TRANSFER],
        ),
        (S.COMPENSATED, CheckerStatus.SUCCESS, (), [K.TRANSFER_WITHOUT_REDEMPTION]),
        (S.COMPENSATED, CheckerStatus.REVERSED, (OK,), [K.REDEMPTION_WITHOUT_TRANSFER]),
        (S.TRANSFER_REJECTED, CheckerStatus.SUCCESS, (), [K.TRANSFER_WITHOUT_REDEMPTION]),
        (S.TRANSFER_FAILED, CheckerStatus.REVERSED, (), [K.REVERSAL_NOT_COMPENSATED]),
        (S.OTP_REJECTED, CheckerStatus.INITIATED, (PENDING,), [K.REDEMPTION_WITHOUT_TRANSFER]),
    ],
)
def test_what_disagrees(
    make_state: MakeState,
    ends: S,
    bank: str | None,
    redemptions: tuple[DwRedemptionStatus, ...],
    expected: list[MismatchKind],
) -> None:
    state = make_state(status=ends)
    found = compare(state, Seen(bank, redemptions))
    assert [m.kind for m in found] == expected
    for mismatch in found:
        assert (mismatch.workflow_id, mismatch.correlation_id) == (
            state.workflow_id,
            state.correlation_id,
        )
        assert ends in mismatch.detail


# -- a run --------------------------------------------------------------------------------

ACCOUNT = "acc-id-1"


class World:
    def __init__(self, repository: WithdrawalRepository) -> None:
        self.repository = repository
        self.operations = OperationsRepository(repository.engine)
        self.bank = FakeTransferService()
        self.dw = FakeDriveWealth()
        self.dw.add_account(ACCOUNT, "DWAA001001", Decimal("10000.00"))
        self.reconciler = Reconciler(
            repository, self.operations, self.bank, self.dw, DwTokenCache(self.dw)
        )

    async def withdrawal(
        self, make_state: MakeState, number: int, ends: S, *, debit: str | None, redeem: bool
    ) -> str:
        """A withdrawal that ended `ends`; at the bank, a transfer in `debit` (None: none);
        at DriveWealth, a redemption when `redeem`."""
        workflow_id = f"WITHDRAW-00000000-0000-0000-0000-{number:012d}"
        state = make_state(
            workflow_id,
            statuses=[S.INITIATED, ends],
            created_at=T0 + timedelta(minutes=number),
        )
        self.repository.save(state, ACCOUNT)
        cid = state.correlation_id
        if debit is not None:
            auth = await self.bank.initiate(
                TransferInitiation("user-1001", state.amount, cid, "PRD", False), f"{cid}:i"
            )
            self.bank.transfers[auth.authorisation_id].status = debit
        if redeem:
            token = (await self.dw.get_token()).access_token
            await self.dw.create_redemption(
                token, "DWAA001001", state.amount, "ACH", f"{cid}:redemption", cid
            )
        return workflow_id


async def test_a_run_opens_one_task_per_withdrawal_that_disagrees_once(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    world = World(repository)
    fine = await world.withdrawal(make_state, 1, S.COMPLETED, debit="SUCCESS", redeem=True)
    unredeemed = await world.withdrawal(make_state, 2, S.COMPLETED, debit="SUCCESS", redeem=False)
    reversed_ = await world.withdrawal(
        make_state, 3, S.TRANSFER_FAILED, debit="REVERSED", redeem=False
    )
    orphan = await world.withdrawal(make_state, 4, S.OTP_TIMEOUT, debit="INITIATED", redeem=True)
    in_flight = await world.withdrawal(make_state, 5, S.AWAITING_OTP, debit="SUCCESS", redeem=False)
    manual = await world.withdrawal(
        make_state, 6, S.MANUAL_COMPENSATION_REQUIRED, debit="SUCCESS", redeem=False
    )
    outside = await world.withdrawal(make_state, 90, S.COMPLETED, debit="SUCCESS", redeem=False)

    report = await world.reconciler.run(T0, T0 + timedelta(minutes=60))

    assert report.checked == 4 and report.skipped == 2
    assert {(m.workflow_id, m.kind) for m in report.mismatches} == {
        (unredeemed, K.TRANSFER_WITHOUT_REDEMPTION),
        (reversed_, K.REVERSAL_NOT_COMPENSATED),
        (orphan, K.REDEMPTION_WITHOUT_TRANSFER),
    }
    assert report.opened == 3
    tasks = world.operations.tasks(TaskState.OPEN)
    assert {t.workflow_id for t in tasks} == {unredeemed, reversed_, orphan}
    assert {t.kind for t in tasks} == {TaskKind.RECONCILIATION_MISMATCH}
    for workflow_id in (fine, in_flight, manual, outside):
        assert world.operations.task_for(workflow_id, TaskKind.RECONCILIATION_MISMATCH) is None

    again = await world.reconciler.run(T0, T0 + timedelta(minutes=60))
    assert len(again.mismatches) == 3 and again.opened == 0  # found again, no second task
    assert len(world.operations.tasks()) == 3


async def test_a_redemption_of_a_withdrawal_we_do_not_know_is_reported(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    world = World(repository)
    await world.withdrawal(make_state, 1, S.COMPLETED, debit="SUCCESS", redeem=True)
    token = (await world.dw.get_token()).access_token
    await world.dw.create_redemption(token, "DWAA001001", Decimal("5.00"), "ACH", "k", "cid-x")
    world.dw.redemptions["other"] = DwRedemption("DWAA001001-9", OK, "SUCCESSFUL")  # not ours

    report = await world.reconciler.run(T0, T0 + timedelta(minutes=60))

    assert [(m.kind, m.workflow_id, m.correlation_id) for m in report.mismatches] == [
        (K.REDEMPTION_WITHOUT_TRANSFER, None, "cid-x")
    ]
    assert report.opened == 0 and world.operations.tasks() == []


async def test_a_redemption_is_ours_by_its_id_even_without_our_note(
    repository: WithdrawalRepository, make_state: MakeState
) -> None:
    """A listing that drops the note: the COMPLETED withdrawal's own redemption id still
    matches it, so it is not reported as unredeemed."""
    world = World(repository)
    token = (await world.dw.get_token()).access_token
    made = await world.dw.create_redemption(token, "DWAA001001", Decimal("150.00"), "ACH", "k", "c")
    world.dw.redemptions["k"] = DwRedemption(made.redemption_id, OK, "SUCCESSFUL")  # no note
    state = make_state(
        statuses=[S.INITIATED, S.COMPLETED], dw_redemption_id=made.redemption_id, created_at=T0
    )
    repository.save(state, ACCOUNT)
    await world.bank.initiate(
        TransferInitiation("user-1001", state.amount, state.correlation_id, "PRD", False), "i"
    )
    next(iter(world.bank.transfers.values())).status = CheckerStatus.SUCCESS

    report = await world.reconciler.run(T0, T0 + timedelta(minutes=60))

    assert report.checked == 1 and report.mismatches == []


def test_the_window_is_read_as_utc_and_refused_when_wrong() -> None:
    start, end = window("2026-11-01", "2026-11-02T00:00:00+01:00", 7)
    assert (start.isoformat(), end.isoformat()) == (
        "2026-11-01T00:00:00+00:00",
        "2026-11-02T00:00:00+01:00",
    )
    start, end = window(None, None, 7)
    assert end - start == timedelta(days=7)
    with pytest.raises(ValueError, match="not an ISO-8601"):
        window("yesterday", None, 7)
    with pytest.raises(ValueError, match="before the end"):
        window("2026-11-02", "2026-11-01", 7)
