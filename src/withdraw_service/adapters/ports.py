"""Abstract interfaces of the external services the withdrawal talks to, and the plain values
they answer. Activities depend on these, never on httpx.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class SessionUser:
    user_id: str
    pin: str
    phone: str
    cif: str
    dw_account_no: str | None
    dw_account_id: str | None
    blocked: bool


@dataclass(frozen=True)
class FlexCustomer:
    pin: str
    name: str
    address: str


@dataclass(frozen=True)
class TransferInitiation:
    user_id: str
    amount: Decimal
    correlation_id: str
    product_number: str
    frontend_sima_ready: bool


@dataclass(frozen=True)
class Authorisation:
    authorisation_id: str
    reference_number: str
    expiry_time: datetime


@dataclass(frozen=True)
class TransferReceipt:
    success: bool
    reference_number: str
    status_text: str


@dataclass(frozen=True)
class TransferStatusReport:
    reference_number: str
    status: str  # INITIATED | SUCCESS | FAILED | PENDING | REVERSED


@dataclass(frozen=True)
class DwToken:
    access_token: str
    expires_in: int


@dataclass(frozen=True)
class DwRedemption:
    redemption_id: str
    status_id: int
    status_message: str
    # The withdrawal it belongs to, from the note it was created with (listings only).
    correlation_id: str | None = None


class UserDirectory(abc.ABC):
    """The Session service (who the user is) and Flex (core banking customer info)."""

    @abc.abstractmethod
    async def get_user(self, user_id: str) -> SessionUser: ...

    @abc.abstractmethod
    async def get_customer(self, pin: str) -> FlexCustomer: ...


class TransferService(abc.ABC):
    """The bank side: every call moves or may move money, so each takes an idempotency key."""

    @abc.abstractmethod
    async def initiate(
        self, request: TransferInitiation, idempotency_key: str
    ) -> Authorisation: ...

    @abc.abstractmethod
    async def finalize(
        self, authorisation_id: str, otp_code: str, sima_stan: str | None, idempotency_key: str
    ) -> TransferReceipt: ...

    @abc.abstractmethod
    async def reverse(
        self, reference_number: str, correlation_id: str, reason: str, idempotency_key: str
    ) -> TransferReceipt: ...


class TransferChecker(abc.ABC):
    @abc.abstractmethod
    async def status(self, reference_number: str) -> TransferStatusReport: ...

    @abc.abstractmethod
    async def status_by_correlation(self, correlation_id: str) -> TransferStatusReport | None: ...


class DriveWealth(abc.ABC):
    @abc.abstractmethod
    async def get_token(self) -> DwToken: ...

    @abc.abstractmethod
    async def create_redemption(
        self,
        token: str,
        account_no: str,
        amount: Decimal,
        redemption_type: str,
        idempotency_key: str,
        correlation_id: str,
    ) -> DwRedemption: ...

    @abc.abstractmethod
    async def get_redemption(self, token: str, redemption_id: str) -> DwRedemption:
        """The redemption as it stands now (settled or not)."""

    @abc.abstractmethod
    async def list_redemptions(
        self, token: str, account_id: str, since: datetime
    ) -> list[DwRedemption]:
        """The account's redemptions created since `since`, as they stand now."""

    @abc.abstractmethod
    async def cash_available(self, token: str, account_id: str) -> Decimal: ...
