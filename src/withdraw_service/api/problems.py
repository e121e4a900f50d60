"""Every error response is RFC 9457 problem details, built here and only here.

No response carries a stack trace, an OTP, a token or a full account number: messages come from
the error tree (`domain/errors.py`), and anything unexpected becomes a bare 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError as FastApiValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from temporalio.service import RPCError, RPCStatusCode

from withdraw_service.domain import errors
from withdraw_service.domain.outcomes import HTTP_STATUS, ProblemCode

log = logging.getLogger(__name__)

_TITLES = {ProblemCode.INTERNAL: "Internal error"}
# What an unreachable, overloaded or restarting Temporal answers: the request may be repeated.
# UNKNOWN is what gRPC reports when the connection breaks mid-call (the server killed while it
# answered): seen by the chaos run as a 500 before it was listed here.
TEMPORAL_OUTAGE = frozenset(
    {
        RPCStatusCode.UNKNOWN,
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.ABORTED,
    }
)


def problem(
    code: ProblemCode,
    detail: str,
    /,
    *,
    http_status: int | None = None,
    retry_after: int | None = None,
    **extra: Any,
) -> JSONResponse:
    """The problem-details answer for `code`, with its HTTP status unless one is given."""
    status = http_status if http_status is not None else HTTP_STATUS[code]
    body = {
        **extra,
        "type": f"urn:withdraw-service:problem:{code.lower().replace('_', '-')}",
        "title": _TITLES.get(code, code.replace("_", " ").capitalize()),
        "status": status,
        "detail": detail,
        "code": code,
    }
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.WithdrawError)
    async def _withdraw_error(_: Request, exc: errors.WithdrawError) -> JSONResponse:
        retry_after = getattr(exc, "retry_after_seconds", None)
        return problem(exc.code, exc.message, retry_after=retry_after, **exc.extra)

    # An outage of a dependency is never the client's fault nor a 500: the request may be
    # repeated (every write behind it is idempotent). These are the errors that escape the
    # gateway's own handling (e.g. a repository call while the database is away).
    @app.exception_handler(RPCError)
    async def _temporal_unreachable(_: Request, exc: RPCError) -> JSONResponse:
        log.warning("Temporal call failed: %s", exc.status.name if exc.status else "unknown")
        if exc.status not in TEMPORAL_OUTAGE:  # a refusal (a bug, a misconfiguration)
            return problem(ProblemCode.INTERNAL, "internal error; the request may be retried")
        return _unavailable("the workflow engine did not answer; repeat the request")

    @app.exception_handler(DataError)
    async def _data_refused(_: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the request carried (a NUL byte in a string for
        # PostgreSQL, a number out of range): the same request will never work.
        log.warning("database refused a value: %s", type(exc.orig).__name__)
        return problem(ProblemCode.VALIDATION_ERROR, "a value in the request cannot be stored")

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeoutError)
    async def _database_unreachable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database call failed: %s", type(getattr(exc, "orig", exc)).__name__)
        return _unavailable("the database did not answer; repeat the request")

    @app.exception_handler(FastApiValidationError)
    async def _validation(_: Request, exc: FastApiValidationError) -> JSONResponse:
        return problem(
            ProblemCode.VALIDATION_ERROR,
            "the request is not valid",
            errors=error_fields(exc.errors()),
        )

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return problem(ProblemCode.NOT_FOUND, "no such resource")
        if exc.status_code == 405:
            return problem(ProblemCode.METHOD_NOT_ALLOWED, "method not allowed")
        return problem(ProblemCode.HTTP_ERROR, str(exc.detail)[:200], http_status=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error: %s", type(exc).__name__)
        return problem(ProblemCode.INTERNAL, "internal error; the request may be retried")


def _unavailable(detail: str) -> JSONResponse:
    return problem(
        ProblemCode.TEMPORARILY_UNAVAILABLE,
        detail,
        retry_after=errors.TemporarilyUnavailable.retry_after_seconds,
    )


def error_fields(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Where and what for each validation error, never the rejected value (it could be an
    OTP). Takes pydantic's and FastAPI's error lists alike."""
    return [
        {
            "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
            "message": str(err.get("msg", "")),
        }
        for err in errors
    ]
