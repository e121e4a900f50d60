"""The console's actions (POST): sign in and out, retry a reversal, resolve a task. Each one
comes from a page of this console (Origin) and carries the session's CSRF token; each acts in
the signed-in operator's name through the same operator desk as `/ops/...`."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from withdraw_service.api.deps import desk_of
from withdraw_service.api.schemas import ResolveRequest
from withdraw_service.console import session as sessions
from withdraw_service.console.pages import ROOT, SIGN_IN, TaskId, console_page, resolve_form
from withdraw_service.console.render import current, form, page, same_origin
from withdraw_service.domain import errors
from withdraw_service.domain.outcomes import HTTP_STATUS
from withdraw_service.settings import Settings

router = APIRouter(prefix=ROOT, include_in_schema=False)


async def _checked_form(request: Request) -> tuple[sessions.ConsoleSession, dict[str, str]]:
    same_origin(request)
    session = current(request)
    fields = await form(request)
    session.check_csrf(fields.get("csrf"))
    return session, fields


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    """Paste an ops token; a customer's token, or none, is refused and nothing is set."""
    settings: Settings = request.app.state.settings
    try:
        same_origin(request)
        token = (await form(request)).get("token", "").strip()
        if not token:
            raise errors.RequestValidationError("paste an operator token first")
        # In a thread: an identity provider's keys may have to be fetched (a blocking call).
        _, cookie = await asyncio.to_thread(
            sessions.sign_in,
            token,
            request.app.state.token_rules,
            settings.jwt_secret.get_secret_value(),
            settings.console_session_seconds,
        )
    except (errors.Unauthenticated, errors.Forbidden, errors.RequestValidationError) as exc:
        status = HTTP_STATUS[exc.code]
        return page(request, "sign_in.html", None, status, error=exc.message)
    answer = RedirectResponse(f"{ROOT}/tasks", status_code=303)
    answer.set_cookie(
        sessions.COOKIE,
        cookie,
        max_age=settings.console_session_seconds,
        path=sessions.PATH,
        httponly=True,
        samesite="strict",
        secure=not settings.is_dev,  # dev serves plain HTTP on loopback
    )
    return answer


@router.post("/sign-out")
@console_page
async def sign_out(request: Request) -> Response:
    await _checked_form(request)
    answer = RedirectResponse(SIGN_IN, status_code=303)
    answer.delete_cookie(sessions.COOKIE, path=sessions.PATH)
    return answer


@router.post("/tasks/{task_id}/retry")
@console_page
async def retry(request: Request, task_id: TaskId) -> Response:
    session, _ = await _checked_form(request)
    answer = await desk_of(request).retry(task_id, session.operator)
    return page(request, "result.html", session, task=answer.task, action="retry", answer=answer)


@router.post("/tasks/{task_id}/resolve")
@console_page
async def resolve(request: Request, task_id: TaskId) -> Response:
    session, fields = await _checked_form(request)
    note = fields.get("note", "")
    try:
        note = ResolveRequest(note=note.strip()).note
    except ValidationError:
        task = await desk_of(request).task(task_id)
        error = (
            "A note of 1 to 2,000 characters is required, without control characters: "
            "say what was done."
        )
        return await resolve_form(request, session, task, note[:2000], error)
    task = await desk_of(request).resolve(task_id, session.operator, note)
    return page(request, "result.html", session, task=task, action="resolve", answer=None)
