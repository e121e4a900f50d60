"""The HTTP adapters against recorded requests: paths, methods, idempotency and correlation
headers, bodies (amounts as cent strings), and answers read into the ports' values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from withdraw_service.adapters.http_base import JsonServiceClient
from withdraw_service.adapters.http_clients import (
    HttpDriveWealth,
    HttpTransferChecker,
    HttpTransferService,
    HttpUserDirectory,
)
from withdraw_service.adapters.ports import (
    Authorisation,
    DwRedemption,
    DwToken,
    SessionUser,
    TransferInitiation,
    TransferReceipt,
    TransferStatusReport,
)
from withdraw_service.adapters.upstream import (
    UpstreamNotFound,
    UpstreamRefused,
    UpstreamUnauthorized,
)

BASE = "http://sim.test"


@dataclass
class Recorder:
    """Answers each request from `routes` by (method, path) and keeps what it was sent."""

    routes: dict[tuple[str, str], httpx.Response]
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.routes.get((request.method, request.url.path), httpx.Response(404))

    def client(self, service: str) -> JsonServiceClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handle))
        return JsonServiceClient(service, http, f"{BASE}/{service}")

    @property
    def only(self) -> httpx.Request:
        (request,) = self.requests
        return request


def ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body)


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


INITIATION = TransferInitiation(
    user_id="user-1001",
    amount=Decimal("150"),
    correlation_id="cid-1",
    product_number="PRD-1",
    frontend_sima_ready=False,
)


async def test_initiate_posts_the_amount_as_a_cent_string_with_idempotency_and_correlation() -> (
    None
):
    recorder = Recorder(
        {
            ("POST", "/transfer/withdraw/initiate"): ok(
                {
                    "data": {
                        "authorisationId": "auth-1",
                        "referenceNumber": "TRF0000000001",
                        "expiryTime": "2026-01-05T09:35:00.000Z",
                    }
                }
            )
        }
    )
    auth = await HttpTransferService(recorder.client("transfer")).initiate(INITIATION, "cid-1:init")
    assert auth == Authorisation("auth-1", "TRF0000000001", datetime(2026, 1, 5, 9, 35, tzinfo=UTC))
    request = recorder.only
    assert request.headers["Idempotency-Key"] == "cid-1:init"
    assert request.headers["X-Correlation-ID"] == "cid-1"
    assert body_of(request) == {
        "userId": "user-1001",
        "amount": "150.00",
        "currency": "USD",
        "correlationId": "cid-1",
        "productNumber": "PRD-1",
        "frontendSimaReady": False,
    }


async def test_finalize_puts_the_otp_to_the_authorisation() -> None:
    recorder = Recorder(
        {
            ("PUT", "/transfer/withdraw/finalize/auth-1"): ok(
                {"data": {"success": True, "referenceNumber": "TRF1", "statusText": "SUCCESS"}}
            )
        }
    )
    receipt = await HttpTransferService(recorder.client("transfer")).finalize(
        "auth-1", "123456", "stan-9", "cid-1:finalize"
    )
    assert receipt == TransferReceipt(True, "TRF1", "SUCCESS")
    assert recorder.only.headers["Idempotency-Key"] == "cid-1:finalize"
    assert body_of(recorder.only) == {"otpCode": "123456", "simaStan": "stan-9"}


async def test_reverse_posts_the_reference_and_reason_with_idempotency() -> None:
    recorder = Recorder(
        {
            ("POST", "/transfer/withdraw/reverse"): ok(
                {"data": {"success": True, "referenceNumber": "TRF1", "statusText": "REVERSED"}}
            )
        }
    )
    receipt = await HttpTransferService(recorder.client("transfer")).reverse(
        "TRF1", "cid-1", "redemption failed", "cid-1:reverse"
    )
    assert receipt.status_text == "REVERSED"
    assert recorder.only.headers["Idempotency-Key"] == "cid-1:reverse"
    assert recorder.only.headers["X-Correlation-ID"] == "cid-1"
    assert body_of(recorder.only) == {
        "referenceNumber": "TRF1",
        "correlationId": "cid-1",
        "reason": "redemption failed",
    }


async def test_the_checker_looks_up_by_reference_and_by_correlation_id() -> None:
    report = {"data": {"referenceNumber": "TRF1", "status": "SUCCESS", "amount": "150.00"}}
    recorder = Recorder(
        {
            ("GET", "/transfer-checker/transfers/TRF1"): ok(report),
            ("GET", "/transfer-checker/transfers"): ok(report),
        }
    )
    checker = HttpTransferChecker(recorder.client("transfer-checker"))
    assert await checker.status("TRF1") == TransferStatusReport("TRF1", "SUCCESS")
    assert await checker.status_by_correlation("cid-1") == TransferStatusReport("TRF1", "SUCCESS")
    assert recorder.requests[1].url.params["correlationId"] == "cid-1"


async def test_the_checker_answers_none_for_an_unknown_correlation_id_but_raises_by_reference() -> (
    None
):
    checker = HttpTransferChecker(Recorder({}).client("transfer-checker"))
    assert await checker.status_by_correlation("cid-unknown") is None
    with pytest.raises(UpstreamNotFound):
        await checker.status("TRF-unknown")


async def test_user_directory_reads_the_session_user_and_the_flex_customer() -> None:
    recorder = Recorder(
        {
            ("GET", "/session/users/user-1001"): ok(
                {
                    "userId": "user-1001",
                    "pin": "PIN1",
                    "phone": "+1555",
                    "cif": "CIF1",
                    "dwAccountNo": "DWAA001001",
                    "dwAccountId": "acc-id-1",
                    "blocked": False,
                }
            ),
            ("GET", "/flex/customers/PIN1"): ok(
                {"pin": "PIN1", "name": "Ada Lovelace", "address": "1 Main St"}
            ),
        }
    )
    users = HttpUserDirectory(recorder.client("session"), recorder.client("flex"))
    assert await users.get_user("user-1001") == SessionUser(
        "user-1001", "PIN1", "+1555", "CIF1", "DWAA001001", "acc-id-1", False
    )
    assert (await users.get_customer("PIN1")).name == "Ada Lovelace"


async def test_a_user_id_is_one_path_segment_and_the_answer_must_be_that_user() -> None:
    """An id holding `#`, `/` or `?` cannot reach another user's record; an answer about
    another user is refused (validateUser reads it as USER_INVALID)."""
    recorder = Recorder(
        {
            ("GET", "/session/users/user-1001#x"): ok({"userId": "user-1001", "pin": "P1"}),
            ("GET", "/session/users/odd"): ok({"userId": "someone-else", "pin": "P9"}),
        }
    )
    users = HttpUserDirectory(recorder.client("session"), recorder.client("flex"))
    with pytest.raises(UpstreamRefused, match="USER_MISMATCH"):
        await users.get_user("user-1001#x")
    assert recorder.requests[-1].url.raw_path == b"/session/users/user-1001%23x"
    with pytest.raises(UpstreamRefused, match="USER_MISMATCH"):
        await users.get_user("odd")
    with pytest.raises(UpstreamNotFound):  # what matters is the path it asked for
        await users.get_customer("P/../1")
    assert recorder.requests[-1].url.raw_path == b"/flex/customers/P%2F..%2F1"


async def test_a_session_user_without_a_brokerage_account_reads_as_none() -> None:
    recorder = Recorder(
        {("GET", "/session/users/u2"): ok({"userId": "u2", "pin": "P2", "blocked": True})}
    )
    user = await HttpUserDirectory(recorder.client("session"), recorder.client("flex")).get_user(
        "u2"
    )
    assert (user.dw_account_no, user.dw_account_id, user.blocked) == (None, None, True)


def drivewealth(recorder: Recorder) -> HttpDriveWealth:
    return HttpDriveWealth(recorder.client("drivewealth"), "client-1", "secret-1", "app-key-1")


async def test_dw_token_posts_client_credentials_with_the_app_key_header() -> None:
    recorder = Recorder(
        {
            ("POST", "/drivewealth/back-office/auth/tokens"): ok(
                {"access_token": "tok-1", "expires_in": 3600, "token_type": "Bearer"}
            )
        }
    )
    assert await drivewealth(recorder).get_token() == DwToken("tok-1", 3600)
    assert recorder.only.headers["dw-client-app-key"] == "app-key-1"
    assert body_of(recorder.only) == {"clientID": "client-1", "clientSecret": "secret-1"}


async def test_dw_redemption_posts_a_valid_dw_type_with_bearer_and_idempotency_key() -> None:
    recorder = Recorder(
        {
            ("POST", "/drivewealth/back-office/funding/redemptions"): ok(
                {"id": "DWAA001001-R1", "status": {"id": 2, "message": "SUCCESSFUL"}}
            )
        }
    )
    redemption = await drivewealth(recorder).create_redemption(
        "tok-1", "DWAA001001", Decimal("150.5"), "CASH_TRANSFER", "cid-1:redeem", "cid-1"
    )
    assert redemption == DwRedemption("DWAA001001-R1", 2, "SUCCESSFUL")
    request = recorder.only
    assert request.headers["Authorization"] == "Bearer tok-1"
    assert request.headers["Idempotency-Key"] == "cid-1:redeem"
    assert request.headers["X-Correlation-ID"] == "cid-1"
    body = body_of(request)
    assert body["accountNo"] == "DWAA001001"
    assert body["amount"] == "150.50"
    assert body["currency"] == "USD"
    assert body["type"] == "CASH_TRANSFER"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"10000.10", Decimal("10000.10")),
        (b"1234567.89", Decimal("1234567.89")),
        (b"0.1", Decimal("0.1")),
        (b"250", Decimal("250")),
        (b'"99.99"', Decimal("99.99")),
    ],
)
async def test_dw_cash_available_is_read_exactly(raw: bytes, expected: Decimal) -> None:
    content = b'{"accountID": "acc-id-1", "cash": {"cashAvailableForWithdrawal": ' + raw + b"}}"
    recorder = Recorder(
        {
            ("GET", "/drivewealth/back-office/accounts/acc-id-1/summary/money"): httpx.Response(
                200, content=content
            )
        }
    )
    cash = await drivewealth(recorder).cash_available("tok-1", "acc-id-1")
    assert cash == expected
    assert str(cash) == str(expected)
    assert recorder.only.headers["Authorization"] == "Bearer tok-1"


async def test_dw_unauthorized_is_reported_as_such() -> None:
    recorder = Recorder(
        {
            ("GET", "/drivewealth/back-office/accounts/acc-id-1/summary/money"): httpx.Response(
                401, json={"errorCode": "L075", "message": "unauthorized"}
            )
        }
    )
    with pytest.raises(UpstreamUnauthorized):
        await drivewealth(recorder).cash_available("stale", "acc-id-1")
