"""A customer's withdrawal through the running stack, as docs/api.md describes it: token, initiate,
the OTP from the simulated inbox, finalize; then the ledger. Also: the stack survives a restart
with a withdrawal waiting for its OTP, and leaves no process behind when stopped."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import httpx

from tests.e2e.conftest import RunningStack


def token(stack: RunningStack, user_id: str, role: str = "customer") -> dict[str, str]:
    """`withdraw-service token USER_ID --role ROLE`, exactly as an operator would mint one."""
    minted = subprocess.run(
        [sys.executable, "-m", "withdraw_service.cli", "token", user_id, "--role", role],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    return {"Authorization": f"Bearer {minted.stdout.strip()}"}


def initiate(stack: RunningStack, headers: dict[str, str], amount: str) -> dict[str, str]:
    response = httpx.post(
        f"{stack.api_url}/withdraw/initiate",
        json={"amount": amount, "productNumber": "ACC-0001", "frontendSimaReady": False},
        headers=headers,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    data: dict[str, str] = response.json()["data"]
    assert data["status"] == "AWAITING_OTP"
    return data


def finalize(stack: RunningStack, headers: dict[str, str], data: dict[str, str]) -> httpx.Response:
    otp = httpx.get(f"{stack.sim_url}/_sim/otp/{data['authorisationId']}").json()["otp"]
    return httpx.put(
        f"{stack.api_url}/withdraw/finalize/{data['workflowId']}",
        json={"otpCode": otp},
        headers=headers,
        timeout=60,
    )


def ledger_for(stack: RunningStack, correlation_id: str) -> dict[str, list[dict[str, str]]]:
    ledger = httpx.get(f"{stack.sim_url}/_sim/ledger").json()
    return {
        key: [row for row in ledger[key] if row["correlationId"] == correlation_id]
        for key in ("transfers", "reversals", "redemptions")
    }


def test_a_customer_withdraws_through_the_public_api(running_stack: RunningStack) -> None:
    headers = token(running_stack, "user-1001")
    data = initiate(running_stack, headers, "150.00")

    finalized = finalize(running_stack, headers, data)
    assert finalized.status_code == 200, finalized.text
    receipt = finalized.json()["data"]
    assert receipt["status"] == "COMPLETED"

    status = httpx.get(
        f"{running_stack.api_url}/withdraw/status/{data['workflowId']}", headers=headers
    )
    assert status.json()["data"]["status"] == "COMPLETED"
    ledger = ledger_for(running_stack, data["correlationId"])
    assert [t["status"] for t in ledger["transfers"]] == ["SUCCESS"]
    assert [(r["id"], Decimal(r["amount"])) for r in ledger["redemptions"]] == [
        (receipt["dwRedemptionId"], Decimal("150.00"))
    ]
    assert ledger["reversals"] == []


def test_another_customer_cannot_see_the_withdrawal(running_stack: RunningStack) -> None:
    data = initiate(running_stack, token(running_stack, "user-1003"), "10.00")
    response = httpx.get(
        f"{running_stack.api_url}/withdraw/status/{data['workflowId']}",
        headers=token(running_stack, "user-1002"),
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "NOT_FOUND"


def test_a_withdrawal_awaiting_its_otp_survives_a_restart(running_stack: RunningStack) -> None:
    headers = token(running_stack, "user-1002")
    data = initiate(running_stack, headers, "42.10")

    running_stack.stop()
    assert running_stack.listening() == [], "a part of the stack outlived Ctrl-C"
    running_stack.start()

    finalized = finalize(running_stack, headers, data)
    assert finalized.status_code == 200, finalized.text
    assert finalized.json()["data"]["status"] == "COMPLETED"
    ledger = ledger_for(running_stack, data["correlationId"])
    assert [t["status"] for t in ledger["transfers"]] == ["SUCCESS"]
    assert [Decimal(r["amount"]) for r in ledger["redemptions"]] == [Decimal("42.10")]
