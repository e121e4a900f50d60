"""The simulated DriveWealth back office: tokens, redemptions, money summary."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from withdraw_service.sim import SimConfig, create_sim_app

DW = "/drivewealth/back-office"
CREDENTIALS = {"clientID": "sim-dw-client", "clientSecret": "sim-dw-secret"}
APP_KEY = {"dw-client-app-key": "sim-dw-app-key"}


def _client(config: SimConfig) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_sim_app(config))
    return httpx.AsyncClient(transport=transport, base_url="http://sim")


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(SimConfig(state_file=tmp_path / "sim.json")) as client:
        yield client


async def token(sim: httpx.AsyncClient) -> str:
    response = await sim.post(f"{DW}/auth/tokens", json=CREDENTIALS, headers=APP_KEY)
    assert response.status_code == 200
    value: str = response.json()["access_token"]
    return value


async def redeem(
    sim: httpx.AsyncClient,
    access_token: str,
    *,
    key: str = "redemption-key-0001",
    account_no: str = "DWAA001001",
    amount: object = 150.0,
    kind: str = "CASH_TRANSFER",
    currency: str = "USD",
    correlation_id: str = "cid-dw",
) -> httpx.Response:
    body = {
        "accountNo": account_no,
        "amount": amount,
        "currency": currency,
        "type": kind,
        "note": "withdrawal",
    }
    headers = {
        "Authorization": f"Bearer {access_token}",
        "Idempotency-Key": key,
        "X-Correlation-ID": correlation_id,
    }
    return await sim.post(f"{DW}/funding/redemptions", json=body, headers=headers)


async def ledger(sim: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await sim.get("/_sim/ledger")).json()
    return body


def cash_of(state: dict[str, Any], account_no: str) -> str:
    return str(next(a["cashBalance"] for a in state["accounts"] if a["dwAccountNo"] == account_no))


async def test_token_needs_the_right_credentials(sim: httpx.AsyncClient) -> None:
    response = await sim.post(f"{DW}/auth/tokens", json=CREDENTIALS, headers=APP_KEY)
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert len(body["access_token"]) >= 32
    for creds, headers in (
        ({**CREDENTIALS, "clientSecret": "nope"}, APP_KEY),
        (CREDENTIALS, {"dw-client-app-key": "nope"}),
        (CREDENTIALS, {}),
    ):
        bad = await sim.post(f"{DW}/auth/tokens", json=creds, headers=headers)
        assert bad.status_code == 401 and bad.json()["errorCode"] == "E032"
    assert (await ledger(sim))["calls"]["drivewealth.token"] == 4


async def test_redemption_debits_cash_once_per_key(sim: httpx.AsyncClient) -> None:
    access = await token(sim)
    first = await redeem(sim, access, amount="150.00")
    assert first.status_code == 200
    assert '"amount":150.00' in first.text  # a JSON number, exact to the cent
    body = first.json(parse_float=Decimal)
    assert body["id"].startswith("DWAA001001-")
    assert body["accountNo"] == "DWAA001001" and body["amount"] == Decimal("150.00")
    assert body["currency"] == "USD" and body["type"] == "CASH_TRANSFER"
    assert body["category"] == "REDEMPTION"
    assert body["status"] == {"id": 2, "message": "SUCCESSFUL"}
    assert body["created"].endswith("Z")

    repeat = await redeem(sim, access, amount="150.00")
    assert repeat.status_code == 200 and repeat.text == first.text
    state = await ledger(sim)
    assert state["redemptions"] == [
        {
            "id": body["id"],
            "accountNo": "DWAA001001",
            "correlationId": "cid-dw",
            "amount": "150.00",
            "status": "SUCCESSFUL",
        }
    ]
    assert cash_of(state, "DWAA001001") == "9850.00"
    assert state["calls"]["drivewealth.redemption"] == 2

    looked_up = await sim.get(
        f"{DW}/funding/redemptions/{body['id']}", headers={"Authorization": f"Bearer {access}"}
    )
    assert looked_up.status_code == 200 and looked_up.text == first.text
    missing = await sim.get(
        f"{DW}/funding/redemptions/nope", headers={"Authorization": f"Bearer {access}"}
    )
    assert missing.status_code == 404 and missing.json()["errorCode"] == "K404"


async def test_money_summary(sim: httpx.AsyncClient) -> None:
    access = await token(sim)
    await redeem(sim, access, amount=0.1)
    response = await sim.get(
        f"{DW}/accounts/acc-1001/summary/money", headers={"Authorization": f"Bearer {access}"}
    )
    assert response.status_code == 200
    body = json.loads(response.text, parse_float=Decimal)
    assert body == {
        "accountID": "acc-1001",
        "accountNo": "DWAA001001",
        "cash": {
            "cashAvailableForWithdrawal": Decimal("9999.90"),
            "cashBalance": Decimal("9999.90"),
        },
    }
    assert '"cashBalance":9999.90' in response.text
    unknown = await sim.get(
        f"{DW}/accounts/acc-0000/summary/money", headers={"Authorization": f"Bearer {access}"}
    )
    assert unknown.status_code == 404 and unknown.json()["errorCode"] == "K001"


async def test_bearer_token_is_required(sim: httpx.AsyncClient) -> None:
    for value in ("not-a-token", ""):
        response = await redeem(sim, value)
        assert response.status_code == 401
        assert response.json() == {"errorCode": "L075", "message": "unauthorized"}
    summary = await sim.get(f"{DW}/accounts/acc-1001/summary/money")
    assert summary.status_code == 401
    state = await ledger(sim)
    assert state["redemptions"] == [] and cash_of(state, "DWAA001001") == "10000.00"


async def test_expired_token_is_refused() -> None:
    async with _client(SimConfig(state_file=None, token_ttl_seconds=0)) as sim:
        response = await redeem(sim, await token(sim))
        assert response.status_code == 401 and response.json()["errorCode"] == "L075"


async def test_redemption_refusals(sim: httpx.AsyncClient) -> None:
    access = await token(sim)
    above = await redeem(sim, access, amount="10000.01", key="redemption-key-above")
    assert above.status_code == 422
    assert above.json() == {"errorCode": "Y075", "message": "amount above cash available"}
    for key in ("short-key", ""):
        no_key = await redeem(sim, access, key=key)
        assert no_key.status_code == 400 and no_key.json()["errorCode"] == "I050"
    bad_bodies: list[dict[str, Any]] = [
        {"kind": "REDEMPTION"},
        {"currency": "EUR"},
        {"amount": "-1.00"},
        {"amount": "1.001"},
        {"amount": "lots"},
    ]
    for index, change in enumerate(bad_bodies):
        bad = await redeem(sim, access, key=f"redemption-key-bad-{index}", **change)
        assert bad.status_code == 400, change
        assert bad.json()["errorCode"] == "E031"
    unknown = await redeem(sim, access, account_no="DWAA000000", key="redemption-key-unknown")
    assert unknown.status_code == 404 and unknown.json()["errorCode"] == "K001"
    state = await ledger(sim)
    assert state["redemptions"] == [] and cash_of(state, "DWAA001001") == "10000.00"
    # The whole balance can go, to the cent.
    everything = await redeem(sim, access, amount="10000.00", key="redemption-key-all-cash")
    assert everything.status_code == 200
    assert cash_of(await ledger(sim), "DWAA001001") == "0.00"
