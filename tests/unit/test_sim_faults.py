"""Fault injection in the simulated services: every mode, counting down, matching."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from withdraw_service.sim import SimConfig, create_sim_app

DW = "/drivewealth/back-office"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # A long hang: a test that forgot delayMs would visibly stall instead of passing.
    app = create_sim_app(SimConfig(state_file=tmp_path / "sim.json", hang_seconds=30))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        yield client


async def add_fault(sim: httpx.AsyncClient, **spec: Any) -> str:
    response = await sim.post("/_sim/faults", json=spec)
    assert response.status_code == 200, response.text
    fault_id: str = response.json()["id"]
    return fault_id


async def initiate(
    sim: httpx.AsyncClient, user_id: str = "user-1001", key: str | None = None
) -> httpx.Response:
    body = {"userId": user_id, "amount": "10.00", "currency": "USD", "correlationId": "c"}
    headers = {"Idempotency-Key": key or str(uuid.uuid4())}
    return await sim.post("/transfer/withdraw/initiate", json=body, headers=headers)


async def initiated(sim: httpx.AsyncClient, user_id: str = "user-1001") -> dict[str, Any]:
    response = await initiate(sim, user_id)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()["data"]
    return data


async def finalize(sim: httpx.AsyncClient, data: dict[str, Any]) -> httpx.Response:
    code = (await sim.get(f"/_sim/otp/{data['authorisationId']}")).json()["otp"]
    return await sim.put(
        f"/transfer/withdraw/finalize/{data['authorisationId']}",
        json={"otpCode": code, "simaStan": None},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )


async def ledger(sim: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await sim.get("/_sim/ledger")).json()
    return body


async def test_error_500_counts_down_and_is_removed(sim: httpx.AsyncClient) -> None:
    await add_fault(sim, service="transfer", operation="initiate", mode="error_500", times=2)
    for _ in range(2):
        response = await initiate(sim)
        assert response.status_code == 500 and response.json()["errorCode"] == "E500"
    assert (await sim.get("/_sim/faults")).json() == {"faults": []}
    assert (await initiate(sim)).status_code == 200
    state = await ledger(sim)
    assert len(state["transfers"]) == 1
    assert state["calls"]["transfer.initiate"] == 3


async def test_fault_matches_only_its_user(sim: httpx.AsyncClient) -> None:
    await add_fault(
        sim, service="session", operation="user", mode="reject", match={"userId": "user-1002"}
    )
    assert (await sim.get("/session/users/user-1001")).status_code == 200
    refused = await sim.get("/session/users/user-1002")
    assert refused.status_code == 422 and refused.json()["errorCode"] == "ACCOUNT_BLOCKED"
    assert (await sim.get("/session/users/user-1002")).status_code == 200


async def test_fault_matches_by_account_for_transfer_calls(sim: httpx.AsyncClient) -> None:
    await add_fault(
        sim,
        service="transfer",
        operation="finalize",
        mode="reject",
        match={"userId": None, "accountNo": "DWAA001003"},
    )
    mine = await initiated(sim, "user-1003")
    other = await initiated(sim, "user-1001")
    assert (await finalize(sim, other)).status_code == 200
    rejected = await finalize(sim, mine)
    assert rejected.status_code == 422 and rejected.json()["errorCode"] == "TRANSFER_REJECTED"
    statuses = [t["status"] for t in (await ledger(sim))["transfers"]]
    assert statuses == ["FAILED", "SUCCESS"]


async def test_probability_one_always_hits_and_stays(sim: httpx.AsyncClient) -> None:
    await add_fault(sim, service="flex", operation="customer", mode="error_500", probability=1.0)
    for _ in range(3):
        assert (await sim.get("/flex/customers/P1001")).status_code == 500
    assert len((await sim.get("/_sim/faults")).json()["faults"]) == 1
    assert (await sim.delete("/_sim/faults")).json() == {"removed": 1}
    assert (await sim.get("/flex/customers/P1001")).status_code == 200


async def test_probability_zero_never_hits(sim: httpx.AsyncClient) -> None:
    await add_fault(sim, service="flex", operation="customer", mode="error_500", probability=0.0)
    for _ in range(3):
        assert (await sim.get("/flex/customers/P1001")).status_code == 200
    assert len((await sim.get("/_sim/faults")).json()["faults"]) == 1


async def test_timeout_hangs_without_applying(sim: httpx.AsyncClient) -> None:
    await add_fault(sim, service="transfer", operation="initiate", mode="timeout", delayMs=50)
    started = time.monotonic()
    response = await initiate(sim, key="timeout-key")
    assert time.monotonic() - started >= 0.05
    assert response.status_code == 504
    assert (await ledger(sim))["transfers"] == []
    # The retry under the same key is judged afresh: nothing was recorded.
    retry = await initiate(sim, key="timeout-key")
    assert retry.status_code == 200
    assert len((await ledger(sim))["transfers"]) == 1


async def test_timeout_after_commit_applies_then_hangs(sim: httpx.AsyncClient) -> None:
    data = await initiated(sim)
    await add_fault(
        sim, service="transfer", operation="finalize", mode="timeout_after_commit", delayMs=50
    )
    code = (await sim.get(f"/_sim/otp/{data['authorisationId']}")).json()["otp"]
    headers = {"Idempotency-Key": "finalize-tac"}
    url = f"/transfer/withdraw/finalize/{data['authorisationId']}"
    started = time.monotonic()
    response = await sim.put(url, json={"otpCode": code}, headers=headers)
    assert time.monotonic() - started >= 0.05
    assert response.status_code == 504
    assert (await ledger(sim))["transfers"][0]["status"] == "SUCCESS"
    retry = await sim.put(url, json={"otpCode": code}, headers=headers)
    assert retry.status_code == 200 and retry.json()["data"]["success"] is True
    checked = await sim.get(f"/transfer-checker/transfers/{data['referenceNumber']}")
    assert checked.json()["data"]["status"] == "SUCCESS"


async def test_latency_delays_then_answers(sim: httpx.AsyncClient) -> None:
    await add_fault(sim, service="session", operation="user", mode="latency", delayMs=50)
    started = time.monotonic()
    response = await sim.get("/session/users/user-1001")
    assert time.monotonic() - started >= 0.05
    assert response.status_code == 200


async def test_unauthorized_401(sim: httpx.AsyncClient) -> None:
    await add_fault(sim, service="drivewealth", operation="balance", mode="unauthorized_401")
    response = await sim.get(f"{DW}/accounts/acc-1001/summary/money")
    assert response.status_code == 401
    assert response.json() == {"errorCode": "L075", "message": "unauthorized"}


async def test_reject_initiate_is_insufficient_funds(sim: httpx.AsyncClient) -> None:
    await add_fault(sim, service="transfer", operation="initiate", mode="reject")
    response = await initiate(sim)
    assert response.status_code == 422 and response.json()["errorCode"] == "INSUFFICIENT_FUNDS"
    assert (await ledger(sim))["transfers"] == []


async def test_reject_reverse_records_a_failed_reversal(sim: httpx.AsyncClient) -> None:
    data = await initiated(sim)
    await finalize(sim, data)
    await add_fault(sim, service="transfer", operation="reverse", mode="reject")
    body = {"referenceNumber": data["referenceNumber"], "correlationId": "c", "reason": "x"}
    refused = await sim.post(
        "/transfer/withdraw/reverse", json=body, headers={"Idempotency-Key": "rev-1"}
    )
    assert refused.status_code == 422 and refused.json()["errorCode"] == "REVERSAL_REJECTED"
    done = await sim.post(
        "/transfer/withdraw/reverse", json=body, headers={"Idempotency-Key": "rev-2"}
    )
    assert done.status_code == 200
    state = await ledger(sim)
    assert [r["status"] for r in state["reversals"]] == ["FAILED", "SUCCESS"]
    assert state["transfers"][0]["status"] == "REVERSED"


async def test_reject_redemption_is_y075(sim: httpx.AsyncClient) -> None:
    creds = {"clientID": "sim-dw-client", "clientSecret": "sim-dw-secret"}
    tokens = await sim.post(
        f"{DW}/auth/tokens", json=creds, headers={"dw-client-app-key": "sim-dw-app-key"}
    )
    await add_fault(sim, service="drivewealth", operation="redemption", mode="reject")
    body = {"accountNo": "DWAA001001", "amount": "1.00", "currency": "USD", "type": "ACH"}
    headers = {
        "Authorization": f"Bearer {tokens.json()['access_token']}",
        "Idempotency-Key": "redemption-reject-1",
    }
    response = await sim.post(f"{DW}/funding/redemptions", json=body, headers=headers)
    assert response.status_code == 422 and response.json()["errorCode"] == "Y075"
    assert (await ledger(sim))["redemptions"] == []


async def test_fail_on_finalize_ends_the_transfer_failed(sim: httpx.AsyncClient) -> None:
    data = await initiated(sim)
    await add_fault(sim, service="transfer", operation="finalize", mode="fail")
    response = await finalize(sim, data)
    assert response.status_code == 200
    assert response.json()["data"] == {
        "success": False,
        "referenceNumber": data["referenceNumber"],
        "statusText": "FAILED",
    }
    assert (await ledger(sim))["transfers"][0]["status"] == "FAILED"


async def test_checker_pending_and_fail(sim: httpx.AsyncClient) -> None:
    data = await initiated(sim)
    url = f"/transfer-checker/transfers/{data['referenceNumber']}"
    await add_fault(sim, service="transfer-checker", operation="status", mode="pending")
    assert (await sim.get(url)).json()["data"]["status"] == "PENDING"
    assert (await sim.get(url)).json()["data"]["status"] == "INITIATED"
    await add_fault(sim, service="transfer-checker", operation="status", mode="fail")
    assert (await sim.get(url)).json()["data"]["status"] == "FAILED"
    assert (await ledger(sim))["transfers"][0]["status"] == "FAILED"


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"service": "bank", "operation": "user", "mode": "error_500"}, "service"),
        ({"service": "session", "operation": "user", "mode": "explode"}, "mode"),
        ({"service": "session", "operation": "initiate", "mode": "error_500"}, "no operation"),
        ({"service": "session", "operation": "user", "mode": "pending"}, "does not apply"),
        (
            {"service": "transfer", "operation": "initiate", "mode": "accept_pending"},
            "does not apply",
        ),
        (
            {"service": "transfer-checker", "operation": "status", "mode": "in_progress_409"},
            "does not apply",
        ),
        ({"service": "session", "operation": "user", "mode": "latency"}, "delayMs"),
        ({"service": "flex", "operation": "customer", "mode": "error_500", "times": 0}, "times"),
        (
            {"service": "flex", "operation": "customer", "mode": "reject", "probability": 2},
            "probability",
        ),
        ({"service": "flex", "operation": "customer", "mode": "reject", "delay": 5}, "delay"),
    ],
)
async def test_bad_fault_bodies_are_refused(
    sim: httpx.AsyncClient, spec: dict[str, Any], fragment: str
) -> None:
    response = await sim.post("/_sim/faults", json=spec)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and fragment in body["detail"]
    assert (await sim.get("/_sim/faults")).json() == {"faults": []}


async def test_faults_are_listed_as_posted(sim: httpx.AsyncClient) -> None:
    fault_id = await add_fault(
        sim,
        service="drivewealth",
        operation="redemption",
        mode="timeout",
        times=3,
        delayMs=10,
        match={"accountNo": "DWAA001001"},
    )
    assert (await sim.get("/_sim/faults")).json()["faults"] == [
        {
            "id": fault_id,
            "service": "drivewealth",
            "operation": "redemption",
            "mode": "timeout",
            "times": 3,
            "probability": None,
            "delayMs": 10,
            "match": {"userId": None, "accountNo": "DWAA001001"},
        }
    ]


async def dw_token(sim: httpx.AsyncClient) -> str:
    response = await sim.post(
        f"{DW}/auth/tokens",
        json={"clientID": "sim-dw-client", "clientSecret": "sim-dw-secret"},
        headers={"dw-client-app-key": "sim-dw-app-key"},
    )
    value: str = response.json()["access_token"]
    return value


async def dw_redeem(sim: httpx.AsyncClient, access: str, key: str) -> httpx.Response:
    body = {"accountNo": "DWAA001001", "amount": "25.00", "currency": "USD", "type": "ACH"}
    headers = {"Authorization": f"Bearer {access}", "Idempotency-Key": key}
    return await sim.post(f"{DW}/funding/redemptions", json=body, headers=headers)


async def test_in_progress_409_applies_nothing(sim: httpx.AsyncClient) -> None:
    access = await dw_token(sim)
    await add_fault(sim, service="drivewealth", operation="redemption", mode="in_progress_409")
    key = "in-progress-key-0001"
    busy = await dw_redeem(sim, access, key)
    assert busy.status_code == 409 and busy.json()["errorCode"] == "IDEMPOTENCY_IN_PROGRESS"
    assert (await ledger(sim))["redemptions"] == []
    assert (await dw_redeem(sim, access, key)).status_code == 200  # the key was not used up
    await add_fault(sim, service="transfer", operation="initiate", mode="in_progress_409")
    assert (await initiate(sim)).status_code == 409
    assert (await ledger(sim))["transfers"] == []


async def test_the_same_key_while_a_call_is_in_progress_answers_409(
    sim: httpx.AsyncClient,
) -> None:
    """A call with a key is in progress until it is decided: a client that gave up on it and
    retries meets 409, as at the real services, and nothing is applied twice."""
    access = await dw_token(sim)
    await add_fault(sim, service="drivewealth", operation="redemption", mode="latency", delayMs=300)
    key = "concurrent-key-0001"
    slow = asyncio.create_task(dw_redeem(sim, access, key))
    await asyncio.sleep(0.1)
    await add_fault(sim, service="drivewealth", operation="redemption", mode="reject")
    meanwhile = await dw_redeem(sim, access, key)
    assert meanwhile.status_code == 409
    assert meanwhile.json()["errorCode"] == "IDEMPOTENCY_IN_PROGRESS"
    refused = await dw_redeem(sim, access, "concurrent-key-0003")  # the 409 took no fault
    assert refused.status_code == 422 and refused.json()["errorCode"] == "Y075"
    other_key = await dw_redeem(sim, access, "concurrent-key-0002")  # not held up by it
    assert other_key.status_code == 200 and not slow.done()
    first = await slow
    assert first.status_code == 200
    after = await dw_redeem(sim, access, key)
    assert after.text == first.text
    assert len((await ledger(sim))["redemptions"]) == 2


async def test_a_hang_without_applying_holds_no_key(sim: httpx.AsyncClient) -> None:
    """`timeout` is a request lost on its way: the service never works on it."""
    await add_fault(sim, service="transfer", operation="initiate", mode="timeout", delayMs=200)
    hung = asyncio.create_task(initiate(sim, key="hang-key"))
    await asyncio.sleep(0.05)
    retried = await initiate(sim, key="hang-key")
    assert retried.status_code == 200
    assert (await hung).status_code == 504
    assert (await initiate(sim, key="hang-key")).text == retried.text
    assert len((await ledger(sim))["transfers"]) == 1


async def test_status_reads_of_redemptions_have_their_own_faults(sim: httpx.AsyncClient) -> None:
    access = await dw_token(sim)
    created = (await dw_redeem(sim, access, "status-read-key-0001")).json()
    await add_fault(sim, service="drivewealth", operation="redemption_status", mode="error_500")
    auth = {"Authorization": f"Bearer {access}"}
    path = f"{DW}/funding/redemptions/{created['id']}"
    assert (await sim.get(path, headers=auth)).status_code == 500
    assert (await sim.get(path, headers=auth)).status_code == 200
