"""The DriveWealth back-office stand-in (docs/api.md), under `/drivewealth/back-office`.

Imitates what the real API does for our client: client-credential tokens, redemptions with
16+ character idempotency keys, redemption look-up (one, or an account's), and the money
summary. Amounts in its answers are JSON numbers, as DriveWealth's are, but rendered exactly
with two decimals.

A redemption takes the cash out of the account when it is accepted. It settles SUCCESSFUL at
once, unless a fault keeps it PENDING (`accept_pending`: until settled through
`POST /_sim/drivewealth/redemptions/{id}/settle`; `fail_after_accept`: FAILED at the next
status read). A FAILED or REJECTED redemption gives the cash back to the account.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, field_validator

from withdraw_service.domain.outcomes import DwRedemptionStatus, ProblemCode, UpstreamCode
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
from withdraw_service.sim.faults import TRANSPORT_MODES, CallTarget
from withdraw_service.sim.money import cents, parse_amount
from withdraw_service.sim.routes_control import problem
from withdraw_service.sim.state import Fault, Redemption
from withdraw_service.sim.store import SimStore

REDEMPTION_TYPES = ("ACH", "WIRE", "CASH_TRANSFER", "BULK_FUNDING")
MIN_IDEMPOTENCY_KEY = 16
_UNAUTHORIZED = error(401, "L075", "unauthorized")


def _same(given: object, expected: str) -> bool:
    return isinstance(given, str) and secrets.compare_digest(given.encode(), expected.encode())


# Accepted and not settled yet: the cash is held, the outcome still open.
UNSETTLED = frozenset(
    {
        DwRedemptionStatus.STARTED.name,
        DwRedemptionStatus.PENDING.name,
        DwRedemptionStatus.APPROVED.name,
        DwRedemptionStatus.ON_HOLD.name,
    }
)
SETTLEMENTS = (
    DwRedemptionStatus.SUCCESSFUL.name,
    DwRedemptionStatus.FAILED.name,
    DwRedemptionStatus.REJECTED.name,
)


def _redemption_body(redemption: Redemption) -> dict[str, object]:
    return {
        "id": redemption.id,
        "accountNo": redemption.account_no,
        "amount": redemption.amount,
        "currency": redemption.currency,
        "type": redemption.type,
        "category": "REDEMPTION",
        "note": redemption.note,
        "status": {
            "id": DwRedemptionStatus[redemption.status].value,
            "message": redemption.status,
        },
        "created": iso(redemption.created),
    }


def _moment(text: str | None) -> datetime | None:
    """An ISO-8601 bound of a listing; one without a zone is UTC."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def settle(store: SimStore, redemption: Redemption, status: str) -> None:
    """Settle an unsettled redemption; FAILED or REJECTED gives the cash back. Call it while
    holding the store's lock, then save."""
    assert redemption.status in UNSETTLED and status in SETTLEMENTS
    redemption.status = status
    redemption.fail_on_read = False
    if status != DwRedemptionStatus.SUCCESSFUL.name:
        user = store.user_by_account_no(redemption.account_no)
        if user is not None:
            user.cash_balance = cents(user.cash_balance + redemption.amount)


