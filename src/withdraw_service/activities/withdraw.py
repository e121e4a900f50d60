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
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

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
    DwRedemption,
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
    DW_ACCEPTED,
    DW_SETTLED_UNPAID,
    FINALIZE_REFUSALS,
    INITIATE_REFUSALS,
    CheckerStatus,
    DwRedemptionStatus,
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
            return _refused_finalize(exc)
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

        Every failure says which attempt raised it (`{"attempt": n}`), and what it means:
        DriveWealth's own refusal (Y075, or a redemption it answered FAILED/REJECTED), not sent
        at all (DW_NOT_SENT: the workflow may trust it only on attempt 1), or unknown."""
        account_no = await self._account_no(request.user_id, request.dw_account_id)
        attempt = {"attempt": current_attempt()}

        async def send(refresh: bool) -> DwRedemptionResult:
            try:
                token = await self._tokens.token(refresh=refresh)
            except Exception as exc:  # whatever it was, the redemption was not sent
                raise _NotSent(f"no DriveWealth token ({type(exc).__name__})") from None
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
                raise _NotSent(f"DriveWealth not reached ({exc.detail})") from None
            return _redemption_result(redemption)

        try:
            try:
                result = await send(refresh=False)
            except UpstreamUnauthorized:
                self._tokens.invalidate()
                result = await send(refresh=True)
        except UpstreamUnauthorized:
            raise failure(
                FailureType.DW_NOT_SENT, "DriveWealth refused a fresh token (401)", attempt
            ) from None
        except _NotSent as exc:
            raise failure(FailureType.DW_NOT_SENT, str(exc), attempt) from None
        except UpstreamUnknownOutcome as exc:
            raise failure(
                FailureType.DW_OUTCOME_UNKNOWN,
                f"redemption outcome unknown ({exc.detail})",
                attempt,
            ) from None
        except UpstreamRefused as exc:
            if exc.error_code != UpstreamCode.DW_AMOUNT_ABOVE_CASH:
                # Not a refusal DriveWealth is known to mean: it says nothing of the money.
                raise failure(
                    FailureType.DW_OUTCOME_UNKNOWN,
                    f"redemption answered {exc.error_code}; outcome unknown",
                    attempt,
                ) from None
            raise failure(
                FailureType.INSUFFICIENT_BALANCE, f"redemption refused: {exc.error_code}", attempt
            ) from None
        if result.status_id in DW_SETTLED_UNPAID:  # DriveWealth's own "no"
            raise failure(
                FailureType.ACCOUNT_SUSPENDED, f"redemption {result.status_message}", attempt
            )
        if result.status_id not in DW_ACCEPTED:  # a redemption exists, in a state we do not know
            raise failure(
                FailureType.DW_OUTCOME_UNKNOWN,
                f"redemption answered status {result.status_id}; outcome unknown",
                attempt,
            )
        return result

    @activity.defn(name=ActivityName.VERIFY_DW_REDEMPTION)
    async def verify_dw_redemption(self, request: VerifyDwRedemptionInput) -> DwRedemptionResult:
        """The redemption once DriveWealth has settled it (SUCCESSFUL, FAILED or REJECTED);
        while it has not, fails DW_REDEMPTION_PENDING, and the retry policy looks again."""

        async def read(refresh: bool) -> DwRedemptionResult:
            token = await self._tokens.token(refresh=refresh)
            return _redemption_result(
                await self._drivewealth.get_redemption(token, request.redemption_id)
            )

        try:
            result = await read(refresh=False)
        except UpstreamUnauthorized:
            self._tokens.invalidate()
            result = await read(refresh=True)
        if result.status_id == DwRedemptionStatus.SUCCESSFUL or result.status_id in (
            DW_SETTLED_UNPAID
        ):
            return result
        # Not settled yet, or a status we do not know: never read as settled either way.
        # Benign: an expected wait, not an error to log or to count as a failing activity.
        raise ApplicationError(
            f"redemption not settled yet: {result.status_message or result.status_id}",
            type=FailureType.DW_REDEMPTION_PENDING,
            category=ApplicationErrorCategory.BENIGN,
        )

    @activity.defn(name=ActivityName.SAVE_TO_DB)
    async def save_to_db(self, request: SaveToDbInput) -> None:
        state = request.state
        result = await asyncio.to_thread(self._repository.save, state, request.dw_account_id)
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
        try:
            return await self._drivewealth.cash_available(await self._tokens.token(), dw_account_id)
        except UpstreamUnauthorized:
            token = await self._tokens.token(refresh=True)
            return await self._drivewealth.cash_available(token, dw_account_id)

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


class _NotSent(Exception):
    """The redemption request never left: nothing can have been redeemed by this attempt."""


def _redemption_result(redemption: DwRedemption) -> DwRedemptionResult:
    return DwRedemptionResult(
        redemption_id=redemption.redemption_id,
        status_id=redemption.status_id,
        status_message=redemption.status_message,
    )


def _refused_finalize(exc: UpstreamRefused) -> FinalizeTransferResult:
    if exc.error_code == UpstreamCode.OTP_INVALID:
        return FinalizeTransferResult(
            outcome=FinalizeOutcome.OTP_INVALID, attempts_remaining=exc.attempts_remaining
        )
    if exc.error_code == UpstreamCode.AUTHORISATION_EXPIRED:
        return FinalizeTransferResult(outcome=FinalizeOutcome.AUTHORISATION_EXPIRED)
    return FinalizeTransferResult(outcome=FinalizeOutcome.REJECTED, reason=exc.error_code)
