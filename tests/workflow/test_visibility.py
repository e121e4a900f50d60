"""What WithdrawWorkflow shows outside: the `WithdrawStatus` search attribute follows every
transition, and neither the `getState` query, the update answers nor the saved snapshots
ever carry the OTP.
"""

from __future__ import annotations

import uuid

from temporalio.client import Client

from tests.support.fake_activities import GOOD_OTP, FakeActivities
from tests.support.workers import fake_worker
from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.workflows.models import (
    WITHDRAW_STATUS,
    OtpSubmission,
    OtpVerdict,
    WithdrawInput,
)
from withdraw_service.workflows.withdraw import WithdrawWorkflow

WRONG_OTP = "987650"


async def test_search_attribute_follows_the_status_to_completed(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """WithdrawStatus is AWAITING_OTP while waiting and COMPLETED after completion."""
    fakes = FakeActivities()
    async with fake_worker(client, task_queue, fakes):
        handle = await client.start_workflow(
            WithdrawWorkflow.run,
            withdraw_input,
            id=f"WITHDRAW-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await handle.execute_update(WithdrawWorkflow.initiate)
        waiting = (await handle.describe()).typed_search_attributes.get(WITHDRAW_STATUS)
        await handle.execute_update(WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP))
        final = await handle.result()
        done = (await handle.describe()).typed_search_attributes.get(WITHDRAW_STATUS)

    assert waiting == S.AWAITING_OTP.value
    assert final.status == S.COMPLETED
    assert done == S.COMPLETED.value


async def test_get_state_never_contains_the_otp(
    client: Client, task_queue: str, withdraw_input: WithdrawInput
) -> None:
    """The OTP (wrong or right) is absent from getState while AWAITING_OTP and after
    completion, from the submitOtp answers and from every saved snapshot."""
    fakes = FakeActivities()
    async with fake_worker(client, task_queue, fakes):
        handle = await client.start_workflow(
            WithdrawWorkflow.run,
            withdraw_input,
            id=f"WITHDRAW-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await handle.execute_update(WithdrawWorkflow.initiate)
        wrong = await handle.execute_update(
            WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=WRONG_OTP, sima_stan="stan-1")
        )
        assert wrong.verdict == OtpVerdict.INVALID
        awaiting = await handle.query(WithdrawWorkflow.get_state)
        right = await handle.execute_update(
            WithdrawWorkflow.submit_otp, OtpSubmission(otp_code=GOOD_OTP)
        )
        final = await handle.result()
        closed = await handle.query(WithdrawWorkflow.get_state)

    assert awaiting.status == S.AWAITING_OTP
    assert closed.status == S.COMPLETED
    exposed = [
        awaiting.model_dump_json(),
        awaiting.model_dump_json(by_alias=True),
        wrong.model_dump_json(),
        right.model_dump_json(),
        closed.model_dump_json(),
        final.model_dump_json(),
        *(s.model_dump_json() for s in fakes.saved),
    ]
    for text in exposed:
        assert WRONG_OTP not in text
        assert GOOD_OTP not in text
        assert "otp_code" not in text
        assert "otpCode" not in text
