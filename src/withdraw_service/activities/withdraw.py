"""The seed's activities (validateUser ... rollbackTransfer) as methods of one class that
receives its ports in `__init__`. Each turns the adapters' outcomes into either a result or a
typed failure (`activities/failures.py`) that the retry policy and the workflow read.

Never logs or returns an OTP, a token or a full account number.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from temporalio import activity

from withdraw_service.activities.answers import (
    NotSent,
    accepted_redemption,
    redemption_failure,
    redemption_result,
    refused_finalize,
    settled_redemption,
)
from withdraw_service.activities.failures import current_attempt, failure
from withdraw_service.activities.models import (
    AuthorisationResult,
    CheckRestrictionsInput,
    CreateDwRedemptionInput,
    DwRedemptionResult,
    DwTokenResult,
    FinalizeTransferInput,
    FinalizeTransferResult,
    InitiateTransferInput,
    RollbackTransferInput,
    RollbackTransferResult,
    SaveToDbInput,
    UserContext,
    ValidateUserInput,
    VerifyDwRedemptionInput,
    VerifyTransferStatusInput,
    VerifyTransferStatusResult,
)
from withdraw_service.activities.token_cache import DwTokenCache
from withdraw_service.adapters.ports import (
    DriveWealth,
    TransferChecker,
    TransferInitiation,
    TransferService,
    UserDirectory,
)
from withdraw_service.adapters.upstream import (
    UpstreamNotFound,
    UpstreamRefused,
    UpstreamUnauthorized,
    UpstreamUnavailableError,
    UpstreamUnknownOutcome,
)
from withdraw_service.domain.outcomes import (
    FINALIZE_REFUSALS,
    INITIATE_REFUSALS,
    CheckerStatus,
    FailureType,
    FinalizeOutcome,
    UpstreamCode,
)
from withdraw_service.domain.policies import ActivityName
from withdraw_service.metrics import WithdrawMetrics, noop_metrics
from withdraw_service.persistence.db import DATABASE_OUTAGE
from withdraw_service.persistence.repository import AccountBusy, WithdrawalRepository


class WithdrawActivities:
    def __init__(
        self,
        users: UserDirectory,
        transfers: TransferService,
        checker: TransferChecker,
        drivewealth: DriveWealth,
        repository: WithdrawalRepository,
        redemption_type: str = "CASH_TRANSFER",
        restriction_start: date = date(2020, 1, 1),
        metrics: WithdrawMetrics | None = None,
    ) -> None:
        self._users = users
        self._transfers = transfers
        self._checker = checker
        self._drivewealth = drivewealth
        self._repository = repository
        self._tokens = DwTokenCache(drivewealth)
        self._redemption_type = redemption_type
        self._restriction_start = datetime.combine(restriction_start, time.min, tzinfo=UTC)
        self._metrics = metrics or noop_metrics()

    @activity.defn(name=ActivityName.VALIDATE_USER)
    async def validate_user(self, request: ValidateUserInput) -> UserContext:
        try:
            user = await self._users.get_user(request.user_id)
            await self._users.get_customer(user.pin)  # Flex knows the customer
        except (UpstreamNotFound, UpstreamRefused) as exc:
            raise failure(FailureType.USER_INVALID, f"unknown customer ({exc})") from None
        if user.blocked:
            raise failure(FailureType.USER_INVALID, "customer is blocked")
        if not user.dw_account_no or not user.dw_account_id:
            raise failure(FailureType.USER_INVALID, "customer has no brokerage account")
        return UserContext(user_id=user.user_id, dw_account_id=user.dw_account_id)

    @activity.defn(name=ActivityName.CHECK_RESTRICTIONS)
    async def check_restrictions(self, request: CheckRestrictionsInput) -> None:
        try:
            await asyncio.to_thread(
                self._repository.claim_account, request.workflow_id, request.dw_account_id
            )
            unresolved = await asyncio.to_thread(
                self._repository.has_unresolved,
                request.dw_account_id,
                self._restriction_start,
                request.workflow_id,
            )
        except AccountBusy:
            raise failure(
                FailureType.WITHDRAW_RESTRICTED,
                "another withdrawal of this brokerage account is in flight",
            ) from None
        except DATABASE_OUTAGE as exc:
            raise failure(
                FailureType.DATABASE_UNAVAILABLE,
                f"the application database could not be reached ({type(exc).__name__})",
            ) from None
        if unresolved:
            raise failure(
                FailureType.WITHDRAW_RESTRICTED,
                "an earlier withdrawal of this brokerage account is still unresolved",
            )
        cash = await self._cash_available(request.dw_account_id)
        if cash < request.amount:
            raise failure(
                FailureType.INSUFFICIENT_FUNDS, "brokerage cash available is below the amount"
            )

    @activity.defn(name=ActivityName.INITIATE_TRANSFER)
    async def initiate_transfer(self, request: InitiateTransferInput) -> AuthorisationResult:
        # Retried with the same idempotency key, the Transfer Service answers the first result:
        # a timed-out initiation that had gone through is found, not doubled.
        try:
            auth = await self._transfers.initiate(
                TransferInitiation(
                    user_id=request.user_id,
                    amount=request.amount,
                    correlation_id=request.correlation_id,
                    product_number=request.product_number,
                    frontend_sima_ready=request.frontend_sima_ready,
                ),
                request.idempotency_key,
            )
        except UpstreamRefused as exc:
            if exc.error_code not in INITIATE_REFUSALS:
                # Not a refusal the bank is known to mean: retried with the same key.
                raise UpstreamUnknownOutcome(
                    exc.service, exc.operation, f"answered {exc.error_code}"
                ) from None
            kind = (
                FailureType.INSUFFICIENT_FUNDS
                if exc.error_code == UpstreamCode.INSUFFICIENT_FUNDS
                else FailureType.ACCOUNT_BLOCKED
            )
            raise failure(kind, f"transfer refused: {exc.error_code}") from None
        return AuthorisationResult(
            authorisation_id=auth.authorisation_id,
            reference_number=auth.reference_number,
            expiry_time=auth.expiry_time,
        )

    @activity.defn(name=ActivityName.FINALIZE_TRANSFER)
    async def finalize_transfer(self, request: FinalizeTransferInput) -> FinalizeTransferResult:
        if current_attempt() > 1:
            # An earlier attempt may have reached the bank (its worker died, or the bank
            # answered a 5xx after taking it): look before sending again. The workflow asks
            # the Transfer Checker, and re-sends (same key) only if the bank never applied it.
            raise failure(
                FailureType.TRANSFER_OUTCOME_UNKNOWN,
                "an earlier finalize attempt may have reached the bank; outcome unknown",
            )
        try:
            receipt = await self._transfers.finalize(
                request.authorisation_id,
                request.otp_code,
                request.sima_stan,
                request.idempotency_key,
            )
        except UpstreamUnknownOutcome as exc:
            # The debit may have happened: the workflow asks the Transfer Checker, never re-sends.
            raise failure(
                FailureType.TRANSFER_OUTCOME_UNKNOWN, f"finalize outcome unknown ({exc.detail})"
            ) from None
        except UpstreamRefused as exc:
            if exc.error_code not in FINALIZE_REFUSALS:
                # Not one of the bank's own refusals: it says nothing of the debit.
                raise failure(
                    FailureType.TRANSFER_OUTCOME_UNKNOWN,
                    f"finalize answered {exc.error_code}; outcome unknown",
                ) from None
            return refused_finalize(exc)
        if not receipt.success:
            return FinalizeTransferResult(
                outcome=FinalizeOutcome.FAILED,
                reference_number=receipt.reference_number,
                reason=receipt.status_text,
            )
        return FinalizeTransferResult(
            outcome=FinalizeOutcome.SUCCESS, reference_number=receipt.reference_number
        )

    @activity.defn(name=ActivityName.VERIFY_TRANSFER_STATUS)
    async def verify_transfer_status(
        self, request: VerifyTransferStatusInput
    ) -> VerifyTransferStatusResult:
        report = await self._checker.status(request.reference_number)
        try:
            status = CheckerStatus(report.status)
        except ValueError:  # a status this service does not know: not settled either way
            status = CheckerStatus.PENDING
        return VerifyTransferStatusResult(status=status)

    @activity.defn(name=ActivityName.GET_DW_TOKEN)
    async def get_dw_token(self) -> DwTokenResult:
        try:
            await self._tokens.token()
        except (UpstreamUnauthorized, UpstreamRefused):
            raise failure(
                FailureType.INVALID_CREDENTIALS, "DriveWealth refused the client credentials"
            ) from None
        return DwTokenResult(expires_at=self._tokens.expires_at)

    @activity.defn(name=ActivityName.CREATE_DW_REDEMPTION)
    async def create_dw_redemption(self, request: CreateDwRedemptionInput) -> DwRedemptionResult:
        """Redeem, with the same Idempotency-Key on every attempt: a retry after a timeout that
        had gone through returns the first redemption instead of redeeming twice.

        Every failure says which attempt raised it (`{"attempt": n}`), and what it means
        (`answers.py`): DriveWealth's own refusal, not sent at all (DW_NOT_SENT: the workflow
        may trust it only on attempt 1), or unknown."""
        account_no = await self._account_no(request.user_id, request.dw_account_id)
        attempt = {"attempt": current_attempt()}

        async def send(refresh: bool) -> DwRedemptionResult:
            try:
                token = await self._tokens.token(refresh=refresh)
            except Exception as exc:  # whatever it was, the redemption was not sent
                raise NotSent(f"no DriveWealth token ({type(exc).__name__})") from None
            try:
                redemption = await self._drivewealth.create_redemption(
                    token,
                    account_no,
                    request.amount,
                    self._redemption_type,
                    request.idempotency_key,
                    request.correlation_id,
                )
            except UpstreamUnavailableError as exc:
                raise NotSent(f"DriveWealth not reached ({exc.detail})") from None
            return redemption_result(redemption)

        try:
            try:
                result = await send(refresh=False)
            except UpstreamUnauthorized:
                self._tokens.invalidate()
                result = await send(refresh=True)
        except (NotSent, UpstreamUnauthorized, UpstreamUnknownOutcome, UpstreamRefused) as exc:
            raise redemption_failure(exc, attempt) from None
        return accepted_redemption(result, attempt)

    @activity.defn(name=ActivityName.VERIFY_DW_REDEMPTION)
    async def verify_dw_redemption(self, request: VerifyDwRedemptionInput) -> DwRedemptionResult:
        """The redemption once DriveWealth has settled it (SUCCESSFUL, FAILED or REJECTED);
        while it has not, fails DW_REDEMPTION_PENDING, and the retry policy looks again."""
        redemption = await self._tokens.authorised(
            lambda token: self._drivewealth.get_redemption(token, request.redemption_id)
        )
        return settled_redemption(redemption_result(redemption))

    @activity.defn(name=ActivityName.SAVE_TO_DB)
    async def save_to_db(self, request: SaveToDbInput) -> None:
        await asyncio.to_thread(self._save_and_count, request)

    def _save_and_count(self, request: SaveToDbInput) -> None:
        """In the database thread, the count with the commit: an attempt given up on (a local
        one past its 2 s) may still commit, and then it is the one that counts."""
        state = request.state
        result = self._repository.save(state, request.dw_account_id, request.version)
        # Counted only for what this call wrote: a retry or a repeat counts nothing again.
        self._metrics.saved(result.created, result.stored, state.created_at, state.failure_code)

    @activity.defn(name=ActivityName.ROLLBACK_TRANSFER)
    async def rollback_transfer(self, request: RollbackTransferInput) -> RollbackTransferResult:
        try:
            receipt = await self._transfers.reverse(
                request.reference_number,
                request.correlation_id,
                request.reason,
                request.idempotency_key,
            )
        except UpstreamRefused as exc:
            raise failure(
                FailureType.REVERSAL_REFUSED,
                f"reversal refused: {exc.error_code}",
                {"attempt": current_attempt()},
            ) from None
        if not receipt.success:
            raise failure(
                FailureType.REVERSAL_REFUSED,
                "reversal did not succeed",
                {"attempt": current_attempt()},
            )
        return RollbackTransferResult(attempts=current_attempt())

    async def _account_no(self, user_id: str, dw_account_id: str) -> str:
        # Not DriveWealth's refusal: an earlier attempt may have redeemed, so these errors must
        # never read as "nothing was redeemed" (the workflow takes a second look instead).
        try:
            user = await self._users.get_user(user_id)
        except (UpstreamNotFound, UpstreamRefused) as exc:
            raise failure(FailureType.ACCOUNT_LOOKUP, f"user lookup: {exc}") from None
        if user.dw_account_id != dw_account_id or not user.dw_account_no:
            raise failure(
                FailureType.ACCOUNT_CHANGED, "the brokerage account changed during the withdrawal"
            )
        return user.dw_account_no

    async def _cash_available(self, dw_account_id: str) -> Decimal:
        return await self._tokens.authorised(
            lambda token: self._drivewealth.cash_available(token, dw_account_id)
        )

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, for `Worker(activities=...)`."""
        return [
            self.validate_user,
            self.check_restrictions,
            self.initiate_transfer,
            self.finalize_transfer,
            self.verify_transfer_status,
            self.get_dw_token,
            self.create_dw_redemption,
            self.verify_dw_redemption,
            self.save_to_db,
            self.rollback_transfer,
        ]
