"""WithdrawWorkflow: the seed's "Workflow Design" flowchart as Temporal orchestration.

validateUser -> checkRestrictions -> initiateTransfer -> (OTP, as an update) -> finalizeTransfer
[-> verifyTransferStatus while the outcome is unknown] -> getDwToken -> createDwRedemption
[-> rollbackTransfer when a late step fails] -> COMPLETED. Every status change is persisted
through saveToDb with its history row and mirrored in the `WithdrawStatus` search attribute.

Deterministic: no I/O, clock or randomness but the SDK's; the OTP lives only in memory here
and is never part of the state that queries, updates or saveToDb return.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from withdraw_service.activities import errors
    from withdraw_service.activities.models import (
        CheckRestrictionsInput,
        CreateDwRedemptionInput,
        FinalizeOutcome,
        FinalizeTransferInput,
        FinalizeTransferResult,
        InitiateTransferInput,
        RollbackTransferInput,
        SaveToDbInput,
        UserContext,
        ValidateUserInput,
        VerifyTransferStatusInput,
    )
    from withdraw_service.activities.withdraw import WithdrawActivities
    from withdraw_service.domain.policies import RetryPolicySpec
    from withdraw_service.domain.statuses import WithdrawStatus
    from withdraw_service.domain.withdrawal import HistoryEntry, WithdrawState
    from withdraw_service.workflows.models import (
        WITHDRAW_STATUS,
        WORKFLOW_NAME,
        OtpResult,
        OtpSubmission,
        OtpVerdict,
        WithdrawInput,
    )

S = WithdrawStatus


class _Ended(Exception):
    """Control flow inside the workflow: the withdrawal reached a terminal status."""

    def __init__(self, status: WithdrawStatus, code: str | None, reason: str | None) -> None:
        super().__init__(reason)
        self.status, self.code, self.reason = status, code, reason


@workflow.defn(name=WORKFLOW_NAME)
class WithdrawWorkflow:
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
        self._otp_deadline = workflow.now()  # set for real once the OTP is sent

    @workflow.run
    async def run(self, request: WithdrawInput) -> WithdrawState:
        await self._save(self._state)
        try:
            user = await self._validate_and_reserve()
            await self._initiate_transfer()
            await self._await_otp_and_finalize()
            await self._redeem_or_compensate(user)
        except _Ended as ended:
            await self._transition(
                ended.status, failure_code=ended.code, failure_reason=ended.reason
            )
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
        self._otp, self._otp_result = submission, None
        await workflow.wait_condition(lambda: self._otp_result is not None)
        assert self._otp_result is not None
        return self._otp_result

    @submit_otp.validator
    def _check_otp(self, submission: OtpSubmission) -> None:
        # Rejected updates leave no trace in history, so a bad code here changes nothing.
        if self._state.status != S.AWAITING_OTP or self._otp is not None:
            raise ApplicationError(
                f"withdrawal is {self._state.status.value}, not awaiting an OTP",
                type="INVALID_STATE",
            )
        code = submission.otp_code
        if not (len(code) == 6 and code.isascii() and code.isdigit()):
            raise ApplicationError("otpCode must be 6 digits", type="VALIDATION_ERROR")

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
            if _error_type(err) == errors.USER_INVALID:
                raise _Ended(S.USER_INVALID, "USER_INVALID", _message(err)) from None
            raise _Ended(S.INITIATION_FAILED, "UPSTREAM_UNAVAILABLE", _message(err)) from None
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
            kind = _error_type(err)
            if kind == errors.WITHDRAW_RESTRICTED:
                raise _Ended(S.WITHDRAW_RESTRICTED, "WITHDRAW_RESTRICTED", _message(err)) from None
            if kind == errors.INSUFFICIENT_FUNDS:
                raise _Ended(S.INITIATION_FAILED, "INSUFFICIENT_FUNDS", _message(err)) from None
            raise _Ended(S.INITIATION_FAILED, "UPSTREAM_UNAVAILABLE", _message(err)) from None
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
            kind = _error_type(err)
            code = "INSUFFICIENT_FUNDS" if kind == errors.INSUFFICIENT_FUNDS else None
            if kind == errors.ACCOUNT_BLOCKED:
                code = "ACCOUNT_BLOCKED"
            raise _Ended(
                S.INITIATION_FAILED, code or "UPSTREAM_UNAVAILABLE", _message(err)
            ) from None
        self._otp_deadline = workflow.now() + timedelta(seconds=req.otp_timeout_seconds)
        await self._transition(
            S.AWAITING_OTP,
            authorisation_id=auth.authorisation_id,
            transfer_reference_number=auth.reference_number,
            otp_expires_at=self._otp_deadline,
        )

    async def _await_otp_and_finalize(self) -> None:
        attempt = 0
        while True:
            remaining = self._otp_deadline - workflow.now()
            if remaining <= timedelta(0) or not await _wait(
                lambda: self._otp is not None, remaining
            ):
                raise _Ended(S.OTP_TIMEOUT, "OTP_TIMEOUT", "no OTP within the window")
            submission = self._otp
            assert submission is not None
            attempt += 1
            await self._transition(S.FINALIZING_TRANSFER)
            result = await self._finalize(submission, attempt)
            if result is None or result.outcome == FinalizeOutcome.SUCCESS:
                self._answer_otp(OtpVerdict.ACCEPTED)
                if result is None:
                    await self._verify_transfer()
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
            self._answer_otp(
                OtpVerdict.EXPIRED
                if result.outcome
                in (FinalizeOutcome.OTP_INVALID, FinalizeOutcome.AUTHORISATION_EXPIRED)
                else OtpVerdict.ACCEPTED
            )
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

    async def _verify_transfer(self) -> None:
        """The debit may or may not have happened: ask the Transfer Checker, never re-send."""
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
                raise _Ended(
                    S.TRANSFER_FAILED, "TRANSFER_FAILED", "the bank reports the transfer failed"
                )
        raise _Ended(
            S.MANUAL_REVIEW_REQUIRED,
            "TRANSFER_UNRESOLVED",
            "transfer status still unknown after verification; operator review required",
        )

    async def _redeem_or_compensate(self, user: UserContext) -> None:
        try:
            await self._activity(WithdrawActivities.get_dw_token, "getDwToken", None)
        except ActivityError as err:
            await self._compensate("DW_TOKEN_FAILED", _message(err))
        await self._transition(S.CREATING_DW_REDEMPTION)
        try:
            redemption = await self._activity(
                WithdrawActivities.create_dw_redemption,
                "createDwRedemption",
                CreateDwRedemptionInput(
                    dw_account_no=user.dw_account_no,
                    amount=self._request.amount,
                    correlation_id=self._request.correlation_id,
                    idempotency_key=self._key("redemption"),
                ),
            )
        except ActivityError as err:
            await self._compensate("DW_REDEMPTION_FAILED", _message(err))
        await self._transition(S.COMPLETED, dw_redemption_id=redemption.redemption_id)

    async def _compensate(self, code: str, reason: str) -> NoReturn:
        """The bank paid but the brokerage did not: reverse the transfer, then end."""
        await self._transition(S.COMPENSATING, failure_code=code, failure_reason=reason)
        try:
            await self._activity(
                WithdrawActivities.rollback_transfer,
                "rollbackTransfer",
                RollbackTransferInput(
                    reference_number=self._state.transfer_reference_number or "",
                    correlation_id=self._request.correlation_id,
                    reason=code,
                    idempotency_key=self._key("reverse"),
                ),
            )
        except ActivityError as err:
            workflow.logger.error(
                "CRITICAL compensation failed: manual compensation required (%s)", code
            )
            raise _Ended(S.MANUAL_COMPENSATION_REQUIRED, code, _message(err)) from None
        raise _Ended(S.COMPENSATED, code, reason)

    # -- plumbing --------------------------------------------------------------------------

    def _answer_otp(self, verdict: OtpVerdict) -> None:
        self._otp_result = OtpResult(
            verdict=verdict, attempts_remaining=self._attempts_remaining, state=self._state
        )
        self._otp = None

    async def _transition(self, status: WithdrawStatus, **changes: Any) -> None:
        """Persist the new status with its history row first, then make it visible: no
        answer, query or search ever shows a status the database does not have yet."""
        now = workflow.now()
        state = self._state.model_copy(deep=True, update=changes)
        state.status = status
        state.updated_at = now
        state.history.append(HistoryEntry(status=status, at=now))
        await self._save(state)
        self._state = state
        workflow.upsert_search_attributes([WITHDRAW_STATUS.value_set(status.value)])

    async def _save(self, state: WithdrawState) -> None:
        await self._activity(
            WithdrawActivities.save_to_db,
            "saveToDb",
            SaveToDbInput(state=state, dw_account_id=self._dw_account_id),
        )

    def _key(self, step: str) -> str:
        """Idempotency key of one money-moving step: fixed before its first attempt."""
        return f"{self._request.correlation_id}:{step}"

    async def _activity(self, method: Any, name: str, arg: Any) -> Any:
        policy = self._request.policies.of(name)
        options: dict[str, Any] = {
            "start_to_close_timeout": policy.start_to_close_timeout,
            "retry_policy": _retry_policy(policy.retry_policy),
        }
        if arg is None:
            return await workflow.execute_activity_method(method, **options)
        return await workflow.execute_activity_method(method, arg, **options)


async def _wait(condition: Any, within: timedelta) -> bool:
    try:
        await workflow.wait_condition(condition, timeout=within)
    except TimeoutError:
        return False
    return True


def _retry_policy(spec: RetryPolicySpec) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=spec.initial_interval,
        backoff_coefficient=spec.backoff_coefficient,
        maximum_interval=spec.maximum_interval,
        maximum_attempts=spec.maximum_attempts,
        non_retryable_error_types=list(spec.non_retryable_error_types),
    )


def _finalize_failure(result: FinalizeTransferResult) -> _Ended:
    if result.outcome == FinalizeOutcome.OTP_INVALID:
        return _Ended(S.OTP_REJECTED, "OTP_REJECTED", "the last OTP attempt was wrong")
    if result.outcome == FinalizeOutcome.AUTHORISATION_EXPIRED:
        return _Ended(S.OTP_REJECTED, "OTP_EXPIRED", "the authorisation expired")
    if result.outcome == FinalizeOutcome.FAILED:
        return _Ended(S.TRANSFER_FAILED, "TRANSFER_FAILED", result.reason)
    return _Ended(S.TRANSFER_REJECTED, "TRANSFER_REJECTED", result.reason)


def _error_type(err: ActivityError) -> str | None:
    cause = err.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def _message(err: ActivityError) -> str:
    cause = err.cause
    return str(cause.message if isinstance(cause, ApplicationError) else cause or err)
