"""Reconciliation through the real stack: money changed behind the service's back (through the
simulators' business paths and their control surface, and one withdrawal written straight
into the database) is found, once per withdrawal, by the daily Schedule's run and by the
`withdraw-service reconcile` command. docs/runbook.md, RECONCILIATION_MISMATCH."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import ScheduleHandle
from typer.testing import CliRunner

from tests.integration._paths import Started, confirm, otp_of, start
from tests.integration.conftest import Stack
from tests.integration.test_metrics import _moved, _scrape
from withdraw_service.activities.reconciliation import ReconcileResult
from withdraw_service.cli import app
from withdraw_service.domain.outcomes import MismatchKind, TaskKind, TaskState
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import HistoryEntry, WithdrawState
from withdraw_service.schedules import RECONCILIATION_SCHEDULE, ensure_reconciliation_schedule

K = MismatchKind
DW = "/drivewealth/back-office"


async def _ended(stack: Stack, user: str, *, reject: bool = False) -> Started:
    started = await start(stack, user)
    if reject:
        await stack.fault("transfer", "finalize", "reject", match={"userId": user})
    _, state = await confirm(stack, started, user)
    assert state["status"] == (S.TRANSFER_REJECTED if reject else S.COMPLETED), state
    return started


async def _dw_token(stack: Stack) -> str:
    response = await stack.sim.post(
        f"{DW}/auth/tokens",
        json={"clientID": stack.settings.dw_client_id, "clientSecret": "sim-dw-secret"},
        headers={"dw-client-app-key": "sim-dw-app-key"},
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


async def _redeem_behind_its_back(stack: Stack, account_no: str, correlation_id: str) -> None:
    """A redemption made at DriveWealth outside the service, naming the withdrawal."""
    response = await stack.sim.post(
        f"{DW}/funding/redemptions",
        json={
            "accountNo": account_no,
            "amount": "150.00",
            "currency": "USD",
            "type": "CASH_TRANSFER",
            "note": f"withdraw {correlation_id}",
        },
        headers={
            "Authorization": f"Bearer {await _dw_token(stack)}",
            "Idempotency-Key": f"behind-its-back-{uuid.uuid4()}",
            "X-Correlation-ID": correlation_id,
        },
    )
    assert response.status_code == 200, response.text


async def _debit_behind_its_back(stack: Stack, user: str, correlation_id: str) -> None:
    """A bank transfer initiated and confirmed outside the service."""
    initiated = await stack.sim.post(
        "/transfer/withdraw/initiate",
        json={
            "userId": user,
            "amount": "150.00",
            "currency": "USD",
            "correlationId": correlation_id,
        },
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    auth = initiated.json()["data"]["authorisationId"]
    otp = await otp_of(stack, auth)
    confirmed = await stack.sim.put(
        f"/transfer/withdraw/finalize/{auth}",
        json={"otpCode": otp},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert confirmed.json()["data"]["success"], confirmed.text


async def plant(stack: Stack) -> dict[str, MismatchKind]:
    """Five withdrawals: one that agrees, four that disagree in each way; the kind each must
    be found with."""
    await _ended(stack, "user-1001")  # agrees
    reversed_ = await _ended(stack, "user-1002")
    ledger = await stack.ledger()
    reference = next(
        t["referenceNumber"]
        for t in ledger["transfers"]
        if t["correlationId"] == reversed_.correlation_id
    )
    undone = await stack.sim.post(
        "/transfer/withdraw/reverse",
        json={"referenceNumber": reference, "reason": "by hand"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert undone.status_code == 200, undone.text

    rejected = await _ended(stack, "user-1003", reject=True)
    await _redeem_behind_its_back(stack, "DWAA001003", rejected.correlation_id)

    twice = await _ended(stack, "user-1001")
    await stack.fault("drivewealth", "redemption", "accept_pending", match={"userId": "user-1001"})
    await _redeem_behind_its_back(stack, "DWAA001001", twice.correlation_id)

    # Our records say COMPLETED, but only the bank moved money.
    now = datetime.now(UTC)
    forged = WithdrawState(
        workflow_id=f"WITHDRAW-{uuid.uuid4()}",
        correlation_id=str(uuid.uuid4()),
        user_id="user-1002",
        status=S.COMPLETED,
        amount=Decimal("150.00"),
        product_number="ACC-1",
        history=[
            HistoryEntry(status=S.INITIATED, at=now),
            HistoryEntry(status=S.COMPLETED, at=now),
        ],
        created_at=now,
        updated_at=now,
    )
    await asyncio.to_thread(stack.repository.save, forged, "acc-1002")
    await _debit_behind_its_back(stack, "user-1002", forged.correlation_id)

    expected = {
        reversed_.workflow_id: K.REVERSAL_NOT_COMPENSATED,
        rejected.workflow_id: K.REDEMPTION_WITHOUT_TRANSFER,
        twice.workflow_id: K.REDEMPTION_NOT_SETTLED,
        forged.workflow_id: K.TRANSFER_WITHOUT_REDEMPTION,
    }
    stack.planted.update(
        {
            reversed_.workflow_id: reversed_.correlation_id,
            rejected.workflow_id: rejected.correlation_id,
            twice.workflow_id: twice.correlation_id,
            forged.workflow_id: forged.correlation_id,
        }
    )
    return expected


async def _schedule_runs_once(stack: Stack) -> ReconcileResult:
    """Create the Schedule for this stack, trigger it, and answer its run's result."""
    handle: ScheduleHandle = stack.client.get_schedule_handle(RECONCILIATION_SCHEDULE)
    with contextlib.suppress(Exception):  # none yet
        await handle.delete()  # another test's, aimed at its own task queue
    assert await ensure_reconciliation_schedule(stack.client, stack.settings)
    assert not await ensure_reconciliation_schedule(stack.client, stack.settings)
    try:
        await handle.trigger()
        deadline = time.monotonic() + 30
        while not (recent := (await handle.describe()).info.recent_actions):
            assert time.monotonic() < deadline, "the schedule never started its run"
            await asyncio.sleep(0.2)
        run = stack.client.get_workflow_handle(
            recent[-1].action.workflow_id, result_type=ReconcileResult
        )
        return await run.result()
    finally:
        await handle.delete()


