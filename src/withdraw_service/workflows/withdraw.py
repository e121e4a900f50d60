"""WithdrawWorkflow: the seed's "Workflow Design" flowchart as Temporal orchestration.

validateUser -> checkRestrictions -> initiateTransfer -> (OTP window, `otp.py`) ->
finalizeTransfer [-> verifyTransferStatus while the outcome is unknown] -> the redemption or the
compensation (`saga.py`) -> COMPLETED. Every status change is persisted with its history row
before anyone can see it (`progress.py`); how each failure ends the withdrawal is read from the
outcome tables (`domain/outcomes.py`).

Deterministic: no I/O, clock or randomness but the SDK's.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from withdraw_service.activities.models import (
        CheckRestrictionsInput,
        FinalizeTransferInput,
        FinalizeTransferResult,
        InitiateTransferInput,
        UserContext,
        ValidateUserInput,
        VerifyTransferStatusInput,
    )
    from withdraw_service.activities.withdraw import WithdrawActivities
    from withdraw_service.domain.outcomes import (
        FINALIZE_ENDINGS,
        CheckerStatus,
        FailureCode,
        FailureType,
        FinalizeOutcome,
        OtpVerdict,
        TaskKind,
        initiation_ending,
    )
    from withdraw_service.domain.statuses import RECEIPT, WithdrawStatus
    from withdraw_service.domain.withdrawal import HistoryEntry, WithdrawState
    from withdraw_service.workflows.activity_calls import error_message, error_type
    from withdraw_service.workflows.models import (
        WORKFLOW_NAME,
        OtpResult,
        OtpSubmission,
        WithdrawInput,
    )
    from withdraw_service.workflows.otp import OtpWindow
    from withdraw_service.workflows.patches import (
        FINALIZE_RESEND,
        NEVER_FAIL,
        REVIEW_TASK,
        WAIT_FOR_DATABASE,
    )
    from withdraw_service.workflows.progress import Ended, Progress
    from withdraw_service.workflows.saga import Saga

S = WithdrawStatus
# Between checks of restrictions while our database is away: doubling, then every half minute.
DATABASE_WAIT_FIRST = timedelta(seconds=1)
DATABASE_WAIT_MAX = timedelta(seconds=30)


@workflow.defn(name=WORKFLOW_NAME)
class WithdrawWorkflow:
    @workflow.init
    def __init__(self, request: WithdrawInput) -> None:
        now = workflow.now()
        self._progress = Progress(
            request,
            WithdrawState(
                workflow_id=workflow.info().workflow_id,
                correlation_id=request.correlation_id,
                user_id=request.user_id,
                status=S.INITIATED,
                amount=request.amount,
                product_number=request.product_number,
                history=[HistoryEntry(status=S.INITIATED, at=now)],
                created_at=now,
                updated_at=now,
            ),
        )
        self._otp = OtpWindow(self._progress, request.otp_max_attempts)

    @workflow.run
    async def run(self, request: WithdrawInput) -> WithdrawState:
        progress = self._progress
        await progress.save(progress.state)
        try:
            user = await self._validate_and_reserve()
            await self._initiate_transfer()
            await self._await_otp_and_finalize()
            await Saga(progress).redeem_or_compensate(user)
        except Ended as ended:
            self._otp.close()
            await progress.end(ended)
        except FailureError as err:
            if not workflow.patched(NEVER_FAIL):
                raise
            self._otp.close()
            await progress.end(await self._unexpected(err))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return progress.state

    # -- updates and queries -------------------------------------------------------------

    @workflow.update(name="initiate")
    async def initiate(self) -> WithdrawState:
        """Answers once the transfer is initiated (OTP sent) or the withdrawal has ended."""
        await workflow.wait_condition(lambda: self._progress.state.status != S.INITIATED)
        return self._progress.state

    @workflow.update(name="awaitReceipt")
    async def await_receipt(self) -> WithdrawState:
        """Answers once the customer can have a receipt (COMPLETED, or DriveWealth accepted
        the redemption: DW_REDEMPTION_PENDING) or the withdrawal has ended otherwise."""
        await workflow.wait_condition(self._has_receipt)
        return self._progress.state

    def _has_receipt(self) -> bool:
        status = self._progress.state.status
        return status in RECEIPT or status.is_terminal

    @workflow.update(name="submitOtp")
    async def submit_otp(self, submission: OtpSubmission) -> OtpResult:
        """The code's verdict; with `until_receipt`, an accepted code's answer waits for the
        receipt too (input recorded in the history: older runs never took this branch)."""
        result = await self._otp.submit(submission)
        if not (submission.until_receipt and result.verdict == OtpVerdict.ACCEPTED):
            return result
        await workflow.wait_condition(self._has_receipt)
        return result.model_copy(update={"state": self._progress.state, "receipt": True})

    @submit_otp.validator
    def _check_otp(self, submission: OtpSubmission) -> None:
        self._otp.check_submission(submission)

    @workflow.update(name="cancel")
    async def cancel(self) -> WithdrawState:
        """The customer gives up while the OTP is awaited; nothing has been debited."""
        self._otp.request_cancel()
        await workflow.wait_condition(lambda: self._progress.state.status.is_terminal)
        return self._progress.state

    @cancel.validator
    def _check_cancel(self) -> None:
        self._otp.check_accepting()

    @workflow.query(name="getState")
    def get_state(self) -> WithdrawState:
        return self._progress.state

    async def _unexpected(self, err: FailureError) -> Ended:
        """A failure no step expected: where the money stands is not known here, so a person
        looks (MANUAL_REVIEW_REQUIRED with a task), instead of a failed execution that would
        leave the withdrawal in flight and its account claimed."""
        reason = f"unexpected {type(err).__name__} while {self._progress.state.status.value}"
        workflow.logger.error(
            "%s: %s", reason, err, extra={"correlationId": self._progress.request.correlation_id}
        )
        await self._progress.open_task(TaskKind.TRANSFER_UNRESOLVED, reason)
        return Ended(S.MANUAL_REVIEW_REQUIRED, FailureCode.UNEXPECTED_FAILURE, reason)

    # -- steps -----------------------------------------------------------------------------

    async def _validate_and_reserve(self) -> UserContext:
        progress = self._progress
        try:
            user = await progress.lookup(
                WithdrawActivities.validate_user,
                ValidateUserInput(user_id=progress.request.user_id),
            )
        except FailureError as err:  # run in the worker: see Progress.lookup
            raise _initiation_failed(err) from None
        progress.dw_account_id = user.dw_account_id
        check = CheckRestrictionsInput(
            workflow_id=progress.state.workflow_id,
            user_id=user.user_id,
            dw_account_id=user.dw_account_id,
            amount=progress.request.amount,
        )
        wait = DATABASE_WAIT_FIRST
        while True:
            try:
                await progress.lookup(WithdrawActivities.check_restrictions, check)
                return user
            except FailureError as err:  # run in the worker: see Progress.lookup
                # Our database away is infrastructure, never the customer's outcome: wait for
                # it and check again (claiming is idempotent), however long it takes.
                outage = error_type(err) == FailureType.DATABASE_UNAVAILABLE
                if not (outage and workflow.patched(WAIT_FOR_DATABASE)):
                    raise _initiation_failed(err) from None
            await workflow.sleep(wait)
            wait = min(wait * 2, DATABASE_WAIT_MAX)

    async def _initiate_transfer(self) -> None:
        progress = self._progress
        req = progress.request
        try:
            auth = await progress.run(
                WithdrawActivities.initiate_transfer,
                InitiateTransferInput(
                    user_id=req.user_id,
                    amount=req.amount,
                    correlation_id=req.correlation_id,
                    product_number=req.product_number,
                    frontend_sima_ready=req.frontend_sima_ready,
                    idempotency_key=progress.key("initiate"),
                ),
            )
        except ActivityError as err:
            raise _initiation_failed(err) from None
        deadline = workflow.now() + timedelta(seconds=req.otp_timeout_seconds)
        await progress.transition(
            S.AWAITING_OTP,
            authorisation_id=auth.authorisation_id,
            transfer_reference_number=auth.reference_number,
            otp_expires_at=deadline,
        )
        self._otp.start(deadline)

    async def _await_otp_and_finalize(self) -> None:
        progress, otp = self._progress, self._otp
        attempt = 0
        while True:
            submission = await otp.next_code()
            attempt += 1
            await progress.transition(S.FINALIZING_TRANSFER)
            result = await self._finalize(submission, attempt)
            if result is None or result.outcome == FinalizeOutcome.SUCCESS:
                otp.accept()
                if result is None:
                    await self._verify_transfer(submission, attempt)
                else:
                    await progress.transition(
                        S.TRANSFER_COMPLETED, transfer_reference_number=result.reference_number
                    )
                return
            if result.outcome == FinalizeOutcome.OTP_INVALID and otp.wrong_code(
                result.attempts_remaining
            ):
                await progress.transition(S.AWAITING_OTP)
                otp.answer(OtpVerdict.INVALID)
                continue
            otp_over = result.outcome in (
                FinalizeOutcome.OTP_INVALID,
                FinalizeOutcome.AUTHORISATION_EXPIRED,
            )
            otp.answer(OtpVerdict.EXPIRED if otp_over else OtpVerdict.ACCEPTED)
            raise _finalize_failure(result)

    async def _finalize(
        self, submission: OtpSubmission, attempt: int
    ) -> FinalizeTransferResult | None:
        """The finalize outcome, or None when it is unknown (timed out / upstream down)."""
        progress = self._progress
        try:
            return await progress.run(
                WithdrawActivities.finalize_transfer,
                FinalizeTransferInput(
                    authorisation_id=progress.state.authorisation_id or "",
                    otp_code=submission.otp_code,
                    sima_stan=submission.sima_stan,
                    idempotency_key=progress.key(f"finalize-{attempt}"),
                ),
            )
        except ActivityError:
            return None

    async def _verify_transfer(self, submission: OtpSubmission, attempt: int) -> None:
        """The debit may or may not have happened: ask the Transfer Checker before anything.

        SUCCESS goes on, FAILED ends. INITIATED means the bank never applied the confirmation,
        so it is sent again with the same Idempotency-Key (which can only apply it once).
        Still unknown after the configured checks: an operator reviews it."""
        progress = self._progress
        await progress.transition(S.VERIFYING_TRANSFER)
        settings = progress.request.policies.transfer_verification
        reference = progress.state.transfer_reference_number or ""
        for _ in range(settings.max_attempts):
            await workflow.sleep(settings.interval)
            try:
                report = await progress.run(
                    WithdrawActivities.verify_transfer_status,
                    VerifyTransferStatusInput(reference_number=reference),
                )
            except ActivityError:
                continue
            if report.status == CheckerStatus.SUCCESS:
                await progress.transition(S.TRANSFER_COMPLETED)
                return
            if report.status == CheckerStatus.FAILED:
                raise Ended(
                    S.TRANSFER_FAILED,
                    FailureCode.TRANSFER_FAILED,
                    "the bank reports the transfer failed",
                )
            if report.status == CheckerStatus.INITIATED and workflow.patched(FINALIZE_RESEND):
                result = await self._finalize(submission, attempt)
                if result is None:
                    continue
                if result.outcome != FinalizeOutcome.SUCCESS:
                    raise _finalize_failure(result)
                await progress.transition(S.TRANSFER_COMPLETED)
                return
        reason = "transfer status still unknown after verification; operator review required"
        if workflow.patched(REVIEW_TASK):
            await progress.open_task(TaskKind.TRANSFER_UNRESOLVED, f"{reference}: {reason}")
        raise Ended(S.MANUAL_REVIEW_REQUIRED, FailureCode.TRANSFER_UNRESOLVED, reason)


def _initiation_failed(err: FailureError) -> Ended:
    status, code = initiation_ending(error_type(err))
    return Ended(status, code, error_message(err))


def _finalize_failure(result: FinalizeTransferResult) -> Ended:
    status, code = FINALIZE_ENDINGS[result.outcome]
    reason = {
        FinalizeOutcome.OTP_INVALID: "the last OTP attempt was wrong",
        FinalizeOutcome.AUTHORISATION_EXPIRED: "the authorisation expired",
    }.get(result.outcome, result.reason)
    return Ended(status, code, reason)
