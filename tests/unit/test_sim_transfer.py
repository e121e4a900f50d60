"""The simulated Session, Flex, Transfer Service and Transfer Checker, driven over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from withdraw_service.sim import SimConfig, create_sim_app


def _client(config: SimConfig) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_sim_app(config))
    return httpx.AsyncClient(transport=transport, base_url="http://sim")


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(SimConfig(state_file=tmp_path / "sim.json")) as client:
        yield client


async def initiate(
    sim: httpx.AsyncClient,
    *,
    user_id: str = "user-1001",
    amount: object = "150.00",
    key: str | None = None,
    correlation_id: str | None = None,
) -> httpx.Response:
    body = {
        "userId": user_id,
        "amount": amount,
        "currency": "USD",
        "correlationId": correlation_id or str(uuid.uuid4()),
        "productNumber": "PRD-1",
        "frontendSimaReady": False,
    }
    headers = {"Idempotency-Key": key or str(uuid.uuid4())}
    return await sim.post("/transfer/withdraw/initiate", json=body, headers=headers)


async def finalize(
    sim: httpx.AsyncClient, authorisation_id: str, otp: str, *, key: str | None = None
) -> httpx.Response:
    return await sim.put(
        f"/transfer/withdraw/finalize/{authorisation_id}",
        json={"otpCode": otp, "simaStan": None},
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


async def otp_of(sim: httpx.AsyncClient, authorisation_id: str) -> str:
    response = await sim.get(f"/_sim/otp/{authorisation_id}")
    assert response.status_code == 200
    code: str = response.json()["otp"]
    return code


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def ledger(sim: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await sim.get("/_sim/ledger")).json()
    return body


async def test_session_and_flex_know_the_demo_users(sim: httpx.AsyncClient) -> None:
    user = (await sim.get("/session/users/user-1001")).json()
    assert user == {
        "userId": "user-1001",
        "pin": "P1001",
        "phone": "+15551001",
        "cif": "CIF-P1001",
        "dwAccountNo": "DWAA001001",
        "dwAccountId": "acc-1001",
        "blocked": False,
    }
    assert (await sim.get("/session/users/user-blocked")).json()["blocked"] is True
    nobroker = (await sim.get("/session/users/user-nobroker")).json()
    assert nobroker["dwAccountNo"] is None and nobroker["dwAccountId"] is None
    missing = await sim.get("/session/users/nobody")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "USER_NOT_FOUND"

    customer = (await sim.get("/flex/customers/P1002")).json()
    assert customer["pin"] == "P1002" and customer["name"] == "Alan Turing"
    assert customer["address"]
    unknown = await sim.get("/flex/customers/P0000")
    assert unknown.status_code == 404 and unknown.json()["errorCode"] == "CUSTOMER_NOT_FOUND"


async def test_initiate_sends_otp_and_finalize_debits(sim: httpx.AsyncClient) -> None:
    response = await initiate(sim, correlation_id="cid-1")
    assert response.status_code == 200
    data = response.json()["data"]
    uuid.UUID(data["authorisationId"])
    assert data["referenceNumber"].startswith("TRF") and len(data["referenceNumber"]) == 13
    assert data["referenceNumber"][3:].isdigit()
    assert data["expiryTime"].endswith("Z")
    code = await otp_of(sim, data["authorisationId"])
    assert len(code) == 6 and code.isdigit()
    assert code not in response.text

    [transfer] = (await ledger(sim))["transfers"]
    assert transfer == {
        "referenceNumber": data["referenceNumber"],
        "authorisationId": data["authorisationId"],
        "correlationId": "cid-1",
        "amount": "150.00",
        "status": "INITIATED",
    }

    done = await finalize(sim, data["authorisationId"], code)
    assert done.status_code == 200
    assert done.json() == {
        "data": {
            "success": True,
            "referenceNumber": data["referenceNumber"],
            "statusText": "SUCCESS",
        }
    }
    assert (await ledger(sim))["transfers"][0]["status"] == "SUCCESS"

    # A new finalize of a debited transfer answers the same success and debits nothing more.
    again = await finalize(sim, data["authorisationId"], "000000")
    assert again.status_code == 200 and again.json() == done.json()


async def test_initiate_needs_a_key_and_a_valid_body(sim: httpx.AsyncClient) -> None:
    body = {"userId": "user-1001", "amount": "1.00", "currency": "USD"}
    no_key = await sim.post("/transfer/withdraw/initiate", json=body)
    assert no_key.status_code == 400
    assert no_key.json()["errorCode"] == "IDEMPOTENCY_KEY_REQUIRED"
    for amount in ("0", "-5.00", "1.005", "abc", "1e400", "NaN", True, None):
        bad = await initiate(sim, amount=amount)
        assert bad.status_code == 422, amount
        assert bad.json()["errorCode"] == "VALIDATION_ERROR"
    assert (await initiate(sim, amount=12.5)).status_code == 200
    unknown = await initiate(sim, user_id="nobody")
    assert unknown.status_code == 404 and unknown.json()["errorCode"] == "USER_NOT_FOUND"
    state = await ledger(sim)
    assert [t["amount"] for t in state["transfers"]] == ["12.50"]
    assert state["calls"]["transfer.initiate"] == 11


async def test_initiate_repeat_with_same_key_creates_nothing(sim: httpx.AsyncClient) -> None:
    first = await initiate(sim, key="init-key-1")
    second = await initiate(sim, key="init-key-1")
    assert second.status_code == 200 and second.text == first.text
    state = await ledger(sim)
    assert len(state["transfers"]) == 1
    assert state["calls"]["transfer.initiate"] == 2


async def test_finalize_repeat_with_same_key_replays_without_rejudging(
    sim: httpx.AsyncClient,
) -> None:
    data = (await initiate(sim)).json()["data"]
    code = await otp_of(sim, data["authorisationId"])
    first = await finalize(sim, data["authorisationId"], wrong(code), key="fin-key-1")
    assert first.status_code == 422 and first.json()["attemptsRemaining"] == 2
    # Same key, even with the right code now: the first answer, and no attempt used.
    replay = await finalize(sim, data["authorisationId"], code, key="fin-key-1")
    assert replay.status_code == 422 and replay.text == first.text
    ok = await finalize(sim, data["authorisationId"], code, key="fin-key-2")
    assert ok.status_code == 200
    assert (await finalize(sim, data["authorisationId"], code, key="fin-key-2")).text == ok.text
    assert (await ledger(sim))["transfers"][0]["status"] == "SUCCESS"


async def test_wrong_otps_count_down_then_expire(sim: httpx.AsyncClient) -> None:
    data = (await initiate(sim)).json()["data"]
    code = await otp_of(sim, data["authorisationId"])
    for remaining in (2, 1):
        response = await finalize(sim, data["authorisationId"], wrong(code))
        assert response.status_code == 422
        assert response.json() == {
            "errorCode": "OTP_INVALID",
            "message": "the OTP code is wrong",
            "attemptsRemaining": remaining,
        }
    last = await finalize(sim, data["authorisationId"], wrong(code))
    assert last.status_code == 410 and last.json()["errorCode"] == "AUTHORISATION_EXPIRED"
    assert (await ledger(sim))["transfers"][0]["status"] == "FAILED"
    late = await finalize(sim, data["authorisationId"], code)
    assert late.status_code == 409 and late.json()["errorCode"] == "TRANSFER_NOT_PENDING"


async def test_finalize_after_expiry_fails_the_transfer(tmp_path: Path) -> None:
    async with _client(SimConfig(state_file=None, otp_ttl_seconds=0)) as sim:
        data = (await initiate(sim)).json()["data"]
        code = await otp_of(sim, data["authorisationId"])
        response = await finalize(sim, data["authorisationId"], code)
        assert response.status_code == 410
        assert response.json()["errorCode"] == "AUTHORISATION_EXPIRED"
        assert (await ledger(sim))["transfers"][0]["status"] == "FAILED"


async def test_finalize_of_unknown_authorisation(sim: httpx.AsyncClient) -> None:
    response = await finalize(sim, str(uuid.uuid4()), "123456")
    assert response.status_code == 404
    no_key = await sim.put("/transfer/withdraw/finalize/x", json={"otpCode": "1"})
    assert no_key.status_code == 400


async def reverse(
    sim: httpx.AsyncClient, reference: str, *, key: str | None = None
) -> httpx.Response:
    return await sim.post(
        "/transfer/withdraw/reverse",
        json={"referenceNumber": reference, "correlationId": "cid-r", "reason": "DW failed"},
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


async def test_reverse_gives_back_once(sim: httpx.AsyncClient) -> None:
    data = (await initiate(sim, amount="75.10")).json()["data"]
    reference = data["referenceNumber"]
    not_yet = await reverse(sim, reference)
    assert not_yet.status_code == 409 and not_yet.json()["errorCode"] == "NOT_REVERSIBLE"
    await finalize(sim, data["authorisationId"], await otp_of(sim, data["authorisationId"]))

    first = await reverse(sim, reference, key="rev-key-1")
    assert first.status_code == 200
    assert first.json() == {
        "data": {"success": True, "referenceNumber": reference, "statusText": "REVERSED"}
    }
    assert (await reverse(sim, reference, key="rev-key-1")).text == first.text
    assert (await reverse(sim, reference, key="rev-key-2")).json() == first.json()
    state = await ledger(sim)
    assert state["reversals"] == [
        {
            "referenceNumber": reference,
            "correlationId": "cid-r",
            "amount": "75.10",
            "status": "SUCCESS",
        }
    ]
    assert state["transfers"][0]["status"] == "REVERSED"
    assert state["calls"]["transfer.reverse"] == 4
    unknown = await reverse(sim, "TRF0000000000")
    assert unknown.status_code == 404 and unknown.json()["errorCode"] == "TRANSFER_NOT_FOUND"


async def test_checker_reports_by_reference_and_correlation(sim: httpx.AsyncClient) -> None:
    data = (await initiate(sim, correlation_id="cid-check")).json()["data"]
    by_ref = await sim.get(f"/transfer-checker/transfers/{data['referenceNumber']}")
    assert by_ref.status_code == 200
    assert by_ref.json() == {
        "data": {
            "referenceNumber": data["referenceNumber"],
            "correlationId": "cid-check",
            "status": "INITIATED",
            "amount": "150.00",
        }
    }
    await finalize(sim, data["authorisationId"], await otp_of(sim, data["authorisationId"]))
    by_cid = await sim.get("/transfer-checker/transfers", params={"correlationId": "cid-check"})
    assert by_cid.json()["data"]["status"] == "SUCCESS"
    missing = await sim.get("/transfer-checker/transfers/TRF0000000000")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "TRANSFER_NOT_FOUND"
    none = await sim.get("/transfer-checker/transfers", params={"correlationId": "nope"})
    assert none.status_code == 404
    assert (await ledger(sim))["calls"]["transfer-checker.status"] == 4


async def test_correlation_id_header_is_recorded_when_the_body_has_none(
    sim: httpx.AsyncClient,
) -> None:
    body = {"userId": "user-1002", "amount": "5.00", "currency": "USD", "productNumber": "P"}
    headers = {"Idempotency-Key": "k-header-cid", "X-Correlation-ID": "cid-from-header"}
    response = await sim.post("/transfer/withdraw/initiate", json=body, headers=headers)
    assert response.status_code == 200
    assert (await ledger(sim))["transfers"][0]["correlationId"] == "cid-from-header"
