"""`withdraw-service codec-server`: Temporal's codec server protocol (`POST /encode`,
`POST /decode`, also under `/{namespace}/...` for the CLI's `--codec-endpoint` template), so the
Web UI (`--ui-codec-endpoint`) and `temporal workflow show --codec-endpoint` show decrypted
payloads to an operator while the server keeps only ciphertext.

Decrypted payloads reach whoever can call it, so: it listens on loopback by default, answers
only for the configured namespace, only lets the Web UI's origin call it from a browser
(`WITHDRAW_CODEC_CORS_ORIGINS`), and outside dev mode it requires an `ops` bearer token (the
same JWTs as the API). A Web UI behind its own login forwards its own token, not ours: such a
deployment puts the codec server behind the same login instead (not built here).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from withdraw_service.api import problems
from withdraw_service.api.auth import TokenRules, authenticate
from withdraw_service.api.body import read_body
from withdraw_service.api.problems import problem
from withdraw_service.codec import CodecError, EncryptionCodec
from withdraw_service.domain import errors
from withdraw_service.domain.outcomes import ProblemCode
from withdraw_service.settings import Settings

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 4 * 1024 * 1024
Namespace = Annotated[str | None, Header(alias="x-namespace")]
Authorization = Annotated[str | None, Header()]


def create_codec_app(settings: Settings, codec: EncryptionCodec) -> FastAPI:
    settings.check_production(connects=False)  # it reaches neither Temporal nor a database
    rules = TokenRules.from_settings(settings)  # as the API's
    app = FastAPI(title="Withdraw payload codec server", docs_url=None, redoc_url=None)
    problems.install(app)  # refusals are problem details, as the API's
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.effective_codec_cors_origins,
        allow_methods=["POST"],
        allow_headers=["content-type", "x-namespace", "authorization"],
        allow_credentials=True,
    )

    async def run(
        request: Request,
        operation: str,
        namespace: str | None,
        authorization: str | None,
    ) -> JSONResponse:
        caller = "anyone (dev mode)"
        if not settings.is_dev:
            principal = await asyncio.to_thread(authenticate, authorization, rules)
            principal.require("ops")  # 401 / 403 problems
            caller = principal.user_id
        if namespace is not None and namespace != settings.temporal_namespace:
            raise errors.Forbidden("this codec server serves another namespace")
        try:  # refused as soon as the streamed body passes the limit, not once it is all read
            body = await read_body(request, MAX_BODY_BYTES)
        except errors.RequestValidationError:
            return problem(ProblemCode.PAYLOAD_TOO_LARGE, "at most 4 MiB per request")
        payloads = Payloads()
        try:
            json_format.Parse(body or b"{}", payloads)
        except json_format.ParseError:
            return problem(
                ProblemCode.VALIDATION_ERROR,
                'expected {"payloads": [...]} in proto JSON',
                http_status=400,
            )
        try:
            if operation == "encode":
                result = await codec.encode(payloads.payloads)
            else:
                result = await codec.decode(payloads.payloads)
        except CodecError as exc:
            return problem(ProblemCode.CODEC_ERROR, str(exc))
        # Who read what: an operator's decode is an audit event (never the payloads).
        log.info(
            "codec %s of %d payloads for %s",
            operation,
            len(result),
            caller,
            extra={"operator": caller, "codecOperation": operation},
        )
        answer: dict[str, Any] = json_format.MessageToDict(Payloads(payloads=result))
        answer.setdefault("payloads", [])
        return JSONResponse(answer)

    @app.post("/encode")
    async def encode(
        request: Request, x_namespace: Namespace = None, authorization: Authorization = None
    ) -> JSONResponse:
        return await run(request, "encode", x_namespace, authorization)

    @app.post("/decode")
    async def decode(
        request: Request, x_namespace: Namespace = None, authorization: Authorization = None
    ) -> JSONResponse:
        return await run(request, "decode", x_namespace, authorization)

    @app.post("/{namespace}/encode")
    async def encode_in(
        request: Request, namespace: str, authorization: Authorization = None
    ) -> JSONResponse:
        return await run(request, "encode", namespace, authorization)

    @app.post("/{namespace}/decode")
    async def decode_in(
        request: Request, namespace: str, authorization: Authorization = None
    ) -> JSONResponse:
        return await run(request, "decode", namespace, authorization)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
