"""Reads a JSON body from its raw text with every number kept as Decimal, then validates it.

FastAPI's own body parsing would turn `150.10` into a float before we could see it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from withdraw_service.api.problems import error_fields
from withdraw_service.domain.errors import RequestValidationError

MAX_BODY_BYTES = 16 * 1024
M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused (RequestValidationError) once it is larger than `limit`: by its
    declared length before anything is read, else as soon as the streamed chunks pass it."""
    too_large = f"request body larger than {limit} bytes"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestValidationError(too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestValidationError(too_large)
    return bytes(body)


async def parse_body(request: Request, model: type[M]) -> M:
    raw = await read_body(request, MAX_BODY_BYTES)
    try:
        data = json.loads(raw or b"null", parse_float=Decimal)
    # ArithmeticError: a number whose exponent Decimal cannot hold (1e9999999999999999999).
    except (ValueError, UnicodeDecodeError, RecursionError, ArithmeticError):
        raise RequestValidationError("body is not valid JSON (or nested too deeply)") from None
    if not isinstance(data, dict):
        raise RequestValidationError("body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            "the request is not valid", errors=error_fields(exc.errors(include_input=False))
        ) from None


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI `requestBody` for a route that parses its body with `parse_body`."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema(by_alias=True)}},
        }
    }
