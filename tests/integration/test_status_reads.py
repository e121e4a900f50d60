"""A running withdrawal's status call reads the database when Temporal's description shows the
stored state is the workflow's own (no workflow task pending, `WithdrawStatus` the stored
status). That answer must be the one the workflow's query gives, field for field, at every
state a withdrawal waits in: checked here against the real worker, database and server."""

from __future__ import annotations

import asyncio

from tests.integration._paths import finalize, otp_of, problem, start, status, wrong
from tests.integration.conftest import Stack
from withdraw_service.api.routes import customer_json
from withdraw_service.domain.outcomes import ProblemCode
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.workflows.models import WITHDRAW_STATUS
from withdraw_service.workflows.withdraw import WithdrawWorkflow


async def _settled(stack: Stack, workflow_id: str) -> WithdrawState:
    """The workflow's state once no workflow task is pending; the stored state is equal."""
    handle = stack.client.get_workflow_handle(workflow_id)
    for _ in range(100):
        description = await handle.describe()
        if not description.raw_description.HasField("pending_workflow_task"):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("a workflow task stayed pending for 5 s")
    queried: WithdrawState = await handle.query(WithdrawWorkflow.get_state)
    stored = await asyncio.to_thread(stack.repository.get, workflow_id)
    assert stored == queried
    assert description.typed_search_attributes.get(WITHDRAW_STATUS) == queried.status.value
    return queried


async def test_a_waiting_withdrawal_reads_the_same_from_the_database_as_from_its_workflow(
    stack: Stack,
) -> None:
    started = await start(stack)
    waiting = await _settled(stack, started.workflow_id)
    assert waiting.status == S.AWAITING_OTP
    assert await status(stack, started.workflow_id) == customer_json(waiting)

    # Back to AWAITING_OTP after a wrong code: the same status, one history entry longer.
    otp = await otp_of(stack, started.authorisation_id)
    problem(await finalize(stack, started.workflow_id, wrong(otp)), 422, ProblemCode.OTP_INVALID)
    again = await _settled(stack, started.workflow_id)
    assert [h.status for h in again.history] == [
        S.INITIATED,
        S.AWAITING_OTP,
        S.FINALIZING_TRANSFER,
        S.AWAITING_OTP,
    ]
    assert await status(stack, started.workflow_id) == customer_json(again)

    finalized = await finalize(stack, started.workflow_id, otp)
    assert finalized.status_code == 200, finalized.text
    assert finalized.json()["data"]["status"] == S.COMPLETED
