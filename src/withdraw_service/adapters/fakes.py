"""In-memory fakes of the ports, for unit tests of activities and services. They keep the same
idempotency promises as the real services, so a test of "retried with the same key" means
something.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from withdraw_service.adapters.ports import (
    Authorisation,
    DriveWealth,
    DwRedemption,
    DwToken,
    FlexCustomer,
    SessionUser,
    TransferChecker,
    TransferInitiation,
    TransferReceipt,
    TransferService,
    TransferStatusReport,
    UserDirectory,
)
from withdraw_service.adapters.upstream import (
    UpstreamNotFound,
    UpstreamRefused,
    UpstreamUnauthorized,
)
from withdraw_service.domain.outcomes import CheckerStatus, DwRedemptionStatus, UpstreamCode


@dataclass
class FakeUserDirectory(UserDirectory):
    users: dict[str, SessionUser] = field(default_factory=dict)
    customers: dict[str, FlexCustomer] = field(default_factory=dict)

    def add(self, user: SessionUser, name: str = "Test Customer") -> None:
        self.users[user.user_id] = user
        self.customers[user.pin] = FlexCustomer(pin=user.pin, name=name, address="1 Main St")

    async def get_user(self, user_id: str) -> SessionUser:
        if user_id not in self.users:
            raise UpstreamNotFound("session", "user", "USER_NOT_FOUND")
        return self.users[user_id]

    async def get_customer(self, pin: str) -> FlexCustomer:
        if pin not in self.customers:
            raise UpstreamNotFound("flex", "customer", "CUSTOMER_NOT_FOUND")
        return self.customers[pin]


@dataclass
class _FakeTransfer:
    request: TransferInitiation
    authorisation: Authorisation
    otp: str
    status: str = CheckerStatus.INITIATED


@dataclass
class FakeTransferService(TransferService, TransferChecker):
    """Bank side and its status checker in one, as they share the ledger."""

    otp: str = "123456"
    transfers: dict[str, _FakeTransfer] = field(default_factory=dict)
    answers: dict[str, object] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def initiate(self, request: TransferInitiation, idempotency_key: str) -> Authorisation:
        self.calls.append("initiate")
        if idempotency_key in self.answers:
            answer = self.answers[idempotency_key]
            assert isinstance(answer, Authorisation)
            return answer
        n = next(self._seq)
        auth = Authorisation(
            authorisation_id=f"auth-{n}",
            reference_number=f"TRF{n:010d}",
            expiry_time=datetime.now(UTC) + timedelta(minutes=5),
        )
        self.transfers[auth.authorisation_id] = _FakeTransfer(request, auth, self.otp)
        self.answers[idempotency_key] = auth
        return auth

    async def finalize(
        self, authorisation_id: str, otp_code: str, sima_stan: str | None, idempotency_key: str
    ) -> TransferReceipt:
        self.calls.append("finalize")
        if idempotency_key in self.answers:
            answer = self.answers[idempotency_key]
            assert isinstance(answer, TransferReceipt)
            return answer
        transfer = self.transfers.get(authorisation_id)
        if transfer is None:
            raise UpstreamNotFound("transfer", "finalize", "AUTHORISATION_NOT_FOUND")
        if otp_code != transfer.otp:
            raise UpstreamRefused(
                "transfer", "finalize", UpstreamCode.OTP_INVALID, attempts_remaining=2
            )
        transfer.status = CheckerStatus.SUCCESS
        receipt = TransferReceipt(
            True, transfer.authorisation.reference_number, CheckerStatus.SUCCESS
        )
        self.answers[idempotency_key] = receipt
        return receipt

    async def reverse(
        self, reference_number: str, correlation_id: str, reason: str, idempotency_key: str
    ) -> TransferReceipt:
        self.calls.append("reverse")
        transfer = self._by_reference(reference_number)
        if transfer.status not in {CheckerStatus.SUCCESS, CheckerStatus.REVERSED}:
            raise UpstreamRefused("transfer", "reverse", "NOT_REVERSIBLE")
        transfer.status = CheckerStatus.REVERSED
        return TransferReceipt(True, reference_number, CheckerStatus.REVERSED)

    async def status(self, reference_number: str) -> TransferStatusReport:
        transfer = self._by_reference(reference_number)
        return TransferStatusReport(reference_number, transfer.status)

    async def status_by_correlation(self, correlation_id: str) -> TransferStatusReport | None:
        for transfer in self.transfers.values():
            if transfer.request.correlation_id == correlation_id:
                ref = transfer.authorisation.reference_number
                return TransferStatusReport(ref, transfer.status)
        return None

    def _by_reference(self, reference_number: str) -> _FakeTransfer:
        for transfer in self.transfers.values():
            if transfer.authorisation.reference_number == reference_number:
                return transfer
        raise UpstreamNotFound("transfer", "status", "TRANSFER_NOT_FOUND")


@dataclass
class FakeDriveWealth(DriveWealth):
    cash: dict[str, Decimal] = field(default_factory=dict)  # by account number
    account_ids: dict[str, str] = field(default_factory=dict)  # account id -> number
    valid_tokens: set[str] = field(default_factory=set)
    redemptions: dict[str, DwRedemption] = field(default_factory=dict)  # by idempotency key
    token_requests: int = 0

    def add_account(self, account_id: str, account_no: str, cash: Decimal) -> None:
        self.account_ids[account_id] = account_no
        self.cash[account_no] = cash

    async def get_token(self) -> DwToken:
        self.token_requests += 1
        token = f"token-{self.token_requests}"
        self.valid_tokens.add(token)
        return DwToken(access_token=token, expires_in=3600)

    async def create_redemption(
        self,
        token: str,
        account_no: str,
        amount: Decimal,
        redemption_type: str,
        idempotency_key: str,
        correlation_id: str,
    ) -> DwRedemption:
        if token not in self.valid_tokens:
            raise UpstreamUnauthorized("drivewealth", "redemption", "L075")
        if idempotency_key in self.redemptions:
            return self.redemptions[idempotency_key]
        if amount > self.cash.get(account_no, Decimal(0)):
            raise UpstreamRefused("drivewealth", "redemption", UpstreamCode.DW_AMOUNT_ABOVE_CASH)
        self.cash[account_no] -= amount
        redemption = DwRedemption(
            f"{account_no}-{len(self.redemptions) + 1}",
            DwRedemptionStatus.SUCCESSFUL,
            DwRedemptionStatus.SUCCESSFUL.name,
            correlation_id,
        )
        self.redemptions[idempotency_key] = redemption
        return redemption

    async def get_redemption(self, token: str, redemption_id: str) -> DwRedemption:
        if token not in self.valid_tokens:
            raise UpstreamUnauthorized("drivewealth", "redemption_status", "L075")
        for redemption in self.redemptions.values():
            if redemption.redemption_id == redemption_id:
                return redemption
        raise UpstreamNotFound("drivewealth", "redemption_status", "K404")

    async def list_redemptions(
        self, token: str, account_id: str, since: datetime
    ) -> list[DwRedemption]:
        if token not in self.valid_tokens:
            raise UpstreamUnauthorized("drivewealth", "redemption_status", "L075")
        prefix = f"{self.account_ids[account_id]}-"
        return [r for r in self.redemptions.values() if r.redemption_id.startswith(prefix)]

    async def cash_available(self, token: str, account_id: str) -> Decimal:
        if token not in self.valid_tokens:
            raise UpstreamUnauthorized("drivewealth", "balance", "L075")
        return self.cash[self.account_ids[account_id]]
