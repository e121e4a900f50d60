"""Customer endpoints (docs/api.md). Thin: parse, authorize, call the gateway, shape."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from withdraw_service.api.body import body_schema, parse_body
from withdraw_service.api.deps import (
    CurrentUser,
    Gateway,
    Limiter,
    Repository,
    WorkflowId,
    settings_of,
)
from withdraw_service.api.gateway import Answer
from withdraw_service.api.pagination import decode_cursor, page
from withdraw_service.api.schemas import (
    Envelope,
    FinalizeRequest,
    InitiateRequest,
    WithdrawalPage,
    envelope,
    problems,
)
from withdraw_service.domain import errors
from withdraw_service.domain.money import AmountError, parse_amount
from withdraw_service.domain.outcomes import (
    FAILED_AFTER_OTP,
    REFUSED_AT_INITIATION,
    initiation_problem,
)
from withdraw_service.domain.reasons import customer_reason, for_customer
from withdraw_service.domain.statuses import UNRESOLVED, WithdrawStatus
from withdraw_service.domain.withdrawal import WithdrawState

router = APIRouter(tags=["withdrawals"])

StateResponses: dict[int | str, dict[str, Any]] = {
    200: {"model": Envelope[WithdrawState], "description": "settled within the wait"},
    202: {"model": Envelope[WithdrawState], "description": "still working: poll the status"},
}


def _key_header(description: str) -> Any:
    return Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x20-\x7e]+$",
        description=description,
    )


IdempotencyKey = Annotated[
    str | None, _key_header("the same key from the same user returns the same withdrawal")
]
FinalizeKey = Annotated[
    str | None,
    _key_header(
        "a repeat with the same key (after a timeout or a 503) gets the first answer, "
        "and the OTP is not submitted again"
    ),
]


def state_json(state: WithdrawState) -> dict[str, Any]:
    """The whole state, the recorded failure reason included: for operators."""
    return state.model_dump(mode="json", by_alias=True)


def customer_json(state: WithdrawState) -> dict[str, Any]:
    """The state as its owner sees it: a fixed reason per failure code (domain/reasons.py),
    never what an upstream service said."""
    return state_json(for_customer(state))


def _answer(answer: Answer) -> JSONResponse:
    status = 200 if answer.settled else 202
    return JSONResponse(envelope(customer_json(answer.state)), status_code=status)


@router.post(
    "/withdraw/initiate",
    openapi_extra=body_schema(InitiateRequest),
    responses={**StateResponses, **problems(401, 403, 409, 422, 429, 503)},
)
async def initiate_withdraw(
    request: Request,
    user: CurrentUser,
    gateway: Gateway,
    limits: Limiter,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Start a withdrawal; answers once the transfer is initiated and the OTP sent."""
    body = await parse_body(request, InitiateRequest)
    try:
        amount = parse_amount(body.amount, settings_of(request).max_amount)
    except AmountError as exc:
        raise errors.RequestValidationError(str(exc)) from None
    await asyncio.to_thread(limits.initiation, user.user_id)
    answer = await gateway.initiate(
        user.user_id, amount, body.product_number, body.frontend_sima_ready, idempotency_key
    )
    _raise_if_refused(answer.state)
    return _answer(answer)


@router.put(
    "/withdraw/finalize/{workflowId}",
    openapi_extra=body_schema(FinalizeRequest),
    responses={**StateResponses, **problems(401, 403, 404, 409, 410, 422, 429)},
)
async def finalize_withdraw(
    request: Request,
    workflow_id: WorkflowId,
    user: CurrentUser,
    gateway: Gateway,
    limits: Limiter,
    idempotency_key: FinalizeKey = None,
) -> JSONResponse:
    """Deliver the OTP; answers the receipt once the withdrawal has completed."""
    body = await parse_body(request, FinalizeRequest)
    await asyncio.to_thread(limits.before_otp, user.user_id)
    try:
        answer = await gateway.finalize(
            workflow_id, user.user_id, body.otp_code, body.sima_stan, idempotency_key
        )
    except (errors.OtpInvalid, errors.OtpAttemptsUsedUp) as refused:
        if not refused.replayed:  # a repeat with the same Idempotency-Key sent no code
            await asyncio.to_thread(limits.wrong_otp, user.user_id)
        raise
    state = answer.state
    if state.status in FAILED_AFTER_OTP:
        raise errors.WithdrawalFailed(
            "the OTP was accepted but the withdrawal ended without money moving",
            withdrawal=customer_json(state),
            failureCode=state.failure_code,
        )
    if state.status in UNRESOLVED:  # ended, but an operator decides where the money goes
        return JSONResponse(envelope(customer_json(state)), status_code=202)
    return _answer(answer)


@router.post(
    "/withdraw/{workflowId}/cancel",
    responses={**StateResponses, **problems(401, 403, 404, 409, 422, 429)},
)
async def cancel_withdraw(
    workflow_id: WorkflowId, user: CurrentUser, gateway: Gateway
) -> JSONResponse:
    """Cancel a withdrawal that awaits its OTP; nothing has been debited."""
    return _answer(await gateway.cancel(workflow_id, user.user_id))


@router.get(
    "/withdraw/status/{workflowId}",
    response_model=Envelope[WithdrawState],
    responses=problems(401, 403, 404, 422, 429),
)
async def withdraw_status(
    workflow_id: WorkflowId, user: CurrentUser, gateway: Gateway
) -> dict[str, Any]:
    """The withdrawal's state, running or finished."""
    return envelope(customer_json(await gateway.status(workflow_id, user.user_id)))


@router.get(
    "/withdraw", response_model=Envelope[WithdrawalPage], responses=problems(401, 403, 422, 429)
)
async def list_withdrawals(
    user: CurrentUser,
    repository: Repository,
    status: WithdrawStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """The caller's withdrawals, newest first."""
    found = await asyncio.to_thread(
        repository.search,
        user_id=user.user_id,
        status=status.value if status else None,
        limit=limit + 1,
        after=decode_cursor(cursor),
    )
    items, next_cursor = page(found, limit)
    return envelope({"items": [customer_json(s) for s in items], "nextCursor": next_cursor})


def _raise_if_refused(state: WithdrawState) -> None:
    """An initiation refused before the OTP was sent answers the contract's error code; any
    other state (e.g. a repeated Idempotency-Key's withdrawal that has since ended) is data."""
    if state.status in REFUSED_AT_INITIATION:
        error = errors.BY_CODE[initiation_problem(state.failure_code)]
        raise error(
            customer_reason(state.failure_code) or state.status.value,
            workflowId=state.workflow_id,
            correlationId=state.correlation_id,
            withdrawStatus=state.status.value,
        )
