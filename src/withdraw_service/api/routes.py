"""Withdrawal endpoints (CONTRACT section 4). Thin: parse, authorize, call the gateway, shape."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from withdraw_service.api.auth import Principal, authenticate
from withdraw_service.api.body import body_schema, parse_body
from withdraw_service.api.gateway import Answer, WithdrawGateway
from withdraw_service.api.schemas import FinalizeRequest, InitiateRequest, envelope
from withdraw_service.domain import errors
from withdraw_service.domain.money import AmountError, parse_amount
from withdraw_service.domain.statuses import WithdrawStatus
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.settings import Settings

router = APIRouter()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _gateway(request: Request) -> WithdrawGateway:
    gateway: WithdrawGateway = request.app.state.gateway
    return gateway


def _principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    return authenticate(authorization, _settings(request).jwt_secret.get_secret_value())


CurrentUser = Annotated[Principal, Depends(_principal)]
Gateway = Annotated[WithdrawGateway, Depends(_gateway)]
WorkflowId = Annotated[str, Path(alias="workflowId", max_length=64)]


def state_json(state: WithdrawState) -> dict[str, Any]:
    return state.model_dump(mode="json", by_alias=True)


def _answer(answer: Answer) -> JSONResponse:
    return JSONResponse(
        envelope(state_json(answer.state)), status_code=200 if answer.settled else 202
    )


@router.post("/withdraw/initiate", openapi_extra=body_schema(InitiateRequest))
async def initiate_withdraw(request: Request, user: CurrentUser, gateway: Gateway) -> JSONResponse:
    body = await parse_body(request, InitiateRequest)
    try:
        amount = parse_amount(body.amount, _settings(request).max_amount)
    except AmountError as exc:
        raise errors.RequestValidationError(str(exc)) from None
    answer = await gateway.initiate(
        user.user_id, amount, body.product_number, body.frontend_sima_ready
    )
    _raise_if_refused(answer.state)
    return _answer(answer)


@router.put("/withdraw/finalize/{workflowId}", openapi_extra=body_schema(FinalizeRequest))
async def finalize_withdraw(
    request: Request, workflow_id: WorkflowId, user: CurrentUser, gateway: Gateway
) -> JSONResponse:
    body = await parse_body(request, FinalizeRequest)
    answer = await gateway.finalize(workflow_id, user.user_id, body.otp_code, body.sima_stan)
    return _answer(answer)


@router.post("/withdraw/{workflowId}/cancel")
async def cancel_withdraw(
    workflow_id: WorkflowId, user: CurrentUser, gateway: Gateway
) -> dict[str, Any]:
    return envelope(state_json(await gateway.cancel(workflow_id, user.user_id)))


@router.get("/withdraw/status/{workflowId}")
async def withdraw_status(
    workflow_id: WorkflowId, user: CurrentUser, gateway: Gateway
) -> dict[str, Any]:
    return envelope(state_json(await gateway.status(workflow_id, user.user_id)))


@router.get("/withdraw")
async def list_withdrawals(
    request: Request,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    repository = request.app.state.repository
    states = await asyncio.to_thread(repository.list_for_user, user.user_id, limit)
    return envelope({"items": [state_json(s) for s in states], "nextCursor": None})


_REFUSALS: dict[str, type[errors.WithdrawError]] = {
    "USER_INVALID": errors.UserInvalid,
    "ACCOUNT_BLOCKED": errors.UserInvalid,
    "WITHDRAW_RESTRICTED": errors.WithdrawRestricted,
    "INSUFFICIENT_FUNDS": errors.InsufficientFunds,
    "UPSTREAM_UNAVAILABLE": errors.UpstreamUnavailable,
}


def _raise_if_refused(state: WithdrawState) -> None:
    """An initiation that ended before the OTP was sent answers the contract's error code."""
    if state.status.is_terminal and state.status != WithdrawStatus.COMPLETED:
        error = _REFUSALS.get(state.failure_code or "", errors.UpstreamUnavailable)
        raise error(
            state.failure_reason or state.status.value,
            workflowId=state.workflow_id,
            correlationId=state.correlation_id,
            withdrawStatus=state.status.value,
        )
