"""`withdraw-service demo`: one withdrawal through the public API, as a client would do it."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from withdraw_service.api.auth import token_for
from withdraw_service.domain.statuses import WithdrawStatus
from withdraw_service.settings import Settings


def run_demo(settings: Settings, api_url: str, user_id: str, amount: str, product: str) -> int:
    token = token_for(settings, user_id, ["customer"], 600)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=60) as http:
        step("1. initiate", f"POST {api_url}/withdraw/initiate amount={amount}")
        started = http.post(
            f"{api_url}/withdraw/initiate",
            json={"amount": amount, "productNumber": product, "frontendSimaReady": False},
            headers=headers,
        )
        show(started)
        if started.status_code not in (200, 202):
            return 1
        data = started.json()["data"]
        workflow_id, authorisation_id = data["workflowId"], data["authorisationId"]
        step("2. read the OTP", f"GET {settings.sim_url}/_sim/otp/{authorisation_id}")
        otp = http.get(f"{settings.sim_url}/_sim/otp/{authorisation_id}").json()["otp"]
        print("   (the code the customer would receive by SMS)")
        step("3. finalize", f"PUT {api_url}/withdraw/finalize/{workflow_id}")
        finalized = http.put(
            f"{api_url}/withdraw/finalize/{workflow_id}", json={"otpCode": otp}, headers=headers
        )
        show(finalized)
        status = finalized.json().get("data", {}).get("status")
        while status is not None and not WithdrawStatus(status).is_terminal:
            time.sleep(1)
            polled = http.get(f"{api_url}/withdraw/status/{workflow_id}", headers=headers)
            if polled.status_code != 200:
                show(polled)
                return 1
            status = polled.json()["data"]["status"]
            print(f"   status: {status}")
        step("4. ledger of the simulated services", f"GET {settings.sim_url}/_sim/ledger")
        ledger = http.get(f"{settings.sim_url}/_sim/ledger").json()
        correlation_id = data["correlationId"]
        print(json.dumps(_for(ledger, correlation_id), indent=2))
        return 0 if status == WithdrawStatus.COMPLETED else 1


def _for(ledger: dict[str, Any], correlation_id: str) -> dict[str, Any]:
    return {
        key: [row for row in ledger.get(key, []) if row.get("correlationId") == correlation_id]
        for key in ("transfers", "reversals", "redemptions")
    }


def step(title: str, detail: str) -> None:
    print(f"\n{title}\n   {detail}")


def show(response: httpx.Response) -> None:
    print(f"   -> {response.status_code}")
    print("   " + json.dumps(response.json(), indent=2).replace("\n", "\n   "))
