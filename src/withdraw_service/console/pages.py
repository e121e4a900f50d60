"""The console's pages (GET): sign-in, open tasks, a withdrawal, search, in flight now.
Nothing here changes anything; the actions are in `console/actions.py`."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, ParamSpec, TypeVar

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError

from withdraw_service.api.deps import desk_of, operations_of, repository_of
from withdraw_service.console import guide
from withdraw_service.console.ledgers import Ledgers
from withdraw_service.console.render import current, page
from withdraw_service.domain import errors
from withdraw_service.domain.outcomes import HTTP_STATUS, TaskKind, TaskState
from withdraw_service.domain.statuses import IN_FLIGHT, WithdrawStatus
from withdraw_service.domain.withdrawal import WithdrawState

ROOT = "/ops/console"
SIGN_IN = f"{ROOT}/sign-in"
SEARCH_LIMIT = 50
router = APIRouter(prefix=ROOT, include_in_schema=False)
P = ParamSpec("P")
E = TypeVar("E", bound=StrEnum)
# Any text: an id that is no task's or withdrawal's is answered with a "not found" page.
TaskId = Annotated[str, Path()]
WorkflowId = Annotated[str, Path()]


def console_page(
    handler: Callable[P, Awaitable[Response]],
) -> Callable[P, Awaitable[Response]]:
    """A page that answers a failure as a page: no session sends the browser to the sign-in,
    a refusal or an outage is said in words (never a stack trace)."""

    @functools.wraps(handler)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> Response:
        request = kwargs["request"]
        assert isinstance(request, Request)
        try:
            return await handler(*args, **kwargs)
        except errors.Unauthenticated:
            return RedirectResponse(SIGN_IN, status_code=303)
        except errors.WithdrawError as exc:
            status = HTTP_STATUS[exc.code]
            return failure(request, status, exc.message)
        except (RPCError, SQLAlchemyError, OSError):
            return failure(request, 503, "Temporal or the database is not reachable; try again")

    return wrapped


def failure(request: Request, status: int, message: str) -> Response:
    try:
        session = current(request)
    except errors.Unauthenticated:
        session = None
    return page(request, "failure.html", session, status, status=status, message=message)


def choice(enum: type[E], raw: str) -> E | None:
    """A filter's value: empty is "any"; anything but a member is refused (422)."""
    if not raw:
        return None
    try:
        return enum(raw)
    except ValueError:
        raise errors.RequestValidationError(
            f"unknown {enum.__name__}: choose from the list"
        ) from None


@router.get("")
async def home() -> Response:
    return RedirectResponse(f"{ROOT}/tasks", status_code=303)


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    return page(request, "sign_in.html", None)


@router.get("/tasks")
@console_page
async def tasks_page(
    request: Request,
    kind: Annotated[str, Query(max_length=40)] = "",
    state: Annotated[str, Query(max_length=40)] = TaskState.OPEN.value,
) -> Response:
    """Oldest first; an empty filter (the form's "any") means any."""
    session = current(request)
    wanted_kind, wanted_state = choice(TaskKind, kind), choice(TaskState, state)
    operations = operations_of(request)
    found, open_by_kind = await asyncio.gather(
        asyncio.to_thread(operations.tasks, wanted_state, wanted_kind),
        asyncio.to_thread(operations.open_by_kind),
    )
    return page(
        request,
        "tasks.html",
        session,
        tasks=found,
        # Every kind, zero or not: the same numbers as withdraw_operator_tasks_open and
        # withdraw_operator_task_oldest_open_seconds, which the alerts watch.
        summary=[(k, *open_by_kind.get(k, (0, None))) for k in TaskKind],
        kinds=list(TaskKind),
        states=list(TaskState),
        kind=wanted_kind,
        state=wanted_state,
        now=datetime.now(UTC),
    )


@router.get("/withdrawals/{workflow_id}")
@console_page
async def withdrawal_page(request: Request, workflow_id: WorkflowId) -> Response:
    session = current(request)
    state = await asyncio.to_thread(repository_of(request).get, workflow_id)
    if state is None:
        raise errors.WithdrawalNotFound("no withdrawal has this workflow id")
    ledgers: Ledgers = request.app.state.ledgers
    tasks, lines = await asyncio.gather(
        asyncio.to_thread(operations_of(request).tasks_of, workflow_id), ledgers.look(state)
    )
    return page(
        request,
        "withdrawal.html",
        session,
        withdrawal=state,
        tasks=tasks,
        ledger=lines,
        meaning=guide.MEANING,
    )


@router.get("/search")
@console_page
async def search_page(
    request: Request,
    q: Annotated[str, Query(max_length=128)] = "",
    status: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """By workflow id, correlation id or user id (whichever matches), and/or by status."""
    session = current(request)
    repository = repository_of(request)
    text = q.strip()
    chosen = choice(WithdrawStatus, status)
    wanted = chosen.value if chosen else None
    found: dict[str, WithdrawState] = {}

    def lookup() -> None:
        if not text:
            found.update(
                (s.workflow_id, s) for s in repository.search(status=wanted, limit=SEARCH_LIMIT)
            )
            return
        for states in (
            repository.search(user_id=text, status=wanted, limit=SEARCH_LIMIT),
            repository.search(correlation_id=text, status=wanted, limit=SEARCH_LIMIT),
        ):
            found.update((s.workflow_id, s) for s in states)
        state = repository.get(text)
        if state is not None and wanted in (None, state.status.value):
            found[state.workflow_id] = state

    if text or wanted:
        await asyncio.to_thread(lookup)
    results = sorted(found.values(), key=lambda s: s.created_at, reverse=True)
    return page(
        request,
        "search.html",
        session,
        q=text,
        status=chosen,
        statuses=list(WithdrawStatus),
        results=results[:SEARCH_LIMIT],
        searched=bool(text or wanted),
        limit=SEARCH_LIMIT,
    )


@router.get("/in-flight")
@console_page
async def in_flight_page(request: Request) -> Response:
    session = current(request)
    by_status = await asyncio.to_thread(repository_of(request).in_flight_by_status)
    rows = [
        (status, *by_status[status.value])
        for status in WithdrawStatus
        if status in IN_FLIGHT and status.value in by_status
    ]
    return page(
        request,
        "in_flight.html",
        session,
        rows=rows,
        idle=[s for s in WithdrawStatus if s in IN_FLIGHT and s.value not in by_status],
        now=datetime.now(UTC),
    )


@router.get("/tasks/{task_id}/retry")
@console_page
async def retry_confirmation(request: Request, task_id: TaskId) -> Response:
    session = current(request)
    task = await desk_of(request).task(task_id)
    state = await asyncio.to_thread(repository_of(request).get, task.workflow_id)
    reference = state.transfer_reference_number if state else None
    return page(
        request,
        "confirm_retry.html",
        session,
        task=task,
        effect=guide.retry_effect(task, reference),
        retryable=task.state == TaskState.OPEN and task.kind == TaskKind.COMPENSATION_FAILED,
    )


@router.get("/tasks/{task_id}/resolve")
@console_page
async def resolve_confirmation(request: Request, task_id: TaskId) -> Response:
    session = current(request)
    task = await desk_of(request).task(task_id)
    return page(
        request,
        "confirm_resolve.html",
        session,
        task=task,
        effect=guide.RESOLVE_EFFECT,
        meaning=guide.MEANING[task.kind],
        note="",
        error=None,
    )
