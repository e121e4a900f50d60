"""A running withdrawal's status is read from the database, without asking a worker, when
Temporal's description shows the stored state is the workflow's own (api/state_reader.py).
Checked against the real server, worker and database at the states a withdrawal waits in:
for the customer's OTP (first, and again after a wrong code) and for DriveWealth to settle.
Each time the answer is the workflow's query's, field for field, and no query was made."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client, WorkflowHandle

from tests.integration._paths import (
    USER,
    finalize,
    otp_of,
    problem,
    start,
    status,
    wait_terminal,
    wrong,
)
from tests.integration.conftest import Stack
from withdraw_service.api.routes import customer_json
from withdraw_service.api.state_reader import StateReader
from withdraw_service.domain.outcomes import ProblemCode
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.workflows.withdraw import WithdrawWorkflow


class CountingQueries:
    """The stack's Temporal client, counting the queries made through its handles."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.queries = 0

    def get_workflow_handle(self, workflow_id: str) -> WorkflowHandle[Any, Any]:
        handle = self._client.get_workflow_handle(workflow_id)
        asked = handle.query

        async def query(*args: Any, **kwargs: Any) -> Any:
            self.queries += 1
            return await asked(*args, **kwargs)

        handle.query = query  # type: ignore[method-assign]
        return handle


async def _settled(stack: Stack, workflow_id: str) -> WithdrawState:
    """The workflow's state once it has no workflow task pending."""
    handle = stack.client.get_workflow_handle(workflow_id)
    for _ in range(100):
        description = await handle.describe()
        if not description.raw_description.HasField("pending_workflow_task"):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("a workflow task stayed pending for 5 s")
    state: WithdrawState = await handle.query(WithdrawWorkflow.get_state)
    return state


async def _read_without_a_query(stack: Stack, workflow_id: str) -> WithdrawState:
    """The API's reading of a settled withdrawal: the workflow's own state, no query made."""
    queried = await _settled(stack, workflow_id)
    client = CountingQueries(stack.client)
    reader = StateReader(client, stack.repository)  # type: ignore[arg-type]
    assert await reader.status(workflow_id, USER) == queried
    assert client.queries == 0
    assert await status(stack, workflow_id) == customer_json(queried)
    return queried


async def test_a_withdrawal_waiting_for_its_otp_is_read_without_a_query(stack: Stack) -> None:
    started = await start(stack)
    waiting = await _read_without_a_query(stack, started.workflow_id)
    assert waiting.status == S.AWAITING_OTP

    # Back to AWAITING_OTP after a wrong code: the same status, two history entries more.
    otp = await otp_of(stack, started.authorisation_id)
    problem(await finalize(stack, started.workflow_id, wrong(otp)), 422, ProblemCode.OTP_INVALID)
    again = await _read_without_a_query(stack, started.workflow_id)
    assert [h.status for h in again.history] == [
        S.INITIATED,
        S.AWAITING_OTP,
        S.FINALIZING_TRANSFER,
        S.AWAITING_OTP,
    ]

    finalized = await finalize(stack, started.workflow_id, otp)
    assert finalized.status_code == 200, finalized.text
    assert finalized.json()["data"]["status"] == S.COMPLETED


async def test_a_redemption_waiting_to_settle_is_read_without_a_query(stack: Stack) -> None:
    """DW_REDEMPTION_PENDING: an activity (the settlement lookup) runs on the server meanwhile,
    which is no reason to ask the workflow."""
    started = await start(stack)
    await stack.fault("drivewealth", "redemption", "accept_pending")
    finalized = await finalize(
        stack, started.workflow_id, await otp_of(stack, started.authorisation_id)
    )
    assert finalized.status_code == 200, finalized.text
    receipt = finalized.json()["data"]
    assert receipt["status"] == S.DW_REDEMPTION_PENDING

    pending = await _read_without_a_query(stack, started.workflow_id)
    assert pending.status == S.DW_REDEMPTION_PENDING

    settled = await stack.sim.post(
        f"/_sim/drivewealth/redemptions/{receipt['dwRedemptionId']}/settle",
        json={"status": "SUCCESSFUL"},
    )
    assert settled.status_code == 200, settled.text
    assert (await wait_terminal(stack, started.workflow_id))["status"] == S.COMPLETED
