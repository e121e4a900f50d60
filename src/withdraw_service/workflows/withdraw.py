"""WithdrawWorkflow: the seed's "Workflow Design" flowchart as Temporal orchestration.

validateUser -> checkRestrictions -> initiateTransfer -> (OTP, as an update) -> finalizeTransfer
[-> verifyTransferStatus while the outcome is unknown] -> getDwToken -> createDwRedemption
[-> CompensationWorkflow when a step after the debit fails] -> COMPLETED. Every status change is
persisted through saveToDb with its history row before anyone can see it, and mirrored in the
`WithdrawStatus` search attribute.

Deterministic: no I/O, clock or randomness but the SDK's; the OTP lives only in memory here
and is never part of the state that queries, updates or saveToDb return.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from withdraw_service.activities import errors
    from withdraw_service.activities.models import (
        CheckRestrictionsInput,
        FinalizeOutcome,
        FinalizeTransferInput,
        FinalizeTransferResult,
        InitiateTransferInput,
        UserContext,
        ValidateUserInput,
        VerifyTransferStatusInput,
    )
    from withdraw_service.activities.operations import (
        TRANSFER_UNRESOLVED,
    )
    from withdraw_service.activities.withdraw import WithdrawActivities
    from withdraw_service.domain.statuses import WithdrawStatus
    from withdraw_service.domain.withdrawal import HistoryEntry, WithdrawState
    from withdraw_service.workflows.common import (
        error_message,
        error_type,
        wait_until,
    )
    from withdraw_service.workflows.late_steps import (
        FINALIZE_RESEND,
        REVIEW_TASK,
        Ended,
        LateSteps,
    )
    from withdraw_service.workflows.models import (
        WORKFLOW_NAME,
        OtpResult,
        OtpSubmission,
        OtpVerdict,
        WithdrawInput,
    )

S = WithdrawStatus


@workflow.defn(name=WORKFLOW_NAME)
class WithdrawWorkflow(LateSteps):
    @workflow.init
    def __init__(self, request: WithdrawInput) -> None:
        now = workflow.now()
        self._request = request
        self._state = WithdrawState(
            workflow_id=workflow.info().workflow_id,
            correlation_id=request.correlation_id,
            user_id=request.user_id,
            status=S.INITIATED,
            amount=request.amount,
            product_number=request.product_number,
            history=[HistoryEntry(status=S.INITIATED, at=now)],
            created_at=now,
            updated_at=now,
        )
        self._dw_account_id: str | None = None
        self._otp: OtpSubmission | None = None
        self._otp_result: OtpResult | None = None
        self._attempts_remaining = request.otp_max_attempts
        self._otp_deadline: datetime | None = None  # set once the OTP is sent
        self._cancel_requested = False
        self._otp_closed = False

    @workflow.run
    async def run(self, request: WithdrawInput) -> WithdrawState:
        await self._save(self._state)
        try:
            user = await self._validate_and_reserve()
            await self._initiate_transfer()
            await self._await_otp_and_finalize()
            await self._redeem_or_compensate(user)
        except Ended as ended:
            self._close_otp()
            changes: dict[str, Any] = {"failure_code": ended.code, "failure_reason": ended.reason}
            if ended.compensation is not None:
                changes["compensation"] = ended.compensation
            await self._transition(ended.status, **changes)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    # -- updates and queries -------------------------------------------------------------

    @workflow.update(name="initiate")
    async def initiate(self) -> WithdrawState:
        """Answers once the transfer is initiated (OTP sent) or the withdrawal has ended."""
        await workflow.wait_condition(lambda: self._state.status != S.INITIATED)
        return self._state

    @workflow.update(name="submitOtp")
    async def submit_otp(self, submission: OtpSubmission) -> OtpResult:
        if self._otp is not None:  # two codes accepted in one activation: judge only the first
            raise ApplicationError("another OTP is being checked", type="INVALID_STATE")
        self._otp, self._otp_result = submission, None
        await workflow.wait_condition(lambda: self._otp_result is not None)
        assert self._otp_result is not None
        return self._otp_result

    @submit_otp.validator
    def _check_otp(self, submission: OtpSubmission) -> None:
        # Rejected updates leave no trace in history, so a bad code here changes nothing.
        deadline = self._otp_deadline
        if (
            self._state.status == S.AWAITING_OTP
            and deadline is not None
            and workflow.now() >= deadline
        ):
            raise ApplicationError("the OTP window is over", type="OTP_EXPIRED")
        self._require_awaiting_otp()
        code = submission.otp_code
        if not (len(code) == 6 and code.isascii() and code.isdigit()):
            raise ApplicationError("otpCode must be 6 digits", type="VALIDATION_ERROR")

    @workflow.update(name="cancel")
    async def cancel(self) -> WithdrawState:
        """The customer gives up while the OTP is awaited; nothing has been debited."""
        self._cancel_requested = True
        await workflow.wait_condition(lambda: self._state.status.is_terminal)
        return self._state

    @cancel.validator
    def _check_cancel(self) -> None:
        self._require_awaiting_otp()

    def _require_awaiting_otp(self) -> None:
        if self._state.status != S.AWAITING_OTP or self._otp_closed or self._otp is not None:
            raise ApplicationError(
                f"withdrawal is {self._state.status.value}, not awaiting an OTP",
                type="INVALID_STATE",
            )
        if self._cancel_requested:
            raise ApplicationError("withdrawal is being cancelled", type="INVALID_STATE")

    def _close_otp(self) -> None:
        """No OTP is taken from now on; one that came in meanwhile is answered EXPIRED, so
        that its caller is not left waiting for a verdict that will never come."""
        self._otp_closed = True
        if self._otp is not None:
            self._answer_otp(OtpVerdict.EXPIRED)

    def _answer_otp(self, verdict: OtpVerdict) -> None:
        self._otp_result = OtpResult(
            verdict=verdict, attempts_remaining=self._attempts_remaining, state=self._state
        )
        self._otp = None

    @workflow.query(name="getState")
    def get_state(self) -> WithdrawState:
        return self._state

    # -- steps -----------------------------------------------------------------------------

    async def _validate_and_reserve(self) -> UserContext:
        try:
            user: UserContext = await self._activity(
                WithdrawActivities.validate_user,
                "validateUser",
                ValidateUserInput(user_id=self._request.user_id),
            )
        except ActivityError as err:
            if error_type(err) == errors.USER_INVALID:
                raise Ended(S.USER_INVALID, "USER_INVALID", error_message(err)) from None
            raise _unavailable(err) from None
        self._dw_account_id = user.dw_account_id
        try:
            await self._activity(
                WithdrawActivities.check_restrictions,
                "checkRestrictions",
                CheckRestrictionsInput(
                    workflow_id=self._state.workflow_id,
                    user_id=user.user_id,
                    dw_account_id=user.dw_account_id,
                    amount=self._request.amount,
                ),
            )
        except ActivityError as err:
            kind = error_type(err)
            if kind == errors.WITHDRAW_RESTRICTED:
                raise Ended(
                    S.WITHDRAW_RESTRICTED, "WITHDRAW_RESTRICTED", error_message(err)
                ) from None
            if kind == errors.INSUFFICIENT_FUNDS:
                raise Ended(S.INITIATION_FAILED, "INSUFFICIENT_FUNDS", error_message(err)) from None
            raise _unavailable(err) from None
        return user

    async def _initiate_transfer(self) -> None:
        req = self._request
        try:
            auth = await self._activity(
                WithdrawActivities.initiate_transfer,
                "initiateTransfer",
                InitiateTransferInput(
                    user_id=req.user_id,
                    amount=req.amount,
                    correlation_id=req.correlation_id,
                    product_number=req.product_number,
                    frontend_sima_ready=req.frontend_sima_ready,
                    idempotency_key=self._key("initiate"),
                ),
            )
        except ActivityError as err:
            code = {
                errors.INSUFFICIENT_FUNDS: "INSUFFICIENT_FUNDS",
                errors.ACCOUNT_BLOCKED: "ACCOUNT_BLOCKED",
            }.get(error_type(err) or "")
            if code is None:
                raise _unavailable(err) from None
            raise Ended(S.INITIATION_FAILED, code, error_message(err)) from None
        deadline = workflow.now() + timedelta(seconds=req.otp_timeout_seconds)
        await self._transition(
            S.AWAITING_OTP,
            authorisation_id=auth.authorisation_id,
            transfer_reference_number=auth.reference_number,
            otp_expires_at=deadline,
        )
        self._otp_deadline = deadline

    async def _await_otp_and_finalize(self) -> None:
        attempt = 0
        while True:
            assert self._otp_deadline is not None
            remaining = self._otp_deadline - workflow.now()
            arrived = remaining > timedelta(0) and await wait_until(
                lambda: self._otp is not None or self._cancel_requested, remaining
            )
            if self._cancel_requested:
                raise Ended(S.CANCELLED, "CANCELLED", "cancelled by the customer")
            if not arrived:
                raise Ended(S.OTP_TIMEOUT, "OTP_TIMEOUT", "no OTP within the window")
            submission = self._otp
            assert submission is not None
            attempt += 1
            await self._transition(S.FINALIZING_TRANSFER)
            result = await self._finalize(submission, attempt)
            if result is None or result.outcome == FinalizeOutcome.SUCCESS:
                self._answer_otp(OtpVerdict.ACCEPTED)
                self._otp_closed = True
                if result is None:
                    await self._verify_transfer(submission, attempt)
                else:
                    await self._transition(
                        S.TRANSFER_COMPLETED, transfer_reference_number=result.reference_number
                    )
                return
            if result.outcome == FinalizeOutcome.OTP_INVALID:
                self._attempts_remaining = (
                    result.attempts_remaining
                    if result.attempts_remaining is not None
                    else self._attempts_remaining - 1
                )
                if self._attempts_remaining > 0:
                    await self._transition(S.AWAITING_OTP)
                    self._answer_otp(OtpVerdict.INVALID)
                    continue
            otp_over = result.outcome in (
                FinalizeOutcome.OTP_INVALID,
                FinalizeOutcome.AUTHORISATION_EXPIRED,
            )
            self._answer_otp(OtpVerdict.EXPIRED if otp_over else OtpVerdict.ACCEPTED)
            raise _finalize_failure(result)

    async def _finalize(
        self, submission: OtpSubmission, attempt: int
    ) -> FinalizeTransferResult | None:
        """The finalize outcome, or None when it is unknown (timed out / upstream down)."""
        try:
            result: FinalizeTransferResult = await self._activity(
                WithdrawActivities.finalize_transfer,
                "finalizeTransfer",
                FinalizeTransferInput(
                    authorisation_id=self._state.authorisation_id or "",
                    otp_code=submission.otp_code,
                    sima_stan=submission.sima_stan,
                    idempotency_key=self._key(f"finalize-{attempt}"),
                ),
            )
        except ActivityError:
            return None
        return result

    async def _verify_transfer(self, submission: OtpSubmission, attempt: int) -> None:
        """The debit may or may not have happened: ask the Transfer Checker before anything.

        SUCCESS goes on, FAILED ends. INITIATED means the bank never applied the confirmation,
        so it is sent again with the same Idempotency-Key (which can only apply it once).
        Still unknown after the configured checks: an operator reviews it."""
        await self._transition(S.VERIFYING_TRANSFER)
        settings = self._request.policies.transfer_verification
        reference = self._state.transfer_reference_number or ""
        for _ in range(settings.max_attempts):
            await workflow.sleep(settings.interval)
            try:
                report = await self._activity(
                    WithdrawActivities.verify_transfer_status,
                    "verifyTransferStatus",
                    VerifyTransferStatusInput(reference_number=reference),
                )
            except ActivityError:
                continue
            if report.status == "SUCCESS":
                await self._transition(S.TRANSFER_COMPLETED)
                return
            if report.status == "FAILED":
                raise Ended(
                    S.TRANSFER_FAILED, "TRANSFER_FAILED", "the bank reports the transfer failed"
                )
            if report.status == "INITIATED" and workflow.patched(FINALIZE_RESEND):
                result = await self._finalize(submission, attempt)
                if result is None:
                    continue
                if result.outcome != FinalizeOutcome.SUCCESS:
                    raise _finalize_failure(result)
                await self._transition(S.TRANSFER_COMPLETED)
                return
        reason = "transfer status still unknown after verification; operator review required"
        if workflow.patched(REVIEW_TASK):
            await self._open_task(TRANSFER_UNRESOLVED, f"{reference}: {reason}")
        raise Ended(S.MANUAL_REVIEW_REQUIRED, "TRANSFER_UNRESOLVED", reason)


def _unavailable(err: ActivityError) -> Ended:
    return Ended(S.INITIATION_FAILED, "UPSTREAM_UNAVAILABLE", error_message(err))


def _finalize_failure(result: FinalizeTransferResult) -> Ended:
    if result.outcome == FinalizeOutcome.OTP_INVALID:
        return Ended(S.OTP_REJECTED, "OTP_REJECTED", "the last OTP attempt was wrong")
    if result.outcome == FinalizeOutcome.AUTHORISATION_EXPIRED:
        return Ended(S.OTP_REJECTED, "OTP_EXPIRED", "the authorisation expired")
    if result.outcome == FinalizeOutcome.FAILED:
        return Ended(S.TRANSFER_FAILED, "TRANSFER_FAILED", result.reason)
    return Ended(S.TRANSFER_REJECTED, "TRANSFER_REJECTED", result.reason)
