"""The bare withdraw shape: the same Temporal calls a withdrawal makes, with no-op activities.
An update-with-start that waits for 3 activities (the withdrawal's validate, check, initiate),
then an update that waits for 4 more (finalize, token, redemption, save), then the end.

It is what any service orchestrating these steps with Temporal would pay at the least: the
benchmark's baseline, run on the same server in the same run."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from withdraw_service.bench.shape_steps import BARE_STEP
    from withdraw_service.domain.statuses import WithdrawStatus

BARE_SHAPE = "BareWithdrawShape"
BEFORE_OTP = 3
AFTER_OTP = 4
STEP = timedelta(seconds=30)


@workflow.defn(name=BARE_SHAPE)
class BareWithdrawShape:
    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self._done)
        return WithdrawStatus.COMPLETED.value

    @workflow.update
    async def initiate(self) -> str:
        for _ in range(BEFORE_OTP):
            await workflow.execute_activity(BARE_STEP, start_to_close_timeout=STEP)
        return WithdrawStatus.AWAITING_OTP.value

    @workflow.update
    async def finalize(self, otp: str) -> str:
        for _ in range(AFTER_OTP):
            await workflow.execute_activity(BARE_STEP, start_to_close_timeout=STEP)
        self._done = True
        return WithdrawStatus.COMPLETED.value
