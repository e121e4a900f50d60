"""The withdrawal as clients and operators see it (docs/api.md, "state"), and the
requests that move it. Shared by the API, the workflow and the persistence layer.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from withdraw_service.domain.money import CURRENCY
from withdraw_service.domain.outcomes import CompensationStatus, FailureCode
from withdraw_service.domain.statuses import WithdrawStatus

# camelCase on the wire (docs/api.md), snake_case in code; either is accepted in.
_CAMEL = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class HistoryEntry(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    status: WithdrawStatus
    at: datetime


class CompensationInfo(BaseModel):
    model_config = _CAMEL

    status: CompensationStatus
    attempts: int = 0
    task_id: str | None = None


class WithdrawState(BaseModel):
    """Everything known about one withdrawal; the workflow owns it while running."""

    model_config = _CAMEL

    workflow_id: str
    correlation_id: str
    user_id: str
    status: WithdrawStatus
    amount: Decimal
    currency: str = CURRENCY
    product_number: str
    authorisation_id: str | None = None
    otp_expires_at: datetime | None = None
    transfer_reference_number: str | None = None
    dw_redemption_id: str | None = None
    failure_code: FailureCode | None = None
    failure_reason: str | None = None
    compensation: CompensationInfo | None = None
    history: list[HistoryEntry] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal
