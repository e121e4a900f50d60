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
from starlette.exceptions import HTTPException

from withdraw_service.domain import errors

log = logging.getLogger(__name__)

HTTP_STATUS: dict[str, int] = {
    "VALIDATION_ERROR": 422,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "USER_INVALID": 403,
    "WITHDRAW_RESTRICTED": 409,
    "INSUFFICIENT_FUNDS": 422,
    "IDEMPOTENCY_KEY_REUSED": 422,
    "OTP_INVALID": 422,
    "OTP_EXPIRED": 410,
    "INVALID_STATE": 409,
    "UPSTREAM_UNAVAILABLE": 503,
}
_TITLES = {
    "INTERNAL": "Internal error",
    "METHOD_NOT_ALLOWED": "Method not allowed",
}


def problem(status: int, code: str, detail: str, /, **extra: Any) -> JSONResponse:
    body = {
        **extra,
        "type": f"urn:withdraw-service:problem:{code.lower().replace('_', '-')}",
        "title": _TITLES.get(code, code.replace("_", " ").capitalize()),
        "status": status,
        "detail": detail,
        "code": code,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.WithdrawError)
    async def _withdraw_error(_: Request, exc: errors.WithdrawError) -> JSONResponse:
        return problem(HTTP_STATUS.get(exc.code, 500), exc.code, exc.message, **exc.extra)

    @app.exception_handler(FastApiValidationError)
    async def _validation(_: Request, exc: FastApiValidationError) -> JSONResponse:
        return problem(
            422, "VALIDATION_ERROR", "the request is not valid", errors=error_fields(exc.errors())
        )

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return problem(404, "NOT_FOUND", "no such resource")
        if exc.status_code == 405:
            return problem(405, "METHOD_NOT_ALLOWED", "method not allowed")
        return problem(exc.status_code, "HTTP_ERROR", str(exc.detail)[:200])

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error: %s", type(exc).__name__)
        return problem(500, "INTERNAL", "internal error; the request may be retried")


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