async def test_the_daily_schedule_finds_each_planted_mismatch_once(stack: Stack) -> None:
    expected = await plant(stack)
    before = await _scrape(stack)

    result = await _schedule_runs_once(stack)

    assert result.checked == 5
    found: dict[str, list[MismatchKind]] = {}
    for mismatch in result.mismatches:
        assert mismatch.workflow_id is not None, mismatch
        found.setdefault(mismatch.workflow_id, []).append(mismatch.kind)
    assert set(found) == set(expected)
    for workflow_id, kind in expected.items():
        assert kind in found[workflow_id], (workflow_id, found[workflow_id])
        task = await asyncio.to_thread(
            stack.operations.task_for, workflow_id, TaskKind.RECONCILIATION_MISMATCH
        )
        assert task is not None and task.state == TaskState.OPEN
        assert kind in task.reason
    assert result.opened == 4
    counted = _moved(before, await _scrape(stack))
    # Once for each (withdrawal, kind) found: a reversed COMPLETED one is two kinds at once.
    assert counted == Counter(
        f"withdraw_reconciliation_mismatches_total{{'kind': '{m.kind}'}}" for m in result.mismatches
    ), counted

    listed = await stack.api.get(
        "/ops/compensation-tasks", params={"state": "OPEN"}, headers=stack.ops_auth("ops-1")
    )
    kinds = [task["kind"] for task in listed.json()["data"]]
    assert kinds.count(TaskKind.RECONCILIATION_MISMATCH) == 4


async def test_the_command_prints_the_mismatches_and_opens_no_second_task(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = await plant(stack)
    for name, value in {
        "WITHDRAW_ENVIRONMENT": "dev",
        "WITHDRAW_DATABASE_URL": stack.settings.effective_database_url,
        "WITHDRAW_SIM_URL": stack.settings.sim_url,
    }.items():
        monkeypatch.setenv(name, value)
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()

    def reconcile() -> Any:
        return CliRunner().invoke(app, ["reconcile", "--since", since], catch_exceptions=False)

    first = await asyncio.to_thread(reconcile)
    again = await asyncio.to_thread(reconcile)

    assert first.exit_code == 1, first.output
    for workflow_id, kind in expected.items():
        assert workflow_id in first.output and kind in first.output
    assert "4 new RECONCILIATION_MISMATCH task(s)" in first.output
    assert again.exit_code == 1 and "0 new RECONCILIATION_MISMATCH task(s)" in again.output
    tasks = await asyncio.to_thread(stack.operations.tasks, TaskState.OPEN)
    assert sorted(t.workflow_id for t in tasks) == sorted(expected)
