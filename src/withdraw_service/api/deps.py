"""FastAPI dependencies: the settings, the gateway and the caller, from the app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request

from withdraw_service.api.auth import Principal, TokenRules, authenticate
from withdraw_service.api.gateway import WithdrawGateway
from withdraw_service.api.limits import AbuseLimits
from withdraw_service.api.operators import OperatorDesk
from withdraw_service.persistence.operations import OperationsRepository
from withdraw_service.persistence.repository import WithdrawalRepository
from withdraw_service.settings import Settings


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _gateway(request: Request) -> WithdrawGateway:
    gateway: WithdrawGateway = request.app.state.gateway
    return gateway


def desk_of(request: Request) -> OperatorDesk:
    desk: OperatorDesk = request.app.state.desk
    return desk


def limits_of(request: Request) -> AbuseLimits:
    limits: AbuseLimits = request.app.state.limits
    return limits


def repository_of(request: Request) -> WithdrawalRepository:
    repository: WithdrawalRepository = request.app.state.repository
    return repository


def operations_of(request: Request) -> OperationsRepository:
    operations: OperationsRepository = request.app.state.operations
    return operations


def _principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    rules: TokenRules = request.app.state.token_rules
    principal = authenticate(authorization, rules)
    # A sync dependency runs in FastAPI's thread pool: the count's database write may block.
    limits_of(request).request(principal.user_id)
    return principal


def _customer(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    principal.require("customer")
    return principal


def _operator(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    principal.require("ops")
    return principal


CurrentUser = Annotated[Principal, Depends(_customer)]
Operator = Annotated[Principal, Depends(_operator)]
Gateway = Annotated[WithdrawGateway, Depends(_gateway)]
Desk = Annotated[OperatorDesk, Depends(desk_of)]
Repository = Annotated[WithdrawalRepository, Depends(repository_of)]
Limiter = Annotated[AbuseLimits, Depends(limits_of)]
WorkflowId = Annotated[str, Path(alias="workflowId", max_length=64)]
