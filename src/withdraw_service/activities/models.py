"""One input and one output model per activity. They are recorded in Temporal history, so they
never carry a DriveWealth token or a secret (the token stays in the worker's cache).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

from withdraw_service.domain.outcomes import (
    FinalizeOutcome,
    NotificationKind,
    TaskKind,
)
from withdraw_service.domain.withdrawal import WithdrawState


class ValidateUserInput(BaseModel):
    user_id: str


class UserContext(BaseModel):
    """Who is withdrawing. No account number or name: those stay out of history."""

    user_id: str
    dw_account_id: str


class CheckRestrictionsInput(BaseModel):
    workflow_id: str
    user_id: str
    dw_account_id: str
    amount: Decimal


class InitiateTransferInput(BaseModel):
    user_id: str
    amount: Decimal
    correlation_id: str
    product_number: str
    frontend_sima_ready: bool
    idempotency_key: str


class AuthorisationResult(BaseModel):
    authorisation_id: str
    reference_number: str
    expiry_time: datetime


class FinalizeTransferInput(BaseModel):
    authorisation_id: str
    otp_code: str
    sima_stan: str | None
    idempotency_key: str


class FinalizeTransferResult(BaseModel):
    outcome: FinalizeOutcome
    reference_number: str | None = None
    attempts_remaining: int | None = None
    reason: str | None = None


class VerifyTransferStatusInput(BaseModel):
    reference_number: str


class VerifyTransferStatusResult(BaseModel):
    # A plain string in history (results recorded before the enum hold whatever the checker
    # said); the activity answers a CheckerStatus value, the workflow compares with the enum.
    status: str


class DwTokenResult(BaseModel):
    """The token itself stays in the worker's cache; history only learns when it expires."""

    expires_at: datetime


class CreateDwRedemptionInput(BaseModel):
    """The activity looks the account number up itself, so history never holds it."""

    user_id: str
    dw_account_id: str
    amount: Decimal
    correlation_id: str
    idempotency_key: str


class DwRedemptionResult(BaseModel):
    redemption_id: str
    status_id: int
    status_message: str


class VerifyDwRedemptionInput(BaseModel):
    redemption_id: str


class SaveToDbInput(BaseModel):
    state: WithdrawState
    dw_account_id: str | None = None
    # The workflow's history length when it decided this state. A workflow task that is lost
    # after its local save committed is run again with a longer history, and may decide
    # otherwise at the same step: the repository keeps the latest decision, and refuses an
    # older one arriving late. 0: from a workflow before versions (history length decides).
    version: int = 0


class RollbackTransferInput(BaseModel):
    reference_number: str
    correlation_id: str
    reason: str
    idempotency_key: str


class RollbackTransferResult(BaseModel):
    attempts: int


class OpenOperatorTaskInput(BaseModel):
    workflow_id: str
    correlation_id: str
    kind: TaskKind
    amount: Decimal
    reason: str


class OperatorTaskResult(BaseModel):
    task_id: str


class NotifyCustomerInput(BaseModel):
    workflow_id: str
    user_id: str
    kind: NotificationKind
    message: str


class MarkCompensatedInput(BaseModel):
    workflow_id: str
    task_id: str
    attempts: int
    operator: str | None = None  # who asked for the retry (the task is resolved in their name)
