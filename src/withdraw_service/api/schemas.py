"""Request bodies and the documented response shapes. Amounts arrive as strings or JSON numbers
and are parsed to Decimal from the raw text (`api/body.py`), never through a float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from pydantic.alias_generators import to_camel

from withdraw_service.domain.outcomes import (
    CLIENT_CODES,
    HTTP_STATUS,
    ProblemCode,
    TaskKind,
    TaskState,
)
from withdraw_service.domain.withdrawal import WithdrawState

T = TypeVar("T")


class InitiateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    amount: Decimal | str | StrictInt = Field(
        description='USD, positive, at most 2 decimals, e.g. "150.00"'
    )
    product_number: str = Field(
        alias="productNumber", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$"
    )
    frontend_sima_ready: bool = Field(default=False, alias="frontendSimaReady")


class FinalizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    otp_code: str = Field(alias="otpCode", pattern=r"^[0-9]{6}$")
    sima_stan: str | None = Field(default=None, alias="simaStan", max_length=64)


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Text a person reads: no control characters but line breaks and tabs (a NUL, say,
    # which PostgreSQL cannot store).
    note: str = Field(
        min_length=1, max_length=2000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
    )


class Envelope(BaseModel, Generic[T]):
    """The seed's ResponseDTO: success bodies are `{"data": ...}`."""

    data: T


class WithdrawalPage(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    items: list[WithdrawState]
    next_cursor: str | None


class OperatorTaskOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    workflow_id: str
    correlation_id: str
    kind: TaskKind
    amount: Decimal
    reason: str
    state: TaskState
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None


class Problem(BaseModel):
    """RFC 9457 problem details; `code` is one of the codes in docs/api.md."""

    type: str
    title: str
    status: int
    detail: str
    code: ProblemCode
    attemptsRemaining: int | None = None
    errors: list[dict[str, str]] | None = None


def envelope(data: Any) -> dict[str, Any]:
    return {"data": data}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problem details a route can answer."""
    return {
        status: {
            "model": Problem,
            "description": "code: "
            + " | ".join(
                code
                for code, http in HTTP_STATUS.items()
                if http == status and code in CLIENT_CODES
            ),
            "content": {"application/problem+json": {}},
        }
        for status in statuses
    }
