"""Fake activities registered under the real activity names, so the real workflow runs against
scripted outcomes. Each test tells the fake what each step should answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from withdraw_service.activities.failures import failure
from withdraw_service.activities.models import (
    AuthorisationResult,
    CheckRestrictionsInput,
    CreateDwRedemptionInput,
    DwRedemptionResult,
    DwTokenResult,
    FinalizeOutcome,
    FinalizeTransferInput,
    FinalizeTransferResult,
    InitiateTransferInput,
    MarkCompensatedInput,
    NotifyCustomerInput,
    OpenOperatorTaskInput,
    OperatorTaskResult,
    RollbackTransferInput,
    RollbackTransferResult,
    SaveToDbInput,
    UserContext,
    ValidateUserInput,
    VerifyDwRedemptionInput,
    VerifyTransferStatusInput,
    VerifyTransferStatusResult,
)
from withdraw_service.domain.outcomes import CheckerStatus, DwRedemptionStatus, FailureType
from withdraw_service.domain.policies import ActivityName as A
from withdraw_service.domain.withdrawal import WithdrawState

GOOD_OTP = "123456"


@dataclass
class FakeActivities:
    user_error: str | None = None
    user_delay: float = 0.0  # seconds validateUser takes (past its timeout: it times out)
    restriction_error: str | None = None
    restriction_errors: list[str] = field(default_factory=list)  # one per call, then the above
    initiate_error: str | None = None
    finalize_outcomes: list[FinalizeOutcome | str] = field(default_factory=list)
    verify_statuses: list[CheckerStatus] = field(default_factory=list)
    verify_error: str | None = None
    token_error: str | None = None
    token_errors: list[str | None] = field(default_factory=list)  # one per call, then the above
    redemption_error: str | None = None
    redemption_attempt: int = 1  # the attempt a scripted redemption failure says it was
    redemption_status: DwRedemptionStatus = DwRedemptionStatus.SUCCESSFUL  # when accepted
    # What each look-up of the redemption finds; none left (or unsettled): still pending.
    settlement: list[DwRedemptionStatus] = field(default_factory=list)
    rollback_error: str | None = None
    saved: list[WithdrawState] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    tasks: list[tuple[str, str]] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)
    compensated: list[MarkCompensatedInput] = field(default_factory=list)

    def all(self) -> list[object]:
        return [
            self.validate_user,
            self.check_restrictions,
            self.initiate_transfer,
            self.finalize_transfer,
            self.verify_transfer_status,
            self.get_dw_token,
            self.create_dw_redemption,
            self.verify_dw_redemption,
            self.save_to_db,
            self.rollback_transfer,
            self.open_operator_task,
            self.notify_customer,
            self.mark_compensated,
        ]

    @activity.defn(name=A.VALIDATE_USER)
    async def validate_user(self, request: ValidateUserInput) -> UserContext:
        self.calls.append(A.VALIDATE_USER)
        await asyncio.sleep(self.user_delay)
        _maybe_fail(self.user_error)
        return UserContext(
            user_id=request.user_id,
            dw_account_id="acc-1001",
        )

    @activity.defn(name=A.CHECK_RESTRICTIONS)
    async def check_restrictions(self, request: CheckRestrictionsInput) -> None:
        self.calls.append(A.CHECK_RESTRICTIONS)
        _maybe_fail(self.restriction_errors.pop(0) if self.restriction_errors else None)
        _maybe_fail(self.restriction_error)

    @activity.defn(name=A.INITIATE_TRANSFER)
    async def initiate_transfer(self, request: InitiateTransferInput) -> AuthorisationResult:
        self.calls.append(A.INITIATE_TRANSFER)
        self.keys.append(request.idempotency_key)
        _maybe_fail(self.initiate_error)
        return AuthorisationResult(
            authorisation_id="auth-1",
            reference_number="TRF0000000001",
            expiry_time=datetime.now(UTC) + timedelta(minutes=5),
        )

    @activity.defn(name=A.FINALIZE_TRANSFER)
    async def finalize_transfer(self, request: FinalizeTransferInput) -> FinalizeTransferResult:
        self.calls.append(A.FINALIZE_TRANSFER)
        self.keys.append(request.idempotency_key)
        outcome = self.finalize_outcomes.pop(0) if self.finalize_outcomes else None
        if outcome is None:
            outcome = (
                FinalizeOutcome.SUCCESS
                if request.otp_code == GOOD_OTP
                else FinalizeOutcome.OTP_INVALID
            )
        if outcome == FailureType.TRANSFER_OUTCOME_UNKNOWN:
            raise failure(FailureType.TRANSFER_OUTCOME_UNKNOWN, "timed out")
        return FinalizeTransferResult(
            outcome=FinalizeOutcome(outcome),
            reference_number="TRF0000000001",
            attempts_remaining=None,
        )

    @activity.defn(name=A.VERIFY_TRANSFER_STATUS)
    async def verify_transfer_status(
        self, request: VerifyTransferStatusInput
    ) -> VerifyTransferStatusResult:
        self.calls.append(A.VERIFY_TRANSFER_STATUS)
        _maybe_fail(self.verify_error)
        status = self.verify_statuses.pop(0) if self.verify_statuses else CheckerStatus.PENDING
        return VerifyTransferStatusResult(status=status)

    @activity.defn(name=A.GET_DW_TOKEN)
    async def get_dw_token(self) -> DwTokenResult:
        self.calls.append(A.GET_DW_TOKEN)
        if self.token_errors:
            _maybe_fail(self.token_errors.pop(0))
        else:
            _maybe_fail(self.token_error)
        return DwTokenResult(expires_at=datetime.now(UTC) + timedelta(hours=1))

    @activity.defn(name=A.CREATE_DW_REDEMPTION)
    async def create_dw_redemption(self, request: CreateDwRedemptionInput) -> DwRedemptionResult:
        self.calls.append(A.CREATE_DW_REDEMPTION)
        self.keys.append(request.idempotency_key)
        _maybe_fail(self.redemption_error, {"attempt": self.redemption_attempt})
        return DwRedemptionResult(
            redemption_id="DWAA001001-R1",
            status_id=self.redemption_status,
            status_message=self.redemption_status.name,
        )

    @activity.defn(name=A.VERIFY_DW_REDEMPTION)
    async def verify_dw_redemption(self, request: VerifyDwRedemptionInput) -> DwRedemptionResult:
        self.calls.append(A.VERIFY_DW_REDEMPTION)
        status = self.settlement.pop(0) if self.settlement else DwRedemptionStatus.PENDING
        if status not in SETTLED:
            raise failure(FailureType.DW_REDEMPTION_PENDING, f"still {status.name}")
        return DwRedemptionResult(
            redemption_id=request.redemption_id, status_id=status, status_message=status.name
        )

    @activity.defn(name=A.SAVE_TO_DB)
    async def save_to_db(self, request: SaveToDbInput) -> None:
        self.saved.append(request.state)

    @activity.defn(name=A.ROLLBACK_TRANSFER)
    async def rollback_transfer(self, request: RollbackTransferInput) -> RollbackTransferResult:
        self.calls.append(A.ROLLBACK_TRANSFER)
        self.keys.append(request.idempotency_key)
        _maybe_fail(self.rollback_error)
        return RollbackTransferResult(attempts=1)

    @activity.defn(name=A.OPEN_OPERATOR_TASK)
    async def open_operator_task(self, request: OpenOperatorTaskInput) -> OperatorTaskResult:
        self.calls.append(A.OPEN_OPERATOR_TASK)
        self.tasks.append((request.kind, request.reason))
        return OperatorTaskResult(task_id=f"task-{len(self.tasks)}")

    @activity.defn(name=A.NOTIFY_CUSTOMER)
    async def notify_customer(self, request: NotifyCustomerInput) -> None:
        self.calls.append(A.NOTIFY_CUSTOMER)
        self.notifications.append(request.kind)

    @activity.defn(name=A.MARK_COMPENSATED)
    async def mark_compensated(self, request: MarkCompensatedInput) -> None:
        self.calls.append(A.MARK_COMPENSATED)
        self.compensated.append(request)


SETTLED = frozenset(
    {DwRedemptionStatus.SUCCESSFUL, DwRedemptionStatus.FAILED, DwRedemptionStatus.REJECTED}
)


def _maybe_fail(error_type: str | None, *details: object) -> None:
    if error_type:
        raise ApplicationError(
            f"scripted {error_type}", *details, type=error_type, non_retryable=True
        )
