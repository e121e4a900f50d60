"""The FastAPI application: `create_app(settings)` wires routes, problem details, health and
metrics. Temporal and the database are reached in the lifespan, not at import.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from ipaddress import IPv4Network, IPv6Network, ip_address

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import Engine, text
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from withdraw_service import console
from withdraw_service.api import problems
from withdraw_service.api.auth import TokenRules
from withdraw_service.api.logging_context import LogContextMiddleware
from withdraw_service.api.metrics import ApiMetrics
from withdraw_service.api.problems import problem
from withdraw_service.api.routes import router
from withdraw_service.api.routes_ops import router as ops_router
from withdraw_service.bootstrap import ApiState, api_state, connect_temporal, load_policies
from withdraw_service.domain.outcomes import ProblemCode
from withdraw_service.persistence.db import require_schema
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
        if not settings.migrates_on_start:  # else the worker brings the schema up (dev)
            await asyncio.to_thread(require_schema, settings.effective_database_url)
        temporal = client or await _connect_with_retry(settings)
        state = api_state(settings, temporal, policies)
        install_state(app, state)
        metrics.watch_database(
            state.repository, state.operations, settings.metrics_gauge_max_age_seconds
        )
        try:
            yield
        finally:
            state.repository.engine.dispose()  # this app's pool: closed with it
            await state.http.aclose()

    app = FastAPI(
        title="Investment Withdraw Service",
        version="0.1.0",
        description="Withdraw cash from a DriveWealth brokerage account to the customer's bank.",
        lifespan=lifespan,
        docs_url=None,  # served by console.install from the app's own Swagger UI copy
        redoc_url=None,
        openapi_url="/openapi.json" if settings.serves_docs else None,
    )
    problems.install(app)
    app.state.token_rules = TokenRules.from_settings(settings)
    metrics = ApiMetrics()
    app.middleware("http")(metrics.middleware)
    app.add_middleware(LogContextMiddleware)  # workflowId/correlationId on the request's logs
    app.include_router(router)
    app.include_router(ops_router)
    console.install(app, docs=settings.serves_docs)
    networks = settings.metrics_networks

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

    @app.get(
        "/metrics",
        tags=["health"],
        response_class=PlainTextResponse,
        responses={
            200: {"content": {"text/plain": {}}, "description": "Prometheus' text format"},
            404: {"description": "not for this caller"},
        },
    )
    async def prometheus_metrics(request: Request) -> Response:
        """Prometheus text, for callers in WITHDRAW_METRICS_ALLOWED_NETWORKS reaching the API
        directly; anyone else is told there is no such resource."""
        if not _may_scrape(request, networks):
            return problem(ProblemCode.NOT_FOUND, "no such resource")
        return await metrics.render()

    return app


def install_state(app: FastAPI, state: ApiState) -> None:
    """Put the wiring where the routes' dependencies (`api/deps.py`) read it."""
    for name, value in vars(state).items():
        setattr(app.state, name, value)


def _may_scrape(request: Request, networks: list[IPv4Network | IPv6Network]) -> bool:
    if "x-forwarded-for" in request.headers or "forwarded" in request.headers:
        return False  # a proxy relayed it: the address below is the proxy's
    host = request.client.host if request.client else ""
    try:
        address = ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def _ping_database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
