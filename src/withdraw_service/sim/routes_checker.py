"""The Transfer Checker stand-in: what became of a transfer, by reference or correlation id.

It answers from the ledger. Under a `pending` fault it answers PENDING; under `fail` it
answers FAILED, and a transfer still waiting for its OTP really ends FAILED (one that was
already debited keeps its ledger status: the fault then only lies about it).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from withdraw_service.domain.outcomes import CheckerStatus, ProblemCode
from withdraw_service.sim.calls import Answer, answer, error, is_mode, run_call
from withdraw_service.sim.money import money_text
from withdraw_service.sim.state import Fault, Transfer
from withdraw_service.sim.store import SimStore


def checker_router(store: SimStore) -> APIRouter:
    router = APIRouter(prefix="/transfer-checker", tags=["transfer-checker"])

    def report(transfer: Transfer | None, fault: Fault | None) -> Answer:
        if transfer is None:
            return error(404, "TRANSFER_NOT_FOUND", "transfer not found")
        status: str = transfer.status
        if is_mode(fault, "pending"):
            status = CheckerStatus.PENDING
        elif is_mode(fault, "fail"):
            if transfer.status == CheckerStatus.INITIATED:
                transfer.status = CheckerStatus.FAILED
            status = CheckerStatus.FAILED
        data = {
            "referenceNumber": transfer.reference_number,
            "correlationId": transfer.correlation_id,
            "status": status,
            "amount": money_text(transfer.amount),
        }
        return answer(200, {"data": data})

    @router.get("/transfers/{reference_number}")
    async def by_reference(reference_number: str) -> Response:
        """Service `transfer-checker`, operation `status`, by the transfer's reference."""
        known = store.transfer_by_reference(reference_number)
        target = store.target_for_user(
            "transfer-checker", "status", known.user_id if known else None
        )

        def decide(fault: Fault | None) -> Answer:
            return report(store.transfer_by_reference(reference_number), fault)

        return await run_call(store, target, decide)

    @router.get("/transfers")
    async def by_correlation(
        correlation_id: Annotated[str | None, Query(alias="correlationId")] = None,
    ) -> Response:
        """Service `transfer-checker`, operation `status`, by the withdrawal's correlation id."""
        known = store.transfer_by_correlation(correlation_id) if correlation_id else None
        target = store.target_for_user(
            "transfer-checker", "status", known.user_id if known else None
        )

        def decide(fault: Fault | None) -> Answer:
            if not correlation_id:
                return error(
                    400, ProblemCode.VALIDATION_ERROR, "query parameter correlationId is required"
                )
            return report(store.transfer_by_correlation(correlation_id), fault)

        return await run_call(store, target, decide)

    return router
