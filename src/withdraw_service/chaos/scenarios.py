"""The catalogue of what a chaos run asks of the service: a fault of every mode on every
operation of every simulated service that can honour it (docs/api.md, the simulators'
faults), and what customers do, each with the status it ends in when it runs alone, without a
crash. Under crashes it must end the same.

Hand-written scenarios cover the business modes and the paths that take reasoning; `PAIRS`
adds one scenario per (operation, transport mode), each fault once, with what it takes to
reach that operation. DriveWealth's token endpoint is the one operation left out: a token is
the app's, not a customer's, so its faults cannot be aimed at one scenario (the integration
tier covers it).

A scenario's faults are aimed at its own customer (`match.userId`), so scenarios running side
by side never see each other's faults. The counts suit `chaos_policies` (attempt counts of the
shipped file, waits shrunk).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from withdraw_service.domain.statuses import WithdrawStatus as S
from withdraw_service.sim.faults import SERVICE_OPERATIONS


class Behaviour(StrEnum):
    """What the customer does between initiate and the end (and, for DW_SETTLES, what
    DriveWealth does meanwhile)."""

    PLAIN = "plain"  # the right OTP at once
    WRONG_OTP_ONCE = "wrong-otp-once"  # a wrong code, then the right one
    WRONG_OTP_ALWAYS = "wrong-otp-always"  # wrong codes until the bank expires the OTP
    NO_OTP = "no-otp"  # never answers: the OTP window closes
    CANCEL = "cancel"  # cancels while the OTP is awaited
    REPEAT_INITIATE = "repeat-initiate"  # initiate sent twice with one Idempotency-Key
    REPEAT_FINALIZE = "repeat-finalize"  # finalize sent twice with one Idempotency-Key
    TOO_LITTLE_CASH = "too-little-cash"  # asks for more than the brokerage cash
    DW_SETTLES = "dw-settles"  # DriveWealth settles the pending redemption SUCCESSFUL later


@dataclass(frozen=True)
class Fault:
    """One `POST /_sim/faults` body, without its `match` (the scenario's customer)."""

    service: str
    operation: str
    mode: str
    times: int = 1
    probability: float | None = None
    delay_ms: int | None = None

    def body(self, user_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "service": self.service,
            "operation": self.operation,
            "mode": self.mode,
            "times": self.times,
            "match": {"userId": user_id},
        }
        if self.probability is not None:
            body["probability"] = self.probability
        if self.delay_ms is not None:
            body["delayMs"] = self.delay_ms
        return body


@dataclass(frozen=True)
class Scenario:
    name: str
    ends: S
    faults: tuple[Fault, ...] = ()
    behaviour: Behaviour = Behaviour.PLAIN
    weight: int = 1  # how often it is drawn, relative to the others
    notes: str = field(default="", compare=False)


def _f(service: str, operation: str, mode: str, **extra: Any) -> Fault:
    return Fault(service, operation, mode, **extra)


AMOUNT = Decimal("150.00")
START_CASH = Decimal("10000.00")

HANDWRITTEN: tuple[Scenario, ...] = (
    # customers
    Scenario("happy", S.COMPLETED, weight=6),
    Scenario("wrong-otp-once", S.COMPLETED, behaviour=Behaviour.WRONG_OTP_ONCE),
    Scenario("wrong-otp-always", S.OTP_REJECTED, behaviour=Behaviour.WRONG_OTP_ALWAYS),
    Scenario("no-otp", S.OTP_TIMEOUT, behaviour=Behaviour.NO_OTP),
    Scenario("cancel", S.CANCELLED, behaviour=Behaviour.CANCEL),
    Scenario("repeat-initiate", S.COMPLETED, behaviour=Behaviour.REPEAT_INITIATE),
    Scenario("repeat-finalize", S.COMPLETED, behaviour=Behaviour.REPEAT_FINALIZE),
    Scenario("too-little-cash", S.INITIATION_FAILED, behaviour=Behaviour.TOO_LITTLE_CASH),
    # Session and Flex: the customer check
    # A service that refuses a customer refuses every time it is asked (probability 1), as a
    # real one does: a one-off refusal would be lost with a worker killed after receiving it.
    Scenario(
        "session-refuses", S.USER_INVALID, (_f("session", "user", "reject", probability=1.0),)
    ),
    Scenario("flex-refuses", S.USER_INVALID, (_f("flex", "customer", "reject", probability=1.0),)),
    Scenario("session-500-once", S.COMPLETED, (_f("session", "user", "error_500"),)),
    Scenario("flex-slow", S.COMPLETED, (_f("flex", "customer", "latency", delay_ms=800),)),
    # the bank's transfer: initiate
    Scenario("initiate-refused", S.INITIATION_FAILED, (_f("transfer", "initiate", "reject"),)),
    Scenario(
        "initiate-500-twice", S.COMPLETED, (_f("transfer", "initiate", "error_500", times=2),)
    ),
    Scenario(
        "initiate-500-always",
        S.INITIATION_FAILED,
        (_f("transfer", "initiate", "error_500", times=5),),
    ),
    Scenario("initiate-in-progress", S.COMPLETED, (_f("transfer", "initiate", "in_progress_409"),)),
    Scenario(
        "initiate-timeout-after-commit",
        S.COMPLETED,
        (_f("transfer", "initiate", "timeout_after_commit"),),
    ),
    # the bank's transfer: finalize, and the Transfer Checker
    Scenario("finalize-refused", S.TRANSFER_REJECTED, (_f("transfer", "finalize", "reject"),)),
    Scenario("finalize-fails", S.TRANSFER_FAILED, (_f("transfer", "finalize", "fail"),)),
    Scenario(
        "finalize-timeout-after-commit",
        S.COMPLETED,
        (_f("transfer", "finalize", "timeout_after_commit"),),
    ),
    Scenario("finalize-timeout-not-applied", S.COMPLETED, (_f("transfer", "finalize", "timeout"),)),
    Scenario(
        "finalize-timeout-checker-failed",
        S.TRANSFER_FAILED,
        (_f("transfer", "finalize", "timeout"), _f("transfer-checker", "status", "fail")),
    ),
    Scenario(
        # Still being worked on (3 s) when the client gives up: the resend meets 409 until
        # it is done, and the Transfer Checker then reports it SUCCESS.
        "finalize-slow",
        S.COMPLETED,
        (_f("transfer", "finalize", "latency", delay_ms=3000),),
    ),
    Scenario(
        "finalize-in-progress",  # not the bank's refusal: the checker says INITIATED, resent
        S.COMPLETED,
        (_f("transfer", "finalize", "in_progress_409"),),
    ),
    Scenario(
        "finalize-never-settles",
        S.MANUAL_REVIEW_REQUIRED,
        (
            _f("transfer", "finalize", "timeout_after_commit"),
            _f("transfer-checker", "status", "pending", probability=1.0),
        ),
    ),
    Scenario(
        "checker-500-once",
        S.COMPLETED,
        (
            _f("transfer", "finalize", "timeout_after_commit"),
            _f("transfer-checker", "status", "error_500"),
        ),
    ),
    # DriveWealth, after the bank has paid out
    # (DriveWealth's token endpoint is not in the catalogue: a token is the app's, not a
    # customer's, so its faults cannot be aimed at one scenario; the integration tier tests it.)
    Scenario("dw-refuses", S.COMPENSATED, (_f("drivewealth", "redemption", "reject"),)),
    Scenario("dw-401-once", S.COMPLETED, (_f("drivewealth", "redemption", "unauthorized_401"),)),
    Scenario(
        "dw-timeout-after-commit",
        S.COMPLETED,
        (_f("drivewealth", "redemption", "timeout_after_commit"),),
    ),
    Scenario(
        "dw-timeout-always",
        S.COMPLETED,  # the second look finds nothing redeemed and redeems once
        (_f("drivewealth", "redemption", "timeout", times=3),),
    ),
    Scenario(
        "dw-in-progress-twice",  # 409 is no refusal: retried with the same key
        S.COMPLETED,
        (_f("drivewealth", "redemption", "in_progress_409", times=2),),
    ),
    # DriveWealth accepting the redemption without settling it (DW_REDEMPTION_PENDING)
    Scenario(
        "dw-pending-then-settles",
        S.COMPLETED,
        (_f("drivewealth", "redemption", "accept_pending"),),
        behaviour=Behaviour.DW_SETTLES,
    ),
    Scenario(
        "dw-pending-overdue",  # never settled within the run's settlement maximum
        S.MANUAL_REVIEW_REQUIRED,
        (_f("drivewealth", "redemption", "accept_pending"),),
    ),
    Scenario(
        "dw-fails-after-accept",
        S.COMPENSATED,
        (_f("drivewealth", "redemption", "fail_after_accept"),),
    ),
    Scenario(
        "dw-status-500-once",
        S.COMPENSATED,
        (
            _f("drivewealth", "redemption", "fail_after_accept"),
            _f("drivewealth", "redemption_status", "error_500"),
        ),
    ),
    Scenario("dw-500-once", S.COMPLETED, (_f("drivewealth", "redemption", "error_500"),)),
    Scenario(
        "dw-balance-slow", S.COMPLETED, (_f("drivewealth", "balance", "latency", delay_ms=800),)
    ),
    Scenario(
        "reversal-fails",
        S.MANUAL_COMPENSATION_REQUIRED,
        (
            _f("drivewealth", "redemption", "reject"),
            _f("transfer", "reverse", "error_500", times=10),
        ),
    ),
    Scenario(
        "reversal-500-once",
        S.COMPENSATED,
        (_f("drivewealth", "redemption", "reject"), _f("transfer", "reverse", "error_500")),
    ),
    Scenario(
        "reversal-refused",  # the bank's own "no" to the reversal: never retried
        S.MANUAL_COMPENSATION_REQUIRED,
        (_f("drivewealth", "redemption", "reject"), _f("transfer", "reverse", "reject")),
    ),
    Scenario(
        "reversal-in-progress",
        S.COMPENSATED,
        (_f("drivewealth", "redemption", "reject"), _f("transfer", "reverse", "in_progress_409")),
    ),
)

# What it takes to reach an operation that a plain withdrawal does not call, and how such a
# withdrawal ends when that operation's fault is only a delay.
_REACH: dict[tuple[str, str], tuple[tuple[Fault, ...], S]] = {
    # The reversal runs when DriveWealth refuses the redemption.
    ("transfer", "reverse"): ((_f("drivewealth", "redemption", "reject"),), S.COMPENSATED),
    # The Transfer Checker is asked when the finalize's answer was lost.
    ("transfer-checker", "status"): (
        (_f("transfer", "finalize", "timeout", delay_ms=3000),),
        S.COMPLETED,
    ),
    # A redemption's status is read while DriveWealth has not settled it.
    ("drivewealth", "redemption_status"): (
        (_f("drivewealth", "redemption", "fail_after_accept"),),
        S.COMPENSATED,
    ),
}
# The app's, not a customer's (see the module's docstring).
_NOT_AIMABLE = frozenset({("drivewealth", "token")})
# Each transport fault once: retried, looked up or resent with the same key, it only delays
# the withdrawal. A hang just past the run's 2 s HTTP timeout, a latency well inside it.
_ONCE = {
    "error_500": {},
    "timeout": {"delay_ms": 3000},
    "timeout_after_commit": {"delay_ms": 3000},
    "unauthorized_401": {},
    "latency": {"delay_ms": 800},
}


def _pairs() -> tuple[Scenario, ...]:
    pairs = []
    for service, operations in SERVICE_OPERATIONS.items():
        for operation in operations:
            if (service, operation) in _NOT_AIMABLE:
                continue
            reach, ends = _REACH.get((service, operation), ((), S.COMPLETED))
            for mode, extra in _ONCE.items():
                pairs.append(
                    Scenario(
                        f"{service}.{operation}/{mode}",
                        ends,
                        (*reach, _f(service, operation, mode, **extra)),
                    )
                )
    return tuple(pairs)


PAIRS = _pairs()
CATALOGUE: tuple[Scenario, ...] = HANDWRITTEN + PAIRS
