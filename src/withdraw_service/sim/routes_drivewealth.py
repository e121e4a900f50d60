"""The DriveWealth back-office stand-in (docs/api.md), under `/drivewealth/back-office`.

Imitates what the real API does for our client: client-credential tokens, redemptions with
16+ character idempotency keys, redemption look-up and the money summary. Amounts in its
answers are JSON numbers, as DriveWealth's are, but rendered exactly with two decimals.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from withdraw_service.domain.outcomes import DwRedemptionStatus, UpstreamCode
from withdraw_service.sim.calls import (
    Answer,
    Refusal,
    answer,
    error,
    idempotently,
    is_mode,
    iso,
    now,
    read_object,
    run_call,
    text_field,
)
from withdraw_service.sim.faults import TRANSPORT_MODES, CallTarget
from withdraw_service.sim.money import cents, parse_amount
from withdraw_service.sim.state import Fault, Redemption
from withdraw_service.sim.store import SimStore

REDEMPTION_TYPES = ("ACH", "WIRE", "CASH_TRANSFER", "BULK_FUNDING")
MIN_IDEMPOTENCY_KEY = 16
_UNAUTHORIZED = error(401, "L075", "unauthorized")


def _same(given: object, expected: str) -> bool:
    return isinstance(given, str) and secrets.compare_digest(given.encode(), expected.encode())


def _redemption_body(redemption: Redemption) -> dict[str, object]:
    return {
        "id": redemption.id,
        "accountNo": redemption.account_no,
        "amount": redemption.amount,
        "currency": redemption.currency,
        "type": redemption.type,
        "category": "REDEMPTION",
        "status": {"id": 2, "message": redemption.status},
        "created": iso(redemption.created),
    }


def drivewealth_router(store: SimStore) -> APIRouter:
    router = APIRouter(prefix="/drivewealth/back-office", tags=["drivewealth"])
    config = store.config

    def require_token(request: Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expiry = store.state.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None or now() >= expiry:
            raise Refusal(_UNAUTHORIZED)

    def issue_token(payload: dict[str, Any] | None, app_key: str | None) -> Answer:
        if payload is None:
            return error(400, "E031", "the body must be a JSON object")
        if not (
            _same(payload.get("clientID"), config.dw_client_id)
            and _same(payload.get("clientSecret"), config.dw_client_secret)
            and _same(app_key, config.dw_app_key)
        ):
            return error(401, "E032", "invalid client credentials")
        moment = now()
        tokens = store.state.tokens
        for stale in [token for token, expiry in tokens.items() if expiry <= moment]:
            del tokens[stale]
        token = secrets.token_urlsafe(32)
        tokens[token] = moment + timedelta(seconds=config.token_ttl_seconds)
        return answer(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": config.token_ttl_seconds,
            },
        )

    def redeem(
        payload: dict[str, Any] | None, correlation_id: str | None, fault: Fault | None
    ) -> Answer:
        if payload is None:
            raise Refusal(error(400, "E031", "the body must be a JSON object"))
        try:
            account_no = text_field(payload, "accountNo")
            amount = parse_amount(payload.get("amount"))
            if payload.get("currency") != "USD":
                raise ValueError("currency must be USD")
            kind = payload.get("type")
            if kind not in REDEMPTION_TYPES:
                raise ValueError(f"type must be one of {', '.join(REDEMPTION_TYPES)}")
            note = text_field(payload, "note", required=False)
        except ValueError as exc:
            raise Refusal(error(400, "E031", str(exc))) from exc
        assert account_no is not None and isinstance(kind, str)
        user = store.user_by_account_no(account_no)
        if user is None:
            return error(404, "K001", "account not found")
        if is_mode(fault, "reject") or amount > user.cash_balance:
            return error(422, UpstreamCode.DW_AMOUNT_ABOVE_CASH, "amount above cash available")
        user.cash_balance = cents(user.cash_balance - amount)
        created = now()
        redemption = Redemption(
            id=f"{account_no}-{secrets.token_hex(6).upper()}",
            account_no=account_no,
            correlation_id=correlation_id,
            amount=amount,
            currency="USD",
            type=kind,
            note=note,
            status=DwRedemptionStatus.SUCCESSFUL.name,
            created=created,
        )
        store.state.redemptions[redemption.id] = redemption
        return answer(200, _redemption_body(redemption))

    @router.post("/auth/tokens")
    async def tokens(request: Request) -> Response:
        """Service `drivewealth`, operation `token`: client credentials for an access token."""
        payload = await read_object(request)
        app_key = request.headers.get("dw-client-app-key")

        def decide(fault: Fault | None) -> Answer:
            return issue_token(payload, app_key)

        return await run_call(store, CallTarget("drivewealth", "token"), decide)

    @router.post("/funding/redemptions")
    async def create_redemption(request: Request) -> Response:
        """Service `drivewealth`, operation `redemption`: takes cash out of the account."""
        payload = await read_object(request)
        account_no = payload.get("accountNo") if payload else None
        target = store.target_for_account(
            "drivewealth", "redemption", account_no if isinstance(account_no, str) else None
        )
        correlation_id = request.headers.get("X-Correlation-ID")

        def decide(fault: Fault | None) -> Answer:
            require_token(request)
            key = request.headers.get("Idempotency-Key")
            if key is None or len(key.strip()) < MIN_IDEMPOTENCY_KEY:
                raise Refusal(
                    error(400, "I050", "header Idempotency-Key of at least 16 characters required")
                )
            return idempotently(
                store,
                "drivewealth.redemption",
                key,
                lambda: redeem(payload, correlation_id, fault),
            )

        return await run_call(store, target, decide)

    @router.get("/funding/redemptions/{redemption_id}")
    async def get_redemption(redemption_id: str, request: Request) -> Response:
        """Service `drivewealth`, operation `redemption`: one redemption as created."""
        known = store.state.redemptions.get(redemption_id)
        target = store.target_for_account(
            "drivewealth", "redemption", known.account_no if known else None
        )

        def decide(fault: Fault | None) -> Answer:
            require_token(request)
            redemption = store.state.redemptions.get(redemption_id)
            if redemption is None:
                return error(404, "K404", "redemption not found")
            return answer(200, _redemption_body(redemption))

        # A look-up has no business decision to refuse: only transport faults apply.
        return await run_call(store, target, decide, modes=TRANSPORT_MODES)

    @router.get("/accounts/{account_id}/summary/money")
    async def money_summary(account_id: str, request: Request) -> Response:
        """Service `drivewealth`, operation `balance`: the account's cash."""
        known = store.user_by_account_id(account_id)
        target = store.target_for_account(
            "drivewealth", "balance", known.dw_account_no if known else None
        )

        def decide(fault: Fault | None) -> Answer:
            require_token(request)
            user = store.user_by_account_id(account_id)
            if user is None or user.dw_account_no is None:
                return error(404, "K001", "account not found")
            cash = user.cash_balance
            return answer(
                200,
                {
                    "accountID": account_id,
                    "accountNo": user.dw_account_no,
                    "cash": {"cashAvailableForWithdrawal": cash, "cashBalance": cash},
                },
            )

        return await run_call(store, target, decide)

    return router
