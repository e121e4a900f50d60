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


async def add_fault(sim: httpx.AsyncClient, mode: str, **extra: Any) -> None:
    spec = {"service": "drivewealth", "operation": "redemption", "mode": mode, **extra}
    response = await sim.post("/_sim/faults", json=spec)
    assert response.status_code == 200, response.text


async def look_up(sim: httpx.AsyncClient, access: str, redemption_id: str) -> dict[str, Any]:
    response = await sim.get(
        f"{DW}/funding/redemptions/{redemption_id}", headers={"Authorization": f"Bearer {access}"}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def settle(sim: httpx.AsyncClient, redemption_id: str, status: str) -> httpx.Response:
    return await sim.post(
        f"/_sim/drivewealth/redemptions/{redemption_id}/settle", json={"status": status}
    )


async def test_accept_pending_holds_the_cash_until_settled(sim: httpx.AsyncClient) -> None:
    access = await token(sim)
    await add_fault(sim, "accept_pending", times=2)
    accepted = (await redeem(sim, access, key="redemption-key-pending-1")).json()
    assert accepted["status"] == {"id": 1, "message": "PENDING"}
    assert (await look_up(sim, access, accepted["id"]))["status"]["id"] == 1
    assert cash_of(await ledger(sim), "DWAA001001") == "9850.00"  # held while pending

    settled = await settle(sim, accepted["id"], "SUCCESSFUL")
    assert settled.status_code == 200 and settled.json()["status"]["id"] == 2
    assert (await look_up(sim, access, accepted["id"]))["status"]["message"] == "SUCCESSFUL"
    assert (await settle(sim, accepted["id"], "SUCCESSFUL")).status_code == 200  # repeat
    again = await settle(sim, accepted["id"], "FAILED")
    assert again.status_code == 409 and again.json()["code"] == "INVALID_STATE"

    # A pending one that fails gives the cash back.
    second = (await redeem(sim, access, key="redemption-key-pending-2")).json()
    assert cash_of(await ledger(sim), "DWAA001001") == "9700.00"
    assert (await settle(sim, second["id"], "REJECTED")).json()["status"]["id"] == 15
    state = await ledger(sim)
    assert cash_of(state, "DWAA001001") == "9850.00"
    assert [r["status"] for r in state["redemptions"]] == ["SUCCESSFUL", "REJECTED"]

    missing = await settle(sim, "nope", "SUCCESSFUL")
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    bad = await settle(sim, second["id"], "PENDING")
    assert bad.status_code == 422


async def test_fail_after_accept_fails_at_the_next_status_read(sim: httpx.AsyncClient) -> None:
    access = await token(sim)
    await add_fault(sim, "fail_after_accept")
    accepted = (await redeem(sim, access)).json()
    assert accepted["status"]["message"] == "PENDING"
    assert cash_of(await ledger(sim), "DWAA001001") == "9850.00"
    assert (await look_up(sim, access, accepted["id"]))["status"] == {"id": 3, "message": "FAILED"}
    state = await ledger(sim)
    assert state["redemptions"][0]["status"] == "FAILED"
    assert cash_of(state, "DWAA001001") == "10000.00"
    # The same key replays the first answer (as accepted), never redeems again.
    repeat = await redeem(sim, access)
    assert repeat.json()["id"] == accepted["id"] and len((await ledger(sim))["redemptions"]) == 1


async def test_an_accounts_redemptions_are_listed_as_they_stand(sim: httpx.AsyncClient) -> None:
    access = await token(sim)
    auth = {"Authorization": f"Bearer {access}"}
    first = (await redeem(sim, access, key="redemption-key-list-1")).json()
    await add_fault(sim, "fail_after_accept")
    second = (await redeem(sim, access, key="redemption-key-list-2")).json()
    await redeem(sim, access, key="redemption-key-list-3", account_no="DWAA001002")

    listed = await sim.get(f"{DW}/accounts/acc-1001/funding/redemptions", headers=auth)
    assert listed.status_code == 200
    assert [(r["id"], r["status"]["message"]) for r in listed.json()] == [
        (first["id"], "SUCCESSFUL"),
        (second["id"], "FAILED"),  # a status read, like the single look-up
    ]
    assert listed.json()[0]["note"] == "withdrawal"
    later = await sim.get(
        f"{DW}/accounts/acc-1001/funding/redemptions",
        params={"from": "2999-01-01T00:00:00"},
        headers=auth,
    )
    assert later.json() == []
    bad = await sim.get(
        f"{DW}/accounts/acc-1001/funding/redemptions", params={"to": "soon"}, headers=auth
    )
    assert bad.status_code == 400 and bad.json()["errorCode"] == "E031"
    unknown = await sim.get(f"{DW}/accounts/acc-0000/funding/redemptions", headers=auth)
    assert unknown.status_code == 404
    assert (await sim.get(f"{DW}/accounts/acc-1001/funding/redemptions")).status_code == 401
    assert (await ledger(sim))["calls"]["drivewealth.redemption_status"] == 5


async def test_revoked_tokens_answer_401_and_new_ones_work(sim: httpx.AsyncClient) -> None:
    old = await token(sim)
    revoked = await sim.post("/_sim/drivewealth/revoke-tokens")
    assert revoked.status_code == 200 and revoked.json() == {"revoked": 1}
    assert (await redeem(sim, old)).status_code == 401
    assert (await redeem(sim, await token(sim))).status_code == 200
