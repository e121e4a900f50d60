"""The Transfer Service stand-in: initiate (sends an OTP), finalize (the debit), reverse.

Every call needs an `Idempotency-Key`; a repeat under the same key gets the first answer,
status and body, and changes nothing. The OTP goes to the inbox read by `GET /_sim/otp`
and is never written to a response or a log of the business paths.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from withdraw_service.domain.outcomes import CheckerStatus, ProblemCode, UpstreamCode
from withdraw_service.sim.calls import (
    Answer,
    Refusal,
    answer,
    error,
    idempotently,
    is_mode,
    iso,
    key_of,
    now,
    read_object,
    run_call,
    text_field,
)
from withdraw_service.sim.money import parse_amount
from withdraw_service.sim.state import Fault, Reversal, Transfer
from withdraw_service.sim.store import SimStore


def _key(request: Request) -> str:
    key = request.headers.get("Idempotency-Key")
    if key is None or not key.strip():
        raise Refusal(error(400, "IDEMPOTENCY_KEY_REQUIRED", "header Idempotency-Key is required"))
    return key


def _invalid(message: str) -> Refusal:
    return Refusal(error(422, ProblemCode.VALIDATION_ERROR, message))


def _body(payload: dict[str, Any] | None) -> dict[str, Any]:
    if payload is None:
        raise _invalid("the body must be a JSON object")
    return payload


def _outcome(transfer: Transfer, *, success: bool, status_text: str) -> Answer:
    data = {
        "success": success,
        "referenceNumber": transfer.reference_number,
        "statusText": status_text,
    }
    return answer(200, {"data": data})


def transfer_router(store: SimStore) -> APIRouter:
    router = APIRouter(prefix="/transfer/withdraw", tags=["transfer"])
    config = store.config

    def new_reference() -> str:
        while True:
            reference = f"TRF{secrets.randbelow(10**10):010d}"
            if store.transfer_by_reference(reference) is None:
                return reference

    def initiate_now(
        payload: dict[str, Any], header_cid: str | None, fault: Fault | None
    ) -> Answer:
        try:
            user_id = text_field(payload, "userId")
            amount = parse_amount(payload.get("amount"))
            currency = text_field(payload, "currency", required=False) or "USD"
            if currency != "USD":
                raise ValueError("currency must be USD")
            correlation_id = text_field(payload, "correlationId", required=False) or header_cid
            product_number = text_field(payload, "productNumber", required=False)
            if not isinstance(payload.get("frontendSimaReady", False), bool):
                raise ValueError("frontendSimaReady must be a boolean")
        except ValueError as exc:
            raise _invalid(str(exc)) from exc
        assert user_id is not None
        if user_id not in store.state.users:
            return error(404, "USER_NOT_FOUND", f"user {user_id} not found")
        if is_mode(fault, "reject"):
            return error(
                422, UpstreamCode.INSUFFICIENT_FUNDS, "insufficient funds for this transfer"
            )
        transfer = Transfer(
            authorisation_id=str(uuid.uuid4()),
            reference_number=new_reference(),
            correlation_id=correlation_id,
            user_id=user_id,
            amount=amount,
            currency=currency,
            product_number=product_number,
            status=CheckerStatus.INITIATED,
            expiry_time=now() + timedelta(seconds=config.otp_ttl_seconds),
        )
        store.state.transfers[transfer.authorisation_id] = transfer
        store.state.otp_inbox[transfer.authorisation_id] = f"{secrets.randbelow(10**6):06d}"
        data = {
            "authorisationId": transfer.authorisation_id,
            "referenceNumber": transfer.reference_number,
            "expiryTime": iso(transfer.expiry_time),
        }
        return answer(200, {"data": data})

    def finalize_now(authorisation_id: str, payload: dict[str, Any], fault: Fault | None) -> Answer:
        try:
            otp_code = text_field(payload, "otpCode")
            text_field(payload, "simaStan", required=False)
        except ValueError as exc:
            raise _invalid(str(exc)) from exc
        transfer = store.state.transfers.get(authorisation_id)
        if transfer is None:
            return error(404, "AUTHORISATION_NOT_FOUND", "unknown authorisation")
        if transfer.status == CheckerStatus.SUCCESS:
            return _outcome(transfer, success=True, status_text=CheckerStatus.SUCCESS)
        if transfer.status != CheckerStatus.INITIATED:
            return error(
                409, UpstreamCode.TRANSFER_NOT_PENDING, f"the transfer is {transfer.status}"
            )
        if now() > transfer.expiry_time:
            transfer.status = CheckerStatus.FAILED
            return error(410, UpstreamCode.AUTHORISATION_EXPIRED, "the authorisation has expired")
        expected = store.state.otp_inbox.get(authorisation_id, "")
        if not secrets.compare_digest(str(otp_code).encode(), expected.encode()):
            transfer.wrong_otps += 1
            remaining = config.otp_max_attempts - transfer.wrong_otps
            if remaining <= 0:
                transfer.status = CheckerStatus.FAILED
                return error(410, UpstreamCode.AUTHORISATION_EXPIRED, "too many wrong OTP codes")
            return error(
                422, UpstreamCode.OTP_INVALID, "the OTP code is wrong", attemptsRemaining=remaining
            )
        if is_mode(fault, "reject"):
            transfer.status = CheckerStatus.FAILED
            return error(422, UpstreamCode.TRANSFER_REJECTED, "the bank rejected the transfer")
        if is_mode(fault, "fail"):
            transfer.status = CheckerStatus.FAILED
            return _outcome(transfer, success=False, status_text=CheckerStatus.FAILED)
        transfer.status = CheckerStatus.SUCCESS
        return _outcome(transfer, success=True, status_text=CheckerStatus.SUCCESS)

    def reverse_now(payload: dict[str, Any], header_cid: str | None, fault: Fault | None) -> Answer:
        try:
            reference_number = text_field(payload, "referenceNumber")
            correlation_id = text_field(payload, "correlationId", required=False) or header_cid
            text_field(payload, "reason", required=False)
        except ValueError as exc:
            raise _invalid(str(exc)) from exc
        assert reference_number is not None
        transfer = store.transfer_by_reference(reference_number)
        if transfer is None:
            return error(404, "TRANSFER_NOT_FOUND", f"transfer {reference_number} not found")
        if transfer.status == CheckerStatus.REVERSED:
            return _outcome(transfer, success=True, status_text=CheckerStatus.REVERSED)
        if transfer.status != CheckerStatus.SUCCESS:
            return error(409, "NOT_REVERSIBLE", f"a {transfer.status} transfer cannot be reversed")
        reversal = Reversal(
            reference_number=reference_number,
            correlation_id=correlation_id or transfer.correlation_id,
            amount=transfer.amount,
            status=CheckerStatus.SUCCESS,
        )
        if is_mode(fault, "reject"):
            store.state.reversals.append(
                reversal.model_copy(update={"status": CheckerStatus.FAILED})
            )
            return error(422, "REVERSAL_REJECTED", "the bank refused the reversal")
        store.state.reversals.append(reversal)
        transfer.status = CheckerStatus.REVERSED
        return _outcome(transfer, success=True, status_text=CheckerStatus.REVERSED)

    @router.post("/initiate")
    async def initiate(request: Request) -> Response:
        """Service `transfer`, operation `initiate`: creates the transfer and sends the OTP."""
        payload = await read_object(request)
        user_id = payload.get("userId") if payload else None
        target = store.target_for_user(
            "transfer", "initiate", user_id if isinstance(user_id, str) else None
        )
        header_cid = request.headers.get("X-Correlation-ID")

        def decide(fault: Fault | None) -> Answer:
            key = _key(request)
            return idempotently(
                store,
                "transfer.initiate",
                key,
                lambda: initiate_now(_body(payload), header_cid, fault),
            )

        return await run_call(store, target, decide, key=key_of("transfer.initiate", request))

    @router.put("/finalize/{authorisation_id}")
    async def finalize(authorisation_id: str, request: Request) -> Response:
        """Service `transfer`, operation `finalize`: checks the OTP and debits."""
        payload = await read_object(request)
        known = store.state.transfers.get(authorisation_id)
        target = store.target_for_user("transfer", "finalize", known.user_id if known else None)

        def decide(fault: Fault | None) -> Answer:
            key = _key(request)
            return idempotently(
                store,
                "transfer.finalize",
                key,
                lambda: finalize_now(authorisation_id, _body(payload), fault),
            )

        return await run_call(store, target, decide, key=key_of("transfer.finalize", request))

    @router.post("/reverse")
    async def reverse(request: Request) -> Response:
        """Service `transfer`, operation `reverse`: gives a debited transfer back."""
        payload = await read_object(request)
        reference = payload.get("referenceNumber") if payload else None
        known = store.transfer_by_reference(reference) if isinstance(reference, str) else None
        target = store.target_for_user("transfer", "reverse", known.user_id if known else None)
        header_cid = request.headers.get("X-Correlation-ID")

        def decide(fault: Fault | None) -> Answer:
            key = _key(request)
            return idempotently(
                store,
                "transfer.reverse",
                key,
                lambda: reverse_now(_body(payload), header_cid, fault),
            )

        return await run_call(store, target, decide, key=key_of("transfer.reverse", request))

    return router
