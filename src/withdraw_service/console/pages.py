"""The console's pages (GET): sign-in, open tasks, a withdrawal, search, in flight now.
Nothing here changes anything; the actions are in `console/actions.py`."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from http import HTTPStatus
from typing import Annotated, ParamSpec, TypeVar

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from temporalio.service import RPCError

from withdraw_service.api.deps import desk_of, operations_of, repository_of
from withdraw_service.api.problems import TEMPORAL_OUTAGE
from withdraw_service.console import guide
from withdraw_service.console.ledgers import Ledgers
from withdraw_service.console.render import current, page
from withdraw_service.console.session import ConsoleSession
from withdraw_service.domain import errors
from withdraw_service.domain.outcomes import HTTP_STATUS, TaskKind, TaskState
from withdraw_service.domain.statuses import IN_FLIGHT, WithdrawStatus
from withdraw_service.domain.withdrawal import WithdrawState
from withdraw_service.persistence.operations import OperatorTask

ROOT = "/ops/console"
SIGN_IN = f"{ROOT}/sign-in"
SEARCH_LIMIT = 50
TASKS_LIMIT = 200
log = logging.getLogger(__name__)
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
        except RPCError as exc:
            if exc.status in TEMPORAL_OUTAGE:
                return failure(request, 503, "Temporal did not answer; try again")
            log.exception("Temporal refused a console call")
            return failure(request, 500, "Temporal refused the request; it was logged")
        except (DBAPIError, PoolTimeoutError):
            return failure(request, 503, "the database did not answer; try again")
        except Exception:  # still a page, never a stack trace; the log has it
            log.exception("console page failed")
            return failure(request, 500, "something went wrong on our side; it was logged")

    return wrapped


def failure(request: Request, status: int, message: str) -> Response:
    try:
        session = current(request)
    except errors.Unauthenticated:
        session = None
    title = HTTPStatus(status).phrase
    return page(request, "failure.html", session, status, title=title, message=message)


def bounded(raw: str, limit: int, what: str) -> str:
    """A text from the address, refused (422, as a page) when longer than `limit`."""
    if len(raw) > limit:
        raise errors.RequestValidationError(f"the {what} is longer than {limit} characters")
    return raw.strip()


def choice(enum: type[E], raw: str) -> E | None:
    """A filter's value: empty is "any"; anything but a member is refused (422)."""
    raw = bounded(raw, 40, enum.__name__)
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
    kind: str = "",
    state: str = TaskState.OPEN.value,
) -> Response:
    """Oldest first; an empty filter (the form's "any") means any."""
    session = current(request)
    wanted_kind, wanted_state = choice(TaskKind, kind), choice(TaskState, state)
    operations = operations_of(request)
    found, open_by_kind = await asyncio.gather(
        asyncio.to_thread(operations.tasks, wanted_state, wanted_kind, TASKS_LIMIT + 1),
        asyncio.to_thread(operations.open_by_kind),
    )
    return page(
        request,
        "tasks.html",
        session,
        tasks=found[:TASKS_LIMIT],
        more=len(found) > TASKS_LIMIT,
        limit=TASKS_LIMIT,
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
    q: str = "",
    status: str = "",
) -> Response:
    """By workflow id, correlation id or user id (whichever matches), and/or by status."""
    session = current(request)
    repository = repository_of(request)
    text = bounded(q, 128, "search text")
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
    repository = repository_of(request)
    by_status = await asyncio.to_thread(repository.in_flight_by_status)
    oldest = await asyncio.to_thread(repository.longest_in, list(by_status))
    rows = [
        (status, *by_status[status.value], oldest.get(status.value))
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
    desk = desk_of(request)
    task = await desk.task(task_id)
    blocker, state = await desk.retry_blocker(task)
    return page(
        request,
        "confirm_retry.html",
        session,
        task=task,
        effect=guide.retry_effect(task, state.transfer_reference_number) if state else "",
        blocker=blocker,
    )


@router.get("/tasks/{task_id}/resolve")
@console_page
async def resolve_confirmation(request: Request, task_id: TaskId) -> Response:
    session = current(request)
    desk = desk_of(request)
    task = await desk.task(task_id)
    return await resolve_form(request, session, task, note="", error=None)


async def resolve_form(
    request: Request, session: ConsoleSession, task: OperatorTask, note: str, error: str | None
) -> Response:
    """The resolve confirmation, with the note typed so far and what was wrong with it."""
    running = task.kind == TaskKind.COMPENSATION_FAILED and await desk_of(request).retry_running(
        task
    )
    return page(
        request,
        "confirm_resolve.html",
        session,
        422 if error else 200,
        task=task,
        effect=guide.RESOLVE_EFFECT,
        meaning=guide.MEANING[task.kind],
        note=note,
        error=error,
        running=running,
    )
