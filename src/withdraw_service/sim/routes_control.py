"""The fixed control surface under `/_sim` (docs/api.md): reset, customers, the OTP
inbox, faults and the ledger. Tests and operators drive the simulator through it; it is
not a business call, so it is neither counted nor faulted. Its errors are problem details.
"""

from __future__ import annotations

from decimal import Decimal
from http import HTTPStatus

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from withdraw_service.domain.outcomes import ProblemCode
from withdraw_service.sim.faults import FaultSpec, describe
from withdraw_service.sim.money import money_text
from withdraw_service.sim.state import SimUser, make_user
from withdraw_service.sim.store import SimStore


def problem(status: int, code: str, detail: str, **extra: object) -> JSONResponse:
    """An RFC 9457 problem answer, as the contract's API gives them."""
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


class UserSpec(BaseModel):
    """The body of `POST /_sim/users`."""

    model_config = ConfigDict(extra="forbid")

    userId: str = Field(min_length=1)
    pin: str = Field(min_length=1)
    customerName: str = Field(min_length=1)
    dwAccountNo: str | None = None
    dwAccountId: str | None = None
    cashBalance: Decimal = Field(default=Decimal("10000.00"), ge=0, decimal_places=2)
    blocked: bool = False


def user_view(user: SimUser) -> dict[str, object]:
    """A customer as stored, in the control surface's words."""
    return {
        "userId": user.user_id,
        "pin": user.pin,
        "customerName": user.customer_name,
        "phone": user.phone,
        "cif": user.cif,
        "dwAccountNo": user.dw_account_no,
        "dwAccountId": user.dw_account_id,
        "cashBalance": money_text(user.cash_balance),
        "blocked": user.blocked,
    }


def control_router(store: SimStore) -> APIRouter:
    router = APIRouter(prefix="/_sim", tags=["control"])

    @router.post("/reset")
    async def reset() -> dict[str, object]:
        """Clear everything (ledger, faults, counters, tokens) and re-seed the demo users."""
        await store.reset()
        return {"status": "ok", "users": list(store.state.users)}

    @router.post("/users", response_model=None)
    async def upsert_user(spec: UserSpec) -> dict[str, object] | JSONResponse:
        """Create or replace one customer in every simulated service."""
        async with store.lock:
            for other in store.state.users.values():
                if other.user_id == spec.userId:
                    continue
                clashes = [
                    name
                    for name, mine, theirs in (
                        ("pin", spec.pin, other.pin),
                        ("dwAccountNo", spec.dwAccountNo, other.dw_account_no),
                        ("dwAccountId", spec.dwAccountId, other.dw_account_id),
                    )
                    if mine is not None and mine == theirs
                ]
                if clashes:
                    return problem(
                        409, "CONFLICT", f"{', '.join(clashes)} already used by {other.user_id}"
                    )
            user = make_user(
                spec.userId,
                spec.pin,
                spec.customerName,
                spec.dwAccountNo,
                spec.dwAccountId,
                spec.cashBalance,
                blocked=spec.blocked,
            )
            store.state.users[user.user_id] = user
            await store.save()
        return user_view(user)

    @router.get("/otp/{authorisation_id}", response_model=None)
    async def otp(authorisation_id: str) -> dict[str, str] | JSONResponse:
        """The code the customer would have received for this authorisation."""
        code = store.state.otp_inbox.get(authorisation_id)
        if code is None:
            return problem(404, ProblemCode.NOT_FOUND, "no OTP was sent for this authorisation")
        return {"otp": code}

    @router.post("/faults")
    async def add_fault(spec: FaultSpec) -> dict[str, str]:
        """Register a fault; the first one that fits a call hits it."""
        fault = spec.to_fault()
        async with store.lock:
            store.state.faults.append(fault)
            await store.save()
        return {"id": fault.id}

    @router.get("/faults")
    async def list_faults() -> dict[str, object]:
        """The active faults, in the order they are tried."""
        return {"faults": [describe(fault) for fault in store.state.faults]}

    @router.delete("/faults")
    async def clear_faults() -> dict[str, int]:
        """Remove every fault."""
        async with store.lock:
            removed = len(store.state.faults)
            store.state.faults.clear()
            await store.save()
        return {"removed": removed}

    @router.get("/ledger")
    async def ledger() -> dict[str, object]:
        """Transfers, reversals, redemptions, cash balances and business call counts."""
        return store.ledger()

    return router
