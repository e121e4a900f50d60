"""Problem details (RFC 9457): each error code of the contract answers its HTTP status."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DataError
from temporalio.service import RPCError, RPCStatusCode

from withdraw_service.api import problems
from withdraw_service.domain import errors
from withdraw_service.domain.outcomes import ProblemCode

CONTRACT_STATUS = {
    errors.RequestValidationError: 422,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.WithdrawalNotFound: 404,
    errors.UserInvalid: 403,
    errors.WithdrawRestricted: 409,
    errors.InsufficientFunds: 422,
    errors.IdempotencyKeyReused: 422,
    errors.OtpInvalid: 422,
    errors.OtpExpired: 410,
    errors.InvalidState: 409,
    errors.UpstreamUnavailable: 503,
    errors.TemporarilyUnavailable: 503,
    errors.WithdrawalFailed: 422,
    errors.RateLimited: 429,
}


def test_the_table_covers_every_error_of_the_tree() -> None:
    assert set(CONTRACT_STATUS) == set(errors.WithdrawError.__subclasses__())


@pytest.fixture(scope="module")
async def api() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    problems.install(app)

    @app.get("/rpc/{status}")
    async def _rpc(status: str) -> None:
        raise RPCError("broken", RPCStatusCode[status], b"")

    @app.get("/raise/{name}")
    async def _raise(name: str) -> None:
        kind = next(k for k in CONTRACT_STATUS if k.__name__ == name)
        raise kind("what happened", workflowId="WITHDRAW-1")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


@pytest.mark.parametrize(
    ("kind", "status"), list(CONTRACT_STATUS.items()), ids=[k.__name__ for k in CONTRACT_STATUS]
)
async def test_each_error_answers_its_contract_status_as_problem_json(
    api: httpx.AsyncClient, kind: type[errors.WithdrawError], status: int
) -> None:
    response = await api.get(f"/raise/{kind.__name__}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == kind.code
    assert body["status"] == status
    assert body["detail"] == "what happened"
    assert body["workflowId"] == "WITHDRAW-1"
    assert body["type"].startswith("urn:withdraw-service:problem:")
    assert body["title"]


async def test_a_value_the_database_refuses_is_a_422_not_a_retry() -> None:
    """PostgreSQL refuses a NUL byte in a string (DataError): repeating cannot help."""
    app = FastAPI()
    problems.install(app)

    @app.get("/nul")
    async def _nul() -> None:
        raise DataError("SELECT", {}, Exception("string literal cannot contain NUL"))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get("/nul")
    assert response.status_code == 422 and "retry-after" not in response.headers
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_a_rate_limit_says_when_to_come_back() -> None:
    app = FastAPI()
    problems.install(app)

    @app.get("/limited")
    async def _limited() -> None:
        raise errors.RateLimited("more than 120 requests in a minute", retry_after=17)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get("/limited")
    assert (response.status_code, response.headers["retry-after"]) == (429, "17")
    assert response.json()["code"] == "RATE_LIMITED"


def test_problem_bodies_name_the_code_in_type_and_title() -> None:
    response = problems.problem(ProblemCode.OTP_INVALID, "wrong OTP", attemptsRemaining=1)
    assert response.media_type == "application/problem+json"
    assert json.loads(bytes(response.body)) == {
        "type": "urn:withdraw-service:problem:otp-invalid",
        "title": "Otp invalid",
        "status": 422,
        "detail": "wrong OTP",
        "code": "OTP_INVALID",
        "attemptsRemaining": 1,
    }


def test_only_a_401_asks_for_a_bearer_token() -> None:
    unauthenticated = problems.problem(ProblemCode.UNAUTHENTICATED, "x")
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["www-authenticate"] == "Bearer"
    assert "www-authenticate" not in problems.problem(ProblemCode.FORBIDDEN, "x").headers


@pytest.mark.parametrize("status", sorted(code.name for code in problems.TEMPORAL_OUTAGE))
async def test_temporal_unreachable_or_cut_off_mid_call_is_a_503_to_repeat(
    api: httpx.AsyncClient, status: str
) -> None:
    response = await api.get(f"/rpc/{status}")
    assert response.status_code == 503
    assert response.json()["code"] == ProblemCode.TEMPORARILY_UNAVAILABLE
    assert int(response.headers["Retry-After"]) > 0


def test_a_connection_cut_mid_call_counts_as_an_outage() -> None:
    assert RPCStatusCode.UNKNOWN in problems.TEMPORAL_OUTAGE  # what a killed server gives


async def test_a_refusal_by_temporal_is_an_internal_error(api: httpx.AsyncClient) -> None:
    response = await api.get("/rpc/INVALID_ARGUMENT")
    assert response.status_code == 500
    assert response.json()["code"] == ProblemCode.INTERNAL
