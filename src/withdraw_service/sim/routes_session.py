"""The Session/user service and Flex (core banking customer info) stand-ins.

`GET /session/users/{userId}` tells who a user is and which brokerage account they hold;
`GET /flex/customers/{pin}` gives the bank's customer record. Both only read the state.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from withdraw_service.domain.outcomes import UpstreamCode
from withdraw_service.sim.calls import Answer, answer, error, is_mode, run_call
from withdraw_service.sim.state import Fault
from withdraw_service.sim.store import SimStore


def session_router(store: SimStore) -> APIRouter:
    router = APIRouter(tags=["session", "flex"])

    @router.get("/session/users/{user_id}")
    async def get_user(user_id: str) -> Response:
        """Service `session`, operation `user`."""

        def decide(fault: Fault | None) -> Answer:
            user = store.state.users.get(user_id)
            if user is None:
                return error(404, "USER_NOT_FOUND", f"user {user_id} not found")
            if is_mode(fault, "reject"):
                return error(422, UpstreamCode.ACCOUNT_BLOCKED, "the customer's account is blocked")
            return answer(
                200,
                {
                    "userId": user.user_id,
                    "pin": user.pin,
                    "phone": user.phone,
                    "cif": user.cif,
                    "dwAccountNo": user.dw_account_no,
                    "dwAccountId": user.dw_account_id,
                    "blocked": user.blocked,
                },
            )

        return await run_call(store, store.target_for_user("session", "user", user_id), decide)

    @router.get("/flex/customers/{pin}")
    async def get_customer(pin: str) -> Response:
        """Service `flex`, operation `customer`."""
        known = store.user_by_pin(pin)
        target = store.target_for_user("flex", "customer", known.user_id if known else None)

        def decide(fault: Fault | None) -> Answer:
            user = store.user_by_pin(pin)
            if user is None:
                return error(404, "CUSTOMER_NOT_FOUND", "customer not found")
            if is_mode(fault, "reject"):
                return error(422, UpstreamCode.ACCOUNT_BLOCKED, "the customer's account is blocked")
            return answer(
                200,
                {"pin": user.pin, "name": user.customer_name, "address": _address(user.pin)},
            )

        return await run_call(store, target, decide)

    return router


def _address(pin: str) -> str:
    """A made-up but stable postal address for a customer."""
    number = sum(ord(ch) for ch in pin) % 900 + 100
    return f"{number} Simulation Way, Springfield, IL 62701, US"
