"""The simulator's control surface (`/_sim`) and its state surviving a restart."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from withdraw_service.sim import SimConfig, create_sim_app
from withdraw_service.sim.store import SimStore


def _client(config: SimConfig) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_sim_app(config))
    return httpx.AsyncClient(transport=transport, base_url="http://sim")


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(SimConfig(state_file=tmp_path / "sim.json")) as client:
        yield client


async def ledger(sim: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await sim.get("/_sim/ledger")).json()
    return body


async def transfer_done(sim: httpx.AsyncClient, user_id: str = "user-1001") -> dict[str, Any]:
    body = {"userId": user_id, "amount": "150.00", "currency": "USD", "correlationId": "cid-p"}
    started = await sim.post(
        "/transfer/withdraw/initiate", json=body, headers={"Idempotency-Key": "persist-1"}
    )
    data: dict[str, Any] = started.json()["data"]
    code = (await sim.get(f"/_sim/otp/{data['authorisationId']}")).json()["otp"]
    done = await sim.put(
        f"/transfer/withdraw/finalize/{data['authorisationId']}",
        json={"otpCode": code},
        headers={"Idempotency-Key": "persist-2"},
    )
    assert done.status_code == 200
    return data


async def test_health(sim: httpx.AsyncClient) -> None:
    assert (await sim.get("/healthz")).json() == {"status": "ok"}


async def test_fresh_ledger_has_the_demo_accounts_and_zero_counters(
    sim: httpx.AsyncClient,
) -> None:
    state = await ledger(sim)
    assert state["transfers"] == state["reversals"] == state["redemptions"] == []
    assert state["accounts"] == [
        {"dwAccountNo": "DWAA001001", "cashBalance": "10000.00"},
        {"dwAccountNo": "DWAA001002", "cashBalance": "10000.00"},
        {"dwAccountNo": "DWAA001003", "cashBalance": "10000.00"},
        {"dwAccountNo": "DWAA009001", "cashBalance": "10000.00"},
    ]
    assert set(state["calls"]) >= {
        "session.user",
        "flex.customer",
        "transfer.initiate",
        "transfer.finalize",
        "transfer.reverse",
        "transfer-checker.status",
        "drivewealth.token",
        "drivewealth.redemption",
        "drivewealth.balance",
    }
    assert set(state["calls"].values()) == {0}


async def test_reset_clears_everything_and_reseeds(sim: httpx.AsyncClient) -> None:
    await transfer_done(sim)
    await sim.post("/_sim/users", json={"userId": "u-x", "pin": "PX1", "customerName": "X"})
    await sim.post(
        "/_sim/faults", json={"service": "flex", "operation": "customer", "mode": "error_500"}
    )
    response = await sim.post("/_sim/reset")
    assert response.status_code == 200
    assert set(response.json()["users"]) == {
        "user-1001",
        "user-1002",
        "user-1003",
        "user-blocked",
        "user-nobroker",
    }
    state = await ledger(sim)
    assert state["transfers"] == [] and set(state["calls"].values()) == {0}
    assert (await sim.get("/_sim/faults")).json() == {"faults": []}
    assert (await sim.get("/session/users/u-x")).status_code == 404


async def test_users_are_created_and_replaced(sim: httpx.AsyncClient) -> None:
    spec = {
        "userId": "user-2001",
        "pin": "P2001",
        "customerName": "Katherine Johnson",
        "dwAccountNo": "DWAA002001",
        "dwAccountId": "acc-2001",
        "cashBalance": "250.50",
        "blocked": False,
    }
    created = await sim.post("/_sim/users", json=spec)
    assert created.status_code == 200
    assert created.json() == {
        "userId": "user-2001",
        "pin": "P2001",
        "customerName": "Katherine Johnson",
        "phone": "+15552001",
        "cif": "CIF-P2001",
        "dwAccountNo": "DWAA002001",
        "dwAccountId": "acc-2001",
        "cashBalance": "250.50",
        "blocked": False,
    }
    session = (await sim.get("/session/users/user-2001")).json()
    assert session["cif"] == "CIF-P2001" and session["dwAccountId"] == "acc-2001"
    assert (await sim.get("/flex/customers/P2001")).json()["name"] == "Katherine Johnson"

    replaced = await sim.post("/_sim/users", json={**spec, "cashBalance": 10, "blocked": True})
    assert replaced.json()["cashBalance"] == "10.00" and replaced.json()["blocked"] is True
    accounts = (await ledger(sim))["accounts"]
    assert {"dwAccountNo": "DWAA002001", "cashBalance": "10.00"} in accounts
    assert (await sim.get("/session/users/user-2001")).json()["blocked"] is True

    minimal = await sim.post(
        "/_sim/users", json={"userId": "u-min", "pin": "PM", "customerName": "M"}
    )
    assert minimal.json()["cashBalance"] == "10000.00"
    assert minimal.json()["dwAccountNo"] is None


async def test_bad_users_are_refused(sim: httpx.AsyncClient) -> None:
    base = {"userId": "u-bad", "pin": "PB", "customerName": "B"}
    for change in ({"cashBalance": "1.234"}, {"cashBalance": "-1"}, {"pin": ""}, {"x": 1}):
        response = await sim.post("/_sim/users", json={**base, **change})
        assert response.status_code == 422, change
        assert response.json()["code"] == "VALIDATION_ERROR"
    clash = await sim.post("/_sim/users", json={**base, "dwAccountNo": "DWAA001001"})
    assert clash.status_code == 409 and "user-1001" in clash.json()["detail"]


async def test_unknown_otp_is_a_problem(sim: httpx.AsyncClient) -> None:
    response = await sim.get(f"/_sim/otp/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 404


async def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "sim.json"
    config = SimConfig(state_file=path)
    async with _client(config) as first:
        data = await transfer_done(first)
        await first.post(
            "/_sim/faults",
            json={"service": "session", "operation": "user", "mode": "error_500", "times": 5},
        )
        before = await ledger(first)
        otp = (await first.get(f"/_sim/otp/{data['authorisationId']}")).json()
    assert SimStore(config).state.transfers  # on disk: read back as a new process would

    async with _client(config) as second:
        assert await ledger(second) == before
        assert before["transfers"][0]["status"] == "SUCCESS"
        assert (await second.get(f"/_sim/otp/{data['authorisationId']}")).json() == otp
        assert (await second.get("/_sim/faults")).json()["faults"][0]["times"] == 5
        # Idempotency records survive too: the repeat creates no second transfer.
        body = {"userId": "user-1001", "amount": "150.00", "currency": "USD"}
        repeat = await second.post(
            "/transfer/withdraw/initiate", json=body, headers={"Idempotency-Key": "persist-1"}
        )
        assert repeat.json()["data"] == data
        assert len((await ledger(second))["transfers"]) == 1


async def test_in_memory_sim_writes_no_file(tmp_path: Path) -> None:
    async with _client(SimConfig(state_file=None)) as sim:
        await transfer_done(sim)
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_state_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sim.json"
    path.write_text('{"users": 5}')
    with pytest.raises(RuntimeError, match="not valid"):
        create_sim_app(SimConfig(state_file=path))
