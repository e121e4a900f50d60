"""The withdraw workflow's input, its updates' arguments and answers."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field
from temporalio.common import SearchAttributeKey

from withdraw_service.domain.outcomes import OtpVerdict
from withdraw_service.domain.policies import DwSettlement, RetryPolicies
from withdraw_service.domain.withdrawal import WithdrawState

WORKFLOW_NAME = "WithdrawWorkflow"
WORKFLOW_ID_PREFIX = "WITHDRAW-"

CORRELATION_ID = SearchAttributeKey.for_keyword("CorrelationId")
USER_ID = SearchAttributeKey.for_keyword("UserId")
WITHDRAW_STATUS = SearchAttributeKey.for_keyword("WithdrawStatus")
SEARCH_ATTRIBUTES = (CORRELATION_ID, USER_ID, WITHDRAW_STATUS)


class WithdrawInput(BaseModel):
    correlation_id: str
    user_id: str
    amount: Decimal
    product_number: str
    frontend_sima_ready: bool = False
    otp_timeout_seconds: int = Field(default=300, gt=0)
    otp_max_attempts: int = Field(default=3, gt=0)
    policies: RetryPolicies
    dw_settlement: DwSettlement = Field(default_factory=DwSettlement)


class OtpSubmission(BaseModel):
    otp_code: str
    sima_stan: str | None = None
    # An accepted code's answer waits for the receipt (what `awaitReceipt` waits for), so that
    # the API needs one update, not two. A worker from before this field ignores it and
    # answers at once (`receipt` False): the API then asks `awaitReceipt` as before.
    until_receipt: bool = False


class OtpResult(BaseModel):
    verdict: OtpVerdict
    attempts_remaining: int
    state: WithdrawState
    receipt: bool = False  # `state` is the receipt (or how the withdrawal ended)