def drivewealth_router(store: SimStore) -> APIRouter:
    router = APIRouter(prefix="/drivewealth/back-office", tags=["drivewealth"])
    config = store.config

    def token_valid(request: Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expiry = store.state.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        return expiry is not None and now() < expiry

    def require_token(request: Request) -> None:
        if not token_valid(request):
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
        held = is_mode(fault, "accept_pending") or is_mode(fault, "fail_after_accept")
        redemption = Redemption(
            id=f"{account_no}-{secrets.token_hex(6).upper()}",
            account_no=account_no,
            correlation_id=correlation_id,
            amount=amount,
            currency="USD",
            type=kind,
            note=note,
            status=(DwRedemptionStatus.PENDING if held else DwRedemptionStatus.SUCCESSFUL).name,
            created=created,
            fail_on_read=is_mode(fault, "fail_after_accept"),
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
        # Checked as the request arrives: a token that expires while the work goes on (a
        # `latency` fault) does not undo a request already accepted.
        authorised = token_valid(request)

        def decide(fault: Fault | None) -> Answer:
            if not authorised:
                raise Refusal(_UNAUTHORIZED)
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

        return await run_call(store, target, decide, key=key_of("drivewealth.redemption", request))

    def read(redemption: Redemption) -> dict[str, object]:
        """A redemption as a status read sees it (`fail_after_accept` fails it now)."""
        if redemption.fail_on_read and redemption.status in UNSETTLED:
            settle(store, redemption, DwRedemptionStatus.FAILED.name)
        return _redemption_body(redemption)

    @router.get("/funding/redemptions/{redemption_id}")
    async def get_redemption(redemption_id: str, request: Request) -> Response:
        """Service `drivewealth`, operation `redemption_status`: one redemption as it stands."""
        known = store.state.redemptions.get(redemption_id)
        target = store.target_for_account(
            "drivewealth", "redemption_status", known.account_no if known else None
        )

        def decide(fault: Fault | None) -> Answer:
            require_token(request)
            redemption = store.state.redemptions.get(redemption_id)
            if redemption is None:
                return error(404, "K404", "redemption not found")
            return answer(200, read(redemption))

        # A look-up has no business decision to refuse: only transport faults apply.
        return await run_call(store, target, decide, modes=TRANSPORT_MODES)

    @router.get("/accounts/{account_id}/funding/redemptions")
    async def list_redemptions(account_id: str, request: Request) -> Response:
        """Service `drivewealth`, operation `redemption_status`: the account's redemptions as
        they stand, oldest first (`from`/`to`: ISO-8601 bounds of their creation)."""
        known = store.user_by_account_id(account_id)
        target = store.target_for_account(
            "drivewealth", "redemption_status", known.dw_account_no if known else None
        )
        bounds = request.query_params.get("from"), request.query_params.get("to")

        def decide(fault: Fault | None) -> Answer:
            require_token(request)
            user = store.user_by_account_id(account_id)
            if user is None or user.dw_account_no is None:
                return error(404, "K001", "account not found")
            try:
                since, until = (_moment(b) for b in bounds)
            except ValueError as exc:
                raise Refusal(error(400, "E031", f"from/to: {exc}")) from exc
            return answer(
                200,
                [
                    read(r)
                    for r in store.state.redemptions.values()
                    if r.account_no == user.dw_account_no
                    and (since is None or r.created >= since)
                    and (until is None or r.created < until)
                ],
            )

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


class Settlement(BaseModel):
    """The body of `POST /_sim/drivewealth/redemptions/{id}/settle`."""

    model_config = ConfigDict(extra="forbid")

    status: str

    @field_validator("status")
    @classmethod
    def _a_settlement(cls, status: str) -> str:
        if status not in SETTLEMENTS:
            raise ValueError(f"must be one of {', '.join(SETTLEMENTS)}")
        return status


def drivewealth_control_router(store: SimStore) -> APIRouter:
    """The control surface's DriveWealth part: settle a redemption, revoke every token."""
    router = APIRouter(prefix="/_sim/drivewealth", tags=["control"])

    @router.post("/redemptions/{redemption_id}/settle", response_model=None)
    async def settle_redemption(
        redemption_id: str, body: Settlement
    ) -> dict[str, object] | JSONResponse:
        """Settle a redemption DriveWealth has accepted but not settled (as it would, later).
        Settling one again with the status it has is answered as done; another is a 409."""
        async with store.lock:
            redemption = store.state.redemptions.get(redemption_id)
            if redemption is None:
                return problem(404, ProblemCode.NOT_FOUND, "no such redemption")
            if redemption.status == body.status:
                return _redemption_body(redemption)
            if redemption.status not in UNSETTLED:
                return problem(
                    409,
                    ProblemCode.INVALID_STATE,
                    f"the redemption is already {redemption.status}",
                )
            settle(store, redemption, body.status)
            await store.save()
            return _redemption_body(redemption)

    @router.post("/revoke-tokens")
    async def revoke_tokens() -> dict[str, int]:
        """Every access token issued so far answers 401 from now on (new ones work)."""
        async with store.lock:
            revoked = len(store.state.tokens)
            store.state.tokens.clear()
            await store.save()
        return {"revoked": revoked}

    return router
