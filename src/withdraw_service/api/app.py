"""The FastAPI application: `create_app(settings)` wires routes, problem details, health and
metrics. Temporal and the database are reached in the lifespan, not at import.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine, text
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from withdraw_service.api import problems
from withdraw_service.api.gateway import GatewayConfig, WithdrawGateway
from withdraw_service.api.logging_context import LogContextMiddleware
from withdraw_service.api.metrics import ApiMetrics
from withdraw_service.api.operators import OperatorDesk
from withdraw_service.api.routes import router
from withdraw_service.api.routes_ops import router as ops_router
from withdraw_service.bootstrap import (
    build_operations,
    build_repository,
    connect_temporal,
    load_policies,
)
from withdraw_service.persistence.idempotency import IdempotencyRepository
from withdraw_service.settings import Settings

log = logging.getLogger(__name__)


async def _connect_with_retry(settings: Settings, attempts: int = 60) -> Client:
    for attempt in range(1, attempts + 1):
        try:
            return await connect_temporal(settings)
        except RuntimeError:
            if attempt == attempts:
                raise
            log.warning("Temporal not reachable at %s yet", settings.effective_temporal_address)
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


def create_app(settings: Settings, client: Client | None = None) -> FastAPI:
    settings.check_production()
    policies = load_policies(settings.retry_policies)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        temporal = client or await _connect_with_retry(settings)
        repository = build_repository(settings)
        app.state.settings = settings
        app.state.temporal = temporal
        app.state.repository = repository
        config = GatewayConfig(
            task_queue=settings.task_queue,
            wait_seconds=settings.api_wait_seconds,
            otp_timeout_seconds=settings.otp_timeout_seconds,
            otp_max_attempts=settings.otp_max_attempts,
            execution_timeout=timedelta(seconds=settings.workflow_execution_timeout_seconds),
            policies=policies,
        )
        app.state.gateway = WithdrawGateway(
            temporal, repository, IdempotencyRepository(repository.engine), config
        )
        operations = build_operations(repository)
        app.state.desk = OperatorDesk(temporal, repository, operations, config)
        metrics.watch_database(repository, operations)
        try:
            yield
        finally:
            repository.engine.dispose()  # this app's pool: closed with it

    app = FastAPI(
        title="Investment Withdraw Service",
        version="0.1.0",
        description="Withdraw cash from a DriveWealth brokerage account to the customer's bank.",
        lifespan=lifespan,
    )
    problems.install(app)
    metrics = ApiMetrics()
    app.middleware("http")(metrics.middleware)
    app.add_middleware(LogContextMiddleware)  # workflowId/correlationId on the request's logs
    app.include_router(router)
    app.include_router(ops_router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        responses={503: {"description": "the database or Temporal is not reachable"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        checks = {"database": "ok", "temporal": "ok"}
        try:
            engine = request.app.state.repository.engine
            await asyncio.to_thread(_ping_database, engine)
        except Exception as exc:  # any failure means "not ready"; say which, not why
            checks["database"] = f"unavailable ({type(exc).__name__})"
        try:
            temporal: Client = request.app.state.temporal
            await asyncio.wait_for(
                temporal.workflow_service.get_system_info(GetSystemInfoRequest()), 3.0
            )
        except Exception as exc:
            checks["temporal"] = f"unavailable ({type(exc).__name__})"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", tags=["health"])
    async def prometheus_metrics() -> Response:
        return await metrics.render()

    return app


def _ping_database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
