"""httpx adapters of the ports, written against the paths the real services (and the
simulators that stand in for them) serve.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from withdraw_service.adapters.http_base import JsonServiceClient
from withdraw_service.adapters.ports import (
    Authorisation,
    DriveWealth,
    DwRedemption,
    DwToken,
    FlexCustomer,
    SessionUser,
    TransferChecker,
    TransferInitiation,
    TransferReceipt,
    TransferService,
    TransferStatusReport,
    UserDirectory,
)
from withdraw_service.adapters.upstream import UpstreamNotFound, UpstreamRefused
from withdraw_service.domain.money import CURRENCY, format_amount


class HttpUserDirectory(UserDirectory):
    def __init__(self, session: JsonServiceClient, flex: JsonServiceClient) -> None:
        self._session = session
        self._flex = flex

    async def get_user(self, user_id: str) -> SessionUser:
        # One path segment, whatever the id holds ("user-1001#x" must not load user-1001).
        body = await self._session.request("user", "GET", f"/users/{quote(user_id, safe='')}")
        if body.get("userId") != user_id:
            raise UpstreamRefused("session", "user", "USER_MISMATCH", "answered another user")
        return SessionUser(
            user_id=body["userId"],
            pin=body["pin"],
            phone=body.get("phone", ""),
            cif=body.get("cif", ""),
            dw_account_no=body.get("dwAccountNo"),
            dw_account_id=body.get("dwAccountId"),
            blocked=bool(body.get("blocked", False)),
        )

    async def get_customer(self, pin: str) -> FlexCustomer:
        body = await self._flex.request("customer", "GET", f"/customers/{quote(pin, safe='')}")
        return FlexCustomer(pin=body["pin"], name=body["name"], address=body.get("address", ""))


class HttpTransferService(TransferService):
    def __init__(self, client: JsonServiceClient) -> None:
        self._client = client

    async def initiate(self, request: TransferInitiation, idempotency_key: str) -> Authorisation:
        body = await self._client.request(
            "initiate",
            "POST",
            "/withdraw/initiate",
            json={
                "userId": request.user_id,
                "amount": format_amount(request.amount),
                "currency": CURRENCY,
                "correlationId": request.correlation_id,
                "productNumber": request.product_number,
                "frontendSimaReady": request.frontend_sima_ready,
            },
            headers=_headers(idempotency_key, request.correlation_id),
        )
        data = body["data"]
        return Authorisation(
            authorisation_id=data["authorisationId"],
            reference_number=data["referenceNumber"],
            expiry_time=datetime.fromisoformat(data["expiryTime"]),
        )

    async def finalize(
        self, authorisation_id: str, otp_code: str, sima_stan: str | None, idempotency_key: str
    ) -> TransferReceipt:
        body = await self._client.request(
            "finalize",
            "PUT",
            f"/withdraw/finalize/{authorisation_id}",
            json={"otpCode": otp_code, "simaStan": sima_stan},
            headers=_headers(idempotency_key),
        )
        return _receipt(body["data"])

    async def reverse(
        self, reference_number: str, correlation_id: str, reason: str, idempotency_key: str
    ) -> TransferReceipt:
        body = await self._client.request(
            "reverse",
            "POST",
            "/withdraw/reverse",
            json={
                "referenceNumber": reference_number,
                "correlationId": correlation_id,
                "reason": reason,
            },
            headers=_headers(idempotency_key, correlation_id),
        )
        return _receipt(body["data"])


class HttpTransferChecker(TransferChecker):
    def __init__(self, client: JsonServiceClient) -> None:
        self._client = client

    async def status(self, reference_number: str) -> TransferStatusReport:
        body = await self._client.request("status", "GET", f"/transfers/{reference_number}")
        return _status_report(body["data"])

    async def status_by_correlation(self, correlation_id: str) -> TransferStatusReport | None:
        try:
            body = await self._client.request(
                "status", "GET", "/transfers", params={"correlationId": correlation_id}
            )
        except UpstreamNotFound:
            return None
        return _status_report(body["data"])


class HttpDriveWealth(DriveWealth):
    def __init__(
        self, client: JsonServiceClient, client_id: str, client_secret: str, app_key: str
    ) -> None:
        self._client = client
        self._client_id = client_id
        self._client_secret = client_secret
        self._app_key = app_key

    async def get_token(self) -> DwToken:
        body = await self._client.request(
            "token",
            "POST",
            "/back-office/auth/tokens",
            json={"clientID": self._client_id, "clientSecret": self._client_secret},
            headers={"dw-client-app-key": self._app_key},
        )
        return DwToken(access_token=body["access_token"], expires_in=int(body["expires_in"]))

    async def create_redemption(
        self,
        token: str,
        account_no: str,
        amount: Decimal,
        redemption_type: str,
        idempotency_key: str,
        correlation_id: str,
    ) -> DwRedemption:
        body = await self._client.request(
            "redemption",
            "POST",
            "/back-office/funding/redemptions",
            json={
                "accountNo": account_no,
                "amount": format_amount(amount),
                "currency": CURRENCY,
                "type": redemption_type,
                "note": redemption_note(correlation_id),
            },
            headers={
                "Authorization": f"Bearer {token}",
                **_headers(idempotency_key, correlation_id),
            },
        )
        return _redemption(body)

    async def get_redemption(self, token: str, redemption_id: str) -> DwRedemption:
        body = await self._client.request(
            "redemption_status",
            "GET",
            f"/back-office/funding/redemptions/{redemption_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        return _redemption(body)

    async def list_redemptions(
        self, token: str, account_id: str, since: datetime
    ) -> list[DwRedemption]:
        body = await self._client.request(
            "redemption_status",
            "GET",
            f"/back-office/accounts/{account_id}/funding/redemptions",
            params={"from": since.isoformat()},
            headers={"Authorization": f"Bearer {token}"},
        )
        return [_redemption(item) for item in body]

    async def cash_available(self, token: str, account_id: str) -> Decimal:
        body = await self._client.request(
            "balance",
            "GET",
            f"/back-office/accounts/{account_id}/summary/money",
            headers={"Authorization": f"Bearer {token}"},
        )
        # DW answers JSON numbers; go through str so no binary float error reaches the money.
        return Decimal(str(body["cash"]["cashAvailableForWithdrawal"]))


_NOTE_PREFIX = "withdraw "


def redemption_note(correlation_id: str) -> str:
    """The note a redemption is created with: names the withdrawal it belongs to."""
    return f"{_NOTE_PREFIX}{correlation_id}"


def _redemption(body: dict[str, Any]) -> DwRedemption:
    status = body.get("status") or {}
    note = body.get("note")
    correlation = None
    if isinstance(note, str) and note.startswith(_NOTE_PREFIX):
        named = note.removeprefix(_NOTE_PREFIX)
        with contextlib.suppress(ValueError):  # a note of the customer's own, not ours
            correlation = str(uuid.UUID(named))
    return DwRedemption(
        redemption_id=str(body["id"]),
        status_id=int(status.get("id", -1)),
        status_message=str(status.get("message", "")),
        correlation_id=correlation,
    )


def _headers(idempotency_key: str, correlation_id: str | None = None) -> dict[str, str]:
    headers = {"Idempotency-Key": idempotency_key}
    if correlation_id:
        headers["X-Correlation-ID"] = correlation_id
    return headers


def _receipt(data: dict[str, Any]) -> TransferReceipt:
    return TransferReceipt(
        success=bool(data["success"]),
        reference_number=str(data["referenceNumber"]),
        status_text=str(data.get("statusText", "")),
    )


def _status_report(data: dict[str, Any]) -> TransferStatusReport:
    return TransferStatusReport(reference_number=data["referenceNumber"], status=data["status"])
