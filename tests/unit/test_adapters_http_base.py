"""How an external call's outcome is read: what is safe to retry, what is unknown, what is final."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from withdraw_service.adapters.http_base import JsonServiceClient
from withdraw_service.adapters.upstream import (
    ExternalServiceError,
    UpstreamNotFound,
    UpstreamRefused,
    UpstreamUnauthorized,
    UpstreamUnavailableError,
    UpstreamUnknownOutcome,
)

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> JsonServiceClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return JsonServiceClient("transfer", http, "http://bank.test/transfer/")


def answer(status: int, body: Any = None) -> Handler:
    def handle(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    return handle


def raises(exc: Exception) -> Handler:
    def handle(_: httpx.Request) -> httpx.Response:
        raise exc

    return handle


async def test_a_success_answers_the_json_body_with_numbers_as_decimal() -> None:
    def handle(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"amount": 0.1, "count": 3, "nested": [150.10]}')

    body = await client(handle).request("status", "GET", "/x")
    assert body == {"amount": Decimal("0.1"), "count": 3, "nested": [Decimal("150.10")]}
    assert isinstance(body["amount"], Decimal)


async def test_the_request_goes_to_the_base_url_with_method_body_params_and_headers() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    await client(handle).request(
        "initiate",
        "POST",
        "/withdraw/initiate",
        json={"amount": "150.00"},
        params={"a": "b"},
        headers={"Idempotency-Key": "k-1"},
    )
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "http://bank.test/transfer/withdraw/initiate?a=b"
    assert json.loads(request.content) == {"amount": "150.00"}
    assert request.headers["Idempotency-Key"] == "k-1"


@pytest.mark.parametrize(
    ("handler", "kind"),
    [
        (raises(httpx.ReadTimeout("slow")), UpstreamUnknownOutcome),
        (raises(httpx.WriteTimeout("slow")), UpstreamUnknownOutcome),
        (raises(httpx.ReadError("reset")), UpstreamUnknownOutcome),
        (raises(httpx.RemoteProtocolError("eof")), UpstreamUnknownOutcome),
        (answer(504, {"errorCode": "E504"}), UpstreamUnknownOutcome),
        (answer(500, {"errorCode": "E500"}), UpstreamUnknownOutcome),
        (answer(502), UpstreamUnknownOutcome),
        (answer(503), UpstreamUnknownOutcome),
        (answer(408), UpstreamUnknownOutcome),
        (answer(429, {"errorCode": "RATE_LIMITED"}), UpstreamUnknownOutcome),
        (answer(409, {"errorCode": "IDEMPOTENCY_IN_PROGRESS"}), UpstreamUnknownOutcome),
        (raises(httpx.ConnectError("refused")), UpstreamUnavailableError),
        (raises(httpx.ConnectTimeout("slow")), UpstreamUnavailableError),
        (raises(httpx.PoolTimeout("busy")), UpstreamUnavailableError),
        (answer(401, {"errorCode": "L075", "message": "unauthorized"}), UpstreamUnauthorized),
        (answer(404, {"errorCode": "USER_NOT_FOUND"}), UpstreamNotFound),
        (answer(409, {"errorCode": "TRANSFER_NOT_PENDING"}), UpstreamRefused),
        (answer(422, {"errorCode": "INSUFFICIENT_FUNDS"}), UpstreamRefused),
    ],
    ids=[
        "read-timeout",
        "write-timeout",
        "read-error",
        "protocol-error",
        "504",
        "500",
        "502",
        "503",
        "408",
        "429",
        "409-in-progress",
        "connect-error",
        "connect-timeout",
        "pool-timeout",
        "401",
        "404",
        "409",
        "422",
    ],
)
async def test_each_outcome_maps_to_its_error(
    handler: Handler, kind: type[ExternalServiceError]
) -> None:
    with pytest.raises(kind) as caught:
        await client(handler).request("finalize", "PUT", "/withdraw/finalize/a-1")
    assert type(caught.value) is kind
    assert (caught.value.service, caught.value.operation) == ("transfer", "finalize")


async def test_a_refusal_carries_the_upstream_error_code_and_attempts_remaining() -> None:
    body = {"errorCode": "OTP_INVALID", "message": "the OTP code is wrong", "attemptsRemaining": 2}
    with pytest.raises(UpstreamRefused) as caught:
        await client(answer(422, body)).request("finalize", "PUT", "/withdraw/finalize/a-1")
    assert caught.value.error_code == "OTP_INVALID"
    assert caught.value.attempts_remaining == 2
    assert "OTP_INVALID" in str(caught.value)


async def test_a_refusal_without_a_json_body_is_named_by_its_http_status() -> None:
    def handle(_: httpx.Request) -> httpx.Response:
        return httpx.Response(400, content=b"<html>Bad Request</html>")

    with pytest.raises(UpstreamRefused) as caught:
        await client(handle).request("initiate", "POST", "/withdraw/initiate")
    assert caught.value.error_code == "HTTP_400"
    assert caught.value.attempts_remaining is None


async def test_the_401_code_is_kept_for_the_caller() -> None:
    with pytest.raises(UpstreamUnauthorized, match="E032"):
        await client(answer(401, {"errorCode": "E032"})).request("token", "POST", "/t")
