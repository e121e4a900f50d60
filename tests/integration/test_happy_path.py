"""One withdrawal through the real pieces: API, Temporal dev server, worker, simulators over
HTTP, and the database (SQLite and PostgreSQL). The three records must agree at the end."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.integration.conftest import Stack
from withdraw_service.domain.statuses import WithdrawStatus as S


async def test_withdrawal_completes_and_database_workflow_and_ledger_agree(stack: Stack) -> None:
    headers = stack.auth("user-1001")
    started = await stack.api.post(
        "/withdraw/initiate",
        json={"amount": "150.00", "productNumber": "ACC-1", "frontendSimaReady": False},
        headers=headers,
    )
    assert started.status_code == 200, started.text
    data = started.json()["data"]
    assert data["status"] == "AWAITING_OTP"
    workflow_id, correlation_id = data["workflowId"], data["correlationId"]

    otp = (await stack.sim.get(f"/_sim/otp/{data['authorisationId']}")).json()["otp"]
    finalized = await stack.api.put(
        f"/withdraw/finalize/{workflow_id}", json={"otpCode": otp}, headers=headers
    )
    assert finalized.status_code == 200, finalized.text
    receipt = finalized.json()["data"]
    assert receipt["status"] == "COMPLETED"
    assert receipt["amount"] == "150.00"
    assert receipt["dwRedemptionId"]

    # The database holds the same end state and one history row per status change.
    stored = await asyncio.to_thread(stack.repository.get, workflow_id)
    assert stored is not None
    assert stored.status == S.COMPLETED
    assert [h.status for h in stored.history] == [
        S.INITIATED,
        S.AWAITING_OTP,
        S.FINALIZING_TRANSFER,
        S.TRANSFER_COMPLETED,
        S.CREATING_DW_REDEMPTION,
        S.COMPLETED,
    ]
    # The status endpoint (now answered from the database) agrees.
    status = (await stack.api.get(f"/withdraw/status/{workflow_id}", headers=headers)).json()
    assert status["data"]["status"] == "COMPLETED"
    assert status["data"]["history"] == receipt["history"]

    # The ledger: one successful transfer and one redemption, both carrying the correlationId.
    ledger = (await stack.sim.get("/_sim/ledger")).json()
    transfers = [t for t in ledger["transfers"] if t["correlationId"] == correlation_id]
    redemptions = [r for r in ledger["redemptions"] if r["correlationId"] == correlation_id]
    assert [(t["status"], t["amount"]) for t in transfers] == [("SUCCESS", "150.00")]
    assert [(r["id"], Decimal(r["amount"])) for r in redemptions] == [
        (receipt["dwRedemptionId"], Decimal("150.00"))
    ]
    assert ledger["reversals"] == []
    account = next(a for a in ledger["accounts"] if a["dwAccountNo"] == "DWAA001001")
    assert Decimal(account["cashBalance"]) == Decimal("9850.00")
