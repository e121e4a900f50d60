"""Builds the one FastAPI app that simulates Session, Flex, the Transfer Service, the
Transfer Checker and DriveWealth, plus the `/_sim` control surface.

`create_sim_app` loads (or seeds) the state synchronously, because ASGI test transports do
not run lifespan hooks; nothing happens at import time.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError

from withdraw_service.domain.outcomes import ProblemCode
from withdraw_service.sim.config import SimConfig
from withdraw_service.sim.routes_checker import checker_router
from withdraw_service.sim.routes_control import control_router, problem
from withdraw_service.sim.routes_drivewealth import drivewealth_control_router, drivewealth_router
from withdraw_service.sim.routes_session import session_router
from withdraw_service.sim.routes_transfer import transfer_router
from withdraw_service.sim.store import SimStore


async def _validation_problem(request: Request, exc: Exception) -> Response:
    """Malformed control bodies as a 422 problem naming each wrong field."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    found = [
        {
            "field": ".".join(str(part) for part in error["loc"] if part != "body") or "body",
            "message": str(error["msg"]),
        }
        for error in errors
    ]
    detail = "; ".join(f"{item['field']}: {item['message']}" for item in found) or "invalid request"
    return problem(422, ProblemCode.VALIDATION_ERROR, detail, errors=found)


def create_sim_app(config: SimConfig) -> FastAPI:
    """The simulator app over the state in `config.state_file` (seeded when absent)."""
    store = SimStore(config)
    app = FastAPI(
        title="Simulated external services",
        description="Stand-ins for Session, Flex, Transfer Service, Transfer Checker and "
        "DriveWealth, with a ledger, an OTP inbox and fault injection under /_sim.",
        version="1.0.0",
    )
    app.add_exception_handler(RequestValidationError, _validation_problem)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(control_router(store))
    app.include_router(drivewealth_control_router(store))
    app.include_router(session_router(store))
    app.include_router(transfer_router(store))
    app.include_router(checker_router(store))
    app.include_router(drivewealth_router(store))
    return app
