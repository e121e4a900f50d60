"""The simulator's whole state as plain models: exactly what is persisted between restarts.

Nothing here does I/O or reads a clock; `store.py` loads, saves and guards it. Money is
Decimal quantized to cents (pydantic writes it to JSON as a string such as "10000.00").
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from withdraw_service.domain.outcomes import CheckerStatus
from withdraw_service.sim.journal import Tracked
from withdraw_service.sim.money import cents

TransferStatus = CheckerStatus
"""What the ledger stores; PENDING is only ever an answer of the checker under a fault."""


class SimUser(Tracked):
    """One customer as every simulated service knows them (session, Flex, DriveWealth)."""

    user_id: str
    pin: str
    customer_name: str
    phone: str
    cif: str
    dw_account_no: str | None
    dw_account_id: str | None
    cash_balance: Decimal
    blocked: bool = False


class Transfer(Tracked):
    """A bank transfer of the Transfer Service, from initiate to its end."""

    authorisation_id: str
    reference_number: str
    correlation_id: str | None
    user_id: str
    amount: Decimal
    currency: str
    product_number: str | None
    status: TransferStatus
    expiry_time: datetime
    wrong_otps: int = 0


class Reversal(Tracked):
    """One accepted or refused reversal of a transfer."""

    reference_number: str
    correlation_id: str | None
    amount: Decimal
    status: CheckerStatus  # SUCCESS or FAILED


class Redemption(Tracked):
    """A DriveWealth redemption: cash leaving the brokerage account."""

    id: str
    account_no: str
    correlation_id: str | None
    amount: Decimal
    currency: str
    type: str
    note: str | None
    status: str  # DriveWealth's name of the status (DwRedemptionStatus)
    created: datetime
    fail_on_read: bool = False  # `fail_after_accept`: FAILED at the next status read


class Fault(Tracked):
    """A registered fault; `times` is what is left of it (unused with a probability)."""

    id: str
    service: str
    operation: str
    mode: str
    times: int
    probability: float | None
    delay_ms: int | None
    match_user_id: str | None
    match_account_no: str | None


class StoredAnswer(Tracked):
    """The first answer given under an idempotency key, replayed verbatim on a repeat."""

    status_code: int
    body: str


class SimState(BaseModel):
    """Everything the simulator knows; each change saved as it is made (`journal.py`)."""

    users: dict[str, SimUser] = Field(default_factory=dict)
    transfers: dict[str, Transfer] = Field(default_factory=dict)
    """Keyed by authorisationId, in the order they were initiated."""
    reversals: list[Reversal] = Field(default_factory=list)
    redemptions: dict[str, Redemption] = Field(default_factory=dict)
    otp_inbox: dict[str, str] = Field(default_factory=dict)
    """The OTP sent for each authorisationId (what the customer's phone would show)."""
    idempotency: dict[str, StoredAnswer] = Field(default_factory=dict)
    """Keyed by `<service>.<operation>:<Idempotency-Key>`."""
    tokens: dict[str, datetime] = Field(default_factory=dict)
    """DriveWealth access tokens and when each expires."""
    faults: list[Fault] = Field(default_factory=list)
    calls: dict[str, int] = Field(default_factory=dict)


def make_user(
    user_id: str,
    pin: str,
    customer_name: str,
    dw_account_no: str | None,
    dw_account_id: str | None,
    cash_balance: Decimal,
    *,
    blocked: bool = False,
) -> SimUser:
    """A customer with the phone number and CIF the services derive from the PIN."""
    digits = "".join(ch for ch in pin if ch.isdigit()) or "0000"
    return SimUser(
        user_id=user_id,
        pin=pin,
        customer_name=customer_name,
        phone=f"+1555{digits}",
        cif=f"CIF-{pin}",
        dw_account_no=dw_account_no,
        dw_account_id=dw_account_id,
        cash_balance=cents(cash_balance),
        blocked=blocked,
    )


def demo_users() -> list[SimUser]:
    """The customers seeded on first start and by `POST /_sim/reset`."""
    cash = Decimal("10000.00")
    return [
        make_user("user-1001", "P1001", "Ada Lovelace", "DWAA001001", "acc-1001", cash),
        make_user("user-1002", "P1002", "Alan Turing", "DWAA001002", "acc-1002", cash),
        make_user("user-1003", "P1003", "Grace Hopper", "DWAA001003", "acc-1003", cash),
        make_user(
            "user-blocked",
            "P9001",
            "Blocked Customer",
            "DWAA009001",
            "acc-9001",
            cash,
            blocked=True,
        ),
        make_user("user-nobroker", "P9002", "No Brokerage", None, None, cash),
    ]
