"""Operator endpoints (role `ops`): compensation and manual-review tasks, and a search across
customers' withdrawals."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from withdraw_service.api.body import body_schema, parse_body
from withdraw_service.api.deps import Desk, Operator, Repository
from withdraw_service.api.pagination import decode_cursor, encode_position, page
from withdraw_service.api.routes import state_json
from withdraw_service.api.schemas import (
    Envelope,
    OperatorTaskOut,
    ResolveRequest,
    WithdrawalPage,
    envelope,
    problems,
)
from withdraw_service.domain.outcomes import TaskState
from withdraw_service.domain.statuses import WithdrawStatus
from withdraw_service.persistence.operations import OperatorTask

router = APIRouter(prefix="/ops", tags=["operators"])
TaskResponses: dict[int | str, dict[str, Any]] = {
    200: {"model": Envelope[OperatorTaskOut], "description": "the task as it stands"},
    202: {"model": Envelope[OperatorTaskOut], "description": "the retry is still running"},
}


def task_json(task: OperatorTask) -> dict[str, Any]:
    return OperatorTaskOut(**asdict(task)).model_dump(mode="json", by_alias=True)


@router.get(
    "/compensation-tasks",
    response_model=Envelope[list[OperatorTaskOut]],
    responses=problems(401, 403, 422, 429),
)
async def list_tasks(
    request: Request,
    _: Operator,
    desk: Desk,
    state: TaskState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONResponse:
    """Money a person must settle: failed or unknown compensations (COMPENSATION_FAILED),
    unknown transfers (TRANSFER_UNRESOLVED), redemptions DriveWealth did not settle in time
    (DW_SETTLEMENT_OVERDUE) and what reconciliation found (RECONCILIATION_MISMATCH). Oldest
    first, `limit` at a time; a `Link: <...>; rel="next"` header points at the next page."""
    found = await desk.tasks(state, limit=limit + 1, after=decode_cursor(cursor))
    items = found[:limit]
    headers = {}
    if len(found) > limit:
        last = items[-1]
        following = request.url.include_query_params(
            cursor=encode_position(last.created_at, last.id)
        )
        headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return JSONResponse(envelope([task_json(t) for t in items]), headers=headers)


@router.post(
    "/compensation-tasks/{task_id}/retry",
    responses={**TaskResponses, **problems(401, 403, 404, 409, 422, 429)},
)
async def retry_task(task_id: str, operator: Operator, desk: Desk) -> JSONResponse:
    """Run the reversal again (idempotently); a success ends the withdrawal COMPENSATED and
    resolves the task in the caller's name."""
    answer = await desk.retry(task_id, operator.user_id)
    return JSONResponse(
        envelope(task_json(answer.task)), status_code=200 if answer.settled else 202
    )


@router.post(
    "/compensation-tasks/{task_id}/resolve",
    openapi_extra=body_schema(ResolveRequest),
    response_model=Envelope[OperatorTaskOut],
    responses=problems(401, 403, 404, 409, 422, 429),
)
async def resolve_task(
    task_id: str, request: Request, operator: Operator, desk: Desk
) -> dict[str, Any]:
    """Mark the task handled by hand, with a note saying what was done."""
    body = await parse_body(request, ResolveRequest)
    return envelope(task_json(await desk.resolve(task_id, operator.user_id, body.note)))


@router.get(
    "/withdrawals", response_model=Envelope[WithdrawalPage], responses=problems(401, 403, 422, 429)
)
async def search_withdrawals(
    _: Operator,
    repository: Repository,
    status: WithdrawStatus | None = None,
    user_id: Annotated[str | None, Query(alias="userId", max_length=128)] = None,
    correlation_id: Annotated[str | None, Query(alias="correlationId", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Withdrawals of every customer, newest first."""
    found = await asyncio.to_thread(
        repository.search,
        user_id=user_id,
        status=status.value if status else None,
        correlation_id=correlation_id,
        limit=limit + 1,
        after=decode_cursor(cursor),
    )
    items, next_cursor = page(found, limit)
    return envelope({"items": [state_json(s) for s in items], "nextCursor": next_cursor})
